// Internals of liblkcore_cpp: the client runtime (event dispatch, pending operations, handler
// threads) and the conversions between the public types and the generated protobuf classes.
#ifndef LKCORE_CPP_INTERNAL_HPP
#define LKCORE_CPP_INTERNAL_HPP

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lkcore.hpp"
#include "lkcore_ffi.pb.h"

namespace lk {
namespace pb = ::lkcore::ffi::v1;

namespace detail {

// Every caller-supplied duration goes through one of these before any arithmetic (lkcore.hpp,
// TIMEOUTS): a negative value (no bound) and anything above kMaxTimeout become kMaxTimeout, so
// the result fits the library's int32/uint32 millisecond fields and steady_clock arithmetic
// (libstdc++ converts a wait_for duration to nanoseconds: Millis::max() would overflow).
inline Millis bounded(Millis t) noexcept { return (t.count() < 0 || t > kMaxTimeout) ? kMaxTimeout : t; }
// The same in milliseconds for a library field or argument where 0 keeps its own meaning.
inline uint32_t bounded_ms(Millis t) noexcept { return uint32_t(bounded(t).count()); }
// For lk_data_track_read_frame: negative stays -1 (the library waits without a bound).
inline int32_t read_ms(Millis t) noexcept { return t.count() < 0 ? -1 : int32_t(bounded(t).count()); }

// Data packets, DTMF, chat messages and transcriptions: the events a full pulled queue drops
// (RoomOptions::event_queue_capacity); every other event is part of the room's state and is kept.
inline bool is_data_event(const RoomEvent &e) noexcept {
  return std::holds_alternative<DataReceivedEvent>(e) || std::holds_alternative<SipDtmfReceivedEvent>(e) ||
         std::holds_alternative<ChatMessageReceivedEvent>(e) || std::holds_alternative<TranscriptionReceivedEvent>(e);
}

// Grace added to an operation's deadline before the C++ side asks the library to cancel an
// operation whose completion has not arrived (the library completes it with TIMEOUT at the
// deadline itself), and how long it then still waits for the completion before giving up
// (ClientImpl::call: a safety net only).
constexpr Millis kCompletionGrace{5000};
constexpr Millis kCompletionSafety{30000};
// RoomOptions::event_queue_capacity 0: the default.
constexpr size_t kDefaultEventQueueCapacity = 4096;
// Initial and refill credits of stream readers (chunks buffered per reader).
constexpr uint32_t kReaderWindow = 16;
// Ended events of subscriptions not (yet) registered kept for their subscribe() call.
constexpr size_t kMaxOrphanEnds = 256;
// The credit window of a callback-mode data-track subscription: practically unbounded, so that
// it is a push subscription (granted again every kCallbackCredits / 2 frames, see dispatch).
constexpr uint32_t kCallbackCredits = 1u << 30;

// ---- UTF-8 (convert.cpp) ------------------------------------------------------------------------
// Whether s is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;
// The full name of the first string field of m (nested messages and maps included) that is not
// valid UTF-8, or "" if there is none. The library refuses such a request as malformed.
std::string invalid_utf8_field(const google::protobuf::Message &m);

// ---- conversions (convert.cpp) ---------------------------------------------------------------
Error to_error(const pb::Error &e, int32_t fallback);
std::exception_ptr error_ptr(const pb::Error &e, int32_t fallback);
[[noreturn]] void throw_error(const pb::Error &e, int32_t fallback);

TrackPublication from_pb(const pb::TrackPublicationInfo &p);
ParticipantInfo from_pb(const pb::ParticipantInfo &p);
ServerInfo from_pb(const pb::ServerInfo &p);
RoomInfo from_pb(const pb::RoomInfo &p);
DataTrackInfo from_pb(const pb::DataTrackInfo &p);
LocalDataTrackStats from_pb(const pb::LocalDataTrackStats &p);
IceCandidate from_pb(const pb::IceCandidate &p);
// std::nullopt when the response says not connected (ABI 1.26).
std::optional<ConnectionStats> from_pb(const pb::GetConnectionStatsResponse &p);
RemoteDataTrack from_pb(const pb::RemoteDataTrackInfo &p);
RoomSnapshot from_pb(const pb::ConnectResult &p);
TextStreamInfo from_pb(const pb::TextStreamInfo &p);
ByteStreamInfo from_pb(const pb::ByteStreamInfo &p);
LogRecord from_pb(const pb::LogRecord &p);
SubscriptionEnd from_pb(const pb::DataTrackSubscriptionEnded &p);
RpcInvocation from_pb(const pb::RpcInvocation &p);
ChatMessage from_pb(const pb::ChatMessage &p);
Transcription from_pb(const pb::Transcription &p);
// The public event of a room event; false for kinds handled internally or unknown.
bool to_room_event(const pb::RoomEvent &e, RoomEvent *out);

void to_pb(const RoomOptions &o, pb::RoomOptions *p);
void to_pb(const TextStreamOptions &o, pb::TextStreamOptions *p);
void to_pb(const ByteStreamOptions &o, pb::ByteStreamOptions *p);
void to_pb(const ChatMessage &m, pb::ChatMessage *p);
void to_pb(const Transcription &t, pb::Transcription *p);
// The schema's value of a scenario (ABI 1.27); a value outside the enum passes as its number.
pb::SimulateScenario to_pb(SimulateScenario s);

// Reports the exception being handled (call in a catch block) on stderr: how an exception
// escaping a user callback is reported everywhere (it never crosses into the library).
void report_handler_exception(const char *where) noexcept;

// ---- handler threads --------------------------------------------------------------------------

// WorkerPool runs handler tasks. Its threads hold the pool (not the client) alive, so a task
// may drop the last reference to the client without pulling the pool from under its thread.
class WorkerPool : public std::enable_shared_from_this<WorkerPool> {
 public:
  WorkerPool(size_t max_pending) : max_pending_(max_pending) {}
  void start(unsigned threads);
  // Queues a task; false when the queue is full or the pool stopped.
  bool post(std::function<void()> task);
  // Stops the threads (queued tasks are dropped) and joins them; a pool thread calling this
  // detaches itself instead.
  void stop();
  bool on_worker_thread() const;

