// Data tracks against devsfu: publish, pull and callback subscriptions, 100 KB frames, ends,
// auto-subscriptions (RoomOptions::auto_subscribe).
#include <algorithm>

#include "common.hpp"

using namespace lktest;

namespace {

// Pushes `payload` every 20 ms until `done` (the subscription needs time to be established;
// frames pushed before that are legitimately not delivered).
std::thread warm_up(lk::LocalDataTrack &t, const std::string &payload, uint64_t ts, std::atomic<bool> &done) {
  return std::thread([&t, payload, ts, &done] {
    while (!done.load()) {
      (void)t.try_push(payload, ts);
      std::this_thread::sleep_for(20ms);
    }
  });
}

std::string numbered(uint32_t i, size_t size) {
  std::string f = random_bytes(size, 1000 + i);
  for (int b = 0; b < 4; b++) f[b] = char((i >> (24 - 8 * b)) & 0xFF);
  return f;
}

uint32_t number(const lk::Buffer &b) {
  const uint8_t *p = b.data();
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// push_until_read pushes numbered frames of `size` bytes (from next on) until probe reads one, at
// most kGuard (frames pushed before a subscription is established are not delivered).
std::optional<lk::Frame> push_until_read(lk::LocalDataTrack &track, lk::DataTrackSubscription &probe, uint32_t &next,
                                         size_t size = 16) {
  std::optional<lk::Frame> f;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !f && std::chrono::steady_clock::now() < deadline;) {
    track.push(numbered(next++, size), 0, kGuard);
    f = probe.read(lk::Millis(20));
  }
  return f;
}

// read_first_forwarded pushes payload once on an established subscription's track and returns
// the frame sub reads. The channel does not retransmit, so on a loaded machine the frame's
// packet can be lost on its way to the server or from it; only then is it pushed again (at most
// four times). If the server read the packet but wrote it to no subscriber, the subscription was
// not established yet: that fails the test instead (nullopt).
std::optional<lk::Frame> read_first_forwarded(const Devsfu &sfu, lk::LocalDataTrack &track,
                                              lk::DataTrackSubscription &sub, const std::string &payload,
                                              uint64_t user_timestamp) {
  for (int attempt = 0; attempt < 5; attempt++) {
    Devsfu::DataTrackCounters before = sfu.data_track_counters();
    if (before.in < 0 || before.out < 0) {
      ADD_FAILURE() << "cannot read the server's data-track counters";
      return std::nullopt;
    }
    track.push(payload, user_timestamp);
    if (std::optional<lk::Frame> f = sub.read(lk::Millis(3000))) return f;
    Devsfu::DataTrackCounters after = sfu.data_track_counters();
    if (after.in > before.in && after.out == before.out) {
      ADD_FAILURE() << "the server read the frame and forwarded it to no subscriber (attempt " << attempt << ")";
      return std::nullopt;
    }
  }
  ADD_FAILURE() << "five pushes of the first frame were lost";
  return std::nullopt;
}

// read_until reads probe until it delivers the frame numbered n: proof that the frame has
// reached every subscription of the track in that room (the library puts each frame into all
// of them at once). False if it did not within kGuard.
bool read_until(lk::DataTrackSubscription &probe, uint32_t n) {
  for (;;) {
    std::optional<lk::Frame> f = probe.read(kGuard);
    if (!f) return false;
    if (f->payload.size() >= 4 && number(f->payload) == n) return true;
  }
}

// speaker_history is everything ev's room heard about speakers so far, in order, as text: a
// ParticipantUpdatedEvent with speaking_changed as "<identity> <level>" or "<identity> silent",
// an ActiveSpeakersChangedEvent as "[id,id]".
std::vector<std::string> speaker_history(Events &ev) {
  std::vector<std::string> out;
  for (const auto &e : ev.wait_all([](const std::vector<lk::RoomEvent> &) { return true; })) {
    if (auto *u = std::get_if<lk::ParticipantUpdatedEvent>(&e); u && u->speaking_changed) {
      out.push_back(u->info.identity + " " + (u->info.is_speaking ? std::to_string(u->info.audio_level) : "silent"));
    } else if (auto *a = std::get_if<lk::ActiveSpeakersChangedEvent>(&e)) {
      std::string l = "[";
      for (const auto &id : a->identities) l += (l.size() > 1 ? "," : "") + id;
      out.push_back(l + "]");
    }
  }
  return out;
}

// expect_speaking_update waits (kGuard) for ev's next ParticipantUpdatedEvent with
// speaking_changed and checks it is about `who`, with that state and level, and the event's only
// change.
void expect_speaking_update(Events &ev, const std::string &who, bool speaking, float level) {
  auto u =
      ev.wait<lk::ParticipantUpdatedEvent>([](const lk::ParticipantUpdatedEvent &e) { return e.speaking_changed; });
  EXPECT_EQ(u.info.identity, who);
  EXPECT_EQ(u.info.is_speaking, speaking) << who;
  EXPECT_EQ(u.info.audio_level, level) << who;
  EXPECT_FALSE(u.name_changed || u.metadata_changed || u.permission_changed || u.connection_quality_changed ||
               !u.changed_attributes.empty() || u.track_published || u.track_unpublished || u.track_mute_changed)
      << who;
}

// next_speaker_list waits (kGuard) for ev's next ActiveSpeakersChangedEvent and returns its list.
std::vector<std::string> next_speaker_list(Events &ev) {
  return ev.wait<lk::ActiveSpeakersChangedEvent>().identities;
}

// A subscription that sees every frame of the track its room receives: the witness of the tests
// that leave another subscription of the track unread (its buffer is far larger than any burst).
lk::SubscribeOptions witness_buffer() {
  lk::SubscribeOptions o;
  o.buffer_size = 4096;
  o.buffer_bytes = 16u << 20;
  return o;
}

// drain_through reads sub, whose frames are numbered and in order, up to the frame numbered n
// (which has reached it), and returns the loss its frames reported on the way.
uint64_t drain_through(lk::DataTrackSubscription &sub, uint32_t n) {
  uint64_t lost = 0;
  for (;;) {
    std::optional<lk::Frame> f = sub.read(kGuard);
    if (!f) {
      ADD_FAILURE() << "frame " << n << " did not reach the subscription";
      return lost;
    }
    lost += f->dropped_before;
    if (number(f->payload) == n) return lost;
  }
}

// Numbered is a frame read: its number and the loss it reported.
struct Numbered {
  uint32_t n;
  uint64_t dropped_before;
};

// read_arrived reads what sub holds now, without waiting (everything pushed has arrived).
std::vector<Numbered> read_arrived(lk::DataTrackSubscription &sub) {
  std::vector<Numbered> out;
  lk::Frame f;
  while (sub.try_read(f, 0).ok()) out.push_back({number(f.payload), f.dropped_before});
  return out;
}

// expect_newest_four_kept: sub is an auto-subscription whose room bounds its buffer to four
// frames of `size` bytes (by frames or by bytes), taken but not read, and probe a second
// subscription of the same track showing what arrived. After a barrier that empties sub, `pushed`
// more frames arrive unread: sub holds the newest four, in order, the first reporting every other
// one; once the track is unpublished, sub ends (Unpublished) and its summary counts the same
// losses, warm-up included.
void expect_newest_four_kept(lk::LocalDataTrack &track, lk::DataTrackSubscription &sub, lk::DataTrackSubscription &probe,
                             size_t size, uint32_t pushed, const char *bound) {
  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, probe, next, size).has_value()) << "frames never flowed";
  const uint32_t barrier = next++;
  track.push(numbered(barrier, size), 0, kGuard);
  ASSERT_TRUE(read_until(probe, barrier)) << "the barrier did not arrive";
  const uint64_t warm_lost = drain_through(sub, barrier);  // the warm-up may overflow the buffer too

  for (uint32_t i = 0; i < pushed; i++) track.push(numbered(next++, size), 0, kGuard);
  track.flush(kGuard);
  const uint32_t last = next - 1;
  ASSERT_TRUE(read_until(probe, last)) << "the probe missed frame " << last;

  std::vector<Numbered> got = read_arrived(sub);
  ASSERT_EQ(got.size(), 4u) << bound;
  uint64_t reported = 0;
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].n, last - 3 + i) << "the newest frames, in order";
    reported += got[i].dropped_before;
  }
  EXPECT_EQ(got[0].dropped_before, uint64_t(pushed - 4)) << "the frames dropped before the first kept";
  EXPECT_EQ(got.size() + reported, size_t(pushed)) << "frames read + dropped_before = frames pushed";

  track.unpublish();
  lk::Frame rest;
  lk::Status st = sub.try_read(rest, int32_t(kGuard.count()));
  EXPECT_EQ(st.code(), LK_ERR_END_OF_STREAM) << st.name() << ": no frame after the last";
  ASSERT_TRUE(sub.end().has_value());
  EXPECT_EQ(sub.end()->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(sub.end()->frames_dropped, warm_lost + reported) << "the end summary counts the same losses";
}

