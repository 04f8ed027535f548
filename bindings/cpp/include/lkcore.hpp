// lkcore.hpp — C++17 API of lkcore over the C ABI of liblkcore (include/lkcore.h).
//
// A LiveKit client for data: rooms and participants, data packets, data tracks, RPC, data
// streams and end-to-end encryption with a shared key. Link with liblkcore_cpp (CMake:
// lkcore::cpp, pkg-config: lkcore-cpp), a small compiled library installed next to liblkcore
// by `./build.sh install`. It keeps the protobuf encoding of the FFI schema private (classes
// generated from capi/proto/*.proto at build time): this header uses standard types
// only, so applications need neither protobuf headers nor protoc.
//
// OBJECTS AND OWNERSHIP
//   Client                  one liblkcore client: its event thread, its handles. Rooms can share one.
//   Room                    a room connection (owns a handle; destroying it leaves the room).
//   LocalDataTrack          a published data track (destroying it unpublishes).
//   DataTrackSubscription   a subscription to a remote data track (destroying it unsubscribes).
//   TextStreamReader, ByteStreamReader, StreamWriter   data streams.
//   Every object that owns a library handle is move-only and releases the handle in its
//   destructor (RAII; nothing leaks when an exception unwinds). A moved-from object is empty:
//   valid() is false and every operation on it throws Error(LK_ERR_INVALID_HANDLE) (or returns
//   that status). Objects keep their client alive; objects of a closed client fail with
//   LK_ERR_CLIENT_CLOSED. Remote participants and remote data tracks are plain values.
//
// ERRORS
//   Failures throw lk::Error, whose code() is the ABI status (LK_ERR_* in lkcore.h, same numbers
//   as the schema's ErrorCode). A failed RPC throws lk::RpcError (code() == LK_ERR_RPC_ERROR)
//   carrying LiveKit's RPC error code, message and data. The hot paths have noexcept variants
//   returning an lk::Status: LocalDataTrack::try_push and DataTrackSubscription::try_read.
//
// THREADS AND CALLBACKS
//   - Every member function may be called from any thread, concurrently, unless noted; an
//     object must not be destroyed (or moved from) while another thread uses it.
//   - Each Client has one event thread (the library's callback thread). These run on it, one
//     at a time, in event order: Room event handlers (set_event_handler), data-track frame and
//     end callbacks of callback-mode subscriptions, log handlers and perform_rpc completion
//     callbacks. They should return quickly: while one runs, the client's events queue up.
//     Exception: when the client closes (Client::close, or destroying the last object that
//     keeps it alive), the perform_rpc callbacks still pending run on the thread closing it,
//     with LK_ERR_CLIENT_CLOSED.
//   - RPC method handlers and data-stream handlers run on the client's handler threads
//     (ClientOptions::handler_threads, default 4), so they may block (read a whole stream, call
//     blocking functions) without stopping event delivery.
//   - Blocking calls (connect, publish_data, publish_data_track, send_text, ... every call that
//     waits for a completion) throw Error(LK_ERR_FAILED_PRECONDITION) when made on the event
//     thread, where waiting would deadlock. From there use the non-blocking calls (try_push,
//     perform_rpc's callback form) or hand the work to another thread.
//   - Each blocking call is bounded by its timeout argument where it has one (default
//     kDefaultWait, 30 s), else by RoomOptions::operation_timeout (passed to the library
//     as the operation's deadline; it then fails with LK_ERR_TIMEOUT). See TIMEOUTS below
//     kDefaultWait for what 0, negative and huge values mean. The outcome is the library's:
//     the call waits for the operation's completion, which the library delivers by the
//     deadline on the event thread, so a handler holding up that thread delays it; only when it
//     is still missing 5 s past the deadline does the call ask the library to cancel the
//     operation, and 30 s later it gives up with LK_ERR_TIMEOUT (the handles a late success
//     hands over, as its completion lists them, are then released).
//   - Handlers are never called after the object that registered them was destroyed:
//     destruction waits for a handler running on another thread to return. (perform_rpc
//     callbacks belong to their call: each runs exactly once.) Exception: a Room destroyed on
//     its client's event thread (from one of its handlers) does not wait for its RPC and
//     stream handlers still running on handler threads — they may be waiting for a completion
//     only that thread delivers — so they may return after the destructor did; they must not
//     use the Room object then (no new handler call starts).
//   - An exception escaping an event-thread handler or a stream handler is caught and reported
//     on stderr (it cannot cross into the library); one escaping an RPC handler answers the call
//     with RpcError::kApplicationError. The same holds for data-track frame and end callbacks
//     wherever they run (subscribe calls on_end on the calling thread in the case it
//     documents): a frame callback that throws does not cost the frames after it, nor the end.
//
// STRINGS
//   Every std::string of this API that holds text is UTF-8: identities, names, metadata,
//   attributes, topics, URLs, tokens, RPC methods, payloads and error messages, text streams,
//   track and schema names, schema definitions, stream options, file paths. A call given one
//   that is not well-formed UTF-8 throws Error(LK_ERR_INVALID_ARGUMENT) naming the field.
//   Binary data goes where the API takes bytes: publish_data, send_bytes, byte stream writers,
//   data-track frames, echo. An RPC handler whose response (or RpcError message or data) is
//   not UTF-8 answers the call with RpcError::kApplicationError.
//
// COMPATIBILITY
//   Client checks LK_ABI_COMPATIBLE(lk_abi_version()) at creation: the loaded liblkcore must be
//   of the header's major version and at least its minor version. This API needs ABI 1.30
//   (lk_data_track_read_frame and RemoteDataTrackSidChanged of 1.10, RoomEvent.owned_handles of
//   1.11, RequestRoomSnapshotRequest of 1.12, SubscribeDataTrackRequest.buffer_bytes of 1.13,
//   RoomOptions.auto_subscription_delivery and data_track_buffer_bytes and
//   SetDataTrackDeliveryRequest of 1.14, the order of room events and LocalDataTrackSidChanged
//   of 1.15, each participant's encryption state in GetE2eeStatsResponse of 1.17, RoomMoved of
//   1.18, DTMF, kind details and the room's recording state of 1.19, subscription permissions
//   and legacy chat messages of 1.20, transcriptions and an agent's text streams and chat
//   messages on behalf of another participant of 1.21, connection quality of 1.22, data-track
//   schema definitions and RemoteDataTrack::subscription_revoked of 1.23, RoomInfo::server of
//   1.24, other participants' media tracks (ParticipantInfo::tracks) of 1.25, connection
//   statistics (Room::connection_stats) of 1.26, simulated connection faults
//   (Room::simulate_scenario) of 1.27, the reliable packets a reconnect discarded or sent again
//   (ReconnectedEvent) of 1.28, active speakers (ParticipantInfo::is_speaking and audio_level,
//   ActiveSpeakersChangedEvent, RoomSnapshot::active_speakers) of 1.29, the roots a room's
//   wss:// signalling trusts (RoomOptions::tls_root_certificates_pem) of 1.30) and does not
//   build against an older lkcore.h. Fields, events and enum values added by a newer library of the
//   same major version are ignored or kept as numbers.
//
// PROCESS
//   liblkcore contains a Go runtime (see lkcore.h): load it after fork(), never dlclose it. In a
//   child forked after it was loaded every call fails at once with Error(LK_ERR_FORKED).
//   Do not link a second copy of the generated capi/proto/*.proto classes into the same process
//   with the same libprotobuf (protobuf refuses duplicate registrations of one .proto file).
#ifndef LKCORE_HPP
#define LKCORE_HPP

#include <lkcore.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#define LKCORE_HAS_SPAN 1
#endif

#ifndef LK_API
#define LK_API __attribute__((visibility("default")))
#endif

namespace lk {

using Millis = std::chrono::milliseconds;
using Attributes = std::map<std::string, std::string>;

// The default bound of the waits that take a timeout argument (LocalDataTrack::push and flush,
// DataTrackSubscription::wait_subscribed; a timeout of 0 means this too), the same as
// RoomOptions::operation_timeout's.
inline constexpr Millis kDefaultWait{30000};

// TIMEOUTS. Every timeout argument and option of this API (Millis) follows one rule:
//   - negative (kNoTimeout) means no bound: wait until the call completes or its object ends.
//     Where the library needs a number it is given kMaxTimeout (DataTrackSubscription::read
//     passes -1 to lk_data_track_read_frame, which waits without a bound);
//   - anything above kMaxTimeout counts as kMaxTimeout, so Millis::max() is safe everywhere;
//   - 0 means "do not wait" for the reads and pulls (DataTrackSubscription::read and try_read,
//     Room::next_event, StreamReaderBase::read_chunk and read_all) and "the default" everywhere
//     else: kDefaultWait for LocalDataTrack::push and flush, wait_subscribed and
//     RoomOptions::operation_timeout, 5 s for Client::close, RoomOptions::rpc_response_timeout_ms
//     for perform_rpc, none for Client::echo_async.
inline constexpr Millis kNoTimeout{-1};
// The longest timeout passed on: 2^31 - 1 ms (about 24.8 days), the largest value that fits
// every millisecond field and argument of the library.
inline constexpr Millis kMaxTimeout{2147483647};

namespace detail {
class ClientImpl;
struct RoomState;
struct SubscriptionState;
struct ReaderState;
struct Access;
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Status and errors
// ---------------------------------------------------------------------------------------------

// Status is an ABI status code (LK_OK or LK_ERR_*), returned by the noexcept hot-path calls.
class [[nodiscard]] Status {
 public:
  constexpr Status(int32_t code = LK_OK) noexcept : code_(code) {}
  // True for LK_OK.
  constexpr bool ok() const noexcept { return code_ == LK_OK; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  // The ABI code (LK_ERR_* in lkcore.h).
  constexpr int32_t code() const noexcept { return code_; }
  // The code's name ("LK_OK", "LK_ERR_QUEUE_FULL", ...); static storage.
  const char *name() const noexcept { return lk_status_name(code_); }
  friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }
  friend constexpr bool operator!=(Status a, Status b) noexcept { return a.code_ != b.code_; }

 private:
  int32_t code_;
};

// Error is every failure of this API: code() is the ABI status code, what() is
// "LK_ERR_NAME: message". Never contains tokens, keys or payloads.
class LK_API Error : public std::runtime_error {
 public:
  Error(int32_t code, const std::string &message, bool retryable = false);
  // The ABI status code (LK_ERR_* in lkcore.h).
  int32_t code() const noexcept { return code_; }
  // The code's name, e.g. "LK_ERR_TIMEOUT".
  const char *code_name() const noexcept { return lk_status_name(code_); }
  // The message without the code prefix.
  const std::string &message() const noexcept { return message_; }
  // True when retrying the same call later may succeed (e.g. LK_ERR_QUEUE_FULL).
  bool retryable() const noexcept { return retryable_; }

 private:
  int32_t code_;
  std::string message_;
  bool retryable_;
};

// RpcError is a failed RPC (code() == LK_ERR_RPC_ERROR) with LiveKit's RPC error. RPC method
// handlers throw it to answer with an error; perform_rpc's future throws it.
class LK_API RpcError : public Error {
 public:
  // LiveKit's built-in RPC error codes (applications use others, e.g. 4000+).
  static constexpr uint32_t kUnsupportedMethod = 1400;
  static constexpr uint32_t kRecipientNotFound = 1401;
  static constexpr uint32_t kRequestPayloadTooLarge = 1402;
  static constexpr uint32_t kUnsupportedServer = 1403;
  static constexpr uint32_t kUnsupportedVersion = 1404;
  static constexpr uint32_t kApplicationError = 1500;
  static constexpr uint32_t kConnectionTimeout = 1501;
  static constexpr uint32_t kResponseTimeout = 1502;
  static constexpr uint32_t kRecipientDisconnected = 1503;
  static constexpr uint32_t kResponsePayloadTooLarge = 1504;
  static constexpr uint32_t kSendFailed = 1505;

