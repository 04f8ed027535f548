"""Data tracks: publishing local tracks and subscribing to remote ones.

Publishing::

    track = await room.local_participant.publish_data_track("telemetry")
    track.try_push(b"...", user_timestamp=time.time_ns() // 1000)   # never blocks
    await track.unpublish()

Subscribing::

    @room.on("data_track_published")
    def on_track(track: RemoteDataTrack) -> None:
        asyncio.ensure_future(consume(track))

    async def consume(track: RemoteDataTrack) -> None:
        async for frame in await track.subscribe(buffer_size=16):
            print(frame.payload, frame.user_timestamp, frame.dropped_before)
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Optional

from . import errors
from ._client import Client, error_from_proto
from ._credits import CreditQueue
from ._proto import lkcore_ffi_pb2 as pb

if TYPE_CHECKING:
    from .participant import RemoteParticipant
    from .room import Room

__all__ = [
    "DataTrackInfo",
    "DataTrackFrame",
    "LocalDataTrack",
    "RemoteDataTrack",
    "DataTrackSubscription",
    "SubscriptionEndReason",
]


@dataclass(frozen=True)
class DataTrackInfo:
    """Description of a published data track. ``(publisher identity, name)`` is the stable
    key; the sid can change across a publisher's full reconnect."""

    sid: str
    name: str
    uses_e2ee: bool = False
    schema_name: str = ""
    frame_encoding: str = ""
    schema_encoding: str = ""

    @classmethod
    def _from_proto(cls, p: pb.DataTrackInfo) -> "DataTrackInfo":
        return cls(p.sid, p.name, p.uses_e2ee, p.schema_name, p.frame_encoding, p.schema_encoding)


@dataclass(frozen=True)
class DataTrackFrame:
    """One received frame.

    Attributes:
        payload: the frame's bytes.
        user_timestamp: the publisher's application timestamp, if it sent one.
        dropped_before: frames of this subscription lost (buffer overflow, incomplete or
            undecryptable) since the previous delivered frame.
    """

    payload: bytes
    user_timestamp: Optional[int] = None
    dropped_before: int = 0


class SubscriptionEndReason:
    """Why a subscription ended (values of ``lkcore.ffi.v1.SubscriptionEndReason``)."""

    UNSPECIFIED = pb.SUBSCRIPTION_END_REASON_UNSPECIFIED
    UNPUBLISHED = pb.SUBSCRIPTION_END_REASON_UNPUBLISHED
    DISCONNECTED = pb.SUBSCRIPTION_END_REASON_DISCONNECTED
    FAILED = pb.SUBSCRIPTION_END_REASON_FAILED


class LocalDataTrack:
    """A data track published by the local participant (from ``publish_data_track``).

    The handle is released when the object is garbage collected or the room disconnects
    (which unpublishes the track).
    """

    def __init__(self, client: Client, handle: int, info: DataTrackInfo) -> None:
        self._client = client
        self._handle = handle
        self._info = info
        self._finalizer = weakref.finalize(self, client.drop, handle)

    @property
    def info(self) -> DataTrackInfo:
        """The track's description (sid, name, ...)."""
        return self._info

    @property
    def sid(self) -> str:
        """The track's sid."""
        return self._info.sid

    @property
    def name(self) -> str:
        """The track's name."""
        return self._info.name

    def try_push(self, payload: bytes, user_timestamp: Optional[int] = None) -> None:
        """Queues one frame for sending; never blocks.

        Raises:
            QueueFullError: the send queue is full; nothing was queued (retryable).
            TrackUnpublishedError: the track is no longer published.
            PayloadTooLargeError: the frame is too large.
        """
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        self._client.push_frame(self._handle, payload, user_timestamp)

    def is_published(self) -> bool:
        """True while the track is published."""
        if self._client.closed:
            return False
        try:
            r = self._client.request(
                pb.Request(data_track_is_published=pb.DataTrackIsPublishedRequest(track_handle=self._handle))
            )
        except (errors.InvalidHandleError, errors.ClientClosedError):
            return False
        return r.data_track_is_published.is_published

    async def unpublish(self) -> None:
        """Unpublishes the track (idempotent). Later pushes raise TrackUnpublishedError."""
        if self._client.closed:
            return
        try:
            self._client.request(
                pb.Request(unpublish_data_track=pb.UnpublishDataTrackRequest(track_handle=self._handle))
            )
        except (errors.InvalidHandleError, errors.ClientClosedError):
            pass  # already released together with its room

    def __repr__(self) -> str:
        return f"<LocalDataTrack name={self.name!r} sid={self.sid!r}>"


