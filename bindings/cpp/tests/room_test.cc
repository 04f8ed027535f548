// Rooms, participants and data packets against devsfu.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "common.hpp"

using namespace lktest;

TEST_F(E2E, ConnectSnapshotParticipantsAndDisconnect) {
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev_a = ja.events;
  auto &snap = ja.snapshot;
  EXPECT_EQ(snap.room.name, room);
  EXPECT_EQ(snap.room.connection_state, lk::ConnectionState::Connected);
  EXPECT_EQ(snap.local_participant.identity, "alice");
  EXPECT_TRUE(snap.local_participant.permission.can_publish_data);
  EXPECT_TRUE(snap.remote_participants.empty());
  EXPECT_FALSE(alice.e2ee_stats().enabled);  // created without RoomOptions::e2ee

  {
    lk::Room bob(client_b);
    auto sb = bob.connect(sfu.url, token("bob"));
    ASSERT_EQ(sb.remote_participants.size(), 1u);
    EXPECT_EQ(sb.remote_participants[0].identity, "alice");
    auto joined = ev_a.wait<lk::ParticipantConnectedEvent>();
    EXPECT_EQ(joined.info.identity, "bob");
    auto rp = alice.remote_participant("bob");
    ASSERT_TRUE(rp.has_value());
    EXPECT_EQ(rp->sid, joined.info.sid);
    EXPECT_EQ(alice.local_participant().identity, "alice");

    // Local participant updates reach the other side.
    bob.set_metadata("meta-1");
    auto upd = ev_a.wait<lk::ParticipantUpdatedEvent>([](auto &e) { return e.metadata_changed; });
    EXPECT_EQ(upd.info.identity, "bob");
    EXPECT_EQ(upd.info.metadata, "meta-1");
    EXPECT_EQ(upd.old_metadata, "");
    bob.set_metadata("meta-2");
    upd = ev_a.wait<lk::ParticipantUpdatedEvent>([](auto &e) { return e.metadata_changed; });
    EXPECT_EQ(upd.info.metadata, "meta-2");
    EXPECT_EQ(upd.old_metadata, "meta-1");  // the value before, carried by the event
    bob.set_name("Bob B.");
    upd = ev_a.wait<lk::ParticipantUpdatedEvent>([](auto &e) { return e.name_changed; });
    EXPECT_EQ(upd.info.name, "Bob B.");
    EXPECT_EQ(upd.old_name, joined.info.name);
    bob.set_name("Bob C.");
    upd = ev_a.wait<lk::ParticipantUpdatedEvent>([](auto &e) { return e.name_changed && e.info.name == "Bob C."; });
    EXPECT_EQ(upd.old_name, "Bob B.");
    bob.set_attributes({{"color", "blue"}, {"size", "L"}});
    upd = ev_a.wait<lk::ParticipantUpdatedEvent>([](auto &e) { return e.info.attributes.count("size") > 0; });
    EXPECT_EQ(upd.info.attributes.at("color"), "blue");
    bob.set_attributes({{"size", ""}});  // empty value deletes
    // Bob's (alice's own connection-quality rating, ABI 1.22, has no "size" either).
    upd = ev_a.wait<lk::ParticipantUpdatedEvent>(
        [](auto &e) { return e.info.identity == "bob" && e.info.attributes.count("size") == 0; });
    EXPECT_EQ(upd.info.attributes.count("color"), 1u);
    EXPECT_EQ(bob.local_participant().attributes.count("size"), 0u);

    bob.disconnect();
    // Operations on a disconnected room fail with DISCONNECTED; the handle stays valid.
    expect_error(LK_ERR_DISCONNECTED, [&] { bob.publish_data("late"); }, "publish after disconnect");
    EXPECT_EQ(client_b.live_handles(), 1u);
  }
  EXPECT_EQ(client_b.live_handles(), 0u);
  auto left = ev_a.wait<lk::ParticipantDisconnectedEvent>();
  EXPECT_EQ(left.identity, "bob");
  EXPECT_FALSE(alice.remote_participant("bob").has_value());

  alice.disconnect();
  auto d = ev_a.wait<lk::DisconnectedEvent>();
  EXPECT_EQ(d.reason, lk::DisconnectReason::ClientInitiated);
  EXPECT_EQ(d.error_code, LK_OK);
}

TEST_F(E2E, BadTokenIsUnauthorized) {
  lk::Room r(client_a);
  expect_error(LK_ERR_UNAUTHORIZED, [&] { r.connect(sfu.url, "not-a-token"); }, "garbage token");
  lk::Room r2(client_a);
  std::string forged = Devsfu{sfu.url, sfu.bin, sfu.key, "another-secret-another-secret-0123"}.token(room, "eve");
  ASSERT_FALSE(forged.empty());
  expect_error(LK_ERR_UNAUTHORIZED, [&] { r2.connect(sfu.url, forged); }, "wrong secret");
}

TEST_F(E2E, DataPacketsReachTheirDestination) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  Events &ev_b = jb.events;
  Joined jc = join_with_events(client_b, "carol");
  Events &ev_c = jc.events;

  std::string binary = random_bytes(10000, 1);
  binary[0] = '\0';
  alice.publish_data(binary, {true, "bin", {}});
  auto got = ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "bin"; });
  EXPECT_EQ(got.payload, binary);
  EXPECT_EQ(got.participant_identity, "alice");
  EXPECT_TRUE(got.reliable);
  EXPECT_FALSE(got.encrypted);
  ev_c.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "bin"; });

  alice.publish_data("lossy", {false, "lossy", {}});
  auto l = ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "lossy"; });
  EXPECT_FALSE(l.reliable);
  EXPECT_EQ(l.payload, "lossy");

  // Addressed to carol only; a later broadcast proves bob would have seen it by then.
  alice.publish_data("for carol", {true, "dm", {"carol"}});
  EXPECT_EQ(ev_c.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "dm"; }).payload, "for carol");
  alice.publish_data("after", {true, "after", {}});
  ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "after"; });
  EXPECT_EQ(ev_b.count<lk::DataReceivedEvent>([](auto &e) { return e.topic == "dm"; }), 0u);
}

namespace {

// FaultsCleared clears every devsfu fault when it goes out of scope, so that a failing test
// leaves none behind for the others (the server is shared by the suite's tests).
struct FaultsCleared {
  const Devsfu &s;
  ~FaultsCleared() { s.control("clear-faults"); }
};

// The payloads of the data packets the events hold, in order.
std::vector<std::string> payloads(const std::vector<lk::RoomEvent> &all) {
  std::vector<std::string> out;
  for (const auto &e : all)
    if (const auto *d = std::get_if<lk::DataReceivedEvent>(&e)) out.push_back(d->payload);
  return out;
}

}  // namespace

// CutPath runs what a reconnect does to reliable packets the server never acknowledged.
class CutPath : public E2E {
 protected:
  struct Outcome {
    lk::ReconnectedEvent reconnected{};
    std::vector<std::string> received;  // by bob, in order, up to "after"
  };

