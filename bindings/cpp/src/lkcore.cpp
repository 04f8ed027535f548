// liblkcore_cpp: the C++ API of lkcore.hpp over the C ABI of lkcore.h.
#include <algorithm>
#include <climits>
#include <cstdio>

#include "internal.hpp"

// This API uses lk_data_track_read_frame and RemoteDataTrackSidChanged (ABI 1.10),
// RoomEvent.owned_handles (ABI 1.11), RequestRoomSnapshotRequest (ABI 1.12),
// SubscribeDataTrackRequest.buffer_bytes (ABI 1.13), RoomOptions.auto_subscription_delivery
// and data_track_buffer_bytes (ABI 1.14: a library before 1.14 would ignore the delivery mode
// and send an auto-subscription's frames as events, which this API no longer buffers), the
// order of room events of ABI 1.15 (a participant's tracks unpublished before it is reported
// gone: an untaken auto-subscription is released on its track's unpublish only) and its
// LocalDataTrackSidChanged (LocalDataTrack::info), and GetE2eeStatsResponse.participant_states
// (ABI 1.17, E2eeStats::encryption_states), and the RoomMoved event (ABI 1.18: an older library
// ignores a move to another room), and DTMF, kind details and the room's recording state (ABI
// 1.19), and SetTrackSubscriptionPermissionsRequest and DataTrackSubscriptionPermissionChanged,
// and the legacy chat messages (Send/EditChatMessageRequest, ChatMessageReceived) (ABI 1.20),
// and PublishTranscriptionRequest, TranscriptionReceived and sender_identity (TextStreamOptions,
// Send/EditChatMessageRequest) (ABI 1.21), and ParticipantInfo.connection_quality with
// ParticipantUpdated.connection_quality_changed and old_connection_quality (ABI 1.22), and
// DefineDataTrackSchemaRequest and GetDataTrackSchemaRequest and
// RemoteDataTrackInfo.subscription_revoked (ABI 1.23), and RoomInfo.server (ABI 1.24,
// RoomInfo::server), and ParticipantInfo.tracks with ParticipantUpdated.track_published,
// track_unpublished and track_mute_changed (ABI 1.25, other participants' media tracks:
// ParticipantInfo::tracks), and GetConnectionStatsRequest (ABI 1.26, Room::connection_stats:
// the selected ICE candidate pair, ICE's and SCTP's round trips, the data channels' byte
// counts), and SimulateScenarioRequest (ABI 1.27, Room::simulate_scenario: simulated
// connection faults; SIMULATE_SCENARIO_SPEAKER_UPDATE in ABI 1.29), and Reconnected.discarded_packets and replayed_packets (ABI 1.28,
// ReconnectedEvent), and ParticipantInfo.is_speaking and audio_level with
// ParticipantUpdated.speaking_changed, ActiveSpeakersChanged and ConnectResult.active_speakers
// (ABI 1.29, active speakers), and RoomOptions.tls_root_certificates_pem (ABI 1.30: a library
// before 1.30 would ignore the roots and verify a wss:// server against the system's); the
// client refuses a loaded library older than the header (LK_ABI_COMPATIBLE, ClientImpl::create).
static_assert(LK_ABI_VERSION_MAJOR == 1 && LK_ABI_VERSION_MINOR >= 30,
              "liblkcore_cpp needs include/lkcore.h of ABI 1.30 or later (RoomOptions.tls_root_certificates_pem)");

namespace lk {

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

Error::Error(int32_t code, const std::string &message, bool retryable)
    : std::runtime_error(std::string(lk_status_name(code)) + (message.empty() ? "" : ": " + message)),
      code_(code),
      message_(message),
      retryable_(retryable) {}

RpcError::RpcError(uint32_t rpc_code, std::string rpc_message, std::string data)
    : Error(LK_ERR_RPC_ERROR, "RPC error " + std::to_string(rpc_code) + ": " + rpc_message),
      rpc_code_(rpc_code),
      rpc_message_(std::move(rpc_message)),
      data_(std::move(data)) {}

namespace detail {

void report_handler_exception(const char *where) noexcept {
  try {
    throw;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "lkcore: exception escaped a %s: %s\n", where, e.what());
  } catch (...) {
    std::fprintf(stderr, "lkcore: exception escaped a %s\n", where);
  }
}

namespace {

// Context handed to lk_client_new: it outlives the client object if a close ever timed out
// (then it is deliberately leaked, so a late callback finds an expired pointer, never freed
// memory).
struct CallbackContext {
  std::weak_ptr<ClientImpl> client;
};

}  // namespace

// ---- WorkerPool -------------------------------------------------------------------------------

void WorkerPool::start(unsigned threads) {
  std::lock_guard<std::mutex> l(mu_);
  auto self = shared_from_this();
  for (unsigned i = 0; i < std::max(1u, threads); i++) threads_.emplace_back([self] { self->loop(); });
}

bool WorkerPool::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_ || tasks_.size() >= max_pending_) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void WorkerPool::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopped_ || !tasks_.empty(); });
      if (stopped_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (...) {
      report_handler_exception("handler task");
    }
  }
}