// CallbackLog collects what a callback-mode subscription delivers: frame payloads and its end.
struct CallbackLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> frames;
  std::optional<lk::SubscriptionEnd> end;
  lk::FrameHandler on_frame() {
    return [this](lk::Frame &&f) {
      std::lock_guard<std::mutex> l(mu);
      frames.push_back(f.payload.str());
      cv.notify_all();
    };
  }
  lk::SubscriptionEndHandler on_end() {
    return [this](const lk::SubscriptionEnd &e) {
      std::lock_guard<std::mutex> l(mu);
      end = e;
      cv.notify_all();
    };
  }
  // Waits until pred holds (checked under the lock), at most kGuard.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, kGuard, pred);
  }
};

}  // namespace

TEST_F(E2E, DataTrackPullSubscriptionWith100KBFrames) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;

  lk::DataTrackOptions opts;
  opts.schema_name = "s";
  opts.frame_encoding = "json";
  opts.schema_encoding = "json_schema";
  opts.queue_size = 64;
  lk::LocalDataTrack track = alice.publish_data_track("sensor", opts);
  EXPECT_TRUE(track.valid());
  EXPECT_EQ(track.info().name, "sensor");
  EXPECT_FALSE(track.info().sid.empty());
  EXPECT_TRUE(track.is_published());
  EXPECT_EQ(client_a.live_handles(), 2u);  // room + track

  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  EXPECT_EQ(pub.track.publisher_identity, "alice");
  EXPECT_EQ(pub.track.info.sid, track.info().sid);
  EXPECT_EQ(pub.track.info.schema_name, "s");
  EXPECT_EQ(pub.track.info.frame_encoding, "json");
  EXPECT_EQ(pub.track.info.schema_encoding, "json_schema");
  ASSERT_EQ(bob.remote_data_tracks().size(), 1u);

  lk::SubscribeOptions so;
  so.buffer_bytes = (64u << 20) + 1;  // beyond the library's cap: refused, no handle
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { bob.subscribe(pub.track, so); }, "buffer_bytes over 64 MiB");
  so.buffer_size = 64;
  so.buffer_bytes = 1u << 20;
  lk::DataTrackSubscription sub = bob.subscribe(pub.track, so);
  EXPECT_EQ(sub.track().info.name, "sensor");
  std::atomic<bool> done{false};
  std::thread pusher = warm_up(track, "warmup", 1, done);
  std::optional<lk::Frame> first;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !first && std::chrono::steady_clock::now() < deadline;)
    first = sub.read(lk::Millis(1000));
  done = true;
  pusher.join();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->payload.view(), "warmup");
  EXPECT_EQ(first->user_timestamp, std::optional<uint64_t>(1));

  // 20 numbered frames of 100 KB each: order, content and timestamps survive.
  constexpr uint32_t kFrames = 20;
  constexpr size_t kSize = 100 * 1024;
  for (uint32_t i = 0; i < kFrames; i++) {
    track.push(numbered(i, kSize), 1000 + i, kGuard);
    std::this_thread::sleep_for(5ms);
  }
  std::vector<uint32_t> got;
  while (got.empty() || got.back() != kFrames - 1) {
    auto f = sub.read(kGuard);
    ASSERT_TRUE(f.has_value()) << "no frame within the guard";
    if (f->payload.view() == "warmup") continue;
    ASSERT_EQ(f->payload.size(), kSize);
    uint32_t i = number(f->payload);
    ASSERT_LT(i, kFrames);
    EXPECT_EQ(f->payload.view(), numbered(i, kSize)) << "frame " << i;
    EXPECT_EQ(f->user_timestamp, std::optional<uint64_t>(1000 + i));
    EXPECT_TRUE(got.empty() || i > got.back()) << "frames out of order";
    got.push_back(i);
  }
  EXPECT_GE(got.size(), kFrames / 2) << "most frames arrive on loopback";

  // Unpublishing ends the subscription; pushes then fail with a typed status.
  track.unpublish();
  EXPECT_FALSE(track.is_published());
  EXPECT_EQ(track.try_push("late").code(), LK_ERR_TRACK_UNPUBLISHED);
  expect_error(LK_ERR_TRACK_UNPUBLISHED, [&] { track.push("late"); }, "push after unpublish");
  auto gone = ev_b.wait<lk::DataTrackUnpublishedEvent>();
  EXPECT_EQ(gone.sid, track.info().sid);
  try {
    for (;;) {
      auto f = sub.read(kGuard);
      ASSERT_TRUE(f.has_value());
      EXPECT_NE(f->payload.view(), "late");
    }
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_END_OF_STREAM) << e.what();
  }
  lk::Frame f;
  // A 0 ms poll of an ended subscription reports the end, never a spurious timeout.
  EXPECT_EQ(sub.try_read(f, 0).code(), LK_ERR_END_OF_STREAM);
  auto end = sub.end();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_GE(end->frames_received, got.size());
}

// A pull subscription read too slowly is told, on the next frame it reads, how many frames it
// lost (lk_data_track_read_frame, ABI 1.10): 40 numbered frames pushed toward a buffer of 4
// while nothing reads leave the last 4, the first of them reporting the 36 dropped; the frames
// read plus their dropped_before are every frame pushed from the first read to the last, and
// the end summary counts the same losses.
TEST_F(E2E, SlowPullReaderIsToldWhatItLost) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("slow");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  constexpr int kBuffer = 4;
  lk::SubscribeOptions small;
  small.buffer_size = kBuffer;
  lk::DataTrackSubscription pull = bob.subscribe(pub.track, small);
  // A callback-mode subscription of the same track shows what has arrived: the library puts
  // each frame into every subscription of the track at once, so a frame the callback got is
  // in the pull subscription's buffer too (or counted as dropped by it).
  CallbackLog arrived;
  lk::SubscribeOptions big;
  big.buffer_size = 256;
  lk::DataTrackSubscription probe = bob.subscribe(pub.track, arrived.on_frame(), arrived.on_end(), big);
  auto has = [&](const std::string &payload) {
    return arrived.wait([&] { return std::find(arrived.frames.begin(), arrived.frames.end(), payload) != arrived.frames.end(); });
  };

  // Warm up until frames flow, then read the pull buffer empty up to a barrier.
  bool flowing = false;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !flowing && std::chrono::steady_clock::now() < deadline;) {
    (void)track.try_push("warm");
    std::unique_lock<std::mutex> l(arrived.mu);
    flowing = arrived.cv.wait_for(l, 20ms, [&] { return !arrived.frames.empty(); });
  }
  ASSERT_TRUE(flowing) << "no frame reached the subscriptions";
  track.push("barrier", std::nullopt, kGuard);
  ASSERT_TRUE(has("barrier")) << "the barrier did not arrive";
  uint64_t warm_lost = 0;  // the warm-up may overflow the small buffer too
  for (;;) {
    std::optional<lk::Frame> f = pull.read(kGuard);
    ASSERT_TRUE(f.has_value()) << "the pull subscription did not deliver the barrier";
    warm_lost += f->dropped_before;
    if (f->payload.view() == "barrier") break;
  }

  // 40 frames while bob does not read: his buffer keeps the last 4 and counts the rest.
  constexpr int kFrames = 40;
  for (int i = 0; i < kFrames; i++) track.push("frame " + std::to_string(i), std::nullopt, kGuard);
  ASSERT_TRUE(has("frame " + std::to_string(kFrames - 1))) << "the last frame did not arrive";
  int prev = -1, read = 0;
  uint64_t reported = 0;
  for (;;) {
    std::optional<lk::Frame> f = pull.read(lk::Millis(0));  // everything has arrived: no wait
    if (!f) break;
    const std::string p = f->payload.str();
    ASSERT_EQ(p.rfind("frame ", 0), 0u) << "unexpected frame " << p;
    const int i = std::stoi(p.substr(6));
    ASSERT_GT(i, prev) << "frames out of order";
    EXPECT_EQ(f->dropped_before, uint64_t(i - prev - 1)) << "frame " << i << " read after frame " << prev;
    prev = i;
    read++;
    reported += f->dropped_before;
  }
  EXPECT_EQ(read, kBuffer) << "the buffer keeps the last " << kBuffer << " frames";
  EXPECT_EQ(prev, kFrames - 1);
  EXPECT_EQ(uint64_t(read) + reported, uint64_t(kFrames)) << "frames read + dropped_before = frames pushed";

  // The end summary counts the same losses.
  track.unpublish();
  lk::Frame rest;
  EXPECT_EQ(pull.try_read(rest, int32_t(kGuard.count())).code(), LK_ERR_END_OF_STREAM) << "no frame after the last";
  auto end = pull.end();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(end->frames_dropped, warm_lost + reported);
}

