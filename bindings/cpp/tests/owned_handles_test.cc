// Completion.owned_handles (ABI 1.10) as the binding uses it: a completion whose caller is gone
// (ClientImpl::call gave up on it) releases exactly the handles the library lists in it, whatever
// its result kind. No server: the handles are real rooms created on a real client, the
// operations are real pending ones, and their completions are fed, decoded, to the client's
// dispatch (ClientImpl::dispatch, reached because this program is built with the binding's
// sources) as the library would deliver them.
#include <cstdint>
#include <memory>
#include <string>
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