bool WorkerPool::on_worker_thread() const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto &t : threads_)
    if (t.get_id() == std::this_thread::get_id()) return true;
  return false;
}

void WorkerPool::stop() {
  std::deque<std::function<void()>> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    dropped.swap(tasks_);
    threads.swap(threads_);
  }
  cv_.notify_all();
  dropped.clear();  // outside the lock: tasks may own readers whose release calls back in
  for (auto &t : threads) {
    if (t.get_id() == std::this_thread::get_id())
      t.detach();  // a handler dropped the last reference to its client
    else
      t.join();
  }
}

// ---- Guard ------------------------------------------------------------------------------------

bool Guard::enter() {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return false;
  running_++;
  threads_[std::this_thread::get_id()]++;
  return true;
}

void Guard::leave() {
  {
    std::lock_guard<std::mutex> l(mu_);
    running_--;
    auto it = threads_.find(std::this_thread::get_id());
    if (it != threads_.end() && --it->second == 0) threads_.erase(it);
  }
  cv_.notify_all();
}

void Guard::close(bool wait) {
  std::unique_lock<std::mutex> l(mu_);
  closed_ = true;
  if (!wait) return;
  auto it = threads_.find(std::this_thread::get_id());
  int mine = it == threads_.end() ? 0 : it->second;
  cv_.wait(l, [&] { return running_ == mine; });
}

// ---- ClientImpl -------------------------------------------------------------------------------

ClientImpl::ClientImpl(ClientOptions options) : options_(std::move(options)) {}

std::shared_ptr<ClientImpl> ClientImpl::create(ClientOptions options) {
  uint32_t v = lk_abi_version();
  if (!LK_ABI_COMPATIBLE(v))
    throw Error(LK_ERR_UNSUPPORTED, "liblkcore ABI " + std::to_string(v >> 16) + "." + std::to_string(v & 0xFFFF) +
                                        " cannot serve lkcore.h " + std::to_string(LK_ABI_VERSION_MAJOR) + "." +
                                        std::to_string(LK_ABI_VERSION_MINOR));
  std::shared_ptr<ClientImpl> c(new ClientImpl(std::move(options)));
  c->workers_ = std::make_shared<WorkerPool>(std::max<size_t>(1, c->options_.max_pending_handlers));
  auto *ctx = new CallbackContext{c};
  c->ctx_ = ctx;
  c->id_ = lk_client_new(&ClientImpl::on_event, ctx);
  if (c->id_ == 0) {
    delete ctx;
    c->ctx_ = nullptr;
    // In a child forked after the library was loaded, every C function says so.
    if (lk_handle_drop(0, 0) == LK_ERR_FORKED)
      throw Error(LK_ERR_FORKED, "the library was loaded before this process was forked: it cannot be used here");
    throw Error(LK_ERR_INTERNAL, "lk_client_new failed");
  }
  c->workers_->start(c->options_.handler_threads);
  try {
    c->set_log_level(c->options_.log_level);
  } catch (...) {
    c->close(Millis(5000));
    throw;
  }
  return c;
}

ClientImpl::~ClientImpl() {
  try {
    close(Millis(5000));
  } catch (...) {
    // A callback is still running after the timeout: keep waiting a bounded while; if it
    // never returns, the callback context is leaked rather than freed under it.
    for (int i = 0; i < 11 && lk_client_close(id_, 5000) == LK_ERR_TIMEOUT; i++) {
    }
  }
  if (ctx_ && lk_client_close(id_, 1) == LK_OK) delete static_cast<CallbackContext *>(ctx_);
  workers_->stop();
}

void ClientImpl::close(Millis timeout) {
  if (id_ == 0) return;
  // 0: the library's default, 5 s; negative: no bound (kMaxTimeout).
  int32_t st = lk_client_close(id_, timeout.count() == 0 ? 0 : int32_t(bounded_ms(timeout)));
  if (st == LK_ERR_TIMEOUT) throw Error(st, "an event callback is still running");
  // Pull reads (auto-subscriptions included) see CLIENT_CLOSED from the library.
  std::map<uint64_t, std::function<void(pb::Completion &&)>> pending;
  std::map<lk_handle_t, std::shared_ptr<ReaderState>> readers;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    pending.swap(pending_);
    readers = readers_;
  }
  for (auto &[id, fn] : pending) {
    pb::Completion c;
    c.set_request_id(id);
    c.mutable_error()->set_code(pb::ERROR_CODE_CLIENT_CLOSED);
    c.mutable_error()->set_message("the client was closed");
    try {
      fn(std::move(c));
    } catch (...) {
      report_handler_exception("completion callback");
    }
  }
  for (auto &[h, r] : readers) {
    {
      std::lock_guard<std::mutex> l(r->mu);
      if (!r->ended) {
        r->ended = r->failed = true;
        r->error_code = LK_ERR_CLIENT_CLOSED;
        r->error_message = "the client was closed";
      }
    }
    r->cv.notify_all();
  }
  workers_->stop();
}

