// Room::simulate_scenario (ABI 1.27) against devsfu, which handles the server's part as
// livekit-server 1.13.5 does: each scenario is the library's own fault, and what follows arrives
// as the room's usual events (reconnecting/reconnected, or disconnected), checked here in order.
#include <string>
#include <vector>

#include "common.hpp"

using namespace lktest;

namespace {

const char *kind_name(lk::ReconnectKind k) {
  switch (k) {
    case lk::ReconnectKind::Resume:
      return "resume";
    case lk::ReconnectKind::Full:
      return "full";
    default:
      return "unspecified";
  }
}

// The room's reconnection and disconnection events so far, in order, as text
// ("reconnecting resume", "reconnected full", "disconnected").
std::vector<std::string> reconnection(const std::vector<lk::RoomEvent> &all) {
  std::vector<std::string> out;
  for (const auto &e : all) {
    if (const auto *r = std::get_if<lk::ReconnectingEvent>(&e)) out.push_back(std::string("reconnecting ") + kind_name(r->kind));
    if (const auto *r = std::get_if<lk::ReconnectedEvent>(&e)) out.push_back(std::string("reconnected ") + kind_name(r->kind));
    if (std::holds_alternative<lk::DisconnectedEvent>(e)) out.push_back("disconnected");
  }
  return out;
}

// Whether an episode ended among the events: a ReconnectedEvent or a DisconnectedEvent.
bool episode_ended(const std::vector<lk::RoomEvent> &all) {
  for (const auto &e : all)
    if (std::holds_alternative<lk::ReconnectedEvent>(e) || std::holds_alternative<lk::DisconnectedEvent>(e)) return true;
  return false;
}

// Waits (bounded by kGuard) until the events hold n ReconnectedEvents or a DisconnectedEvent,
// and returns the reconnection events so far.
std::vector<std::string> until_reconnected(Events &ev, size_t n = 1) {
  return reconnection(ev.wait_all([n](const std::vector<lk::RoomEvent> &all) {
    size_t done = 0;
    for (const auto &e : all) {
      if (std::holds_alternative<lk::DisconnectedEvent>(e)) return true;
      if (std::holds_alternative<lk::ReconnectedEvent>(e)) done++;
    }
    return done >= n;
  }));
}

using Seq = std::vector<std::string>;

}  // namespace

// SignalReconnect: the library breaks its signalling connection and the room resumes the same
// session (Reconnecting, then Reconnected, both Resume); the participant keeps its sid and the
// room works on.
TEST_F(E2E, SimulateSignalReconnectResumesTheSession) {
  Joined a = join_with_events(client_a, "alice");
  const std::string sid = a.snapshot.local_participant.sid;
  ASSERT_FALSE(sid.empty());

  a.room.simulate_scenario(lk::SimulateScenario::SignalReconnect);
  EXPECT_EQ(until_reconnected(a.events), (Seq{"reconnecting resume", "reconnected resume"}));
  auto r = a.events.wait<lk::ReconnectingEvent>();
  EXPECT_EQ(r.attempt, 1u);
  EXPECT_EQ(a.room.local_participant().sid, sid) << "a resume keeps the session";
  a.room.set_metadata("after the resume");  // the room works on: the server answers
  auto upd = a.events.wait<lk::ParticipantUpdatedEvent>([](const lk::ParticipantUpdatedEvent &e) {
    return e.info.identity == "alice" && e.metadata_changed;
  });
  EXPECT_EQ(upd.info.metadata, "after the resume");
  EXPECT_EQ(upd.info.sid, sid);
}

// FullReconnect: a new session. The local participant gets a new sid (its ParticipantUpdated
// right after the Reconnected) and its data track is published again under a new sid.
TEST_F(E2E, SimulateFullReconnectStartsANewSession) {
  Joined a = join_with_events(client_a, "alice");
  const std::string sid = a.snapshot.local_participant.sid;
  lk::LocalDataTrack track = a.room.publish_data_track("sensor");
  const std::string track_sid = track.info().sid;

  a.room.simulate_scenario(lk::SimulateScenario::FullReconnect);
  EXPECT_EQ(until_reconnected(a.events), (Seq{"reconnecting full", "reconnected full"}));
  auto updated = a.events.wait<lk::ParticipantUpdatedEvent>(
      [&](const lk::ParticipantUpdatedEvent &e) { return e.info.identity == "alice" && e.info.sid != sid; });
  EXPECT_FALSE(updated.info.sid.empty());
  EXPECT_NE(a.room.local_participant().sid, sid) << "a full reconnect is a new session";
  EXPECT_EQ(a.room.local_participant().sid, updated.info.sid);
  auto resid = a.events.wait<lk::LocalDataTrackSidChangedEvent>();
  EXPECT_EQ(resid.track_handle, track.handle());
  EXPECT_EQ(resid.old_sid, track_sid);
  EXPECT_NE(resid.info.sid, track_sid);
  EXPECT_EQ(track.info().sid, resid.info.sid);
}

