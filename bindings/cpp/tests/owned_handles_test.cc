// Completion.owned_handles (ABI 1.10) and RoomEvent.owned_handles (ABI 1.11) as the binding uses
// them: a completion whose caller is gone (ClientImpl::call gave up on it), and a room event that
// is not delivered (its Room is gone, no handler for its stream's topic, a kind this build does
// not know), release exactly the handles the library lists in it, whatever its kind. No server:
// the handles are real rooms created on a real client (standing in for the readers and
// subscriptions the library would hand over: lk_handle_drop releases any handle alike), the
// operations are real pending ones, and their completions and room events are fed, decoded, to
// the client's dispatch (ClientImpl::dispatch, reached because this program is built with the
// binding's sources) as the library would deliver them.
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common.hpp"
#include "internal.hpp"

namespace {

using lk::detail::ClientImpl;
namespace pb = lk::pb;

// A new room of the client, by its raw handle (no Room object releases it).
lk_handle_t new_room_handle(ClientImpl &c) {
  pb::Request req;
  req.mutable_create_room();
  lk_handle_t h = c.request(req).create_room().room().handle();
  EXPECT_NE(h, 0u);
  return h;
}

// The status of a request on room handle h: LK_OK while the library still has the handle.
int32_t snapshot_status(ClientImpl &c, lk_handle_t h) {
  pb::Request req;
  req.mutable_get_room_snapshot()->set_room_handle(h);
  return c.request_nothrow(req);
}

// Starts an operation whose own completion does not come during the test (an async echo
// delayed by 10 minutes; cancelled by finish()) and whose continuation records what it got.
struct Op {
  uint64_t id = 0;
  std::shared_ptr<std::vector<pb::Completion>> got = std::make_shared<std::vector<pb::Completion>>();
};

Op start_op(ClientImpl &c) {
  Op op;
  pb::Request req;
  req.mutable_echo()->set_async(true);
  req.mutable_echo()->set_delay_ms(600000);
  op.id = c.start(req, [got = op.got](pb::Completion &&comp) { got->push_back(std::move(comp)); });
  EXPECT_NE(op.id, 0u);
  return op;
}

// Delivers a completion of op as the library would (here on the calling thread).
void deliver(ClientImpl &c, const Op &op, pb::Completion comp) {
  comp.set_request_id(op.id);
  pb::Event ev;
  ev.set_seq(1u << 30);  // not checked by the binding
  *ev.mutable_completion() = std::move(comp);
  c.dispatch(ev);
}

// Cancels op in the library; its real completion then finds nothing pending and is ignored.
void finish(ClientImpl &c, const Op &op) {
  pb::Request req;
  req.mutable_cancel()->set_target_request_id(op.id);
  c.request_nothrow(req);
}

// Delivers a room event as the library would (here on the calling thread).
void deliver(ClientImpl &c, pb::RoomEvent re) {
  pb::Event ev;
  ev.set_seq(1u << 30);  // not checked by the binding
  *ev.mutable_room() = std::move(re);
  c.dispatch(ev);
}

// A StreamOpened event of room handing over a text stream's reader on topic (listed in
// owned_handles when listed is true, as the library does).
pb::RoomEvent stream_opened(lk_handle_t room, lk_handle_t reader, const std::string &topic, bool listed = true) {
  pb::RoomEvent re;
  re.set_room_handle(room);
  auto *so = re.mutable_stream_opened();
  so->set_participant_identity("alice");
  so->mutable_reader()->set_handle(reader);
  so->mutable_reader()->mutable_text()->set_stream_id("stream-" + std::to_string(reader));
  so->mutable_reader()->mutable_text()->set_topic(topic);
  if (listed) re.add_owned_handles(reader);
  return re;
}

// A RemoteDataTrackPublished event of room handing over an auto-subscription (listed).
pb::RoomEvent data_track_published(lk_handle_t room, lk_handle_t subscription) {
  pb::RoomEvent re;
  re.set_room_handle(room);
  auto *p = re.mutable_data_track_published();
  auto *t = p->mutable_track();
  t->set_publisher_identity("alice");
  t->mutable_info()->set_sid("DTR_sensor");
  t->mutable_info()->set_name("sensor");
  p->mutable_auto_subscription()->set_handle(subscription);
  *p->mutable_auto_subscription()->mutable_track() = *t;
  re.add_owned_handles(subscription);
  return re;
}

// A ParticipantConnected event of room: a kind with no handle of its own, listing h (as a newer
// library might for something this build does not know about).
pb::RoomEvent participant_connected(lk_handle_t room, lk_handle_t h) {
  pb::RoomEvent re;
  re.set_room_handle(room);
  re.mutable_participant_connected()->mutable_info()->set_identity("carol");
  re.add_owned_handles(h);
  return re;
}

struct Fixture {
  lk::Client client;
  lk::Room keep{client};  // reaches the client's internals (detail::Access)
  std::shared_ptr<ClientImpl> impl = lk::detail::Access::room(keep)->client;
};

}  // namespace

