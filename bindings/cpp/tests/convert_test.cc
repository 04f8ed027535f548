// The binding's converters, compiled into this test program with the rest of the binding (the
// library hides them): every field of the schema's RoomOptions is set from lk::RoomOptions or by
// the binding itself (checked with the values it sets), or is on a fixed list of fields it leaves
// unset, so a field added to the schema without a C++ member fails here.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"

TEST(Convert, EveryRoomOptionsFieldOfTheSchemaIsSet) {
  lk::RoomOptions o;
  o.auto_subscribe = true;
  o.e2ee = lk::E2eeOptions{"key", "salt", 3, 4};
  o.connect_timeout_ms = 1;
  o.join_attempts = 2;
  o.max_reconnect_attempts = 3;
  o.rpc_response_timeout_ms = 4;
  o.data_track_buffer_size = 5;
  o.data_track_buffer_bytes = 7;
  o.max_incoming_stream_bytes = 6;
  o.ice_servers = {lk::IceServer{{"turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"}, "u", "secret"}};
  o.ice_transport_policy = lk::IceTransportPolicy::Relay;
  o.sctp_receive_buffer_bytes = 1u << 20;
  o.disable_udp_batching = true;
  o.tls_root_certificates_pem = "-----BEGIN CERTIFICATE-----\n";
  lk::pb::RoomOptions p;
  lk::detail::to_pb(o, &p);

  std::vector<const google::protobuf::FieldDescriptor *> fields;
  p.GetReflection()->ListFields(p, &fields);
  std::set<std::string> set, all;
  for (const auto *f : fields) set.insert(f->name());
  for (int i = 0; i < p.GetDescriptor()->field_count(); i++) all.insert(p.GetDescriptor()->field(i)->name());
  // Not set, on purpose: the initial credits of CREDITS delivery, which this binding does not
  // use for auto-subscriptions (they are pull subscriptions, below).
  const std::set<std::string> unused = {"auto_subscription_credits"};
  for (const auto &name : unused) EXPECT_EQ(all.count(name), 1u) << name << " is no longer in the schema";
  std::set<std::string> expected;
  for (const auto &name : all)
    if (!unused.count(name)) expected.insert(name);
  EXPECT_EQ(set, expected);

  EXPECT_EQ(p.data_track_buffer_size(), 5u);
  EXPECT_EQ(p.data_track_buffer_bytes(), 7u);

  ASSERT_EQ(p.ice_servers_size(), 1);
  EXPECT_EQ(p.ice_servers(0).urls_size(), 2);
  EXPECT_EQ(p.ice_servers(0).username(), "u");
  EXPECT_EQ(p.ice_servers(0).credential(), "secret");
  EXPECT_EQ(p.ice_transport_policy(), lk::pb::ICE_TRANSPORT_POLICY_RELAY);
  EXPECT_EQ(p.sctp_receive_buffer_bytes(), 1u << 20);
  EXPECT_TRUE(p.disable_udp_batching());

  lk::pb::RoomOptions d;
  lk::detail::to_pb(lk::RoomOptions{}, &d);
  // Set by the binding whatever the options: the snapshot carries the auto-subscriptions of its
  // tracks (ABI 1.5), and auto-subscriptions are pull subscriptions whose frames wait in the
  // library's buffer (ABI 1.14; the binding keeps none of its own).
  EXPECT_TRUE(d.auto_subscriptions_in_snapshot());
  EXPECT_EQ(d.auto_subscription_delivery(), lk::pb::DELIVERY_MODE_PULL);
  EXPECT_EQ(d.auto_subscription_credits(), 0u);
  EXPECT_EQ(d.data_track_buffer_size(), 0u);   // 0: the library's default
  EXPECT_EQ(d.data_track_buffer_bytes(), 0u);
  EXPECT_EQ(d.ice_servers_size(), 0);
  EXPECT_EQ(d.ice_transport_policy(), lk::pb::ICE_TRANSPORT_POLICY_ALL);
  EXPECT_EQ(d.sctp_receive_buffer_bytes(), 0u);
  EXPECT_FALSE(d.disable_udp_batching());
}