  // reconnect_after_a_cut_path has devsfu drop alice's datagrams both ways, then alice publish
  // n reliable packets ("cut 0".."cut n-1", topic "cut"): her data channel accepts them and the
  // server acknowledges none (she has sent nothing reliable before, so exactly these n are
  // unacknowledged). Her signalling connection is then dropped (with refuse_resume the server
  // refuses her resume, so she reconnects fully); once she is back the path works again and she
  // publishes "after". It returns her ReconnectedEvent and what bob received.
  Outcome reconnect_after_a_cut_path(int n, bool refuse_resume) {
    Joined ja = join_with_events(client_a, "alice");
    Joined jb = join_with_events(client_b, "bob");
    FaultsCleared cleared{sfu};
    Outcome out;
    EXPECT_TRUE(sfu.control("cut-path", "identity=alice on=true"));
    for (int i = 0; i < n; i++) ja.room.publish_data("cut " + std::to_string(i), {true, "cut", {}});
    if (refuse_resume) {
      EXPECT_TRUE(sfu.control("force-full-reconnect", "identity=alice on=true"));
    }
    EXPECT_TRUE(sfu.control("drop-signal", "identity=alice"));
    out.reconnected = ja.events.wait<lk::ReconnectedEvent>();
    EXPECT_TRUE(sfu.control("clear-faults"));
    ja.room.publish_data("after", {true, "cut", {}});
    jb.events.wait<lk::DataReceivedEvent>([](auto &e) { return e.payload == "after"; });
    out.received = payloads(jb.events.wait_all([](const std::vector<lk::RoomEvent> &) { return true; }));
    return out;
  }
};

// The server refuses alice's resume, so the reliable packets it never acknowledged cannot be
// sent again (the new session has new sequence numbers; the official SDKs drop them too): the
// ReconnectedEvent counts them as discarded, and none of them reaches bob.
TEST_F(CutPath, FullReconnectReportsTheReliablePacketsItDiscards) {
  constexpr int n = 20;
  Outcome o = reconnect_after_a_cut_path(n, /*refuse_resume=*/true);
  EXPECT_EQ(o.reconnected.kind, lk::ReconnectKind::Full);
  EXPECT_EQ(o.reconnected.discarded_packets, uint32_t(n));
  EXPECT_EQ(o.reconnected.replayed_packets, 0u);
  EXPECT_EQ(o.received, std::vector<std::string>{"after"});
}

// After a resume the server says which of alice's packets it has (last_message_seq); the
// library sends the others again. SCTP may also deliver some of them on its own once the path
// works (its retransmission timer is a second or more, so usually it does not get there first);
// either way bob gets each packet exactly once, in order.
TEST_F(CutPath, ResumeReplaysTheReliablePacketsTheServerMissed) {
  constexpr int n = 20;
  Outcome o = reconnect_after_a_cut_path(n, /*refuse_resume=*/false);
  EXPECT_EQ(o.reconnected.kind, lk::ReconnectKind::Resume);
  EXPECT_EQ(o.reconnected.discarded_packets, 0u);
  EXPECT_GE(o.reconnected.replayed_packets, 1u);
  EXPECT_LE(o.reconnected.replayed_packets, uint32_t(n));
  std::vector<std::string> want;
  for (int i = 0; i < n; i++) want.push_back("cut " + std::to_string(i));
  want.push_back("after");
  EXPECT_EQ(o.received, want);
}

TEST_F(E2E, EventsCanBePulled) {
  lk::Room alice = join(client_a, "alice");
  lk::Room bob = join(client_b, "bob");
  bob.publish_data("pulled", {true, "pull", {}});
  bool seen = false;
  auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    auto e = alice.next_event(lk::Millis(1000));
    if (!e) continue;
    if (auto *d = std::get_if<lk::DataReceivedEvent>(&*e)) seen = d->payload == "pulled" && d->topic == "pull";
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(alice.dropped_events(), 0u);
}

TEST_F(E2E, BlockingCallsAreRefusedOnTheEventThread) {
  lk::Room alice = join(client_a, "alice");
  lk::Room bob(client_b);
  std::promise<std::vector<int32_t>> codes;
  std::atomic<bool> once{false};
  lk::LocalDataTrack track;
  bob.set_event_handler([&](const lk::RoomEvent &e) {
    if (!std::holds_alternative<lk::DataReceivedEvent>(e) || once.exchange(true)) return;
    std::vector<int32_t> got;
    auto code_of = [&](auto &&f) {
      try {
        f();
        got.push_back(LK_OK);
      } catch (const lk::Error &err) {
        got.push_back(err.code());
      }
    };
    code_of([&] { bob.publish_data("from the event thread"); });
    code_of([&] { track.push("x"); });  // refused even with room in the queue
    code_of([&] { track.flush(); });
    got.push_back(track.try_push("y").code());  // never waits: allowed
    codes.set_value(got);
  });
  bob.connect(sfu.url, token("bob"));
  track = bob.publish_data_track("t");
  alice.publish_data("trigger");
  auto f = codes.get_future();
  ASSERT_EQ(f.wait_for(kGuard), std::future_status::ready);
  EXPECT_EQ(f.get(), (std::vector<int32_t>{LK_ERR_FAILED_PRECONDITION, LK_ERR_FAILED_PRECONDITION,
                                           LK_ERR_FAILED_PRECONDITION, LK_OK}));
  bob.set_event_handler(nullptr);
}

TEST_F(E2E, ClosingTheClientReleasesItsRooms) {
  Joined ja = join_with_events(client_a, "alice");
  Events &ev = ja.events;
  {
    lk::Client temp;
    lk::Room bob(temp);
    bob.connect(sfu.url, token("bob"));
    ev.wait<lk::ParticipantConnectedEvent>();
    temp.close();
    expect_error(LK_ERR_CLIENT_CLOSED, [&] { bob.snapshot(); }, "room of a closed client");
  }
  EXPECT_EQ(ev.wait<lk::ParticipantDisconnectedEvent>().identity, "bob");
}