  RpcError(uint32_t rpc_code, std::string rpc_message, std::string data = {});
  uint32_t rpc_code() const noexcept { return rpc_code_; }
  const std::string &rpc_message() const noexcept { return rpc_message_; }
  const std::string &data() const noexcept { return data_; }

 private:
  uint32_t rpc_code_;
  std::string rpc_message_;
  std::string data_;
};

// ---------------------------------------------------------------------------------------------
// Buffers and frames
// ---------------------------------------------------------------------------------------------

// Buffer is a move-only owned byte buffer: either memory handed out by liblkcore (released with
// lk_free, no copy on the read fast path) or a std::string.
class Buffer {
 public:
  Buffer() noexcept = default;
  explicit Buffer(std::string bytes) : str_(std::move(bytes)) {}
  // Takes ownership of a buffer allocated by liblkcore (it will be released with lk_free).
  static Buffer adopt(uint8_t *data, size_t size) noexcept {
    Buffer b;
    b.lk_ = data;
    b.lk_size_ = size;
    return b;
  }
  Buffer(Buffer &&o) noexcept : lk_(o.lk_), lk_size_(o.lk_size_), str_(std::move(o.str_)) {
    o.lk_ = nullptr;
    o.lk_size_ = 0;
    o.str_.clear();
  }
  Buffer &operator=(Buffer &&o) noexcept {
    if (this != &o) {
      lk_free(lk_);
      lk_ = o.lk_;
      lk_size_ = o.lk_size_;
      str_ = std::move(o.str_);
      o.lk_ = nullptr;
      o.lk_size_ = 0;
      o.str_.clear();
    }
    return *this;
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  ~Buffer() { lk_free(lk_); }

  const uint8_t *data() const noexcept {
    return lk_ ? lk_ : reinterpret_cast<const uint8_t *>(str_.data());
  }
  size_t size() const noexcept { return lk_ ? lk_size_ : str_.size(); }
  bool empty() const noexcept { return size() == 0; }
  const uint8_t *begin() const noexcept { return data(); }
  const uint8_t *end() const noexcept { return data() + size(); }
  std::string_view view() const noexcept { return {reinterpret_cast<const char *>(data()), size()}; }
  std::string str() const { return std::string(view()); }
  std::vector<uint8_t> to_vector() const { return {begin(), end()}; }

 private:
  uint8_t *lk_ = nullptr;
  size_t lk_size_ = 0;
  std::string str_;
};

// Frame is one data-track frame.
struct Frame {
  Buffer payload;
  // The publisher's timestamp for the frame, as given to push/try_push (unset if it gave none).
  std::optional<uint64_t> user_timestamp;
  // How many of the publisher's frames this subscription lost since the frame delivered before
  // this one (or, for its first frame, since it started receiving): frames its buffer dropped
  // because they were read too slowly, frames that never arrived whole (lost by the network or
  // the server, incomplete, undecryptable; counted from the publisher's frame numbers). The
  // library counts them all (this API buffers and drops no frame). Set in every delivery mode
  // (pull reads use lk_data_track_read_frame, ABI 1.10), so the frames delivered plus the sum
  // of their dropped_before is every frame the publisher sent from the first frame delivered
  // to the last, and SubscriptionEnd::frames_dropped counts the same losses. (A
  // publisher's empty frames are never sent and count as lost; a frame overtaken by a later one,
  // which the unordered channel allows but one server hop practically never does, can make one
  // count too high by one.)
  uint64_t dropped_before = 0;
};

// ---------------------------------------------------------------------------------------------
// Enums (values of the schema's enums; unknown values from a newer library are kept as is and
// should be treated as "unspecified")
// ---------------------------------------------------------------------------------------------

enum class LogLevel : int32_t { Unspecified = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Off = 5 };
enum class ConnectionState : int32_t { Disconnected = 0, Connecting = 1, Connected = 2, Reconnecting = 3 };
enum class ParticipantKind : int32_t {
  Unspecified = 0,
  Standard = 1,
  Ingress = 2,
  Egress = 3,
  Sip = 4,
  Agent = 5,
  Connector = 6,  // ABI 1.19
  Bridge = 7,     // ABI 1.19
};
// A detail refining a participant's kind (ABI 1.19). The library sends Unspecified for a detail
// newer than itself; one newer than this header is kept as its number (COMPATIBILITY).
enum class ParticipantKindDetail : int32_t {
  Unspecified = 0,
  CloudAgent = 1,         // an agent hosted by LiveKit Cloud
  Forwarded = 2,          // a participant forwarded from another room
  ConnectorWhatsApp = 3,  // a WhatsApp connector
  ConnectorTwilio = 4,    // a Twilio connector
  BridgeRtsp = 5,         // an RTSP bridge
  Simulation = 6,         // a simulated participant (agent evaluation)
};
// The server's rating of a participant's connection (ABI 1.22), from the loss, jitter and
// bitrate of its media tracks: a participant without media (every lkcore client) is Excellent.
// Unknown: not rated yet (or a value newer than the library).
enum class ConnectionQuality : int32_t {
  Unknown = 0,
  Poor = 1,
  Good = 2,
  Excellent = 3,
  Lost = 4,  // the participant's media stopped arriving
};
enum class ReconnectKind : int32_t { Unspecified = 0, Resume = 1, Full = 2 };
enum class DisconnectReason : int32_t {
  Unknown = 0,
  ClientInitiated = 1,
  DuplicateIdentity = 2,
  ServerShutdown = 3,
  ParticipantRemoved = 4,
  RoomDeleted = 5,
  StateMismatch = 6,
  JoinFailure = 7,
  Migration = 8,
  SignalClose = 9,
  RoomClosed = 10,
  UserUnavailable = 11,
  UserRejected = 12,
  SipTrunkFailure = 13,
  ConnectionTimeout = 14,
  MediaFailure = 15,
  AgentError = 16,
};
enum class EncryptionState : int32_t {
  Unspecified = 0,
  Ok = 1,
  EncryptionFailed = 2,
  DecryptionFailed = 3,
  MissingKey = 4,
  KeyRatcheted = 5,
  InternalError = 6,
};
enum class SubscriptionEndReason : int32_t { Unspecified = 0, Unpublished = 1, Disconnected = 2, Failed = 3 };
enum class TextOperation : int32_t { Create = 0, Update = 1, Delete = 2, Reaction = 3 };
// The kind of server a session is connected to (ABI 1.24, ServerInfo::edition). Standard is
// also the schema's default: an edition newer than this header is kept as its number
// (COMPATIBILITY); treat one that is neither value as Standard.
enum class ServerEdition : int32_t {
  Standard = 0,  // the open-source livekit-server
  Cloud = 1,     // LiveKit Cloud
};
// The kind of a participant's media track (ABI 1.25, TrackPublication::kind). Audio is also the
// schema's default: a kind newer than this header is kept as its number (COMPATIBILITY); treat
// one that is neither value as Audio.
enum class TrackKind : int32_t {
  Audio = 0,
  Video = 1,
};
// What a participant's media track captures (ABI 1.25, TrackPublication::source). Unknown: the
// publisher did not say, or a source newer than the library; one newer than this header is kept
// as its number (COMPATIBILITY) and should be treated as Unknown.
enum class TrackSource : int32_t {
  Unknown = 0,
  Camera = 1,
  Microphone = 2,
  ScreenShare = 3,
  ScreenShareAudio = 4,  // the audio of a screen share
};
// The type of one end of an ICE candidate pair (ABI 1.26, IceCandidate::type): how that
// address was found. Unspecified: the library did not say (a value newer than itself); a type
// newer than this header is kept as its number (COMPATIBILITY) and should be treated as
// Unspecified.
enum class IceCandidateType : int32_t {
  Unspecified = 0,
  Host = 1,   // an address of the machine itself
  Srflx = 2,  // server reflexive: the address a STUN server saw (behind a NAT)
  Prflx = 3,  // peer reflexive: an address learnt from a connectivity check
  Relay = 4,  // a TURN server's relayed address
};
// A connection fault Room::simulate_scenario simulates (ABI 1.27), to test how an application
// handles one, against any LiveKit server (or, SpeakerUpdate, no fault: the server's speaker
// reports, to test how it shows speakers). An input only (the library never sends one), so
// there is no Unspecified: a value outside these seven (a cast from a number) is refused with
// Error(LK_ERR_INVALID_ARGUMENT) by the library. The local faults close the signalling
// WebSocket (with the closing handshake, so the server reads what was sent before) and the room
// then does what it does when a real connection breaks; the server scenarios ask the server
// (SignalRequest.simulate, as the official clients do). Each comment says which room events
// follow (see ReconnectingEvent, ReconnectedEvent, DisconnectedEvent, ParticipantUpdatedEvent,
// ActiveSpeakersChangedEvent).
enum class SimulateScenario : int32_t {
  // Local: the signalling connection breaks and the room resumes its session:
  // ReconnectingEvent{Resume}, then ReconnectedEvent{Resume}; the participant's sid stays.
  SignalReconnect = 1,
  // Local: the connection breaks and the room reconnects in full, a new session:
  // ReconnectingEvent{Full}, then ReconnectedEvent{Full}; the local participant gets a new sid
  // (ParticipantUpdatedEvent) and its data tracks are published again under new sids
  // (LocalDataTrackSidChangedEvent).
  FullReconnect = 2,
  // Server: the server drops the participant without a leave, as a failed media node would;
  // the others see it leave (ParticipantDisconnectedEvent, reason ServerShutdown). The room's
  // resume is refused and a full reconnect follows: ReconnectingEvent{Resume},
  // ReconnectingEvent{Full}, ReconnectedEvent{Full}.
  NodeFailure = 3,
  // Server: the server drops the participant as a migration to another node does (the others
  // see reason Migration); livekit-server 1.13 handles it as NodeFailure, with the same events.
  Migration = 4,
  // Server: the server removes the participant with a leave and the room ends:
  // DisconnectedEvent{ServerShutdown}. Create a new Room to join again.
  ServerLeave = 5,
  // Both: the server is asked to drop the signalling connection of the next resume after
  // answering it, then the connection breaks as with SignalReconnect: the first resume fails
  // and the room resumes again within the same episode: ReconnectingEvent{Resume} ...
  // ReconnectedEvent{Resume}.
  DisconnectSignalOnResume = 6,
  // Server, ABI 1.29 (no fault: no connection breaks, no ReconnectingEvent): the server reports
  // the local participant speaking at level 0.9 for 3 s, then stopped (livekit-client JS's
  // "speaker" scenario), to it and to the participants subscribed to its tracks (data tracks
  // included): each gets a ParticipantUpdatedEvent (speaking_changed; is_speaking, audio_level
  // 0.9) and an ActiveSpeakersChangedEvent with it, then ~3 s later a ParticipantUpdatedEvent
  // (speaking_changed, not speaking, level 0) and an ActiveSpeakersChangedEvent without it.
  SpeakerUpdate = 7,
};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

// What a participant's token allows (LiveKit's participant permission).
struct ParticipantPermission {
  bool can_subscribe = false;
  bool can_publish = false;
  bool can_publish_data = false;
  bool hidden = false;
};

// TrackPublication describes one media track (audio or video) a participant publishes, as the
// server describes it to everyone in the room (ABI 1.25). lkcore sends and receives no audio or
// video: the description tells an application who has a microphone or a camera published, and
// whether it is muted. A value: it is part of ParticipantInfo::tracks and of the
// ParticipantUpdatedEvent that reports a change, never kept or compared by this API.
struct TrackPublication {
  std::string sid;   // the track's sid ("TR_...")
  std::string name;  // the publisher's name for it ("" when it gave none)
  TrackKind kind = TrackKind::Audio;
  TrackSource source = TrackSource::Unknown;
  bool muted = false;     // the publisher muted it (it sends nothing until unmuted)
  std::string mime_type;  // the codec, e.g. "audio/opus", "video/VP8" ("" until the server knows it)
  uint32_t width = 0;     // a video track's largest dimensions (0 when not said)
  uint32_t height = 0;
  bool simulcast = false;  // a video track sent in several qualities
  bool encrypted = false;  // end-to-end encrypted
};

// ParticipantInfo describes a participant (local or remote) by value.
struct ParticipantInfo {
  std::string sid;
  std::string identity;
  std::string name;
  std::string metadata;
  Attributes attributes;
  ParticipantKind kind = ParticipantKind::Unspecified;
  std::vector<ParticipantKindDetail> kind_details;  // details refining kind, in the server's order
  int64_t joined_at_ms = 0;     // when the participant joined (Unix time, ms)
  int32_t client_protocol = 0;  // the LiveKit client protocol version it advertises (RPC v1/v2, ...)
  ParticipantPermission permission;
  // The latest rating the server sent (ABI 1.22). The server rates the local participant and
  // those whose tracks it subscribes to, when one joins or a rating changes; Unknown until then
  // (a new participant's always is). A change is a ParticipantUpdatedEvent with
  // connection_quality_changed.
  ConnectionQuality connection_quality = ConnectionQuality::Unknown;
  // The participant's media tracks (ABI 1.25), in the library's (the server's) order; empty when
  // it publishes none (data tracks are not among them). The library's list, never one kept by
  // this API: every ParticipantInfo (Room::connect, Room::snapshot, remote_participant(s),
  // SnapshotTakenEvent, ParticipantConnectedEvent, ParticipantUpdatedEvent) carries it as it
  // was then. A change is a ParticipantUpdatedEvent with track_published, track_unpublished or
  // track_mute_changed (or, for another change of a track such as its dimensions, none of its
  // flags).
  std::vector<TrackPublication> tracks;
  // The server's latest speaker update about the participant (ABI 1.29): speaking, and its audio
  // level from 0 (silent) to 1 as the server quantised it, 0 when not speaking (false and 0 until
  // the server sends one). The server sends them about the local participant and those whose
  // tracks, data tracks included, it subscribes to. A change is a ParticipantUpdatedEvent with
  // speaking_changed.
  bool is_speaking = false;
  float audio_level = 0;
};

// ServerInfo describes the server a session is connected to, as its join response did (ABI
// 1.24): the library's value, never cached here. It changes only with a full reconnect that
// lands on another server (e.g. another LiveKit Cloud region after a failover), which is a
// RoomUpdatedEvent.
struct ServerInfo {
  ServerEdition edition = ServerEdition::Standard;
  std::string version;   // the server's version, e.g. "1.13.5"
  int32_t protocol = 0;  // the signalling protocol it speaks
  std::string region;    // LiveKit Cloud's region of the session ("" for a self-hosted server without one)
  std::string node_id;   // the node within the deployment ("ND_...")
};

// RoomInfo describes the room as the client knows it.
struct RoomInfo {
  std::string sid;
  std::string name;
  std::string metadata;
  uint32_t num_participants = 0;
  uint32_t max_participants = 0;  // 0 = no limit
  int64_t creation_time_ms = 0;   // when the server created the room (Unix time, ms)
  ConnectionState connection_state = ConnectionState::Disconnected;  // this client's connection
  // Since ABI 1.19 (a change of any of them is a RoomUpdatedEvent):
  uint32_t num_publishers = 0;             // participants publishing something (data tracks included)
  bool active_recording = false;           // an egress (recording) of the room is running
  uint32_t empty_timeout_seconds = 0;      // the server keeps an empty room that long (0: not said)
  uint32_t departure_timeout_seconds = 0;  // and that long after the last participant left
  // The server of the session (ABI 1.24), in every snapshot (Room::connect, Room::snapshot,
  // SnapshotTakenEvent) and RoomUpdatedEvent; a full reconnect to another server (another
  // LiveKit Cloud region after a failover) is a RoomUpdatedEvent with the new one.
  ServerInfo server;
};

// DataTrackInfo describes a published data track. (publisher identity, name) is its stable key;
// the sid may change across a publisher's full reconnect (DataTrackSidChangedEvent).
struct DataTrackInfo {
  std::string sid;
  std::string name;
  bool uses_e2ee = false;
  std::string schema_name;
  std::string frame_encoding;
  std::string schema_encoding;
};

// RemoteDataTrack names a remote participant's data track (a value, not a handle).
struct RemoteDataTrack {
  std::string publisher_identity;
  DataTrackInfo info;
  // ABI 1.23: the publisher revoked this client's permission to receive the track (the last
  // DataTrackSubscriptionPermissionChangedEvent of the track said allowed false); it stays true
  // when the revoked subscription is closed, until a later subscription is allowed (that event
  // again); false for a track never revoked. The library's
  // state, in every snapshot (Room::connect, Room::snapshot, remote_data_tracks,
  // SnapshotTakenEvent: at its place among the events); after a snapshot it changes only with a
  // DataTrackSubscriptionPermissionChangedEvent (allowed false: true; allowed true: false).
  // DataTrackSubscription::track() follows those events too; a DataTrackPublishedEvent's track
  // was never revoked (false).
  bool subscription_revoked = false;
};

// TrackPermission allows one participant to subscribe to the local participant's data tracks
// (Room::set_track_subscription_permissions; ABI 1.20).
struct TrackPermission {
  std::string participant_identity;     // the participant allowed (required, not empty)
  bool all_tracks = false;              // every track, also those published later
  std::vector<std::string> track_sids;  // when all_tracks is false: the tracks allowed (DataTrackInfo::sid)
};

// ChatMessage is a chat message of the legacy kind (ABI 1.20): what the official SDKs'
// sendChatMessage / editChatMessage send and their ChatMessage event reports
// (Room::send_chat_message, Room::edit_chat_message, ChatMessageReceivedEvent). Those SDKs
// deprecated it in favour of text streams on the topic "lk.chat" (Room::send_text with
// TextStreamOptions topic "lk.chat", and a text-stream handler for that topic): use this only
// to talk to clients that still chat the legacy way. An edit repeats the message's id and
// timestamp_ms with the new text and an edit_timestamp_ms.
struct ChatMessage {
  std::string id;                 // identifies the message (a UUID, 36 characters); an edit keeps it
  int64_t timestamp_ms = 0;       // when the message was first sent (Unix time, ms)
  std::string message;            // the text
  int64_t edit_timestamp_ms = 0;  // when it was last edited (Unix time, ms); 0 if never
  bool deleted = false;           // set by a sender that withdrew the message
  bool generated = false;         // set for a message an agent generated (e.g. a transcription)
};

// TranscriptionSegment is one piece of transcribed text (ABI 1.21); updates of a segment (its
// interim text, then the final one) repeat its id.
struct TranscriptionSegment {
  std::string id;           // identifies the segment across its updates (required, not empty)
  std::string text;         // the text so far
  uint64_t start_time = 0;  // the segment's place in the transcribed track's media, in the
  uint64_t end_time = 0;    // sender's unit (passed unchanged; 0 when the sender does not say)
  bool is_final = false;    // set on the segment's last update (the schema's `final`)
  std::string language;     // the language of the text (e.g. "en"); empty if not known
};

// Transcription is a transcription of the legacy kind (ABI 1.21): an agent's segments of text
// for one participant's track, what the official SDKs' publishTranscription sends and their
// transcription event reports (Room::publish_transcription, TranscriptionReceivedEvent). Newer
// agents also send the text as text streams on the topic "lk.transcription" (Room::send_text
// with TextStreamOptions::sender_identity set to the transcribed participant).
struct Transcription {
  std::string participant_identity;  // whose speech was transcribed (not the sender; may be the local participant)
  std::string track_sid;             // the transcribed track's SID; empty if the sender names none
  std::vector<TranscriptionSegment> segments;
};

// RoomSnapshot is the room as the client knows it.
struct RoomSnapshot {
  RoomInfo room;
  ParticipantInfo local_participant;
  std::vector<ParticipantInfo> remote_participants;
  std::vector<RemoteDataTrack> remote_data_tracks;
  // The identities of the participants speaking (ABI 1.29), the local one included, in the
  // library's order (loudest first); empty when nobody speaks. ActiveSpeakersChangedEvent
  // reports later lists.
  std::vector<std::string> active_speakers;
};

// LogRecord is one log record of the library (ClientOptions::log_handler).
struct LogRecord {
  LogLevel level = LogLevel::Unspecified;
  std::string message;
  Attributes attributes;
  int64_t time_unix_ms = 0;
  uint64_t dropped_before = 0;  // records dropped before this one (slow consumer)
};

// VersionInfo names the loaded library (Client::version).
struct VersionInfo {
  uint32_t abi_version = 0;  // (major << 16) | minor, as lk_abi_version()
  std::string schema;        // "lkcore.ffi.v1"
  std::string library_version;
};

// ---------------------------------------------------------------------------------------------
// Room events (delivered by value; see Room::set_event_handler / Room::next_event)
// ---------------------------------------------------------------------------------------------

// The room's connection state changed (state is the new one).
struct ConnectionStateChangedEvent {
  ConnectionState state;
};
// The connection was lost and the room is trying to restore it.
struct ReconnectingEvent {
  ReconnectKind kind;  // Resume (same session) or Full (new session: sids may change)
  // 1 for the event that starts a reconnection episode, then +1 for each escalation (e.g.
  // resume -> full) announced within it.
  uint32_t attempt;
};
// The connection is restored. A Full reconnect is reported as deltas: before this event,
// ParticipantConnected for who joined meanwhile, DataTrack* events, ParticipantDisconnected for
// who left (after its tracks' DataTrackUnpublished); right after it, ParticipantUpdated for the
// local participant's new sid. A participant that stayed in the room is not reported gone and
// back: its tracks and subscriptions go on. (A remote publisher's full reconnect shows as
// DataTrackSidChanged, or DataTrackUnpublished + DataTrackPublished, for its tracks.)
struct ReconnectedEvent {
  ReconnectKind kind;
  // Reliable data packets (publish_data with reliable delivery, and the chunks of streams, RPC
  // messages, chat messages, DTMF, transcriptions) the library had accepted that the server had
  // not acknowledged when the connection broke, and that a Full reconnect discarded: sending
  // them again on the new session could deliver them twice (the official SDKs discard them
  // too, without telling). Always 0 after a Resume. ABI 1.28.
  uint32_t discarded_packets = 0;
  // Reliable data packets sent again after a Resume because the server had not acknowledged
  // them; each is still delivered once. Always 0 after a Full reconnect. ABI 1.28.
  uint32_t replayed_packets = 0;
};
// The last event of a room connection.
struct DisconnectedEvent {
  DisconnectReason reason;
  int32_t error_code = LK_OK;  // set when a failure caused it
  std::string error_message;
};
// The room's info changed (its metadata, or the participant count as the server counts it,
// about a second after a join or a leave); info holds the values after the change.
struct RoomUpdatedEvent {
  RoomInfo info;
  bool metadata_changed = false;
  std::string old_metadata;  // the metadata before the change (set with metadata_changed)
};
// The server moved this session to another room (LiveKit Cloud's MoveParticipant; ABI 1.18):
// info is the new room, old_room_name the room it left. The Room, its connection and its local
// data tracks stay. Before this event the participants who are not in the new room left (a
// DataTrackUnpublishedEvent for each of their tracks, then ParticipantDisconnectedEvent); after
// it come the local participant's ParticipantUpdatedEvent and a ParticipantConnectedEvent for
// each participant of the new room, then their DataTrackPublishedEvent. Later reconnections
// join the new room.
struct RoomMovedEvent {
  RoomInfo info;
  std::string old_room_name;
};
// A remote participant joined. A ParticipantUpdatedEvent with track_published follows for each
// media track it publishes already (ABI 1.25).
struct ParticipantConnectedEvent {
  ParticipantInfo info;
};
// A remote participant left. Each of its data tracks was reported unpublished before
// (DataTrackUnpublishedEvent), and each of its media tracks (a ParticipantUpdatedEvent with
// track_unpublished, ABI 1.25).
struct ParticipantDisconnectedEvent {
  std::string identity;
  DisconnectReason reason;
};
// Name, metadata, attributes, permission, connection quality (ABI 1.22), a media track (ABI
// 1.25) or speaking (ABI 1.29) of a participant (local or remote) changed; with no flag set,
// another field of info changed (a new sid: the local participant after a full reconnect, or a
// remote participant's new session that replaced the one known; a media track's name or
// dimensions). info holds the values after the change. A new rating from the server comes with
// connection_quality_changed alone (info.connection_quality is the new one); it is reported
// only when it differs from the one held. A media track change sets exactly one of
// track_published, track_unpublished and track_mute_changed, and nothing else changed. A
// participant that joins with tracks has a track_published event for each after its
// ParticipantConnectedEvent; one that leaves has a track_unpublished event for each before its
// ParticipantDisconnectedEvent. A speaker update from the server that changed info.is_speaking
// or info.audio_level comes with speaking_changed (ABI 1.29; also a new session of the
// participant, which starts silent); an ActiveSpeakersChangedEvent follows when the room's list
// of speakers changed with it.
struct ParticipantUpdatedEvent {
  ParticipantInfo info;
  std::vector<std::string> changed_attributes;
  bool name_changed = false;
  bool metadata_changed = false;
  bool permission_changed = false;
  std::string old_name;      // the name before the change (set with name_changed)
  std::string old_metadata;  // the metadata before the change (set with metadata_changed)
  bool connection_quality_changed = false;  // ABI 1.22
  // The rating before the change (set with connection_quality_changed; Unknown when there was
  // none).
  ConnectionQuality old_connection_quality = ConnectionQuality::Unknown;
  // A media track was published (ABI 1.25): the new track, also in info.tracks.
  std::optional<TrackPublication> track_published;
  // A media track was unpublished (ABI 1.25): the track as last described, no longer in
  // info.tracks.
  std::optional<TrackPublication> track_unpublished;
  // A media track was muted or unmuted (ABI 1.25): the track after the change (its muted field
  // is the new state), as in info.tracks.
  std::optional<TrackPublication> track_mute_changed;
  bool speaking_changed = false;  // ABI 1.29: info.is_speaking or info.audio_level changed
};
// A data packet (Room::publish_data of a remote participant) arrived.
struct DataReceivedEvent {
  std::string participant_identity;  // empty when sent by a server SDK
  std::string payload;
  std::string topic;
  bool reliable = false;
  bool encrypted = false;
};
// A DTMF tone (Room::publish_dtmf of a remote participant; ABI 1.19) arrived, typically a key a
// SIP participant's caller pressed. Counted with the data packets in a pulled event queue.
struct SipDtmfReceivedEvent {
  std::string participant_identity;  // empty when sent by a server SDK
  uint32_t code = 0;                 // telephone-event code: 0-9 digits, 10 '*', 11 '#', 12-15 'A'-'D'
  std::string digit;                 // the key as text; empty when the sender set only the code
};
// A legacy chat message, or an edit of one (same id and timestamp_ms, edit_timestamp_ms set),
// arrived from a remote participant (Room::send_chat_message / edit_chat_message, or an
// official SDK's deprecated sendChatMessage / editChatMessage; ABI 1.20). In order with the
// data packets; counted with them in a pulled event queue.
struct ChatMessageReceivedEvent {
  std::string participant_identity;  // empty when sent by a server SDK or a hidden participant
  ChatMessage message;
};
// A legacy transcription arrived from a remote participant, an agent (the server forwards no
// other's): Room::publish_transcription, or an official SDK's publishTranscription (ABI 1.21).
// In order with the data packets; counted with them in a pulled event queue.
struct TranscriptionReceivedEvent {
  std::string participant_identity;  // the sender (the agent, not the transcribed participant);
                                     // empty when sent by a server SDK or a hidden participant
  Transcription transcription;
};
// A remote participant published a data track (subscribe with Room::subscribe).
struct DataTrackPublishedEvent {
  RemoteDataTrack track;
};
// A remote data track was unpublished (its subscriptions end). Also how a publisher's full
// reconnect may show, followed by a DataTrackPublishedEvent of a track of the same name (a new
// track; subscribe again), instead of a DataTrackSidChangedEvent.
struct DataTrackUnpublishedEvent {
  std::string publisher_identity;
  std::string sid;
  std::string name;
};
// A remote data track got a new sid because its publisher reconnected fully and published it
// again (ABI 1.10). It is the same track, keyed by (publisher_identity, name): its
// subscriptions go on (frames flow again once the server routes the new publication), and
// before this event reaches the handler (or the next_event queue) the API shows the new sid
// wherever it keeps the track: DataTrackSubscription::track() of the room's subscriptions of it
// and its untaken auto-subscription. Room::snapshot() and remote_data_tracks() come from the
// library, which has the new sid already. RemoteDataTrack values the application holds keep
// the old sid; Room::subscribe finds the track by (publisher, name) all the same. Depending on
// the order of the server's updates, the same reconnect can instead show as
// DataTrackUnpublishedEvent then DataTrackPublishedEvent: handle both.
struct DataTrackSidChangedEvent {
  std::string publisher_identity;
  std::string name;
  std::string old_sid;  // the sid the track had
  std::string sid;      // the sid it has now
};
// The server or a full reconnect ended the publication of one of our data tracks.
struct LocalDataTrackUnpublishedEvent {
  lk_handle_t track_handle = 0;  // LocalDataTrack::handle()
  int32_t reason_code = LK_OK;
  std::string reason_message;
};
// A full reconnect of the room published one of our data tracks again under a new sid (ABI
// 1.15); the track stayed published. LocalDataTrack::info() already returns `info`.
struct LocalDataTrackSidChangedEvent {
  lk_handle_t track_handle = 0;  // LocalDataTrack::handle()
  std::string old_sid;           // the sid the track had
  DataTrackInfo info;            // the track now
};
// The end-to-end encryption state of a remote participant's data: every failure to decrypt
// (DecryptionFailed with a wrong key, MissingKey) and the return to Ok once it decrypts again
// (e.g. after a key rotation). Room::encryption_state reads the current state.
struct EncryptionStateChangedEvent {
  std::string participant_identity;
  EncryptionState state;
};

// The publisher of a remote data track this client subscribes to revoked (allowed false) or
// granted again (allowed true) this participant's permission to receive it (its
// Room::set_track_subscription_permissions; ABI 1.20). The track's subscriptions stay open:
// they receive nothing while revoked and resume by themselves once allowed again (nothing to
// end or subscribe again). A subscription refused before it was established ends instead
// (SubscriptionEnd with LK_ERR_NOT_ALLOWED). The track's RemoteDataTrack::subscription_revoked
// (ABI 1.23) is !allowed from this event on, in the snapshots and in
// DataTrackSubscription::track() (already when the event is delivered).
struct DataTrackSubscriptionPermissionChangedEvent {
  std::string publisher_identity;
  std::string name;  // the track's name: with publisher_identity, its stable key
  std::string sid;   // the track's sid
  bool allowed = false;
};

// The room's list of active speakers changed (ABI 1.29): the identities of the participants
// speaking, the local one included, in the library's order (loudest first, equal levels by
// identity), passed through as the library sent them (never sorted or recomputed here); empty
// when nobody speaks. It follows the ParticipantUpdatedEvents (speaking_changed) of the update
// that changed the list, and a speaker's ParticipantDisconnectedEvent; it comes empty when a
// full reconnect or a move forgets the speakers (the new session's server reports them anew).
// A new level that keeps the order changes no list. RoomSnapshot::active_speakers holds the
// list at the snapshot's point; Room::remote_participant(identity) and local_participant()
// give each speaker's ParticipantInfo (is_speaking, audio_level). A state event, never dropped.
struct ActiveSpeakersChangedEvent {
  std::vector<std::string> identities;
};

// The room's state at this point of its events, answering Room::request_snapshot() (ABI 1.12):
// every event before it is reflected in it and none after it, so a consumer that starts (or
// starts over) here replaces its model with `snapshot` and applies the events that follow as
// deltas, as after Room::connect. Any consumer may see one another part of the program asked
// for; it is just as consistent.
struct SnapshotTakenEvent {
  RoomSnapshot snapshot;
};

// RoomEvent is any of the events above.
// (Alternatives are only added, at the end: a visitor should have a catch-all overload.)
using RoomEvent = std::variant<ConnectionStateChangedEvent, ReconnectingEvent, ReconnectedEvent, DisconnectedEvent,
                               RoomUpdatedEvent, ParticipantConnectedEvent, ParticipantDisconnectedEvent,
                               ParticipantUpdatedEvent, DataReceivedEvent, DataTrackPublishedEvent,
                               DataTrackUnpublishedEvent, LocalDataTrackUnpublishedEvent, EncryptionStateChangedEvent,
                               DataTrackSidChangedEvent, SnapshotTakenEvent, LocalDataTrackSidChangedEvent,
                               RoomMovedEvent, SipDtmfReceivedEvent, DataTrackSubscriptionPermissionChangedEvent,
                               ChatMessageReceivedEvent, TranscriptionReceivedEvent, ActiveSpeakersChangedEvent>;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

// ClientOptions configures a Client.
struct ClientOptions {
  // Threads running RPC method handlers and data-stream handlers (at least 1).
  unsigned handler_threads = 4;
  // Handler invocations waiting for a free handler thread; beyond this an RPC is answered with
  // RpcError::kApplicationError ("busy") and an incoming stream is discarded.
  size_t max_pending_handlers = 1024;
  // Minimum level of forwarded library log records.
  LogLevel log_level = LogLevel::Warn;
  // Receives the records (event thread). Unset: records are written to stderr.
  std::function<void(const LogRecord &)> log_handler;
};

// E2eeOptions enables end-to-end encryption of data packets, data tracks and data streams with
// a shared key (key derivation as in the official SDKs).
struct E2eeOptions {
  std::string shared_key;         // never logged
  std::string ratchet_salt;       // empty = "LKFrameEncryptionKey"
  // Successive ratchets of the key a receiver tries when a packet fails to authenticate (0 =
  // none, the JS SDK's shared-key behaviour; at most 256).
  uint32_t ratchet_window_size = 0;
  uint32_t key_ring_size = 0;     // 0 = 16
};

// IceTransportPolicy selects which ICE candidates a room's connection may use.
enum class IceTransportPolicy : int32_t {
  All = 0,    // any candidate (relay only while the server asks for it with force_relay)
  Relay = 1,  // TURN relay candidates only, always; a TURN server must be configured
              // (RoomOptions::ice_servers) or sent by the server, else connect throws
              // Error(LK_ERR_CONNECTION_FAILED) naming the missing relay
};

// IceServer is a STUN or TURN server for RoomOptions::ice_servers.
struct IceServer {
  // 1 to 8 URLs: "stun:host:port", "turn:host:port?transport=udp|tcp",
  // "turns:host:port?transport=tcp".
  std::vector<std::string> urls;
  std::string username;
  std::string credential;  // TURN password, never logged
};

// RoomOptions configures a Room (0 = the library's default everywhere).
struct RoomOptions {
  // Subscribe to every remote data track automatically: the library opens a subscription for
  // each track, those already published at join and those published later, and hands it over
  // with the connect snapshot or with the track's DataTrackPublishedEvent (before the event
  // reaches the handler). Its frames wait in the library's buffer (data_track_buffer_size
  // frames, data_track_buffer_bytes bytes: by default 256 frames and 1 MiB; when full the
  // oldest is dropped and counted in the next frame's dropped_before) until it is read, exactly
  // like a subscription opened with Room::subscribe; this API keeps no buffer of its own. The
  // first Room::subscribe of such a track returns that subscription (see there); one never
  // taken is released when its track is unpublished, its publisher leaves or the room is
  // destroyed. Frames the server sent before it confirmed the subscription are not delivered.
  bool auto_subscribe = false;
  std::optional<E2eeOptions> e2ee;
  uint32_t connect_timeout_ms = 0;       // one join attempt (default 15 000; see connect_deadline)
  uint32_t join_attempts = 0;            // default 1
  int32_t max_reconnect_attempts = 0;    // 0 = 10, negative = never reconnect
  uint32_t rpc_response_timeout_ms = 0;  // default for perform_rpc (15 000)
  // Default buffer of the room's data-track subscriptions (auto-subscriptions, and Room::subscribe
  // without SubscribeOptions::buffer_size) in frames (at most 65 536, else the Room constructor
  // throws Error(LK_ERR_INVALID_ARGUMENT)). 0: the library's default, 256 frames and at most
  // 1 MiB of payloads; a buffer given in frames keeps that many whatever their size (within
  // 64 MiB, unless data_track_buffer_bytes bounds it).
  uint32_t data_track_buffer_size = 0;
  // Default payload bytes buffered per data-track subscription of the room (ABI 1.14;
  // auto-subscriptions, and Room::subscribe without SubscribeOptions::buffer_bytes), besides
  // the frame count: when a frame would pass it the oldest frames are dropped and counted (a
  // frame larger than it alone is still kept). At most 64 MiB, else the Room constructor throws
  // Error(LK_ERR_INVALID_ARGUMENT). 0: 1 MiB when no frame count is given either, else 64 MiB.
  uint32_t data_track_buffer_bytes = 0;
  // Largest incoming data stream accepted, in bytes (0 = the default, 5 000 000 000); a larger
  // one ends with LK_ERR_PAYLOAD_TOO_LARGE for its reader.
  uint64_t max_incoming_stream_bytes = 0;
  // STUN/TURN servers used instead of the ones the server sends (empty = the server's; at
  // most 16). A URL that is not a valid stun:/stuns:/turn:/turns: URL, or a TURN URL without
  // username and credential, makes the Room constructor throw Error(LK_ERR_INVALID_ARGUMENT).
  std::vector<IceServer> ice_servers;
  IceTransportPolicy ice_transport_policy = IceTransportPolicy::All;
  // Receive window of the room's connection in bytes (0 = the library's 768 KiB; otherwise
  // 262 144..67 108 864, else the Room constructor throws Error(LK_ERR_INVALID_ARGUMENT)). It
  // caps what the server can send toward this client at window / round-trip time (7.5 MB/s at
  // 100 ms by default); a larger window helps on long paths but risks losing data-track frames
  // when the process stalls under a saturating flow.
  uint32_t sctp_receive_buffer_bytes = 0;
  // Send and receive every UDP datagram with its own system call (default: batched where the
  // kernel supports it, for less CPU per byte).
  bool disable_udp_batching = false;
  // The roots the room's signalling connection to a wss:// URL trusts, as PEM "CERTIFICATE"
  // blocks (ABI 1.30), for a server whose certificate a private CA signed. Set, they replace
  // the system's roots for this room (SSL_CERT_FILE / SSL_CERT_DIR then play no part in it);
  // empty (default): the system's roots. Passed to the library as given, which checks it: more
  // than 1 MiB, or no certificate in it, makes the Room constructor throw
  // Error(LK_ERR_INVALID_ARGUMENT). A server whose certificate they do not verify fails
  // connect with LK_ERR_CONNECTION_FAILED. TURN servers reached over TLS (turns: URLs) are
  // verified against the system's roots whatever this holds.
  std::string tls_root_certificates_pem;
  // Deadline of every blocking call of this room (publish_*, send_*, set_*, disconnect, ...;
  // not connect, see connect_deadline); 0 means kDefaultWait, negative no deadline (TIMEOUTS).
  Millis operation_timeout{30000};
  // Deadline of the whole of Room::connect, join attempts and their backoff included (passed
  // to the library as the operation's deadline; connect then fails with LK_ERR_TIMEOUT).
  // 0 or negative (default): none, connect ends when the library's join policy does: after
  // join_attempts attempts of at most connect_timeout_ms each, with a backoff of 500 ms
  // doubling per attempt between them.
  Millis connect_deadline{0};
  // Data packets, DTMF, chat messages and transcriptions (DataReceivedEvent,
  // SipDtmfReceivedEvent, ChatMessageReceivedEvent, TranscriptionReceivedEvent) kept for
  // next_event() when no event handler is set (0 = the default, 4096); beyond it the oldest of
  // them is dropped and counted (dropped_events()).
  // Every other event (connection, room, participant, track, encryption state, Disconnected)
  // is part of the room's state and is never dropped: they wait for next_event without a cap,
  // so a Room that nobody pulls events from should have a handler.
  size_t event_queue_capacity = 4096;
};

// DataPublishOptions are Room::publish_data's options.
struct DataPublishOptions {
  bool reliable = true;
  std::string topic;
  std::vector<std::string> destination_identities;  // empty = everyone
};

struct DataTrackOptions {
  std::string schema_name;
  std::string frame_encoding;   // "ros1", "cdr", "protobuf", "json", ... or custom
  std::string schema_encoding;  // "protobuf", "json_schema", ...
  uint32_t queue_size = 0;      // outgoing queue bound in frames (0 = 1 024)
  uint32_t queue_bytes = 0;     // outgoing queue bound in bytes (0 = 1 MiB; at most 64 MiB)
  bool drop_oldest = false;     // full queue: false refuses the new frame (QUEUE_FULL),
                                // true evicts the oldest waiting frames (counted)
};

// E2eeStats are a room's end-to-end encryption counters (Room::e2ee_stats) and each remote
// participant's state.
struct E2eeStats {
  bool enabled = false;              // the room was created with RoomOptions::e2ee
  uint64_t decryption_failures = 0;  // packets and data-track frames that failed to decrypt (dropped)
  uint64_t events_suppressed = 0;    // failures not reported as EncryptionStateChangedEvent (queue full)
  // The state of every remote participant whose data failed to decrypt since it joined, by
  // identity (Ok once it decrypts again); a participant that left is not listed, nor one with
  // nothing failed (ABI 1.17).
  std::map<std::string, EncryptionState> encryption_states;
};

// IceCandidate is one end of the ICE candidate pair a room's connection uses (ABI 1.26,
// ConnectionStats): a value, read from the library by Room::connection_stats.
struct IceCandidate {
  IceCandidateType type = IceCandidateType::Unspecified;
  std::string protocol;  // the candidate's transport: "udp" or "tcp"
  // The candidate's address; for a local Relay candidate, the address the TURN server relays
  // from (the address the server side sees).
  std::string ip;
  // The candidate's port: uint16_t, what a UDP or TCP port is (in_port_t; an ICE candidate's
  // port is 0..65535), so it goes into a sockaddr or an endpoint without a check. The schema
  // carries it as a uint32 only because protobuf has no 16-bit integer.
  uint16_t port = 0;
  // For a local Relay candidate, the transport between this client and the TURN server: "udp",
  // "tcp" or "tls"; empty otherwise (every other candidate, and the remote end).
  std::string relay_protocol;
};

// ConnectionStats describe a room's connection to the server as the library sees it when
// Room::connection_stats is called (ABI 1.26), for diagnostics: whether it goes through a TURN
// server and how, how long a round trip takes, what the data channels carried. Only a connected
// room has them: Room::connection_stats returns std::nullopt otherwise (the schema's connected
// flag, with every other field unset), so a ConnectionStats always holds a selected pair and
// there is no flag to check or ignore.
struct ConnectionStats {
  IceCandidate local_candidate;   // this client's end of the selected candidate pair
  IceCandidate remote_candidate;  // the server's end
  // ICE's latest round trip on the pair (its connectivity checks, and keepalives while the pair
  // is idle); 0 before the first. Microseconds, the library's resolution.
  std::chrono::microseconds round_trip_time{0};
  // The data channels' smoothed round trip, measured by SCTP on acknowledged data (so the
  // peers' processing under load is included); 0 before any data was acknowledged.
  std::chrono::microseconds sctp_round_trip_time{0};
  // The data channels' message bytes (every channel, reliable and lossy; no SCTP, DTLS or UDP
  // framing) on this connection: a full reconnect starts a new connection from zero, a resume
  // keeps it. Sent bytes are counted as SCTP sends them, shortly after the call that sent them
  // returned.
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

// LocalDataTrackStats are a local track's counters (LocalDataTrack::stats). Every accepted
// frame is accounted for: pushed == sent + send_failed + discarded + evicted + queued.
struct LocalDataTrackStats {
  uint64_t pushed = 0;        // frames accepted (try_push and push)
  uint64_t rejected = 0;      // try_push calls refused with LK_ERR_QUEUE_FULL because the queue
                              // was full (also each such refusal inside a waiting push)
  uint64_t sent = 0;          // frames whose every packet was handed to the data channel
  uint64_t send_failed = 0;   // frames abandoned because the channel failed
  uint64_t discarded = 0;     // queued frames thrown away by unpublish, reconnect or disconnect
  uint64_t evicted = 0;       // accepted frames evicted by a drop_oldest queue
  uint32_t queued = 0;        // frames waiting in the send queue now
  uint64_t queued_bytes = 0;  // their serialized bytes
  // Accepted frames that were not sent.
  uint64_t dropped() const noexcept { return send_failed + discarded + evicted; }
};

// SubscribeOptions are Room::subscribe's options.
struct SubscribeOptions {
  uint32_t buffer_size = 0;  // frames buffered (0 = RoomOptions::data_track_buffer_size)
  // Payload bytes buffered besides (ABI 1.13; at most 64 MiB, else LK_ERR_INVALID_ARGUMENT).
  // 0: RoomOptions::data_track_buffer_bytes; with that 0 too, 1 MiB without a frame count, else
  // 64 MiB (a buffer sized in frames keeps them whatever their size). A frame larger than it
  // alone is still kept.
  uint32_t buffer_bytes = 0;
};

// StreamOptions are the options common to outgoing text and byte streams.
struct StreamOptions {
  std::string topic;  // receivers' handlers are registered per topic
  Attributes attributes;
  std::vector<std::string> destination_identities;  // empty = everyone
  std::string stream_id;                            // empty = generated
  // The stream's total size in bytes announced to receivers (TextStreamInfo/ByteStreamInfo::
  // total_length; a receiver refuses a stream announcing more than its
  // RoomOptions::max_incoming_stream_bytes); unset = not announced (send_file announces the
  // file's size itself).
  std::optional<uint64_t> total_length;
};

// TextStreamOptions are the options of an outgoing text stream (LiveKit's text stream header).
struct TextStreamOptions : StreamOptions {
  TextOperation operation = TextOperation::Create;
  int32_t version = 0;  // version of the text for Update operations (application-defined)
  std::string reply_to_stream_id;                 // the stream this one answers
  std::vector<std::string> attached_stream_ids;  // byte streams sent with this text (e.g. files)
  bool generated = false;                        // the text was generated (e.g. by an AI agent)
  // ABI 1.21: the participant an agent sends the text on behalf of, e.g. the user whose speech
  // it transcribes on the topic "lk.transcription" (the receivers see that identity as the
  // sender, and the server marks the stream generated); empty = the local participant. Set,
  // send_text and open_text_writer throw lk::Error with LK_ERR_NOT_ALLOWED unless the local
  // participant is an agent (ParticipantKind::Agent), LK_ERR_INVALID_ARGUMENT in an end-to-end
  // encrypted room (the library checks both).
  std::string sender_identity;
};

// ByteStreamOptions are the options of an outgoing byte stream.
struct ByteStreamOptions : StreamOptions {
  std::string name;       // file name shown to receivers
  std::string mime_type;  // default application/octet-stream
};

// TextStreamInfo describes a text stream (sent, or received by a TextStreamReader); the fields
// mirror TextStreamOptions. encrypted: it travelled end-to-end encrypted.
struct TextStreamInfo {
  std::string stream_id;
  std::string topic;
  int64_t timestamp_ms = 0;
  std::optional<uint64_t> total_length;
  Attributes attributes;
  TextOperation operation = TextOperation::Create;
  int32_t version = 0;
  std::string reply_to_stream_id;
  std::vector<std::string> attached_stream_ids;
  bool generated = false;
  bool encrypted = false;
};

// ByteStreamInfo describes a byte stream (sent, or received by a ByteStreamReader).
struct ByteStreamInfo {
  std::string stream_id;
  std::string topic;
  int64_t timestamp_ms = 0;
  std::optional<uint64_t> total_length;
  Attributes attributes;
  std::string name;
  std::string mime_type;
  bool encrypted = false;
};

// RpcInvocation is an incoming RPC call.
struct RpcInvocation {
  std::string method;
  std::string caller_identity;
  std::string payload;
  std::string request_id;  // the caller's RPC request id (informational)
  uint32_t response_timeout_ms = 0;
  int64_t deadline_unix_ms = 0;  // the library answers kResponseTimeout itself at this time
};

// SubscriptionEnd summarises an ended data-track subscription.
struct SubscriptionEnd {
  SubscriptionEndReason reason = SubscriptionEndReason::Unspecified;
  int32_t error_code = LK_OK;  // set when a failure ended it (reason Failed, ...)
  std::string error_message;
  uint64_t frames_received = 0;  // frames the library handed to this API
  // Frames lost over the subscription's life, as the library counts them: every loss a frame's
  // dropped_before reports (also for frames still waiting to be read), plus the frames lost
  // after the last frame, which no frame reports.
  uint64_t frames_dropped = 0;
};

// Handler types. RpcHandler runs on a handler thread: return the response payload (UTF-8), or
// throw RpcError to answer with that error (any other exception, or a response that is not
// UTF-8, answers kApplicationError).
using RpcHandler = std::function<std::string(const RpcInvocation &)>;
using RoomEventHandler = std::function<void(const RoomEvent &)>;
using FrameHandler = std::function<void(Frame &&)>;
using SubscriptionEndHandler = std::function<void(const SubscriptionEnd &)>;

class Client;
class Room;
class TextStreamReader;
class ByteStreamReader;
using TextStreamHandler = std::function<void(TextStreamReader reader, const std::string &participant_identity)>;
using ByteStreamHandler = std::function<void(ByteStreamReader reader, const std::string &participant_identity)>;

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

// Client is one liblkcore client (lk_client_new): an event thread, handler threads and the
// handles of its rooms. Destroying or closing it disconnects its rooms.
class LK_API Client {
 public:
  // Creates a client. Throws Error(LK_ERR_UNSUPPORTED) when the loaded liblkcore is not
  // ABI-compatible with this header, Error(LK_ERR_INTERNAL) when it cannot create a client.
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(Client &&) noexcept;
  Client &operator=(Client &&) noexcept;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  // Closes the client: pending operations fail with LK_ERR_CLIENT_CLOSED, rooms disconnect,
  // handlers stop (waiting for running RPC/stream handlers to return). Idempotent. timeout 0
  // means 5 s, negative no bound (TIMEOUTS). Throws Error(LK_ERR_TIMEOUT) if an event callback was still running at the
  // timeout (close again to wait again).
  void close(Millis timeout = Millis(5000));
  bool valid() const noexcept { return impl_ != nullptr; }
  // The library's client id.
  lk_client_t id() const noexcept;
  // Handles the library has issued to this client and not released yet (rooms, tracks,
  // subscriptions, readers, writers; as the library counts them, ABI 1.4); 0 once all of the
  // objects owning them are destroyed.
  size_t live_handles() const noexcept;
  // Minimum level of the library's log records forwarded to ClientOptions::log_handler (or
  // stderr); LogLevel::Off forwards none.
  void set_log_level(LogLevel level);
  // The loaded library's ABI version, schema name and build version.
  VersionInfo version() const;
  // Round trip through the library (synchronous); for diagnostics.
  std::string echo(const std::string &payload);
  // Asynchronous echo completing after delay (tests the async path: correlation, deadlines).
  std::future<std::string> echo_async(const std::string &payload, Millis delay, Millis timeout = Millis(0));

