// Tests of liblkcore's C ABI infrastructure through the real shared library: versions, client
// lifecycle, malformed input, handles, NULL pointers, pull and callback delivery, and the
// guarantee that no callback runs after lk_client_close returns.
//
// Wire numbers used below come from capi/proto/*.proto (package lkcore.ffi.v1).
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lkcore.h"
#include "pb.h"

namespace {

// Request fields.
constexpr uint32_t kReqID = 1, kReqTimeout = 2, kReqEcho = 10, kReqCancel = 11, kReqGetVersion = 13,
                   kReqCreateRoom = 20, kReqConnect = 21;
// Response / Completion / Event fields.
constexpr uint32_t kRespID = 1, kRespError = 2, kRespEcho = 10, kRespGetVersion = 13, kRespCreateRoom = 20;
constexpr uint32_t kEvSeq = 1, kEvCompletion = 10, kCompID = 1, kCompError = 2, kCompEcho = 10;

constexpr int32_t kHang = 10000;  // ms; hang guard only

struct Resp {
  int32_t status = -1;
  pb::Fields f;
  int32_t code() const { return int32_t(f.sub(kRespError).u(1)); }
  std::string message() const { return f.sub(kRespError).b(2); }
};

// call sends one request and checks the status/response contract.
Resp call(lk_client_t c, const pb::Msg &req) {
  uint8_t *out = nullptr;
  size_t n = 0;
  Resp r;
  r.status = lk_request(c, req.data(), req.size(), &out, &n);
  EXPECT_NE(out, nullptr) << "lk_request must always hand out a response";
  r.f = pb::parse(out, n);
  EXPECT_TRUE(r.f.ok) << "response does not decode";
  EXPECT_EQ(r.status, r.code()) << "status differs from Response.error.code";
  if (r.status != LK_OK) {
    EXPECT_FALSE(r.message().empty()) << "error without message";
  }
  lk_free(out);
  return r;
}

pb::Msg echo(uint64_t id, const std::string &payload, bool async = false, uint32_t delay_ms = 0) {
  pb::Msg e;
  e.bytes(1, payload);
  if (async) e.varint(2, 1);
  if (delay_ms) e.varint(3, delay_ms);
  pb::Msg r;
  if (id) r.varint(kReqID, id);
  return r.msg(kReqEcho, e);
}

uint64_t create_room(lk_client_t c) {
  Resp r = call(c, pb::Msg().msg(kReqCreateRoom, pb::Msg()));
  EXPECT_EQ(r.status, LK_OK);
  uint64_t h = r.f.sub(kRespCreateRoom).sub(1).u(1);
  EXPECT_NE(h, 0u);
  return h;
}

pb::Msg connect(uint64_t id, uint64_t room) {
  return pb::Msg().varint(kReqID, id).msg(kReqConnect, pb::Msg().varint(1, room).bytes(2, "ws://127.0.0.1:1").bytes(3, "tok"));
}

// Collector records callback events.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<pb::Fields> events;
  std::set<pthread_t> threads;
  std::atomic<bool> closed{false};
  std::atomic<int> late{0};
  std::atomic<int> in_callback{0};
  std::atomic<int> overlaps{0};
  lk_client_t self = 0;
  std::function<void(Collector *, const pb::Fields &)> hook;

  static void cb(void *ud, const uint8_t *ev, size_t n) {
    auto *c = static_cast<Collector *>(ud);
    if (c->in_callback.fetch_add(1) != 0) c->overlaps++;
    if (c->closed.load()) c->late++;
    pb::Fields f = pb::parse(ev, n);
    if (c->hook) c->hook(c, f);
    {
      std::lock_guard<std::mutex> l(c->mu);
      c->events.push_back(f);
      c->threads.insert(pthread_self());
    }
    c->cv.notify_all();
    c->in_callback.fetch_sub(1);
  }

  // wait_completions waits until n completions were delivered.
  bool wait_completions(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::milliseconds(kHang), [&] { return completions_locked() >= n; });
  }
  size_t completions_locked() {
    size_t k = 0;
    for (auto &e : events)
      if (e.has(kEvCompletion)) k++;
    return k;
  }
};

