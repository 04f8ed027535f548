"""Auto-subscriptions (RoomOptions.auto_subscribe) keep their frames in the library's buffer
(ABI 1.14, auto_subscription_delivery CREDITS), bounded by the room's data_track_buffer_size and
data_track_buffer_bytes, exactly like a subscription opened with subscribe(): the binding keeps
no buffer of its own for them and evicts nothing."""

from __future__ import annotations

import asyncio
from typing import List, Tuple

import pytest

import lkcore
from lkcore._session import credit_window

from helpers import GUARD, published_track

pytestmark = pytest.mark.devsfu


async def wait_arrived(witness: lkcore.DataTrackSubscription, last: bytes) -> None:
    """Reads `witness` (a second subscription of the same track, with room for everything)
    until the frame `last` arrived: the library then has it for every subscription of the
    track, so the one under test is read only after the whole burst reached it."""
    while True:
        f = await asyncio.wait_for(witness.read(), GUARD)
        assert f is not None, "the witness subscription ended before the burst arrived"
        if f.payload == last:
            return


@pytest.mark.parametrize("at_join", [False, True], ids=["published-later", "in-connect-snapshot"])
@pytest.mark.parametrize("taken", [True, False], ids=["unread", "not-taken"])
async def test_burst_waits_whole_in_the_library_until_the_auto_subscription_is_read(
    devsfu, token_for, taken: bool, at_join: bool
) -> None:
    # 256 small frames (a burst a track accepts with default options) arrive while bob has not
    # read his auto-subscription (or not even taken it with subscribe()): the library keeps
    # them all (256 frames by default) and they are read whole, in order, none lost. (A
    # binding that buffered auto-subscriptions itself, in 16 frames, lost 240 of them.)
    async with published_track(
        devsfu.url, token_for, "burst", bob_options=lkcore.RoomOptions(auto_subscribe=True), at_join=at_join
    ) as (_, bob, track, remote):
        if taken:
            auto = await asyncio.wait_for(remote.subscribe(), GUARD)
            witness = await asyncio.wait_for(remote.subscribe(buffer_size=1024), GUARD)
            assert witness is not auto
        else:
            # subscribe() would hand over the auto-subscription: the witness is opened and the
            # auto-subscription's confirmation awaited without taking it.
            pending = remote._auto_sub
            assert pending is not None
            await asyncio.wait_for(pending.wait_subscribed(), GUARD)
            witness = await asyncio.wait_for(bob._session.subscribe_data_track(remote, 1024), GUARD)
        n = 256
        for i in range(n):
            track.try_push(lkcore.DataTrackFrame(i.to_bytes(4, "big")))
        await asyncio.wait_for(track.flush(), GUARD)
        await wait_arrived(witness, (n - 1).to_bytes(4, "big"))
        if not taken:
            auto = remote.subscribe()  # the auto-subscription, taken only now
            assert auto is pending
        for i in range(n):
            f = await asyncio.wait_for(auto.read(), GUARD)
            assert f is not None, f"ended after {i} frames"
            assert (int.from_bytes(f.payload, "big"), f.dropped_before) == (i, 0), f"read as frame {i}"
        assert (auto.frames_received, auto.frames_dropped) == (n, 0)
        auto.close()
        witness.close()


@pytest.mark.parametrize("arrival", ["burst", "one-by-one"])
@pytest.mark.parametrize("which", ["auto", "subscribe"])
@pytest.mark.parametrize(
    "bound",
    [lkcore.RoomOptions(data_track_buffer_size=4), lkcore.RoomOptions(data_track_buffer_bytes=32)],
    ids=["frames", "bytes"],
)
async def test_unread_subscription_reports_exactly_the_library_losses(
    devsfu, token_for, which: str, bound: lkcore.RoomOptions, arrival: str
) -> None:
    # The room's buffer bound (4 frames, or 32 bytes: four 8-byte frames) applies to its
    # auto-subscriptions and to subscribe() without sizes. 100 frames arrive while bob does not
    # read, all at once or each only after the previous one reached bob: at most the credit
    # window reached Python, the library kept the newest 4 and dropped the others, and the
    # frames read say exactly what was lost between them (frames read + their dropped_before
    # = frames pushed from the first one read); the end's figures are the same. (A
    # byte bound the binding did not pass on would keep all 100 in the library's default
    # buffer; an auto-subscription whose frames were pushed to Python as events, not against
    # credits, would have them all in Python when they arrive one by one.)
    options = lkcore.RoomOptions(
        auto_subscribe=which == "auto",
        data_track_buffer_size=bound.data_track_buffer_size,
        data_track_buffer_bytes=bound.data_track_buffer_bytes,
    )
    async with published_track(devsfu.url, token_for, "lossy", bob_options=options) as (_, _, track, remote):
        sub = await asyncio.wait_for(remote.subscribe(), GUARD)  # the auto-subscription with "auto"
        # Room for all of them (the room's bounds apply only to what the call leaves unset).
        witness = await asyncio.wait_for(remote.subscribe(buffer_size=1024, buffer_bytes=1 << 20), GUARD)
        n, kept = 100, 4
        for i in range(n):
            track.try_push(lkcore.DataTrackFrame(i.to_bytes(8, "big")))
            if arrival == "one-by-one":
                await asyncio.wait_for(track.flush(), GUARD)
                await wait_arrived(witness, i.to_bytes(8, "big"))
        if arrival == "burst":
            await asyncio.wait_for(track.flush(), GUARD)
            await wait_arrived(witness, (n - 1).to_bytes(8, "big"))

        got: List[Tuple[int, int]] = []  # (number, dropped_before) of the frames read
        while not got or got[-1][0] != n - 1:
            f = await asyncio.wait_for(sub.read(), GUARD)
            assert f is not None, f"ended after {got}"
            got.append((int.from_bytes(f.payload, "big"), f.dropped_before))
        numbers = [i for i, _ in got]
        assert numbers == sorted(set(numbers)), f"frames out of order or repeated: {numbers}"
        for (prev, _), (cur, dropped) in zip(got, got[1:]):
            assert dropped == cur - prev - 1, f"frame {cur} after {prev}: dropped_before {dropped}"
        assert len(got) - 1 + sum(d for _, d in got[1:]) == n - 1 - got[0][0]
        # Frames were lost (the library's default buffer would have kept all 100), and no more
        # reached bob than the credit window plus what the library's buffer kept.
        assert sum(d for _, d in got) > 0, got
        window = credit_window(options.data_track_buffer_size)  # 4 with a frame bound, else 16
        assert len(got) <= window + kept, got
        if arrival == "one-by-one":
            # Each frame reached bob before the next left: the first `window` frames went to
            # Python against the credits (the same window for an auto-subscription and for
            # subscribe() without a buffer_size), the library then kept exactly the newest 4.
            # (In a burst its delivery may take a credit at any frame.)
            assert numbers == list(range(window)) + list(range(n - kept, n)), got

        await track.unpublish()
        rest = [f async for f in sub]
        assert rest == []
        assert sub.end_reason == lkcore.SubscriptionEndReason.UNPUBLISHED
        assert sub.frames_received == len(got)
        assert sub.frames_dropped == sum(d for _, d in got)
        witness.close()