TEST_F(E2E, DataTrackPushIsPacedAndFlushedWithStats) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("paced");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);
  sub.wait_subscribed();
  sub.wait_subscribed();  // established: returns at once
  lk::LocalDataTrackStats st = track.stats();
  EXPECT_EQ(st.pushed + st.rejected + st.sent + st.queued + st.queued_bytes + st.dropped(), 0u);

  // Established: the server forwards the very first frame pushed afterwards (no warm-up pushes).
  auto first = read_first_forwarded(sfu, track, sub, "first", 7);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->payload.view(), "first");
  EXPECT_EQ(first->user_timestamp, std::optional<uint64_t>(7));

  // push is paced like the core's push: however fast the producer, its frames wait behind at
  // most 16 others (try_push would let 1 024 pile up on a default track).
  constexpr uint64_t kFrames = 2000;
  const std::string frame(1000, 'p');
  for (uint64_t i = 0; i < kFrames; i++) {
    track.push(frame);
    ASSERT_LE(track.stats().queued, 16u) << "after push " << i;
  }
  track.flush();
  st = track.stats();
  EXPECT_EQ(st.pushed, kFrames + 1);
  EXPECT_EQ(st.rejected, 0u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_EQ(st.queued_bytes, 0u);
  EXPECT_EQ(st.sent + st.dropped(), st.pushed);

  // A full queue: try_push refuses, push waits for room instead.
  lk::DataTrackOptions one;
  one.queue_size = 1;
  lk::LocalDataTrack small = alice.publish_data_track("small", one);
  const std::string big(60000, 'b');
  int refused = 0;
  for (int i = 0; i < 20000 && refused < 3; i++) {  // a tight loop outruns the writer (bounded, not timed)
    lk::Status s = small.try_push(big);
    if (s.code() == LK_ERR_QUEUE_FULL) refused++;
    else ASSERT_TRUE(s.ok()) << s.name();
  }
  ASSERT_GT(refused, 0) << "a one-frame queue never filled";
  for (int i = 0; i < 20; i++) small.push(big);
  small.flush();
  lk::LocalDataTrackStats s = small.stats();
  EXPECT_GE(s.rejected, uint64_t(refused));
  EXPECT_EQ(s.sent + s.dropped() + s.queued, s.pushed);

  small.unpublish();
  expect_error(LK_ERR_TRACK_UNPUBLISHED, [&] { small.push("late"); }, "push after unpublish");
  small.flush();  // nothing queued: returns at once
  lk::LocalDataTrack empty;
  expect_error(LK_ERR_INVALID_HANDLE, [&] { empty.flush(); }, "flush on an empty track");
  expect_error(LK_ERR_INVALID_HANDLE, [&] { empty.stats(); }, "stats of an empty track");
  lk::DataTrackSubscription no_sub;
  expect_error(LK_ERR_INVALID_HANDLE, [&] { no_sub.wait_subscribed(); }, "wait on an empty subscription");
}

TEST_F(E2E, DataTrackCallbackSubscriptionAndRelease) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  auto track = std::make_unique<lk::LocalDataTrack>(alice.publish_data_track("cb"));
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();

  CallbackLog log;
  auto sub = bob.subscribe(pub.track, log.on_frame(), log.on_end());
  lk::Frame unused;
  EXPECT_EQ(sub.try_read(unused, 0).code(), LK_ERR_FAILED_PRECONDITION) << "callback mode cannot be read";
  std::atomic<bool> done{false};
  std::thread pusher = warm_up(*track, std::string(100 * 1024, 'x'), 5, done);
  EXPECT_TRUE(log.wait([&] { return !log.frames.empty(); }));
  done = true;
  pusher.join();
  EXPECT_EQ(log.frames.front(), std::string(100 * 1024, 'x'));

  // Destroying the local track unpublishes it: the subscription ends, once.
  track.reset();
  EXPECT_EQ(client_a.live_handles(), 1u);
  ASSERT_TRUE(log.wait([&] { return log.end.has_value(); }));
  EXPECT_EQ(log.end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(sub.end()->reason, lk::SubscriptionEndReason::Unpublished);
  ev_b.wait<lk::DataTrackUnpublishedEvent>();
}

TEST_F(E2E, DataTrackErrors) {
  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack t = alice.publish_data_track("dup");
  expect_error(LK_ERR_ALREADY_EXISTS, [&] { alice.publish_data_track("dup"); }, "duplicate name");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { alice.publish_data_track(""); }, "empty name");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { alice.publish_data_track(std::string(300, 'n')); }, "long name");
  EXPECT_TRUE(t.is_published());
  lk::RemoteDataTrack unknown;
  unknown.publisher_identity = "nobody";
  unknown.info.sid = "TR_x";
  expect_error(LK_ERR_NOT_FOUND, [&] { alice.subscribe(unknown); }, "unknown remote track");
  // A frame over the size limit.
  std::string huge(3 * 1024 * 1024, 'h');  // over 128 packets of 16 000 bytes
  EXPECT_EQ(t.try_push(huge).code(), LK_ERR_PAYLOAD_TOO_LARGE);
  // Handles move with their objects.
  lk::LocalDataTrack moved = std::move(t);
  EXPECT_FALSE(t.valid());
  EXPECT_EQ(t.try_push("x").code(), LK_ERR_INVALID_HANDLE);
  EXPECT_TRUE(moved.try_push("x").ok());
  EXPECT_EQ(client_a.live_handles(), 2u);
}

TEST_F(E2E, ExistingTracksAreInTheSnapshot) {
  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack t = alice.publish_data_track("early");
  Joined jb = join_with_events(client_b, "bob");
  Events &ev_b = jb.events;
  auto &snap = jb.snapshot;
  std::vector<lk::RemoteDataTrack> tracks = snap.remote_data_tracks;
  if (tracks.empty()) tracks.push_back(ev_b.wait<lk::DataTrackPublishedEvent>().track);  // may race the join
  ASSERT_EQ(tracks.size(), 1u);
  EXPECT_EQ(tracks[0].info.sid, t.info().sid);
  EXPECT_EQ(tracks[0].info.name, "early");
}

namespace {

// grant sends GrantCreditsRequest{handle, 1} through the raw C ABI (hand-encoded: Request field
// 14 = {1: handle, 2: credits}); its status tells whether the library still knows the handle.
int32_t grant(lk_client_t client, lk_handle_t handle) {
  std::string inner;
  auto varint = [](std::string &out, uint64_t v) {
    while (v >= 0x80) {
      out.push_back(char(v | 0x80));
      v >>= 7;
    }
    out.push_back(char(v));
  };
  inner.push_back(char(1 << 3));
  varint(inner, handle);
  inner.push_back(char(2 << 3));
  varint(inner, 1);
  std::string req;
  req.push_back(char(14 << 3 | 2));
  varint(req, inner.size());
  req += inner;
  uint8_t *out = nullptr;
  size_t n = 0;
  int32_t st = lk_request(client, reinterpret_cast<const uint8_t *>(req.data()), req.size(), &out, &n);
  lk_free(out);
  return st;
}

}  // namespace