// NodeFailure: the server drops alice without a leave (bob is told she left, reason
// ServerShutdown, as livekit-server says for a node failure); her resume finds no session, so
// the episode escalates to a full reconnect, a new session.
TEST_F(E2E, SimulateNodeFailureEscalatesToAFullReconnect) {
  Joined a = join_with_events(client_a, "alice");
  // A publisher's departure is announced at once (devsfu, as livekit-server), before her return.
  lk::LocalDataTrack track = a.room.publish_data_track("sensor");
  Joined b = join_with_events(client_b, "bob");
  const std::string sid = a.snapshot.local_participant.sid;

  a.room.simulate_scenario(lk::SimulateScenario::NodeFailure);
  EXPECT_EQ(until_reconnected(a.events), (Seq{"reconnecting resume", "reconnecting full", "reconnected full"}));
  auto attempts = a.events.wait<lk::ReconnectingEvent>();
  EXPECT_EQ(attempts.attempt, 1u);
  EXPECT_EQ(a.events.wait<lk::ReconnectingEvent>().attempt, 2u) << "the escalation is the episode's second announcement";
  EXPECT_NE(a.room.local_participant().sid, sid);
  auto left = b.events.wait<lk::ParticipantDisconnectedEvent>(
      [](const lk::ParticipantDisconnectedEvent &e) { return e.identity == "alice"; });
  EXPECT_EQ(left.reason, lk::DisconnectReason::ServerShutdown);
  b.events.wait<lk::ParticipantConnectedEvent>([&](const lk::ParticipantConnectedEvent &e) {
    return e.info.identity == "alice" && e.info.sid != sid;
  });
}

// Migration: livekit-server 1.13 handles it as a node failure (the same events for alice), but
// bob is told she left for a migration.
TEST_F(E2E, SimulateMigrationEscalatesToAFullReconnect) {
  Joined a = join_with_events(client_a, "alice");
  lk::LocalDataTrack track = a.room.publish_data_track("sensor");
  Joined b = join_with_events(client_b, "bob");
  const std::string sid = a.snapshot.local_participant.sid;

  a.room.simulate_scenario(lk::SimulateScenario::Migration);
  EXPECT_EQ(until_reconnected(a.events), (Seq{"reconnecting resume", "reconnecting full", "reconnected full"}));
  EXPECT_NE(a.room.local_participant().sid, sid);
  auto left = b.events.wait<lk::ParticipantDisconnectedEvent>(
      [](const lk::ParticipantDisconnectedEvent &e) { return e.identity == "alice"; });
  EXPECT_EQ(left.reason, lk::DisconnectReason::Migration);
}

// ServerLeave: the server removes alice with a leave and her room ends (Disconnected,
// ServerShutdown, no reconnection); the ended room then refuses another simulation for good.
TEST_F(E2E, SimulateServerLeaveEndsTheRoom) {
  Joined a = join_with_events(client_a, "alice");
  a.room.simulate_scenario(lk::SimulateScenario::ServerLeave);
  auto d = a.events.wait<lk::DisconnectedEvent>();
  EXPECT_EQ(d.reason, lk::DisconnectReason::ServerShutdown);
  EXPECT_EQ(reconnection(a.events.wait_all(episode_ended)), (Seq{"disconnected"})) << "no reconnection";
  try {
    a.room.simulate_scenario(lk::SimulateScenario::SignalReconnect);
    ADD_FAILURE() << "an ended room simulated a fault";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_DISCONNECTED) << e.what();
    EXPECT_FALSE(e.retryable()) << "the room has ended: " << e.what();
  }
}