// RoomOptions::tls_root_certificates_pem (ABI 1.30) reaches the schema's field byte for byte
// (the library checks it; nothing is parsed, trimmed or refused here, not even text that is no
// certificate or no UTF-8: the field is bytes); left empty, the field is empty (the system's
// roots).
TEST(Convert, TlsRootCertificatesPemReachesTheSchema) {
  static const char kPem[] =
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
      "not a certificate \xff\x00 either";
  const std::string pem(kPem, sizeof kPem - 1);  // its NUL byte included
  lk::RoomOptions o;
  o.tls_root_certificates_pem = pem;
  lk::pb::RoomOptions p;
  lk::detail::to_pb(o, &p);
  EXPECT_EQ(p.tls_root_certificates_pem(), pem);
  EXPECT_EQ(p.tls_root_certificates_pem().size(), pem.size());

  lk::pb::RoomOptions d;
  lk::detail::to_pb(lk::RoomOptions{}, &d);
  EXPECT_TRUE(d.tls_root_certificates_pem().empty());
}

// RoomInfo.server (ABI 1.24) reaches lk::RoomInfo::server field by field, the Cloud edition
// included, in the room info of a snapshot and of a RoomUpdated event alike.
TEST(Convert, RoomInfoCarriesTheServer) {
  lk::pb::RoomInfo p;
  p.set_name("r");
  p.set_departure_timeout_seconds(20);
  auto *s = p.mutable_server();
  s->set_edition(lk::pb::SERVER_EDITION_CLOUD);
  s->set_version("1.14.2");
  s->set_protocol(16);
  s->set_region("eu-central");
  s->set_node_id("ND_abc123");
  lk::RoomInfo i = lk::detail::from_pb(p);
  EXPECT_EQ(i.name, "r");
  EXPECT_EQ(i.departure_timeout_seconds, 20u);
  EXPECT_EQ(i.server.edition, lk::ServerEdition::Cloud);
  EXPECT_EQ(i.server.version, "1.14.2");
  EXPECT_EQ(i.server.protocol, 16);
  EXPECT_EQ(i.server.region, "eu-central");
  EXPECT_EQ(i.server.node_id, "ND_abc123");

  lk::pb::ConnectResult c;
  *c.mutable_room() = p;
  EXPECT_EQ(lk::detail::from_pb(c).room.server.node_id, "ND_abc123");
  lk::pb::RoomEvent re;
  *re.mutable_room_updated()->mutable_info() = p;
  lk::RoomEvent ev;
  ASSERT_TRUE(lk::detail::to_room_event(re, &ev));
  auto *u = std::get_if<lk::RoomUpdatedEvent>(&ev);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->info.server.region, "eu-central");
  EXPECT_EQ(u->info.server.edition, lk::ServerEdition::Cloud);

  // Unset (a library before 1.24 sends none): the schema's defaults, Standard.
  lk::RoomInfo none = lk::detail::from_pb(lk::pb::RoomInfo{});
  EXPECT_EQ(none.server.edition, lk::ServerEdition::Standard);
  EXPECT_EQ(none.server.version, "");
  EXPECT_EQ(none.server.protocol, 0);
  EXPECT_EQ(none.server.region, "");
  EXPECT_EQ(none.server.node_id, "");

  // An edition newer than this header is kept as its number (no UB: the enum's underlying type
  // is int32_t), as every enum of the API.
  lk::pb::ServerInfo newer;
  ASSERT_TRUE(newer.ParseFromString(std::string("\x08\x07\x12\x01v", 5)));  // edition 7, version "v"
  lk::ServerInfo n = lk::detail::from_pb(newer);
  EXPECT_EQ(static_cast<int32_t>(n.edition), 7);
  EXPECT_EQ(n.version, "v");
}

