// An auto-subscription (RoomOptions::auto_subscribe) taken in callback mode after its frames have
// waited in the library's buffer (and after its track was unpublished), against devsfu. The frames' arrival is shown by a witness: a
// second pull subscription of the track in the same room, opened through the library directly,
// since Room::subscribe would take the auto-subscription itself (hence a test of this program,
// which is built with the binding's sources).
#include <chrono>
#include <condition_variable>
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

// Delivered records what a callback-mode subscription delivers: each frame's number and loss
// count and whether it came on the event thread, and how many frames had come when each on_end
// ran (with the end itself).
struct Delivered {
  struct Got {
    uint32_t n;
    uint64_t dropped_before;
    bool on_event_thread;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Got> got;
  std::vector<size_t> ends_at;
  std::optional<lk::SubscriptionEnd> end;

  lk::FrameHandler on_frame(std::shared_ptr<lk::detail::ClientImpl> client) {
    return [this, client](lk::Frame &&f) {
      std::lock_guard<std::mutex> l(mu);
      got.push_back({number(f.payload), f.dropped_before, client->on_event_thread()});
      cv.notify_all();
    };
  }
  // The losses the delivered frames reported (dropped_before), with mu held.
  uint64_t reported_losses() const {
    uint64_t n = 0;
    for (const auto &g : got) n += g.dropped_before;
    return n;
  }
  lk::SubscriptionEndHandler on_end() {
    return [this](const lk::SubscriptionEnd &e) {
      std::lock_guard<std::mutex> l(mu);
      end = e;
      ends_at.push_back(got.size());
      cv.notify_all();
    };
  }
};

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
  // Pushes numbered frames on track, from next on, until the witness reads one (the track's
  // subscriptions then receive); false if none came within kGuard.
  bool push_until_flowing(lk::LocalDataTrack &track, uint32_t &next) {
    for (auto deadline = std::chrono::steady_clock::now() + kGuard; std::chrono::steady_clock::now() < deadline;) {
      track.push(numbered(next++), 0, kGuard);
      if (read(lk::Millis(20)).has_value()) return true;
    }
    return false;
  }
  // Reads until the frame numbered n; false if it did not come within kGuard.
  bool read_until(uint32_t n) {
    for (;;) {
      std::optional<uint32_t> got = read(kGuard);
      if (!got) return false;
      if (*got == n) return true;
    }
  }
  // Reads until the subscription ended (LK_ERR_END_OF_STREAM); false if it did not within kGuard.
  bool read_until_end() {
    for (;;) {
      lk::Frame f;
      int32_t st = lk::detail::read_frame(client_->id(), handle_, int32_t(kGuard.count()), f);
      if (st == LK_ERR_END_OF_STREAM) return true;
      if (st != LK_OK) return false;
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
  Joined jb = join_with_events(client_b, "bob", auto_subscribing(4));
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("waited");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  Witness witness(bob, pub.track);
  EXPECT_EQ(client_b.live_handles(), 3u) << "room, untaken auto-subscription, witness";

  uint32_t next = 0;
  ASSERT_TRUE(witness.push_until_flowing(track, next)) << "frames never flowed";
  constexpr uint32_t kWaiting = 20;
  for (uint32_t i = 0; i < kWaiting; i++) track.push(numbered(next++), 0, kGuard);
  track.flush(kGuard);
  const uint32_t last = next - 1;
  ASSERT_TRUE(witness.read_until(last)) << "the witness missed frame " << last;

  Delivered d;
  lk::DataTrackSubscription sub = bob.subscribe(pub.track, d.on_frame(lk::detail::Access::room(bob)->client), d.on_end());
  EXPECT_EQ(client_b.live_handles(), 3u) << "subscribe must return the library's subscription";
  {
    std::unique_lock<std::mutex> l(d.mu);
    ASSERT_TRUE(d.cv.wait_for(l, kGuard, [&] { return !d.got.empty() && d.got.back().n == last; }))
        << "the frames that waited did not reach the callback";
    ASSERT_EQ(d.got.size(), 4u) << "the library's buffer kept the last 4 frames";
    for (size_t i = 0; i < 4; i++) {
      EXPECT_EQ(d.got[i].n, last - 3 + i) << "the newest frames, in order";
      EXPECT_TRUE(d.got[i].on_event_thread) << "frames are delivered on the event thread";
      if (i > 0) EXPECT_EQ(d.got[i].dropped_before, 0u);
    }
    EXPECT_GE(d.got[0].dropped_before, uint64_t(kWaiting - 4)) << "the frames dropped before the first kept";
  }

  track.push(numbered(next), 0, kGuard);
  std::unique_lock<std::mutex> l(d.mu);
  ASSERT_TRUE(d.cv.wait_for(l, kGuard, [&] { return d.got.back().n == next; })) << "the frame pushed after the take";
  EXPECT_EQ(d.got.size(), 5u);
  EXPECT_EQ(d.got.back().dropped_before, 0u);
  EXPECT_TRUE(d.got.back().on_event_thread);
  l.unlock();

  track.unpublish();
  l.lock();
  ASSERT_TRUE(d.cv.wait_for(l, kGuard, [&] { return d.end.has_value(); })) << "on_end did not run";
  EXPECT_EQ(d.end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(d.ends_at, std::vector<size_t>{d.got.size()}) << "on_end once, after the last frame";
  EXPECT_EQ(d.end->frames_dropped, d.reported_losses()) << "the end summary counts the losses the frames reported";
}

// An auto-subscription whose track was unpublished before it was taken in callback mode (the
// event thread is held up meanwhile, so that the DataTrackUnpublishedEvent, which releases an
// untaken auto-subscription, waits): the library has reported its end in pull mode, and once
// switched sends the frames that waited, then the end again. The frames reach the callback, in
// order, on the event thread, and on_end runs once, after the last of them, with reason
// Unpublished and the end that counts them (not the one of pull mode, which counts none).
TEST_F(E2E, AutoSubscriptionTakenInCallbackModeAfterItsTrackWasUnpublished) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob", auto_subscribing());
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::LocalDataTrack track = alice.publish_data_track("gone");
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  Witness witness(bob, pub.track);
  std::shared_ptr<lk::detail::RoomState> room = lk::detail::Access::room(bob);
  std::shared_ptr<lk::detail::ClientImpl> client = room->client;
  lk_handle_t auto_handle = 0;
  {
    std::lock_guard<std::mutex> l(room->mu);
    auto it = room->auto_subs.find({"alice", "gone"});
    ASSERT_NE(it, room->auto_subs.end()) << "no auto-subscription handed over";
    auto_handle = it->second.handle;
  }

  uint32_t next = 0;
  ASSERT_TRUE(witness.push_until_flowing(track, next)) << "frames never flowed";
  constexpr uint32_t kWaiting = 8;
  const uint32_t first_waiting = next;
  for (uint32_t i = 0; i < kWaiting; i++) track.push(numbered(next++), 0, kGuard);
  track.flush(kGuard);
  const uint32_t last = next - 1;
  ASSERT_TRUE(witness.read_until(last)) << "the witness missed frame " << last;

  // Holds bob's event thread up: what the library reports from now on waits behind it. Opened on
  // every way out, so that a failing test does not leave it held.
  auto gate = std::make_shared<EventThreadGate>();
  GateOpener opener{gate};
  ASSERT_TRUE(client->post_to_event_thread([gate] { gate->hold(); }));
  ASSERT_TRUE(gate->wait_held()) << "the event thread was not held up";

  track.unpublish();
  ASSERT_TRUE(witness.read_until_end()) << "the unpublish did not reach bob's library";
  // The auto-subscription has ended in the library too (asked until it says so: the library
  // ends the track's subscriptions one after the other).
  bool ended = false;
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    lk::pb::Request req;
    req.mutable_get_data_track_subscription_end()->set_subscription_handle(auto_handle);
    ended = client->request(req).get_data_track_subscription_end().ended();
    if (!ended) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(ended) << "the auto-subscription did not end";

  Delivered d;
  lk::DataTrackSubscription sub = bob.subscribe(pub.track, d.on_frame(client), d.on_end());
  EXPECT_EQ(sub.handle(), auto_handle) << "subscribe must return the library's subscription";
  EXPECT_EQ(client_b.live_handles(), 3u) << "room, the auto-subscription, witness";
  {
    std::lock_guard<std::mutex> l(d.mu);
    EXPECT_TRUE(d.got.empty() && d.ends_at.empty()) << "delivered while the event thread is held up";
  }
  opener();

  std::unique_lock<std::mutex> l(d.mu);
  ASSERT_TRUE(d.cv.wait_for(l, kGuard, [&] { return !d.ends_at.empty(); })) << "on_end did not run";
  ASSERT_FALSE(d.got.empty()) << "the frames that waited were not delivered";
  EXPECT_EQ(d.ends_at.front(), d.got.size()) << "on_end ran before the last frame";
  EXPECT_EQ(d.got.back().n, last) << "the last frame pushed is the last delivered";
  ASSERT_GE(d.got.size(), size_t(kWaiting));
  for (size_t i = 0; i < d.got.size(); i++) {
    EXPECT_TRUE(d.got[i].on_event_thread) << "frames are delivered on the event thread";
    if (i == 0) continue;
    ASSERT_GT(d.got[i].n, d.got[i - 1].n) << "frames out of order";
    EXPECT_EQ(d.got[i].dropped_before, d.got[i].n - d.got[i - 1].n - 1)
        << "frames between " << d.got[i - 1].n << " and " << d.got[i].n;
  }
  for (uint32_t i = 0; i < kWaiting; i++)
    EXPECT_EQ(d.got[d.got.size() - kWaiting + i].n, first_waiting + i) << "every frame that waited, in order";
  EXPECT_EQ(d.end->reason, lk::SubscriptionEndReason::Unpublished);
  EXPECT_EQ(d.end->frames_received, d.got.size()) << "the end that follows the frames (the one of pull mode counts none)";
  EXPECT_EQ(d.end->frames_dropped, d.reported_losses()) << "the end summary counts the losses the frames reported";
  l.unlock();
  ASSERT_TRUE(sub.end().has_value());
  EXPECT_EQ(sub.end()->frames_received, d.end->frames_received);

  // Its track's DataTrackUnpublishedEvent (held up with the end reported in pull mode) does not
  // release the taken subscription; and after the events queued until then (a completion's
  // round trip through the event thread), on_end has still run once.
  ev_b.wait<lk::DataTrackUnpublishedEvent>();
  EXPECT_EQ(client_b.live_handles(), 3u) << "the taken auto-subscription is the application's";
  bob.set_metadata("after the end");
  l.lock();
  EXPECT_EQ(d.ends_at.size(), 1u) << "on_end ran more than once";
  EXPECT_EQ(d.got.size(), d.ends_at.front()) << "a frame after the end";
}