TEST_F(E2E, DestroyedObjectsReleaseTheirLibraryHandles) {
  auto alice = std::make_unique<lk::Room>(join(client_a, "alice"));
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  auto track = std::make_unique<lk::LocalDataTrack>(alice->publish_data_track("h"));
  lk_handle_t ht = track->handle(), hr = alice->handle();
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  auto sub = std::make_unique<lk::DataTrackSubscription>(bob.subscribe(pub.track));
  lk_handle_t hs = sub->handle();
  auto writer = std::make_unique<lk::StreamWriter>(alice->open_text_writer());
  // Live handles of the wrong kind for GrantCredits.
  EXPECT_EQ(grant(client_a.id(), hr), LK_ERR_WRONG_HANDLE_TYPE);
  EXPECT_EQ(grant(client_b.id(), hs), LK_ERR_FAILED_PRECONDITION);  // a pull subscription
  EXPECT_EQ(lk_data_track_push(client_a.id(), ht, nullptr, 0, 0, false), LK_OK);
  EXPECT_EQ(client_a.live_handles(), 3u);
  EXPECT_EQ(client_b.live_handles(), 2u);

  sub.reset();
  EXPECT_EQ(grant(client_b.id(), hs), LK_ERR_INVALID_HANDLE);
  track.reset();
  EXPECT_EQ(lk_data_track_push(client_a.id(), ht, nullptr, 0, 0, false), LK_ERR_INVALID_HANDLE);
  writer.reset();
  alice.reset();
  EXPECT_EQ(grant(client_a.id(), hr), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(client_a.live_handles(), 0u);
  EXPECT_EQ(client_b.live_handles(), 1u);
}

// RoomOptions::auto_subscribe: the library subscribes to every remote data track; the track
// already published at join comes with its subscription in the connect snapshot (no event
// announces it again), a later one with its DataTrackPublishedEvent. The first subscribe of
// each returns that subscription (pull or callback mode); a second one opens another.
TEST_F(E2E, AutoSubscribeHandsOverSnapshotAndLaterTracks) {
  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack early = alice.publish_data_track("early");
  lk::RoomOptions opts = auto_subscribing();
  Joined jb = join_with_events(client_b, "bob", opts);
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::RoomSnapshot &snap = jb.snapshot;
  ASSERT_EQ(snap.remote_data_tracks.size(), 1u) << "published (and confirmed) before the join";
  EXPECT_EQ(snap.remote_data_tracks[0].info.sid, early.info().sid);
  // The room and the library's subscription of the snapshot track, held until subscribe().
  EXPECT_EQ(client_b.live_handles(), 2u);

  lk::LocalDataTrack late = alice.publish_data_track("late");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>(
      [](const lk::DataTrackPublishedEvent &e) { return e.track.info.name == "late"; });
  EXPECT_EQ(pub.track.info.sid, late.info().sid);
  EXPECT_EQ(client_b.live_handles(), 3u);
  // Events come in order: an announcement of the snapshot track would have preceded this one.
  EXPECT_EQ(ev_b.count<lk::DataTrackPublishedEvent>(), 1u) << "the snapshot track was announced again";

  lk::DataTrackSubscription sub_early = bob.subscribe(snap.remote_data_tracks[0]);
  CallbackLog late_log;
  lk::DataTrackSubscription sub_late = bob.subscribe(pub.track, late_log.on_frame(), late_log.on_end());
  EXPECT_EQ(client_b.live_handles(), 3u) << "subscribe must return the library's subscriptions";
  EXPECT_EQ(sub_early.track().info.sid, early.info().sid);
  EXPECT_EQ(sub_late.track().info.sid, late.info().sid);
  lk::Frame unused;
  EXPECT_EQ(sub_late.try_read(unused, 0).code(), LK_ERR_FAILED_PRECONDITION) << "callback mode cannot be read";

  // Frames flow through both once the server has confirmed the subscriptions.
  std::atomic<bool> done{false};
  std::thread push_early = warm_up(early, "e", 7, done);
  std::thread push_late = warm_up(late, "l", 8, done);
  std::optional<lk::Frame> first;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !first && std::chrono::steady_clock::now() < deadline;)
    first = sub_early.read(lk::Millis(1000));
  bool late_flowed = late_log.wait([&] { return !late_log.frames.empty(); });
  done = true;
  push_early.join();
  push_late.join();
  ASSERT_TRUE(first.has_value()) << "no frame through the snapshot track's auto-subscription";
  EXPECT_EQ(first->payload.view(), "e");
  EXPECT_EQ(first->user_timestamp, std::optional<uint64_t>(7));
  ASSERT_TRUE(late_flowed) << "no frame through the later track's auto-subscription";
  {
    std::lock_guard<std::mutex> l(late_log.mu);
    EXPECT_EQ(late_log.frames.front(), "l");
  }

  // Only the first subscribe takes the library's subscription.
  {
    lk::DataTrackSubscription again = bob.subscribe(snap.remote_data_tracks[0]);
    EXPECT_NE(again.handle(), sub_early.handle());
    EXPECT_EQ(client_b.live_handles(), 4u);
  }
  EXPECT_EQ(client_b.live_handles(), 3u);

  // They end like any subscription.
  early.unpublish();
  late.unpublish();
  try {
    for (;;) {
      auto f = sub_early.read(kGuard);
      ASSERT_TRUE(f.has_value()) << "neither a frame nor the end within the guard";
    }
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_END_OF_STREAM) << e.what();
  }
  ASSERT_TRUE(sub_early.end().has_value());
  EXPECT_EQ(sub_early.end()->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_GE(sub_early.end()->frames_received, 1u);
  ASSERT_TRUE(late_log.wait([&] { return late_log.end.has_value(); }));
  EXPECT_EQ(late_log.end->reason, lk::SubscriptionEndReason::Unpublished);
}

// An auto-subscription's frames wait in the library's buffer (RoomOptions::data_track_buffer_size
// frames, here 4) until it is read, as for any pull subscription: of 24 frames pushed while it
// is not read, the last 4 are kept, the first of them reporting the 20 dropped, and the end
// summary counts the same losses. (This API keeps no buffer of its own: every count is the
// library's.)
TEST_F(E2E, AutoSubscriptionFramesWaitInTheLibrarysBuffer) {
  lk::Room alice = join(client_a, "alice");
  lk::RoomOptions opts = auto_subscribing(4);
  Joined jb = join_with_events(client_b, "bob", opts);
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("buffered");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  EXPECT_EQ(client_b.live_handles(), 2u) << "the library's subscription is held from its event";
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);  // taken, read only at the end
  EXPECT_EQ(client_b.live_handles(), 2u);
  // A second subscription of the same track shares the server subscription: once it gets
  // frames, so does the auto-subscription, and a frame it got is in the auto-subscription's
  // buffer too (or counted as dropped by it).
  lk::DataTrackSubscription probe = bob.subscribe(pub.track, witness_buffer());
  EXPECT_EQ(client_b.live_handles(), 3u);

  expect_newest_four_kept(track, sub, probe, 16, 24, "the library's buffer keeps the last 4 frames");
}

// A burst of 256 frames (the library's default buffer) pushed while an auto-subscription is not
// read arrives whole: every frame, in order, none reported lost. (With the 16-frame buffer this
// API kept for auto-subscriptions before ABI 1.14, only the last 16 arrived.)
TEST_F(E2E, AutoSubscriptionKeepsABurstOf256Frames) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob", auto_subscribing());  // the library's default buffer: 256 frames, 1 MiB
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("burst");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);  // the auto-subscription, not read yet
  lk::DataTrackSubscription probe = bob.subscribe(pub.track, witness_buffer());
  EXPECT_EQ(client_b.live_handles(), 3u);

  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, probe, next).has_value()) << "frames never flowed";
  const uint32_t barrier = next++;
  track.push(numbered(barrier, 16), 0, kGuard);
  ASSERT_TRUE(read_until(probe, barrier)) << "the barrier did not arrive";
  drain_through(sub, barrier);

  constexpr uint32_t kBurst = 256;
  const uint32_t first = next;
  for (uint32_t i = 0; i < kBurst; i++) track.push(numbered(next++, 16), 0, kGuard);
  track.flush(kGuard);
  ASSERT_TRUE(read_until(probe, next - 1)) << "the probe missed the burst's last frame";

  std::vector<Numbered> got = read_arrived(sub);
  ASSERT_EQ(got.size(), size_t(kBurst)) << "the whole burst waited in the library's buffer";
  for (uint32_t i = 0; i < kBurst; i++) {
    EXPECT_EQ(got[i].n, first + i) << "frame " << i << " of the burst";
    EXPECT_EQ(got[i].dropped_before, 0u) << "frame " << i << " of the burst";
  }
}

// RoomOptions::data_track_buffer_bytes (ABI 1.14) reaches the library as the byte bound of the
// room's subscriptions: with 32 bytes, an unread auto-subscription keeps the newest four 8-byte
// frames and reports the others in dropped_before. Above the library's 64 MiB cap the Room is
// refused with LK_ERR_INVALID_ARGUMENT (the library checks it, not this API); the cap itself is
// accepted.
TEST_F(E2E, RoomBufferBytesBoundAutoSubscriptions) {
  for (uint32_t bytes : {64u << 20 | 1, ~0u}) {
    lk::RoomOptions o;
    o.data_track_buffer_bytes = bytes;
    expect_error(LK_ERR_INVALID_ARGUMENT, [&] { lk::Room r(client_b, o); }, "data_track_buffer_bytes above 64 MiB");
  }
  {
    lk::RoomOptions o;
    o.data_track_buffer_bytes = 64u << 20;
    lk::Room accepted(client_b, o);
  }

  lk::Room alice = join(client_a, "alice");
  lk::RoomOptions opts = auto_subscribing();
  opts.data_track_buffer_bytes = 32;
  Joined jb = join_with_events(client_b, "bob", opts);
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("bytes");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);  // the auto-subscription
  lk::DataTrackSubscription probe = bob.subscribe(pub.track, witness_buffer());

  expect_newest_four_kept(track, sub, probe, 8, 20, "32 bytes hold four 8-byte frames");
}

