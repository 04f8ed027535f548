// The public classes of lkcore.hpp: thin RAII objects over detail::ClientImpl.
#include <algorithm>
#include <climits>

#include "internal.hpp"

namespace lk {

using detail::ClientImpl;
using detail::RoomState;

namespace {

[[noreturn]] void throw_empty(const char *what) {
  throw Error(LK_ERR_INVALID_HANDLE, std::string("empty ") + what + " (moved from or default-constructed)");
}

ClientImpl &impl_of(const std::shared_ptr<ClientImpl> &impl, const char *what) {
  if (!impl) throw_empty(what);
  return *impl;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(ClientImpl::create(std::move(options))) {}

Client::~Client() {
  if (!impl_) return;
  try {
    impl_->close(Millis(5000));
  } catch (...) {
    // The impl's destructor keeps waiting (bounded) once the last reference goes.
  }
}

Client::Client(Client &&o) noexcept = default;

Client &Client::operator=(Client &&o) noexcept {
  if (this != &o) {
    if (impl_) {
      try {
        impl_->close(Millis(5000));
      } catch (...) {
      }
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}

void Client::close(Millis timeout) { impl_of(impl_, "Client").close(timeout); }

lk_client_t Client::id() const noexcept { return impl_ ? impl_->id() : 0; }

size_t Client::live_handles() const noexcept { return impl_ ? impl_->live_handles() : 0; }

void Client::set_log_level(LogLevel level) { impl_of(impl_, "Client").set_log_level(level); }

VersionInfo Client::version() const {
  pb::Request req;
  req.mutable_get_version();
  auto resp = impl_of(impl_, "Client").request(req);
  return VersionInfo{resp.get_version().abi_version(), resp.get_version().schema(),
                     resp.get_version().library_version()};
}

std::string Client::echo(const std::string &payload) {
  pb::Request req;
  req.mutable_echo()->set_payload(payload);
  return impl_of(impl_, "Client").request(req).echo().payload();
}

std::future<std::string> Client::echo_async(const std::string &payload, Millis delay, Millis timeout) {
  auto &c = impl_of(impl_, "Client");
  pb::Request req;
  req.mutable_echo()->set_payload(payload);
  req.mutable_echo()->set_async(true);
  req.mutable_echo()->set_delay_ms(delay.count() < 0 ? 0 : detail::bounded_ms(delay));
  req.set_timeout_ms(detail::bounded_ms(timeout));  // 0: none
  auto prom = std::make_shared<std::promise<std::string>>();
  auto fut = prom->get_future();
  c.start(req, [prom](pb::Completion &&comp) {
    if (comp.has_error())
      prom->set_exception(detail::error_ptr(comp.error(), LK_ERR_INTERNAL));
    else
      prom->set_value(comp.echo().payload());
  });
  return fut;
}

// ---------------------------------------------------------------------------------------------
// LocalDataTrack
// ---------------------------------------------------------------------------------------------

LocalDataTrack::~LocalDataTrack() { release(); }

LocalDataTrack::LocalDataTrack(LocalDataTrack &&o) noexcept
    : impl_(std::move(o.impl_)), client_(o.client_), handle_(o.handle_), info_(std::move(o.info_)) {
  o.client_ = 0;
  o.handle_ = 0;
}

LocalDataTrack &LocalDataTrack::operator=(LocalDataTrack &&o) noexcept {
  if (this != &o) {
    release();
    impl_ = std::move(o.impl_);
    client_ = o.client_;
    handle_ = o.handle_;
    info_ = std::move(o.info_);
    o.client_ = 0;
    o.handle_ = 0;
  }
  return *this;
}

DataTrackInfo LocalDataTrack::info() const {
  if (impl_ && handle_ != 0)
    if (auto now = impl_->local_info(handle_)) return *now;
  return info_;
}

void LocalDataTrack::release() noexcept {
  if (handle_ != 0 && impl_) {
    impl_->forget_local(handle_);
    impl_->drop_handle(handle_);
  }
  handle_ = 0;
  client_ = 0;
  impl_.reset();
}

void LocalDataTrack::push(const uint8_t *data, size_t size, std::optional<uint64_t> user_timestamp, Millis timeout) {
  auto &c = impl_of(impl_, "LocalDataTrack");
  c.check_not_event_thread();  // even when there is room: whether it must wait depends on load
  int32_t st = lk_data_track_push_paced(client_, handle_, data, size, user_timestamp.value_or(0),
                                        user_timestamp.has_value());
  if (st == LK_OK) return;
  if (st != LK_ERR_QUEUE_FULL) throw Error(st, "data track push failed");
  pb::Request req;
  auto *p = req.mutable_push_data_track_frame_wait();
  p->set_track_handle(handle_);
  if (size > 0) p->set_payload(data, size);
  if (user_timestamp) p->set_user_timestamp(*user_timestamp);
  c.call(req, timeout);
}

void LocalDataTrack::flush(Millis timeout) {
  auto &c = impl_of(impl_, "LocalDataTrack");
  pb::Request req;
  req.mutable_flush_data_track()->set_track_handle(handle_);
  c.call(req, timeout);
}

LocalDataTrackStats LocalDataTrack::stats() const {
  pb::Request req;
  req.mutable_get_data_track_stats()->set_track_handle(handle_);
  return detail::from_pb(impl_of(impl_, "LocalDataTrack").request(req).get_data_track_stats().stats());
}

bool LocalDataTrack::is_published() const {
  pb::Request req;
  req.mutable_data_track_is_published()->set_track_handle(handle_);
  return impl_of(impl_, "LocalDataTrack").request(req).data_track_is_published().is_published();
}

void LocalDataTrack::unpublish() {
  pb::Request req;
  req.mutable_unpublish_data_track()->set_track_handle(handle_);
  impl_of(impl_, "LocalDataTrack").request(req);
}

// ---------------------------------------------------------------------------------------------
// DataTrackSubscription
// ---------------------------------------------------------------------------------------------

DataTrackSubscription::~DataTrackSubscription() { release(); }

DataTrackSubscription::DataTrackSubscription(std::shared_ptr<detail::ClientImpl> impl, lk_handle_t handle,
                                             std::shared_ptr<detail::SubscriptionState> state)
    : impl_(std::move(impl)), state_(std::move(state)), handle_(handle) {
  client_ = impl_->id();
}

DataTrackSubscription::DataTrackSubscription(DataTrackSubscription &&o) noexcept
    : impl_(std::move(o.impl_)), state_(std::move(o.state_)), client_(o.client_), handle_(o.handle_) {
  o.client_ = 0;
  o.handle_ = 0;
}

DataTrackSubscription &DataTrackSubscription::operator=(DataTrackSubscription &&o) noexcept {
  if (this != &o) {
    release();
    impl_ = std::move(o.impl_);
    state_ = std::move(o.state_);
    client_ = o.client_;
    handle_ = o.handle_;
    o.client_ = 0;
    o.handle_ = 0;
  }
  return *this;
}

void DataTrackSubscription::release() noexcept {
  if (handle_ != 0 && impl_) {
    impl_->remove_subscription(handle_);
    if (state_) state_->guard.close();  // no callback runs after this (unless we are inside it)
    impl_->drop_handle(handle_);
  }
  handle_ = 0;
  client_ = 0;
  state_.reset();
  impl_.reset();
}

Status DataTrackSubscription::try_read(Frame &frame, int32_t timeout_ms) noexcept {
  if (handle_ == 0) return LK_ERR_INVALID_HANDLE;
  // (Callback mode, an auto-subscription's too once switched: the library refuses the read with
  // FAILED_PRECONDITION.) Its room was destroyed: the library released the handle with the
  // room (end() says so).
  if (state_ && state_->room_gone.load()) return LK_ERR_END_OF_STREAM;
  int32_t st = detail::read_frame(client_, handle_, timeout_ms, frame);
  if (st != LK_OK && state_ && state_->room_gone.load()) return LK_ERR_END_OF_STREAM;  // destroyed meanwhile
  // The read can see the end before the end event is delivered: ask the library how it ended
  // (ABI 1.4), so end() is set when END_OF_STREAM is reported.
  if (st == LK_ERR_END_OF_STREAM && state_ && impl_) detail::fetch_end(*impl_, handle_, *state_);
  return st;
}

std::optional<Frame> DataTrackSubscription::read(Millis timeout) {
  Frame f;
  Status s = try_read(f, detail::read_ms(timeout));
  if (s.ok()) return f;
  if (s.code() == LK_ERR_TIMEOUT) return std::nullopt;
  std::string msg = "data track read failed";
  if (s.code() == LK_ERR_END_OF_STREAM) {
    msg = "the subscription ended";
    if (auto e = end()) {
      if (!e->error_message.empty()) msg += ": " + e->error_message;
    }
  }
  throw Error(s.code(), msg);
}

void DataTrackSubscription::wait_subscribed(Millis timeout) {
  auto &c = impl_of(impl_, "DataTrackSubscription");
  pb::Request req;
  req.mutable_wait_data_track_subscribed()->set_subscription_handle(handle_);
  c.call(req, timeout);
}

RemoteDataTrack DataTrackSubscription::track() const {
  if (!state_) return {};
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->track;
}

std::optional<SubscriptionEnd> DataTrackSubscription::end() const {
  if (!state_) return std::nullopt;
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->end;
}

// ---------------------------------------------------------------------------------------------
// StreamWriter
// ---------------------------------------------------------------------------------------------

StreamWriter::~StreamWriter() { release(); }

StreamWriter::StreamWriter(StreamWriter &&o) noexcept
    : impl_(std::move(o.impl_)), handle_(o.handle_), text_(o.text_), stream_id_(std::move(o.stream_id_)),
      timeout_(o.timeout_) {
  o.handle_ = 0;
}

StreamWriter &StreamWriter::operator=(StreamWriter &&o) noexcept {
  if (this != &o) {
    release();
    impl_ = std::move(o.impl_);
    handle_ = o.handle_;
    text_ = o.text_;
    stream_id_ = std::move(o.stream_id_);
    timeout_ = o.timeout_;
    o.handle_ = 0;
  }
  return *this;
}

void StreamWriter::release() noexcept {
  if (handle_ != 0 && impl_) impl_->drop_handle(handle_);
  handle_ = 0;
  impl_.reset();
}

void StreamWriter::write(std::string_view chunk) {
  auto &c = impl_of(impl_, "StreamWriter");
  pb::Request req;
  auto *w = req.mutable_write_stream();
  w->set_writer_handle(handle_);
  if (text_)
    w->set_text(std::string(chunk));
  else
    w->set_data(std::string(chunk));
  c.call(req, timeout_);
}

void StreamWriter::close(const Attributes &trailer, const std::string &reason) {
  auto &c = impl_of(impl_, "StreamWriter");
  pb::Request req;
  auto *w = req.mutable_close_stream_writer();
  w->set_writer_handle(handle_);
  for (const auto &[k, v] : trailer) (*w->mutable_attributes())[k] = v;
  w->set_reason(reason);
  c.call(req, timeout_);
}

// ---------------------------------------------------------------------------------------------
// Stream readers
// ---------------------------------------------------------------------------------------------

StreamReaderBase::~StreamReaderBase() { release(); }

StreamReaderBase::StreamReaderBase(StreamReaderBase &&o) noexcept
    : impl_(std::move(o.impl_)), state_(std::move(o.state_)), handle_(o.handle_), identity_(std::move(o.identity_)) {
  o.handle_ = 0;
}

StreamReaderBase &StreamReaderBase::operator=(StreamReaderBase &&o) noexcept {
  if (this != &o) {
    release();
    impl_ = std::move(o.impl_);
    state_ = std::move(o.state_);
    handle_ = o.handle_;
    identity_ = std::move(o.identity_);
    o.handle_ = 0;
  }
  return *this;
}

void StreamReaderBase::release() noexcept {
  if (handle_ != 0 && impl_) {
    impl_->remove_reader(handle_);
    impl_->drop_handle(handle_);
  }
  handle_ = 0;
  state_.reset();
  impl_.reset();
}

std::optional<std::string> StreamReaderBase::read_chunk(Millis timeout) {
  auto &c = impl_of(impl_, "stream reader");
  c.check_not_event_thread();
  auto &st = *state_;
  std::unique_lock<std::mutex> l(st.mu);
  if (!st.cv.wait_for(l, detail::bounded(timeout), [&] { return !st.chunks.empty() || st.ended; }))
    throw Error(LK_ERR_TIMEOUT, "no stream data within the timeout");
  if (!st.chunks.empty()) {
    std::string chunk = std::move(st.chunks.front());
    st.chunks.pop_front();
    bool grant = ++st.consumed >= detail::kReaderWindow / 2;
    if (grant) st.consumed = 0;
    l.unlock();
    if (grant) {  // refill the flow-control window
      pb::Request req;
      req.mutable_grant_credits()->set_handle(handle_);
      req.mutable_grant_credits()->set_credits(detail::kReaderWindow / 2);
      c.request_nothrow(req);  // fails only once the stream or client ended
    }
    return chunk;
  }
  if (st.failed) throw Error(st.error_code, st.error_message.empty() ? "the stream failed" : st.error_message);
  return std::nullopt;
}

std::string StreamReaderBase::read_all(Millis timeout) {
  auto deadline = std::chrono::steady_clock::now() + detail::bounded(timeout);
  std::string out;
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = Millis(0);
    auto chunk = read_chunk(left);
    if (!chunk) return out;
    out += *chunk;
  }
}

Attributes StreamReaderBase::trailer_attributes() const {
  if (!state_) return {};
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->trailer;
}

// ---------------------------------------------------------------------------------------------
// Room
// ---------------------------------------------------------------------------------------------

namespace {

std::shared_ptr<RoomState> make_room(const std::shared_ptr<ClientImpl> &client, bool owns, const RoomOptions &o) {
  if (!client) throw_empty("Client");
  auto s = std::make_shared<RoomState>();
  s->client = client;
  s->owns_client = owns;
  s->options = o;
  pb::Request req;
  detail::to_pb(o, req.mutable_create_room()->mutable_options());
  auto resp = client->request(req);
  s->handle = resp.create_room().room().handle();
  client->add_room(s->handle, s);
  return s;
}

RoomState &room_of(const std::shared_ptr<RoomState> &s) {
  if (!s) throw_empty("Room");
  return *s;
}

}  // namespace

Room::Room(RoomOptions options) {
  auto client = ClientImpl::create({});
  try {
    state_ = make_room(client, true, options);
  } catch (...) {
    try {
      client->close(Millis(5000));
    } catch (...) {
    }
    throw;
  }
}

Room::Room(Client &client, RoomOptions options) : state_(make_room(client.impl_, false, options)) {}

Room::~Room() { release(); }

Room::Room(Room &&o) noexcept = default;

Room &Room::operator=(Room &&o) noexcept {
  if (this != &o) {
    release();
    state_ = std::move(o.state_);
  }
  return *this;
}

void Room::release() noexcept {
  if (!state_) return;
  auto s = std::move(state_);
  s->client->remove_room(s->handle);
  s->handler_guard.close();
  // On the event thread (a handler destroying its room), RPC and stream handlers still running
  // are not waited for: they may be waiting for a completion only this thread can deliver.
  // They finish on their own (no new one starts); the RoomState stays alive while they run.
  s->handlers_guard.close(!s->client->on_event_thread());
  {
    std::lock_guard<std::mutex> l(s->mu);
    s->handler = nullptr;
    s->rpc_handlers.clear();
    s->text_handlers.clear();
    s->byte_handlers.clear();
  }
  s->release_all_auto();
  s->end_taken();  // before the drop, so that a read failing with the handle sees why
  s->client->drop_handle(s->handle);
  if (s->owns_client) {
    try {
      s->client->close(Millis(5000));
    } catch (...) {
    }
  }
}

lk_handle_t Room::handle() const noexcept { return state_ ? state_->handle : 0; }

RoomSnapshot Room::connect(const std::string &url, const std::string &token) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *c = req.mutable_connect();
  c->set_room_handle(s.handle);
  c->set_url(url);
  c->set_token(token);
  // Runs on the event thread with the completion, before the frames of the auto-subscriptions
  // it hands over (RoomOptions::auto_subscribe) are delivered. With the room gone, everything
  // the completion hands over (Completion.owned_handles) is released.
  std::weak_ptr<RoomState> weak = state_;
  ClientImpl *client = s.client.get();  // alive while it dispatches the completion
  // No deadline unless RoomOptions::connect_deadline sets one: Request.timeout_ms bounds the
  // whole connect, join attempts and their backoff included, and would cut them short.
  std::optional<Millis> deadline;
  if (s.options.connect_deadline.count() > 0) deadline = s.options.connect_deadline;
  auto comp = s.client->call(req, deadline, [weak, client](pb::Completion &done) {
    auto r = weak.lock();
    if (!r) {
      client->release_owned(done);
      return;
    }
    for (const auto &a : done.connect().auto_subscriptions())
      if (!r->adopt(a)) client->drop_handle(a.handle());  // the Room was destroyed meanwhile
  });
  return detail::from_pb(comp.connect());
}

void Room::disconnect() {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_disconnect()->set_room_handle(s.handle);
  s.client->call(req, s.options.operation_timeout);
}

RoomSnapshot Room::snapshot() const {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_get_room_snapshot()->set_room_handle(s.handle);
  return detail::from_pb(s.client->request(req).get_room_snapshot().snapshot());
}

void Room::request_snapshot() {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_request_room_snapshot()->set_room_handle(s.handle);
  s.client->request(req);
}

ParticipantInfo Room::local_participant() const { return snapshot().local_participant; }

std::vector<ParticipantInfo> Room::remote_participants() const { return snapshot().remote_participants; }

std::optional<ParticipantInfo> Room::remote_participant(const std::string &identity) const {
  for (auto &p : remote_participants())
    if (p.identity == identity) return p;
  return std::nullopt;
}

std::vector<RemoteDataTrack> Room::remote_data_tracks() const { return snapshot().remote_data_tracks; }

void Room::set_event_handler(RoomEventHandler handler) {
  auto &s = room_of(state_);
  std::unique_lock<std::mutex> call(s.call_mu, std::defer_lock);
  if (!s.client->on_event_thread()) call.lock();  // wait for a running call of the old handler
  std::lock_guard<std::mutex> l(s.mu);
  s.handler = std::move(handler);
}

std::optional<RoomEvent> Room::next_event(Millis timeout) {
  auto &s = room_of(state_);
  std::unique_lock<std::mutex> l(s.mu);
  if (!s.cv.wait_for(l, detail::bounded(timeout), [&] { return !s.queue.empty(); })) return std::nullopt;
  RoomEvent e = std::move(s.queue.front());
  s.queue.pop_front();
  if (detail::is_data_event(e)) s.data_queued--;
  return e;
}

uint64_t Room::dropped_events() const {
  auto &s = room_of(state_);
  std::lock_guard<std::mutex> l(s.mu);
  return s.dropped;
}

void Room::publish_data(const void *data, size_t size, const DataPublishOptions &options) {
  auto &s = room_of(state_);
  if (data == nullptr && size > 0) throw Error(LK_ERR_INVALID_ARGUMENT, "data is NULL");
  pb::Request req;
  auto *p = req.mutable_publish_data();
  p->set_room_handle(s.handle);
  p->set_payload(std::string(static_cast<const char *>(data), size));
  p->set_reliable(options.reliable);
  p->set_topic(options.topic);
  for (const auto &d : options.destination_identities) p->add_destination_identities(d);
  s.client->call(req, s.options.operation_timeout);
}

void Room::publish_dtmf(uint32_t code, const std::string &digit, const std::vector<std::string> &destination_identities) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_publish_sip_dtmf();
  p->set_room_handle(s.handle);
  p->set_code(code);
  p->set_digit(digit);
  for (const auto &d : destination_identities) p->add_destination_identities(d);
  s.client->call(req, s.options.operation_timeout);
}

// sender_identity is passed through: the library refuses it for a participant that is not an
// agent and in an encrypted room (capi/BINDINGS.md).
ChatMessage Room::send_chat_message(const std::string &message, std::vector<std::string> destination_identities,
                                    const std::string &sender_identity) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_send_chat_message();
  p->set_room_handle(s.handle);
  p->set_message(message);
  for (auto &d : destination_identities) p->add_destination_identities(std::move(d));
  p->set_sender_identity(sender_identity);  // ABI 1.21
  return detail::from_pb(s.client->call(req, s.options.operation_timeout).send_chat_message());
}

// The original always goes with the request (set even when empty), so an original without id is
// the library's INVALID_ARGUMENT from the completion.
ChatMessage Room::edit_chat_message(const std::string &message, const ChatMessage &original,
                                    std::vector<std::string> destination_identities, const std::string &sender_identity) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_edit_chat_message();
  p->set_room_handle(s.handle);
  p->set_message(message);
  detail::to_pb(original, p->mutable_original());
  for (auto &d : destination_identities) p->add_destination_identities(std::move(d));
  p->set_sender_identity(sender_identity);  // ABI 1.21
  return detail::from_pb(s.client->call(req, s.options.operation_timeout).edit_chat_message());
}