 private:
  friend class Room;
  std::shared_ptr<detail::ClientImpl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Data tracks
// ---------------------------------------------------------------------------------------------

// LocalDataTrack is a published data track. Destroying it unpublishes the track.
class LK_API LocalDataTrack {
 public:
  LocalDataTrack() noexcept = default;
  ~LocalDataTrack();
  LocalDataTrack(LocalDataTrack &&o) noexcept;
  LocalDataTrack &operator=(LocalDataTrack &&o) noexcept;
  LocalDataTrack(const LocalDataTrack &) = delete;
  LocalDataTrack &operator=(const LocalDataTrack &) = delete;

  bool valid() const noexcept { return handle_ != 0; }
  lk_handle_t handle() const noexcept { return handle_; }
  // The track's description, as it is now: its sid changes when a full reconnect of the room
  // publishes the track again (LocalDataTrackSidChangedEvent, ABI 1.15).
  DataTrackInfo info() const;

  // Queues one frame (lk_data_track_push: no protobuf, copied before return, never blocks).
  // LK_OK, LK_ERR_QUEUE_FULL (nothing queued, retry later), LK_ERR_FAILED_PRECONDITION
  // (nothing queued: a full reconnect is publishing the track again; retry later, or push,
  // which waits; LocalDataTrackSidChangedEvent marks the end), LK_ERR_TRACK_UNPUBLISHED,
  // LK_ERR_PAYLOAD_TOO_LARGE, LK_ERR_CLIENT_CLOSED, LK_ERR_INVALID_HANDLE (empty object), ...
  Status try_push(const uint8_t *data, size_t size, std::optional<uint64_t> user_timestamp = std::nullopt) noexcept {
    if (handle_ == 0) return LK_ERR_INVALID_HANDLE;
    return lk_data_track_push(client_, handle_, data, size, user_timestamp.value_or(0), user_timestamp.has_value());
  }
  Status try_push(std::string_view data, std::optional<uint64_t> user_timestamp = std::nullopt) noexcept {
    return try_push(reinterpret_cast<const uint8_t *>(data.data()), data.size(), user_timestamp);
  }
#ifdef LKCORE_HAS_SPAN
  Status try_push(std::span<const uint8_t> data, std::optional<uint64_t> user_timestamp = std::nullopt) noexcept {
    return try_push(data.data(), data.size(), user_timestamp);
  }
#endif
  // Queues one frame, waiting while the send queue is full or already holds 16 frames or
  // 256 KiB, and while a full reconnect publishes the track again: back-pressure paced like the
  // core's push, so frames pushed this way wait behind at most about 16 others, while try_push
  // accepts up to the whole queue. The frame is first
  // offered without waiting (lk_data_track_push_paced), then handed to the library's waiting
  // push. Throws Error(LK_ERR_TIMEOUT) when there was no room within timeout (the frame is then
  // not queued), and like try_push's statuses LK_ERR_TRACK_UNPUBLISHED,
  // LK_ERR_PAYLOAD_TOO_LARGE, LK_ERR_DISCONNECTED, ...; Error(LK_ERR_FAILED_PRECONDITION) on the
  // client's event thread, where it must not wait (use try_push there).
  void push(const uint8_t *data, size_t size, std::optional<uint64_t> user_timestamp = std::nullopt,
            Millis timeout = kDefaultWait);
  void push(std::string_view data, std::optional<uint64_t> user_timestamp = std::nullopt,
            Millis timeout = kDefaultWait) {
    push(reinterpret_cast<const uint8_t *>(data.data()), data.size(), user_timestamp, timeout);
  }
#ifdef LKCORE_HAS_SPAN
  void push(std::span<const uint8_t> data, std::optional<uint64_t> user_timestamp = std::nullopt,
            Millis timeout = kDefaultWait) {
    push(data.data(), data.size(), user_timestamp, timeout);
  }
#endif
  // Waits until every frame queued so far was handed to the data channel (or discarded).
  // Throws Error(LK_ERR_TIMEOUT) if that takes longer than timeout.
  void flush(Millis timeout = kDefaultWait);
  // The track's counters.
  LocalDataTrackStats stats() const;
  bool is_published() const;
  // Unpublishes (idempotent); later pushes fail with LK_ERR_TRACK_UNPUBLISHED.
  void unpublish();