// An auto-subscription never taken goes with its track, its publisher or the room.
TEST_F(E2E, UntakenAutoSubscriptionsAreReleased) {
  auto alice = std::make_unique<lk::Room>(join(client_a, "alice"));
  lk::RoomOptions opts = auto_subscribing();
  auto bob = std::make_unique<lk::Room>(client_b, opts);
  auto events = std::make_unique<Events>(*bob);
  Events &ev_b = *events;
  bob->connect(sfu.url, token("bob"));
  auto is = [](const char *name) {
    return [name](const lk::DataTrackPublishedEvent &e) { return e.track.info.name == name; };
  };

  lk::LocalDataTrack t1 = alice->publish_data_track("t1");
  auto p1 = ev_b.wait<lk::DataTrackPublishedEvent>(is("t1"));
  EXPECT_EQ(client_b.live_handles(), 2u);
  t1.unpublish();
  ev_b.wait<lk::DataTrackUnpublishedEvent>();
  EXPECT_EQ(client_b.live_handles(), 1u) << "released with its track, before the event was delivered";
  expect_error(LK_ERR_NOT_FOUND, [&] { bob->subscribe(p1.track); }, "subscribe to the unpublished track");

  lk::LocalDataTrack t2 = alice->publish_data_track("t2");
  ev_b.wait<lk::DataTrackPublishedEvent>(is("t2"));
  EXPECT_EQ(client_b.live_handles(), 2u);
  alice.reset();
  ev_b.wait<lk::ParticipantDisconnectedEvent>(
      [](const lk::ParticipantDisconnectedEvent &e) { return e.identity == "alice"; });
  EXPECT_EQ(client_b.live_handles(), 1u) << "released when its publisher left";

  auto carol = join(client_a, "carol");
  lk::LocalDataTrack t3 = carol.publish_data_track("t3");
  ev_b.wait<lk::DataTrackPublishedEvent>(is("t3"));
  EXPECT_EQ(client_b.live_handles(), 2u);
  events.reset();
  bob.reset();
  EXPECT_EQ(client_b.live_handles(), 0u) << "released with the room";
}

// Taken in callback mode, an auto-subscription is switched by the library to callback delivery,
// which takes effect on the event thread (the binding grants its credits there): until then its
// frames wait in the library's buffer, as before it was taken (4 frames here, the oldest dropped
// and counted), not in this API. With the event thread held up by a handler while it is taken
// and 20 frames arrive, the callback gets the last 4 once the handler returns, on the event
// thread, in order, the first of them reporting the frames dropped; a later frame follows with
// nothing lost, and on_end runs once, after the last frame, counting the same losses.
TEST_F(E2E, AutoSubscriptionInCallbackModeIsReadFromTheLibrarysBuffer) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob", auto_subscribing(4));
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("cb-buffered");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();

  // A handler holds the event thread up until the gate opens (on every way out, so that a failing
  // test does not leave it held).
  auto gate = std::make_shared<EventThreadGate>();
  bob.set_event_handler([gate](const lk::RoomEvent &e) {
    if (std::holds_alternative<lk::DataReceivedEvent>(e)) gate->hold();
  });
  GateOpener opener{gate};
  alice.publish_data("hold", {true, "hold", {}});
  ASSERT_TRUE(gate->wait_held()) << "the event thread was not held up";

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Numbered> got;
  std::vector<std::thread::id> threads;
  std::optional<lk::SubscriptionEnd> end;
  std::vector<size_t> ends_at;    // frames delivered when each on_end ran
  int32_t blocking_call = LK_OK;  // what a blocking call made in the first callback got
  lk::DataTrackSubscription sub = bob.subscribe(
      pub.track,
      [&](lk::Frame &&f) {
        std::unique_lock<std::mutex> l(mu);
        got.push_back({number(f.payload), f.dropped_before});
        threads.push_back(std::this_thread::get_id());
        cv.notify_all();
        if (got.size() > 1) return;
        l.unlock();
        try {
          bob.set_metadata("from the frame callback");
        } catch (const lk::Error &e) {
          l.lock();
          blocking_call = e.code();
        }
      },
      [&](const lk::SubscriptionEnd &e) {
        std::lock_guard<std::mutex> l(mu);
        end = e;
        ends_at.push_back(got.size());
        cv.notify_all();
      });
  EXPECT_EQ(client_b.live_handles(), 2u) << "subscribe must return the library's subscription";
  lk::Frame unused;
  EXPECT_EQ(sub.try_read(unused, 0).code(), LK_ERR_FAILED_PRECONDITION) << "callback mode cannot be read";
  lk::DataTrackSubscription probe = bob.subscribe(pub.track, witness_buffer());

  // The event thread is held up: frames pushed now wait in the library's buffer, which keeps
  // the last 4.
  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, probe, next).has_value()) << "frames never flowed";
  constexpr uint32_t kHeld = 20;
  for (uint32_t i = 0; i < kHeld; i++) track.push(numbered(next++, 16), 0, kGuard);
  track.flush(kGuard);
  const uint32_t last = next - 1;
  ASSERT_TRUE(read_until(probe, last)) << "the probe missed frame " << last;
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_TRUE(got.empty()) << "a frame was delivered while the event thread was held up";
  }
  opener();
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return !got.empty() && got.back().n == last; }))
        << "frame " << last << " did not arrive";
    ASSERT_EQ(got.size(), 4u) << "the library's buffer kept the last 4 frames";
    for (size_t i = 0; i < 4; i++) {
      EXPECT_EQ(got[i].n, last - 3 + i) << "the newest frames, in order";
      if (i > 0) {
        EXPECT_EQ(got[i].dropped_before, 0u);
      }
    }
    EXPECT_GE(got[0].dropped_before, uint64_t(kHeld - 4)) << "the frames the library's buffer dropped are reported";
  }

  track.push(numbered(next, 16), 0, kGuard);
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return got.back().n == next; })) << "the frame pushed after";
    EXPECT_EQ(got.size(), 5u);
    EXPECT_EQ(got.back().dropped_before, 0u);
    EXPECT_EQ(blocking_call, LK_ERR_FAILED_PRECONDITION) << "the frame callback runs on the event thread";
    for (const auto &t : threads) {
      EXPECT_EQ(t, threads.front()) << "every frame on the event thread";
      EXPECT_NE(t, std::this_thread::get_id());
    }
  }

  track.unpublish();
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return !ends_at.empty(); })) << "on_end did not run";
  EXPECT_EQ(end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(ends_at.front(), got.size()) << "no frame after the end";
  uint64_t reported = 0;
  for (const auto &g : got) reported += g.dropped_before;
  EXPECT_EQ(end->frames_dropped, reported) << "the end summary counts the losses the frames reported";
  l.unlock();
  bob.set_metadata("after the end");  // a round trip through the event thread
  l.lock();
  EXPECT_EQ(ends_at.size(), 1u) << "on_end ran more than once";
}

// Closing the client ends a waiting read of an auto-subscription (a pull subscription of the
// library, as any other) with LK_ERR_CLIENT_CLOSED, and later reads too.
TEST_F(E2E, AutoSubscriptionReadFailsOnceTheClientIsClosed) {
  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack track = alice.publish_data_track("closing");
  lk::RoomOptions opts = auto_subscribing();
  lk::Room bob(client_b, opts);
  lk::RoomSnapshot snap = bob.connect(sfu.url, token("bob"));
  ASSERT_EQ(snap.remote_data_tracks.size(), 1u);
  lk::DataTrackSubscription sub = bob.subscribe(snap.remote_data_tracks[0]);
  EXPECT_EQ(client_b.live_handles(), 2u);
  std::thread closer([&] {
    std::this_thread::sleep_for(100ms);  // (lets the read below start waiting first; not required)
    client_b.close();
  });
  lk::Frame f;
  lk::Status st = sub.try_read(f, int32_t(kGuard.count()));  // the close must end the wait
  closer.join();
  EXPECT_EQ(st.code(), LK_ERR_CLIENT_CLOSED) << st.name();
  expect_error(LK_ERR_CLIENT_CLOSED, [&] { sub.read(lk::Millis(0)); }, "read after close");
}

// A subscription taken from a room ends when the room is destroyed (the library sends no end
// event once the room's handle is dropped): waiting reads return, end() tells why and
// callback-mode subscriptions get their on_end — auto-subscriptions and explicit ones alike.
TEST_F(E2E, TakenSubscriptionsEndWhenTheirRoomIsDestroyed) {
  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack t1 = alice.publish_data_track("t1");
  lk::LocalDataTrack t2 = alice.publish_data_track("t2");
  auto bob = std::make_unique<lk::Room>(client_b, auto_subscribing());
  lk::RoomSnapshot snap = bob->connect(sfu.url, token("bob"));
  ASSERT_EQ(snap.remote_data_tracks.size(), 2u);
  lk::RemoteDataTrack r1, r2;
  for (const auto &t : snap.remote_data_tracks) (t.info.name == "t1" ? r1 : r2) = t;
  CallbackLog auto_log, explicit_log;
  lk::DataTrackSubscription auto_pull = bob->subscribe(r1);                       // the auto-subscription
  lk::DataTrackSubscription auto_cb = bob->subscribe(r2, auto_log.on_frame(), auto_log.on_end());
  lk::DataTrackSubscription explicit_pull = bob->subscribe(r1);                   // a further one
  lk::DataTrackSubscription explicit_cb = bob->subscribe(r2, explicit_log.on_frame(), explicit_log.on_end());

  // Reads waiting without a bound while the room goes away.
  auto read_forever = [](lk::DataTrackSubscription &s) {
    return std::async(std::launch::async, [&s] {
      lk::Frame f;
      for (;;) {
        lk::Status st = s.try_read(f, -1);
        if (!st.ok()) return st.code();
      }
    });
  };
  auto auto_read = read_forever(auto_pull);
  auto explicit_read = read_forever(explicit_pull);
  bob.reset();

  bool hung = false;
  for (auto *fut : {&auto_read, &explicit_read}) {
    if (fut->wait_for(kGuard) != std::future_status::ready) {
      hung = true;
      client_b.close();  // watchdog: ends the reads so that the test can fail instead of hanging
    }
  }
  EXPECT_FALSE(hung) << "a read waited on after its room was destroyed";
  EXPECT_EQ(auto_read.get(), LK_ERR_END_OF_STREAM);
  EXPECT_EQ(explicit_read.get(), LK_ERR_END_OF_STREAM);
  for (auto *s : {&auto_pull, &explicit_pull, &auto_cb, &explicit_cb}) {
    auto end = s->end();
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->reason, lk::SubscriptionEndReason::Disconnected);
    EXPECT_EQ(end->error_code, LK_OK);
    EXPECT_EQ(end->error_message, "the room was destroyed");
  }
  expect_error(LK_ERR_END_OF_STREAM, [&] { auto_pull.read(lk::Millis(-1)); }, "auto-subscription read after");
  expect_error(LK_ERR_END_OF_STREAM, [&] { explicit_pull.read(lk::Millis(-1)); }, "explicit read after");
  for (auto *log : {&auto_log, &explicit_log}) {
    EXPECT_TRUE(log->wait([&] { return log->end.has_value(); })) << "on_end did not run";
    std::lock_guard<std::mutex> l(log->mu);
    if (log->end) {
      EXPECT_EQ(log->end->reason, lk::SubscriptionEndReason::Disconnected);
    }
  }
}

