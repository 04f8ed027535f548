"""Text and byte data streams between lkcore and the official SDK, both directions."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from livekit import rtc

import lkcore
from conftest import until

# Text that compresses well, text that does not (base64 of random bytes), and multi-byte UTF-8
# that crosses the 15 000-byte chunk boundaries at every offset of a 4-byte character.
TEXTS = {
    "short": "hello from the other SDK",
    "words-1MiB": ("the quick brown fox jumps over the lazy dog " * 24000)[: 1 << 20],
    "base64-1MiB": base64.b64encode(os.urandom(786432)).decode(),
    "utf8": ("aé€😀" * 30001),
}


async def _meet(off: rtc.Room, lk: lkcore.Room) -> None:
    await until(lambda: "lk" in off.remote_participants and "official" in lk.remote_participants, "both to meet")


@pytest.mark.parametrize("kind", list(TEXTS))
async def test_text_official_to_lkcore(join, kind: str) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_text(reader: lkcore.TextStreamReader, sender: str) -> None:
        got.set_result((sender, reader.info, await reader.read_all()))

    lk.register_text_stream_handler("chat", on_text)
    await _meet(off, lk)
    text = TEXTS[kind]
    info = await off.local_participant.send_text(text, topic="chat", attributes={"k": "v"}, destination_identities=["lk"])
    sender, rinfo, body = await asyncio.wait_for(got, 30)
    assert sender == "official"
    assert body == text
    assert (rinfo.stream_id, rinfo.topic, rinfo.attributes) == (info.stream_id, "chat", {"k": "v"})


@pytest.mark.parametrize("kind", list(TEXTS))
async def test_text_lkcore_to_official(join, kind: str) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def read(reader: rtc.TextStreamReader, sender: str) -> None:
        got.set_result((sender, reader.info, await reader.read_all()))

    off.register_text_stream_handler("chat", lambda r, s: asyncio.ensure_future(read(r, s)))
    await _meet(off, lk)
    text = TEXTS[kind]
    info = await lk.local_participant.send_text(text, topic="chat", attributes={"k": "v"}, destination_identities=["official"])
    sender, rinfo, body = await asyncio.wait_for(got, 30)
    assert sender == "lk"
    assert body == text
    assert (rinfo.stream_id, rinfo.topic, rinfo.attributes) == (info.stream_id, "chat", {"k": "v"})


@pytest.mark.parametrize("size", [0, 1, 15_000, 1 << 20])
async def test_bytes_both_ways(join, size: int) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    to_lk: asyncio.Future = asyncio.get_running_loop().create_future()
    to_off: asyncio.Future = asyncio.get_running_loop().create_future()

    async def lk_read(reader: lkcore.ByteStreamReader, sender: str) -> None:
        to_lk.set_result((sender, reader.info, await reader.read_all()))

    async def off_read(reader: rtc.ByteStreamReader, sender: str) -> None:
        chunks = [c async for c in reader]
        to_off.set_result((sender, reader.info, b"".join(chunks)))

    lk.register_byte_stream_handler("files", lk_read)
    off.register_byte_stream_handler("files", lambda r, s: asyncio.ensure_future(off_read(r, s)))
    await _meet(off, lk)
    data = os.urandom(size)

    oinfo = await off.local_participant.send_bytes(data, topic="files", name="a.bin", mime_type="application/x-test", attributes={"n": str(size)})
    sender, info, body = await asyncio.wait_for(to_lk, 30)
    assert (sender, body) == ("official", data)
    assert (info.stream_id, info.name, info.mime_type, info.attributes, info.total_length) == (
        oinfo.stream_id, "a.bin", "application/x-test", {"n": str(size)}, size)

    linfo = await lk.local_participant.send_bytes(data, topic="files", name="b.bin", mime_type="application/x-test", attributes={"n": str(size)})
    sender, info, body = await asyncio.wait_for(to_off, 30)
    assert (sender, body) == ("lk", data)
    assert (info.stream_id, info.name, info.mime_type, info.attributes, info.size) == (
        linfo.stream_id, "b.bin", "application/x-test", {"n": str(size)}, size)


async def test_incremental_streams_both_ways(join) -> None:
    """Writers that send piece by piece, without a total size: each piece arrives in order."""
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    pieces = [f"piece {i} " + "é" * i for i in range(50)]
    to_lk: asyncio.Queue = asyncio.Queue()
    to_off: asyncio.Queue = asyncio.Queue()

    async def lk_read(reader: lkcore.TextStreamReader, sender: str) -> None:
        async for piece in reader:
            to_lk.put_nowait(piece)
        to_lk.put_nowait(None)

    async def off_read(reader: rtc.TextStreamReader, sender: str) -> None:
        async for piece in reader:
            to_off.put_nowait(piece)
        to_off.put_nowait(None)

    lk.register_text_stream_handler("live", lk_read)
    off.register_text_stream_handler("live", lambda r, s: asyncio.ensure_future(off_read(r, s)))
    await _meet(off, lk)

    async def drain(q: asyncio.Queue) -> str:
        out = []
        while (p := await asyncio.wait_for(q.get(), 20)) is not None:
            out.append(p)
        return "".join(out)

    ow = await off.local_participant.stream_text(topic="live", destination_identities=["lk"])
    for p in pieces:
        await ow.write(p)
    await ow.aclose()
    assert await drain(to_lk) == "".join(pieces)

    lw = await lk.local_participant.stream_text(topic="live", destination_identities=["official"])
    for p in pieces:
        await lw.write(p)
    await lw.aclose()
    assert await drain(to_off) == "".join(pieces)


@pytest.mark.parametrize("agent_sdk", ["official", "lkcore"])
async def test_agent_sends_on_behalf_of_a_user(join, agent_sdk: str) -> None:
    """An agent of one SDK sends a text stream on behalf of a user (as agents publish a user's
    transcribed speech); a participant of the other SDK receives it as the user's (lkcore also
    shows it marked generated; the official SDK does not expose the flag)."""
    other = "lkcore" if agent_sdk == "official" else "official"
    agent = await join(agent_sdk, "agent", kind="agent")
    await join(other, "user")
    watcher = await join(other, "watcher")
    got: asyncio.Future = asyncio.get_running_loop().create_future()
    generated: list = []
    if other == "lkcore":
        async def lk_read(reader: lkcore.TextStreamReader, sender: str) -> None:
            generated.append(reader.info.generated)
            got.set_result((sender, await reader.read_all()))

        watcher.register_text_stream_handler("lk.transcription", lk_read)
    else:
        async def off_read(reader: rtc.TextStreamReader, sender: str) -> None:
            got.set_result((sender, await reader.read_all()))

        watcher.register_text_stream_handler("lk.transcription", lambda r, s: asyncio.ensure_future(off_read(r, s)))
    await until(lambda: {"user", "watcher"} <= agent.remote_participants.keys(), "the agent to see both")
    # (the same call in both SDKs)
    w = await agent.local_participant.stream_text(topic="lk.transcription", sender_identity="user", destination_identities=["watcher"])
    for piece in ["what ", "the user ", "said"]:
        await w.write(piece)
    await w.aclose()
    assert await asyncio.wait_for(got, 10) == ("user", "what the user said")
    assert generated == ([True] if other == "lkcore" else [])
