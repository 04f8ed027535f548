// End-to-end tests of liblkcore through its C ABI against a running server (the devsfu CLI
// started by tests/suites/capi.sh, or any LiveKit server). Two clients in one process: one in
// callback mode, one in pull mode.
//
// Environment: LK_URL, LK_TOKEN_A, LK_TOKEN_B (tokens for identities "alice" and "bob" in one
// room, with canUpdateOwnMetadata), LK_TOKEN_C, LK_TOKEN_D ("carol" and "dave" in another).
//
// Wire numbers come from capi/proto/*.proto (package lkcore.ffi.v1).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lkcore.h"
#include "pb.h"

namespace {

// Request fields.
constexpr uint32_t kReqID = 1, kReqCreateRoom = 20, kReqConnect = 21, kReqDisconnect = 22, kReqPublishData = 24,
                   kReqSetMetadata = 25, kReqPublishDataTrack = 40, kReqSubscribeDataTrack = 44, kReqGetDataTrackStats = 47, kReqPerformRpc = 60,
                   kReqRegisterRpc = 61, kReqRespondRpc = 63, kReqSendText = 80, kReqRegisterStreamHandler = 87;
// Response fields.
constexpr uint32_t kRespError = 2, kRespCreateRoom = 20, kRespSubscribeDataTrack = 44, kRespGetDataTrackStats = 47;
// Event / Completion / RoomEvent fields.
constexpr uint32_t kEvSeq = 1, kEvCompletion = 10, kEvRoom = 20, kEvDataTrackFrame = 40, kEvDataTrackEnded = 41,
                   kEvStreamChunk = 80, kEvStreamEnded = 81;
constexpr uint32_t kCompID = 1, kCompError = 2, kCompConnect = 21, kCompPublishDataTrack = 40, kCompPerformRpc = 60;
constexpr uint32_t kRoomHandle = 1, kRoomDisconnected = 13, kRoomParticipantConnected = 20,
                   kRoomParticipantUpdated = 22, kRoomDataReceived = 30, kRoomDataTrackPublished = 40,
                   kRoomRpcInvocation = 60, kRoomStreamOpened = 80;

// Hang guard only (valgrind makes everything slow); never a timing assertion.
constexpr int32_t kHang = 60000;

std::string env(const char *name) {
  const char *v = std::getenv(name);
  return v ? v : "";
}

int32_t request(lk_client_t c, const pb::Msg &req, pb::Fields *resp = nullptr) {
  uint8_t *out = nullptr;
  size_t n = 0;
  int32_t st = lk_request(c, req.data(), req.size(), &out, &n);
  pb::Fields f = pb::parse(out, n);
  EXPECT_EQ(int32_t(f.sub(kRespError).u(1)), st);
  if (st != LK_OK) ADD_FAILURE() << lk_status_name(st) << ": " << f.sub(kRespError).b(2);
  if (resp) *resp = f;
  lk_free(out);
  return st;
}

// Events is what a host keeps: every decoded event, in order, whichever way it arrived.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<pb::Fields> all;
  lk_client_t pull_client = 0;  // non-zero: pull instead of waiting for the callback

  static void cb(void *ud, const uint8_t *ev, size_t n) {
    auto *e = static_cast<Events *>(ud);
    pb::Fields f = pb::parse(ev, n);
    {
      std::lock_guard<std::mutex> l(e->mu);
      e->all.push_back(f);
    }
    e->cv.notify_all();
  }

  // wait returns the first event at index >= *from matching pred, advancing *from past it.
  pb::Fields wait(size_t *from, const std::function<bool(const pb::Fields &)> &pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHang);
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu);
        for (size_t i = *from; i < all.size(); i++) {
          if (pred(all[i])) {
            *from = i + 1;
            return all[i];
          }
        }
        if (std::chrono::steady_clock::now() > deadline) {
          ADD_FAILURE() << "timed out waiting for an event";
          return pb::Fields();
        }
        if (!pull_client) {
          cv.wait_until(l, deadline);
          continue;
        }
      }
      uint8_t *p = nullptr;
      size_t n = 0;
      int32_t st = lk_client_next_event(pull_client, 1000, &p, &n);
      if (st == LK_ERR_TIMEOUT) continue;
      EXPECT_EQ(st, LK_OK);
      if (st != LK_OK) return pb::Fields();
      pb::Fields f = pb::parse(p, n);
      lk_free(p);
      std::lock_guard<std::mutex> l(mu);
      EXPECT_EQ(f.u(kEvSeq), all.size() + 1) << "events are numbered without gaps";
      all.push_back(f);
    }
  }

  pb::Fields completion(uint64_t id) {
    size_t from = 0;
    return wait(&from, [&](const pb::Fields &e) { return e.has(kEvCompletion) && e.sub(kEvCompletion).u(kCompID) == id; })
        .sub(kEvCompletion);
  }

  pb::Fields room_event(size_t *from, uint32_t kind) {
    return wait(from, [&](const pb::Fields &e) { return e.has(kEvRoom) && e.sub(kEvRoom).has(kind); }).sub(kEvRoom);
  }
};

