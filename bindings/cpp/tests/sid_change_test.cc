// A remote data track's new sid (RemoteDataTrackSidChanged, ABI 1.10) as the API handles it.
// Against the test server a publisher's full reconnect always shows as unpublished + published,
// so no end-to-end run reaches this path: the event is fed, decoded, to the client's dispatch
// (ClientImpl::dispatch, the internal seam this program reaches because it is built with the
// binding's sources), on a real room with real subscriptions. The tests of an explicit
// subscribe's answer against sid changes dispatched while it runs drive the same state without
// a server: they register the subscription as Room::subscribe does, feed the changes, and store
// the answer (detail::set_subscribed_track) at the point of the interleaving under test.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.hpp"
#include "internal.hpp"

using namespace lktest;

namespace {

// Delivers a RemoteDataTrackSidChanged of room as the library would, through the client's
// dispatch (here on the calling thread; the handler runs before this returns).
void feed_sid_change(lk::Room &room, const std::string &publisher, const std::string &name, const std::string &old_sid,
                     const std::string &sid) {
  std::shared_ptr<lk::detail::RoomState> st = lk::detail::Access::room(room);
  ASSERT_TRUE(st);
  lk::pb::Event ev;
  ev.set_seq(1u << 30);  // not checked by the API
  auto *re = ev.mutable_room();
  re->set_room_handle(st->handle);
  auto *c = re->mutable_data_track_sid_changed();
  c->set_publisher_identity(publisher);
  c->set_name(name);
  c->set_old_sid(old_sid);
  c->set_sid(sid);
  st->client->dispatch(ev);
}

// A room (not connected) whose state only synthetic events drive.
struct LocalRoom {
  lk::Client client;
  lk::Room room{client};
  std::shared_ptr<lk::detail::RoomState> state = lk::detail::Access::room(room);
};

lk::RemoteDataTrack sensor_track(const std::string &sid) {
  lk::RemoteDataTrack t;
  t.publisher_identity = "alice";
  t.info.name = "sensor";
  t.info.sid = sid;
  return t;
}

// The library's answer to the subscribe request: the track as it was when it answered.
lk::pb::RemoteDataTrackInfo answer(const std::string &sid) {
  lk::pb::RemoteDataTrackInfo a;
  a.set_publisher_identity("alice");
  a.mutable_info()->set_name("sensor");
  a.mutable_info()->set_sid(sid);
  a.mutable_info()->set_schema_name("from-the-answer");
  return a;
}

lk::RemoteDataTrack track_of(lk::detail::SubscriptionState &st) {
  std::lock_guard<std::mutex> l(st.mu);
  return st.track;
}

}  // namespace

// Two sid changes dispatched between the subscribe's answer and its storing: the subscription
// shows the last one, also when it is the sid the caller gave (its track value was newer than
// this room's events, e.g. read from another client) and the answer shows the one in between.
TEST(SidChangeDuringSubscribe, TwoChangesBeforeTheAnswerIsStoredLeaveTheLatest) {
  for (const std::string requested : {"DTR_3", "DTR_1"}) {
    SCOPED_TRACE("requested " + requested);
    LocalRoom r;
    auto st = lk::detail::new_subscription_state(*r.state, sensor_track(requested));
    // The library answered with DTR_2; the changes to DTR_2 and DTR_3 are dispatched before the
    // subscribing thread stores that answer.
    feed_sid_change(r.room, "alice", "sensor", "DTR_1", "DTR_2");
    feed_sid_change(r.room, "alice", "sensor", "DTR_2", "DTR_3");
    lk::detail::set_subscribed_track(*st, answer("DTR_2"));
    lk::RemoteDataTrack t = track_of(*st);
    EXPECT_EQ(t.info.sid, "DTR_3") << "left on the intermediate sid";
    EXPECT_EQ(t.info.name, "sensor");
    EXPECT_EQ(t.publisher_identity, "alice");
    EXPECT_EQ(t.info.schema_name, "from-the-answer") << "the rest of the track comes from the answer";
  }
}

// The answer is newer than the changes dispatched before it is stored (the library had DTR_3,
// its event comes later): the subscription shows the change it got, then the later event's sid.
TEST(SidChangeDuringSubscribe, AnAnswerAheadOfTheEventsIsCaughtUpByThem) {
  LocalRoom r;
  auto st = lk::detail::new_subscription_state(*r.state, sensor_track("DTR_1"));
  feed_sid_change(r.room, "alice", "sensor", "DTR_1", "DTR_2");
  lk::detail::set_subscribed_track(*st, answer("DTR_3"));
  EXPECT_EQ(track_of(*st).info.sid, "DTR_2");
  feed_sid_change(r.room, "alice", "sensor", "DTR_2", "DTR_3");
  EXPECT_EQ(track_of(*st).info.sid, "DTR_3");
}

// No change of the track dispatched before the answer is stored (another track's does not
// count): the answer's sid replaces the caller's, and a change dispatched after it applies.
TEST(SidChangeDuringSubscribe, WithoutAChangeTheAnswerHoldsAndLaterChangesApply) {
  LocalRoom r;
  auto st = lk::detail::new_subscription_state(*r.state, sensor_track("DTR_1"));
  feed_sid_change(r.room, "alice", "other", "DTR_o1", "DTR_o2");
  feed_sid_change(r.room, "bob", "sensor", "DTR_b1", "DTR_b2");
  lk::detail::set_subscribed_track(*st, answer("DTR_2"));
  EXPECT_EQ(track_of(*st).info.sid, "DTR_2");
  feed_sid_change(r.room, "alice", "sensor", "DTR_2", "DTR_3");
  EXPECT_EQ(track_of(*st).info.sid, "DTR_3");
}