bool ClientImpl::on_event_thread() const { return event_thread_.load() == std::this_thread::get_id(); }

void ClientImpl::check_not_event_thread() const {
  if (on_event_thread())
    throw Error(LK_ERR_FAILED_PRECONDITION,
                "blocking call on the client's event thread (it would wait for itself); use another thread");
}

pb::Response ClientImpl::request(const pb::Request &req) {
  // Strings are UTF-8: refused here with the field's name rather than by the library as a
  // malformed request (with libprotobuf complaining on stderr).
  std::string bad = invalid_utf8_field(req);
  if (!bad.empty()) throw Error(LK_ERR_INVALID_ARGUMENT, bad + " is not valid UTF-8 (every string of this API is UTF-8)");
  std::string buf;
  if (!req.SerializeToString(&buf)) throw Error(LK_ERR_INTERNAL, "cannot encode the request");
  uint8_t *out = nullptr;
  size_t n = 0;
  int32_t st = lk_request(id_, reinterpret_cast<const uint8_t *>(buf.data()), buf.size(), &out, &n);
  Buffer holder = Buffer::adopt(out, n);
  pb::Response resp;
  if (out != nullptr && (n > size_t(INT_MAX) || !resp.ParseFromArray(out, int(n))))
    throw Error(LK_ERR_INTERNAL, "undecodable response");
  if (st != LK_OK) {
    if (resp.has_error()) throw_error(resp.error(), st);
    throw Error(st, "request failed");
  }
  return resp;
}

int32_t ClientImpl::request_nothrow(const pb::Request &req) noexcept {
  try {
    request(req);
    return LK_OK;
  } catch (const Error &e) {
    return e.code();
  } catch (...) {
    return LK_ERR_INTERNAL;
  }
}

uint64_t ClientImpl::start(pb::Request &req, std::function<void(pb::Completion &&)> on_done) {
  uint64_t id = next_request_id_.fetch_add(1);
  req.set_request_id(id);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) throw Error(LK_ERR_CLIENT_CLOSED, "the client was closed");
    pending_[id] = std::move(on_done);
  }
  try {
    request(req);
  } catch (...) {
    std::lock_guard<std::mutex> l(mu_);
    pending_.erase(id);
    throw;
  }
  return id;
}

pb::Completion ClientImpl::call(pb::Request &req, std::optional<Millis> deadline,
                                std::function<void(pb::Completion &)> on_success) {
  check_not_event_thread();
  Millis timeout{0};
  if (deadline) timeout = deadline->count() == 0 ? kDefaultWait : bounded(*deadline);
  req.set_timeout_ms(uint32_t(timeout.count()));  // 0: none
  auto prom = std::make_shared<std::promise<pb::Completion>>();
  auto fut = prom->get_future();
  uint64_t id = start(req, [prom, on_success = std::move(on_success)](pb::Completion &&c) {
    if (on_success && !c.has_error()) on_success(c);
    prom->set_value(std::move(c));
  });
  // The library completes every operation, at its deadline (Request.timeout_ms) at the
  // latest, so its completion decides the outcome. The bound below is only a safety net for a
  // completion that does not come (a library fault, or an event thread blocked for long by a
  // handler, which delays every completion): past the deadline and a grace, ask the library to
  // cancel (the operation then completes, CANCELLED or with its result if it finished) and wait
  // once more; only then give up.
  // Without a deadline there is nothing to wait past: the operation's own bound applies.
  if (deadline && fut.wait_for(timeout + kCompletionGrace) != std::future_status::ready) {
    pb::Request cancel;
    cancel.mutable_cancel()->set_target_request_id(id);
    request_nothrow(cancel);
    if (fut.wait_for(kCompletionSafety) != std::future_status::ready) {
      // Give up unless the completion is being delivered right now (dispatch took it): then
      // its result, and the handles it carries, are ours — wait for it instead.
      if (abandon(id))
        throw Error(LK_ERR_TIMEOUT, "the operation's completion did not arrive in time (is the client's event "
                                    "thread blocked by a handler?)");
    }
  }
  pb::Completion c = fut.get();
  if (c.has_error()) throw_error(c.error(), LK_ERR_INTERNAL);
  return c;
}

bool ClientImpl::abandon(uint64_t request_id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return false;
  // A late success must not leak its handles. The continuation lives in pending_, so this
  // client is alive whenever it runs (dispatch, or close with a CLIENT_CLOSED completion).
  it->second = [this](pb::Completion &&c) { release_owned(c); };
  return true;
}

void ClientImpl::release_owned(const pb::Completion &c) noexcept {
  for (uint64_t h : c.owned_handles()) drop_handle(h);
}

void ClientImpl::release_owned(const pb::RoomEvent &e, lk_handle_t kept) noexcept {
  for (uint64_t h : e.owned_handles())
    if (h != kept) drop_handle(h);
}

bool ClientImpl::post_to_event_thread(std::function<void()> task) noexcept {
  try {
    auto t = std::make_shared<std::function<void()>>(std::move(task));
    pb::Request req;
    req.mutable_echo()->set_async(true);
    start(req, [t](pb::Completion &&) { (*t)(); });  // CLIENT_CLOSED too: on the closing thread
    return true;
  } catch (...) {
    return false;  // closed
  }
}

