// A long-lived room whose peer comes and goes, as in a host that runs for days, against devsfu:
// after each of bob's sessions (a data track auto-subscribed by the host and never taken, RPC
// both ways, a text stream, a data packet) the host holds nothing of it — one handle (its
// room) and no auto-subscription waiting to be taken (hence a test of this program, which is
// built with the binding's sources).
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "common.hpp"
#include "internal.hpp"

using namespace lktest;

namespace {

// Mailbox passes strings from handler threads to the test.
class Mailbox {
 public:
  void put(std::string s) {
    std::lock_guard<std::mutex> l(mu_);
    items_.push_back(std::move(s));
    cv_.notify_all();
  }
  std::string take() {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, kGuard, [&] { return !items_.empty(); })) {
      ADD_FAILURE() << "nothing arrived within the guard";
      return {};
    }
    std::string s = std::move(items_.front());
    items_.pop_front();
    return s;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> items_;
};

size_t untaken_auto_subscriptions(const lk::Room &room) {
  auto st = lk::detail::Access::room(room);
  std::lock_guard<std::mutex> l(st->mu);
  return st->auto_subs.size();
}

}  // namespace

TEST_F(E2E, PeerSessionsLeaveNothingBehind) {
  lk::Room host(client_a, auto_subscribing());
  Events ev(host);
  Mailbox texts;
  host.register_rpc_method("echo", [](const lk::RpcInvocation &inv) { return inv.payload; });
  host.register_text_stream_handler("chat", [&](lk::TextStreamReader reader, const std::string &) {
    std::string got;
    {
      // Released before the text is handed over: once the test has the text, the reader's
      // handle is gone (else a slow handler thread could still hold it at the count below).
      lk::TextStreamReader r = std::move(reader);
      try {
        got = r.read_all(kGuard);
      } catch (const lk::Error &e) {
        got = std::string("error: ") + e.what();
      }
    }
    texts.put(std::move(got));
  });
  host.connect(sfu.url, token("host"));
  const std::string bob_token = token("bob");
  for (int i = 0; i < 40; i++) {
    const std::string n = std::to_string(i);
    std::string sid;
    {
      lk::Room bob(client_b);
      bob.register_rpc_method("echo", [](const lk::RpcInvocation &inv) { return inv.payload; });
      bob.connect(sfu.url, bob_token);
      lk::LocalDataTrack track = bob.publish_data_track("telemetry");
      auto pub = ev.wait<lk::DataTrackPublishedEvent>();
      ASSERT_EQ(pub.track.publisher_identity, "bob");
      ASSERT_EQ(pub.track.info.name, "telemetry");
      sid = pub.track.info.sid;
      EXPECT_EQ(untaken_auto_subscriptions(host), 1u) << "cycle " << i;
      const std::string big = n + ":" + std::string(20000, 'y');  // above the RPC v1 limit
      EXPECT_EQ(bob.perform_rpc("host", "echo", big).get(), big) << "cycle " << i;
      EXPECT_EQ(host.perform_rpc("bob", "echo", n).get(), n) << "cycle " << i;
      lk::TextStreamOptions to;
      to.topic = "chat";
      bob.send_text(n + ":" + std::string(50000, 'z'), to);
      EXPECT_EQ(texts.take().substr(0, n.size() + 1), n + ":") << "cycle " << i;
      lk::DataPublishOptions po;
      po.topic = "churn";
      bob.publish_data(n, po);
      EXPECT_EQ(ev.wait<lk::DataReceivedEvent>().payload, n) << "cycle " << i;
      bob.disconnect();
    }
    EXPECT_EQ(ev.wait<lk::ParticipantDisconnectedEvent>().identity, "bob") << "cycle " << i;
    EXPECT_EQ(ev.wait<lk::DataTrackUnpublishedEvent>().sid, sid) << "cycle " << i;
    ASSERT_EQ(client_a.live_handles(), 1u) << "cycle " << i << ": the host holds only its room";
    ASSERT_EQ(untaken_auto_subscriptions(host), 0u) << "cycle " << i;
    ASSERT_EQ(client_b.live_handles(), 0u) << "cycle " << i << ": bob's room is gone";
  }
}