// Passed through: who may publish one (an agent, not in an encrypted room) and what it must hold
// are the library's checks (capi/BINDINGS.md). The transcription always goes with the request
// (set even when empty), so a bad one is the library's INVALID_ARGUMENT from the completion.
void Room::publish_transcription(const Transcription &transcription) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_publish_transcription();
  p->set_room_handle(s.handle);
  detail::to_pb(transcription, p->mutable_transcription());
  s.client->call(req, s.options.operation_timeout);
}

// Passed through as given: the library keeps the permissions and re-sends them after a full
// reconnect (capi/BINDINGS.md), so nothing is stored here.
void Room::set_track_subscription_permissions(bool all_participants, std::vector<TrackPermission> permissions) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_set_track_subscription_permissions();
  p->set_room_handle(s.handle);
  p->set_all_participants(all_participants);
  for (auto &perm : permissions) {
    auto *tp = p->add_permissions();
    tp->set_participant_identity(std::move(perm.participant_identity));
    tp->set_all_tracks(perm.all_tracks);
    for (auto &sid : perm.track_sids) tp->add_track_sids(std::move(sid));
  }
  s.client->call(req, s.options.operation_timeout);
}

// Passed through: the library checks the arguments, keeps the definitions and stores them again
// after a full reconnect (capi/BINDINGS.md); nothing is stored or cached here.
void Room::define_schema(const std::string &schema_name, const std::string &definition,
                         const std::string &schema_encoding) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_define_data_track_schema();  // ABI 1.23
  p->set_room_handle(s.handle);
  p->set_schema_name(schema_name);
  p->set_schema_encoding(schema_encoding);
  p->set_definition(definition);
  s.client->call(req, s.options.operation_timeout);
}

