// RoomOptions that shape the connection: ICE servers and the relay-only policy, the SCTP
// receive window and UDP batching (the library applies and checks them; the binding passes
// them on).
#include <signal.h>

#include <fstream>
#include <sstream>

#include "common.hpp"

using namespace lktest;

namespace {

// json_string returns the string value of "name" in a flat JSON document ("" if absent).
std::string json_string(const std::string &j, const std::string &name) {
  const std::string key = "\"" + name + "\":\"";
  size_t at = j.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return j.substr(at, j.find('"', at) - at);
}

// TurnDevsfu is a second lkcore-devsfu with an embedded TURN server it does not announce
// (--turn --turn-withhold): a client reaches it through TURN only with its own ice servers. It
// has the suite's API key and secret, so the fixture's tokens are valid there too.
class TurnDevsfu {
 public:
  explicit TurnDevsfu(const Devsfu &main) : bin_(main.bin), key_(main.key), secret_(main.secret) {
    char path[] = "/tmp/lkcore-turn-devsfu-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    out_ = path;
    std::string pid = command_output("'" + bin_ + "' --addr 127.0.0.1:0 --key '" + key_ + "' --secret '" + secret_ +
                                     "' --control --turn --turn-withhold >'" + out_ + "' 2>/dev/null & echo $!");
    pid_ = std::atoi(pid.c_str());
    for (int i = 0; i < 600 && url.empty() && pid_ > 0; i++) {  // bounded: 30 s
      std::ifstream f(out_);
      std::string line;
      if (std::getline(f, line)) url = json_string(line, "url");
      if (url.empty()) std::this_thread::sleep_for(50ms);
    }
  }
  ~TurnDevsfu() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 200 && kill(pid_, 0) == 0; i++) std::this_thread::sleep_for(50ms);
    }
    unlink(out_.c_str());
  }
  TurnDevsfu(const TurnDevsfu &) = delete;
  TurnDevsfu &operator=(const TurnDevsfu &) = delete;

  // ice_server is this participant's own TURN configuration, from the control API.
  lk::IceServer ice_server(const std::string &identity) const {
    std::string j = command_output(kTimeoutCmd + "'" + bin_ + "' turn-credentials --url '" + url + "' --identity '" + identity + "'");
    lk::IceServer s;
    size_t open = j.find("\"urls\":[");
    size_t close = j.find(']', open);
    if (open != std::string::npos && close != std::string::npos) {
      std::stringstream list(j.substr(open + 8, close - open - 8));
      for (std::string u; std::getline(list, u, ',');) s.urls.push_back(u.substr(1, u.size() - 2));
    }
    s.username = json_string(j, "username");
    s.credential = json_string(j, "credential");
    return s;
  }

  // allocations is how many TURN allocations the server has granted (-1 if unreadable).
  int64_t allocations() const {
    std::string j = command_output(kTimeoutCmd + "'" + bin_ + "' stats --url '" + url + "' --turn");
    size_t at = j.find("\"Allocations\":");
    return at == std::string::npos ? -1 : std::strtoll(j.c_str() + at + 14, nullptr, 10);
  }

  std::string url;

 private:
  std::string bin_, key_, secret_, out_;
  int pid_ = 0;
};

}  // namespace

TEST_F(E2E, RelayOnlyThroughOwnTurnServerCarriesData) {
  TurnDevsfu turn(sfu);
  ASSERT_FALSE(turn.url.empty()) << "the TURN devsfu did not start";
  auto relay_only = [&](const std::string &id) {
    lk::RoomOptions o;
    o.ice_transport_policy = lk::IceTransportPolicy::Relay;
    o.ice_servers = {turn.ice_server(id)};
    return o;
  };
  auto oa = relay_only("alice"), ob = relay_only("bob");
  ASSERT_FALSE(oa.ice_servers[0].urls.empty());
  ASSERT_FALSE(oa.ice_servers[0].credential.empty());
  {
    lk::Room alice(client_a, oa), bob(client_b, ob);
    alice.connect(turn.url, token("alice"));
    Events ev_b(bob);
    bob.connect(turn.url, token("bob"));
    alice.publish_data("through the relay", {true, "relay", {}});
    auto got = ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "relay"; });
    EXPECT_EQ(got.payload, "through the relay");
    EXPECT_EQ(got.participant_identity, "alice");
    // Relay-only candidates: each connection allocated on the TURN server.
    EXPECT_GE(turn.allocations(), 2);
  }
}

TEST_F(E2E, RelayOnlyWithoutTurnServerFails) {
  TurnDevsfu turn(sfu);
  ASSERT_FALSE(turn.url.empty()) << "the TURN devsfu did not start";
  lk::RoomOptions o;
  o.ice_transport_policy = lk::IceTransportPolicy::Relay;
  lk::Room r(client_a, o);
  try {
    r.connect(turn.url, token("alice"));
    ADD_FAILURE() << "relay-only connect without a TURN server succeeded";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_CONNECTION_FAILED) << e.what();
    EXPECT_NE(std::string(e.what()).find("relay"), std::string::npos) << e.what();
  }
  EXPECT_EQ(turn.allocations(), 0);
}

TEST_F(E2E, SctpWindowOutOfRangeIsInvalidArgument) {
  for (uint32_t size : {1u, 256u * 1024 - 1, 64u * 1024 * 1024 + 1}) {
    lk::RoomOptions o;
    o.sctp_receive_buffer_bytes = size;
    expect_error(LK_ERR_INVALID_ARGUMENT, [&] { lk::Room r(client_a, o); }, "window out of range");
  }
}

TEST_F(E2E, MalformedIceServerIsInvalidArgument) {
  for (const lk::IceServer &s : {lk::IceServer{{"https://turn.example.com"}, "", ""},
                                 lk::IceServer{{"turn:127.0.0.1:3478"}, "user-only", ""}}) {
    lk::RoomOptions o;
    o.ice_servers = {s};
    try {
      lk::Room r(client_a, o);
      ADD_FAILURE() << s.urls[0] << " accepted";
    } catch (const lk::Error &e) {
      EXPECT_EQ(e.code(), LK_ERR_INVALID_ARGUMENT) << e.what();
      EXPECT_NE(std::string(e.what()).find(s.urls[0]), std::string::npos) << e.what();
    }
  }
}

TEST_F(E2E, TunedTransportOptionsCarryData) {
  lk::RoomOptions tuned;
  tuned.sctp_receive_buffer_bytes = 4u << 20;
  tuned.disable_udp_batching = true;
  lk::Room alice = join(client_a, "alice", tuned);
  Events ev_a(alice);
  lk::Room bob = join(client_b, "bob");
  Events ev_b(bob);
  std::string big = random_bytes(60000, 7);
  std::string back(big.rbegin(), big.rend());
  alice.publish_data(big, {true, "a", {}});
  bob.publish_data(back, {true, "b", {}});
  EXPECT_EQ(ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "a"; }).payload, big);
  EXPECT_EQ(ev_a.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "b"; }).payload, back);
}