 private:
  friend class Room;
  void release() noexcept;
  std::shared_ptr<detail::ClientImpl> impl_;
  lk_client_t client_ = 0;
  lk_handle_t handle_ = 0;
  DataTrackInfo info_;
};

// DataTrackSubscription receives the frames of a remote data track, either pulled with read()
// (pull mode, lk_data_track_read_frame) or pushed to a callback (callback mode). Destroying it
// unsubscribes (and waits for a running callback on another thread to return).
// Its frames wait in the library's buffer (SubscribeOptions, or the RoomOptions defaults) until
// read or delivered; when full the library drops the oldest and reports it in the next frame's
// dropped_before (and in end()->frames_dropped). This API buffers and drops none. An
// auto-subscription (RoomOptions::auto_subscribe) is such a subscription from the moment the
// library hands it over: its frames wait there until it is taken and read.
// Destroying the Room it was taken from ends it (the library releases the subscription with
// the room and sends no end event): end() is then SubscriptionEnd{reason Disconnected,
// error_code LK_OK, error_message "the room was destroyed", frame counters 0 (the library's are
// gone with the handle)}; reads return LK_ERR_END_OF_STREAM (a waiting read returns); a
// callback-mode subscription's on_end runs once, on the event thread (on the thread closing
// the client if it closes first, e.g. a Room owning its client), and no frame follows it. (An
// auto-subscription taken in callback mode after it had ended, whose on_end still waited for
// its frames, keeps the end it had: on_end gets that.)
class LK_API DataTrackSubscription {
 public:
  DataTrackSubscription() noexcept = default;
  ~DataTrackSubscription();
  DataTrackSubscription(DataTrackSubscription &&o) noexcept;
  DataTrackSubscription &operator=(DataTrackSubscription &&o) noexcept;
  DataTrackSubscription(const DataTrackSubscription &) = delete;
  DataTrackSubscription &operator=(const DataTrackSubscription &) = delete;