// A full reconnect gives the publisher's tracks new sids: the RemoteDataTrack value bob holds
// keeps the old sid (events tell the new one: DataTrackSidChangedEvent, or unpublished then
// published). Subscribing with it still works because the binding
// names the track (SubscribeDataTrackRequest.track_name, ABI 1.9); with the sid alone the
// library answers NOT_FOUND once the old track is gone.
TEST_F(E2E, TrackHeldFromBeforeItsPublishersFullReconnectCanBeSubscribed) {
  lk::Room alice = join(client_a, "alice");
  Events ev_a(alice);
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("sensor", lk::DataTrackOptions{});
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();

  struct FaultOff {  // the server is shared by the suite's tests
    const Devsfu &s;
    ~FaultOff() { s.control("force-full-reconnect", "identity=alice on=false"); }
  } off{sfu};
  const std::string first_sid = track.info().sid;
  ASSERT_TRUE(sfu.control("force-full-reconnect", "identity=alice on=true"));
  ASSERT_TRUE(sfu.control("drop-signal", "identity=alice"));
  ev_a.wait<lk::ReconnectedEvent>([](const lk::ReconnectedEvent &e) { return e.kind == lk::ReconnectKind::Full; });
  // Alice's track, published again on her new session, shows its new sid (ABI 1.15).
  auto resid = ev_a.wait<lk::LocalDataTrackSidChangedEvent>();
  EXPECT_EQ(resid.track_handle, track.handle());
  EXPECT_EQ(resid.old_sid, first_sid);
  EXPECT_NE(resid.info.sid, first_sid);
  EXPECT_EQ(track.info().sid, resid.info.sid);
  EXPECT_EQ(track.info().name, "sensor");

  // Until bob's library has seen the track again, subscribing finds no track of that name
  // (the old one is gone, the new one not announced yet) or attaches to the old one, which
  // carries nothing: retried within the guard (without the name it never succeeds).
  std::optional<lk::Frame> got;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !got && std::chrono::steady_clock::now() < deadline;) {
    lk::SubscribeOptions so;
    so.buffer_size = 8;
    std::optional<lk::DataTrackSubscription> maybe;
    try {
      maybe.emplace(bob.subscribe(pub.track, so));  // the RemoteDataTrack from before
    } catch (const lk::Error &e) {
      if (e.code() != LK_ERR_NOT_FOUND) throw;
      std::this_thread::sleep_for(20ms);
      continue;
    }
    lk::DataTrackSubscription &sub = *maybe;
    std::atomic<bool> done{false};
    std::thread pusher = warm_up(track, "after", 7, done);
    try {
      got = sub.read(lk::Millis(1000));
    } catch (const lk::Error &e) {  // the old track ended under it: retried
      if (e.code() != LK_ERR_END_OF_STREAM) ADD_FAILURE() << "read: " << e.what();
    }
    done = true;
    pusher.join();
  }
  ASSERT_TRUE(got.has_value()) << "no frame through a subscription made after the full reconnect";
  EXPECT_EQ(got->payload.view(), "after");

  // Events alone tell bob the new sid (the one his library has now): a DataTrackSidChangedEvent,
  // or, depending on the order of the server's updates, the old track unpublished and one of
  // the same name published.
  std::string now;
  for (const auto &t : bob.remote_data_tracks())
    if (t.publisher_identity == "alice" && t.info.name == "sensor") now = t.info.sid;
  ASSERT_FALSE(now.empty());
  ASSERT_NE(now, pub.track.info.sid);
  auto changed = [&](const lk::DataTrackSidChangedEvent &e) {
    return e.publisher_identity == "alice" && e.name == "sensor" && e.old_sid == pub.track.info.sid && e.sid == now;
  };
  auto gone = [&](const lk::DataTrackUnpublishedEvent &e) { return e.sid == pub.track.info.sid; };
  auto back = [&](const lk::DataTrackPublishedEvent &e) { return e.track.info.sid == now; };
  bool told = false;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !told && std::chrono::steady_clock::now() < deadline;) {
    told = ev_b.count<lk::DataTrackSidChangedEvent>(changed) > 0 ||
           (ev_b.count<lk::DataTrackUnpublishedEvent>(gone) > 0 && ev_b.count<lk::DataTrackPublishedEvent>(back) > 0);
    if (!told) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(told) << "no event told the track's new sid " << now;
}

// The room's own full reconnect (ABI 1.15): alice, in the room all along, is not reported gone
// and back, so the auto-subscription bob's library opened for her track and bob has not taken
// yet survives it (before, the binding released it when alice was "disconnected"): taking it
// afterwards returns that subscription, and alice's frames flow through it.
TEST_F(E2E, UntakenAutoSubscriptionOutlivesTheRoomsOwnFullReconnect) {
  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack track = alice.publish_data_track("sensor");
  Joined jb = join_with_events(client_b, "bob", auto_subscribing());
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::RoomSnapshot &snap = jb.snapshot;
  ASSERT_EQ(snap.remote_data_tracks.size(), 1u);
  ASSERT_EQ(client_b.live_handles(), 2u) << "the room and its auto-subscription";

  struct FaultOff {  // the server is shared by the suite's tests
    const Devsfu &s;
    ~FaultOff() { s.control("force-full-reconnect", "identity=bob on=false"); }
  } off{sfu};
  ASSERT_TRUE(sfu.control("force-full-reconnect", "identity=bob on=true"));
  ASSERT_TRUE(sfu.control("drop-signal", "identity=bob"));
  ev_b.wait<lk::ReconnectedEvent>([](const lk::ReconnectedEvent &e) { return e.kind == lk::ReconnectKind::Full; });
  EXPECT_EQ(ev_b.count<lk::ParticipantDisconnectedEvent>(), 0u) << "alice, who stayed, reported gone";
  EXPECT_EQ(ev_b.count<lk::ParticipantConnectedEvent>(), 0u) << "alice, who stayed, announced again";
  EXPECT_EQ(ev_b.count<lk::DataTrackUnpublishedEvent>(), 0u);
  EXPECT_EQ(client_b.live_handles(), 2u) << "the untaken auto-subscription was released";

  lk::DataTrackSubscription sub = bob.subscribe(snap.remote_data_tracks[0]);
  EXPECT_EQ(client_b.live_handles(), 2u) << "subscribe must return the library's subscription";
  std::atomic<bool> done{false};
  std::thread pusher = warm_up(track, "after", 9, done);
  std::optional<lk::Frame> got;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !got && std::chrono::steady_clock::now() < deadline;)
    got = sub.read(lk::Millis(1000));
  done = true;
  pusher.join();
  ASSERT_TRUE(got.has_value()) << "no frame through the auto-subscription after the full reconnect";
  EXPECT_EQ(got->payload.view(), "after");
}

// An untaken auto-subscription is found by (publisher, track name): a publisher's full reconnect
// renews its tracks' sids, and a RemoteDataTrack value the application holds keeps the sid it
// had, so it may hold the track under another sid than the library's (here made by hand).
// Subscribing with it takes the library's subscription instead of opening a second one.
TEST_F(E2E, AutoSubscriptionIsFoundByPublisherAndName) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob", auto_subscribing());
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("sensor");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  EXPECT_EQ(client_b.live_handles(), 2u);  // room + the auto-subscription

  lk::RemoteDataTrack renewed = pub.track;
  renewed.info.sid = "DTR_renewed";
  lk::DataTrackSubscription sub = bob.subscribe(renewed);
  EXPECT_EQ(client_b.live_handles(), 2u) << "the auto-subscription was taken, no second one opened";
  EXPECT_EQ(sub.track().info.sid, pub.track.info.sid) << "the library's subscription, of the announced track";
}