// The subscriptions of the track, taken (auto-subscription, pull, callback) or not, show the
// new sid before the DataTrackSidChangedEvent reaches the handler; other tracks' do not
// change; an ended subscription keeps the sid it had.
TEST_F(E2E, SidChangeRenamesTheTracksSubscriptionsAndIsDelivered) {
  lk::Room alice = join(client_a, "alice");
  lk::RoomOptions opts;
  opts.auto_subscribe = true;
  lk::Room bob(client_b, opts);
  auto events = std::make_unique<Events>(bob);
  bob.connect(sfu.url, token("bob"));
  lk::LocalDataTrack sensor = alice.publish_data_track("sensor");
  lk::LocalDataTrack other = alice.publish_data_track("other");
  auto is = [](const char *name) {
    return [name](const lk::DataTrackPublishedEvent &e) { return e.track.info.name == name; };
  };
  const lk::RemoteDataTrack s_track = events->wait<lk::DataTrackPublishedEvent>(is("sensor")).track;
  const lk::RemoteDataTrack o_track = events->wait<lk::DataTrackPublishedEvent>(is("other")).track;
  const std::string s_sid = s_track.info.sid, o_sid = o_track.info.sid;
  ASSERT_FALSE(s_sid.empty());
  ASSERT_FALSE(o_sid.empty());
  EXPECT_EQ(client_b.live_handles(), 3u) << "room + two auto-subscriptions";

  lk::DataTrackSubscription auto_sub = bob.subscribe(s_track);  // the library's, taken
  lk::DataTrackSubscription pull = bob.subscribe(s_track);      // further ones
  lk::DataTrackSubscription cb = bob.subscribe(s_track, [](lk::Frame &&) {});
  EXPECT_EQ(client_b.live_handles(), 5u);  // "other"'s auto-subscription stays untaken
  for (auto *s : {&auto_sub, &pull, &cb}) EXPECT_EQ(s->track().info.sid, s_sid);

  // A handler recording each sid change with the sid pull shows at that moment.
  events.reset();
  std::mutex mu;
  std::vector<lk::DataTrackSidChangedEvent> changes;
  std::vector<std::string> pull_sid_then;
  bob.set_event_handler([&](const lk::RoomEvent &e) {
    if (const auto *c = std::get_if<lk::DataTrackSidChangedEvent>(&e)) {
      std::lock_guard<std::mutex> l(mu);
      changes.push_back(*c);
      pull_sid_then.push_back(pull.track().info.sid);
    }
  });

  // sensor's sid changes: its three subscriptions follow, other's untaken one does not.
  feed_sid_change(bob, "alice", "sensor", s_sid, "DTR_sensor_renewed");
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_EQ(changes.size(), 1u) << "the event reaches the handler";
    EXPECT_EQ(changes[0].publisher_identity, "alice");
    EXPECT_EQ(changes[0].name, "sensor");
    EXPECT_EQ(changes[0].old_sid, s_sid);
    EXPECT_EQ(changes[0].sid, "DTR_sensor_renewed");
    EXPECT_EQ(pull_sid_then[0], "DTR_sensor_renewed") << "the subscriptions show the new sid before the handler runs";
  }
  for (auto *s : {&auto_sub, &pull, &cb}) {
    EXPECT_EQ(s->track().info.sid, "DTR_sensor_renewed");
    EXPECT_EQ(s->track().info.name, "sensor");
    EXPECT_EQ(s->track().publisher_identity, "alice");
  }

  // other's sid changes while its auto-subscription is untaken: taking it with the track as
  // announced (old sid) returns it, showing the new sid; sensor's are untouched.
  feed_sid_change(bob, "alice", "other", o_sid, "DTR_other_renewed");
  for (auto *s : {&auto_sub, &pull, &cb}) EXPECT_EQ(s->track().info.sid, "DTR_sensor_renewed");
  lk::DataTrackSubscription o_sub = bob.subscribe(o_track);
  EXPECT_EQ(client_b.live_handles(), 5u) << "the auto-subscription was taken, no other opened";
  EXPECT_EQ(o_sub.track().info.sid, "DTR_other_renewed");
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[1].name, "other");
    EXPECT_EQ(changes[1].old_sid, o_sid);
    EXPECT_EQ(changes[1].sid, "DTR_other_renewed");
  }

  // A subscription that ended keeps its track's last sid: sensor unpublished, then (as if a
  // track of that name came back and changed sid) another change of the name.
  sensor.unpublish();
  lk::Frame f;
  lk::Status st = pull.try_read(f, int32_t(kGuard.count()));
  while (st.ok()) st = pull.try_read(f, int32_t(kGuard.count()));
  ASSERT_EQ(st.code(), LK_ERR_END_OF_STREAM) << st.name();
  ASSERT_TRUE(pull.end().has_value());
  feed_sid_change(bob, "alice", "sensor", "DTR_sensor_renewed", "DTR_sensor_again");
  EXPECT_EQ(pull.track().info.sid, "DTR_sensor_renewed");
  bob.set_event_handler({});
}