  bool valid() const noexcept { return handle_ != 0; }
  lk_handle_t handle() const noexcept { return handle_; }
  // The subscribed track as it is now (a copy; empty for an empty object): a
  // DataTrackSidChangedEvent of its room updates its sid, and a
  // DataTrackSubscriptionPermissionChangedEvent its subscription_revoked (ABI 1.23), before the
  // event is delivered, unless the subscription has ended. Changes that arrive while
  // Room::subscribe runs count too: each ends on the latest one whatever the order of the
  // library's answer and those events.
  RemoteDataTrack track() const;

  // Pull mode: the next frame, or std::nullopt when none arrived within timeout (< 0: wait
  // until one arrives or the subscription ends). Throws Error(LK_ERR_END_OF_STREAM) once the
  // subscription ended and was drained (end() then tells why), Error(LK_ERR_FAILED_PRECONDITION)
  // in callback mode, other Errors as lk_data_track_read_frame (LK_ERR_CLIENT_CLOSED once the
  // client is closed). Each frame carries its dropped_before (see Frame). An auto-subscription
  // is read like any other.
  std::optional<Frame> read(Millis timeout);
  // noexcept form of read: LK_OK (frame set), LK_ERR_TIMEOUT, LK_ERR_END_OF_STREAM, ...
  Status try_read(Frame &frame, int32_t timeout_ms) noexcept;
  // Waits until the subscription is established (the server confirmed it and frames flow:
  // frames pushed from then on reach it). Throws the reason it could not be (e.g.
  // Error(LK_ERR_NOT_ALLOWED), LK_ERR_ENCRYPTION_ERROR, LK_ERR_DISCONNECTED) or
  // Error(LK_ERR_TIMEOUT); returns at once if it is already established.
  void wait_subscribed(Millis timeout = kDefaultWait);
  // Set once the subscription ended. A pull-mode read reporting LK_ERR_END_OF_STREAM has asked
  // the library how it ended (GetDataTrackSubscriptionEnd, at once), so it is set by then; a
  // callback-mode subscription's end is set with its end event, before on_end runs (an
  // auto-subscription that ended before it was taken in callback mode has it set already, and
  // updated by the end event following its last frame, before on_end runs). Destroying the
  // Room sets it too (see above).
  std::optional<SubscriptionEnd> end() const;