// Subscription permissions (ABI 1.20): alice allows carol only, which revokes bob's permission to
// her track, then allows everyone again. Bob is told each answer with the track's publisher,
// name and sid (DataTrackSubscriptionPermissionChangedEvent), and his subscription stays open
// through both: frames pushed after the grant reach the same subscription, and neither the API
// nor the library opened another one. A permission without an identity is refused. Whether
// bob's subscription is revoked now (RemoteDataTrack::subscription_revoked, ABI 1.23) is false
// while allowed, true once the revocation reached him and false again after the grant, in his
// snapshots (Room::snapshot, and the SnapshotTakenEvent asked for while revoked) and in his
// subscription's track().
TEST_F(E2E, SubscriptionPermissionsRevokeAndGrantAnOpenSubscription) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("sensor");
  const std::string sid = track.info().sid;
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  EXPECT_FALSE(pub.track.subscription_revoked) << "not subscribed yet";
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);
  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, sub, next).has_value()) << "no frame reached bob";
  // alice's track in one of bob's snapshots (fails the test if it is missing).
  auto sensor_in = [](const lk::RoomSnapshot &snap) {
    for (const auto &t : snap.remote_data_tracks)
      if (t.publisher_identity == "alice" && t.info.name == "sensor") return t;
    ADD_FAILURE() << "alice's track is not in bob's snapshot";
    return lk::RemoteDataTrack{};
  };
  EXPECT_FALSE(sensor_in(bob.snapshot()).subscription_revoked) << "established and allowed";
  EXPECT_FALSE(sub.track().subscription_revoked);

  for (const auto &bad : std::vector<lk::TrackPermission>{{"", true, {}}, {"", false, {sid}}})
    expect_error(
        LK_ERR_INVALID_ARGUMENT, [&] { alice.set_track_subscription_permissions(false, {bad}); }, "empty identity");

  alice.set_track_subscription_permissions(false, {{"carol", true, {}}});
  auto revoked = ev_b.wait<lk::DataTrackSubscriptionPermissionChangedEvent>();
  EXPECT_FALSE(revoked.allowed);
  EXPECT_EQ(revoked.publisher_identity, "alice");
  EXPECT_EQ(revoked.name, "sensor");
  EXPECT_EQ(revoked.sid, sid);
  EXPECT_FALSE(sub.end().has_value()) << "a revoked subscription stays open";
  EXPECT_TRUE(sensor_in(bob.snapshot()).subscription_revoked) << "revoked after the event";
  EXPECT_TRUE(sub.track().subscription_revoked) << "the subscription's track follows the event";
  bob.request_snapshot();
  EXPECT_TRUE(sensor_in(ev_b.wait<lk::SnapshotTakenEvent>().snapshot).subscription_revoked);

  alice.set_track_subscription_permissions(true);
  auto granted = ev_b.wait<lk::DataTrackSubscriptionPermissionChangedEvent>();
  EXPECT_TRUE(granted.allowed);
  EXPECT_EQ(granted.publisher_identity, "alice");
  EXPECT_EQ(granted.name, "sensor");
  EXPECT_EQ(granted.sid, sid);
  EXPECT_FALSE(sensor_in(bob.snapshot()).subscription_revoked) << "allowed again after the event";
  EXPECT_FALSE(sub.track().subscription_revoked);

  // Frames flow again on the same subscription: one pushed after the grant arrives (frames it
  // still holds from before the revocation are read past).
  const uint32_t after_grant = next;
  bool resumed = false;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard;
       !resumed && std::chrono::steady_clock::now() < deadline;) {
    track.push(numbered(next++, 16), 0, kGuard);
    while (auto f = sub.read(lk::Millis(20)))
      if (number(f->payload) >= after_grant) {
        resumed = true;
        break;
      }
  }
  EXPECT_TRUE(resumed) << "no frame reached the subscription after the grant";
  EXPECT_FALSE(sub.end().has_value());
  EXPECT_EQ(client_b.live_handles(), 2u) << "room + the one subscription";
  EXPECT_EQ(ev_b.count<lk::DataTrackSubscriptionPermissionChangedEvent>(), 2u);
  EXPECT_EQ(ev_b.count<lk::DataTrackUnpublishedEvent>(), 0u);
}

// Connection quality (ABI 1.22): the server rates each participant to itself and to those
// subscribed to one of its tracks, when one joins or a rating changes (every 200 ms in this
// suite), each as a ParticipantUpdatedEvent with connection_quality_changed alone. Alice and bob
// are told their own Excellent (before: Unknown) on joining, bob before he subscribes, so he has
// no rating of alice. Once his subscription to her track is established (a frame arrived),
// devsfu rating alice Poor reaches bob (before: Unknown) and alice (before: Excellent), and the
// snapshots hold the new rating.
TEST_F(E2E, ConnectionQualityOfAPublisherReachesItselfAndItsSubscriber) {
  using Q = lk::ConnectionQuality;
  auto rated = [](const std::string &who, Q q) {
    return std::function<bool(const lk::ParticipantUpdatedEvent &)>([who, q](const lk::ParticipantUpdatedEvent &e) {
      return e.connection_quality_changed && e.info.identity == who && e.info.connection_quality == q;
    });
  };
  auto only_quality = [](const lk::ParticipantUpdatedEvent &e) {
    return !e.name_changed && !e.metadata_changed && !e.permission_changed && e.changed_attributes.empty();
  };
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev_a = ja.events;
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;

  // Each is rated at once as a new participant. A rating that came before connect() returned is
  // in the room's state, not an event: wait for the state, then check the event if there is one.
  for (lk::Room *r : {&alice, &bob}) {
    auto deadline = std::chrono::steady_clock::now() + kGuard;
    while (r->local_participant().connection_quality != Q::Excellent && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(alice.local_participant().connection_quality, Q::Excellent);
  ASSERT_EQ(bob.local_participant().connection_quality, Q::Excellent);
  for (Events *ev : {&ev_a, &ev_b})
    EXPECT_EQ(ev->count<lk::ParticipantUpdatedEvent>([&](const lk::ParticipantUpdatedEvent &e) {
      return e.connection_quality_changed &&
             (e.old_connection_quality != Q::Unknown || e.info.connection_quality != Q::Excellent || !only_quality(e));
    }),
              0u);
  auto ra = bob.remote_participant("alice");
  ASSERT_TRUE(ra.has_value());
  EXPECT_EQ(ra->connection_quality, Q::Unknown) << "bob subscribes to nothing of alice's yet";

  lk::LocalDataTrack track = alice.publish_data_track("sensor");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);
  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, sub, next).has_value()) << "no frame reached bob";

  ASSERT_TRUE(sfu.control("connection-quality", "room=" + room + " identity=alice quality=POOR"));
  auto to_bob = ev_b.wait<lk::ParticipantUpdatedEvent>(rated("alice", Q::Poor));
  EXPECT_EQ(to_bob.old_connection_quality, Q::Unknown) << "bob had not been told alice's rating";
  EXPECT_TRUE(only_quality(to_bob));
  auto to_alice = ev_a.wait<lk::ParticipantUpdatedEvent>(rated("alice", Q::Poor));
  EXPECT_EQ(to_alice.old_connection_quality, Q::Excellent);
  EXPECT_TRUE(only_quality(to_alice));

  ra = bob.remote_participant("alice");
  ASSERT_TRUE(ra.has_value());
  EXPECT_EQ(ra->connection_quality, Q::Poor);
  EXPECT_EQ(bob.local_participant().connection_quality, Q::Excellent);
  EXPECT_EQ(alice.local_participant().connection_quality, Q::Poor);
  EXPECT_EQ(ev_b.count<lk::ParticipantUpdatedEvent>([](auto &e) { return e.info.identity == "alice"; }), 1u)
      << "bob was told alice's rating once, when it changed";
}

