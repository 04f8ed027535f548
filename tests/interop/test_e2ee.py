"""An end-to-end encrypted room shared by lkcore and the official SDK: data packets, a text
stream and RPC cross both ways (frames on data tracks: test_data_track.py)."""

from __future__ import annotations

import asyncio

from livekit import rtc

import lkcore
from conftest import until
from tracks import Deliverer, publish, subscribe

KEY = b"interop-shared-key"
KEY2 = b"interop-second-key"


def _official(key: bytes) -> rtc.RoomOptions:
    return rtc.RoomOptions(encryption=rtc.E2EEOptions(key_provider_options=rtc.KeyProviderOptions(shared_key=key)))


async def test_encrypted_room(join) -> None:
    off: rtc.Room = await join("official", "official", _official(KEY))
    lk: lkcore.Room = await join("lkcore", "lk", lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=KEY)))
    await until(lambda: "lk" in off.remote_participants and "official" in lk.remote_participants, "both to meet")

    to_off: asyncio.Queue = asyncio.Queue()
    to_lk: asyncio.Queue = asyncio.Queue()
    off.on("data_received", lambda p: to_off.put_nowait((p.participant.identity if p.participant else None, p.topic, bytes(p.data))))
    lk.on("data_received", lambda p: to_lk.put_nowait((p.participant_identity, p.topic, p.data, p.encrypted)))
    await lk.local_participant.publish_data(b"secret from lkcore", topic="t")
    await off.local_participant.publish_data(b"secret from official", topic="u")
    assert await asyncio.wait_for(to_off.get(), 10) == ("lk", "t", b"secret from lkcore")
    assert await asyncio.wait_for(to_lk.get(), 10) == ("official", "u", b"secret from official", True)

    texts: asyncio.Queue = asyncio.Queue()

    async def lk_read(reader: lkcore.TextStreamReader, sender: str) -> None:
        texts.put_nowait(("lk", sender, reader.info.encrypted, await reader.read_all()))

    async def off_read(reader: rtc.TextStreamReader, sender: str) -> None:
        texts.put_nowait(("official", sender, True, await reader.read_all()))

    lk.register_text_stream_handler("chat", lk_read)
    off.register_text_stream_handler("chat", lambda r, s: asyncio.ensure_future(off_read(r, s)))
    long_text = "encrypted stream " * 5000
    await off.local_participant.send_text(long_text, topic="chat")
    assert await asyncio.wait_for(texts.get(), 20) == ("lk", "official", True, long_text)
    await lk.local_participant.send_text(long_text, topic="chat")
    assert await asyncio.wait_for(texts.get(), 20) == ("official", "lk", True, long_text)

    lk.local_participant.register_rpc_method("echo", lambda d: d.payload + "!")
    off.local_participant.register_rpc_method("echo", lambda d: d.payload + "?")
    assert await lk.local_participant.perform_rpc("official", "echo", "hi", response_timeout=10) == "hi?"
    assert await off.local_participant.perform_rpc(destination_identity="lk", method="echo", payload="ho", response_timeout=10) == "ho!"


async def test_key_rotation(join) -> None:
    """Both sides set a second shared key at index 1, then send with it: packets and data-track
    frames still cross both ways. (Each SDK encrypts with the index set last: with the second
    key set on one side only, the other cannot decrypt what it sends; checked.)"""
    off: rtc.Room = await join("official", "official", _official(KEY))
    lk: lkcore.Room = await join("lkcore", "lk", lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=KEY)))
    await until(lambda: "lk" in off.remote_participants and "official" in lk.remote_participants, "both to meet")
    off.e2ee_manager.key_provider.set_shared_key(KEY2, 1)
    lk.set_shared_key(KEY2, 1)

    to_off: asyncio.Queue = asyncio.Queue()
    to_lk: asyncio.Queue = asyncio.Queue()
    off.on("data_received", lambda p: to_off.put_nowait(bytes(p.data)))
    lk.on("data_received", lambda p: to_lk.put_nowait((p.data, p.encrypted)))
    await lk.local_participant.publish_data(b"rotated from lkcore")
    await off.local_participant.publish_data(b"rotated from official")
    assert await asyncio.wait_for(to_off.get(), 10) == b"rotated from lkcore"
    assert await asyncio.wait_for(to_lk.get(), 10) == (b"rotated from official", True)

    for pub_room, sub_room, publisher in [(off, lk, "official"), (lk, off, "lk")]:
        pub = await publish(pub_room, "rotated")
        d = Deliverer(pub, await subscribe(sub_room, publisher, "rotated"))
        await d.warm_up()
        await d.sizes()