// DisconnectSignalOnResume: the server cuts the first resume after answering it, and the room
// resumes again within the same episode: one Reconnecting (Resume), then Reconnected (Resume),
// the session kept.
TEST_F(E2E, SimulateDisconnectSignalOnResumeResumesAgain) {
  Joined a = join_with_events(client_a, "alice");
  const std::string sid = a.snapshot.local_participant.sid;
  a.room.simulate_scenario(lk::SimulateScenario::DisconnectSignalOnResume);
  EXPECT_EQ(until_reconnected(a.events), (Seq{"reconnecting resume", "reconnected resume"}));
  EXPECT_EQ(a.room.local_participant().sid, sid);
}

// Without reconnection (RoomOptions::max_reconnect_attempts negative) a simulated loss ends the
// room as a real one would: Disconnected (SignalClose), no Reconnecting.
TEST_F(E2E, SimulatedLossEndsARoomThatDoesNotReconnect) {
  lk::RoomOptions o;
  o.max_reconnect_attempts = -1;
  Joined a = join_with_events(client_a, "alice", o);
  a.room.simulate_scenario(lk::SimulateScenario::SignalReconnect);
  auto d = a.events.wait<lk::DisconnectedEvent>();
  EXPECT_EQ(d.reason, lk::DisconnectReason::SignalClose);
  EXPECT_EQ(reconnection(a.events.wait_all(episode_ended)), (Seq{"disconnected"}));
}

// While a simulated loss is under way (the call returned: the fault has begun, the room has
// not reconnected yet), another simulation is refused as retryable DISCONNECTED, and has no
// effect: the room only resumes. Once it has reconnected, a simulation is accepted again.
TEST_F(E2E, SimulateDuringAFaultIsRetryable) {
  Joined a = join_with_events(client_a, "alice");
  a.room.simulate_scenario(lk::SimulateScenario::SignalReconnect);
  try {
    a.room.simulate_scenario(lk::SimulateScenario::FullReconnect);
    ADD_FAILURE() << "a second fault was accepted while the first was under way";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_DISCONNECTED) << e.what();
    EXPECT_TRUE(e.retryable()) << "the room reconnects: " << e.what();
  }
  EXPECT_EQ(until_reconnected(a.events), (Seq{"reconnecting resume", "reconnected resume"}));
  a.room.simulate_scenario(lk::SimulateScenario::SignalReconnect);
  EXPECT_EQ(until_reconnected(a.events, 2),
            (Seq{"reconnecting resume", "reconnected resume", "reconnecting resume", "reconnected resume"}));
}

// Refusals: a room that never connected or has left (DISCONNECTED, not retryable), a value
// that is none of the seven scenarios (the library's INVALID_ARGUMENT: the binding passes it on),
// an empty Room (INVALID_HANDLE). None of them disturbs a connected room.
TEST_F(E2E, SimulateScenarioRefusals) {
  {
    lk::Room idle(client_a);
    try {
      idle.simulate_scenario(lk::SimulateScenario::SignalReconnect);
      ADD_FAILURE() << "a room that never connected simulated a fault";
    } catch (const lk::Error &e) {
      EXPECT_EQ(e.code(), LK_ERR_DISCONNECTED) << e.what();
      EXPECT_FALSE(e.retryable()) << "never connected: " << e.what();
    }
    lk::Room moved = std::move(idle);
    expect_error(LK_ERR_INVALID_HANDLE, [&] { idle.simulate_scenario(lk::SimulateScenario::SignalReconnect); },
                 "empty Room");  // the moved-from Room is empty
  }

  Joined a = join_with_events(client_a, "alice");
  for (int32_t v : {0, 8, 99, -1})
    expect_error(LK_ERR_INVALID_ARGUMENT, [&] { a.room.simulate_scenario(static_cast<lk::SimulateScenario>(v)); },
                 ("scenario " + std::to_string(v)).c_str());
  a.room.disconnect();
  try {
    a.room.simulate_scenario(lk::SimulateScenario::FullReconnect);
    ADD_FAILURE() << "a room that left simulated a fault";
  } catch (const lk::Error &e) {
    EXPECT_EQ(e.code(), LK_ERR_DISCONNECTED) << e.what();
    EXPECT_FALSE(e.retryable()) << "the room has left: " << e.what();
  }
  // The refused values never reached the room: it left without a reconnection.
  EXPECT_EQ(reconnection(a.events.wait_all(episode_ended)), (Seq{"disconnected"}));
}