std::string Room::get_schema(const std::string &participant_identity, const std::string &schema_name,
                             const std::string &schema_encoding) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_get_data_track_schema();  // ABI 1.23
  p->set_room_handle(s.handle);
  p->set_participant_identity(participant_identity);
  p->set_schema_name(schema_name);
  p->set_schema_encoding(schema_encoding);
  auto comp = s.client->call(req, s.options.operation_timeout);
  return std::move(*comp.mutable_get_data_track_schema()->mutable_definition());
}

void Room::set_metadata(const std::string &metadata) {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_set_local_metadata()->set_room_handle(s.handle);
  req.mutable_set_local_metadata()->set_metadata(metadata);
  s.client->call(req, s.options.operation_timeout);
}

void Room::set_name(const std::string &name) {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_set_local_name()->set_room_handle(s.handle);
  req.mutable_set_local_name()->set_name(name);
  s.client->call(req, s.options.operation_timeout);
}

void Room::set_attributes(const Attributes &attributes) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *a = req.mutable_set_local_attributes();
  a->set_room_handle(s.handle);
  for (const auto &[k, v] : attributes) (*a->mutable_attributes())[k] = v;
  s.client->call(req, s.options.operation_timeout);
}

LocalDataTrack Room::publish_data_track(const std::string &name, const DataTrackOptions &options) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_publish_data_track();
  p->set_room_handle(s.handle);
  p->set_name(name);
  p->set_schema_name(options.schema_name);
  p->set_frame_encoding(options.frame_encoding);
  p->set_schema_encoding(options.schema_encoding);
  p->set_queue_size(options.queue_size);
  p->set_queue_bytes(options.queue_bytes);
  p->set_drop_oldest(options.drop_oldest);
  auto comp = s.client->call(req, s.options.operation_timeout);
  const auto &owned = comp.publish_data_track().track();
  LocalDataTrack t;
  t.impl_ = s.client;
  t.client_ = s.client->id();
  t.handle_ = owned.handle();
  t.info_ = detail::from_pb(owned.info());
  s.client->set_local_info(t.handle_, t.info_);
  return t;
}