// Millis::max() and negative timeouts mean "no bound" everywhere (TIMEOUTS in lkcore.hpp).
// Before, Millis::max() overflowed in the waits (undefined behaviour, which the sanitizer build
// aborts on) and made them return at once, a negative one made next_event and the stream
// reads poll, and operation_timeout = Millis::max() failed connect.
TEST_F(E2E, HugeAndNegativeTimeoutsMeanNoBound) {
  lk::RoomOptions o;
  o.operation_timeout = lk::Millis::max();
  lk::Room bob(client_b, o);
  bob.connect(sfu.url, token("bob"));
  bob.set_metadata("m");

  int peer = 0;
  for (lk::Millis t : {lk::Millis::max(), lk::kNoTimeout}) {
    while (bob.next_event(lk::Millis(0))) {
    }
    std::string identity = "peer" + std::to_string(peer++);
    // Waits for the peer's arrival: nothing else ends the wait but an event.
    auto pulled = std::async(std::launch::async, [&bob, t, identity] {
      for (;;) {
        auto e = bob.next_event(t);
        if (!e) return false;  // returned without an event: the bug
        if (auto *c = std::get_if<lk::ParticipantConnectedEvent>(&*e))
          if (c->info.identity == identity) return true;
      }
    });
    lk::Room other = join(client_a, identity);
    if (pulled.wait_for(kGuard) != std::future_status::ready) {
      std::fprintf(stderr, "next_event(%lld ms) missed the event it waited for\n", (long long)t.count());
      std::abort();  // the thread still uses bob: it cannot be left behind
    }
    EXPECT_TRUE(pulled.get()) << "next_event(" << t.count() << " ms) returned without an event";
  }

  lk::Room alice = join(client_a, "alice");
  lk::LocalDataTrack track = alice.publish_data_track("forever");
  std::optional<lk::RemoteDataTrack> remote;
  for (auto deadline = std::chrono::steady_clock::now() + kGuard; !remote && std::chrono::steady_clock::now() < deadline;) {
    for (auto &r : bob.remote_data_tracks())
      if (r.info.name == "forever") remote = r;
    if (!remote) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(remote.has_value());
  lk::DataTrackSubscription sub = bob.subscribe(*remote);
  sub.wait_subscribed(lk::Millis::max());
  track.push("x", 1, lk::Millis::max());
  track.flush(lk::Millis::max());
  auto f = sub.read(lk::Millis::max());
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->payload.view(), "x");
  track.push("y", 2, lk::kNoTimeout);
  f = sub.read(lk::kNoTimeout);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->payload.view(), "y");

  // Stream reads: the first chunk with Millis::max(), the rest with no bound.
  auto got = std::make_shared<std::promise<std::string>>();
  auto got_f = got->get_future();
  bob.register_text_stream_handler("forever", [got](lk::TextStreamReader reader, const std::string &) {
    try {
      auto first = reader.read_chunk(lk::Millis::max());
      std::string all = first ? *first : "";
      all += reader.read_all(lk::kNoTimeout);
      got->set_value(all);
    } catch (...) {
      got->set_exception(std::current_exception());
    }
  });
  lk::TextStreamOptions so;
  so.topic = "forever";
  alice.send_text("all of it", so);
  ASSERT_EQ(got_f.wait_for(kGuard), std::future_status::ready);
  EXPECT_EQ(got_f.get(), "all of it");
  client_b.close(lk::Millis::max());  // nothing runs: returns at once
}

// operation_timeout does not cut connect's join attempts short: they are the library's policy,
// and only RoomOptions::connect_deadline bounds the whole connect. (Three attempts at a closed
// port take at least 1.5 s of backoff: before, the 300 ms operation_timeout ended them with
// LK_ERR_TIMEOUT.)
TEST_F(E2E, ConnectRetriesAreNotCutByTheOperationTimeout) {
  lk::RoomOptions o;
  o.join_attempts = 3;
  o.operation_timeout = lk::Millis(300);
  const std::string closed = "ws://127.0.0.1:1";
  {
    lk::Room r(client_a, o);
    expect_error(LK_ERR_CONNECTION_FAILED, [&] { r.connect(closed, token("x")); }, "every attempt failed");
  }
  o.connect_deadline = lk::Millis(300);
  lk::Room r(client_a, o);
  expect_error(LK_ERR_TIMEOUT, [&] { r.connect(closed, token("x")); }, "connect_deadline");
}

// The room's info follows the publisher count and the recording state (RoomUpdatedEvent).
TEST_F(E2E, RoomInfoFollowsPublishersAndRecording) {
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev = ja.events;
  auto &snap = ja.snapshot;
  EXPECT_EQ(snap.room.empty_timeout_seconds, 300u);
  EXPECT_EQ(snap.room.departure_timeout_seconds, 20u);
  EXPECT_EQ(snap.room.num_publishers, 0u);
  EXPECT_FALSE(snap.room.active_recording);
  lk::Room bob = join(client_b, "bob");
  auto t = bob.publish_data_track("t");
  ev.wait<lk::RoomUpdatedEvent>([](auto &e) { return e.info.num_publishers == 1; });
  ASSERT_TRUE(sfu.control("recording", "room=" + room + " on=true"));
  auto on = ev.wait<lk::RoomUpdatedEvent>([](auto &e) { return e.info.active_recording; });
  EXPECT_EQ(on.info.num_publishers, 1u);
  EXPECT_TRUE(alice.snapshot().room.active_recording);
}

// The session's server (RoomInfo::server, ABI 1.24) as the suite's devsfu describes itself
// (--region test-region; version, protocol and edition are devsfu's fixed ones, the node id its
// process's): in the connect snapshot, Room::snapshot(), a requested SnapshotTakenEvent and a
// RoomUpdatedEvent, and the same for another participant of the same server.
TEST_F(E2E, RoomInfoNamesTheServerOfTheSession) {
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev = ja.events;
  const lk::ServerInfo &server = ja.snapshot.room.server;
  EXPECT_EQ(server.edition, lk::ServerEdition::Standard);
  EXPECT_EQ(server.version, "1.13.5");
  EXPECT_EQ(server.protocol, 17);
  EXPECT_EQ(server.region, "test-region");
  EXPECT_EQ(server.node_id.rfind("ND_", 0), 0u) << server.node_id;
  EXPECT_GT(server.node_id.size(), 3u) << server.node_id;
  auto same = [&](const lk::ServerInfo &s, const char *where) {
    EXPECT_EQ(s.edition, server.edition) << where;
    EXPECT_EQ(s.version, server.version) << where;
    EXPECT_EQ(s.protocol, server.protocol) << where;
    EXPECT_EQ(s.region, server.region) << where;
    EXPECT_EQ(s.node_id, server.node_id) << where;
  };
  same(alice.snapshot().room.server, "Room::snapshot");
  alice.request_snapshot();
  same(ev.wait<lk::SnapshotTakenEvent>().snapshot.room.server, "SnapshotTakenEvent");
  ASSERT_TRUE(sfu.control("recording", "room=" + room + " on=true"));
  same(ev.wait<lk::RoomUpdatedEvent>([](auto &e) { return e.info.active_recording; }).info.server, "RoomUpdatedEvent");
  lk::Room bob(client_b);
  same(bob.connect(sfu.url, token("bob")).room.server, "bob's connect");
}

namespace {
// describe spells out every field of a media track, so that one comparison checks them all.
std::string describe(const lk::TrackPublication &t) {
  return t.sid + " name=" + t.name + " kind=" + std::to_string(int32_t(t.kind)) +
         " source=" + std::to_string(int32_t(t.source)) + " muted=" + std::to_string(t.muted) + " mime=" + t.mime_type +
         " " + std::to_string(t.width) + "x" + std::to_string(t.height) + " simulcast=" + std::to_string(t.simulcast) +
         " encrypted=" + std::to_string(t.encrypted);
}
std::string describe_all(const std::vector<lk::TrackPublication> &ts) {
  std::string out = "[";
  for (const auto &t : ts) out += (out.size() > 1 ? "; " : "") + describe(t);
  return out + "]";
}
std::string sids(const std::vector<lk::TrackPublication> &ts) {
  std::string out = "[";
  for (const auto &t : ts) out += (out.size() > 1 ? "," : "") + t.sid;
  return out + "]";
}
}  // namespace