// ParticipantInfo.tracks (ABI 1.25) reaches lk::ParticipantInfo::tracks field by field, in the
// library's order, in a snapshot's participants and an event's info alike; ParticipantUpdated's
// track_published, track_unpublished and track_mute_changed each set their own member (and only
// it); a kind or source newer than this header is kept as its number.
TEST(Convert, ParticipantInfoCarriesItsMediaTracks) {
  lk::pb::ParticipantInfo p;
  p.set_identity("alice");
  auto *cam = p.add_tracks();
  cam->set_sid("TR_cam");
  cam->set_name("camera");
  cam->set_kind(lk::pb::TRACK_KIND_VIDEO);
  cam->set_source(lk::pb::TRACK_SOURCE_CAMERA);
  cam->set_muted(true);
  cam->set_mime_type("video/VP8");
  cam->set_width(1280);
  cam->set_height(720);
  cam->set_simulcast(true);
  cam->set_encrypted(true);
  auto *mic = p.add_tracks();
  mic->set_sid("TR_mic");
  mic->set_kind(lk::pb::TRACK_KIND_AUDIO);
  mic->set_source(lk::pb::TRACK_SOURCE_MICROPHONE);
  mic->set_mime_type("audio/opus");
  lk::ParticipantInfo i = lk::detail::from_pb(p);
  ASSERT_EQ(i.tracks.size(), 2u);
  const lk::TrackPublication &c = i.tracks[0], &m = i.tracks[1];
  EXPECT_EQ(c.sid, "TR_cam");
  EXPECT_EQ(c.name, "camera");
  EXPECT_EQ(c.kind, lk::TrackKind::Video);
  EXPECT_EQ(c.source, lk::TrackSource::Camera);
  EXPECT_TRUE(c.muted);
  EXPECT_EQ(c.mime_type, "video/VP8");
  EXPECT_EQ(c.width, 1280u);
  EXPECT_EQ(c.height, 720u);
  EXPECT_TRUE(c.simulcast);
  EXPECT_TRUE(c.encrypted);
  EXPECT_EQ(m.sid, "TR_mic");
  EXPECT_EQ(m.name, "");
  EXPECT_EQ(m.kind, lk::TrackKind::Audio);
  EXPECT_EQ(m.source, lk::TrackSource::Microphone);
  EXPECT_FALSE(m.muted);
  EXPECT_EQ(m.mime_type, "audio/opus");
  EXPECT_EQ(m.width, 0u);
  EXPECT_EQ(m.height, 0u);
  EXPECT_FALSE(m.simulcast);
  EXPECT_FALSE(m.encrypted);
  EXPECT_TRUE(lk::detail::from_pb(lk::pb::ParticipantInfo{}).tracks.empty());

  lk::pb::ConnectResult snap;
  *snap.add_remote_participants() = p;
  auto s = lk::detail::from_pb(snap);
  ASSERT_EQ(s.remote_participants.size(), 1u);
  ASSERT_EQ(s.remote_participants[0].tracks.size(), 2u);
  EXPECT_EQ(s.remote_participants[0].tracks[1].sid, "TR_mic");

  // Each flag of ParticipantUpdated sets its own member, the track it names.
  for (int k = 0; k < 3; k++) {
    lk::pb::RoomEvent re;
    auto *u = re.mutable_participant_updated();
    *u->mutable_info() = p;
    if (k == 0) *u->mutable_track_published() = *cam;
    if (k == 1) *u->mutable_track_unpublished() = *cam;
    if (k == 2) *u->mutable_track_mute_changed() = *cam;
    lk::RoomEvent ev;
    ASSERT_TRUE(lk::detail::to_room_event(re, &ev));
    auto *e = std::get_if<lk::ParticipantUpdatedEvent>(&ev);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->info.tracks.size(), 2u) << k;
    const std::optional<lk::TrackPublication> *set[] = {&e->track_published, &e->track_unpublished,
                                                         &e->track_mute_changed};
    for (int j = 0; j < 3; j++) EXPECT_EQ(set[j]->has_value(), j == k) << "flag " << k << ", member " << j;
    ASSERT_TRUE(set[k]->has_value()) << k;
    const lk::TrackPublication &t = **set[k];
    EXPECT_EQ(t.sid, "TR_cam") << k;
    EXPECT_EQ(t.kind, lk::TrackKind::Video) << k;
    EXPECT_EQ(t.width, 1280u) << k;
    EXPECT_TRUE(t.muted) << k;
    EXPECT_FALSE(e->name_changed || e->metadata_changed || e->permission_changed || e->connection_quality_changed) << k;
  }
  // No flag (another change of a track, e.g. its dimensions): none set, the new info.
  lk::pb::RoomEvent plain;
  *plain.mutable_participant_updated()->mutable_info() = p;
  lk::RoomEvent pev;
  ASSERT_TRUE(lk::detail::to_room_event(plain, &pev));
  auto *pe = std::get_if<lk::ParticipantUpdatedEvent>(&pev);
  ASSERT_NE(pe, nullptr);
  EXPECT_FALSE(pe->track_published || pe->track_unpublished || pe->track_mute_changed);
  EXPECT_EQ(pe->info.tracks.size(), 2u);

  // A kind and a source newer than this header are kept as their numbers (no UB: the enums'
  // underlying type is int32_t): sid "TR_x" (field 1), kind 7 (field 3), source 9 (field 4).
  lk::pb::TrackPublicationInfo newer;
  ASSERT_TRUE(newer.ParseFromString(std::string("\x0a\x04TR_x\x18\x07\x20\x09", 10)));
  lk::TrackPublication n = lk::detail::from_pb(newer);
  EXPECT_EQ(n.sid, "TR_x");
  EXPECT_EQ(static_cast<int32_t>(n.kind), 7);
  EXPECT_EQ(static_cast<int32_t>(n.source), 9);
}

