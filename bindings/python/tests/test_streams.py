"""Text and byte data streams end to end through liblkcore and lkcore-devsfu."""

from __future__ import annotations

import asyncio
import os

import pytest

import lkcore
from lkcore import errors
from lkcore._proto import lkcore_ffi_pb2 as pb

from helpers import GUARD, EventWaiter, connect

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


async def test_room_event_nothing_takes_drops_exactly_its_owned_handles(devsfu, token_for, monkeypatch) -> None:
    # On a live Room, what a room event hands over (RoomEvent.owned_handles, ABI 1.11) and no
    # object takes over is released: exactly the listed handles, whatever the event's kind.
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        client = bob.client
        assert client is not None
        inbox = Inbox()
        bob.register_text_stream_handler("chat", inbox.text)
        listed: "list[list[int]]" = []
        real_dispatch = client._dispatch

        def record(ev: pb.Event) -> None:
            if ev.WhichOneof("message") == "room" and ev.room.WhichOneof("message") == "stream_opened":
                listed.append(list(ev.room.owned_handles))
            real_dispatch(ev)

        monkeypatch.setattr(client, "_dispatch", record)
        # A real stream: the library lists its reader, which the handler takes and reads whole.
        await alice.local_participant.send_text("hi", topic="chat")
        reader, identity, chunks = await inbox.get()
        assert (identity, chunks) == ("alice", ["hi"])
        assert isinstance(reader, lkcore.TextStreamReader) and listed == [[reader._handle]]

        # Synthetic events for bob's room, handing over new room handles (stand-ins the library
        # can tell apart from released ones).
        dropped: "list[int]" = []
        real_drop = client.lib.handle_drop

        def spy(cid: int, h: int) -> int:
            if cid == client.id:
                dropped.append(h)
            return real_drop(cid, h)

        monkeypatch.setattr(client.lib, "handle_drop", spy)

        def new_handle() -> int:
            h: int = client.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room.handle
            return h

        def live(h: int) -> bool:
            try:
                client.request(pb.Request(get_room_snapshot=pb.GetRoomSnapshotRequest(room_handle=h)))
            except errors.InvalidHandleError:
                return False
            except errors.LkError:
                return True  # not connected: the handle exists
            return True

        room_handle = bob._session.handle
        published = EventWaiter(bob, "data_track_published")
        h1, h2, h3, unlisted = new_handle(), new_handle(), new_handle(), new_handle()

        def opened(topic: str, reader_handle: int) -> pb.StreamOpened:
            return pb.StreamOpened(
                participant_identity="alice",
                reader=pb.OwnedStreamReader(handle=reader_handle, text=pb.TextStreamInfo(stream_id="s", topic=topic)),
            )

        # A stream on a topic with no handler: its listed reader is dropped, no handler runs.
        client._dispatch(pb.Event(room=pb.RoomEvent(room_handle=room_handle, stream_opened=opened("nobody", h1), owned_handles=[h1])))
        assert dropped == [h1]
        # A track of a participant the room does not know: its auto-subscription is dropped.
        client._dispatch(pb.Event(room=pb.RoomEvent(
            room_handle=room_handle,
            data_track_published=pb.RemoteDataTrackPublished(
                track=pb.RemoteDataTrackInfo(publisher_identity="ghost"),
                auto_subscription=pb.OwnedDataTrackSubscription(handle=h2),
            ),
            owned_handles=[h2],
        )))
        assert dropped == [h1, h2] and published.seen == []
        # A kind this binding does not know (as a newer library's kind decodes: no member set).
        client._dispatch(pb.Event(room=pb.RoomEvent(room_handle=room_handle, owned_handles=[h3])))
        assert dropped == [h1, h2, h3]
        # A handle the event mentions but does not list is not the binding's: kept.
        client._dispatch(pb.Event(room=pb.RoomEvent(room_handle=room_handle, stream_opened=opened("nobody", unlisted))))
        assert dropped == [h1, h2, h3]
        assert [live(h) for h in (h1, h2, h3, unlisted)] == [False, False, False, True]
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