TEST(Abi, Version) {
  uint32_t v = lk_abi_version();
  EXPECT_EQ(v, uint32_t(LK_ABI_VERSION));
  EXPECT_TRUE(LK_ABI_COMPATIBLE(v));
  EXPECT_FALSE(LK_ABI_COMPATIBLE(v + (1u << 16)));
  lk_client_t c = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  Resp r = call(c, pb::Msg().msg(kReqGetVersion, pb::Msg()));
  ASSERT_EQ(r.status, LK_OK);
  EXPECT_EQ(r.f.sub(kRespGetVersion).u(1), v);
  EXPECT_EQ(r.f.sub(kRespGetVersion).b(2), "lkcore.ffi.v1");
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
}

TEST(Abi, StatusNames) {
  EXPECT_STREQ(lk_status_name(LK_OK), "LK_OK");
  EXPECT_STREQ(lk_status_name(LK_ERR_INVALID_HANDLE), "LK_ERR_INVALID_HANDLE");
  EXPECT_STREQ(lk_status_name(LK_ERR_ABORTED), "LK_ERR_ABORTED");
  EXPECT_STREQ(lk_status_name(12345), "LK_ERR_UNKNOWN");
  EXPECT_STREQ(lk_status_name(-1), "LK_ERR_UNKNOWN");
}

TEST(Client, NewCloseDoubleClose) {
  lk_client_t a = lk_client_new(nullptr, nullptr);
  lk_client_t b = lk_client_new(nullptr, nullptr);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);  // idempotent
  EXPECT_EQ(lk_client_close(a, 0), LK_OK);
  EXPECT_EQ(lk_client_close(0, kHang), LK_ERR_INVALID_CLIENT);
  EXPECT_EQ(lk_client_close(~uint64_t(0), kHang), LK_ERR_INVALID_CLIENT);
  // b is unaffected by a's close.
  EXPECT_EQ(call(b, echo(0, "x")).status, LK_OK);
  EXPECT_EQ(lk_client_close(b, kHang), LK_OK);
}

TEST(Client, CallsAfterClose) {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  uint64_t room = create_room(c);
  ASSERT_EQ(lk_client_close(c, kHang), LK_OK);

  Resp r = call(c, echo(5, "x"));
  EXPECT_EQ(r.status, LK_ERR_CLIENT_CLOSED);
  uint8_t *p = reinterpret_cast<uint8_t *>(1);
  size_t n = 1;
  EXPECT_EQ(lk_client_next_event(c, 0, &p, &n), LK_ERR_CLIENT_CLOSED);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(lk_handle_drop(c, room), LK_ERR_CLIENT_CLOSED);
  EXPECT_EQ(lk_data_track_push(c, room, nullptr, 0, 0, false), LK_ERR_CLIENT_CLOSED);
  EXPECT_EQ(lk_data_track_push_paced(c, room, nullptr, 0, 0, false), LK_ERR_CLIENT_CLOSED);
  EXPECT_EQ(lk_data_track_read(c, room, 0, &p, &n, nullptr, nullptr), LK_ERR_CLIENT_CLOSED);
  // Unknown client ids are told apart from closed ones.
  EXPECT_EQ(call(0, echo(0, "x")).status, LK_ERR_INVALID_CLIENT);
  EXPECT_EQ(lk_handle_drop(c + 1000000, 1), LK_ERR_INVALID_CLIENT);
}