// GetConnectionStatsResponse (ABI 1.26) becomes an lk::ConnectionStats field by field: each
// IceCandidateType value, both candidates (not swapped), the round trips from microseconds to
// std::chrono::microseconds (each its own), the byte counts (each its own); not connected is
// std::nullopt whatever else the response holds; a type newer than this header is kept as its
// number.
TEST(Convert, ConnectionStatsCarryTheCandidatePairRoundTripsAndBytes) {
  const std::pair<lk::pb::IceCandidateType, lk::IceCandidateType> types[] = {
      {lk::pb::ICE_CANDIDATE_TYPE_UNSPECIFIED, lk::IceCandidateType::Unspecified},
      {lk::pb::ICE_CANDIDATE_TYPE_HOST, lk::IceCandidateType::Host},
      {lk::pb::ICE_CANDIDATE_TYPE_SRFLX, lk::IceCandidateType::Srflx},
      {lk::pb::ICE_CANDIDATE_TYPE_PRFLX, lk::IceCandidateType::Prflx},
      {lk::pb::ICE_CANDIDATE_TYPE_RELAY, lk::IceCandidateType::Relay},
  };
  // The schema's values and the header's agree one to one (a value added to the schema fails
  // here until the header has it).
  EXPECT_EQ(lk::pb::IceCandidateType_descriptor()->value_count(), int(std::size(types)));
  for (const auto &[pbt, t] : types) {
    lk::pb::IceCandidate c;
    c.set_type(pbt);
    EXPECT_EQ(lk::detail::from_pb(c).type, t) << lk::pb::IceCandidateType_Name(pbt);
    EXPECT_EQ(static_cast<int32_t>(lk::detail::from_pb(c).type), static_cast<int32_t>(pbt));
  }

  lk::pb::GetConnectionStatsResponse p;
  p.set_connected(true);
  auto *l = p.mutable_local_candidate();
  l->set_type(lk::pb::ICE_CANDIDATE_TYPE_RELAY);
  l->set_protocol("udp");
  l->set_ip("203.0.113.7");
  l->set_port(65535);
  l->set_relay_protocol("tls");
  auto *r = p.mutable_remote_candidate();
  r->set_type(lk::pb::ICE_CANDIDATE_TYPE_HOST);
  r->set_protocol("tcp");
  r->set_ip("192.0.2.1");
  r->set_port(7881);
  p.set_round_trip_time_us(1234567);       // 1.234567 s
  p.set_sctp_round_trip_time_us(8000001);  // 8.000001 s
  p.set_bytes_sent(1ull << 40);
  p.set_bytes_received(42);
  std::optional<lk::ConnectionStats> s = lk::detail::from_pb(p);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->local_candidate.type, lk::IceCandidateType::Relay);
  EXPECT_EQ(s->local_candidate.protocol, "udp");
  EXPECT_EQ(s->local_candidate.ip, "203.0.113.7");
  EXPECT_EQ(s->local_candidate.port, 65535);
  EXPECT_EQ(s->local_candidate.relay_protocol, "tls");
  EXPECT_EQ(s->remote_candidate.type, lk::IceCandidateType::Host);
  EXPECT_EQ(s->remote_candidate.protocol, "tcp");
  EXPECT_EQ(s->remote_candidate.ip, "192.0.2.1");
  EXPECT_EQ(s->remote_candidate.port, 7881);
  EXPECT_EQ(s->remote_candidate.relay_protocol, "");
  EXPECT_EQ(s->round_trip_time.count(), std::chrono::microseconds(1234567).count());
  EXPECT_EQ(s->sctp_round_trip_time.count(), std::chrono::microseconds(8000001).count());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(s->round_trip_time).count(), 1234);
  EXPECT_EQ(s->bytes_sent, 1ull << 40);
  EXPECT_EQ(s->bytes_received, 42u);

  // Connected before the first round trip: zero durations, zero counts.
  lk::pb::GetConnectionStatsResponse fresh;
  fresh.set_connected(true);
  auto f = lk::detail::from_pb(fresh);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->round_trip_time.count(), 0);
  EXPECT_EQ(f->sctp_round_trip_time.count(), 0);
  EXPECT_EQ(f->local_candidate.type, lk::IceCandidateType::Unspecified);
  // A count beyond a duration's range (never sent) is its largest value, not a negative one.
  fresh.set_round_trip_time_us(UINT64_MAX);
  EXPECT_EQ(lk::detail::from_pb(fresh)->round_trip_time.count(), std::chrono::microseconds::max().count());

  // Not connected: no statistics, whatever the other fields say.
  EXPECT_FALSE(lk::detail::from_pb(lk::pb::GetConnectionStatsResponse{}).has_value());
  p.set_connected(false);
  EXPECT_FALSE(lk::detail::from_pb(p).has_value());

  // A type newer than this header is kept as its number (no UB: the enum's underlying type is
  // int32_t): type 9 (field 1), ip "1.2.3.4" (field 3), port 443 (field 4).
  lk::pb::IceCandidate newer;
  ASSERT_TRUE(newer.ParseFromString(std::string("\x08\x09\x1a\x07" "1.2.3.4" "\x20\xbb\x03", 14)));
  lk::IceCandidate n = lk::detail::from_pb(newer);
  EXPECT_EQ(static_cast<int32_t>(n.type), 9);
  EXPECT_EQ(n.ip, "1.2.3.4");
  EXPECT_EQ(n.port, 443);
}