 private:
  friend class Room;
  // state holds the track (SubscriptionState::track).
  DataTrackSubscription(std::shared_ptr<detail::ClientImpl> impl, lk_handle_t handle,
                        std::shared_ptr<detail::SubscriptionState> state);
  void release() noexcept;
  std::shared_ptr<detail::ClientImpl> impl_;
  std::shared_ptr<detail::SubscriptionState> state_;
  lk_client_t client_ = 0;
  lk_handle_t handle_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Data streams
// ---------------------------------------------------------------------------------------------

// StreamWriter writes an incremental text or byte stream. close() ends it normally; destroying
// an unclosed writer aborts the stream (receivers see LK_ERR_ABORTED).
class LK_API StreamWriter {
 public:
  StreamWriter() noexcept = default;
  ~StreamWriter();
  StreamWriter(StreamWriter &&o) noexcept;
  StreamWriter &operator=(StreamWriter &&o) noexcept;
  StreamWriter(const StreamWriter &) = delete;
  StreamWriter &operator=(const StreamWriter &) = delete;

  bool valid() const noexcept { return handle_ != 0; }
  bool is_text() const noexcept { return text_; }
  const std::string &stream_id() const noexcept { return stream_id_; }
  // Appends text (text writers) or bytes (byte writers; LK_ERR_INVALID_ARGUMENT otherwise).
  // Blocks until the chunk was handed to the transport.
  void write(std::string_view chunk);
  // Ends the stream after every write; non-empty reason aborts it instead.
  void close(const Attributes &trailer = {}, const std::string &reason = {});

