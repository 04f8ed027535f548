// Helpers of the C++ API tests: the devsfu environment, token minting, an event collector and
// a SHA-256 for checking stream contents.
#ifndef LKCORE_CPP_TESTS_COMMON_HPP
#define LKCORE_CPP_TESTS_COMMON_HPP

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "lkcore.hpp"

namespace lktest {

using namespace std::chrono_literals;

// Hang guard for waits (sanitizers make everything slower); never a timing assertion.
constexpr lk::Millis kGuard{30000};

inline std::string env(const char *name) {
  const char *v = std::getenv(name);
  return v ? v : "";
}

// kTimeoutCmd prefixes a command that must end within 60 s (coreutils timeout).
inline const std::string kTimeoutCmd = "timeout 60 ";

// command_output returns what a shell command printed, or "" if it failed. Commands that could
// wait start with kTimeoutCmd, so no helper can hang a test.
inline std::string command_output(const std::string &cmd) {
  FILE *p = popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) return "";
  return out;
}

// Devsfu is the server under test, from the environment set by tests/suites/cpp.sh.
struct Devsfu {
  std::string url = env("LKCORE_DEVSFU_URL");
  std::string bin = env("LKCORE_DEVSFU_BIN");
  std::string key = env("LKCORE_DEVSFU_KEY");
  std::string secret = env("LKCORE_DEVSFU_SECRET");
  // The same server's wss:// URL (devsfu --tls-ca-out), whose certificate for 127.0.0.1 a CA
  // made at its start signed, and the file holding that CA's PEM: only the tests of
  // RoomOptions::tls_root_certificates_pem need them (tls_ok()).
  std::string tls_url = env("LKCORE_DEVSFU_TLS_URL");
  std::string tls_ca = env("LKCORE_DEVSFU_TLS_CA");

  bool ok() const { return !url.empty() && !bin.empty() && !key.empty() && !secret.empty(); }
  bool tls_ok() const { return !tls_url.empty() && !tls_ca.empty(); }

  // token mints an access token with the devsfu CLI.
  std::string token(const std::string &room, const std::string &identity, const std::string &extra = "") const {
    std::string out = command_output(kTimeoutCmd + "'" + bin + "' token --room '" + room + "' --identity '" + identity +
                                     "' --key '" + key + "' --secret '" + secret + "' " + extra);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  // control posts a fault action to the server (`lkcore-devsfu control`, which needs the
  // --control the suite starts it with), e.g. control("drop-signal", "identity=alice"); false
  // if the server refused it or could not be reached.
  bool control(const std::string &action, const std::string &args = "") const {
    FILE *p = popen((kTimeoutCmd + "'" + bin + "' control --url '" + url + "' " + action + " " + args).c_str(), "r");
    if (!p) return false;
    char buf[256];
    while (fread(buf, 1, sizeof buf, p) > 0) {
    }
    return pclose(p) == 0;
  }

  // DataTrackCounters are the server's cumulative data-track packet counters (all rooms): the
  // packets it read from publishers and the packets it wrote to subscribers' channels.
  struct DataTrackCounters {
    int64_t in = -1, out = -1;  // -1: could not be read
  };

  // data_track_counters reads them (`lkcore-devsfu stats`, which needs the --control the suite
  // starts it with).
  DataTrackCounters data_track_counters() const {
    std::string out = command_output(kTimeoutCmd + "'" + bin + "' stats --url '" + url + "'");
    auto field = [&](const std::string &name) -> int64_t {
      const std::string key = "\"" + name + "\":";
      size_t at = out.find(key);
      return at == std::string::npos ? -1 : std::strtoll(out.c_str() + at + key.size(), nullptr, 10);
    };
    return {field("DataTrackPacketsIn"), field("DataTrackPacketsOut")};
  }
};

// A unique room name per test.
inline std::string room_name() {
  static std::atomic<int> n{0};
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("cpp-") + info->test_suite_name() + "-" + info->name() + "-" + std::to_string(getpid()) + "-" +
         std::to_string(n++);
}

// auto_subscribing returns room options with auto_subscribe on and the given subscription
// buffer (0 = the library's default).
inline lk::RoomOptions auto_subscribing(uint32_t buffer_size = 0) {
  lk::RoomOptions o;
  o.auto_subscribe = true;
  o.data_track_buffer_size = buffer_size;
  return o;
}

// EventThreadGate holds up the thread that calls hold() (a client's event thread, from a
// handler or a posted task) until open(), at most kGuard. Share it with a std::shared_ptr (the
// holding task may outlive the test's frame) and keep a GateOpener in the test, so that a
// failing test never leaves the thread held.
struct EventThreadGate {
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, opened = false;
  void hold() {
    std::unique_lock<std::mutex> l(mu);
    held = true;
    cv.notify_all();
    cv.wait_for(l, kGuard, [&] { return opened; });
  }
  // Waits until the thread is held; false if it was not within kGuard.
  bool wait_held() {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, kGuard, [&] { return held; });
  }
  void open() {
    std::lock_guard<std::mutex> l(mu);
    opened = true;
    cv.notify_all();
  }
};

// GateOpener opens its gate when called, and at the latest when it goes out of scope.
struct GateOpener {
  std::shared_ptr<EventThreadGate> gate;
  void operator()() { gate->open(); }
  ~GateOpener() { gate->open(); }
};