// Each scenario is the schema's value of the same name (ABI 1.27), and every scenario of the
// schema has one here (a scenario added to the schema without a C++ member fails). A value that
// is none of them passes as its number, for the library to refuse (E2E.SimulateScenarioRefusals).
TEST(Convert, SimulateScenarioIsTheSchemasValueOfTheSameName) {
  const std::vector<std::pair<lk::SimulateScenario, std::string>> named = {
      {lk::SimulateScenario::SignalReconnect, "SIMULATE_SCENARIO_SIGNAL_RECONNECT"},
      {lk::SimulateScenario::FullReconnect, "SIMULATE_SCENARIO_FULL_RECONNECT"},
      {lk::SimulateScenario::NodeFailure, "SIMULATE_SCENARIO_NODE_FAILURE"},
      {lk::SimulateScenario::Migration, "SIMULATE_SCENARIO_MIGRATION"},
      {lk::SimulateScenario::ServerLeave, "SIMULATE_SCENARIO_SERVER_LEAVE"},
      {lk::SimulateScenario::DisconnectSignalOnResume, "SIMULATE_SCENARIO_DISCONNECT_SIGNAL_ON_RESUME"},
      {lk::SimulateScenario::SpeakerUpdate, "SIMULATE_SCENARIO_SPEAKER_UPDATE"},
  };
  std::set<std::string> covered;
  for (const auto &[s, name] : named) {
    lk::pb::SimulateScenario v = lk::detail::to_pb(s);
    EXPECT_EQ(lk::pb::SimulateScenario_Name(v), name);
    EXPECT_EQ(static_cast<int32_t>(v), static_cast<int32_t>(s)) << name << ": the header's number is the schema's";
    covered.insert(name);
  }
  const auto *d = lk::pb::SimulateScenario_descriptor();
  for (int i = 0; i < d->value_count(); i++) {
    const std::string name = d->value(i)->name();
    if (name == "SIMULATE_SCENARIO_UNSPECIFIED") continue;
    EXPECT_EQ(covered.count(name), 1u) << name << " has no lk::SimulateScenario";
  }
  for (int32_t n : {0, 8, 99, -1})
    EXPECT_EQ(static_cast<int32_t>(lk::detail::to_pb(static_cast<lk::SimulateScenario>(n))), n);
}

