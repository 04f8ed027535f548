// An auto-subscription (RoomOptions::auto_subscribe) taken in callback mode after its frames have
// waited in the library's buffer, against devsfu. The frames' arrival is shown by a witness: a
// second pull subscription of the track in the same room, opened through the library directly,
// since Room::subscribe would take the auto-subscription itself (hence a test of this program,
// which is built with the binding's sources).
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "internal.hpp"

using namespace lktest;

namespace {

std::string numbered(uint32_t i) {
  std::string f = random_bytes(16, 2000 + i);
  for (int b = 0; b < 4; b++) f[b] = char((i >> (24 - 8 * b)) & 0xFF);
  return f;
}

uint32_t number(const lk::Buffer &b) {
  const uint8_t *p = b.data();
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// Witness is a pull subscription of track in room made with a raw SubscribeDataTrackRequest:
// the library puts each frame into every subscription of the track in the room at once, so a
// frame it reads is in the auto-subscription's buffer too (or counted as dropped by it).
class Witness {
 public:
  Witness(lk::Room &room, const lk::RemoteDataTrack &track) {
    auto st = lk::detail::Access::room(room);
    client_ = st->client;
    lk::pb::Request req;
    auto *p = req.mutable_subscribe_data_track();
    p->set_room_handle(st->handle);
    p->set_publisher_identity(track.publisher_identity);
    p->set_track_sid(track.info.sid);
    p->set_track_name(track.info.name);
    p->set_buffer_size(4096);  // far more than any burst here
    p->set_delivery(lk::pb::DELIVERY_MODE_PULL);
    handle_ = client_->request(req).subscribe_data_track().subscription().handle();
  }
  ~Witness() { client_->drop_handle(handle_); }
  Witness(const Witness &) = delete;
  Witness &operator=(const Witness &) = delete;

  // The number of the next frame within timeout, if one came.
  std::optional<uint32_t> read(lk::Millis timeout) {
    lk::Frame f;
    if (lk::detail::read_frame(client_->id(), handle_, int32_t(timeout.count()), f) != LK_OK) return std::nullopt;
    return number(f.payload);
  }
  // Reads until the frame numbered n; false if it did not come within kGuard.
  bool read_until(uint32_t n) {
    for (;;) {
      std::optional<uint32_t> got = read(kGuard);
      if (!got) return false;
      if (*got == n) return true;
    }
  }

 private:
  std::shared_ptr<lk::detail::ClientImpl> client_;
  lk_handle_t handle_ = 0;
};

}  // namespace

// Frames that waited in the library's buffer for an untaken auto-subscription (4 frames here)
// are what the callback gets first when it is taken in callback mode: the last 4 of 20 frames
// pushed before, the first of them reporting the frames dropped, on the event thread; a frame
// pushed after follows with nothing lost, and the end follows the last frame, counting the same
// losses.
TEST_F(E2E, AutoSubscriptionTakenInCallbackModeGetsTheFramesThatWaited) {
  lk::Room alice = join(client_a, "alice");
  lk::RoomOptions opts;
  opts.auto_subscribe = true;
  opts.data_track_buffer_size = 4;
  lk::Room bob(client_b, opts);
  Events ev_b(bob);
  bob.connect(sfu.url, token("bob"));
  lk::LocalDataTrack track = alice.publish_data_track("waited");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  Witness witness(bob, pub.track);
  EXPECT_EQ(client_b.live_handles(), 3u) << "room, untaken auto-subscription, witness";

  uint32_t next = 0;
  bool flowing = false;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !flowing && std::chrono::steady_clock::now() < deadline;) {
    track.push(numbered(next++), 0, kGuard);
    flowing = witness.read(lk::Millis(20)).has_value();
  }
  ASSERT_TRUE(flowing) << "frames never flowed";
  constexpr uint32_t kWaiting = 20;
  for (uint32_t i = 0; i < kWaiting; i++) track.push(numbered(next++), 0, kGuard);
  track.flush(kGuard);
  const uint32_t last = next - 1;
  ASSERT_TRUE(witness.read_until(last)) << "the witness missed frame " << last;

  struct Got {
    uint32_t n;
    uint64_t dropped_before;
    bool on_event_thread;
  };
  std::shared_ptr<lk::detail::ClientImpl> client = lk::detail::Access::room(bob)->client;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Got> got;
  std::optional<lk::SubscriptionEnd> end;
  size_t frames_at_end = 0;
  lk::DataTrackSubscription sub = bob.subscribe(
      pub.track,
      [&](lk::Frame &&f) {
        std::lock_guard<std::mutex> l(mu);
        got.push_back({number(f.payload), f.dropped_before, client->on_event_thread()});
        cv.notify_all();
      },
      [&](const lk::SubscriptionEnd &e) {
        std::lock_guard<std::mutex> l(mu);
        end = e;
        frames_at_end = got.size();
        cv.notify_all();
      });
  EXPECT_EQ(client_b.live_handles(), 3u) << "subscribe must return the library's subscription";
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return !got.empty() && got.back().n == last; }))
        << "the frames that waited did not reach the callback";
    ASSERT_EQ(got.size(), 4u) << "the library's buffer kept the last 4 frames";
    for (size_t i = 0; i < 4; i++) {
      EXPECT_EQ(got[i].n, last - 3 + i) << "the newest frames, in order";
      EXPECT_TRUE(got[i].on_event_thread) << "frames are delivered on the event thread";
      if (i > 0) EXPECT_EQ(got[i].dropped_before, 0u);
    }
    EXPECT_GE(got[0].dropped_before, uint64_t(kWaiting - 4)) << "the frames dropped before the first kept";
  }

  track.push(numbered(next), 0, kGuard);
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return got.back().n == next; })) << "the frame pushed after the take";
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(got.back().dropped_before, 0u);
  EXPECT_TRUE(got.back().on_event_thread);
  l.unlock();

  track.unpublish();
  l.lock();
  ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return end.has_value(); })) << "on_end did not run";
  EXPECT_EQ(end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(frames_at_end, got.size()) << "no frame after the end";
  uint64_t reported = 0;
  for (const auto &g : got) reported += g.dropped_before;
  EXPECT_EQ(end->frames_dropped, reported) << "the end summary counts the losses the frames reported";
}