// Events collects a room's events (handler on the event thread) for waiting on them.
class Events {
 public:
  explicit Events(lk::Room &room) : room_(room) {
    room.set_event_handler([this](const lk::RoomEvent &e) {
      {
        std::lock_guard<std::mutex> l(mu_);
        all_.push_back(e);
      }
      cv_.notify_all();
    });
  }

  // wait returns the first not yet taken event of type T matching pred (fails the test after
  // kGuard).
  template <typename T>
  T wait(std::function<bool(const T &)> pred = {}, lk::Millis timeout = kGuard) {
    std::unique_lock<std::mutex> l(mu_);
    T out{};
    bool found = cv_.wait_for(l, timeout, [&] {
      for (size_t i = 0; i < all_.size(); i++) {
        if (taken_.size() <= i) taken_.resize(all_.size(), false);
        if (taken_[i]) continue;
        if (const T *e = std::get_if<T>(&all_[i])) {
          if (!pred || pred(*e)) {
            taken_[i] = true;
            out = *e;
            return true;
          }
        }
      }
      return false;
    });
    if (!found) ADD_FAILURE() << "timed out waiting for an event of type " << typeid(T).name();
    return out;
  }

  // wait_all waits until pred holds for the events so far (fails the test after kGuard) and
  // returns them.
  std::vector<lk::RoomEvent> wait_all(std::function<bool(const std::vector<lk::RoomEvent> &)> pred) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, kGuard, [&] { return pred(all_); })) ADD_FAILURE() << "timed out waiting for the events";
    return all_;
  }

  ~Events() {
    if (room_.valid()) room_.set_event_handler(nullptr);
  }
  Events(const Events &) = delete;
  Events &operator=(const Events &) = delete;

  template <typename T>
  size_t count(std::function<bool(const T &)> pred = {}) {
    std::lock_guard<std::mutex> l(mu_);
    size_t n = 0;
    for (const auto &e : all_)
      if (const T *t = std::get_if<T>(&e))
        if (!pred || pred(*t)) n++;
    return n;
  }

 private:
  lk::Room &room_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<lk::RoomEvent> all_;
  std::vector<bool> taken_;
};

// Fixture of the tests against devsfu: two clients (one per participant); every handle must be
// released when the test body's objects are gone.
class E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sfu.ok()) << "LKCORE_DEVSFU_URL/BIN/KEY/SECRET must be set (tests/suites/cpp.sh sets them)";
    room = room_name();
  }
  void TearDown() override {
    EXPECT_EQ(client_a.live_handles(), 0u) << "handles leaked by client A";
    EXPECT_EQ(client_b.live_handles(), 0u) << "handles leaked by client B";
  }
  std::string token(const std::string &identity, const std::string &extra = "") {
    std::string t = sfu.token(room, identity, extra);
    EXPECT_FALSE(t.empty()) << "could not mint a token";
    return t;
  }
  // join creates and connects a room on client c.
  lk::Room join(lk::Client &c, const std::string &identity, lk::RoomOptions opts = {}) {
    lk::Room r(c, opts);
    r.connect(sfu.url, token(identity));
    return r;
  }

  // Joined is a room on a client whose events are recorded from before it connected (Events
  // is attached before connect, so not even the first events are missed): the members are
  // constructed in this order, and Events holds a reference to the room, so a Joined is never
  // copied or moved (join_with_events returns it in place). snapshot is what connect returned.
  struct Joined {
    lk::Room room;
    Events events;
    lk::RoomSnapshot snapshot;

    Joined(E2E &t, lk::Client &c, const std::string &identity, const lk::RoomOptions &opts)
        : room(c, opts), events(room), snapshot(room.connect(t.sfu.url, t.token(identity))) {}
    Joined(const Joined &) = delete;
    Joined &operator=(const Joined &) = delete;
  };
  // join_with_events creates a room on client c, attaches Events, then connects (the lines
  // `lk::Room r(c, opts); Events ev(r); r.connect(sfu.url, token(identity));`).
  Joined join_with_events(lk::Client &c, const std::string &identity, lk::RoomOptions opts = {}) {
    return {*this, c, identity, opts};
  }

  Devsfu sfu;
  std::string room;
  lk::Client client_a;
  lk::Client client_b;
};

// expect_error runs f and checks it throws lk::Error with the code.
template <typename F>
void expect_error(int32_t code, F &&f, const char *what = "") {
  try {
    f();
    ADD_FAILURE() << what << ": expected " << lk_status_name(code) << ", nothing thrown";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), code) << what << ": got " << e.what();
  }
}

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto &c : s) c = char(rng() & 0xFF);
  return s;
}

// SHA-256 (FIPS 180-4), hex digest.
inline std::string sha256(const std::string &msg) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string m = msg;
  uint64_t bits = uint64_t(msg.size()) * 8;
  m.push_back(char(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; i--) m.push_back(char((bits >> (i * 8)) & 0xFF));
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
      const auto *p = reinterpret_cast<const unsigned char *>(m.data() + off + i * 4);
      w[i] = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
    }
    for (int i = 16; i < 64; i++) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  static const char *hex = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int i = 7; i >= 0; i--) out.push_back(hex[(v >> (i * 4)) & 0xF]);
  return out;
}

}  // namespace lktest

#endif