// An abandoned operation's completion with a result kind that carries no handle of its own (an
// echo) but listing one in owned_handles releases that handle, and only that one.
TEST(OwnedHandles, AbandonedCompletionReleasesTheListedHandles) {
  Fixture f;
  ClientImpl &c = *f.impl;
  lk_handle_t listed = new_room_handle(c), other = new_room_handle(c);
  ASSERT_EQ(c.live_handles(), 3u);

  Op op = start_op(c);
  ASSERT_TRUE(c.abandon(op.id));  // what call() does past its safety net
  pb::Completion comp;
  comp.mutable_echo()->set_payload("late");
  comp.add_owned_handles(listed);
  deliver(c, op, std::move(comp));

  EXPECT_TRUE(op.got->empty()) << "the abandoned caller's continuation ran";
  EXPECT_EQ(snapshot_status(c, listed), LK_ERR_INVALID_HANDLE) << "the listed handle was not released";
  EXPECT_EQ(snapshot_status(c, other), LK_OK);
  EXPECT_EQ(c.live_handles(), 2u);
  EXPECT_FALSE(c.abandon(op.id)) << "delivered: no longer pending";

  finish(c, op);
  c.drop_handle(other);
  EXPECT_EQ(c.live_handles(), 1u);
}

// What is released is what the completion lists, not what its result kind holds: a writer
// result naming a handle that owned_handles does not list leaves it alone, and so does a failed
// completion (which lists none).
TEST(OwnedHandles, AbandonedCompletionKeepsHandlesItDoesNotList) {
  Fixture f;
  ClientImpl &c = *f.impl;
  lk_handle_t h = new_room_handle(c);
  ASSERT_EQ(c.live_handles(), 2u);

  Op writer = start_op(c);
  ASSERT_TRUE(c.abandon(writer.id));
  pb::Completion comp;
  comp.mutable_open_text_writer()->set_handle(h);
  deliver(c, writer, std::move(comp));
  EXPECT_EQ(snapshot_status(c, h), LK_OK) << "a handle the completion does not list was released";

  Op failed = start_op(c);
  ASSERT_TRUE(c.abandon(failed.id));
  pb::Completion err;
  err.mutable_error()->set_code(pb::ERROR_CODE_CANCELLED);
  deliver(c, failed, std::move(err));
  EXPECT_EQ(snapshot_status(c, h), LK_OK);
  EXPECT_EQ(c.live_handles(), 2u);

  finish(c, writer);
  finish(c, failed);
  c.drop_handle(h);
  EXPECT_EQ(c.live_handles(), 1u);
}

// An operation nobody gave up on hands its completion, listed handles included, to its caller,
// which takes them over: nothing is released on its behalf.
TEST(OwnedHandles, AWaitedCompletionReachesItsCallerWithItsHandles) {
  Fixture f;
  ClientImpl &c = *f.impl;
  lk_handle_t h = new_room_handle(c);

  Op op = start_op(c);
  pb::Completion comp;
  comp.mutable_echo()->set_payload("on time");
  comp.add_owned_handles(h);
  deliver(c, op, std::move(comp));

  ASSERT_EQ(op.got->size(), 1u);
  EXPECT_EQ(op.got->front().echo().payload(), "on time");
  ASSERT_EQ(op.got->front().owned_handles_size(), 1);
  EXPECT_EQ(op.got->front().owned_handles(0), h);
  EXPECT_EQ(snapshot_status(c, h), LK_OK);
  EXPECT_EQ(c.live_handles(), 2u);

  finish(c, op);
  c.drop_handle(h);
  EXPECT_EQ(c.live_handles(), 1u);
}

// A room event whose Room was destroyed is not delivered: every handle it lists is released,
// whatever its kind (a stream's reader, an auto-subscription, a kind that holds none of its
// own), and nothing it does not list.
TEST(OwnedHandles, RoomEventOfADestroyedRoomReleasesTheListedHandles) {
  Fixture f;
  ClientImpl &c = *f.impl;
  lk_handle_t gone = 0;
  {
    lk::Room r(f.client);
    gone = r.handle();
  }
  ASSERT_NE(gone, 0u);
  lk_handle_t reader = new_room_handle(c), sub = new_room_handle(c), extra = new_room_handle(c),
              unlisted = new_room_handle(c);
  ASSERT_EQ(c.live_handles(), 5u);

  deliver(c, stream_opened(gone, reader, "topic"));
  EXPECT_EQ(snapshot_status(c, reader), LK_ERR_INVALID_HANDLE) << "the stream's reader was not released";
  deliver(c, data_track_published(gone, sub));
  EXPECT_EQ(snapshot_status(c, sub), LK_ERR_INVALID_HANDLE) << "the auto-subscription was not released";
  deliver(c, participant_connected(gone, extra));
  EXPECT_EQ(snapshot_status(c, extra), LK_ERR_INVALID_HANDLE) << "a handle listed by a kind owning none was kept";
  deliver(c, stream_opened(gone, unlisted, "topic", /*listed=*/false));
  EXPECT_EQ(snapshot_status(c, unlisted), LK_OK) << "a handle the event does not list was released";
  EXPECT_EQ(c.live_handles(), 2u);

  c.drop_handle(unlisted);
  EXPECT_EQ(c.live_handles(), 1u);
}

