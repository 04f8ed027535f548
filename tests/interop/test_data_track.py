"""Data tracks between lkcore and the official SDK: publish, subscribe, frames of 64 B to
100 KB with their user timestamps, unpublish, and the same end-to-end encrypted."""

from __future__ import annotations

import asyncio

import pytest
from livekit import rtc

import lkcore
from tracks import Deliverer, publish, subscribe

KEY = b"interop-shared-key"
DIRECTIONS = [("official", "lkcore"), ("lkcore", "official")]


def options(sdk: str, e2ee: bool) -> object:
    """RoomOptions of `sdk`, with the shared key when e2ee."""
    if sdk == "official":
        if not e2ee:
            return rtc.RoomOptions()
        return rtc.RoomOptions(encryption=rtc.E2EEOptions(key_provider_options=rtc.KeyProviderOptions(shared_key=KEY)))
    return lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=KEY)) if e2ee else None


@pytest.mark.parametrize("e2ee", [False, True], ids=["plain", "e2ee"])
@pytest.mark.parametrize("publisher,subscriber", DIRECTIONS, ids=["official-to-lkcore", "lkcore-to-official"])
async def test_frames(join, publisher: str, subscriber: str, e2ee: bool) -> None:
    pub_room = await join(publisher, "pub-" + publisher, options(publisher, e2ee))
    sub_room = await join(subscriber, "sub-" + subscriber, options(subscriber, e2ee))
    pub = await publish(pub_room, "telemetry")
    assert pub.uses_e2ee == e2ee
    sub = await subscribe(sub_room, "pub-" + publisher, "telemetry")
    assert (sub.sid, sub.uses_e2ee) == (pub.sid, e2ee)
    d = Deliverer(pub, sub)
    await d.warm_up()
    await d.sizes()

    # Unpublishing ends the subscription and is announced.
    gone: asyncio.Future = asyncio.get_running_loop().create_future()
    if subscriber == "lkcore":
        sub_room.on("data_track_unpublished", lambda t: gone.done() or gone.set_result(t.sid))
    else:
        sub_room.on("data_track_unpublished", lambda sid: gone.done() or gone.set_result(sid))
    await pub.unpublish()
    assert await asyncio.wait_for(gone, 10) == pub.sid
    assert sub.done is not None
    await asyncio.wait_for(sub.done, 10)  # the subscription's iteration ends
    if subscriber == "lkcore":
        assert sub.handle.end_reason == lkcore.SubscriptionEndReason.UNPUBLISHED


@pytest.mark.parametrize("publisher,subscriber", DIRECTIONS, ids=["official-to-lkcore", "lkcore-to-official"])
async def test_late_joiner(join, publisher: str, subscriber: str) -> None:
    """A track published before the subscriber joined is announced to it with the room's state
    at its join, and carries frames to it."""
    pub_room = await join(publisher, "pub-" + publisher)
    pub = await publish(pub_room, "early")
    sub_room = await join(subscriber, "late-" + subscriber)
    sub = await subscribe(sub_room, "pub-" + publisher, "early")
    assert sub.sid == pub.sid
    d = Deliverer(pub, sub)
    await d.warm_up()
    await d.sizes()