 private:
  void loop();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
  size_t max_pending_;
};

// Guard lets an owner wait until no handler of it runs any more, and refuse new calls after.
// A handler running on the thread that destroys the owner is not waited for (it is the caller).
class Guard {
 public:
  // Enters a handler call; false once closed.
  bool enter();
  void leave();
  // Refuses new calls and, when wait is true, waits for running ones (except the caller's own).
  void close(bool wait = true);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  bool closed_ = false;
  std::map<std::thread::id, int> threads_;
};

// GuardScope leaves a Guard when it goes out of scope; construct it after a successful enter().
struct GuardScope {
  Guard &g;
  ~GuardScope() { g.leave(); }
};

// ---- objects registered with a client for its events ---------------------------------------

struct RoomState;

struct SubscriptionState {
  Guard guard;
  // The subscribed track (DataTrackSubscription::track), under mu: its sid follows the room's
  // RemoteDataTrackSidChanged events and its subscription_revoked the room's
  // DataTrackSubscriptionPermissionChanged events (ABI 1.23) while the subscription has not
  // ended.
  RemoteDataTrack track;
  // A RemoteDataTrackSidChanged was applied to track since this state was registered with its
  // room (RoomState::on_sid_changed), under mu: an explicit subscription then keeps that sid
  // when the subscribe answer is stored (set_subscribed_track).
  bool sid_from_event = false;
  // The same for a DataTrackSubscriptionPermissionChanged (RoomState::on_permission_changed) and
  // track.subscription_revoked, under mu.
  bool revoked_from_event = false;
  // Callback mode. Set before registration, except for an auto-subscription taken in callback
  // mode: then set under mu, with `switched`, before its delivery is switched (and never
  // changed after).
  FrameHandler on_frame;
  SubscriptionEndHandler on_end;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<SubscriptionEnd> end;
  uint64_t delivered = 0;
  // on_end was called (or is being called): it runs once, whoever ends the subscription (its
  // end event, the destruction of its room). Under mu.
  bool end_delivered = false;
  // Ended by the destruction of its room (the library sends no end event after that, and the
  // handle is gone): reads report LK_ERR_END_OF_STREAM without asking the library.
  std::atomic<bool> room_gone{false};