void ClientImpl::drop_handle(lk_handle_t h) noexcept {
  if (h == 0) return;
  lk_handle_drop(id_, h);
}

size_t ClientImpl::live_handles() noexcept {
  try {
    pb::Request req;
    req.mutable_get_client_stats();
    return request(req).get_client_stats().live_handles();
  } catch (...) {
    return 0;  // closed client
  }
}

void ClientImpl::add_room(lk_handle_t h, const std::shared_ptr<RoomState> &r) {
  std::lock_guard<std::mutex> l(mu_);
  rooms_[h] = r;
}

void ClientImpl::remove_room(lk_handle_t h) {
  std::lock_guard<std::mutex> l(mu_);
  rooms_.erase(h);
}

std::optional<SubscriptionEnd> ClientImpl::add_subscription(lk_handle_t h, const std::shared_ptr<SubscriptionState> &s) {
  std::lock_guard<std::mutex> l(mu_);
  subs_[h] = s;
  auto it = orphan_ends_.find(h);
  if (it == orphan_ends_.end()) return std::nullopt;
  SubscriptionEnd e = std::move(it->second);
  orphan_ends_.erase(it);
  return e;
}

void ClientImpl::set_local_info(lk_handle_t h, const DataTrackInfo &info) {
  std::lock_guard<std::mutex> l(mu_);
  local_infos_[h] = info;
}

std::optional<DataTrackInfo> ClientImpl::local_info(lk_handle_t h) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = local_infos_.find(h);
  if (it == local_infos_.end()) return std::nullopt;
  return it->second;
}

void ClientImpl::local_sid_changed(const pb::LocalDataTrackSidChanged &c) {
  DataTrackInfo info = from_pb(c.info());
  std::lock_guard<std::mutex> l(mu_);
  auto it = local_infos_.find(c.track_handle());
  if (it != local_infos_.end()) it->second = std::move(info);  // a released track is not brought back
}

void ClientImpl::forget_local(lk_handle_t h) {
  std::lock_guard<std::mutex> l(mu_);
  local_infos_.erase(h);
}

void ClientImpl::remove_subscription(lk_handle_t h) {
  std::lock_guard<std::mutex> l(mu_);
  subs_.erase(h);
}

void ClientImpl::add_reader(lk_handle_t h, const std::shared_ptr<ReaderState> &r) {
  std::lock_guard<std::mutex> l(mu_);
  readers_[h] = r;
}

void ClientImpl::remove_reader(lk_handle_t h) {
  std::lock_guard<std::mutex> l(mu_);
  readers_.erase(h);
}

void ClientImpl::set_log_level(LogLevel level) {
  pb::Request req;
  req.mutable_set_log_level()->set_level(pb::LogLevel(int(level)));
  request(req);
}

void ClientImpl::log(const LogRecord &rec) {
  if (options_.log_handler) {
    options_.log_handler(rec);
    return;
  }
  static const char *const names[] = {"?", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};
  int lv = int(rec.level);
  std::string line = "lkcore ";
  line += (lv >= 0 && lv <= 5) ? names[lv] : "?";
  line += ": " + rec.message;
  for (const auto &[k, v] : rec.attributes) line += " " + k + "=" + v;
  if (rec.dropped_before) line += " (" + std::to_string(rec.dropped_before) + " records dropped before)";
  std::fprintf(stderr, "%s\n", line.c_str());
}

void ClientImpl::on_event(void *user_data, const uint8_t *event, size_t len) {
  // Nothing may unwind into the library's C frames (decoding can throw std::bad_alloc too).
  try {
    auto self = static_cast<CallbackContext *>(user_data)->client.lock();
    if (!self) return;
    self->event_thread_.store(std::this_thread::get_id());
    pb::Event ev;
    if (len > size_t(INT_MAX) || !ev.ParseFromArray(event, int(len))) {
      std::fprintf(stderr, "lkcore: undecodable event ignored\n");
      return;
    }
    self->dispatch(ev);
  } catch (...) {
    report_handler_exception("event handler");
  }
}