TEST(Request, MalformedInputGivesTypedErrors) {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  auto raw = [&](const uint8_t *p, size_t n) {
    uint8_t *out = nullptr;
    size_t len = 0;
    int32_t st = lk_request(c, p, n, &out, &len);
    EXPECT_NE(out, nullptr);
    pb::Fields f = pb::parse(out, len);
    EXPECT_TRUE(f.ok);
    EXPECT_EQ(int32_t(f.sub(kRespError).u(1)), st);
    EXPECT_FALSE(f.sub(kRespError).b(2).empty());
    lk_free(out);
    return st;
  };
  const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(raw(garbage, sizeof garbage), LK_ERR_INVALID_REQUEST);
  EXPECT_EQ(raw(nullptr, 0), LK_ERR_INVALID_REQUEST);  // empty request names no operation

  pb::Msg full = echo(7, "hello world");
  EXPECT_EQ(raw(full.data(), full.size() - 3), LK_ERR_INVALID_REQUEST);  // truncated

  pb::Msg unknown = pb::Msg().varint(kReqID, 8).msg(999, pb::Msg());  // kind from a newer schema
  Resp r = call(c, unknown);
  EXPECT_EQ(r.status, LK_ERR_UNIMPLEMENTED);
  EXPECT_EQ(r.f.u(kRespID), 8u);

  // Wrong wire type for a known field of a request that names its kind (echo): request_id
  // as bytes, and echo.payload as a varint. Each is INVALID_REQUEST, not an echo.
  pb::Msg wrong = pb::Msg().bytes(kReqID, "not a varint").msg(kReqEcho, pb::Msg().bytes(1, "x"));
  EXPECT_EQ(raw(wrong.data(), wrong.size()), LK_ERR_INVALID_REQUEST);
  pb::Msg wrong_nested = pb::Msg().varint(kReqID, 10).msg(kReqEcho, pb::Msg().varint(1, 5));
  EXPECT_EQ(raw(wrong_nested.data(), wrong_nested.size()), LK_ERR_INVALID_REQUEST);

  // Requests are validated before anything starts; a connect that is accepted reports its
  // failure (nothing listens on port 1) as a typed completion.
  uint64_t room = create_room(c);
  EXPECT_EQ(call(c, connect(0, room)).status, LK_ERR_INVALID_REQUEST);  // async needs request_id
  EXPECT_EQ(call(c, connect(1, room)).status, LK_OK);
  EXPECT_EQ(call(c, connect(2, room)).status, LK_ERR_FAILED_PRECONDITION);  // already connecting
  {
    uint8_t *p = nullptr;
    size_t n = 0;
    ASSERT_EQ(lk_client_next_event(c, kHang, &p, &n), LK_OK);
    pb::Fields comp = pb::parse(p, n).sub(kEvCompletion);
    lk_free(p);
    EXPECT_EQ(comp.u(kCompID), 1u);
    EXPECT_EQ(int32_t(comp.sub(kCompError).u(1)), LK_ERR_CONNECTION_FAILED);
  }

  // A valid request still works after all that.
  r = call(c, echo(9, std::string("\0\1\2", 3)));
  EXPECT_EQ(r.status, LK_OK);
  EXPECT_EQ(r.f.u(kRespID), 9u);
  EXPECT_EQ(r.f.sub(kRespEcho).b(1), std::string("\0\1\2", 3));
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
}

TEST(Request, NullPointers) {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  ASSERT_NE(c, 0u);
  pb::Msg req = echo(0, "x");
  uint8_t *out = nullptr;
  size_t n = 0;
  EXPECT_EQ(lk_request(c, req.data(), req.size(), nullptr, &n), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_request(c, req.data(), req.size(), &out, nullptr), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_request(c, nullptr, 5, &out, &n), LK_ERR_INVALID_ARGUMENT);
  ASSERT_NE(out, nullptr);  // with an error response
  EXPECT_EQ(int32_t(pb::parse(out, n).sub(kRespError).u(1)), LK_ERR_INVALID_ARGUMENT);
  lk_free(out);

  EXPECT_EQ(lk_client_next_event(c, 0, nullptr, &n), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_client_next_event(c, 0, &out, nullptr), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_data_track_push(c, 1, nullptr, 10, 0, false), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_data_track_push_paced(c, 1, nullptr, 10, 0, false), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_data_track_read(c, 1, 0, nullptr, &n, nullptr, nullptr), LK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lk_data_track_read(c, 1, 0, &out, nullptr, nullptr, nullptr), LK_ERR_INVALID_ARGUMENT);
  lk_free(nullptr);
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
}