DataTrackSubscription Room::subscribe(const RemoteDataTrack &track, const SubscribeOptions &options) {
  auto &s = room_of(state_);
  if (auto a = s.take_auto(track))  // RoomOptions::auto_subscribe: the library's subscription
    return DataTrackSubscription(s.client, a->handle, std::move(a->state));
  pb::Request req;
  auto *p = req.mutable_subscribe_data_track();
  p->set_room_handle(s.handle);
  p->set_publisher_identity(track.publisher_identity);
  p->set_track_sid(track.info.sid);
  p->set_track_name(track.info.name);  // ABI 1.9: found by name (the sid changes when the publisher fully reconnects)
  p->set_buffer_size(options.buffer_size);
  p->set_buffer_bytes(options.buffer_bytes);  // ABI 1.13
  p->set_delivery(pb::DELIVERY_MODE_PULL);
  auto state = detail::new_subscription_state(s, track);
  auto resp = s.client->request(req);
  DataTrackSubscription sub(s.client, resp.subscribe_data_track().subscription().handle(), std::move(state));
  detail::set_subscribed_track(*sub.state_, resp.subscribe_data_track().subscription().track());
  if (auto end = s.client->add_subscription(sub.handle_, sub.state_)) {
    std::lock_guard<std::mutex> l(sub.state_->mu);
    sub.state_->end = std::move(end);
  }
  return sub;
}

