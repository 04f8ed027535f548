"""Data streams: text and byte streams with readers and writers.

Sending::

    info = await room.local_participant.send_text("hello", topic="chat")
    async with await room.local_participant.stream_text(topic="chat") as w:
        await w.write("partial ")
        await w.write("answer")

Receiving::

    async def on_chat(reader: TextStreamReader, participant_identity: str) -> None:
        async for chunk in reader:
            print(chunk, end="")
    room.register_text_stream_handler("chat", on_chat)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Dict, Mapping, Optional, Sequence, Union

from . import errors
from ._client import Client, bytes_arg, error_from_proto
from ._credits import CreditQueue
from ._proto import lkcore_ffi_pb2 as pb

if TYPE_CHECKING:
    from ._session import RoomSession

__all__ = [
    "TextStreamInfo",
    "ByteStreamInfo",
    "TextStreamReader",
    "ByteStreamReader",
    "TextStreamWriter",
    "ByteStreamWriter",
    "TextStreamHandler",
    "ByteStreamHandler",
]


@dataclass(frozen=True)
class TextStreamInfo:
    """Header of a text stream."""

    stream_id: str
    topic: str
    timestamp_ms: int
    total_length: Optional[int] = None
    attributes: Dict[str, str] = field(default_factory=dict)
    operation_type: int = 0
    version: int = 0
    reply_to_stream_id: str = ""
    attached_stream_ids: "tuple[str, ...]" = ()
    generated: bool = False
    encrypted: bool = False

    @classmethod
    def _from_proto(cls, p: pb.TextStreamInfo) -> "TextStreamInfo":
        return cls(
            p.stream_id,
            p.topic,
            p.timestamp_ms,
            p.total_length if p.HasField("total_length") else None,
            dict(p.attributes),
            p.operation_type,
            p.version,
            p.reply_to_stream_id,
            tuple(p.attached_stream_ids),
            p.generated,
            p.encrypted,
        )


@dataclass(frozen=True)
class ByteStreamInfo:
    """Header of a byte stream."""

    stream_id: str
    topic: str
    timestamp_ms: int
    total_length: Optional[int] = None
    attributes: Dict[str, str] = field(default_factory=dict)
    name: str = ""
    mime_type: str = ""
    encrypted: bool = False

    @classmethod
    def _from_proto(cls, p: pb.ByteStreamInfo) -> "ByteStreamInfo":
        return cls(
            p.stream_id,
            p.topic,
            p.timestamp_ms,
            p.total_length if p.HasField("total_length") else None,
            dict(p.attributes),
            p.name,
            p.mime_type,
            p.encrypted,
        )


def _common(
    topic: str,
    attributes: Optional[Mapping[str, str]],
    destination_identities: Sequence[str],
    stream_id: str,
    total_length: Optional[int],
) -> pb.StreamOptions:
    o = pb.StreamOptions(
        topic=topic,
        attributes=dict(attributes or {}),
        destination_identities=list(destination_identities),
        stream_id=stream_id,
    )
    if total_length is not None:
        o.total_length = total_length
    return o


def _text_options(
    topic: str,
    attributes: Optional[Mapping[str, str]],
    destination_identities: Sequence[str],
    stream_id: str,
    total_length: Optional[int],
    reply_to_id: str,
    attached_stream_ids: Sequence[str],
    generated: bool,
    sender_identity: str,
) -> pb.TextStreamOptions:
    return pb.TextStreamOptions(
        common=_common(topic, attributes, destination_identities, stream_id, total_length),
        reply_to_stream_id=reply_to_id,
        attached_stream_ids=list(attached_stream_ids),
        generated=generated,
        sender_identity=sender_identity,
    )


def _byte_options(
    topic: str,
    attributes: Optional[Mapping[str, str]],
    destination_identities: Sequence[str],
    stream_id: str,
    total_length: Optional[int],
    name: str,
    mime_type: str,
) -> pb.ByteStreamOptions:
    return pb.ByteStreamOptions(
        common=_common(topic, attributes, destination_identities, stream_id, total_length),
        name=name,
        mime_type=mime_type,
    )


#: Window of chunks a reader may have delivered but not yet consumed.
READER_WINDOW = 16


class _Reader:
    """Common part of the readers: credit-delivered chunks, trailer, end."""

    def __init__(self, client: Client, handle: int, participant_identity: str) -> None:
        self._client = client
        self._handle = handle
        self._participant_identity = participant_identity
        self._queue: CreditQueue[Any] = CreditQueue(client, handle, READER_WINDOW)
        self._trailer: Dict[str, str] = {}
        self._finalizer = weakref.finalize(self, client.drop, handle)
        client.route(handle, self._on_ffi_event)

    @property
    def participant_identity(self) -> str:
        """Identity of the sender."""
        return self._participant_identity

    @property
    def trailer_attributes(self) -> Dict[str, str]:
        """Attributes sent with the stream's trailer (available after the end)."""
        return dict(self._trailer)

    def _on_ffi_event(self, ev: pb.Event) -> None:
        kind = ev.WhichOneof("message")
        if kind == "stream_chunk":
            c = ev.stream_chunk
            self._queue.put(c.text if c.WhichOneof("content") == "text" else c.data)
        elif kind == "stream_ended":
            e = ev.stream_ended
            self._trailer = dict(e.attributes)
            self._queue.end(error_from_proto(e.error) if e.HasField("error") else None)
            self._client.unroute(self._handle)
            self._finalizer()  # finished: the handle has nothing more to give

    def _end(self, error: Optional[BaseException]) -> None:
        self._queue.end(error)

    async def _next(self) -> Any:
        return await self._queue.get()