  // An auto-subscription (RoomOptions::auto_subscribe) is a pull subscription
  // (RoomOptions.auto_subscription_delivery PULL): its frames wait in the library's buffer until
  // read. Taken in callback mode, the library switches it to credits (SetDataTrackDeliveryRequest)
  // and sends what waited and every later frame as events, then its end with after_switch set —
  // again if it had already reported the end in pull mode (without after_switch): on_end runs on
  // the end that follows the frames. Under mu.
  bool switched = false;
};

// Explicit subscriptions (Room::subscribe): the state of a subscription of track, registered
// with its room (RoomState::track_taken) before the subscribe request is made, so that every
// sid change dispatched from then on reaches it (RoomState::on_sid_changed); it holds the track
// as the caller gave it until the answer is stored.
std::shared_ptr<SubscriptionState> new_subscription_state(RoomState &room, const RemoteDataTrack &track);
// Stores the track of the library's answer to the subscribe request (its publisher, name and
// info) as the subscription's track, keeping the sid of the last sid change applied to it since
// registration, if any: that change was dispatched after the request was made, so either it is
// at least as new as the answer or the event of every newer sid is still to come (and will be
// applied); without one, the answer's sid is the latest and any later change follows it. The
// stored sid so ends on the track's latest whatever order the answer and the events take.
// subscription_revoked (ABI 1.23) likewise: the last permission change applied since
// registration, if any, else the answer's.
void set_subscribed_track(SubscriptionState &st, const pb::RemoteDataTrackInfo &answer);

// Reads one frame with lk_data_track_read_frame (frame set on LK_OK).
int32_t read_frame(lk_client_t client, lk_handle_t h, int32_t timeout_ms, Frame &frame) noexcept;
// After a read reported LK_ERR_END_OF_STREAM: asks the library how the subscription ended
// (GetDataTrackSubscriptionEndRequest, ABI 1.4) and sets s.end if it is not set yet, so that it
// is known when END_OF_STREAM is reported (the end event may still be on its way).
void fetch_end(ClientImpl &client, lk_handle_t h, SubscriptionState &s) noexcept;
// Calls a callback-mode subscription's on_end once its end is set, unless it was already called
// (a switched auto-subscription's end reported in pull mode never gets here:
// SubscriptionState::switched).
void deliver_end(SubscriptionState &s);

struct ReaderState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;
  bool ended = false;
  bool failed = false;
  int32_t error_code = LK_OK;
  std::string error_message;
  Attributes trailer;
  uint32_t consumed = 0;  // chunks taken since the last credit grant
};

// ClientImpl is one lk client and everything registered with it.
class ClientImpl : public std::enable_shared_from_this<ClientImpl> {
 public:
  static std::shared_ptr<ClientImpl> create(ClientOptions options);
  ~ClientImpl();

  lk_client_t id() const noexcept { return id_; }
  // Synchronous request: the Response, or throws its error.
  pb::Response request(const pb::Request &req);
  // Status-only variant for destructors: never throws.
  int32_t request_nothrow(const pb::Request &req) noexcept;
  // Starts an ASYNC operation (assigns request_id); on_done runs on the event thread with the
  // completion (or a CLIENT_CLOSED one at close). Throws if the library refused it.
  uint64_t start(pb::Request &req, std::function<void(pb::Completion &&)> on_done);
  // Starts an operation and waits for its completion; throws its error. timeout is the
  // operation's deadline in the library (Request.timeout_ms; 0 = kDefaultWait, negative =
  // kMaxTimeout), std::nullopt for none (timeout_ms 0: the operation's own policy bounds it,
  // e.g. connect's join attempts; the call then waits for the completion without a bound of
  // its own). on_success, if set, runs on the event thread with a successful completion before
  // the caller is woken (to take over handles whose events follow the completion).
  pb::Completion call(pb::Request &req, std::optional<Millis> timeout,
                      std::function<void(pb::Completion &)> on_success = {});
  // Gives up on a pending operation (call() past its safety net): its completion, when it
  // comes, only releases the handles it hands over (release_owned). False if it is no longer
  // pending: dispatch took its completion, which then reaches the original continuation.
  bool abandon(uint64_t request_id);
  // Releases every handle a completion hands over to the host (Completion.owned_handles, ABI
  // 1.10; empty when it failed), for a completion whose caller is gone. The library lists them,
  // so no knowledge of which result kinds own handles is needed here.
  void release_owned(const pb::Completion &c) noexcept;
  // Releases every handle a room event hands over to the host (RoomEvent.owned_handles, ABI
  // 1.11) except kept, the one this binding took over from it (0: none): all of them when the
  // event is not delivered (its Room is gone, nothing listens for that kind, a kind this binding
  // does not know), and any a delivered event lists beyond what the binding takes (none today).
  // The library lists them, so no knowledge of which event kinds own handles is needed here.
  void release_owned(const pb::RoomEvent &e, lk_handle_t kept = 0) noexcept;
  void check_not_event_thread() const;
  bool on_event_thread() const;
  // Runs task on the event thread after the events already queued (an ASYNC echo's
  // completion), or on the thread closing the client if it closes first (no event callback
  // runs then). False if the client is closed already: task does not run.
  bool post_to_event_thread(std::function<void()> task) noexcept;
  void close(Millis timeout);
  bool post(std::function<void()> task) { return workers_->post(std::move(task)); }

