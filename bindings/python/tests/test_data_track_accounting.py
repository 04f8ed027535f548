"""A subscription's loss accounting, fed with the library's events (no library, no server)."""

from __future__ import annotations

from typing import Any, Callable, Dict

from lkcore._proto import lkcore_ffi_pb2 as pb
from lkcore.data_track import DataTrackSubscription, SubscriptionEndReason


class FakeClient:
    """What a subscription uses of its Client; an auto-subscription (no credits) never requests."""

    def __init__(self) -> None:
        self.routes: Dict[int, Callable[[pb.Event], None]] = {}
        self.dropped: "list[int]" = []

    def route(self, handle: int, fn: Callable[[pb.Event], None]) -> None:
        self.routes[handle] = fn

    def unroute(self, handle: int) -> None:
        self.routes.pop(handle, None)

    def drop(self, handle: int) -> None:
        self.dropped.append(handle)

    def request(self, req: Any) -> Any:
        raise AssertionError(f"unexpected request {req.WhichOneof('message')}")


def frame(number: int, dropped_before: int) -> pb.Event:
    return pb.Event(data_track_frame=pb.DataTrackFrameEvent(
        subscription_handle=7, payload=number.to_bytes(4, "big"), dropped_before=dropped_before))


async def test_auto_subscription_adds_its_evictions_to_the_library_losses() -> None:
    # An auto-subscription (DELIVERY_MODE_EVENTS) with a Python buffer of 2 is handed six frames
    # of the publisher's #0..#8 (the library lost #1, #4 and #5: dropped_before 1 and 2) and
    # reads none until the end: the buffer evicts four. The frames read carry every loss before
    # them, and the final figures add the evictions to the library's (whose frames_dropped also
    # counts 2 frames lost after the last one), never taking the larger of the two.
    client = FakeClient()
    sub = DataTrackSubscription(client, 7, None, 2, credits=False)  # type: ignore[arg-type]
    route = client.routes[7]
    for number, dropped in ((0, 0), (2, 1), (3, 0), (6, 2), (7, 0), (8, 0)):
        route(frame(number, dropped))
    assert (sub.frames_received, sub.frames_dropped) == (2, 7)  # #7 and #8 buffered; 3 + 4 lost
    route(pb.Event(data_track_subscription_ended=pb.DataTrackSubscriptionEnded(
        subscription_handle=7, reason=pb.SUBSCRIPTION_END_REASON_UNPUBLISHED,
        frames_received=6, frames_dropped=3 + 2)))
    got = [f async for f in sub]
    assert [(int.from_bytes(f.payload, "big"), f.dropped_before) for f in got] == [(7, 7), (8, 0)]
    assert sub.end_reason == SubscriptionEndReason.UNPUBLISHED
    assert sub.frames_received == 2
    assert sub.frames_dropped == 5 + 4
    # Every frame of the publisher up to the 2 lost at the end: #0..#8 and those two.
    assert sub.frames_received + sub.frames_dropped == 9 + 2
    sub.close()
    assert client.dropped == [7]
