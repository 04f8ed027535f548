"""Text and byte data streams end to end through liblkcore and lkcore-devsfu."""

from __future__ import annotations

import asyncio
import os

import pytest

import lkcore
from lkcore import errors

from helpers import GUARD, connect

pytestmark = pytest.mark.devsfu


class Inbox:
    """Collects whole streams received by a handler."""

    def __init__(self) -> None:
        self.q: "asyncio.Queue[tuple[object, str, object]]" = asyncio.Queue()

    async def text(self, reader: lkcore.TextStreamReader, identity: str) -> None:
        try:
            chunks = [c async for c in reader]
            await self.q.put((reader, identity, chunks))
        except lkcore.LkError as e:
            await self.q.put((reader, identity, e))

    async def bytes_(self, reader: lkcore.ByteStreamReader, identity: str) -> None:
        try:
            await self.q.put((reader, identity, await reader.read_all()))
        except lkcore.LkError as e:
            await self.q.put((reader, identity, e))

    async def get(self) -> "tuple[object, str, object]":
        return await asyncio.wait_for(self.q.get(), GUARD)


async def test_text_and_byte_streams(devsfu, token_for, tmp_path) -> None:
    inbox = Inbox()
    bob = lkcore.Room()
    bob.register_text_stream_handler("chat", inbox.text)
    bob.register_byte_stream_handler("files", inbox.bytes_)
    with pytest.raises(errors.AlreadyExistsError):
        bob.register_text_stream_handler("chat", inbox.text)
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        a = alice.local_participant
        info = await a.send_text("héllo wörld ✓", topic="chat", attributes={"k": "v"})
        reader, who, chunks = await inbox.get()
        assert who == "alice" and "".join(chunks) == "héllo wörld ✓"
        assert reader.info.stream_id == info.stream_id and reader.info.topic == "chat"
        assert reader.info.attributes == {"k": "v"}

        async with await a.stream_text(topic="chat") as w:
            for part in ("one ", "two ", "three"):
                await w.write(part)
        reader, who, chunks = await inbox.get()
        assert "".join(chunks) == "one two three"
        assert reader.info.stream_id == w.info.stream_id

        blob = os.urandom(300_000)
        binfo = await a.send_bytes(blob, name="blob.bin", mime_type="application/x-test", topic="files")
        reader, _, data = await inbox.get()
        assert data == blob
        assert reader.info.name == "blob.bin" and reader.info.mime_type == "application/x-test"
        assert reader.info.stream_id == binfo.stream_id

        path = tmp_path / "report.txt"
        path.write_bytes(b"file contents\n" * 1000)
        finfo = await a.send_file(path, topic="files")
        reader, _, data = await inbox.get()
        assert data == path.read_bytes()
        assert finfo.name == reader.info.name == "report.txt"
        assert reader.info.total_length == len(data)

        with pytest.raises(errors.IoError):
            await a.send_file(tmp_path / "missing.bin", topic="files")

        w2 = await a.stream_bytes("partial.bin", topic="files")
        await w2.write(b"abc")
        await w2.aclose(reason="changed my mind")
        reader, _, err = await inbox.get()
        assert isinstance(err, errors.AbortedError)
        with pytest.raises(errors.FailedPreconditionError):
            await w2.write(b"more")

        # trailer attributes
        w3 = await a.stream_text(topic="chat")
        await w3.write("x")
        await w3.aclose(attributes={"done": "yes"})
        reader, _, chunks = await inbox.get()
        assert chunks == ["x"] and reader.trailer_attributes == {"done": "yes"}

        # no handler for the topic: ignored, and nothing leaks
        await a.send_text("nobody listens", topic="elsewhere")
        bob.unregister_text_stream_handler("chat")
        await a.send_text("after unregister", topic="chat")
        await a.send_bytes(b"sync point", topic="files")
        _, _, data = await inbox.get()
        assert data == b"sync point"
        assert inbox.q.empty()
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_slow_reader_gets_everything_in_order(devsfu, token_for) -> None:
    got: "asyncio.Queue[str]" = asyncio.Queue()

    async def slow(reader: lkcore.TextStreamReader, identity: str) -> None:
        parts = []
        async for c in reader:
            parts.append(c)
            await asyncio.sleep(0.001)
        await got.put("".join(parts))

    bob = lkcore.Room()
    bob.register_text_stream_handler("t", slow)
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        w = await alice.local_participant.stream_text(topic="t")
        expected = "".join(f"[{i}]" for i in range(400))
        for i in range(400):
            await w.write(f"[{i}]")
        await w.aclose()
        assert await asyncio.wait_for(got.get(), GUARD) == expected
    finally:
        await alice.disconnect()
        await bob.disconnect()