DataTrackSubscription Room::subscribe(const RemoteDataTrack &track, FrameHandler on_frame, SubscriptionEndHandler on_end,
                                      const SubscribeOptions &options) {
  auto &s = room_of(state_);
  if (!on_frame) throw Error(LK_ERR_INVALID_ARGUMENT, "on_frame is empty");
  if (auto a = s.take_auto(track)) {  // RoomOptions::auto_subscribe: the library's subscription
    // A pull subscription whose frames wait in the library's buffer: the library switches it to
    // credits mode, so that what waited and every later frame arrive as events, then its end
    // with after_switch set (detail::SubscriptionState::switched).
    DataTrackSubscription sub(s.client, a->handle, std::move(a->state));
    auto st = sub.state_;
    {
      std::lock_guard<std::mutex> l(st->mu);
      st->on_frame = std::move(on_frame);
      st->on_end = std::move(on_end);
      st->switched = true;  // an end without after_switch came in pull mode
    }
    pb::Request req;
    auto *p = req.mutable_set_data_track_delivery();  // ABI 1.14
    p->set_subscription_handle(sub.handle_);
    p->set_delivery(pb::DELIVERY_MODE_CREDITS);
    p->set_initial_credits(0);
    s.client->request(req);
    // The window of an explicit callback subscription, granted on the event thread: until it is
    // free to deliver them, the frames wait in the library's buffer (bounded, the oldest dropped
    // and counted), not in the event queue. (Capturing the client is safe: the task runs while
    // it dispatches or closes.)
    detail::ClientImpl *client = s.client.get();
    lk_handle_t h = sub.handle_;
    client->post_to_event_thread([client, h, st] {
      if (!st->guard.enter()) return;  // destroyed meanwhile (its handle is gone)
      detail::GuardScope leave{st->guard};
      pb::Request grant;
      grant.mutable_grant_credits()->set_handle(h);
      grant.mutable_grant_credits()->set_credits(detail::kCallbackCredits);
      client->request_nothrow(grant);  // fails only once its room or the client is gone
    });
    return sub;
  }
  // Credits mode with no initial credit: no frame is delivered before the subscription is
  // registered below; then a practically unbounded window makes it a push subscription.
  pb::Request req;
  auto *p = req.mutable_subscribe_data_track();
  p->set_room_handle(s.handle);
  p->set_publisher_identity(track.publisher_identity);
  p->set_track_sid(track.info.sid);
  p->set_track_name(track.info.name);  // ABI 1.9: found by name (the sid changes when the publisher fully reconnects)
  p->set_buffer_size(options.buffer_size);
  p->set_buffer_bytes(options.buffer_bytes);  // ABI 1.13
  p->set_delivery(pb::DELIVERY_MODE_CREDITS);
  p->set_initial_credits(0);
  auto state = detail::new_subscription_state(s, track);
  state->on_frame = std::move(on_frame);  // before any frame: it is not registered with the client yet
  state->on_end = std::move(on_end);
  auto resp = s.client->request(req);
  DataTrackSubscription sub(s.client, resp.subscribe_data_track().subscription().handle(), std::move(state));
  detail::set_subscribed_track(*sub.state_, resp.subscribe_data_track().subscription().track());
  auto end = s.client->add_subscription(sub.handle_, sub.state_);
  if (end) {
    {
      std::lock_guard<std::mutex> l(sub.state_->mu);
      sub.state_->end = end;
      sub.state_->end_delivered = true;
    }
    if (sub.state_->on_end) {  // ended before it was registered
      try {
        sub.state_->on_end(*end);
      } catch (...) {
        detail::report_handler_exception("data-track end handler");  // as on the event thread
      }
    }
    return sub;
  }
  pb::Request grant;
  grant.mutable_grant_credits()->set_handle(sub.handle_);
  grant.mutable_grant_credits()->set_credits(detail::kCallbackCredits);
  s.client->request(grant);
  return sub;
}