// A reconnected event carries the reliable packets the reconnect discarded or sent again
// (ABI 1.28), each from its own field of the schema.
TEST(Convert, ReconnectedCarriesTheDiscardedAndReplayedPackets) {
  auto convert = [](lk::pb::ReconnectKind kind, uint32_t discarded, uint32_t replayed) {
    lk::pb::RoomEvent e;
    e.mutable_reconnected()->set_kind(kind);
    e.mutable_reconnected()->set_discarded_packets(discarded);
    e.mutable_reconnected()->set_replayed_packets(replayed);
    lk::RoomEvent out;
    EXPECT_TRUE(lk::detail::to_room_event(e, &out));
    const auto *r = std::get_if<lk::ReconnectedEvent>(&out);
    return r ? *r : lk::ReconnectedEvent{lk::ReconnectKind(-1), 1, 1};
  };
  const lk::ReconnectedEvent full = convert(lk::pb::RECONNECT_KIND_FULL, 7, 0);
  EXPECT_EQ(full.kind, lk::ReconnectKind::Full);
  EXPECT_EQ(full.discarded_packets, 7u);
  EXPECT_EQ(full.replayed_packets, 0u);
  const lk::ReconnectedEvent resume = convert(lk::pb::RECONNECT_KIND_RESUME, 0, 4294967295u);
  EXPECT_EQ(resume.kind, lk::ReconnectKind::Resume);
  EXPECT_EQ(resume.discarded_packets, 0u);
  EXPECT_EQ(resume.replayed_packets, 4294967295u);
}