void ClientImpl::dispatch(pb::Event &ev) {
  switch (ev.message_case()) {
    case pb::Event::kCompletion: {
      std::function<void(pb::Completion &&)> fn;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = pending_.find(ev.completion().request_id());
        if (it == pending_.end()) return;
        fn = std::move(it->second);
        pending_.erase(it);
      }
      fn(std::move(*ev.mutable_completion()));
      return;
    }
    case pb::Event::kLog:
      log(from_pb(ev.log()));
      return;
    case pb::Event::kRoom: {
      const auto &re = ev.room();
      std::shared_ptr<RoomState> r;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = rooms_.find(re.room_handle());
        if (it != rooms_.end()) r = it->second.lock();
      }
      // What a room event hands over (RoomEvent.owned_handles) is taken over below or released:
      // exactly the handles the library lists, whatever the event's kind.
      if (!r) {  // its Room is gone: nothing is delivered
        release_owned(re);
        return;
      }
      if (re.has_stream_opened()) {
        // Delivered to its topic's handler, or not at all (no handler registered).
        bool taken = open_stream(r, re.stream_opened());
        release_owned(re, taken ? re.stream_opened().reader().handle() : 0);
        return;
      }
      lk_handle_t kept = 0;
      if (re.has_data_track_published() && re.data_track_published().has_auto_subscription()) {
        // Taken over before the event reaches the handler, so its subscribe() finds it.
        const auto &a = re.data_track_published().auto_subscription();
        if (r->adopt(a)) kept = a.handle();
      }
      release_owned(re, kept);  // a kind whose handles nothing here takes over (none today)
      if (re.has_rpc_invocation()) {
        r->on_rpc(re.rpc_invocation());
        return;
      }
      r->on_event(re);
      return;
    }
    case pb::Event::kDataTrackFrame: {
      auto &f = *ev.mutable_data_track_frame();
      std::shared_ptr<SubscriptionState> s;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = subs_.find(f.subscription_handle());
        if (it != subs_.end()) s = it->second;
      }
      // Only callback-mode subscriptions (credits) get frame events: explicit ones, and
      // auto-subscriptions (pull subscriptions, RoomOptions.auto_subscription_delivery) once
      // taken in callback mode and switched (SetDataTrackDeliveryRequest, see Room::subscribe).
      if (!s || !s->guard.enter()) return;
      GuardScope leave{s->guard};
      if (++s->delivered % (kCallbackCredits / 2) == 0) {  // keep the credit window open (see subscribe)
        pb::Request req;
        req.mutable_grant_credits()->set_handle(f.subscription_handle());
        req.mutable_grant_credits()->set_credits(kCallbackCredits);
        request_nothrow(req);
      }
      if (s->on_frame && !s->room_gone.load()) {  // no frame after the end its room's destruction reported
        Frame fr;
        fr.payload = Buffer(std::move(*f.mutable_payload()));
        if (f.has_user_timestamp()) fr.user_timestamp = f.user_timestamp();
        fr.dropped_before = f.dropped_before();
        try {
          s->on_frame(std::move(fr));
        } catch (...) {
          report_handler_exception("data-track frame handler");
        }
      }
      return;
    }
    case pb::Event::kDataTrackSubscriptionEnded: {
      const auto &e = ev.data_track_subscription_ended();
      SubscriptionEnd end = from_pb(e);
      std::shared_ptr<SubscriptionState> s;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = subs_.find(e.subscription_handle());
        if (it != subs_.end()) {
          s = it->second;
        } else {
          // Possibly a subscription whose subscribe() has not registered it yet.
          orphan_ends_[e.subscription_handle()] = end;
          orphan_order_.push_back(e.subscription_handle());
          while (orphan_order_.size() > kMaxOrphanEnds) {
            orphan_ends_.erase(orphan_order_.front());
            orphan_order_.pop_front();
          }
          return;
        }
      }
      {
        std::lock_guard<std::mutex> l(s->mu);
        // After its room's destruction, the end reported then stays; a switched
        // auto-subscription's end that came in pull mode gives way to the one after its frames.
        if (!s->room_gone && !(s->end && s->switched && !e.after_switch())) s->end = end;
        if (s->switched && !e.after_switch()) {
          s->cv.notify_all();
          return;  // reported in pull mode: on_end waits for the end that follows the frames
        }
      }
      s->cv.notify_all();
      deliver_end(*s);
      return;
    }
    case pb::Event::kStreamChunk:
    case pb::Event::kStreamEnded: {
      bool chunk = ev.has_stream_chunk();
      lk_handle_t h = chunk ? ev.stream_chunk().reader_handle() : ev.stream_ended().reader_handle();
      std::shared_ptr<ReaderState> r;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = readers_.find(h);
        if (it != readers_.end()) r = it->second;
      }
      if (!r) return;
      {
        std::lock_guard<std::mutex> l(r->mu);
        if (r->ended) return;
        if (chunk) {
          auto &c = *ev.mutable_stream_chunk();
          r->chunks.push_back(c.has_text() ? std::move(*c.mutable_text()) : std::move(*c.mutable_data()));
        } else {
          const auto &e = ev.stream_ended();
          r->ended = true;
          r->trailer = Attributes(e.attributes().begin(), e.attributes().end());
          if (e.has_error()) {
            r->failed = true;
            r->error_code = e.error().code() ? int32_t(e.error().code()) : LK_ERR_INTERNAL;
            r->error_message = e.error().message();
          }
        }
      }
      r->cv.notify_all();
      return;
    }
    default:
      return;  // an event kind of a newer library
  }
}

