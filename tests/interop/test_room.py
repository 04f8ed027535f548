"""Participants and data packets between lkcore and the official SDK."""

from __future__ import annotations

import asyncio
import os

from livekit import rtc

import lkcore
from conftest import until


async def test_participants_see_each_other(join) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    # Each names the other, whichever joined first.
    await until(lambda: "lk" in off.remote_participants, "official to see lkcore")
    assert "official" in lk.remote_participants
    assert lk.remote_participants["official"].sid == off.local_participant.sid
    assert off.remote_participants["lk"].sid == lk.local_participant.sid
    assert lk.remote_participants["official"].kind == lkcore.ParticipantKind.STANDARD

    # Attributes and metadata cross both ways.
    lk_attrs = asyncio.get_running_loop().create_future()
    lk.on("participant_attributes_changed", lambda changed, p: lk_attrs.done() or lk_attrs.set_result((dict(changed), p.identity)))
    await off.local_participant.set_attributes({"role": "official"})
    changed, who = await asyncio.wait_for(lk_attrs, 10)
    assert (changed, who) == ({"role": "official"}, "official")
    assert lk.remote_participants["official"].attributes == {"role": "official"}

    off_meta = asyncio.get_running_loop().create_future()
    off.on("participant_metadata_changed", lambda p, old, new: off_meta.done() or off_meta.set_result((p.identity, new)))
    await lk.local_participant.set_metadata("from lkcore")
    assert await asyncio.wait_for(off_meta, 10) == ("lk", "from lkcore")

    # Leaving is seen.
    gone = asyncio.get_running_loop().create_future()
    lk.on("participant_disconnected", lambda p, reason: gone.done() or gone.set_result((p.identity, reason)))
    await off.disconnect()
    assert await asyncio.wait_for(gone, 10) == ("official", lkcore.DisconnectReason.CLIENT_INITIATED)
    assert "official" not in lk.remote_participants


async def test_data_packets_both_ways(join) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    other: lkcore.Room = await join("lkcore", "other")
    await until(lambda: {"lk", "other"} <= off.remote_participants.keys(), "official to see both")

    to_off: asyncio.Queue = asyncio.Queue()
    to_lk: asyncio.Queue = asyncio.Queue()
    to_other: asyncio.Queue = asyncio.Queue()
    off.on("data_received", lambda p: to_off.put_nowait((p.participant.identity if p.participant else None, p.topic, bytes(p.data), p.kind)))
    lk.on("data_received", lambda p: to_lk.put_nowait((p.participant_identity, p.topic, p.data, p.reliable)))
    other.on("data_received", lambda p: to_other.put_nowait((p.participant_identity, p.topic, p.data)))

    # up to the largest packet both send: 64 000 bytes serialised on the data channel
    payloads = [b"", b"x", os.urandom(1000), os.urandom(14_000), os.urandom(63_000)]
    for i, data in enumerate(payloads):
        await lk.local_participant.publish_data(data, topic=f"t{i}", destination_identities=["official"])
        await off.local_participant.publish_data(data, topic=f"u{i}", destination_identities=["lk"])
    for i, data in enumerate(payloads):
        assert await asyncio.wait_for(to_off.get(), 10) == ("lk", f"t{i}", data, rtc.DataPacketKind.KIND_RELIABLE)
        assert await asyncio.wait_for(to_lk.get(), 10) == ("official", f"u{i}", data, True)
    # Lossy packets, to everyone.
    await off.local_participant.publish_data(b"lossy", reliable=False, topic="l")
    got = await asyncio.wait_for(to_lk.get(), 10)
    assert got == ("official", "l", b"lossy", False)
    # Destinations were honoured: the third participant got only the broadcast.
    assert await asyncio.wait_for(to_other.get(), 10) == ("official", "l", b"lossy")
    assert to_other.empty() and to_off.empty() and to_lk.empty()


async def test_names_and_dtmf(join) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    await until(lambda: "lk" in off.remote_participants and "official" in lk.remote_participants, "both to meet")
    loop = asyncio.get_running_loop()

    names_lk: asyncio.Future = loop.create_future()
    names_off: asyncio.Future = loop.create_future()
    # (each SDK also reports its own participant's change: only the other's is looked at)
    lk.on("participant_name_changed", lambda p, old, new: p.identity != "lk" and not names_lk.done() and names_lk.set_result((p.identity, new)))
    off.on("participant_name_changed", lambda p, old, new: p.identity != "official" and not names_off.done() and names_off.set_result((p.identity, new)))
    await off.local_participant.set_name("Official Name")
    await lk.local_participant.set_name("lkcore Näme")
    assert await asyncio.wait_for(names_lk, 10) == ("official", "Official Name")
    assert await asyncio.wait_for(names_off, 10) == ("lk", "lkcore Näme")
    assert lk.remote_participants["official"].name == "Official Name"
    assert off.remote_participants["lk"].name == "lkcore Näme"

    # DTMF (as a SIP participant's key presses travel), in order with the data packets.
    to_lk: asyncio.Queue = asyncio.Queue()
    to_off: asyncio.Queue = asyncio.Queue()
    lk.on("sip_dtmf_received", lambda d: to_lk.put_nowait((d.participant_identity, d.code, d.digit)))
    off.on("sip_dtmf_received", lambda d: to_off.put_nowait((d.participant.identity if d.participant else None, d.code, d.digit)))
    for code, digit in [(1, "1"), (10, "*"), (11, "#"), (15, "D")]:
        await off.local_participant.publish_dtmf(code=code, digit=digit)
        await lk.local_participant.publish_dtmf(code=code, digit=digit)
    for code, digit in [(1, "1"), (10, "*"), (11, "#"), (15, "D")]:
        assert await asyncio.wait_for(to_lk.get(), 10) == ("official", code, digit)
        assert await asyncio.wait_for(to_off.get(), 10) == ("lk", code, digit)