  void drop_handle(lk_handle_t h) noexcept;
  // Handles the library has issued to this client and not released (0 if it cannot tell).
  size_t live_handles() noexcept;

  void add_room(lk_handle_t h, const std::shared_ptr<RoomState> &r);
  void remove_room(lk_handle_t h);
  // Registers a subscription; returns its end if it already ended.
  std::optional<SubscriptionEnd> add_subscription(lk_handle_t h, const std::shared_ptr<SubscriptionState> &s);
  void remove_subscription(lk_handle_t h);
  void add_reader(lk_handle_t h, const std::shared_ptr<ReaderState> &r);
  void remove_reader(lk_handle_t h);
  // The current info of the published local tracks (LocalDataTrack::info), by handle: set when
  // published, replaced by a LocalDataTrackSidChanged event, forgotten when the handle is.
  void set_local_info(lk_handle_t h, const DataTrackInfo &info);
  std::optional<DataTrackInfo> local_info(lk_handle_t h);
  void local_sid_changed(const pb::LocalDataTrackSidChanged &c);
  void forget_local(lk_handle_t h);

  // Routes one decoded event to what it concerns: a pending operation, a room, a subscription,
  // a stream reader, the log. The event callback's work after decoding, on the event thread;
  // the internal tests also feed synthetic events here (as the library would deliver them).
  void dispatch(pb::Event &ev);

  // Hands a StreamOpened event's reader to the handler registered for its topic (on a handler
  // thread). True if the reader was taken over (by a Reader object, which releases it if its
  // task cannot be queued); false if no handler is registered: nothing was created, and the
  // caller releases what the event hands over (release_owned).
  bool open_stream(const std::shared_ptr<RoomState> &room, const pb::StreamOpened &so);
  // The task handing a newly opened stream's reader (text or bytes) to the handler registered
  // for its topic, or an empty function (and no reader) when none is (defined in lkcore.cpp).
  template <typename Reader, typename Handler, typename Handlers, typename Info>
  std::function<void()> stream_task(const std::shared_ptr<RoomState> &room, const Handlers &handlers, lk_handle_t h,
                                    const std::string &identity, Info info);
  void set_log_level(LogLevel level);

 private:
  explicit ClientImpl(ClientOptions options);
  static void on_event(void *user_data, const uint8_t *event, size_t len);
  void log(const LogRecord &rec);

  ClientOptions options_;
  lk_client_t id_ = 0;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<std::thread::id> event_thread_{};
  std::shared_ptr<WorkerPool> workers_;

  std::mutex mu_;
  bool closed_ = false;
  std::map<uint64_t, std::function<void(pb::Completion &&)>> pending_;
  std::map<lk_handle_t, std::weak_ptr<RoomState>> rooms_;
  std::map<lk_handle_t, std::shared_ptr<SubscriptionState>> subs_;
  std::map<lk_handle_t, std::shared_ptr<ReaderState>> readers_;
  std::map<lk_handle_t, SubscriptionEnd> orphan_ends_;
  std::map<lk_handle_t, DataTrackInfo> local_infos_;
  std::deque<lk_handle_t> orphan_order_;
  void *ctx_ = nullptr;  // CallbackContext
};

// RoomState is what a Room owns; the client refers to it weakly for event dispatch.
struct RoomState : std::enable_shared_from_this<RoomState> {
  std::shared_ptr<ClientImpl> client;
  bool owns_client = false;
  lk_handle_t handle = 0;
  RoomOptions options;