uint64_t create_room(lk_client_t c) {
  pb::Fields resp;
  EXPECT_EQ(request(c, pb::Msg().msg(kReqCreateRoom, pb::Msg()), &resp), LK_OK);
  return resp.sub(kRespCreateRoom).sub(1).u(1);
}

pb::Fields connect(lk_client_t c, Events &ev, uint64_t room, uint64_t id, const std::string &token) {
  pb::Msg conn = pb::Msg().varint(1, room).bytes(2, env("LK_URL")).bytes(3, token);
  EXPECT_EQ(request(c, pb::Msg().varint(kReqID, id).msg(kReqConnect, conn)), LK_OK);
  pb::Fields comp = ev.completion(id);
  EXPECT_FALSE(comp.has(kCompError)) << comp.sub(kCompError).b(2);
  return comp.sub(kCompConnect);
}

class E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // A missing server is a failure, never a skip.
    if (env("LK_URL").empty()) GTEST_FAIL() << "LK_URL not set (run through tests/suites/capi.sh)";
  }
};

TEST_F(E2E, TwoClientsExchangeDataAndMetadata) {
  Events ea, eb;
  lk_client_t a = lk_client_new(&Events::cb, &ea);  // callback mode
  lk_client_t b = lk_client_new(nullptr, nullptr);  // pull mode
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  eb.pull_client = b;

  uint64_t ra = create_room(a), rb = create_room(b);
  pb::Fields ca = connect(a, ea, ra, 1, env("LK_TOKEN_A"));
  EXPECT_EQ(ca.sub(2).b(2), "alice");  // local_participant.identity
  pb::Fields cb = connect(b, eb, rb, 1, env("LK_TOKEN_B"));
  EXPECT_EQ(cb.sub(2).b(2), "bob");
  EXPECT_EQ(cb.sub(3).b(2), "alice");  // remote_participants (one): identity

  size_t fa = 0, fb = 0;
  pb::Fields pc = ea.room_event(&fa, kRoomParticipantConnected);
  EXPECT_EQ(pc.u(kRoomHandle), ra);
  EXPECT_EQ(pc.sub(kRoomParticipantConnected).sub(1).b(2), "bob");

  // Bob → alice: reliable packets with a topic, in order.
  const int N = 20;
  for (int i = 0; i < N; i++) {
    pb::Msg pub = pb::Msg().varint(1, rb).bytes(2, "packet " + std::to_string(i)).varint(3, 1).bytes(4, "chat");
    ASSERT_EQ(request(b, pb::Msg().varint(kReqID, 100 + i).msg(kReqPublishData, pub)), LK_OK);
  }
  for (int i = 0; i < N; i++) {
    pb::Fields d = ea.room_event(&fa, kRoomDataReceived).sub(kRoomDataReceived);
    EXPECT_EQ(d.b(1), "bob");
    EXPECT_EQ(d.b(2), "packet " + std::to_string(i));
    EXPECT_EQ(d.b(3), "chat");
    EXPECT_EQ(d.u(4), 1u);
  }
  for (int i = 0; i < N; i++) EXPECT_FALSE(eb.completion(100 + i).has(kCompError));

  // Alice → bob (lossy, addressed), and bob pulls it.
  std::string bin("\0\1\2\3 binary", 11);
  pb::Msg pub = pb::Msg().varint(1, ra).bytes(2, bin).bytes(5, "bob");
  ASSERT_EQ(request(a, pb::Msg().varint(kReqID, 7).msg(kReqPublishData, pub)), LK_OK);
  pb::Fields d = eb.room_event(&fb, kRoomDataReceived).sub(kRoomDataReceived);
  EXPECT_EQ(d.b(1), "alice");
  EXPECT_EQ(d.b(2), bin);
  EXPECT_EQ(d.u(4), 0u);

  // Alice's metadata reaches bob.
  ASSERT_EQ(request(a, pb::Msg().varint(kReqID, 8).msg(kReqSetMetadata, pb::Msg().varint(1, ra).bytes(2, "hello from C"))), LK_OK);
  EXPECT_FALSE(ea.completion(8).has(kCompError));
  bool seen = false;
  for (int i = 0; i < 20 && !seen && !HasFailure(); i++) {
    pb::Fields u = eb.room_event(&fb, kRoomParticipantUpdated).sub(kRoomParticipantUpdated);
    if (u.sub(1).b(2) == "alice" && u.u(4)) {
      EXPECT_EQ(u.sub(1).b(4), "hello from C");
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << "bob never saw alice's metadata";

  // Bob disconnects; his Disconnected event precedes the completion.
  ASSERT_EQ(request(b, pb::Msg().varint(kReqID, 9).msg(kReqDisconnect, pb::Msg().varint(1, rb))), LK_OK);
  EXPECT_FALSE(eb.completion(9).has(kCompError));
  size_t from = 0;
  eb.room_event(&from, kRoomDisconnected);
  {
    std::lock_guard<std::mutex> l(eb.mu);
    bool after = false;
    for (size_t i = from; i < eb.all.size(); i++)
      if (eb.all[i].has(kEvCompletion) && eb.all[i].sub(kEvCompletion).u(kCompID) == 9) after = true;
    EXPECT_TRUE(after) << "disconnect completion must follow the Disconnected event";
  }

  // Dropping alice's room disconnects it; closing the clients releases everything.
  EXPECT_EQ(lk_handle_drop(a, ra), LK_OK);
  EXPECT_EQ(lk_handle_drop(b, rb), LK_OK);
  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(b, kHang), LK_OK);
}

// Data tracks through the fast paths, RPC answered by the host, and a text stream.
TEST_F(E2E, DataTrackRpcAndStream) {
  Events ec, ed;
  lk_client_t c = lk_client_new(&Events::cb, &ec);
  lk_client_t d = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  ASSERT_NE(d, 0u);
  ed.pull_client = d;
  uint64_t rc = create_room(c), rd = create_room(d);
  // Dave registers an RPC method and a text stream handler before connecting.
  ASSERT_EQ(request(d, pb::Msg().msg(kReqRegisterRpc, pb::Msg().varint(1, rd).bytes(2, "echo"))), LK_OK);
  ASSERT_EQ(request(d, pb::Msg().msg(kReqRegisterStreamHandler, pb::Msg().varint(1, rd).varint(2, 1).bytes(3, "notes"))), LK_OK);
  connect(c, ec, rc, 1, env("LK_TOKEN_C"));
  connect(d, ed, rd, 1, env("LK_TOKEN_D"));
  size_t fc = 0, fd = 0;
  ec.room_event(&fc, kRoomParticipantConnected);

  // Carol publishes a track; dave subscribes in pull mode.
  ASSERT_EQ(request(c, pb::Msg().varint(kReqID, 2).msg(kReqPublishDataTrack, pb::Msg().varint(1, rc).bytes(2, "telemetry"))), LK_OK);
  pb::Fields pub = ec.completion(2);
  ASSERT_FALSE(pub.has(kCompError)) << pub.sub(kCompError).b(2);
  uint64_t track = pub.sub(kCompPublishDataTrack).sub(1).u(1);
  std::string sid = pub.sub(kCompPublishDataTrack).sub(1).sub(2).b(1);
  ASSERT_NE(track, 0u);
  pb::Fields announced = ed.room_event(&fd, kRoomDataTrackPublished).sub(kRoomDataTrackPublished).sub(1);
  EXPECT_EQ(announced.b(1), "carol");
  EXPECT_EQ(announced.sub(2).b(1), sid);
  pb::Fields resp;
  ASSERT_EQ(request(d, pb::Msg().msg(kReqSubscribeDataTrack, pb::Msg().varint(1, rd).bytes(2, "carol").bytes(3, sid).varint(5, 2)), &resp), LK_OK);
  uint64_t sub = resp.sub(kRespSubscribeDataTrack).sub(1).u(1);
  ASSERT_NE(sub, 0u);

  // The subscription is established in the background: push until frames arrive.
  auto read = [&](int32_t timeout_ms, std::string *out, uint64_t *ts) {
    uint8_t *p = nullptr;
    size_t n = 0;
    bool has = false;
    int32_t st = lk_data_track_read(d, sub, timeout_ms, &p, &n, ts, &has);
    if (st == LK_OK) {
      EXPECT_NE(p, nullptr);
      out->assign(reinterpret_cast<char *>(p), n);
      lk_free(p);
    }
    return st;
  };
  std::string got;
  uint64_t ts = 0;
  bool warm = false;
  for (int i = 0; i < 1000 && !warm; i++) {
    const char w[] = "warm-up";
    int32_t st = lk_data_track_push(c, track, reinterpret_cast<const uint8_t *>(w), sizeof w - 1, 0, false);
    ASSERT_TRUE(st == LK_OK || st == LK_ERR_QUEUE_FULL) << lk_status_name(st);
    warm = read(20, &got, &ts) == LK_OK;
  }
  ASSERT_TRUE(warm) << "no frame reached the subscription";
  for (int i = 0; i < 10; i++) {
    std::string f = "frame " + std::to_string(i);
    ASSERT_EQ(lk_data_track_push(c, track, reinterpret_cast<const uint8_t *>(f.data()), f.size(), 5000 + i, true), LK_OK);
    do {
      ASSERT_EQ(read(kHang, &got, &ts), LK_OK);
    } while (got == "warm-up");
    EXPECT_EQ(got, f);
    EXPECT_EQ(ts, uint64_t(5000 + i));
  }
  // lk_data_track_read_frame (ABI 1.10) also says how many frames were lost before each one:
  // 40 frames pushed without reading toward a 16-frame buffer; every frame read after "frame 9"
  // accounts for the ones between it and the frame read before.
  for (int i = 0; i < 40; i++) {
    std::string f = std::to_string(i);
    ASSERT_EQ(lk_data_track_push(c, track, reinterpret_cast<const uint8_t *>(f.data()), f.size(), 0, false), LK_OK);
  }
  uint64_t lost = 0;
  int read_frames = 0, prev = -1;
  while (prev != 39) {
    uint8_t *p = nullptr;
    size_t n = 0;
    uint64_t dropped = 12345;  // overwritten on LK_OK
    ASSERT_EQ(lk_data_track_read_frame(d, sub, kHang, &p, &n, nullptr, nullptr, &dropped), LK_OK);
    int i = std::stoi(std::string(reinterpret_cast<char *>(p), n));
    lk_free(p);
    EXPECT_EQ(dropped, uint64_t(i - prev - 1)) << "frame " << i << " after frame " << prev;
    lost += dropped;
    read_frames++;
    prev = i;
  }
  EXPECT_EQ(read_frames + lost, 40u);
  // lk_data_track_push_paced refuses where the waiting push would wait: a tight loop of it never
  // leaves more than 16 frames queued (the loop outruns the writer: bounded, not timed), although
  // lk_data_track_push would accept 1 024; those refusals are not counted as rejected.
  auto stats = [&](uint64_t *queued, uint64_t *rejected) {
    pb::Fields r;
    ASSERT_EQ(request(c, pb::Msg().msg(kReqGetDataTrackStats, pb::Msg().varint(1, track)), &r), LK_OK);
    pb::Fields s = r.sub(kRespGetDataTrackStats).sub(1);  // LocalDataTrackStats
    *queued = s.u(6);
    *rejected = s.u(2);
  };
  uint64_t queued = 0, rejected_before = 0, rejected = 0;
  stats(&queued, &rejected_before);
  const std::string paced_frame(1000, 'p');
  int paced = 0;
  for (int i = 0; i < 10000 && paced < 3; i++) {
    int32_t st = lk_data_track_push_paced(c, track, reinterpret_cast<const uint8_t *>(paced_frame.data()),
                                          paced_frame.size(), 0, false);
    ASSERT_TRUE(st == LK_OK || st == LK_ERR_QUEUE_FULL) << lk_status_name(st);
    if (st == LK_ERR_QUEUE_FULL) paced++;
    stats(&queued, &rejected);
    ASSERT_LE(queued, 16u) << "after paced push " << i;
  }
  EXPECT_EQ(paced, 3) << "10 000 paced pushes in a tight loop never reached the pacing point";
  EXPECT_EQ(rejected, rejected_before);

  // Dropping the track unpublishes it: the subscription drains and ends.
  EXPECT_EQ(lk_handle_drop(c, track), LK_OK);
  EXPECT_EQ(lk_data_track_push(c, track, nullptr, 0, 0, false), LK_ERR_INVALID_HANDLE);
  int32_t st;
  while ((st = read(kHang, &got, &ts)) == LK_OK) {
  }
  EXPECT_EQ(st, LK_ERR_END_OF_STREAM);

  // RPC: carol calls, dave's host answers.
  ASSERT_EQ(request(c, pb::Msg().varint(kReqID, 3).msg(kReqPerformRpc, pb::Msg().varint(1, rc).bytes(2, "dave").bytes(3, "echo").bytes(4, "ping"))), LK_OK);
  pb::Fields inv = ed.room_event(&fd, kRoomRpcInvocation).sub(kRoomRpcInvocation);
  EXPECT_EQ(inv.b(2), "echo");
  EXPECT_EQ(inv.b(3), "carol");
  EXPECT_EQ(inv.b(4), "ping");
  ASSERT_EQ(request(d, pb::Msg().msg(kReqRespondRpc, pb::Msg().varint(1, rd).varint(2, inv.u(1)).bytes(3, inv.b(4) + "!"))), LK_OK);
  pb::Fields rpc = ec.completion(3);
  EXPECT_FALSE(rpc.has(kCompError)) << rpc.sub(kCompError).b(2);
  EXPECT_EQ(rpc.sub(kCompPerformRpc).b(1), "ping!");

  // A text stream from carol reaches dave's handler as opened / chunks / ended events.
  std::string text(20000, 'x');
  ASSERT_EQ(request(c, pb::Msg().varint(kReqID, 4).msg(kReqSendText, pb::Msg().varint(1, rc).bytes(2, text).msg(3, pb::Msg().msg(1, pb::Msg().bytes(1, "notes"))))), LK_OK);
  EXPECT_FALSE(ec.completion(4).has(kCompError));
  pb::Fields opened = ed.room_event(&fd, kRoomStreamOpened).sub(kRoomStreamOpened);
  EXPECT_EQ(opened.b(1), "carol");
  uint64_t reader = opened.sub(2).u(1);
  std::string received;
  for (;;) {
    pb::Fields ev = ed.wait(&fd, [&](const pb::Fields &e) {
      return (e.has(kEvStreamChunk) && e.sub(kEvStreamChunk).u(1) == reader) || (e.has(kEvStreamEnded) && e.sub(kEvStreamEnded).u(1) == reader);
    });
    if (!ev.has(kEvStreamChunk)) {
      EXPECT_TRUE(ev.has(kEvStreamEnded));
      EXPECT_FALSE(ev.sub(kEvStreamEnded).has(2)) << "stream ended with an error";
      break;
    }
    received += ev.sub(kEvStreamChunk).b(2);
  }
  EXPECT_EQ(received, text);

  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(d, kHang), LK_OK);
}