 private:
  friend class Room;
  void release() noexcept;
  std::shared_ptr<detail::ClientImpl> impl_;
  lk_handle_t handle_ = 0;
  bool text_ = false;
  std::string stream_id_;
  Millis timeout_{30000};
};

// Common part of the stream readers: chunks in order, flow-controlled (the sender is slowed
// down rather than the reader's memory growing). Destroying a reader before the end discards
// the rest of the stream.
class LK_API StreamReaderBase {
 public:
  StreamReaderBase() noexcept = default;
  ~StreamReaderBase();
  StreamReaderBase(StreamReaderBase &&o) noexcept;
  StreamReaderBase &operator=(StreamReaderBase &&o) noexcept;
  StreamReaderBase(const StreamReaderBase &) = delete;
  StreamReaderBase &operator=(const StreamReaderBase &) = delete;

  bool valid() const noexcept { return handle_ != 0; }
  const std::string &participant_identity() const noexcept { return identity_; }
  // The next chunk, or std::nullopt at the normal end of the stream. Throws the stream's error
  // (e.g. LK_ERR_ABORTED, LK_ERR_PAYLOAD_TOO_LARGE) and Error(LK_ERR_TIMEOUT) when no chunk
  // arrived within timeout (0: only a chunk already there; negative: no bound).
  std::optional<std::string> read_chunk(Millis timeout = Millis(30000));
  // Every remaining chunk concatenated (the whole stream), bounded by timeout overall.
  std::string read_all(Millis timeout = Millis(30000));
  // The sender's trailer attributes (after the end).
  Attributes trailer_attributes() const;

 protected:
  void release() noexcept;
  std::shared_ptr<detail::ClientImpl> impl_;
  std::shared_ptr<detail::ReaderState> state_;
  lk_handle_t handle_ = 0;
  std::string identity_;
  friend class detail::ClientImpl;
};

// TextStreamReader reads an incoming text stream (chunks hold whole UTF-8 characters).
class LK_API TextStreamReader : public StreamReaderBase {
 public:
  TextStreamReader() noexcept = default;
  const TextStreamInfo &info() const noexcept { return info_; }

 private:
  friend class detail::ClientImpl;
  TextStreamInfo info_;
};

// ByteStreamReader reads an incoming byte stream.
class LK_API ByteStreamReader : public StreamReaderBase {
 public:
  ByteStreamReader() noexcept = default;
  const ByteStreamInfo &info() const noexcept { return info_; }

 private:
  friend class detail::ClientImpl;
  ByteStreamInfo info_;
};

// ---------------------------------------------------------------------------------------------
// Room
// ---------------------------------------------------------------------------------------------

// Room is one room connection and its local participant. Create it, register RPC methods and
// stream handlers, then connect: nothing that arrives right after joining is missed.
// Destroying it leaves the room (in the background) and releases its handle and those of its
// children (their later destruction is harmless); the data-track subscriptions taken from it
// end (see DataTrackSubscription).
class LK_API Room {
 public:
  // A room with its own client (closed with the room).
  explicit Room(RoomOptions options = {});
  // A room on a shared client.
  explicit Room(Client &client, RoomOptions options = {});
  ~Room();
  Room(Room &&) noexcept;
  Room &operator=(Room &&) noexcept;
  Room(const Room &) = delete;
  Room &operator=(const Room &) = delete;

  bool valid() const noexcept { return state_ != nullptr; }
  // The room's library handle (0 for an empty Room): what events and LocalDataTrackUnpublishedEvent
  // name; owned by this object, never drop it yourself.
  lk_handle_t handle() const noexcept;

  // Joins the room (url: ws:// or wss://). Returns the snapshot at join time; later events are
  // deltas on it. Bounded by the join policy of RoomOptions (join_attempts, connect_timeout_ms)
  // and by RoomOptions::connect_deadline if set, not by operation_timeout. On LiveKit Cloud a
  // join that fails in a retryable way goes on in the project's other regions (the library's
  // policy; RoomInfo::server names the region that joined).
  // Errors: LK_ERR_UNAUTHORIZED, LK_ERR_CONNECTION_FAILED, LK_ERR_TIMEOUT, ...
  RoomSnapshot connect(const std::string &url, const std::string &token);
  // Leaves the room; returns after the DisconnectedEvent was delivered.
  void disconnect();

  // The current state (synchronous, from the library). It is read now, so it can be ahead of
  // events not delivered yet; a consumer that applies events to a model wants request_snapshot().
  RoomSnapshot snapshot() const;
  // Asks for a SnapshotTakenEvent: the state taken at that event's place among the room's
  // events, so it agrees exactly with the events before and after it. Returns at once; the event
  // follows (to the handler or the next_event queue). While one is on its way it answers new
  // requests too. Errors: LK_ERR_DISCONNECTED before connect succeeded and after the room ended.
  void request_snapshot();
  ParticipantInfo local_participant() const;
  std::vector<ParticipantInfo> remote_participants() const;
  std::optional<ParticipantInfo> remote_participant(const std::string &identity) const;
  std::vector<RemoteDataTrack> remote_data_tracks() const;

  // Events: either a handler (called on the client's event thread, in order; an empty function
  // switches back to the queue), or pulled with next_event (std::nullopt after timeout; 0
  // polls, negative waits without a bound).
  // set_event_handler returns once a running call of the previous handler has returned
  // (unless called from that handler).
  void set_event_handler(RoomEventHandler handler);
  std::optional<RoomEvent> next_event(Millis timeout);
  // Data packets, DTMF, chat messages and transcriptions dropped from a full next_event queue
  // (RoomOptions::event_queue_capacity).
  uint64_t dropped_events() const;