TEST(Handles, InvalidDroppedForeignWrongType) {
  lk_client_t a = lk_client_new(nullptr, nullptr);
  lk_client_t b = lk_client_new(nullptr, nullptr);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  uint64_t ra = create_room(a);
  uint64_t rb = create_room(b);
  EXPECT_NE(ra, rb);

  // Zero and never-issued handles.
  EXPECT_EQ(lk_handle_drop(a, 0), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(lk_handle_drop(a, ra + 12345), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(lk_data_track_push(a, 0, nullptr, 0, 0, false), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(lk_data_track_push(a, 0x0200000000000001ull, nullptr, 0, 0, false), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(lk_data_track_push_paced(a, 0, nullptr, 0, 0, false), LK_ERR_INVALID_HANDLE);

  // Wrong kind: a room handle given to the data-track fast paths.
  const uint8_t frame[] = {1, 2, 3};
  EXPECT_EQ(lk_data_track_push(a, ra, frame, sizeof frame, 42, true), LK_ERR_WRONG_HANDLE_TYPE);
  EXPECT_EQ(lk_data_track_push_paced(a, ra, frame, sizeof frame, 42, true), LK_ERR_WRONG_HANDLE_TYPE);
  uint8_t *p = nullptr;
  size_t n = 0;
  EXPECT_EQ(lk_data_track_read(a, ra, 0, &p, &n, nullptr, nullptr), LK_ERR_WRONG_HANDLE_TYPE);
  EXPECT_EQ(p, nullptr);

  // Foreign: a's handle in b.
  EXPECT_EQ(lk_handle_drop(b, ra), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(call(b, connect(1, ra)).status, LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(call(a, connect(1, ra)).status, LK_OK);  // still live in a

  // Dropped: drop is idempotent, use after drop is a typed error.
  EXPECT_EQ(lk_handle_drop(a, ra), LK_OK);
  EXPECT_EQ(lk_handle_drop(a, ra), LK_OK);
  EXPECT_EQ(call(a, connect(2, ra)).status, LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(lk_data_track_push(a, ra, frame, sizeof frame, 0, false), LK_ERR_INVALID_HANDLE);

  // b's room untouched.
  EXPECT_EQ(call(b, connect(3, rb)).status, LK_OK);
  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(b, kHang), LK_OK);
}

// Pull mode: ordered events via lk_client_next_event; callback mode refuses pulling.
TEST(Events, PullVersusCallback) {
  lk_client_t pull = lk_client_new(nullptr, nullptr);
  Collector col;
  lk_client_t push = lk_client_new(&Collector::cb, &col);
  ASSERT_NE(pull, 0u);
  ASSERT_NE(push, 0u);

  uint8_t *p = nullptr;
  size_t n = 0;
  EXPECT_EQ(lk_client_next_event(pull, 0, &p, &n), LK_ERR_TIMEOUT);
  EXPECT_EQ(lk_client_next_event(pull, 5, &p, &n), LK_ERR_TIMEOUT);
  EXPECT_EQ(lk_client_next_event(push, 0, &p, &n), LK_ERR_FAILED_PRECONDITION);

  const int N = 20;
  for (int i = 1; i <= N; i++) {
    ASSERT_EQ(call(pull, echo(uint64_t(i), "p" + std::to_string(i), true)).status, LK_OK);
    ASSERT_EQ(call(push, echo(uint64_t(i), "c" + std::to_string(i), true)).status, LK_OK);
  }
  std::set<uint64_t> seen;
  for (int i = 1; i <= N; i++) {
    ASSERT_EQ(lk_client_next_event(pull, kHang, &p, &n), LK_OK);
    ASSERT_NE(p, nullptr);
    pb::Fields ev = pb::parse(p, n);
    lk_free(p);
    EXPECT_EQ(ev.u(kEvSeq), uint64_t(i));
    pb::Fields comp = ev.sub(kEvCompletion);
    uint64_t id = comp.u(kCompID);
    EXPECT_FALSE(comp.has(kCompError));
    EXPECT_EQ(comp.sub(kCompEcho).b(1), "p" + std::to_string(id));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), size_t(N));

  ASSERT_TRUE(col.wait_completions(N));
  {
    std::lock_guard<std::mutex> l(col.mu);
    for (size_t i = 0; i < col.events.size(); i++) EXPECT_EQ(col.events[i].u(kEvSeq), i + 1);
    EXPECT_EQ(col.threads.size(), 1u) << "callbacks of one client come from one thread";
  }
  EXPECT_EQ(col.overlaps.load(), 0);
  EXPECT_EQ(lk_client_close(pull, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(push, kHang), LK_OK);
}

// Asynchronous operations: cancellation and deadlines complete with typed errors.
TEST(Events, CancelAndTimeout) {
  Collector col;
  lk_client_t c = lk_client_new(&Collector::cb, &col);
  ASSERT_NE(c, 0u);
  ASSERT_EQ(call(c, echo(1, "slow", true, 60000)).status, LK_OK);
  EXPECT_EQ(call(c, echo(1, "dup", true)).status, LK_ERR_INVALID_REQUEST);  // id in use
  ASSERT_EQ(call(c, pb::Msg().msg(kReqCancel, pb::Msg().varint(1, 1))).status, LK_OK);
  pb::Msg timed = echo(2, "slow", true, 60000);
  timed.varint(kReqTimeout, 5);
  ASSERT_EQ(call(c, timed).status, LK_OK);
  ASSERT_TRUE(col.wait_completions(2));
  {
    std::lock_guard<std::mutex> l(col.mu);
    for (auto &e : col.events) {
      pb::Fields comp = e.sub(kEvCompletion);
      int32_t code = int32_t(comp.sub(kCompError).u(1));
      if (comp.u(kCompID) == 1) {
        EXPECT_EQ(code, LK_ERR_CANCELLED);
      } else if (comp.u(kCompID) == 2) {
        EXPECT_EQ(code, LK_ERR_TIMEOUT);
      }
    }
  }
  EXPECT_EQ(call(c, pb::Msg().msg(kReqCancel, pb::Msg().varint(1, 1))).status, LK_ERR_NOT_FOUND);
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
}

// Two callback clients at once, each with its own user_data, ids and event sequence.
TEST(Events, TwoClientsConcurrently) {
  Collector ca, cb;
  lk_client_t a = lk_client_new(&Collector::cb, &ca);
  lk_client_t b = lk_client_new(&Collector::cb, &cb);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  const int N = 200;
  std::thread ta([&] {
    for (int i = 1; i <= N; i++) EXPECT_EQ(call(a, echo(uint64_t(i), "a", true)).status, LK_OK);
  });
  std::thread tb([&] {
    for (int i = 1; i <= N; i++) EXPECT_EQ(call(b, echo(uint64_t(i), "b", true)).status, LK_OK);
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(ca.wait_completions(N));
  ASSERT_TRUE(cb.wait_completions(N));
  for (Collector *col : {&ca, &cb}) {
    std::lock_guard<std::mutex> l(col->mu);
    std::string want = col == &ca ? "a" : "b";
    std::set<uint64_t> ids;
    for (size_t i = 0; i < col->events.size(); i++) {
      EXPECT_EQ(col->events[i].u(kEvSeq), i + 1);
      pb::Fields comp = col->events[i].sub(kEvCompletion);
      EXPECT_EQ(comp.sub(kCompEcho).b(1), want);
      ids.insert(comp.u(kCompID));
    }
    EXPECT_EQ(ids.size(), size_t(N));
  }
  {
    std::lock_guard<std::mutex> la(ca.mu), lb(cb.mu);
    EXPECT_NE(*ca.threads.begin(), *cb.threads.begin()) << "each client has its own dispatcher thread";
  }
  EXPECT_EQ(lk_client_close(a, kHang), LK_OK);
  EXPECT_EQ(lk_client_close(b, kHang), LK_OK);
}

// Once lk_client_close returned, no callback runs, even while events were flowing and
// requests kept arriving from another thread.
TEST(Events, NoCallbackAfterClose) {
  Collector col;
  col.hook = [](Collector *, const pb::Fields &) { std::this_thread::sleep_for(std::chrono::microseconds(500)); };
  lk_client_t c = lk_client_new(&Collector::cb, &col);
  ASSERT_NE(c, 0u);
  for (uint64_t i = 1; i <= 200; i++) ASSERT_EQ(call(c, echo(i, "queued", true)).status, LK_OK);
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (uint64_t i = 1000; i < 3000 && !stop.load(); i++) {
      uint8_t *out = nullptr;
      size_t n = 0;
      pb::Msg req = echo(i, "racing", true);
      int32_t st = lk_request(c, req.data(), req.size(), &out, &n);
      lk_free(out);
      if (st == LK_ERR_CLIENT_CLOSED) break;
      std::this_thread::yield();
    }
  });
  bool started = col.wait_completions(10);
  int32_t st = lk_client_close(c, kHang);
  col.closed = true;
  stop = true;
  producer.join();
  ASSERT_TRUE(started);
  ASSERT_EQ(st, LK_OK);
  {
    // 200 completions were queued before the close, which came after the 10th delivery
    // (each callback takes 0.5 ms): a close that delivered the queue instead of discarding
    // it would have delivered them all.
    std::lock_guard<std::mutex> l(col.mu);
    EXPECT_LT(col.events.size(), size_t(200)) << "close should discard undelivered events";
  }
  // The dispatcher has exited when lk_client_close returns (proved in the Go tests,
  // TestNoCallbackAfterClose); here: no callback ran after it returned.
  EXPECT_EQ(col.late.load(), 0);
  EXPECT_EQ(col.overlaps.load(), 0);
}

// Requests and lk_client_close may be called from inside the callback.
TEST(Events, ReentrantCallsFromCallback) {
  struct State {
    Collector col;
    std::atomic<int32_t> echo_status{-1};
    std::atomic<int32_t> close_status{-1};
    std::atomic<int> after_close{0};
    std::atomic<bool> closed{false};
  } st;
  st.col.hook = [&st](Collector *c, const pb::Fields &ev) {
    if (st.closed.load()) {
      st.after_close++;
      return;
    }
    uint64_t id = ev.sub(kEvCompletion).u(kCompID);
    if (id == 1) {
      st.echo_status = call(c->self, echo(0, "inner")).status;
      EXPECT_EQ(call(c->self, echo(2, "second", true)).status, LK_OK);
    } else if (id == 2) {
      st.close_status = lk_client_close(c->self, kHang);
      st.closed = true;
    }
  };
  lk_client_t c = lk_client_new(&Collector::cb, &st.col);
  ASSERT_NE(c, 0u);
  st.col.self = c;
  ASSERT_EQ(call(c, echo(1, "first", true)).status, LK_OK);
  for (int i = 0; i < 1000 && st.close_status.load() == -1; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(st.echo_status.load(), LK_OK);
  EXPECT_EQ(st.close_status.load(), LK_OK);
  // The client is closed: further calls fail, a second close succeeds and waits for the
  // dispatcher, and no callback ran after the close inside the callback.
  EXPECT_EQ(call(c, echo(3, "x")).status, LK_ERR_CLIENT_CLOSED);
  EXPECT_EQ(lk_client_close(c, kHang), LK_OK);
  EXPECT_EQ(st.after_close.load(), 0);
}

// Many clients created and closed: nothing accumulates, ids are never reused.
TEST(Client, ManyClients) {
  std::set<lk_client_t> ids;
  for (int i = 0; i < 50; i++) {
    Collector col;
    lk_client_t c = lk_client_new(i % 2 ? &Collector::cb : nullptr, &col);
    ASSERT_NE(c, 0u);
    EXPECT_TRUE(ids.insert(c).second);
    create_room(c);
    ASSERT_EQ(call(c, echo(1, "x", true)).status, LK_OK);
    ASSERT_EQ(lk_client_close(c, kHang), LK_OK);
  }
}

}  // namespace