// A slow EVENTS consumer: while bob's callback is held his event queue fills and frames are
// lost, and every loss is reported: the frames delivered are those the subscription's end
// counts as received, and their dropped_before add up to the frames it counts as dropped.
TEST_F(E2E, SlowConsumerReportsEveryLostFrame) {
  struct Held : Events {
    std::atomic<bool> hold{false};
    std::mutex hm;
    std::condition_variable hcv;
    bool released = false;
    static void cb(void *ud, const uint8_t *ev, size_t n) {
      auto *h = static_cast<Held *>(ud);
      if (h->hold.load()) {
        std::unique_lock<std::mutex> l(h->hm);
        h->hcv.wait(l, [h] { return h->released; });
      }
      Events::cb(ud, ev, n);
    }
    void release() {
      {
        std::lock_guard<std::mutex> l(hm);
        released = true;
      }
      hcv.notify_all();
    }
  };
  Events ea;
  Held hb;
  lk_client_t a = lk_client_new(&Events::cb, &ea);
  lk_client_t b = lk_client_new(&Held::cb, &hb);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  uint64_t ra = create_room(a), rb = create_room(b);
  connect(a, ea, ra, 1, env("LK_TOKEN_A"));
  connect(b, hb, rb, 1, env("LK_TOKEN_B"));

  ASSERT_EQ(request(a, pb::Msg().varint(kReqID, 2).msg(kReqPublishDataTrack, pb::Msg().varint(1, ra).bytes(2, "slow"))), LK_OK);
  pb::Fields pub = ea.completion(2);
  ASSERT_FALSE(pub.has(kCompError)) << pub.sub(kCompError).b(2);
  uint64_t track = pub.sub(kCompPublishDataTrack).sub(1).u(1);
  std::string sid = pub.sub(kCompPublishDataTrack).sub(1).sub(2).b(1);
  size_t fb = 0;
  hb.wait(&fb, [&](const pb::Fields &e) {
    return e.has(kEvRoom) && e.sub(kEvRoom).has(kRoomDataTrackPublished) && e.sub(kEvRoom).sub(kRoomDataTrackPublished).sub(1).sub(2).b(1) == sid;
  });
  pb::Fields resp;
  ASSERT_EQ(request(b, pb::Msg().msg(kReqSubscribeDataTrack, pb::Msg().varint(1, rb).bytes(2, "alice").bytes(3, sid).varint(5, 0)), &resp), LK_OK);
  uint64_t events = resp.sub(kRespSubscribeDataTrack).sub(1).u(1);
  // A pull subscription with room for everything witnesses what reached bob.
  const int N = 6000;
  ASSERT_EQ(request(b, pb::Msg().msg(kReqSubscribeDataTrack, pb::Msg().varint(1, rb).bytes(2, "alice").bytes(3, sid).varint(4, 8192).varint(5, 2)), &resp), LK_OK);
  uint64_t pull = resp.sub(kRespSubscribeDataTrack).sub(1).u(1);
  ASSERT_NE(events, 0u);
  ASSERT_NE(pull, 0u);

  auto push = [&](const std::string &f) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHang);
    for (;;) {
      int32_t st = lk_data_track_push(a, track, reinterpret_cast<const uint8_t *>(f.data()), f.size(), 0, false);
      if (st == LK_OK) return true;
      if (st != LK_ERR_QUEUE_FULL || std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "push " << f << ": " << lk_status_name(st);
        return false;
      }
      std::this_thread::yield();
    }
  };
  auto read = [&](int32_t timeout_ms, std::string *out) {
    uint8_t *p = nullptr;
    size_t n = 0;
    int32_t st = lk_data_track_read(b, pull, timeout_ms, &p, &n, nullptr, nullptr);
    if (st == LK_OK) {
      out->assign(reinterpret_cast<char *>(p), n);
      lk_free(p);
    }
    return st;
  };
  auto frame_delivered = [&](const std::string &payload) {
    std::lock_guard<std::mutex> l(hb.mu);
    for (const auto &e : hb.all)
      if (e.has(kEvDataTrackFrame) && e.sub(kEvDataTrackFrame).u(1) == events && e.sub(kEvDataTrackFrame).b(2) == payload) return true;
    return false;
  };
  // Warm up until both subscriptions receive.
  std::string got;
  bool warm = false;
  for (int i = 0; i < 1000 && !warm; i++) {
    ASSERT_TRUE(push("warm-up"));
    warm = read(20, &got) == LK_OK && frame_delivered("warm-up");
  }
  ASSERT_TRUE(warm) << "frames never reached both subscriptions";

  // Hold bob's callback and push more frames than his event queue holds.
  hb.hold = true;
  for (int i = 0; i < N; i++) ASSERT_TRUE(push("f" + std::to_string(i)));
  // Every frame reached bob (his pull subscription has them all), then release him.
  const std::string last = "f" + std::to_string(N - 1);
  while (got != last) ASSERT_EQ(read(kHang, &got), LK_OK) << "the pull subscription stopped before " << last;
  hb.release();
  // Tail frames until one is delivered: it carries the losses since the last delivered frame.
  bool tail = false;
  for (int i = 0; i < 100 && !tail; i++) {
    ASSERT_TRUE(push("tail"));
    for (int j = 0; j < 200 && !tail; j++) {
      tail = frame_delivered("tail");
      if (!tail) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ASSERT_TRUE(tail) << "no tail frame delivered";

  // Unpublishing ends the subscription with its counts.
  EXPECT_EQ(lk_handle_drop(a, track), LK_OK);
  pb::Fields ended = hb.wait(&fb, [&](const pb::Fields &e) {
                         return e.has(kEvDataTrackEnded) && e.sub(kEvDataTrackEnded).u(1) == events;
                       }).sub(kEvDataTrackEnded);
  uint64_t frames = 0, reported = 0;
  {
    std::lock_guard<std::mutex> l(hb.mu);
    for (const auto &e : hb.all) {
      if (e.has(kEvDataTrackFrame) && e.sub(kEvDataTrackFrame).u(1) == events) {
        frames++;
        reported += e.sub(kEvDataTrackFrame).u(4);
      }
    }
  }
  EXPECT_EQ(frames, ended.u(4)) << "frames delivered vs frames_received";
  EXPECT_EQ(reported, ended.u(5)) << "sum of dropped_before vs frames_dropped";
  EXPECT_GT(reported, 0u) << "nothing was lost with a held callback and " << N << " frames";

  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(b, kHang), LK_OK);
}

}  // namespace