template <typename Reader, typename Handler, typename Handlers, typename Info>
std::function<void()> ClientImpl::stream_task(const std::shared_ptr<RoomState> &room, const Handlers &handlers,
                                              lk_handle_t h, const std::string &identity, Info info) {
  Handler handler;
  {
    std::lock_guard<std::mutex> l(room->mu);
    auto it = handlers.find(info.topic);
    if (it != handlers.end()) handler = it->second;
  }
  if (!handler) return {};
  // Registered now, on the event thread, so that the stream's chunks (later events) find it.
  auto st = std::make_shared<ReaderState>();
  add_reader(h, st);
  auto reader = std::make_shared<Reader>();  // from here on, it releases the handle
  reader->impl_ = shared_from_this();
  reader->state_ = st;
  reader->handle_ = h;
  reader->identity_ = identity;
  reader->info_ = std::move(info);
  std::weak_ptr<RoomState> weak = room;
  return [weak, handler, reader] {
    auto r = weak.lock();
    if (!r || !r->handlers_guard.enter()) return;
    GuardScope leave{r->handlers_guard};
    std::string identity = reader->participant_identity();
    handler(std::move(*reader), identity);
  };
}

bool ClientImpl::open_stream(const std::shared_ptr<RoomState> &room, const pb::StreamOpened &so) {
  const auto &rd = so.reader();
  lk_handle_t h = rd.handle();
  if (h == 0) return false;
  std::function<void()> task =
      rd.has_text() ? stream_task<TextStreamReader, TextStreamHandler>(room, room->text_handlers, h,
                                                                        so.participant_identity(), from_pb(rd.text()))
                    : stream_task<ByteStreamReader, ByteStreamHandler>(room, room->byte_handlers, h,
                                                                        so.participant_identity(), from_pb(rd.bytes()));
  if (!task) return false;  // no handler for its topic: not delivered (the caller releases the stream)
  // Not queued: the task's reader, destroyed with it, releases the stream.
  if (!post(std::move(task))) std::fprintf(stderr, "lkcore: too many pending stream handlers, stream discarded\n");
  return true;
}

// ---- pull reads, and the end of callback-mode subscriptions -----------------------------------

int32_t read_frame(lk_client_t client, lk_handle_t h, int32_t timeout_ms, Frame &frame) noexcept {
  uint8_t *p = nullptr;
  size_t n = 0;
  uint64_t ts = 0, dropped = 0;
  bool has_ts = false;
  // ABI 1.10: the frame's dropped_before too (lk_data_track_read is this call without it).
  int32_t st = lk_data_track_read_frame(client, h, timeout_ms, &p, &n, &ts, &has_ts, &dropped);
  if (st != LK_OK) return st;
  frame.payload = Buffer::adopt(p, n);
  frame.user_timestamp = has_ts ? std::optional<uint64_t>(ts) : std::nullopt;
  frame.dropped_before = dropped;  // the library's count: this API drops none of a subscription's frames
  return LK_OK;
}

void fetch_end(ClientImpl &client, lk_handle_t h, SubscriptionState &s) noexcept {
  try {
    pb::Request req;
    req.mutable_get_data_track_subscription_end()->set_subscription_handle(h);
    const pb::Response resp = client.request(req);
    if (resp.get_data_track_subscription_end().ended()) {
      SubscriptionEnd e = from_pb(resp.get_data_track_subscription_end().end());
      std::lock_guard<std::mutex> l(s.mu);
      if (!s.end) s.end = std::move(e);
    }
  } catch (...) {
    // END_OF_STREAM stands; end() is set when the event arrives
  }
}

void deliver_end(SubscriptionState &s) {
  SubscriptionEnd end;
  {
    std::lock_guard<std::mutex> l(s.mu);
    if (!s.end || s.end_delivered || !s.on_frame) return;  // not ended, done, or pull mode
    s.end_delivered = true;
    end = *s.end;
  }
  if (!s.guard.enter()) return;
  GuardScope leave{s.guard};
  if (!s.on_end) return;
  try {
    s.on_end(end);
  } catch (...) {
    report_handler_exception("data-track end handler");
  }
}

// ---- RoomState --------------------------------------------------------------------------------

bool RoomState::adopt(const pb::OwnedDataTrackSubscription &a) {
  lk_handle_t h = a.handle();
  if (h == 0) return false;
  // A pull subscription (RoomOptions.auto_subscription_delivery PULL): its frames wait in the
  // library's buffer until it is taken and read.
  auto st = std::make_shared<SubscriptionState>();
  st->track = from_pb(a.track());  // before it is shared
  std::pair<std::string, std::string> key{st->track.publisher_identity, st->track.info.name};
  AutoSubscription au{h, st};
  // Registered first, so that its end event (which follows this hand-over) finds it.
  if (auto end = client->add_subscription(h, st)) st->end = std::move(end);
  AutoSubscription replaced;
  bool refused = false;
  {
    std::lock_guard<std::mutex> l(mu);
    if (released) {
      refused = true;
    } else {
      auto &slot = auto_subs[key];
      replaced = std::move(slot);  // a previous one never taken (not expected)
      slot = std::move(au);
    }
  }
  if (refused) {  // the Room was destroyed: the caller releases what it was handed
    client->remove_subscription(h);
    return false;
  }
  if (replaced.handle != 0) {
    client->remove_subscription(replaced.handle);
    client->drop_handle(replaced.handle);
  }
  return true;
}