// Other participants' media tracks (ABI 1.25), as devsfu's control endpoint publishes them for
// alice (what a browser's microphone, camera and screen share look like to the room): bob gets
// a ParticipantUpdatedEvent with track_published, track_mute_changed (mute, then unmute) or
// track_unpublished naming the track with every field right, and no other change; alice's info
// in each event, Room::remote_participant and Room::snapshot list her tracks in the server's
// order; new dimensions are a ParticipantUpdatedEvent without a flag; carol, joining later, has
// the tracks in her connect snapshot and no track_published for them; when alice leaves, bob
// gets a track_unpublished for each remaining track (the list shrinking) before her
// ParticipantDisconnectedEvent.
TEST_F(E2E, OtherParticipantsMediaTracksAreDescribed) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev = jb.events;
  ASSERT_EQ(jb.snapshot.remote_participants.size(), 1u);
  EXPECT_TRUE(jb.snapshot.remote_participants[0].tracks.empty());
  EXPECT_TRUE(jb.snapshot.local_participant.tracks.empty());

  auto media = [&](const std::string &args) {
    return sfu.control("media-track", "room=" + room + " identity=alice " + args);
  };
  // The next ParticipantUpdatedEvent about alice with the track member set (checked to be the
  // event's only change).
  using Member = std::optional<lk::TrackPublication> lk::ParticipantUpdatedEvent::*;
  auto next = [](Events &events, Member member, const std::string &what) {
    auto u = events.wait<lk::ParticipantUpdatedEvent>(
        [&](const lk::ParticipantUpdatedEvent &e) { return e.info.identity == "alice" && (e.*member).has_value(); });
    int changes = int(u.track_published.has_value()) + int(u.track_unpublished.has_value()) +
                  int(u.track_mute_changed.has_value()) + int(u.name_changed) + int(u.metadata_changed) +
                  int(u.permission_changed) + int(u.connection_quality_changed) + int(!u.changed_attributes.empty()) +
                  int(u.speaking_changed);
    EXPECT_EQ(changes, 1) << what;
    return u;
  };
  // Alice's tracks as a room's library has them now.
  auto listed = [](const lk::Room &r) {
    auto p = r.remote_participant("alice");
    return p ? describe_all(p->tracks) : std::string("alice unknown");
  };
  auto in_snapshot = [](const lk::RoomSnapshot &s) {
    for (const auto &p : s.remote_participants)
      if (p.identity == "alice") return describe_all(p.tracks);
    return std::string("alice not in the snapshot");
  };
  const Member published = &lk::ParticipantUpdatedEvent::track_published;
  const Member unpublished = &lk::ParticipantUpdatedEvent::track_unpublished;
  const Member mute_changed = &lk::ParticipantUpdatedEvent::track_mute_changed;

  lk::TrackPublication mic{"TR_mic", "mic", lk::TrackKind::Audio, lk::TrackSource::Microphone, false, "audio/opus",
                           0, 0, false, false};
  ASSERT_TRUE(media("sid=TR_mic kind=audio source=microphone name=mic mime=audio/opus"));
  auto u = next(ev, published, "microphone published");
  ASSERT_TRUE(u.track_published);
  EXPECT_EQ(describe(*u.track_published), describe(mic));
  EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic}));
  EXPECT_EQ(listed(bob), describe_all({mic}));

  ASSERT_TRUE(media("sid=TR_mic kind=audio source=microphone name=mic mime=audio/opus muted=true"));
  mic.muted = true;
  u = next(ev, mute_changed, "microphone muted");
  ASSERT_TRUE(u.track_mute_changed);
  EXPECT_EQ(describe(*u.track_mute_changed), describe(mic));
  EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic}));
  EXPECT_EQ(listed(bob), describe_all({mic}));

  ASSERT_TRUE(media("sid=TR_mic kind=audio source=microphone name=mic mime=audio/opus muted=false"));
  mic.muted = false;
  u = next(ev, mute_changed, "microphone unmuted");
  ASSERT_TRUE(u.track_mute_changed);
  EXPECT_EQ(describe(*u.track_mute_changed), describe(mic));
  EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic}));

  lk::TrackPublication cam{"TR_cam", "cam", lk::TrackKind::Video, lk::TrackSource::Camera, false, "video/VP8",
                           1280, 720, true, true};
  ASSERT_TRUE(media("sid=TR_cam kind=video source=camera name=cam mime=video/VP8 width=1280 height=720 "
                    "simulcast=true encrypted=true"));
  u = next(ev, published, "camera published");
  ASSERT_TRUE(u.track_published);
  EXPECT_EQ(describe(*u.track_published), describe(cam));
  EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic, cam}));
  EXPECT_EQ(listed(bob), describe_all({mic, cam}));
  EXPECT_EQ(in_snapshot(bob.snapshot()), describe_all({mic, cam}));

  // New dimensions: no flag, the new info.
  ASSERT_TRUE(media("sid=TR_cam kind=video source=camera name=cam mime=video/VP8 width=640 height=360 "
                    "simulcast=true encrypted=true"));
  cam.width = 640, cam.height = 360;
  u = ev.wait<lk::ParticipantUpdatedEvent>([](const lk::ParticipantUpdatedEvent &e) {
    return e.info.identity == "alice" && e.info.tracks.size() == 2 && e.info.tracks[1].width == 640;
  });
  EXPECT_FALSE(u.track_published || u.track_unpublished || u.track_mute_changed);
  EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic, cam}));

  // Carol joins now: alice's tracks are in her snapshot from the start (no event repeats them).
  Joined jc = join_with_events(client_a, "carol");
  EXPECT_EQ(in_snapshot(jc.snapshot), describe_all({mic, cam}));
  EXPECT_EQ(listed(jc.room), describe_all({mic, cam}));

  ASSERT_TRUE(media("sid=TR_cam remove=1"));
  for (Events *e : {&ev, &jc.events}) {
    u = next(*e, unpublished, "camera unpublished");
    ASSERT_TRUE(u.track_unpublished);
    EXPECT_EQ(describe(*u.track_unpublished), describe(cam));  // as last described
    EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic}));
  }
  EXPECT_EQ(listed(bob), describe_all({mic}));
  EXPECT_EQ(in_snapshot(bob.snapshot()), describe_all({mic}));
  EXPECT_EQ(jc.events.count<lk::ParticipantUpdatedEvent>(
                [](const lk::ParticipantUpdatedEvent &e) { return e.track_published.has_value(); }),
            0u);

  lk::TrackPublication screen{"TR_screen", "", lk::TrackKind::Video, lk::TrackSource::ScreenShare, false, "",
                              1920, 1080, false, false};
  lk::TrackPublication screen_audio{"TR_sa", "", lk::TrackKind::Audio, lk::TrackSource::ScreenShareAudio, true,
                                    "audio/opus", 0, 0, false, false};
  ASSERT_TRUE(media("sid=TR_screen kind=video source=screen_share width=1920 height=1080"));
  u = next(ev, published, "screen share published");
  ASSERT_TRUE(u.track_published);
  EXPECT_EQ(describe(*u.track_published), describe(screen));
  ASSERT_TRUE(media("sid=TR_sa kind=audio source=screen_share_audio mime=audio/opus muted=true"));
  u = next(ev, published, "screen share audio published");
  ASSERT_TRUE(u.track_published);
  EXPECT_EQ(describe(*u.track_published), describe(screen_audio));
  EXPECT_EQ(describe_all(u.info.tracks), describe_all({mic, screen, screen_audio}));

  // Alice leaves: each remaining track is unpublished, as last described, before she is gone.
  alice.disconnect();
  ev.wait<lk::ParticipantDisconnectedEvent>([](const lk::ParticipantDisconnectedEvent &e) { return e.identity == "alice"; });
  for (const auto &t : {mic, screen, screen_audio}) {
    u = next(ev, unpublished, t.sid + " unpublished as alice leaves");
    ASSERT_TRUE(u.track_unpublished);
    EXPECT_EQ(describe(*u.track_unpublished), describe(t));
  }
  // Everything bob heard about alice, in order (ratings of her connection aside).
  std::vector<std::string> order;
  for (const auto &e : ev.wait_all([](const std::vector<lk::RoomEvent> &) { return true; })) {
    if (auto *d = std::get_if<lk::ParticipantDisconnectedEvent>(&e); d && d->identity == "alice") order.push_back("left");
    auto *p = std::get_if<lk::ParticipantUpdatedEvent>(&e);
    if (!p || p->info.identity != "alice" || p->connection_quality_changed) continue;
    std::string what = p->track_published     ? "published " + p->track_published->sid
                       : p->track_unpublished ? "unpublished " + p->track_unpublished->sid
                       : p->track_mute_changed ? std::string(p->track_mute_changed->muted ? "muted " : "unmuted ") +
                                                     p->track_mute_changed->sid
                                               : "updated";
    order.push_back(what + " " + sids(p->info.tracks));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"published TR_mic [TR_mic]", "muted TR_mic [TR_mic]",
                                             "unmuted TR_mic [TR_mic]", "published TR_cam [TR_mic,TR_cam]",
                                             "updated [TR_mic,TR_cam]", "unpublished TR_cam [TR_mic]",
                                             "published TR_screen [TR_mic,TR_screen]",
                                             "published TR_sa [TR_mic,TR_screen,TR_sa]",
                                             "unpublished TR_mic [TR_screen,TR_sa]", "unpublished TR_screen [TR_sa]",
                                             "unpublished TR_sa []", "left"}));
  EXPECT_EQ(listed(bob), "alice unknown");
}