  std::mutex mu;
  std::condition_variable cv;
  RoomEventHandler handler;
  std::mutex call_mu;   // held while the handler runs (set_event_handler waits for it)
  Guard handler_guard;  // event-thread handler calls
  std::deque<RoomEvent> queue;  // for next_event (no handler set)
  size_t data_queued = 0;       // data events in queue (is_data_event): the only ones ever dropped
  uint64_t dropped = 0;
  std::map<std::string, RpcHandler> rpc_handlers;
  std::map<std::string, TextStreamHandler> text_handlers;
  std::map<std::string, ByteStreamHandler> byte_handlers;
  Guard handlers_guard;  // RPC and stream handler calls (handler threads)

  // Auto-subscriptions handed over by the library and not taken by subscribe() yet, by
  // (publisher identity, track name); bounded by the tracks published in the room (each is
  // released when its track is unpublished or its publisher leaves). Under mu. The track is
  // state->track.
  struct AutoSubscription {
    lk_handle_t handle = 0;
    std::shared_ptr<SubscriptionState> state;
  };
  std::map<std::pair<std::string, std::string>, AutoSubscription> auto_subs;  // by (publisher, track name)
  bool released = false;  // the Room was destroyed: hand-overs are dropped (under mu)
  // Subscriptions taken from this room by subscribe() (either form), ended by its destruction
  // (the library sends no end event for them once the room's handle is dropped). Under mu;
  // expired entries are pruned as new ones are added.
  std::vector<std::weak_ptr<SubscriptionState>> taken;
  void track_taken(const std::shared_ptr<SubscriptionState> &s);
  void track_taken_locked(const std::shared_ptr<SubscriptionState> &s);  // under mu
  // Room destruction: ends every taken subscription still open (SubscriptionEnd with reason
  // Disconnected, message "the room was destroyed"), wakes its readers and has its on_end
  // called on the event thread.
  void end_taken() noexcept;

  // Event-thread entry for the room's events.
  void on_event(const pb::RoomEvent &ev);
  void on_rpc(const pb::RpcInvocation &inv);
  // Takes ownership of an auto-subscription handed over by the library (event thread, in the
  // connect completion or before its DataTrackPublished event is delivered). False if it was
  // not taken (the Room was destroyed meanwhile, or no handle): the caller releases it.
  bool adopt(const pb::OwnedDataTrackSubscription &a);
  // The untaken auto-subscription of track, moved from auto_subs to taken (at once, so that
  // no sid change misses it).
  std::optional<AutoSubscription> take_auto(const RemoteDataTrack &track);
  // A remote track's new sid (RemoteDataTrackSidChanged): shown by the track of every
  // subscription of it in this room that has not ended, taken or not (before the event is
  // delivered).
  void on_sid_changed(const pb::RemoteDataTrackSidChanged &c);
  // A remote track's permission revoked or granted again (DataTrackSubscriptionPermissionChanged,
  // ABI 1.23): shown as subscription_revoked by the same tracks, keyed the same way.
  void on_permission_changed(const pb::DataTrackSubscriptionPermissionChanged &c);
  // The states of every subscription in this room that may be of the track (publisher identity,
  // name): its untaken auto-subscription and every taken one (the caller matches each track).
  std::vector<std::shared_ptr<SubscriptionState>> subscriptions_of(const std::string &identity,
                                                                   const std::string &name);
  // Releases the untaken auto-subscription of a remote track (publisher identity, name), if any.
  void release_auto(const std::string &identity, const std::string &name);
  // Releases every untaken auto-subscription and refuses later hand-overs (Room destruction).
  void release_all_auto() noexcept;
};

// Access reaches the state behind the public objects, for this library's code and its internal
// tests (tests/sid_change_test.cc, tests/owned_handles_test.cc, built with the sources); it is
// not part of the API.
struct Access {
  static std::shared_ptr<RoomState> room(const Room &r) { return r.state_; }
};

}  // namespace detail
}  // namespace lk

#endif  // LKCORE_CPP_INTERNAL_HPP
