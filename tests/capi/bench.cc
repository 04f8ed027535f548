// Micro-benchmarks of liblkcore's C ABI (figures, not tests; run by tests/suites/capi.sh with
// LK_BENCH=1, or directly). Prints one JSON object per measure.
//
//   request_roundtrip   synchronous EchoRequest (100 B) through lk_request: encode, cross,
//                       decode, route, encode the response, malloc/copy, lk_free
//   events_callback     async EchoRequest completions delivered to a C callback (events/s)
//   events_pull         the same, taken with lk_client_next_event
//   push_fast / push_pb one 1 KiB frame pushed on a published data track through
//                       lk_data_track_push vs PushDataTrackFrameRequest (needs LK_URL and
//                       LK_TOKEN_A: a server with data tracks)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "lkcore.h"
#include "pb.h"

namespace {

using clk = std::chrono::steady_clock;

double ns_since(clk::time_point t0, long n) {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count()) / double(n);
}

pb::Msg echo(uint64_t id, size_t size, bool async) {
  pb::Msg e;
  e.bytes(1, std::string(size, 'x'));
  if (async) e.varint(2, 1);
  return pb::Msg().varint(1, id).msg(10, e);
}

int32_t send(lk_client_t c, const pb::Msg &req, pb::Fields *resp = nullptr) {
  uint8_t *out = nullptr;
  size_t n = 0;
  int32_t st = lk_request(c, req.data(), req.size(), &out, &n);
  if (resp) *resp = pb::parse(out, n);
  lk_free(out);
  return st;
}

void bench_request_roundtrip() {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  pb::Msg req = echo(0, 100, false);
  const long N = 200000;
  for (long i = 0; i < 1000; i++) send(c, req);
  auto t0 = clk::now();
  for (long i = 0; i < N; i++) {
    if (send(c, req) != LK_OK) std::abort();
  }
  std::printf("{\"measure\":\"request_roundtrip\",\"payload_bytes\":100,\"ns_per_op\":%.0f}\n", ns_since(t0, N));
  lk_client_close(c, 5000);
}

struct Counter {
  std::atomic<long> n{0};
  long want = 0;
  std::mutex mu;
  std::condition_variable cv;
  static void cb(void *ud, const uint8_t *, size_t) {
    auto *c = static_cast<Counter *>(ud);
    if (c->n.fetch_add(1) + 1 == c->want) {
      std::lock_guard<std::mutex> l(c->mu);
      c->cv.notify_all();
    }
  }
};

void bench_events() {
  const long N = 100000;
  {
    Counter cnt;
    cnt.want = N;
    lk_client_t c = lk_client_new(&Counter::cb, &cnt);
    auto t0 = clk::now();
    for (long i = 1; i <= N; i++) {
      if (send(c, echo(uint64_t(i), 16, true)) != LK_OK) std::abort();
    }
    {
      std::unique_lock<std::mutex> l(cnt.mu);
      cnt.cv.wait(l, [&] { return cnt.n.load() >= N; });
    }
    double ns = ns_since(t0, N);
    std::printf("{\"measure\":\"events_callback\",\"events_per_s\":%.0f,\"ns_per_event\":%.0f}\n", 1e9 / ns, ns);
    lk_client_close(c, 5000);
  }
  {
    lk_client_t c = lk_client_new(nullptr, nullptr);
    auto t0 = clk::now();
    long got = 0;
    for (long i = 1; i <= N; i++) {
      if (send(c, echo(uint64_t(i), 16, true)) != LK_OK) std::abort();
      // Keep the queue below its capacity: drain as we go.
      uint8_t *p;
      size_t n;
      while (lk_client_next_event(c, 0, &p, &n) == LK_OK) {
        lk_free(p);
        got++;
      }
    }
    while (got < N) {
      uint8_t *p;
      size_t n;
      if (lk_client_next_event(c, 5000, &p, &n) != LK_OK) std::abort();
      lk_free(p);
      got++;
    }
    double ns = ns_since(t0, N);
    std::printf("{\"measure\":\"events_pull\",\"events_per_s\":%.0f,\"ns_per_event\":%.0f}\n", 1e9 / ns, ns);
    lk_client_close(c, 5000);
  }
}

// pull_until waits (pull mode) for the completion of id and returns it.
pb::Fields pull_until(lk_client_t c, uint64_t id) {
  for (;;) {
    uint8_t *p;
    size_t n;
    if (lk_client_next_event(c, 30000, &p, &n) != LK_OK) std::abort();
    pb::Fields ev = pb::parse(p, n);
    lk_free(p);
    if (ev.has(10) && ev.sub(10).u(1) == id) return ev.sub(10);
  }
}

void drain(lk_client_t c) {
  uint8_t *p;
  size_t n;
  while (lk_client_next_event(c, 0, &p, &n) == LK_OK) lk_free(p);
}

void bench_push(const char *url, const char *token) {
  lk_client_t c = lk_client_new(nullptr, nullptr);
  pb::Fields resp;
  send(c, pb::Msg().msg(20, pb::Msg()), &resp);
  uint64_t room = resp.sub(20).sub(1).u(1);
  send(c, pb::Msg().varint(1, 1).msg(21, pb::Msg().varint(1, room).bytes(2, url).bytes(3, token)));
  if (pull_until(c, 1).has(2)) {
    std::fprintf(stderr, "connect failed\n");
    std::abort();
  }
  send(c, pb::Msg().varint(1, 2).msg(40, pb::Msg().varint(1, room).bytes(2, "bench")));
  pb::Fields comp = pull_until(c, 2);
  uint64_t track = comp.sub(40).sub(1).u(1);
  if (!track) std::abort();
  std::string frame(1024, 'f');
  const long N = 200000;
  for (int path = 0; path < 2; path++) {
    long ok = 0, full = 0;
    pb::Msg req = pb::Msg().msg(43, pb::Msg().varint(1, track).bytes(2, frame).varint(3, 42));
    auto t0 = clk::now();
    for (long i = 0; i < N; i++) {
      int32_t st = path == 0 ? lk_data_track_push(c, track, reinterpret_cast<const uint8_t *>(frame.data()), frame.size(), 42, true)
                             : send(c, req);
      if (st == LK_OK) {
        ok++;
      } else if (st == LK_ERR_QUEUE_FULL) {
        full++;
      } else {
        std::abort();
      }
      if ((i & 1023) == 0) drain(c);
    }
    double secs = std::chrono::duration<double>(clk::now() - t0).count();
    std::printf("{\"measure\":\"%s\",\"frame_bytes\":1024,\"ns_per_call\":%.0f,\"accepted\":%ld,\"queue_full\":%ld,\"accepted_frames_per_s\":%.0f}\n",
                path == 0 ? "push_fast" : "push_pb", secs * 1e9 / double(N), ok, full, double(ok) / secs);
  }
  lk_handle_drop(c, room);
  lk_client_close(c, 5000);
}

}  // namespace

int main() {
  bench_request_roundtrip();
  bench_events();
  const char *url = std::getenv("LK_URL"), *token = std::getenv("LK_TOKEN_A");
  if (url && token) bench_push(url, token);
  return 0;
}