class TextStreamReader(_Reader):
    """An incoming text stream: ``async for chunk in reader`` or ``await reader.read_all()``.

    Iteration raises :class:`~lkcore.errors.AbortedError` (or another LkError) if the stream
    did not complete normally.
    """

    def __init__(self, client: Client, handle: int, participant_identity: str, info: TextStreamInfo) -> None:
        super().__init__(client, handle, participant_identity)
        self._info = info

    @property
    def info(self) -> TextStreamInfo:
        """The stream's header."""
        return self._info

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        return str(await self._next())

    async def read_all(self) -> str:
        """Reads the rest of the stream and returns it."""
        return "".join([c async for c in self])


class ByteStreamReader(_Reader):
    """An incoming byte stream: ``async for chunk in reader`` or ``await reader.read_all()``."""

    def __init__(self, client: Client, handle: int, participant_identity: str, info: ByteStreamInfo) -> None:
        super().__init__(client, handle, participant_identity)
        self._info = info

    @property
    def info(self) -> ByteStreamInfo:
        """The stream's header."""
        return self._info

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        return bytes(await self._next())

    async def read_all(self) -> bytes:
        """Reads the rest of the stream and returns it."""
        return b"".join([c async for c in self])


#: Handler of incoming text streams: ``handler(reader, participant_identity)``.
TextStreamHandler = Callable[[TextStreamReader, str], Union[None, Awaitable[None]]]
#: Handler of incoming byte streams: ``handler(reader, participant_identity)``.
ByteStreamHandler = Callable[[ByteStreamReader, str], Union[None, Awaitable[None]]]


class _Writer:
    """Common part of the writers."""

    def __init__(self, session: "RoomSession", client: Client, handle: int) -> None:
        self._session = session
        self._client = client
        self._handle = handle
        self._closed = False
        # Dropping an unclosed writer aborts the stream (receivers see ABORTED).
        self._finalizer = weakref.finalize(self, client.drop, handle)

    async def _write(self, req: pb.WriteStreamRequest) -> None:
        if self._closed:
            raise errors.FailedPreconditionError("the stream writer is closed")
        await self._session.request_async(pb.Request(write_stream=req))

    async def aclose(self, *, reason: str = "", attributes: Optional[Mapping[str, str]] = None) -> None:
        """Ends the stream after all earlier writes. A non-empty ``reason`` aborts it instead.

        Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        try:
            await self._session.request_async(
                pb.Request(
                    close_stream_writer=pb.CloseStreamWriterRequest(
                        writer_handle=self._handle, attributes=dict(attributes or {}), reason=reason
                    )
                )
            )
        finally:
            self._finalizer()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            await self.aclose()
        else:
            await self.aclose(reason=f"sender failed: {type(exc).__name__}")


class TextStreamWriter(_Writer):
    """An outgoing text stream opened by ``stream_text``."""

    def __init__(self, session: "RoomSession", client: Client, handle: int, info: TextStreamInfo) -> None:
        super().__init__(session, client, handle)
        self._info = info

    @property
    def info(self) -> TextStreamInfo:
        """The stream's header."""
        return self._info

    async def write(self, text: str) -> None:
        """Appends text (writes are sent in call order)."""
        await self._write(pb.WriteStreamRequest(writer_handle=self._handle, text=text))


class ByteStreamWriter(_Writer):
    """An outgoing byte stream opened by ``stream_bytes``."""

    def __init__(self, session: "RoomSession", client: Client, handle: int, info: ByteStreamInfo) -> None:
        super().__init__(session, client, handle)
        self._info = info

    @property
    def info(self) -> ByteStreamInfo:
        """The stream's header."""
        return self._info

    async def write(self, data: bytes) -> None:
        """Appends bytes (writes are sent in call order).

        Raises:
            TypeError: ``data`` is not bytes-like (bytes, bytearray, memoryview).
        """
        await self._write(pb.WriteStreamRequest(writer_handle=self._handle, data=bytes_arg(data, "data")))