// Participant kinds and kind details come from the tokens, for the local and remote participants.
TEST_F(E2E, ParticipantKindsAndKindDetailsComeFromTheTokens) {
  Joined jo = join_with_events(client_a, "observer");
  lk::Room &observer = jo.room;
  Events &ev = jo.events;
  lk::Room twilio(client_b);
  auto snap = twilio.connect(sfu.url, token("twilio", "--kind connector --kind-details connector_twilio,forwarded"));
  const std::vector<lk::ParticipantKindDetail> want{lk::ParticipantKindDetail::ConnectorTwilio, lk::ParticipantKindDetail::Forwarded};
  EXPECT_EQ(snap.local_participant.kind, lk::ParticipantKind::Connector);
  EXPECT_EQ(snap.local_participant.kind_details, want);
  auto seen = ev.wait<lk::ParticipantConnectedEvent>([](auto &e) { return e.info.identity == "twilio"; }).info;
  EXPECT_EQ(seen.kind, lk::ParticipantKind::Connector);
  EXPECT_EQ(seen.kind_details, want);
  EXPECT_TRUE(observer.snapshot().local_participant.kind_details.empty());
}

// DTMF in call order with data packets, to destinations; bad input is refused before sending.
TEST_F(E2E, DtmfReachesTheOthersInOrderWithDataPackets) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  Events &ev_b = jb.events;
  Joined jc = join_with_events(client_b, "carol");
  Events &ev_c = jc.events;

  for (auto [code, digit] : std::vector<std::pair<uint32_t, std::string>>{{256, "1"}, {1, ""}, {1, std::string(257, '1')}}) {
    try {
      alice.publish_dtmf(code, digit);
      ADD_FAILURE() << "code " << code << " digit of " << digit.size() << " bytes accepted";
    } catch (const lk::Error &e) {
      EXPECT_EQ(e.code(), LK_ERR_INVALID_ARGUMENT) << e.what();
    }
  }
  alice.publish_data("before", {true, "d", {}});
  alice.publish_dtmf(11, "#");
  alice.publish_data("after", {true, "d", {}});
  ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.payload == "after"; });
  std::vector<std::string> order;
  for (const auto &e : ev_b.wait_all([](const std::vector<lk::RoomEvent> &) { return true; })) {
    if (auto *d = std::get_if<lk::DataReceivedEvent>(&e)) order.push_back(d->payload);
    if (auto *t = std::get_if<lk::SipDtmfReceivedEvent>(&e))
      order.push_back(t->participant_identity + " " + std::to_string(t->code) + ":" + t->digit);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"before", "alice 11:#", "after"}));

  // Only carol gets the first; bob's next DTMF is the broadcast.
  alice.publish_dtmf(1, "1", {"carol"});
  alice.publish_dtmf(2, "2");
  ev_c.wait<lk::SipDtmfReceivedEvent>([](auto &e) { return e.code == 2; });
  ev_b.wait<lk::SipDtmfReceivedEvent>([](auto &e) { return e.code == 2; });
  EXPECT_EQ(ev_c.count<lk::SipDtmfReceivedEvent>([](auto &) { return true; }), 3u);
  EXPECT_EQ(ev_b.count<lk::SipDtmfReceivedEvent>([](auto &e) { return e.code == 1; }), 0u);
}

// Legacy chat messages: send_chat_message returns the message as sent (a fresh UUID, stamped,
// never edited), edit_chat_message the edit (same id and timestamp, new text, edit time); the
// others receive both as ChatMessageReceivedEvent, equal to what alice got back, in call order
// with her data packets; a message to carol only never reaches bob (he sees only what follows
// it); an original without id is refused.
TEST_F(E2E, ChatMessagesAndTheirEditsReachTheOthersInOrder) {
  lk::Room alice = join(client_a, "alice");
  Joined jb = join_with_events(client_b, "bob");
  Events &ev_b = jb.events;
  Joined jc = join_with_events(client_b, "carol");
  Events &ev_c = jc.events;
  auto fields = [](const lk::ChatMessage &m) {
    return std::make_tuple(m.id, m.timestamp_ms, m.message, m.edit_timestamp_ms, m.deleted, m.generated);
  };

  auto to_carol = alice.send_chat_message("for carol only", {"carol"});
  auto sent = alice.send_chat_message("hello");
  EXPECT_EQ(sent.id.size(), 36u) << sent.id;
  EXPECT_NE(sent.id, to_carol.id);
  EXPECT_NE(sent.timestamp_ms, 0);
  EXPECT_EQ(sent.edit_timestamp_ms, 0);
  EXPECT_EQ(sent.message, "hello");
  EXPECT_FALSE(sent.deleted);
  EXPECT_FALSE(sent.generated);
  alice.publish_data("between", {true, "d", {}});
  auto edit = alice.edit_chat_message("hello, bob", sent);
  EXPECT_EQ(edit.id, sent.id);
  EXPECT_EQ(edit.timestamp_ms, sent.timestamp_ms);
  EXPECT_EQ(edit.message, "hello, bob");
  EXPECT_GE(edit.edit_timestamp_ms, sent.timestamp_ms);
  expect_error(LK_ERR_INVALID_ARGUMENT, [&] { alice.edit_chat_message("x", lk::ChatMessage{}); }, "an original without id");

  ev_b.wait<lk::ChatMessageReceivedEvent>([](auto &e) { return e.message.edit_timestamp_ms != 0; });
  std::vector<std::string> order;
  std::vector<lk::ChatMessage> got;
  for (const auto &e : ev_b.wait_all([](const std::vector<lk::RoomEvent> &) { return true; })) {
    if (auto *d = std::get_if<lk::DataReceivedEvent>(&e)) order.push_back(d->payload);
    if (auto *c = std::get_if<lk::ChatMessageReceivedEvent>(&e)) {
      order.push_back(c->participant_identity + ": " + c->message.message);
      got.push_back(c->message);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"alice: hello", "between", "alice: hello, bob"}));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(fields(got[0]), fields(sent));
  EXPECT_EQ(fields(got[1]), fields(edit));

  auto first = ev_c.wait<lk::ChatMessageReceivedEvent>();
  EXPECT_EQ(first.participant_identity, "alice");
  EXPECT_EQ(fields(first.message), fields(to_carol));
  ev_c.wait<lk::ChatMessageReceivedEvent>([](auto &e) { return e.message.edit_timestamp_ms != 0; });
  EXPECT_EQ(ev_c.count<lk::ChatMessageReceivedEvent>(), 3u);
}

