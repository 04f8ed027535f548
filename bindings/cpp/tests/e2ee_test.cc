// End-to-end encryption with a shared key, against devsfu.
#include "common.hpp"

using namespace lktest;

namespace {
lk::RoomOptions e2ee(const std::string &key) {
  lk::RoomOptions o;
  o.e2ee = lk::E2eeOptions{key, "", 0, 0};
  return o;
}
}  // namespace

TEST_F(E2E, SharedKeyPacketsStreamsAndDataTracks) {
  const std::string key = "correct horse battery staple";
  lk::Room bob(client_b, e2ee(key));
  Events ev_b(bob);
  std::promise<std::pair<std::string, bool>> text;
  bob.register_text_stream_handler("secret", [&](lk::TextStreamReader r, const std::string &) {
    text.set_value({r.read_all(kGuard), r.info().encrypted});
  });
  bob.connect(sfu.url, token("bob"));
  lk::Room alice(client_a, e2ee(key));
  alice.connect(sfu.url, token("alice"));

  alice.publish_data("top secret", {true, "s", {}});
  auto pkt = ev_b.wait<lk::DataReceivedEvent>();
  EXPECT_EQ(pkt.payload, "top secret");
  EXPECT_TRUE(pkt.encrypted);

  lk::TextStreamOptions to;
  to.topic = "secret";
  alice.send_text("classified", to);
  auto tf = text.get_future();
  ASSERT_EQ(tf.wait_for(kGuard), std::future_status::ready);
  auto [content, encrypted] = tf.get();
  EXPECT_EQ(content, "classified");
  EXPECT_TRUE(encrypted);

  // An encrypted data track with 100 KB frames.
  lk::LocalDataTrack track = alice.publish_data_track("enc");
  EXPECT_TRUE(track.info().uses_e2ee);
  auto pub = ev_b.wait<lk::DataTrackPublishedEvent>();
  EXPECT_TRUE(pub.track.info.uses_e2ee);
  lk::DataTrackSubscription sub = bob.subscribe(pub.track);
  std::string frame = random_bytes(100 * 1024, 42);
  std::optional<lk::Frame> got;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !got && std::chrono::steady_clock::now() < deadline;) {
    (void)track.try_push(frame, 77);
    got = sub.read(lk::Millis(100));
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload.view(), frame);
  EXPECT_EQ(got->user_timestamp, std::optional<uint64_t>(77));
}

TEST_F(E2E, WrongKeyIsReportedThenRotationHeals) {
  Joined jb = join_with_events(client_b, "bob", e2ee("bob's key"));
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  lk::Room alice(client_a, e2ee("alice's key"));
  alice.connect(sfu.url, token("alice"));

  EXPECT_TRUE(bob.e2ee_stats().enabled);
  EXPECT_EQ(bob.e2ee_stats().decryption_failures, 0u);
  alice.publish_data("unreadable", {true, "s", {}});
  auto st = ev_b.wait<lk::EncryptionStateChangedEvent>();
  EXPECT_EQ(st.participant_identity, "alice");
  EXPECT_TRUE(st.state == lk::EncryptionState::DecryptionFailed || st.state == lk::EncryptionState::MissingKey);
  // The packet bob could not read is counted, not delivered.
  EXPECT_GE(bob.e2ee_stats().decryption_failures, 1u);

  alice.set_shared_key("rotated", 1);
  bob.set_shared_key("rotated", 1);
  alice.publish_data("readable", {true, "s2", {}});
  auto pkt = ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "s2"; });
  EXPECT_EQ(pkt.payload, "readable");
  EXPECT_TRUE(pkt.encrypted);
  EXPECT_EQ(ev_b.count<lk::DataReceivedEvent>([](auto &e) { return e.topic == "s"; }), 0u);
  // Decrypting again is reported, and the library holds alice's state (ABI 1.17).
  ev_b.wait<lk::EncryptionStateChangedEvent>([](auto &e) { return e.state == lk::EncryptionState::Ok; });
  EXPECT_EQ(bob.encryption_state("alice"), lk::EncryptionState::Ok);
  EXPECT_EQ(bob.e2ee_stats().encryption_states, (std::map<std::string, lk::EncryptionState>{{"alice", lk::EncryptionState::Ok}}));
  // alice leaves: her state goes with her. The server announces a participant that publishes
  // nothing with its next batch of updates, and one that joins and leaves within a batch is
  // never announced, nor its departure: alice must be known before her departure is awaited.
  ev_b.wait<lk::ParticipantConnectedEvent>([](auto &e) { return e.info.identity == "alice"; });
  alice.disconnect();
  ev_b.wait<lk::ParticipantDisconnectedEvent>([](auto &e) { return e.identity == "alice"; });
  EXPECT_EQ(bob.encryption_state("alice"), lk::EncryptionState::Unspecified);
  EXPECT_TRUE(bob.e2ee_stats().encryption_states.empty());
}
