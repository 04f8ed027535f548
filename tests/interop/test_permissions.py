"""A publisher's subscription permissions, set with one SDK, as the other SDK's subscription
sees them: revoked, nothing arrives; granted again, frames arrive on the same subscription."""

from __future__ import annotations

import asyncio

import pytest

from conftest import until
from tracks import Deliverer, publish, subscribe


async def _set(room, sdk: str, allowed: bool) -> None:
    if sdk == "official":
        room.local_participant.set_track_subscription_permissions(allow_all_participants=allowed)
    else:
        await room.local_participant.set_track_subscription_permissions(allow_all_participants=allowed)


@pytest.mark.parametrize("publisher,subscriber", [("official", "lkcore"), ("lkcore", "official")], ids=["official-publishes", "lkcore-publishes"])
async def test_revoke_and_grant(join, publisher: str, subscriber: str) -> None:
    pub_room = await join(publisher, "pub")
    sub_room = await join(subscriber, "sub")
    await until(lambda: "sub" in pub_room.remote_participants and "pub" in sub_room.remote_participants, "both to meet")
    changes: list = []
    if subscriber == "lkcore":
        sub_room.on("data_track_subscription_permission_changed", lambda t, allowed: changes.append(allowed))
    pub = await publish(pub_room, "telemetry")
    sub = await subscribe(sub_room, "pub", "telemetry")
    d = Deliverer(pub, sub)
    await d.warm_up()

    await _set(pub_room, publisher, False)
    if subscriber == "lkcore":
        await until(lambda: changes == [False], "the revocation to be announced")
    else:
        await asyncio.sleep(1)  # (the official SDK announces nothing)
    for i in range(20):
        pub.push(b"revoked", 5_000 + i)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert sub.received.empty(), sub.received.get_nowait()

    await _set(pub_room, publisher, True)
    if subscriber == "lkcore":
        await until(lambda: changes == [False, True], "the grant to be announced")
    await d.warm_up()
    await d.sizes()
