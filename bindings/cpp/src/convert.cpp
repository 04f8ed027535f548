// Conversions between the public C++ types and the generated protobuf classes of the FFI
// schema. Unknown fields and enum values of a newer library pass through harmlessly: fields are
// ignored by the generated parser, enum values are kept as their number.
#include "internal.hpp"

namespace lk {
namespace detail {

bool valid_utf8(std::string_view s) noexcept {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string invalid_utf8_field(const google::protobuf::Message &m) {
  using FD = google::protobuf::FieldDescriptor;
  const auto *refl = m.GetReflection();
  std::vector<const FD *> fields;
  refl->ListFields(m, &fields);
  std::string scratch;
  for (const FD *f : fields) {
    if (f->type() == FD::TYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0, n = refl->FieldSize(m, f); i < n; i++)
          if (!valid_utf8(refl->GetRepeatedStringReference(m, f, i, &scratch))) return std::string(f->full_name());
      } else if (!valid_utf8(refl->GetStringReference(m, f, &scratch))) {
        return std::string(f->full_name());
      }
    } else if (f->type() == FD::TYPE_MESSAGE) {  // maps are repeated entry messages
      if (f->is_repeated()) {
        for (int i = 0, n = refl->FieldSize(m, f); i < n; i++) {
          std::string bad = invalid_utf8_field(refl->GetRepeatedMessage(m, f, i));
          if (!bad.empty()) return bad;
        }
      } else {
        std::string bad = invalid_utf8_field(refl->GetMessage(m, f));
        if (!bad.empty()) return bad;
      }
    }
  }
  return "";
}

namespace {
Attributes attrs(const google::protobuf::Map<std::string, std::string> &m) { return Attributes(m.begin(), m.end()); }
std::vector<std::string> strings(const google::protobuf::RepeatedPtrField<std::string> &r) {
  return std::vector<std::string>(r.begin(), r.end());
}
}  // namespace

Error to_error(const pb::Error &e, int32_t fallback) {
  int32_t code = e.code() != 0 ? int32_t(e.code()) : fallback;
  if (code == LK_OK) code = LK_ERR_INTERNAL;
  return Error(code, e.message(), e.retryable());
}

std::exception_ptr error_ptr(const pb::Error &e, int32_t fallback) {
  int32_t code = e.code() != 0 ? int32_t(e.code()) : fallback;
  if (code == LK_ERR_RPC_ERROR) {
    const auto &r = e.rpc();
    return std::make_exception_ptr(RpcError(r.code(), r.message().empty() ? e.message() : r.message(), r.data()));
  }
  return std::make_exception_ptr(to_error(e, fallback));
}

void throw_error(const pb::Error &e, int32_t fallback) { std::rethrow_exception(error_ptr(e, fallback)); }

TrackPublication from_pb(const pb::TrackPublicationInfo &p) {
  TrackPublication t;
  t.sid = p.sid();
  t.name = p.name();
  // A kind or source newer than this header is kept as its number (COMPATIBILITY).
  t.kind = TrackKind(p.kind());
  t.source = TrackSource(p.source());
  t.muted = p.muted();
  t.mime_type = p.mime_type();
  t.width = p.width();
  t.height = p.height();
  t.simulcast = p.simulcast();
  t.encrypted = p.encrypted();
  return t;
}

ParticipantInfo from_pb(const pb::ParticipantInfo &p) {
  ParticipantInfo i;
  i.sid = p.sid();
  i.identity = p.identity();
  i.name = p.name();
  i.metadata = p.metadata();
  i.attributes = attrs(p.attributes());
  i.kind = ParticipantKind(p.kind());
  // A detail newer than this header is kept as its number, as every enum here (COMPATIBILITY).
  for (int d : p.kind_details()) i.kind_details.push_back(ParticipantKindDetail(d));
  i.joined_at_ms = p.joined_at_ms();
  i.client_protocol = p.client_protocol();
  i.permission.can_subscribe = p.permission().can_subscribe();
  i.permission.can_publish = p.permission().can_publish();
  i.permission.can_publish_data = p.permission().can_publish_data();
  i.permission.hidden = p.permission().hidden();
  i.connection_quality = ConnectionQuality(p.connection_quality());  // ABI 1.22
  i.tracks.reserve(size_t(p.tracks_size()));                         // ABI 1.25, the library's order
  for (const auto &t : p.tracks()) i.tracks.push_back(from_pb(t));
  i.is_speaking = p.is_speaking();  // ABI 1.29
  i.audio_level = p.audio_level();
  return i;
}

ServerInfo from_pb(const pb::ServerInfo &p) {
  ServerInfo i;
  i.edition = ServerEdition(p.edition());  // a newer edition is kept as its number (COMPATIBILITY)
  i.version = p.version();
  i.protocol = p.protocol();
  i.region = p.region();
  i.node_id = p.node_id();
  return i;
}

RoomInfo from_pb(const pb::RoomInfo &p) {
  RoomInfo i;
  i.sid = p.sid();
  i.name = p.name();
  i.metadata = p.metadata();
  i.num_participants = p.num_participants();
  i.max_participants = p.max_participants();
  i.creation_time_ms = p.creation_time_ms();
  i.connection_state = ConnectionState(p.connection_state());
  i.num_publishers = p.num_publishers();
  i.active_recording = p.active_recording();
  i.empty_timeout_seconds = p.empty_timeout_seconds();
  i.departure_timeout_seconds = p.departure_timeout_seconds();
  i.server = from_pb(p.server());  // ABI 1.24
  return i;
}

DataTrackInfo from_pb(const pb::DataTrackInfo &p) {
  DataTrackInfo i;
  i.sid = p.sid();
  i.name = p.name();
  i.uses_e2ee = p.uses_e2ee();
  i.schema_name = p.schema_name();
  i.frame_encoding = p.frame_encoding();
  i.schema_encoding = p.schema_encoding();
  return i;
}

IceCandidate from_pb(const pb::IceCandidate &p) {
  IceCandidate c;
  c.type = IceCandidateType(p.type());  // a type newer than this header is kept as its number
  c.protocol = p.protocol();
  c.ip = p.ip();
  c.port = static_cast<uint16_t>(p.port());  // 0..65535: the schema's uint32 only for want of a uint16
  c.relay_protocol = p.relay_protocol();
  return c;
}

namespace {
// The library's microseconds as a duration (a count beyond the duration's range, which no
// round trip reaches, is its largest value rather than a negative one).
std::chrono::microseconds micros(uint64_t us) {
  using Rep = std::chrono::microseconds::rep;
  constexpr auto limit = static_cast<uint64_t>(std::chrono::microseconds::max().count());
  return std::chrono::microseconds(static_cast<Rep>(us > limit ? limit : us));
}
}  // namespace

std::optional<ConnectionStats> from_pb(const pb::GetConnectionStatsResponse &p) {
  // Not connected (before connecting, while reconnecting, after the room ended): every other
  // field is unset, so there are no figures to give.
  if (!p.connected()) return std::nullopt;
  ConnectionStats s;
  s.local_candidate = from_pb(p.local_candidate());
  s.remote_candidate = from_pb(p.remote_candidate());
  s.round_trip_time = micros(p.round_trip_time_us());
  s.sctp_round_trip_time = micros(p.sctp_round_trip_time_us());
  s.bytes_sent = p.bytes_sent();
  s.bytes_received = p.bytes_received();
  return s;
}

LocalDataTrackStats from_pb(const pb::LocalDataTrackStats &p) {
  LocalDataTrackStats s;
  s.pushed = p.pushed();
  s.rejected = p.rejected();
  s.sent = p.sent();
  s.send_failed = p.send_failed();
  s.discarded = p.discarded();
  s.evicted = p.evicted();
  s.queued = p.queued();
  s.queued_bytes = p.queued_bytes();
  return s;
}

RemoteDataTrack from_pb(const pb::RemoteDataTrackInfo &p) {
  return RemoteDataTrack{p.publisher_identity(), from_pb(p.info()), p.subscription_revoked() /* ABI 1.23 */};
}

RoomSnapshot from_pb(const pb::ConnectResult &p) {
  RoomSnapshot s;
  s.room = from_pb(p.room());
  s.local_participant = from_pb(p.local_participant());
  for (const auto &r : p.remote_participants()) s.remote_participants.push_back(from_pb(r));
  for (const auto &t : p.remote_data_tracks()) s.remote_data_tracks.push_back(from_pb(t));
  s.active_speakers = strings(p.active_speakers());  // ABI 1.29, the library's order
  return s;
}

TextStreamInfo from_pb(const pb::TextStreamInfo &p) {
  TextStreamInfo i;
  i.stream_id = p.stream_id();
  i.topic = p.topic();
  i.timestamp_ms = p.timestamp_ms();
  if (p.has_total_length()) i.total_length = p.total_length();
  i.attributes = attrs(p.attributes());
  i.operation = TextOperation(p.operation_type());
  i.version = p.version();
  i.reply_to_stream_id = p.reply_to_stream_id();
  i.attached_stream_ids = strings(p.attached_stream_ids());
  i.generated = p.generated();
  i.encrypted = p.encrypted();
  return i;
}

ByteStreamInfo from_pb(const pb::ByteStreamInfo &p) {
  ByteStreamInfo i;
  i.stream_id = p.stream_id();
  i.topic = p.topic();
  i.timestamp_ms = p.timestamp_ms();
  if (p.has_total_length()) i.total_length = p.total_length();
  i.attributes = attrs(p.attributes());
  i.name = p.name();
  i.mime_type = p.mime_type();
  i.encrypted = p.encrypted();
  return i;
}

LogRecord from_pb(const pb::LogRecord &p) {
  LogRecord r;
  r.level = LogLevel(p.level());
  r.message = p.message();
  r.attributes = attrs(p.attributes());
  r.time_unix_ms = p.time_unix_ms();
  r.dropped_before = p.dropped_before();
  return r;
}

SubscriptionEnd from_pb(const pb::DataTrackSubscriptionEnded &p) {
  SubscriptionEnd e;
  e.reason = SubscriptionEndReason(p.reason());
  if (p.has_error()) {
    e.error_code = p.error().code() != 0 ? int32_t(p.error().code()) : LK_ERR_INTERNAL;
    e.error_message = p.error().message();
  }
  e.frames_received = p.frames_received();
  e.frames_dropped = p.frames_dropped();
  return e;
}

ChatMessage from_pb(const pb::ChatMessage &p) {
  return ChatMessage{p.id(), p.timestamp_ms(), p.message(), p.edit_timestamp_ms(), p.deleted(), p.generated()};
}

Transcription from_pb(const pb::Transcription &p) {
  Transcription t;
  t.participant_identity = p.participant_identity();
  t.track_sid = p.track_sid();
  t.segments.reserve(size_t(p.segments_size()));
  for (const auto &s : p.segments())
    t.segments.push_back(TranscriptionSegment{s.id(), s.text(), s.start_time(), s.end_time(), s.final(), s.language()});
  return t;
}

RpcInvocation from_pb(const pb::RpcInvocation &p) {
  RpcInvocation i;
  i.method = p.method();
  i.caller_identity = p.caller_identity();
  i.payload = p.payload();
  i.request_id = p.rpc_request_id();
  i.response_timeout_ms = p.response_timeout_ms();
  i.deadline_unix_ms = p.deadline_unix_ms();
  return i;
}

bool to_room_event(const pb::RoomEvent &e, RoomEvent *out) {
  switch (e.message_case()) {
    case pb::RoomEvent::kConnectionStateChanged:
      *out = ConnectionStateChangedEvent{ConnectionState(e.connection_state_changed().state())};
      return true;
    case pb::RoomEvent::kReconnecting:
      *out = ReconnectingEvent{ReconnectKind(e.reconnecting().kind()), e.reconnecting().attempt()};
      return true;
    case pb::RoomEvent::kReconnected:
      *out = ReconnectedEvent{ReconnectKind(e.reconnected().kind()), e.reconnected().discarded_packets(),
                              e.reconnected().replayed_packets()};
      return true;
    case pb::RoomEvent::kDisconnected: {
      DisconnectedEvent d{DisconnectReason(e.disconnected().reason()), LK_OK, {}};
      if (e.disconnected().has_error()) {
        d.error_code = e.disconnected().error().code() ? int32_t(e.disconnected().error().code()) : LK_ERR_INTERNAL;
        d.error_message = e.disconnected().error().message();
      }
      *out = std::move(d);
      return true;
    }
    case pb::RoomEvent::kRoomUpdated: {
      const auto &u = e.room_updated();
      *out = RoomUpdatedEvent{from_pb(u.info()), u.metadata_changed(), u.old_metadata()};
      return true;
    }
    case pb::RoomEvent::kRoomMoved:
      *out = RoomMovedEvent{from_pb(e.room_moved().info()), e.room_moved().old_room_name()};
      return true;
    case pb::RoomEvent::kParticipantConnected:
      *out = ParticipantConnectedEvent{from_pb(e.participant_connected().info())};
      return true;
    case pb::RoomEvent::kParticipantDisconnected:
      *out = ParticipantDisconnectedEvent{e.participant_disconnected().identity(),
                                          DisconnectReason(e.participant_disconnected().reason())};
      return true;
    case pb::RoomEvent::kParticipantUpdated: {
      const auto &u = e.participant_updated();
      ParticipantUpdatedEvent p{from_pb(u.info()),
                                strings(u.changed_attributes()),
                                u.name_changed(),
                                u.metadata_changed(),
                                u.permission_changed(),
                                u.old_name(),
                                u.old_metadata(),
                                u.connection_quality_changed(),  // ABI 1.22
                                ConnectionQuality(u.old_connection_quality()),
                                std::nullopt,
                                std::nullopt,
                                std::nullopt,
                                u.speaking_changed()};  // ABI 1.29
      // ABI 1.25: at most one of the three is set (presence, not a default value, says which).
      if (u.has_track_published()) p.track_published = from_pb(u.track_published());
      if (u.has_track_unpublished()) p.track_unpublished = from_pb(u.track_unpublished());
      if (u.has_track_mute_changed()) p.track_mute_changed = from_pb(u.track_mute_changed());
      *out = std::move(p);
      return true;
    }
    case pb::RoomEvent::kActiveSpeakersChanged:  // ABI 1.29: the library's list, as it is
      *out = ActiveSpeakersChangedEvent{strings(e.active_speakers_changed().identities())};
      return true;
    case pb::RoomEvent::kDataReceived: {
      const auto &d = e.data_received();
      *out = DataReceivedEvent{d.participant_identity(), d.payload(), d.topic(), d.reliable(), d.encrypted()};
      return true;
    }
    case pb::RoomEvent::kSipDtmfReceived: {
      const auto &d = e.sip_dtmf_received();
      *out = SipDtmfReceivedEvent{d.participant_identity(), d.code(), d.digit()};
      return true;
    }
    case pb::RoomEvent::kChatMessageReceived: {  // ABI 1.20
      const auto &c = e.chat_message_received();
      *out = ChatMessageReceivedEvent{c.participant_identity(), from_pb(c.message())};
      return true;
    }
    case pb::RoomEvent::kTranscriptionReceived: {  // ABI 1.21
      const auto &t = e.transcription_received();
      *out = TranscriptionReceivedEvent{t.participant_identity(), from_pb(t.transcription())};
      return true;
    }
    case pb::RoomEvent::kDataTrackPublished:
      *out = DataTrackPublishedEvent{from_pb(e.data_track_published().track())};
      return true;
    case pb::RoomEvent::kDataTrackUnpublished: {
      const auto &u = e.data_track_unpublished();
      *out = DataTrackUnpublishedEvent{u.publisher_identity(), u.sid(), u.name()};
      return true;
    }
    case pb::RoomEvent::kDataTrackSidChanged: {  // ABI 1.10
      const auto &c = e.data_track_sid_changed();
      *out = DataTrackSidChangedEvent{c.publisher_identity(), c.name(), c.old_sid(), c.sid()};
      return true;
    }
    case pb::RoomEvent::kDataTrackSubscriptionPermissionChanged: {  // ABI 1.20
      const auto &c = e.data_track_subscription_permission_changed();
      *out = DataTrackSubscriptionPermissionChangedEvent{c.publisher_identity(), c.name(), c.sid(), c.allowed()};
      return true;
    }
    case pb::RoomEvent::kSnapshotTaken:  // ABI 1.12
      *out = SnapshotTakenEvent{from_pb(e.snapshot_taken().snapshot())};
      return true;
    case pb::RoomEvent::kLocalDataTrackSidChanged: {
      const auto &c = e.local_data_track_sid_changed();
      *out = LocalDataTrackSidChangedEvent{c.track_handle(), c.old_sid(), from_pb(c.info())};
      return true;
    }
    case pb::RoomEvent::kLocalDataTrackUnpublished: {
      const auto &u = e.local_data_track_unpublished();
      LocalDataTrackUnpublishedEvent l{u.track_handle(), LK_OK, {}};
      if (u.has_reason()) {
        l.reason_code = u.reason().code() ? int32_t(u.reason().code()) : LK_ERR_INTERNAL;
        l.reason_message = u.reason().message();
      }
      *out = std::move(l);
      return true;
    }
    case pb::RoomEvent::kEncryptionStateChanged:
      *out = EncryptionStateChangedEvent{e.encryption_state_changed().participant_identity(),
                                         EncryptionState(e.encryption_state_changed().state())};
      return true;
    default:  // rpc_invocation and stream_opened are handled by the room; unknown kinds ignored
      return false;
  }
}

void to_pb(const RoomOptions &o, pb::RoomOptions *p) {
  if (o.e2ee) {
    auto *e = p->mutable_e2ee();
    e->set_shared_key(o.e2ee->shared_key);
    e->set_ratchet_salt(o.e2ee->ratchet_salt);
    e->set_ratchet_window_size(o.e2ee->ratchet_window_size);
    e->set_key_ring_size(o.e2ee->key_ring_size);
    e->set_failure_tolerance(-1);
  }
  p->set_connect_timeout_ms(o.connect_timeout_ms);
  p->set_join_attempts(o.join_attempts);
  p->set_max_reconnect_attempts(o.max_reconnect_attempts);
  p->set_rpc_response_timeout_ms(o.rpc_response_timeout_ms);
  // The library checks both (at most 65 536 frames, 64 MiB: INVALID_ARGUMENT).
  p->set_data_track_buffer_size(o.data_track_buffer_size);
  p->set_data_track_buffer_bytes(o.data_track_buffer_bytes);  // ABI 1.14
  p->set_auto_subscribe(o.auto_subscribe);
  // Set by the binding, not the user:
  // Auto-subscriptions of the tracks already published at join come with the connect
  // completion (ABI 1.5), so no event repeats a snapshot track.
  p->set_auto_subscriptions_in_snapshot(true);
  // An auto-subscription is a pull subscription (ABI 1.14), read like one the user opened: its
  // frames wait in the library's buffer (data_track_buffer_size, data_track_buffer_bytes) until
  // read; this API keeps no buffer of its own. (auto_subscription_credits, for CREDITS, stays 0.)
  p->set_auto_subscription_delivery(pb::DELIVERY_MODE_PULL);
  p->set_max_incoming_stream_bytes(o.max_incoming_stream_bytes);
  for (const auto &s : o.ice_servers) {
    auto *is = p->add_ice_servers();
    for (const auto &u : s.urls) is->add_urls(u);
    is->set_username(s.username);
    is->set_credential(s.credential);
  }
  p->set_ice_transport_policy(static_cast<pb::IceTransportPolicy>(o.ice_transport_policy));
  // ABI 1.8; an out-of-range window is refused by the library (INVALID_ARGUMENT).
  p->set_sctp_receive_buffer_bytes(o.sctp_receive_buffer_bytes);
  p->set_disable_udp_batching(o.disable_udp_batching);
  // ABI 1.30; the library checks it (1 MiB at most, at least one certificate: INVALID_ARGUMENT).
  p->set_tls_root_certificates_pem(o.tls_root_certificates_pem);
}

namespace {
void common_to_pb(const StreamOptions &o, pb::StreamOptions *p) {
  p->set_topic(o.topic);
  for (const auto &[k, v] : o.attributes) (*p->mutable_attributes())[k] = v;
  for (const auto &d : o.destination_identities) p->add_destination_identities(d);
  p->set_stream_id(o.stream_id);
  if (o.total_length) p->set_total_length(*o.total_length);
}
}  // namespace

void to_pb(const TextStreamOptions &o, pb::TextStreamOptions *p) {
  common_to_pb(o, p->mutable_common());
  p->set_operation_type(pb::TextStreamOptions::OperationType(int(o.operation)));
  p->set_version(o.version);
  p->set_reply_to_stream_id(o.reply_to_stream_id);
  for (const auto &a : o.attached_stream_ids) p->add_attached_stream_ids(a);
  p->set_generated(o.generated);
  p->set_sender_identity(o.sender_identity);  // ABI 1.21
}

void to_pb(const ChatMessage &m, pb::ChatMessage *p) {
  p->set_id(m.id);
  p->set_timestamp_ms(m.timestamp_ms);
  p->set_message(m.message);
  p->set_edit_timestamp_ms(m.edit_timestamp_ms);
  p->set_deleted(m.deleted);
  p->set_generated(m.generated);
}

void to_pb(const Transcription &t, pb::Transcription *p) {
  p->set_participant_identity(t.participant_identity);
  p->set_track_sid(t.track_sid);
  for (const auto &s : t.segments) {
    auto *ps = p->add_segments();
    ps->set_id(s.id);
    ps->set_text(s.text);
    ps->set_start_time(s.start_time);
    ps->set_end_time(s.end_time);
    ps->set_final(s.is_final);
    ps->set_language(s.language);
  }
}

pb::SimulateScenario to_pb(SimulateScenario s) {
  switch (s) {
    case SimulateScenario::SignalReconnect:
      return pb::SIMULATE_SCENARIO_SIGNAL_RECONNECT;
    case SimulateScenario::FullReconnect:
      return pb::SIMULATE_SCENARIO_FULL_RECONNECT;
    case SimulateScenario::NodeFailure:
      return pb::SIMULATE_SCENARIO_NODE_FAILURE;
    case SimulateScenario::Migration:
      return pb::SIMULATE_SCENARIO_MIGRATION;
    case SimulateScenario::ServerLeave:
      return pb::SIMULATE_SCENARIO_SERVER_LEAVE;
    case SimulateScenario::DisconnectSignalOnResume:
      return pb::SIMULATE_SCENARIO_DISCONNECT_SIGNAL_ON_RESUME;
    case SimulateScenario::SpeakerUpdate:
      return pb::SIMULATE_SCENARIO_SPEAKER_UPDATE;  // ABI 1.29
  }
  // Not one of the seven (a cast from a number): passed as its number, for the library to refuse
  // with INVALID_ARGUMENT (the binding does not check what the library checks).
  return static_cast<pb::SimulateScenario>(static_cast<int32_t>(s));
}

void to_pb(const ByteStreamOptions &o, pb::ByteStreamOptions *p) {
  common_to_pb(o, p->mutable_common());
  p->set_name(o.name);
  p->set_mime_type(o.mime_type);
}

}  // namespace detail
}  // namespace lk