class RemoteDataTrack:
    """A data track published by a remote participant (a reference: no handle)."""

    def __init__(self, room: "Room", publisher: "RemoteParticipant", info: DataTrackInfo) -> None:
        self._room = weakref.ref(room)
        self._publisher = publisher
        self._info = info
        self._published = True
        # Opened by the library with RoomOptions.auto_subscribe; handed out by subscribe().
        self._auto_sub: Optional["DataTrackSubscription"] = None

    @property
    def info(self) -> DataTrackInfo:
        """The track's description."""
        return self._info

    @property
    def sid(self) -> str:
        """The track's sid."""
        return self._info.sid

    @property
    def name(self) -> str:
        """The track's name."""
        return self._info.name

    @property
    def publisher(self) -> "RemoteParticipant":
        """The participant publishing the track."""
        return self._publisher

    @property
    def publisher_identity(self) -> str:
        """Identity of the participant publishing the track."""
        return self._publisher.identity

    def is_published(self) -> bool:
        """False once the publisher unpublished the track."""
        return self._published

    async def subscribe(self, buffer_size: int = 16) -> "DataTrackSubscription":
        """Subscribes to the track and returns an async iterator of :class:`DataTrackFrame`.

        Args:
            buffer_size: frames buffered for a slow consumer; beyond it the library drops
                the oldest frame and counts it in the next frame's ``dropped_before``.

        With ``RoomOptions(auto_subscribe=True)`` the first call returns the subscription the
        library already opened (its buffer is ``RoomOptions.data_track_buffer_size``).
        """
        if self._auto_sub is not None:
            sub, self._auto_sub = self._auto_sub, None
            return sub
        room = self._room()
        if room is None:
            raise errors.ClientClosedError("the room is gone")
        return room._subscribe_data_track(self, buffer_size)

    def __repr__(self) -> str:
        return f"<RemoteDataTrack name={self.name!r} sid={self.sid!r} publisher={self.publisher_identity!r}>"


class DataTrackSubscription:
    """A subscription to a remote data track: ``async for frame in subscription``.

    Iteration ends when the publisher unpublishes the track, the room disconnects or
    :meth:`aclose` is called; it raises the error if the subscription failed. Frames are
    delivered with credits, so at most ``buffer_size`` frames wait in Python.
    """

    def __init__(
        self, client: Client, handle: int, track: RemoteDataTrack, buffer_size: int, credits: bool = True
    ) -> None:
        self._client = client
        self._handle = handle
        self._track = track
        # credits=False: the library pushes frames as events (auto-subscriptions); the Python
        # buffer then drops its oldest frame when full and counts it like the library does.
        self._queue: CreditQueue[DataTrackFrame] = CreditQueue(client, handle, buffer_size, credits)
        self._end_reason: int = SubscriptionEndReason.UNSPECIFIED
        self._frames_received = 0
        self._frames_dropped = 0
        self._finalizer = weakref.finalize(self, client.drop, handle)
        client.route(handle, self._on_ffi_event)

    @property
    def track(self) -> RemoteDataTrack:
        """The subscribed track."""
        return self._track

    @property
    def end_reason(self) -> int:
        """A :class:`SubscriptionEndReason` value once ended (UNSPECIFIED before)."""
        return self._end_reason

    @property
    def frames_received(self) -> int:
        """Frames received (final figure reported by the library when the subscription ends)."""
        return self._frames_received

    @property
    def frames_dropped(self) -> int:
        """Frames lost so far (sum of ``dropped_before``, or the library's final figure)."""
        return self._frames_dropped

    def _on_ffi_event(self, ev: pb.Event) -> None:
        kind = ev.WhichOneof("message")
        if kind == "data_track_frame":
            f = ev.data_track_frame
            self._frames_received += 1
            self._frames_dropped += f.dropped_before
            evicted = self._queue.put(
                DataTrackFrame(
                    f.payload,
                    f.user_timestamp if f.HasField("user_timestamp") else None,
                    f.dropped_before,
                )
            )
            if evicted is not None:
                self._frames_dropped += 1
                head = self._queue._items[0]
                self._queue.replace_head(
                    dataclasses.replace(head, dropped_before=head.dropped_before + evicted.dropped_before + 1)
                )
        elif kind == "data_track_subscription_ended":
            e = ev.data_track_subscription_ended
            self._end_reason = e.reason
            self._frames_received = max(self._frames_received, e.frames_received)
            self._frames_dropped = max(self._frames_dropped, e.frames_dropped)
            err = error_from_proto(e.error) if e.HasField("error") else None
            if e.reason != SubscriptionEndReason.FAILED:
                err = None
            self._queue.end(err)
            self._client.unroute(self._handle)

    def _end(self, reason: int) -> None:
        if not self._queue.ended:
            self._end_reason = reason
            self._queue.end()

    def __aiter__(self) -> AsyncIterator[DataTrackFrame]:
        return self

    async def __anext__(self) -> DataTrackFrame:
        return await self._queue.get()

    async def aclose(self) -> None:
        """Unsubscribes; iteration ends after the frames already buffered."""
        self._end(SubscriptionEndReason.UNSPECIFIED)
        self._client.unroute(self._handle)
        self._finalizer()

    def __repr__(self) -> str:
        return f"<DataTrackSubscription track={self._track.name!r}>"