// Active speakers (ABI 1.29): ParticipantInfo.is_speaking / audio_level reach lk::ParticipantInfo
// (each its own field, in a snapshot's participants and an event's info alike);
// ParticipantUpdated.speaking_changed sets speaking_changed alone; ActiveSpeakersChanged and
// ConnectResult.active_speakers keep the library's order (not sorted: "zoe" before "alice", and
// a duplicate stays), and an empty list is an event too.
TEST(Convert, ActiveSpeakersKeepTheLibrarysOrder) {
  lk::pb::ParticipantInfo p;
  p.set_identity("alice");
  p.set_is_speaking(true);
  p.set_audio_level(0.625f);
  lk::ParticipantInfo i = lk::detail::from_pb(p);
  EXPECT_TRUE(i.is_speaking);
  EXPECT_EQ(i.audio_level, 0.625f);
  lk::pb::ParticipantInfo level_only;  // each from its own field
  level_only.set_audio_level(0.25f);
  EXPECT_FALSE(lk::detail::from_pb(level_only).is_speaking);
  EXPECT_EQ(lk::detail::from_pb(level_only).audio_level, 0.25f);
  lk::pb::ParticipantInfo speaking_only;
  speaking_only.set_is_speaking(true);
  EXPECT_TRUE(lk::detail::from_pb(speaking_only).is_speaking);
  EXPECT_EQ(lk::detail::from_pb(speaking_only).audio_level, 0.0f);
  // Unset (a library before 1.29 sends none): silent.
  EXPECT_FALSE(lk::detail::from_pb(lk::pb::ParticipantInfo{}).is_speaking);
  EXPECT_EQ(lk::detail::from_pb(lk::pb::ParticipantInfo{}).audio_level, 0.0f);

  lk::pb::RoomEvent re;
  auto *u = re.mutable_participant_updated();
  *u->mutable_info() = p;
  u->set_speaking_changed(true);
  lk::RoomEvent ev;
  ASSERT_TRUE(lk::detail::to_room_event(re, &ev));
  auto *e = std::get_if<lk::ParticipantUpdatedEvent>(&ev);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->speaking_changed);
  EXPECT_TRUE(e->info.is_speaking);
  EXPECT_EQ(e->info.audio_level, 0.625f);
  EXPECT_FALSE(e->name_changed || e->metadata_changed || e->permission_changed || e->connection_quality_changed ||
               e->track_published || e->track_unpublished || e->track_mute_changed);
  u->set_speaking_changed(false);
  u->set_connection_quality_changed(true);
  ASSERT_TRUE(lk::detail::to_room_event(re, &ev));
  e = std::get_if<lk::ParticipantUpdatedEvent>(&ev);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->speaking_changed) << "another flag is not speaking_changed";

  const std::vector<std::string> order = {"zoe", "alice", "mike", "alice"};
  lk::pb::RoomEvent se;
  for (const auto &id : order) se.mutable_active_speakers_changed()->add_identities(id);
  ASSERT_TRUE(lk::detail::to_room_event(se, &ev));
  auto *a = std::get_if<lk::ActiveSpeakersChangedEvent>(&ev);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->identities, order);
  lk::pb::RoomEvent empty;
  empty.mutable_active_speakers_changed();  // nobody speaks: an event with no identity
  ASSERT_TRUE(lk::detail::to_room_event(empty, &ev));
  a = std::get_if<lk::ActiveSpeakersChangedEvent>(&ev);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->identities.empty());

  lk::pb::ConnectResult c;
  *c.mutable_local_participant() = p;
  c.add_remote_participants()->set_identity("zoe");
  c.mutable_remote_participants(0)->set_is_speaking(true);
  c.mutable_remote_participants(0)->set_audio_level(1.0f);
  for (const auto &id : order) c.add_active_speakers(id);
  lk::RoomSnapshot s = lk::detail::from_pb(c);
  EXPECT_EQ(s.active_speakers, order);
  EXPECT_TRUE(s.local_participant.is_speaking);
  EXPECT_EQ(s.local_participant.audio_level, 0.625f);
  ASSERT_EQ(s.remote_participants.size(), 1u);
  EXPECT_TRUE(s.remote_participants[0].is_speaking);
  EXPECT_EQ(s.remote_participants[0].audio_level, 1.0f);
  EXPECT_TRUE(lk::detail::from_pb(lk::pb::ConnectResult{}).active_speakers.empty());
  lk::pb::RoomEvent taken;
  *taken.mutable_snapshot_taken()->mutable_snapshot() = c;
  ASSERT_TRUE(lk::detail::to_room_event(taken, &ev));
  auto *t = std::get_if<lk::SnapshotTakenEvent>(&ev);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->snapshot.active_speakers, order);
}
