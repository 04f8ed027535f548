// Data tracks against devsfu: publish, pull and callback subscriptions, 100 KB frames, ends.
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

// Pushes with retry while the queue is full (the caller's back-pressure loop).
void push_retrying(lk::LocalDataTrack &t, const std::string &frame, uint64_t ts) {
  auto deadline = std::chrono::steady_clock::now() + kGuard;
  for (;;) {
    lk::Status s = t.try_push(reinterpret_cast<const uint8_t *>(frame.data()), frame.size(), ts);
    if (s.ok()) return;
    ASSERT_EQ(s.code(), LK_ERR_QUEUE_FULL) << s.name();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "queue stayed full";
    std::this_thread::sleep_for(2ms);
  }
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

}  // namespace

TEST_F(E2E, DataTrackPullSubscriptionWith100KBFrames) {
  lk::Room alice = join(client_a, "alice");
  lk::Room bob(client_b);
  Events ev_b(bob);
  bob.connect(sfu.url, token("bob"));

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
  so.buffer_size = 64;
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
    push_retrying(track, numbered(i, kSize), 1000 + i);
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

TEST_F(E2E, DataTrackCallbackSubscriptionAndRelease) {
  lk::Room alice = join(client_a, "alice");
  lk::Room bob(client_b);
  Events ev_b(bob);
  bob.connect(sfu.url, token("bob"));
  auto track = std::make_unique<lk::LocalDataTrack>(alice.publish_data_track("cb"));
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> frames;
  std::optional<lk::SubscriptionEnd> ended;
  auto sub = bob.subscribe(
      pub.track,
      [&](lk::Frame &&f) {
        std::lock_guard<std::mutex> l(mu);
        frames.push_back(f.payload.str());
        cv.notify_all();
      },
      [&](const lk::SubscriptionEnd &e) {
        std::lock_guard<std::mutex> l(mu);
        ended = e;
        cv.notify_all();
      });
  lk::Frame unused;
  EXPECT_EQ(sub.try_read(unused, 0).code(), LK_ERR_FAILED_PRECONDITION) << "callback mode cannot be read";
  std::atomic<bool> done{false};
  std::thread pusher = warm_up(*track, std::string(100 * 1024, 'x'), 5, done);
  {
    std::unique_lock<std::mutex> l(mu);
    EXPECT_TRUE(cv.wait_for(l, kGuard, [&] { return !frames.empty(); }));
  }
  done = true;
  pusher.join();
  EXPECT_EQ(frames.front(), std::string(100 * 1024, 'x'));

  // Destroying the local track unpublishes it: the subscription ends, once.
  track.reset();
  EXPECT_EQ(client_a.live_handles(), 1u);
  {
    std::unique_lock<std::mutex> l(mu);
    EXPECT_TRUE(cv.wait_for(l, kGuard, [&] { return ended.has_value(); }));
  }
  EXPECT_EQ(ended->reason, lk::SubscriptionEndReason::Unpublished);
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
  lk::Room bob(client_b);
  Events ev_b(bob);
  auto snap = bob.connect(sfu.url, token("bob"));
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
  lk::Room bob(client_b);
  Events ev_b(bob);
  bob.connect(sfu.url, token("bob"));
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