// Legacy transcriptions: an agent's publish_transcription reaches bob whole (every field of both
// segments), from the agent, in call order with its data packets; bob, a standard participant,
// is refused by the library (the binding passes it through without checking the kind).
TEST_F(E2E, AnAgentsTranscriptionsReachTheOthersInOrder) {
  lk::Room agent(client_a);
  agent.connect(sfu.url, token("agent", "--kind agent"));
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  auto fields = [](const lk::Transcription &t) {
    std::vector<std::tuple<std::string, std::string, uint64_t, uint64_t, bool, std::string>> segments;
    for (const auto &s : t.segments) segments.emplace_back(s.id, s.text, s.start_time, s.end_time, s.is_final, s.language);
    return std::make_tuple(t.participant_identity, t.track_sid, segments);
  };

  lk::Transcription sent;
  sent.participant_identity = "bob";
  sent.track_sid = "TR_mic";
  sent.segments = {lk::TranscriptionSegment{"s1", "hello", 10, 400, false, "en"},
                   lk::TranscriptionSegment{"s2", "and again", 500, 900, true, "de"}};
  expect_error(LK_ERR_NOT_ALLOWED, [&] { bob.publish_transcription(sent); }, "bob is not an agent");
  agent.publish_data("before", {true, "d", {}});
  agent.publish_transcription(sent);
  agent.publish_data("after", {true, "d", {}});

  ev_b.wait<lk::DataReceivedEvent>([](auto &e) { return e.payload == "after"; });
  std::vector<std::string> order;
  std::vector<lk::Transcription> got;
  for (const auto &e : ev_b.wait_all([](const std::vector<lk::RoomEvent> &) { return true; })) {
    if (auto *d = std::get_if<lk::DataReceivedEvent>(&e)) order.push_back(d->payload);
    if (auto *t = std::get_if<lk::TranscriptionReceivedEvent>(&e)) {
      order.push_back(t->participant_identity + ": transcription");
      got.push_back(t->transcription);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"before", "agent: transcription", "after"}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(fields(got[0]), fields(sent));
}

// sender_identity (ABI 1.21): an agent sends text streams (send_text and a text writer) on the
// topic "lk.transcription", a chat message and its edit on behalf of "user": bob sees each from
// "user", marked generated by the server; bob, a standard participant, is refused both ways
// (the library's check, passed through).
TEST_F(E2E, AnAgentSendsTextAndChatMessagesOnBehalfOfAnotherParticipant) {
  struct Text {
    std::string handler_identity, reader_identity, text;
    bool generated = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Text> texts;
  lk::Room bob(client_b);
  Events ev_b(bob);
  bob.register_text_stream_handler("lk.transcription", [&](lk::TextStreamReader reader, const std::string &identity) {
    Text t;
    {
      lk::TextStreamReader r = std::move(reader);  // released before the text is handed over
      t = Text{identity, r.participant_identity(), {}, r.info().generated};
      try {
        t.text = r.read_all(kGuard);
      } catch (const lk::Error &e) {
        t.text = std::string("error: ") + e.what();
      }
    }
    std::lock_guard<std::mutex> l(mu);
    texts.push_back(std::move(t));
    cv.notify_all();
  });
  bob.connect(sfu.url, token("bob"));
  lk::Room agent(client_a);
  agent.connect(sfu.url, token("agent", "--kind agent"));

  lk::TextStreamOptions o;
  o.topic = "lk.transcription";
  o.sender_identity = "user";
  expect_error(LK_ERR_NOT_ALLOWED, [&] { bob.send_text("x", o); }, "bob's text on behalf of user");
  expect_error(LK_ERR_NOT_ALLOWED, [&] { bob.open_text_writer(o); }, "bob's text writer on behalf of user");
  expect_error(LK_ERR_NOT_ALLOWED, [&] { bob.send_chat_message("x", {}, "user"); }, "bob's chat message on behalf of user");
  agent.send_text("said by user", o);
  lk::StreamWriter w = agent.open_text_writer(o);
  w.write("written for user");
  w.close();
  auto sent = agent.send_chat_message("hi", {}, "user");
  agent.edit_chat_message("hi again", sent, {}, "user");

  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, kGuard, [&] { return texts.size() == 2; })) << texts.size() << " text streams";
    std::sort(texts.begin(), texts.end(), [](const Text &a, const Text &b) { return a.text < b.text; });
    EXPECT_EQ(texts[0].text, "said by user");
    EXPECT_EQ(texts[1].text, "written for user");
    for (const auto &t : texts) {
      EXPECT_EQ(t.handler_identity, "user") << t.text;
      EXPECT_EQ(t.reader_identity, "user") << t.text;
      EXPECT_TRUE(t.generated) << t.text;
    }
  }
  auto first = ev_b.wait<lk::ChatMessageReceivedEvent>();
  EXPECT_EQ(first.participant_identity, "user");
  EXPECT_EQ(first.message.message, "hi");
  EXPECT_TRUE(first.message.generated);
  auto edited = ev_b.wait<lk::ChatMessageReceivedEvent>();
  EXPECT_EQ(edited.participant_identity, "user");
  EXPECT_EQ(edited.message.message, "hi again");
  EXPECT_EQ(edited.message.id, sent.id);
  EXPECT_TRUE(edited.message.generated);
}