  // Local participant.
  // Throws lk::Error with LK_ERR_PAYLOAD_TOO_LARGE (more than 64 000 bytes: use a stream),
  // LK_ERR_NOT_ALLOWED (the server does not let this participant publish data: it would drop
  // the packet), LK_ERR_DISCONNECTED.
  void publish_data(const void *data, size_t size, const DataPublishOptions &options = {});
  void publish_data(std::string_view data, const DataPublishOptions &options = {}) {
    publish_data(data.data(), data.size(), options);
  }
  // Sends a DTMF tone (a telephone keypad key) to destination_identities (empty = everyone): a
  // SIP participant plays digit to its caller, one tone per character; code is the
  // telephone-event code (0-9 digits, 10 '*', 11 '#', 12-15 'A'-'D'). Reliable, in call order
  // with publish_data, never end-to-end encrypted (a SIP participant has no key). Throws
  // lk::Error with LK_ERR_INVALID_ARGUMENT (a code above 255; a digit that is empty or longer
  // than 256 bytes), LK_ERR_NOT_ALLOWED, LK_ERR_DISCONNECTED.
  void publish_dtmf(uint32_t code, const std::string &digit, const std::vector<std::string> &destination_identities = {});
  // Legacy chat messages (ABI 1.20; see ChatMessage): deprecated in the official SDKs in favour
  // of text streams on the topic "lk.chat" (send_text); use them to talk to clients that still
  // chat the legacy way. Both send to destination_identities (empty = everyone), reliable, in
  // call order with publish_data and publish_dtmf, end-to-end encrypted when the room is, and
  // return the message as sent; the others receive it as ChatMessageReceivedEvent.
  // sender_identity (ABI 1.21): the participant an agent sends the message on behalf of (the
  // receivers see it as the sender, and the server marks the message generated); empty = the
  // local participant (as TextStreamOptions::sender_identity).
  // send_chat_message sends message as a new chat message: a fresh id, stamped now
  // (edit_timestamp_ms 0). Throws lk::Error with LK_ERR_PAYLOAD_TOO_LARGE (over the 64 000-byte
  // packet limit), LK_ERR_NOT_ALLOWED (also: a sender_identity from a participant that is not an
  // agent), LK_ERR_INVALID_ARGUMENT (a sender_identity in an end-to-end encrypted room),
  // LK_ERR_DISCONNECTED.
  ChatMessage send_chat_message(const std::string &message, std::vector<std::string> destination_identities = {},
                                const std::string &sender_identity = {});
  // edit_chat_message sends message as the new text of original (a message sent before, as
  // send_chat_message or a ChatMessageReceivedEvent returned it): original's id, timestamp_ms,
  // deleted and generated, stamped with the edit time (edit_timestamp_ms). Throws lk::Error
  // with LK_ERR_INVALID_ARGUMENT (an original without id), then as send_chat_message.
  ChatMessage edit_chat_message(const std::string &message, const ChatMessage &original,
                                std::vector<std::string> destination_identities = {},
                                const std::string &sender_identity = {});
  // Sends a legacy transcription (ABI 1.21; see Transcription) to everyone else, reliable, in
  // call order with publish_data, publish_dtmf and the chat messages; the others receive it as
  // TranscriptionReceivedEvent. Only an agent may (livekit-server drops a transcription from
  // anyone else), and never in an end-to-end encrypted room (a transcription has no encrypted
  // form): the library checks both. Returns once sent. Throws lk::Error with LK_ERR_NOT_ALLOWED
  // (the local participant is not of kind ParticipantKind::Agent, or may not publish data),
  // LK_ERR_INVALID_ARGUMENT (an end-to-end encrypted room; no participant_identity; no segment
  // or more than 1024; a segment without id), LK_ERR_PAYLOAD_TOO_LARGE (over the 64 000-byte
  // packet limit), LK_ERR_DISCONNECTED.
  void publish_transcription(const Transcription &transcription);
  // Sets who may subscribe to this participant's data tracks (ABI 1.20): everyone when
  // all_participants is true (what the server assumes until the first call; permissions are
  // then ignored), otherwise only the participants in permissions, each to all the tracks or to
  // the sids it lists (an empty list allows no one). Each call replaces the previous one. The
  // server applies it at once: a subscriber no longer allowed receives nothing (it gets a
  // DataTrackSubscriptionPermissionChangedEvent, its subscription stays open) until allowed
  // again, which resumes its frames; recorders are exempt. The library keeps the permissions for
  // the room and sends them again after a full reconnect, naming the new sids of the tracks it
  // published again: call this again only to change them. Returns once the request is written
  // (or held while the room reconnects); the server does not answer it. Throws lk::Error with
  // LK_ERR_INVALID_ARGUMENT (a permission with an empty participant_identity),
  // LK_ERR_PAYLOAD_TOO_LARGE (over the 2 MiB a LiveKit server reads in one signalling message),
  // LK_ERR_DISCONNECTED.
  void set_track_subscription_permissions(bool all_participants, std::vector<TrackPermission> permissions = {});
  // Data-track schema definitions (ABI 1.23). A schema is identified by its name and encoding
  // together (as DataTrackOptions::schema_name and schema_encoding: the same name with another
  // encoding is another schema); its definition is text (UTF-8), e.g. a .proto file.
  // define_schema stores definition on the server under the schema, for the subscribers of
  // this participant's typed tracks to read with get_schema; define it before publishing a
  // track that names it. Defining the same schema again replaces the definition. The library
  // keeps what it stored and stores it again after a full reconnect (the server forgets it
  // with the old session): call this again only to change it. Returns once the server has
  // stored it. A LiveKit server stores definitions only with enable_participant_data_blob
  // (off by default). Throws lk::Error with LK_ERR_INVALID_ARGUMENT (schema_name empty or
  // longer than 256 bytes, definition empty or longer than 50 000 bytes), LK_ERR_LIMIT_REACHED
  // (the definitions the library keeps would exceed 1 MiB together, or the server's bound for
  // one participant's, 64 000 bytes by default, keys included), LK_ERR_NOT_ALLOWED (the server
  // does not store definitions), another code for the server's other refusals,
  // LK_ERR_DISCONNECTED, LK_ERR_TIMEOUT.
  void define_schema(const std::string &schema_name, const std::string &definition,
                     const std::string &schema_encoding = "");
  // get_schema returns the definition the participant of participant_identity in the room (the
  // local one included) stored for the schema of schema_name and schema_encoding (both must
  // match). Read from the server on every call: nothing is cached here, and a publisher may
  // define the schema again. Throws lk::Error with LK_ERR_INVALID_ARGUMENT (an empty
  // participant_identity or schema_name), LK_ERR_NOT_FOUND (no participant of that identity in
  // the room, or no definition of that schema), LK_ERR_PROTOCOL_ERROR (the stored definition is
  // not UTF-8), LK_ERR_DISCONNECTED, LK_ERR_TIMEOUT.
  std::string get_schema(const std::string &participant_identity, const std::string &schema_name,
                         const std::string &schema_encoding = "");
  void set_metadata(const std::string &metadata);
  void set_name(const std::string &name);
  // Keys with an empty value are deleted.
  void set_attributes(const Attributes &attributes);

  // Data tracks.
  LocalDataTrack publish_data_track(const std::string &name, const DataTrackOptions &options = {});
  // Pull mode: read frames with DataTrackSubscription::read.
  // With RoomOptions::auto_subscribe, the first subscribe (either form) of a track returns the
  // subscription the library opened for it (matched by publisher identity and track name), with
  // the frames its buffer kept since it was handed over (RoomOptions::data_track_buffer_size and
  // data_track_buffer_bytes; options do not apply to it). Later calls open further
  // subscriptions.
  DataTrackSubscription subscribe(const RemoteDataTrack &track, const SubscribeOptions &options = {});
  // Callback mode: frames (and the end) are delivered on the client's event thread. If the
  // subscription ended before it could be registered (e.g. the track was just unpublished),
  // on_end runs on the calling thread before subscribe returns. Taking an auto-subscription,
  // the library switches it to callback mode (SetDataTrackDeliveryRequest, ABI 1.14): the
  // frames kept in its buffer since the hand-over, then the later ones, arrive on the event
  // thread like an explicit subscription's, and on_end runs once, after the last frame — also
  // when the track was unpublished before the subscription was taken. No lock is held while
  // these callbacks run.
  DataTrackSubscription subscribe(const RemoteDataTrack &track, FrameHandler on_frame,
                                  SubscriptionEndHandler on_end = {}, const SubscribeOptions &options = {});

  // RPC. Handlers may be registered before connect. Errors: LK_ERR_ALREADY_EXISTS.
  void register_rpc_method(const std::string &method, RpcHandler handler);
  void unregister_rpc_method(const std::string &method);
  // Calls method on destination; never blocks. Every failure is delivered through the future:
  // RpcError for RPC failures (remote errors and LiveKit's built-in codes such as 1502), Error
  // otherwise (e.g. LK_ERR_DISCONNECTED). response_timeout 0 = RoomOptions::rpc_response_timeout_ms,
  // negative = kMaxTimeout.
  // Do not wait on the future on the event thread.
  std::future<std::string> perform_rpc(const std::string &destination, const std::string &method,
                                       const std::string &payload, Millis response_timeout = Millis(0));
  // Callback form: the callback runs once with the payload or the error, on the event thread,
  // except when the client closes first: then it runs with LK_ERR_CLIENT_CLOSED on the thread
  // closing the client (Client::close, or the one dropping the last object keeping it alive).
  // A request the library refuses at once throws here instead. Neither form is bounded by
  // RoomOptions::operation_timeout: response_timeout is the RPC's bound.
  void perform_rpc(const std::string &destination, const std::string &method, const std::string &payload,
                   std::function<void(std::string payload, std::exception_ptr error)> callback,
                   Millis response_timeout = Millis(0));

  // Data streams.
  TextStreamInfo send_text(const std::string &text, const TextStreamOptions &options = {});
  ByteStreamInfo send_bytes(const void *data, size_t size, const ByteStreamOptions &options = {});
  ByteStreamInfo send_file(const std::string &path, const ByteStreamOptions &options = {});
  StreamWriter open_text_writer(const TextStreamOptions &options = {});
  StreamWriter open_byte_writer(const ByteStreamOptions &options = {});
  // Incoming streams on a topic; the handler runs on a handler thread and owns the reader. A
  // stream on a topic with no handler registered when it opens is discarded (its reader is
  // released at once), as is every object an event of a destroyed Room hands over.
  void register_text_stream_handler(const std::string &topic, TextStreamHandler handler);
  void register_byte_stream_handler(const std::string &topic, ByteStreamHandler handler);
  void unregister_text_stream_handler(const std::string &topic);
  void unregister_byte_stream_handler(const std::string &topic);

  // E2EE: replaces the shared key at key_index (key rotation).
  void set_shared_key(const std::string &key, uint32_t key_index = 0);
  // E2EE counters of this room (enabled is false for a room without RoomOptions::e2ee) and
  // each remote participant's state.
  E2eeStats e2ee_stats() const;
  // A remote participant's end-to-end encryption state as the library holds it now:
  // DecryptionFailed or MissingKey after a failure, Ok once its data decrypts again,
  // Unspecified when nothing of it failed or it left. It can be ahead of
  // EncryptionStateChangedEvents still on their way.
  EncryptionState encryption_state(const std::string &participant_identity) const;

  // The room's connection to the server now (GetConnectionStatsRequest, ABI 1.26): the selected
  // ICE candidate pair, ICE's and SCTP's round trips and the data channels' byte counts. Read
  // from the library on every call (synchronous; nothing is cached or polled here): call it
  // again for newer figures. std::nullopt while the room has no connection: before connect
  // succeeded, while it reconnects (no pair selected) and after the room ended. Throws
  // lk::Error as the other calls do: LK_ERR_INVALID_HANDLE (an empty Room),
  // LK_ERR_CLIENT_CLOSED (its client was closed).
  std::optional<ConnectionStats> connection_stats() const;

  // Simulates a connection fault (SimulateScenarioRequest, ABI 1.27), to test how the
  // application handles one: the library does it (this API never breaks a connection itself);
  // SpeakerUpdate (ABI 1.29) is no fault, the server's speaker reports. Returns once the fault
  // is under way, never after the reconnection: what follows arrives as the room's usual
  // events, described at each SimulateScenario (ReconnectingEvent and ReconnectedEvent, or
  // DisconnectedEvent for ServerLeave; ParticipantUpdatedEvent and ActiveSpeakersChangedEvent
  // for SpeakerUpdate), so handle them as for a real fault.
  // With RoomOptions::max_reconnect_attempts negative (no reconnection) a simulated loss ends
  // the room as a real one would. A blocking call (THREADS AND CALLBACKS: not on the event
  // thread), bounded by RoomOptions::operation_timeout. Throws lk::Error with
  // LK_ERR_INVALID_ARGUMENT (a value that is none of the seven scenarios), LK_ERR_DISCONNECTED
  // (before connect succeeded, or after the room ended: retryable() false; while the room
  // reconnects or a simulated loss is already under way: retryable() true, call again after
  // the ReconnectedEvent), the signalling connection's error when the request to the server
  // could not be sent, LK_ERR_INVALID_HANDLE (an empty Room), LK_ERR_CLIENT_CLOSED.
  void simulate_scenario(SimulateScenario scenario);

 private:
  friend struct detail::Access;  // the library's internals (and their tests), not an API
  void release() noexcept;
  std::shared_ptr<detail::RoomState> state_;
};

}  // namespace lk

#endif  // LKCORE_HPP
