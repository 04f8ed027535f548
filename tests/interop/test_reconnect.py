"""Reconnections with both SDKs in the room: one side's signalling connection drops (it
resumes) or the server asks it to reconnect in full, while a data track runs between the two.

- A resume keeps the session: the subscription carries frames again, the other side sees no
  departure and the same participant SID.
- A full reconnect is a new session (a new participant SID, which the other side ends up with;
  whether it reports the old session leaving depends on the order of the server's updates).
  A subscriber's SDK renews its subscription, which carries frames again. A publisher's SDK
  republishes its track under a new SID: the other side's subscription to the old track ends,
  and it subscribes to the new one."""

from __future__ import annotations

import asyncio

import pytest

from conftest import until
from tracks import Deliverer, publish, subscribe

FAULTS = {
    "resume": ("drop-signal", {}),
    "full": ("leave", {"action": "RECONNECT"}),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("role", ["publisher", "subscriber"])
@pytest.mark.parametrize("reconnecting", ["official", "lkcore"])
async def test_track_survives(join, server, reconnecting: str, role: str, fault: str) -> None:
    other = "lkcore" if reconnecting == "official" else "official"
    publisher, subscriber = (reconnecting, other) if role == "publisher" else (other, reconnecting)
    pub_room = await join(publisher, "pub")
    sub_room = await join(subscriber, "sub")
    rec_room = pub_room if role == "publisher" else sub_room
    other_room = sub_room if role == "publisher" else pub_room
    rec_identity = "pub" if role == "publisher" else "sub"
    await until(lambda: "sub" in pub_room.remote_participants and "pub" in sub_room.remote_participants, "both to meet")

    events: list = []
    reconnected = asyncio.Event()
    rec_room.on("reconnecting", lambda *a: events.append("reconnecting"))
    rec_room.on("reconnected", lambda *a: (events.append("reconnected"), reconnected.set()))
    left: list = []
    other_room.on("participant_disconnected", lambda p, *a: left.append(p.identity))

    pub = await publish(pub_room, "telemetry")
    sub = await subscribe(sub_room, "pub", "telemetry")
    d = Deliverer(pub, sub)
    await d.warm_up()
    await d.sizes()

    path, params = FAULTS[fault]
    old_sid = rec_room.local_participant.sid
    await asyncio.to_thread(server.control, path, identity=rec_identity, **params)
    await asyncio.wait_for(reconnected.wait(), 20)
    assert events == ["reconnecting", "reconnected"]

    def seen_sid() -> str:
        p = other_room.remote_participants.get(rec_identity)
        return p.sid if p else ""

    if fault == "resume":
        assert seen_sid() == old_sid
    else:
        await until(lambda: seen_sid() not in ("", old_sid), "the other side to see the new session")
    if reconnecting == "lkcore":  # (the official SDK's Python object keeps the first SID)
        assert rec_room.local_participant.sid == seen_sid()
    if fault == "full" and role == "publisher":
        assert sub.done is not None
        await asyncio.wait_for(sub.done, 10)  # the old track is gone
        sub = await subscribe(sub_room, "pub", "telemetry", not_sid=sub.sid)
        d = Deliverer(pub, sub)
    await d.warm_up()
    await d.sizes()
    if fault == "resume":
        assert left == []