std::optional<RoomState::AutoSubscription> RoomState::take_auto(const RemoteDataTrack &track) {
  std::lock_guard<std::mutex> l(mu);
  // By (publisher, name): the sid of a track the application holds may be older (or newer)
  // than the auto-subscription's, since a publisher's full reconnect renews it
  // (RemoteDataTrackSidChanged, which the application may not have applied to its values).
  auto it = auto_subs.find({track.publisher_identity, track.info.name});
  if (it == auto_subs.end()) return std::nullopt;
  AutoSubscription a = std::move(it->second);
  auto_subs.erase(it);
  track_taken_locked(a.state);
  return a;
}

std::vector<std::shared_ptr<SubscriptionState>> RoomState::subscriptions_of(const std::string &identity,
                                                                             const std::string &name) {
  // Every subscription of the track in this room: the untaken auto-subscription and the taken
  // ones (explicit subscriptions are registered before their request, see Room::subscribe).
  std::vector<std::shared_ptr<SubscriptionState>> subs;
  std::lock_guard<std::mutex> l(mu);
  auto it = auto_subs.find({identity, name});
  if (it != auto_subs.end()) subs.push_back(it->second.state);
  for (const auto &w : taken)
    if (auto sp = w.lock()) subs.push_back(std::move(sp));
  return subs;
}

void RoomState::on_sid_changed(const pb::RemoteDataTrackSidChanged &c) {
  for (auto &sp : subscriptions_of(c.publisher_identity(), c.name())) {
    std::lock_guard<std::mutex> l(sp->mu);
    RemoteDataTrack &t = sp->track;
    // Keyed by (publisher, name), not by the old sid: a subscription made from a RemoteDataTrack
    // held from before an earlier change is of the same track. An ended subscription's track
    // is history (after an unpublish, a track of the same name is another one).
    if (!sp->end && t.publisher_identity == c.publisher_identity() && t.info.name == c.name()) {
      t.info.sid = c.sid();
      sp->sid_from_event = true;
    }
  }
}

void RoomState::on_permission_changed(const pb::DataTrackSubscriptionPermissionChanged &c) {
  for (auto &sp : subscriptions_of(c.publisher_identity(), c.name())) {
    std::lock_guard<std::mutex> l(sp->mu);
    RemoteDataTrack &t = sp->track;
    // By (publisher, name), as on_sid_changed; an ended subscription's track is history.
    if (!sp->end && t.publisher_identity == c.publisher_identity() && t.info.name == c.name()) {
      t.subscription_revoked = !c.allowed();
      sp->revoked_from_event = true;
    }
  }
}

std::shared_ptr<SubscriptionState> new_subscription_state(RoomState &room, const RemoteDataTrack &track) {
  auto st = std::make_shared<SubscriptionState>();
  st->track = track;
  room.track_taken(st);
  return st;
}

void set_subscribed_track(SubscriptionState &st, const pb::RemoteDataTrackInfo &answer) {
  RemoteDataTrack t = from_pb(answer);
  std::lock_guard<std::mutex> l(st.mu);
  // Not compared with the sid the caller gave: a change can bring the track to that very sid
  // (a value newer than this room's events) while the answer still shows an older one.
  if (st.sid_from_event) t.info.sid = st.track.info.sid;
  if (st.revoked_from_event) t.subscription_revoked = st.track.subscription_revoked;  // the same reasoning
  st.track = std::move(t);
}

void RoomState::release_auto(const std::string &identity, const std::string &name) {
  lk_handle_t gone = 0;
  {
    std::lock_guard<std::mutex> l(mu);
    auto it = auto_subs.find({identity, name});
    if (it == auto_subs.end()) return;
    gone = it->second.handle;
    auto_subs.erase(it);
  }
  client->remove_subscription(gone);
  client->drop_handle(gone);
}

void RoomState::release_all_auto() noexcept {
  std::map<std::pair<std::string, std::string>, AutoSubscription> gone;
  {
    std::lock_guard<std::mutex> l(mu);
    released = true;
    gone.swap(auto_subs);
  }
  for (auto &[key, a] : gone) {
    client->remove_subscription(a.handle);
    client->drop_handle(a.handle);
  }
}

void RoomState::track_taken(const std::shared_ptr<SubscriptionState> &s) {
  std::lock_guard<std::mutex> l(mu);
  track_taken_locked(s);
}

void RoomState::track_taken_locked(const std::shared_ptr<SubscriptionState> &s) {
  taken.erase(std::remove_if(taken.begin(), taken.end(), [](const auto &w) { return w.expired(); }), taken.end());
  taken.push_back(s);
}