// Without a handler, a full next_event queue drops data packets, DTMF, chat messages and
// transcriptions only (the oldest first): the room's other events are its state and are always
// delivered; capacity 0 is the default, not "drop everything" (before, every event was dropped
// with 0, and the oldest event of any kind when full).
TEST_F(E2E, PulledEventsDropOnlyDataPacketsAndDtmf) {
  for (size_t capacity : {size_t(0), size_t(2)}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    lk::RoomOptions o;
    o.event_queue_capacity = capacity;
    lk::Room bob(client_b, o);
    bob.connect(sfu.url, token("bob"));
    const std::string who = "alice" + std::to_string(capacity);
    bool connected = false, updated = false, disconnected = false;
    std::vector<std::string> data;
    // Pulls until done() holds (at most kGuard).
    auto pull_until = [&](const std::function<bool()> &done) {
      for (auto deadline = std::chrono::steady_clock::now() + kGuard; !done() && std::chrono::steady_clock::now() < deadline;) {
        auto e = bob.next_event(lk::Millis(100));
        if (!e) continue;
        if (auto *c = std::get_if<lk::ParticipantConnectedEvent>(&*e)) connected |= c->info.identity == who;
        if (auto *u = std::get_if<lk::ParticipantUpdatedEvent>(&*e)) updated |= u->info.identity == who && u->name_changed;
        if (auto *d = std::get_if<lk::ParticipantDisconnectedEvent>(&*e)) disconnected |= d->identity == who;
        if (auto *d = std::get_if<lk::DataReceivedEvent>(&*e)) data.push_back(d->payload);
        if (auto *t = std::get_if<lk::SipDtmfReceivedEvent>(&*e)) data.push_back(t->digit);
        if (auto *c = std::get_if<lk::ChatMessageReceivedEvent>(&*e)) data.push_back(c->message.message);
        if (auto *t = std::get_if<lk::TranscriptionReceivedEvent>(&*e))
          data.push_back(t->transcription.segments.empty() ? "" : t->transcription.segments[0].text);
      }
    };
    {
      lk::Room alice(client_a);  // an agent, to publish transcriptions
      alice.connect(sfu.url, token(who, "--kind agent"));
      pull_until([&] { return connected; });
      ASSERT_TRUE(connected);
      alice.set_name("renamed");  // a state change among the packets
      for (int i = 0; i < 5; i++) {  // DTMF, chat messages and transcriptions count as data too
        if (i == 1) alice.publish_dtmf(uint32_t(i), std::to_string(i));
        else if (i == 2) alice.publish_transcription({"bob", "", {lk::TranscriptionSegment{"s", std::to_string(i), 0, 0, true, ""}}});
        else if (i == 3) alice.send_chat_message(std::to_string(i));
        else alice.publish_data(std::to_string(i), {true, "n", {}});
      }
      if (capacity == 2) {  // the three oldest packets are dropped once all five arrived
        auto deadline = std::chrono::steady_clock::now() + kGuard;
        while (bob.dropped_events() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
        EXPECT_EQ(bob.dropped_events(), 3u);
      }
    }  // alice leaves while the packets wait in the queue
    pull_until([&] { return disconnected && updated; });
    EXPECT_TRUE(updated);
    EXPECT_TRUE(disconnected);
    if (capacity == 2) {
      EXPECT_EQ(data, (std::vector<std::string>{"3", "4"}));
    } else {
      EXPECT_EQ(data, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
      EXPECT_EQ(bob.dropped_events(), 0u);
    }
  }
}

// request_snapshot's events agree with the events before them, wherever they come: the connect
// snapshot plus the events as deltas equal every SnapshotTakenEvent, while participants join,
// change, publish and leave.
TEST_F(E2E, RequestedSnapshotsAgreeWithTheEventsBeforeThem) {
  {
    lk::Room early(client_a);
    expect_error(LK_ERR_DISCONNECTED, [&] { early.request_snapshot(); }, "request_snapshot before connect");
  }
  Joined ja = join_with_events(client_a, "alice");
  lk::Room &alice = ja.room;
  Events &ev = ja.events;
  auto &first = ja.snapshot;
  std::vector<lk::Room> stay;
  std::vector<lk::LocalDataTrack> stay_tracks;  // destroying one unpublishes it
  std::atomic<bool> churned{false};
  std::string churn_error;
  std::thread churn([&] {
    try {
      for (int i = 1; i <= 4; i++) {
        std::string id = "p" + std::to_string(i);
        lk::Room p(client_b);
        p.connect(sfu.url, token(id));
        p.set_metadata("m" + id);
        auto t = p.publish_data_track("t" + id);
        if (i % 2 == 0) {
          t.unpublish();
          p.disconnect();
        } else {
          stay_tracks.push_back(std::move(t));
          stay.push_back(std::move(p));
        }
      }
    } catch (const std::exception &e) {
      churn_error = e.what();
    }
    churned = true;
  });
  while (!churned) {
    alice.request_snapshot();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  churn.join();
  ASSERT_EQ(churn_error, "");
  ev.wait<lk::ParticipantDisconnectedEvent>([](auto &e) { return e.identity == "p4"; });
  alice.request_snapshot();
  auto all = ev.wait_all([](const std::vector<lk::RoomEvent> &evs) {
    bool left = false;
    for (const auto &e : evs) {
      if (auto *d = std::get_if<lk::ParticipantDisconnectedEvent>(&e); d && d->identity == "p4") left = true;
      if (left && std::holds_alternative<lk::SnapshotTakenEvent>(e)) return true;
    }
    return false;
  });

  std::map<std::string, std::string> parts;  // identity -> metadata
  std::set<std::string> tracks;              // publisher/name
  for (const auto &p : first.remote_participants) parts[p.identity] = p.metadata;
  for (const auto &t : first.remote_data_tracks) tracks.insert(t.publisher_identity + "/" + t.info.name);
  int snapshots = 0;
  for (const auto &e : all) {
    if (auto *c = std::get_if<lk::ParticipantConnectedEvent>(&e)) parts[c->info.identity] = c->info.metadata;
    if (auto *d = std::get_if<lk::ParticipantDisconnectedEvent>(&e)) parts.erase(d->identity);
    if (auto *u = std::get_if<lk::ParticipantUpdatedEvent>(&e); u && parts.count(u->info.identity))
      parts[u->info.identity] = u->info.metadata;
    if (auto *t = std::get_if<lk::DataTrackPublishedEvent>(&e)) tracks.insert(t->track.publisher_identity + "/" + t->track.info.name);
    if (auto *t = std::get_if<lk::DataTrackUnpublishedEvent>(&e)) tracks.erase(t->publisher_identity + "/" + t->name);
    if (auto *s = std::get_if<lk::SnapshotTakenEvent>(&e)) {
      snapshots++;
      std::map<std::string, std::string> sp;
      std::set<std::string> st;
      for (const auto &p : s->snapshot.remote_participants) sp[p.identity] = p.metadata;
      for (const auto &t : s->snapshot.remote_data_tracks) st.insert(t.publisher_identity + "/" + t.info.name);
      ASSERT_EQ(sp, parts) << "participants of snapshot " << snapshots;
      ASSERT_EQ(st, tracks) << "tracks of snapshot " << snapshots;
      EXPECT_EQ(s->snapshot.room.connection_state, lk::ConnectionState::Connected);
      EXPECT_EQ(s->snapshot.local_participant.identity, "alice");
    }
  }
  EXPECT_GE(snapshots, 1);
  EXPECT_EQ(parts, (std::map<std::string, std::string>{{"p1", "mp1"}, {"p3", "mp3"}}));
  EXPECT_EQ(tracks, (std::set<std::string>{"p1/tp1", "p3/tp3"}));
  stay_tracks.clear();
  stay.clear();
  alice.disconnect();
  expect_error(LK_ERR_DISCONNECTED, [&] { alice.request_snapshot(); }, "request_snapshot after disconnect");
}

// The server API revokes bob's permission to publish: bob (about himself) and alice (about bob)
// get ParticipantUpdatedEvent with permission_changed and the new permission (ABI 1.16), and the
// server refuses bob's next data track.
TEST_F(E2E, PermissionChangeThroughTheServerApiIsAnnounced) {
  Joined ja = join_with_events(client_a, "alice");
  Events &ev_a = ja.events;
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;
  Events &ev_b = jb.events;
  ev_a.wait<lk::ParticipantConnectedEvent>([](auto &e) { return e.info.identity == "bob"; });
  ASSERT_TRUE(sfu.control("permission", "room=" + room + " identity=bob can_subscribe=true"));
  for (Events *ev : {&ev_a, &ev_b}) {
    auto u = ev->wait<lk::ParticipantUpdatedEvent>([](auto &e) { return e.info.identity == "bob" && e.permission_changed; });
    EXPECT_TRUE(u.info.permission.can_subscribe);
    EXPECT_FALSE(u.info.permission.can_publish);
    EXPECT_FALSE(u.info.permission.can_publish_data);
  }
  expect_error(LK_ERR_NOT_ALLOWED, [&] { bob.publish_data_track("not-allowed"); }, "publish after the revocation");
}

// LiveKit Cloud's MoveParticipant, played by devsfu: m leaves room a's participants (alice's track
// first), RoomMovedEvent, then room b's participants and tracks arrive; the snapshot is room b's.
TEST_F(E2E, AMoveToAnotherRoomIsReportedAsDeltasAroundRoomMoved) {
  const std::string a = room + "-a", b = room + "-b";
  lk::Room alice(client_a), bob(client_b), m(client_a);
  alice.connect(sfu.url, sfu.token(a, "alice"));
  bob.connect(sfu.url, sfu.token(b, "bob"));
  auto ta = alice.publish_data_track("ta");
  auto tb = bob.publish_data_track("tb");
  Events ev(m);
  m.connect(sfu.url, sfu.token(a, "m"));
  ASSERT_TRUE(sfu.control("move", "room=" + a + " identity=m destination=" + b));
  ev.wait<lk::DataTrackPublishedEvent>([](const lk::DataTrackPublishedEvent &e) { return e.track.info.name == "tb"; });
  std::vector<std::string> order;
  for (const auto &e : ev.wait_all([](const std::vector<lk::RoomEvent> &) { return true; })) {
    if (auto *u = std::get_if<lk::DataTrackUnpublishedEvent>(&e)) order.push_back("unpublished " + u->name);
    if (auto *l = std::get_if<lk::ParticipantDisconnectedEvent>(&e)) order.push_back("left " + l->identity);
    if (auto *mv = std::get_if<lk::RoomMovedEvent>(&e)) order.push_back("moved " + mv->old_room_name + ">" + mv->info.name);
    if (auto *j = std::get_if<lk::ParticipantConnectedEvent>(&e)) order.push_back("joined " + j->info.identity);
    if (auto *p = std::get_if<lk::DataTrackPublishedEvent>(&e)) order.push_back("published " + p->track.info.name);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"unpublished ta", "left alice", "moved " + a + ">" + b, "joined bob",
                                             "published tb"}));
  auto snap = m.snapshot();
  EXPECT_EQ(snap.room.name, b);
  ASSERT_EQ(snap.remote_participants.size(), 1u);
  EXPECT_EQ(snap.remote_participants[0].identity, "bob");
}

// Connection statistics (Room::connection_stats, ABI 1.26), read from the library on each call:
// none before connecting; once connected, the selected pair is host to host over UDP (devsfu on
// loopback) with ports and addresses, ICE has measured a round trip; a 30 000-byte packet alice
// sends shows in her bytes_sent (polled: SCTP counts it as it goes out) and, once acknowledged,
// in her SCTP round trip, and in bob's bytes_received when he has it; none after disconnect;
// the errors of the other calls (empty Room, closed client).
TEST_F(E2E, ConnectionStatsDescribeThePairRoundTripsAndBytes) {
  lk::Room alice(client_a);
  EXPECT_FALSE(alice.connection_stats().has_value()) << "before connect";
  alice.connect(sfu.url, token("alice"));
  Joined jb = join_with_events(client_b, "bob");
  lk::Room &bob = jb.room;

  std::optional<lk::ConnectionStats> before = alice.connection_stats();
  ASSERT_TRUE(before.has_value()) << "connected";
  for (const auto *c : {&before->local_candidate, &before->remote_candidate}) {
    const char *end = c == &before->local_candidate ? "local" : "remote";
    EXPECT_EQ(c->type, lk::IceCandidateType::Host) << end;
    EXPECT_EQ(c->protocol, "udp") << end;
    EXPECT_NE(c->port, 0) << end;
    EXPECT_FALSE(c->ip.empty()) << end;
    EXPECT_EQ(c->relay_protocol, "") << end;  // not a relay candidate
  }
  EXPECT_GT(before->round_trip_time.count(), 0);
  EXPECT_LT(before->round_trip_time, kGuard);  // a hang guard's bound, not a timing assertion

  // Polls r's statistics until done holds for them (at most kGuard); returns the last ones read.
  auto poll = [](lk::Room &r, const std::function<bool(const lk::ConnectionStats &)> &done) {
    std::optional<lk::ConnectionStats> s;
    for (auto deadline = std::chrono::steady_clock::now() + kGuard;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      s = r.connection_stats();
      if (s && done(*s)) break;
    }
    return s;
  };
  auto bob_before = bob.connection_stats();
  ASSERT_TRUE(bob_before.has_value());
  const std::string payload = random_bytes(30000, 26);
  alice.publish_data(payload, {true, "stats", {}});
  auto sent = poll(alice, [&](const lk::ConnectionStats &s) {
    return s.bytes_sent >= before->bytes_sent + payload.size() && s.sctp_round_trip_time.count() > 0;
  });
  ASSERT_TRUE(sent.has_value());
  EXPECT_GE(sent->bytes_sent, before->bytes_sent + payload.size()) << "before " << before->bytes_sent;
  EXPECT_GT(sent->sctp_round_trip_time.count(), 0);
  EXPECT_LT(sent->sctp_round_trip_time, kGuard);
  EXPECT_EQ(sent->local_candidate.port, before->local_candidate.port);  // the same pair

  EXPECT_EQ(jb.events.wait<lk::DataReceivedEvent>([](auto &e) { return e.topic == "stats"; }).payload, payload);
  auto received = poll(bob, [&](const lk::ConnectionStats &s) {
    return s.bytes_received >= bob_before->bytes_received + payload.size();
  });
  ASSERT_TRUE(received.has_value());
  EXPECT_GE(received->bytes_received, bob_before->bytes_received + payload.size())
      << "before " << bob_before->bytes_received;

  alice.disconnect();
  EXPECT_FALSE(alice.connection_stats().has_value()) << "after disconnect";

  // The errors of the other calls: an empty (moved-from) Room, a closed client.
  lk::Room moved(std::move(alice));
  expect_error(LK_ERR_INVALID_HANDLE, [&] { (void)alice.connection_stats(); }, "moved-from room");
  EXPECT_FALSE(moved.connection_stats().has_value());
  lk::Client temp;
  lk::Room orphan(temp);
  temp.close();
  expect_error(LK_ERR_CLIENT_CLOSED, [&] { (void)orphan.connection_stats(); }, "room of a closed client");
}
