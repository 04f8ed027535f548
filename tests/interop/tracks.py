"""Data tracks of either SDK behind one interface, for the tests that run both directions."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, List, Optional, Tuple

import pytest
from livekit import rtc

SIZES = [64, 1000, 16_000, 100_000]


@dataclass
class Published:
    """A local data track: push(payload, user_timestamp) never blocks."""

    sid: str
    uses_e2ee: bool
    push: Callable[[bytes, int], None]
    unpublish: Callable[[], Awaitable[None]]


@dataclass
class Subscribed:
    """A subscription whose frames a reader task puts in `received` as (payload, timestamp);
    `done` completes when the subscription's iteration ends."""

    sid: str
    uses_e2ee: bool
    received: "asyncio.Queue[Tuple[bytes, Optional[int]]]" = field(default_factory=asyncio.Queue)
    done: "Optional[asyncio.Task[None]]" = None
    handle: Any = None


def watch(room: rtc.Room) -> None:
    """Records the data tracks announced to an official room (its participants do not list
    them: the SDK only emits data_track_published). Call before connecting."""
    announced: dict = {}
    room.on("data_track_published", lambda t: announced.__setitem__((t.publisher_identity, t.info.name), t))
    room.on("data_track_unpublished", lambda sid: [announced.pop(k) for k, t in list(announced.items()) if t.info.sid == sid])
    setattr(room, "interop_announced", announced)


async def publish(room: Any, name: str) -> Published:
    """Publishes a data track named `name` in `room` (either SDK's)."""
    if isinstance(room, rtc.Room):
        t = await room.local_participant.publish_data_track(name=name)

        def push_official(p: bytes, ts: int) -> None:
            # The Rust SDK refuses a frame ("queue full") for a moment while it reconnects:
            # such a frame counts as not sent (the tests push again until frames arrive).
            try:
                t.try_push(rtc.DataTrackFrame(payload=p, user_timestamp=ts))
            except rtc.PushFrameError as e:
                if "queue full" not in str(e):
                    raise

        return Published(t.info.sid, t.info.uses_e2ee, push_official, t.unpublish)
    lt = await room.local_participant.publish_data_track(name)
    return Published(lt.sid, lt.info.uses_e2ee, lambda p, ts: lt.try_push(p, user_timestamp=ts), lt.unpublish)


async def subscribe(room: Any, publisher: str, name: str, timeout: float = 10, not_sid: str = "") -> Subscribed:
    """Waits for `publisher`'s track `name` (with a SID other than `not_sid`) to be announced to
    `room`, subscribes and starts reading."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if isinstance(room, rtc.Room):
        while True:
            track = room.interop_announced.get((publisher, name))
            if track is not None and track.info.sid != not_sid:
                break
            if loop.time() > deadline:
                pytest.fail(f"official SDK: {publisher}'s track {name!r} not announced in {timeout} s")
            await asyncio.sleep(0.02)
        stream = track.subscribe()
        s = Subscribed(track.info.sid, track.info.uses_e2ee, handle=stream)

        async def read_official() -> None:
            async for f in stream:
                s.received.put_nowait((bytes(f.payload), f.user_timestamp))

        s.done = asyncio.ensure_future(read_official())
        return s
    while True:
        rp = room.remote_participants.get(publisher)
        lt = rp.data_track(name) if rp else None
        if lt is not None and lt.sid != not_sid:
            break
        if loop.time() > deadline:
            pytest.fail(f"lkcore: {publisher}'s track {name!r} not announced in {timeout} s")
        await asyncio.sleep(0.02)
    sub = await lt.subscribe().wait_subscribed(timeout)
    s = Subscribed(lt.sid, lt.uses_e2ee, handle=sub)

    async def read_lkcore() -> None:
        async for f in sub:
            s.received.put_nowait((f.payload, f.user_timestamp))

    s.done = asyncio.ensure_future(read_lkcore())
    return s


class Deliverer:
    """Pushes frames on a track and checks they arrive on a subscription, with user timestamps
    that grow across calls."""

    def __init__(self, pub: Published, sub: Subscribed) -> None:
        self.pub, self.sub, self.ts = pub, sub, 1_000

    async def warm_up(self, timeout: float = 10) -> None:
        """Pushes a small frame every 50 ms until one arrives: the subscription carries frames
        (the first may go before the SFU forwards to it). Late copies are drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.ts += 1
            self.pub.push(b"warm-up", self.ts)
            try:
                data, _ = await asyncio.wait_for(self.sub.received.get(), 0.05)
                assert data == b"warm-up", data[:20]
                break
            except asyncio.TimeoutError:
                if loop.time() > deadline:
                    pytest.fail(f"no warm-up frame arrived in {timeout} s")
        await asyncio.sleep(0.2)
        while not self.sub.received.empty():
            assert self.sub.received.get_nowait()[0] == b"warm-up"

    async def sizes(self) -> List[Tuple[int, int]]:
        """One frame of each size in SIZES, each with its own user timestamp; each must arrive
        byte for byte with its timestamp. The channel is unreliable, so a frame that has not
        arrived after 3 s is pushed again (at most 3 times, with a new timestamp): a frame of
        some size that never arrives, or any frame that arrives altered or out of turn, fails.
        Returns (size, attempts)."""
        out = []
        for size in SIZES:
            for attempt in range(1, 4):
                self.ts += 1
                payload = os.urandom(size)
                self.pub.push(payload, self.ts)
                try:
                    data, uts = await asyncio.wait_for(self.sub.received.get(), 3)
                except asyncio.TimeoutError:
                    continue
                assert (len(data), uts) == (size, self.ts)
                assert data == payload
                out.append((size, attempt))
                break
            else:
                pytest.fail(f"a {size}-byte frame did not arrive in 3 attempts")
        return out