void RoomState::end_taken() noexcept {
  std::vector<std::shared_ptr<SubscriptionState>> subs;
  {
    std::lock_guard<std::mutex> l(mu);
    for (const auto &w : taken)
      if (auto s = w.lock()) subs.push_back(std::move(s));
    taken.clear();
  }
  for (auto &s : subs) {
    bool callbacks = false;
    {
      std::lock_guard<std::mutex> l(s->mu);
      // Ended already (its end event or read reported it), unless its on_end still waits for an
      // end event the library no longer sends once the room's handle is dropped: an
      // auto-subscription switched to callback mode after its end was reported in pull mode.
      if (s->end && (!s->on_frame || s->end_delivered)) continue;
      if (!s->end) {
        SubscriptionEnd e;
        e.reason = SubscriptionEndReason::Disconnected;
        e.error_message = "the room was destroyed";
        s->end = std::move(e);
      }
      s->room_gone = true;
      callbacks = bool(s->on_frame);
    }
    s->cv.notify_all();
    if (callbacks) client->post_to_event_thread([s] { deliver_end(*s); });
  }
}

void RoomState::on_event(const pb::RoomEvent &ev) {
  // An auto-subscription not taken by now goes with its track (a participant that leaves has
  // had each of its tracks unpublished before, ABI 1.15).
  if (ev.has_data_track_unpublished())
    release_auto(ev.data_track_unpublished().publisher_identity(), ev.data_track_unpublished().name());
  else if (ev.has_data_track_sid_changed())  // the handler sees the subscriptions' new sid
    on_sid_changed(ev.data_track_sid_changed());
  else if (ev.has_data_track_subscription_permission_changed())  // and their subscription_revoked
    on_permission_changed(ev.data_track_subscription_permission_changed());
  else if (ev.has_local_data_track_sid_changed())  // and the track's new sid
    client->local_sid_changed(ev.local_data_track_sid_changed());
  RoomEvent re;
  if (!to_room_event(ev, &re)) return;
  if (!handler_guard.enter()) return;
  GuardScope leave{handler_guard};
  std::lock_guard<std::mutex> call(call_mu);
  RoomEventHandler h;
  {
    std::lock_guard<std::mutex> l(mu);
    h = handler;
    if (!h) {
      // Only data packets, DTMF, chat messages and transcriptions are dropped (the oldest first)
      // when they fill the queue: every other event is part of the room's state (the snapshot +
      // deltas model) and is kept.
      if (detail::is_data_event(re)) {
        size_t cap = options.event_queue_capacity ? options.event_queue_capacity : kDefaultEventQueueCapacity;
        if (data_queued >= cap) {
          auto it = std::find_if(queue.begin(), queue.end(),
                                 [](const RoomEvent &e) { return detail::is_data_event(e); });
          if (it != queue.end()) {
            queue.erase(it);
            data_queued--;
            dropped++;
          }
        }
        data_queued++;
      }
      queue.push_back(std::move(re));
    }
  }
  if (h)
    h(re);
  else
    cv.notify_all();
}

void RoomState::on_rpc(const pb::RpcInvocation &inv) {
  RpcHandler h;
  {
    std::lock_guard<std::mutex> l(mu);
    auto it = rpc_handlers.find(inv.method());
    if (it != rpc_handlers.end()) h = it->second;
  }
  uint64_t inv_id = inv.invocation_id();
  lk_handle_t room = handle;
  auto respond_error = [](ClientImpl &c, lk_handle_t room, uint64_t inv_id, uint32_t code, const std::string &msg,
                          const std::string &data) -> int32_t {
    pb::Request req;
    auto *rr = req.mutable_respond_rpc();
    rr->set_room_handle(room);
    rr->set_invocation_id(inv_id);
    rr->mutable_error()->set_code(code);
    rr->mutable_error()->set_message(msg);
    rr->mutable_error()->set_data(data);
    return c.request_nothrow(req);
  };
  if (!h) {
    respond_error(*client, room, inv_id, RpcError::kUnsupportedMethod, "Method not supported at destination", "");
    return;
  }
  std::weak_ptr<RoomState> weak = weak_from_this();
  RpcInvocation info = from_pb(inv);
  bool posted = client->post([weak, h, info, inv_id, room, respond_error] {
    auto r = weak.lock();
    if (!r || !r->handlers_guard.enter()) return;
    pb::Request req;
    auto *rr = req.mutable_respond_rpc();
    rr->set_room_handle(room);
    rr->set_invocation_id(inv_id);
    bool ok = false;
    uint32_t code = RpcError::kApplicationError;
    std::string msg = "Application error in method handler", data;
    try {
      rr->set_payload(h(info));
      ok = true;
    } catch (const RpcError &e) {
      code = e.rpc_code();
      msg = e.rpc_message();
      data = e.data();
    } catch (...) {
    }
    r->handlers_guard.leave();
    // NOT_FOUND after the deadline: the caller already got 1502.
    int32_t st = ok ? r->client->request_nothrow(req) : respond_error(*r->client, room, inv_id, code, msg, data);
    if (st == LK_ERR_INVALID_ARGUMENT)  // not UTF-8: the caller must not wait for its timeout
      respond_error(*r->client, room, inv_id, RpcError::kApplicationError,
                    ok ? "the method handler's response is not valid UTF-8"
                       : "the method handler's error message or data is not valid UTF-8",
                    "");
  });
  if (!posted) respond_error(*client, room, inv_id, RpcError::kApplicationError, "busy", "");
}

}  // namespace detail
}  // namespace lk