// Active speakers (ABI 1.29): the server sends speaker updates about each participant to itself
// and to those subscribed to one of its tracks (a data track here; every 50 ms in this suite,
// levels quantised up to eighths). Bob subscribes to alice's track, alice to nothing of bob's.
// Each level devsfu is given reaches the speaker (and bob for alice) as a ParticipantUpdatedEvent
// with speaking_changed alone, then the ActiveSpeakersChangedEvent with the library's list,
// loudest first and not alphabetical ([bob, alice]): alice 0.4 -> [alice] (0.5), bob 0.9 ->
// [bob, alice] (1.0), alice 0 -> [bob], bob 0 -> []. The snapshots (Room::snapshot and
// SnapshotTakenEvent) hold the same list and levels, and nothing else is reported.
TEST_F(E2E, ActiveSpeakersReachTheSpeakerAndItsSubscriberLoudestFirst) {
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev_a = ja.events;
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  EXPECT_TRUE(ja.snapshot.active_speakers.empty());
  EXPECT_TRUE(jb.snapshot.active_speakers.empty());
  EXPECT_FALSE(jb.snapshot.local_participant.is_speaking);

  lk::LocalDataTrack track = alice.publish_data_track("mic-level");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);
  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, sub, next).has_value()) << "no frame reached bob";

  auto set_level = [&](const std::string &who, const std::string &level) {
    return sfu.control("audio-level", "room=" + room + " identity=" + who + " level=" + level);
  };
  using Ids = std::vector<std::string>;

  ASSERT_TRUE(set_level("alice", "0.4"));
  expect_speaking_update(ev_b, "alice", true, 0.5f);
  EXPECT_EQ(next_speaker_list(ev_b), (Ids{"alice"}));
  expect_speaking_update(ev_a, "alice", true, 0.5f);
  EXPECT_EQ(next_speaker_list(ev_a), (Ids{"alice"}));
  auto ra = bob.remote_participant("alice");
  ASSERT_TRUE(ra.has_value());
  EXPECT_TRUE(ra->is_speaking);
  EXPECT_EQ(ra->audio_level, 0.5f);
  EXPECT_EQ(alice.local_participant().audio_level, 0.5f);

  ASSERT_TRUE(set_level("bob", "0.9"));
  expect_speaking_update(ev_b, "bob", true, 1.0f);
  EXPECT_EQ(next_speaker_list(ev_b), (Ids{"bob", "alice"})) << "loudest first";
  lk::RoomSnapshot now = bob.snapshot();
  EXPECT_EQ(now.active_speakers, (Ids{"bob", "alice"}));
  EXPECT_TRUE(now.local_participant.is_speaking);
  EXPECT_EQ(now.local_participant.audio_level, 1.0f);
  ASSERT_EQ(now.remote_participants.size(), 1u);
  EXPECT_TRUE(now.remote_participants[0].is_speaking);
  EXPECT_EQ(now.remote_participants[0].audio_level, 0.5f);
  bob.request_snapshot();
  lk::RoomSnapshot taken = ev_b.wait<lk::SnapshotTakenEvent>().snapshot;
  EXPECT_EQ(taken.active_speakers, (Ids{"bob", "alice"}));
  EXPECT_EQ(taken.local_participant.audio_level, 1.0f);
  ASSERT_EQ(taken.remote_participants.size(), 1u);
  EXPECT_EQ(taken.remote_participants[0].audio_level, 0.5f);
  EXPECT_EQ(alice.snapshot().active_speakers, (Ids{"alice"})) << "alice subscribes to nothing of bob's";
  EXPECT_FALSE(alice.remote_participant("bob").value_or(lk::ParticipantInfo{}).is_speaking);

  ASSERT_TRUE(set_level("alice", "0"));
  expect_speaking_update(ev_b, "alice", false, 0.0f);
  EXPECT_EQ(next_speaker_list(ev_b), (Ids{"bob"}));
  expect_speaking_update(ev_a, "alice", false, 0.0f);
  EXPECT_EQ(next_speaker_list(ev_a), (Ids{}));

  ASSERT_TRUE(set_level("bob", "0"));
  expect_speaking_update(ev_b, "bob", false, 0.0f);
  EXPECT_EQ(next_speaker_list(ev_b), (Ids{}));
  now = bob.snapshot();
  EXPECT_TRUE(now.active_speakers.empty());
  EXPECT_FALSE(now.local_participant.is_speaking);
  EXPECT_EQ(now.local_participant.audio_level, 0.0f);
  ASSERT_EQ(now.remote_participants.size(), 1u);
  EXPECT_FALSE(now.remote_participants[0].is_speaking);
  EXPECT_TRUE(alice.snapshot().active_speakers.empty());

  // Everything each heard about speakers, in order: each list after the update that changed it,
  // and nothing more (no list repeated, no update for an unchanged level).
  auto heard = speaker_history;
  EXPECT_EQ(heard(ev_b), (std::vector<std::string>{"alice 0.500000", "[alice]", "bob 1.000000", "[bob,alice]",
                                                   "alice silent", "[bob]", "bob silent", "[]"}));
  EXPECT_EQ(heard(ev_a), (std::vector<std::string>{"alice 0.500000", "[alice]", "alice silent", "[]"}));
}

// SimulateScenario::SpeakerUpdate (ABI 1.29; devsfu does as livekit-server): the server reports
// alice speaking at 0.9 (unquantised) to herself and to bob, who subscribes to her data track,
// then, 3 s later, stopped. Each hears a ParticipantUpdatedEvent (speaking_changed alone) about
// alice at 0.9 with the list [alice], then alice silent with []: no sooner than 3 s after the
// call, and nothing else about speakers. No fault: no reconnection, the same session, the
// subscription still delivering.
TEST_F(E2E, SimulateSpeakerUpdateReportsTheLocalParticipantSpeakingForThreeSeconds) {
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev_a = ja.events;
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  const std::string sid = ja.snapshot.local_participant.sid;

  lk::LocalDataTrack track = alice.publish_data_track("mic-level");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);
  uint32_t next = 0;
  ASSERT_TRUE(push_until_read(track, sub, next).has_value()) << "no frame reached bob";

  // Each wait is bounded by kGuard (30 s): the stop comes after 3 s.
  using Ids = std::vector<std::string>;

  const auto t0 = std::chrono::steady_clock::now();
  alice.simulate_scenario(lk::SimulateScenario::SpeakerUpdate);
  expect_speaking_update(ev_a, "alice", true, 0.9f);
  EXPECT_EQ(next_speaker_list(ev_a), (Ids{"alice"}));
  expect_speaking_update(ev_b, "alice", true, 0.9f);
  EXPECT_EQ(next_speaker_list(ev_b), (Ids{"alice"}));

  expect_speaking_update(ev_a, "alice", false, 0.0f);
  EXPECT_EQ(next_speaker_list(ev_a), (Ids{}));
  expect_speaking_update(ev_b, "alice", false, 0.0f);
  EXPECT_EQ(next_speaker_list(ev_b), (Ids{}));
  // The server stops it 3 s after it received the request, which it did after t0.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 3s) << "stopped before the 3 s the scenario asks for";

  const std::vector<std::string> once = {"alice 0.900000", "[alice]", "alice silent", "[]"};
  EXPECT_EQ(speaker_history(ev_a), once);
  EXPECT_EQ(speaker_history(ev_b), once);
  EXPECT_TRUE(alice.snapshot().active_speakers.empty());
  EXPECT_TRUE(bob.snapshot().active_speakers.empty());
  EXPECT_FALSE(alice.local_participant().is_speaking);
  EXPECT_FALSE(bob.remote_participant("alice").value_or(lk::ParticipantInfo{}).is_speaking);

  // No fault: no reconnection or disconnection on either side, alice's session kept, and bob's
  // subscription still delivering.
  for (Events *ev : {&ev_a, &ev_b}) {
    EXPECT_EQ(ev->count<lk::ReconnectingEvent>(), 0u);
    EXPECT_EQ(ev->count<lk::DisconnectedEvent>(), 0u);
  }
  EXPECT_EQ(alice.local_participant().sid, sid);
  EXPECT_TRUE(push_until_read(track, sub, next).has_value()) << "frames stopped reaching bob";
}

// Data-track schema definitions (ABI 1.23; the suite's devsfu stores them, as a LiveKit server
// with enable_participant_data_blob): alice defines "Pose" in the protobuf encoding and bob
// reads the exact text back by her identity; the same name in another encoding is another
// schema (LK_ERR_NOT_FOUND), an empty name is refused (LK_ERR_INVALID_ARGUMENT), and a second
// define of the same schema replaces the definition bob reads.
TEST_F(E2E, SchemaDefinitionIsReadBackByIdentityAndReplacedByAnotherDefine) {
  const std::string pose = "syntax = \"proto3\";\n\n// Pose — a position in metres.\nmessage Pose {\n"
                           "  double x = 1;\n  double y = 2;\n  double z = 3;\n}\n";
  const std::string pose2 = pose.substr(0, pose.size() - 2) + "  double yaw = 4;\n}\n";
  lk::Room alice = join(client_a, "alice");
  lk::Room bob = join(client_b, "bob");

  alice.define_schema("Pose", pose, "protobuf");
  EXPECT_EQ(bob.get_schema("alice", "Pose", "protobuf"), pose);
  EXPECT_EQ(alice.get_schema("alice", "Pose", "protobuf"), pose) << "the local participant's own";
  expect_error(LK_ERR_NOT_FOUND, [&] { (void)bob.get_schema("alice", "Pose", "json_schema"); }, "another encoding");
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { alice.define_schema("", pose, "protobuf"); }, "an empty name");

  alice.define_schema("Pose", pose2, "protobuf");
  EXPECT_EQ(bob.get_schema("alice", "Pose", "protobuf"), pose2) << "the second define replaces the first";
}