void Room::register_rpc_method(const std::string &method, RpcHandler handler) {
  auto &s = room_of(state_);
  if (!handler) throw Error(LK_ERR_INVALID_ARGUMENT, "empty RPC handler");
  {
    std::lock_guard<std::mutex> l(s.mu);
    if (s.rpc_handlers.count(method)) throw Error(LK_ERR_ALREADY_EXISTS, "RPC method already registered: " + method);
    s.rpc_handlers[method] = std::move(handler);
  }
  pb::Request req;
  req.mutable_register_rpc_method()->set_room_handle(s.handle);
  req.mutable_register_rpc_method()->set_method(method);
  try {
    s.client->request(req);
  } catch (...) {
    std::lock_guard<std::mutex> l(s.mu);
    s.rpc_handlers.erase(method);
    throw;
  }
}

void Room::unregister_rpc_method(const std::string &method) {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_unregister_rpc_method()->set_room_handle(s.handle);
  req.mutable_unregister_rpc_method()->set_method(method);
  s.client->request(req);
  std::lock_guard<std::mutex> l(s.mu);
  s.rpc_handlers.erase(method);
}

void Room::perform_rpc(const std::string &destination, const std::string &method, const std::string &payload,
                       std::function<void(std::string payload, std::exception_ptr error)> callback,
                       Millis response_timeout) {
  auto &s = room_of(state_);
  if (!callback) throw Error(LK_ERR_INVALID_ARGUMENT, "empty callback");
  pb::Request req;
  auto *p = req.mutable_perform_rpc();
  p->set_room_handle(s.handle);
  p->set_destination_identity(destination);
  p->set_method(method);
  p->set_payload(payload);
  p->set_response_timeout_ms(detail::bounded_ms(response_timeout));  // 0: the room's default
  s.client->start(req, [callback](pb::Completion &&c) {
    if (c.has_error())
      callback(std::string(), detail::error_ptr(c.error(), LK_ERR_INTERNAL));
    else
      callback(std::move(*c.mutable_perform_rpc()->mutable_payload()), nullptr);
  });
}

