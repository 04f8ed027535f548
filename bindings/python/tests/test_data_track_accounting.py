"""A subscription's loss accounting, fed with the library's events (no library, no server)."""

from __future__ import annotations

from typing import Any, Callable, Dict

from lkcore._proto import lkcore_ffi_pb2 as pb
from lkcore.data_track import DataTrackSubscription, SubscriptionEndReason


class FakeClient:
    """What a subscription uses of its Client; records the credits it grants."""

    def __init__(self) -> None:
        self.routes: Dict[int, Callable[[pb.Event], None]] = {}
        self.dropped: "list[int]" = []
        self.granted: "list[int]" = []

    def route(self, handle: int, fn: Callable[[pb.Event], None]) -> None:
        self.routes[handle] = fn

    def unroute(self, handle: int) -> None:
        self.routes.pop(handle, None)

    def drop(self, handle: int) -> None:
        self.dropped.append(handle)

    def request(self, req: Any) -> Any:
        assert req.WhichOneof("message") == "grant_credits", f"unexpected request {req.WhichOneof('message')}"
        assert req.grant_credits.handle == 7
        self.granted.append(req.grant_credits.credits)
        return pb.Response()


def frame(number: int, dropped_before: int) -> pb.Event:
    return pb.Event(data_track_frame=pb.DataTrackFrameEvent(
        subscription_handle=7, payload=number.to_bytes(4, "big"), dropped_before=dropped_before))


async def test_subscription_reports_the_library_losses_and_keeps_every_frame_handed_over() -> None:
    # Every subscription, auto-subscriptions included, is delivered with credits: the library
    # hands over at most the window (here 4) and keeps the rest in its own buffer, so nothing
    # is evicted in Python. Four frames of the publisher's #0..#8 arrive (the library lost #1,
    # #4 and #5: dropped_before 1 and 2) and are all read, in order, with the library's
    # dropped_before; the figures are the library's, at the end its final ones (whose
    # frames_dropped also counts 2 frames lost after the last one).
    client = FakeClient()
    sub = DataTrackSubscription(client, 7, None, 4)  # type: ignore[arg-type]
    route = client.routes[7]
    for number, dropped in ((0, 0), (2, 1), (3, 0), (6, 2)):
        route(frame(number, dropped))
    assert (sub.frames_received, sub.frames_dropped) == (4, 3)
    assert client.granted == []  # nothing read yet
    got = [await sub.__anext__() for _ in range(4)]
    assert client.granted == [1, 1, 1, 1]  # each frame taken gives its credit back (batches of window // 4)
    for number, dropped in ((7, 0), (8, 0)):
        route(frame(number, dropped))
    route(pb.Event(data_track_subscription_ended=pb.DataTrackSubscriptionEnded(
        subscription_handle=7, reason=pb.SUBSCRIPTION_END_REASON_UNPUBLISHED,
        frames_received=6, frames_dropped=3 + 2)))
    got += [f async for f in sub]
    assert [(int.from_bytes(f.payload, "big"), f.dropped_before) for f in got] == [
        (0, 0), (2, 1), (3, 0), (6, 2), (7, 0), (8, 0)
    ]
    assert sub.end_reason == SubscriptionEndReason.UNPUBLISHED
    assert (sub.frames_received, sub.frames_dropped) == (6, 5)
    # Every frame of the publisher from #0 up to the 2 lost at the end: #0..#8 and those two.
    assert sub.frames_received + sub.frames_dropped == 9 + 2
    assert sum(client.granted) == 4  # no credit is returned once the end is known
    sub.close()
    assert client.dropped == [7]