// On a live Room, a stream on a topic with no handler is not delivered: its listed reader is
// released at once. One on a handled topic reaches the handler, whose reader owns the handle
// until it is destroyed.
TEST(OwnedHandles, AStreamNobodyHandlesIsReleasedAHandledOneIsKept) {
  Fixture f;
  ClientImpl &c = *f.impl;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<lk::TextStreamReader> got;
  std::string from;
  lk::Room room(f.client);  // after what its handler uses: destroyed (waiting for it) first
  room.register_text_stream_handler("handled", [&](lk::TextStreamReader r, const std::string &identity) {
    std::lock_guard<std::mutex> l(mu);
    got.emplace(std::move(r));
    from = identity;
    cv.notify_all();
  });
  lk_handle_t unhandled = new_room_handle(c), handled = new_room_handle(c);
  ASSERT_EQ(c.live_handles(), 4u);

  deliver(c, stream_opened(room.handle(), unhandled, "nobody-listens"));
  EXPECT_EQ(snapshot_status(c, unhandled), LK_ERR_INVALID_HANDLE) << "an unhandled stream's reader was kept";
  EXPECT_EQ(c.live_handles(), 3u);

  deliver(c, stream_opened(room.handle(), handled, "handled"));
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, lktest::kGuard, [&] { return got.has_value(); })) << "the handler never ran";
    EXPECT_TRUE(got->valid());
    EXPECT_EQ(from, "alice");
  }
  EXPECT_EQ(snapshot_status(c, handled), LK_OK) << "a delivered stream's reader was released";
  {
    std::lock_guard<std::mutex> l(mu);
    got.reset();  // the reader releases its stream
  }
  EXPECT_EQ(snapshot_status(c, handled), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(c.live_handles(), 2u);
}

// On a live Room, what the binding takes over stays (an auto-subscription, released with its
// Room), while a handle listed by a delivered event of a kind that hands nothing over, or by an
// event of a kind this build does not know, is released; the known events are still delivered.
TEST(OwnedHandles, ALiveRoomKeepsWhatItTakesOverAndReleasesTheRest) {
  Fixture f;
  ClientImpl &c = *f.impl;
  std::optional<lk::Room> room(std::in_place, f.client);
  lk_handle_t rh = room->handle();
  lk_handle_t sub = new_room_handle(c), extra = new_room_handle(c), unknown = new_room_handle(c);
  ASSERT_EQ(c.live_handles(), 5u);

  deliver(c, data_track_published(rh, sub));
  EXPECT_EQ(snapshot_status(c, sub), LK_OK) << "the adopted auto-subscription was released";
  auto e = room->next_event(lk::Millis(0));
  ASSERT_TRUE(e.has_value());
  ASSERT_TRUE(std::holds_alternative<lk::DataTrackPublishedEvent>(*e));
  EXPECT_EQ(std::get<lk::DataTrackPublishedEvent>(*e).track.info.name, "sensor");

  deliver(c, participant_connected(rh, extra));
  EXPECT_EQ(snapshot_status(c, extra), LK_ERR_INVALID_HANDLE) << "a listed handle nothing took over was kept";
  e = room->next_event(lk::Millis(0));
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(std::holds_alternative<lk::ParticipantConnectedEvent>(*e)) << "the event was not delivered";

  // A kind of a newer library: the event's oneof member is a field this build does not know.
  pb::RoomEvent re;
  re.set_room_handle(rh);
  re.GetReflection()->MutableUnknownFields(&re)->AddLengthDelimited(999, "a newer kind");
  re.add_owned_handles(unknown);
  deliver(c, std::move(re));
  EXPECT_EQ(snapshot_status(c, unknown), LK_ERR_INVALID_HANDLE) << "an unknown kind's listed handle was kept";
  EXPECT_FALSE(room->next_event(lk::Millis(0)).has_value()) << "an unknown kind was delivered";
  EXPECT_EQ(c.live_handles(), 3u);

  room.reset();  // releases the untaken auto-subscription with the room
  EXPECT_EQ(snapshot_status(c, sub), LK_ERR_INVALID_HANDLE);
  EXPECT_EQ(c.live_handles(), 1u);
}