std::future<std::string> Room::perform_rpc(const std::string &destination, const std::string &method,
                                           const std::string &payload, Millis response_timeout) {
  auto prom = std::make_shared<std::promise<std::string>>();
  auto fut = prom->get_future();
  try {
    perform_rpc(
        destination, method, payload,
        [prom](std::string result, std::exception_ptr error) {
          if (error)
            prom->set_exception(error);
          else
            prom->set_value(std::move(result));
        },
        response_timeout);
  } catch (...) {
    prom->set_exception(std::current_exception());  // every failure reaches the caller through the future
  }
  return fut;
}

TextStreamInfo Room::send_text(const std::string &text, const TextStreamOptions &options) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_send_text();
  p->set_room_handle(s.handle);
  p->set_text(text);
  detail::to_pb(options, p->mutable_options());
  return detail::from_pb(s.client->call(req, s.options.operation_timeout).send_text());
}

ByteStreamInfo Room::send_bytes(const void *data, size_t size, const ByteStreamOptions &options) {
  auto &s = room_of(state_);
  if (data == nullptr && size > 0) throw Error(LK_ERR_INVALID_ARGUMENT, "data is NULL");
  pb::Request req;
  auto *p = req.mutable_send_bytes();
  p->set_room_handle(s.handle);
  p->set_data(std::string(static_cast<const char *>(data), size));
  detail::to_pb(options, p->mutable_options());
  return detail::from_pb(s.client->call(req, s.options.operation_timeout).send_bytes());
}

ByteStreamInfo Room::send_file(const std::string &path, const ByteStreamOptions &options) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_send_file();
  p->set_room_handle(s.handle);
  p->set_path(path);
  detail::to_pb(options, p->mutable_options());
  return detail::from_pb(s.client->call(req, s.options.operation_timeout).send_file());
}

StreamWriter Room::open_text_writer(const TextStreamOptions &options) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_open_text_writer();
  p->set_room_handle(s.handle);
  detail::to_pb(options, p->mutable_options());
  auto comp = s.client->call(req, s.options.operation_timeout);
  StreamWriter w;
  w.impl_ = s.client;
  w.handle_ = comp.open_text_writer().handle();
  w.text_ = true;
  w.stream_id_ = comp.open_text_writer().text().stream_id();
  w.timeout_ = s.options.operation_timeout;
  return w;
}

StreamWriter Room::open_byte_writer(const ByteStreamOptions &options) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_open_byte_writer();
  p->set_room_handle(s.handle);
  detail::to_pb(options, p->mutable_options());
  auto comp = s.client->call(req, s.options.operation_timeout);
  StreamWriter w;
  w.impl_ = s.client;
  w.handle_ = comp.open_byte_writer().handle();
  w.text_ = false;
  w.stream_id_ = comp.open_byte_writer().bytes().stream_id();
  w.timeout_ = s.options.operation_timeout;
  return w;
}

namespace {

template <typename Map, typename Handler>
void register_stream(RoomState &s, Map &handlers, pb::StreamKind kind, const std::string &topic, Handler handler) {
  if (!handler) throw Error(LK_ERR_INVALID_ARGUMENT, "empty stream handler");
  {
    std::lock_guard<std::mutex> l(s.mu);
    if (handlers.count(topic)) throw Error(LK_ERR_ALREADY_EXISTS, "stream handler already registered: " + topic);
    handlers[topic] = std::move(handler);
  }
  pb::Request req;
  auto *p = req.mutable_register_stream_handler();
  p->set_room_handle(s.handle);
  p->set_kind(kind);
  p->set_topic(topic);
  p->set_delivery(pb::DELIVERY_MODE_CREDITS);
  p->set_initial_credits(detail::kReaderWindow);
  try {
    s.client->request(req);
  } catch (...) {
    std::lock_guard<std::mutex> l(s.mu);
    handlers.erase(topic);
    throw;
  }
}

template <typename Map>
void unregister_stream(RoomState &s, Map &handlers, pb::StreamKind kind, const std::string &topic) {
  pb::Request req;
  auto *p = req.mutable_unregister_stream_handler();
  p->set_room_handle(s.handle);
  p->set_kind(kind);
  p->set_topic(topic);
  s.client->request(req);
  std::lock_guard<std::mutex> l(s.mu);
  handlers.erase(topic);
}

}  // namespace

void Room::register_text_stream_handler(const std::string &topic, TextStreamHandler handler) {
  auto &s = room_of(state_);
  register_stream(s, s.text_handlers, pb::STREAM_KIND_TEXT, topic, std::move(handler));
}

void Room::register_byte_stream_handler(const std::string &topic, ByteStreamHandler handler) {
  auto &s = room_of(state_);
  register_stream(s, s.byte_handlers, pb::STREAM_KIND_BYTES, topic, std::move(handler));
}

void Room::unregister_text_stream_handler(const std::string &topic) {
  auto &s = room_of(state_);
  unregister_stream(s, s.text_handlers, pb::STREAM_KIND_TEXT, topic);
}

void Room::unregister_byte_stream_handler(const std::string &topic) {
  auto &s = room_of(state_);
  unregister_stream(s, s.byte_handlers, pb::STREAM_KIND_BYTES, topic);
}

void Room::set_shared_key(const std::string &key, uint32_t key_index) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_set_shared_key();
  p->set_room_handle(s.handle);
  p->set_shared_key(key);
  p->set_key_index(key_index);
  s.client->request(req);
}

E2eeStats Room::e2ee_stats() const {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_get_e2ee_stats()->set_room_handle(s.handle);
  pb::Response resp = s.client->request(req);
  const auto &r = resp.get_e2ee_stats();
  E2eeStats out{r.enabled(), r.decryption_failures(), r.events_suppressed(), {}};
  for (const auto &[identity, state] : r.participant_states()) out.encryption_states.emplace(identity, EncryptionState(state));
  return out;
}

std::optional<ConnectionStats> Room::connection_stats() const {
  auto &s = room_of(state_);
  pb::Request req;
  req.mutable_get_connection_stats()->set_room_handle(s.handle);
  return detail::from_pb(s.client->request(req).get_connection_stats());
}

// Passed through: the library simulates the fault and its events tell the rest
// (capi/BINDINGS.md); a value outside the seven scenarios goes as is, for the library to refuse.
void Room::simulate_scenario(SimulateScenario scenario) {
  auto &s = room_of(state_);
  pb::Request req;
  auto *p = req.mutable_simulate_scenario();  // ABI 1.27
  p->set_room_handle(s.handle);
  p->set_scenario(detail::to_pb(scenario));
  s.client->call(req, s.options.operation_timeout);
}

EncryptionState Room::encryption_state(const std::string &participant_identity) const {
  auto states = e2ee_stats().encryption_states;
  auto it = states.find(participant_identity);
  return it == states.end() ? EncryptionState::Unspecified : it->second;
}

}  // namespace lk
