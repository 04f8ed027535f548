"""Data tracks: publishing local tracks and subscribing to remote ones.

Publishing::

    track = await room.local_participant.publish_data_track("telemetry")
    track.try_push(b"...", user_timestamp=time.time_ns() // 1000)   # never blocks
    await track.push(b"...")      # waits while the send queue is full (back-pressure)
    await track.flush()           # everything queued so far is handed to the channel
    print(track.stats())          # pushed / rejected / sent / send_failed / discarded / queued
    await track.unpublish()

Subscribing::

    @room.on("data_track_published")
    def on_track(track: RemoteDataTrack) -> None:
        asyncio.ensure_future(consume(track))

    async def consume(track: RemoteDataTrack) -> None:
        # awaiting the subscription returns once the server confirmed it (frames flow)
        async for frame in await track.subscribe(buffer_size=16):
            print(frame.payload, frame.user_timestamp, frame.dropped_before)
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Generator, Optional, Tuple, Union

from . import errors
from ._client import Client, bytes_arg, error_from_proto
from ._credits import CreditQueue
from ._proto import lkcore_ffi_pb2 as pb

if TYPE_CHECKING:
    from .participant import RemoteParticipant
    from ._session import RoomSession

__all__ = [
    "DataTrackInfo",
    "DataTrackFrame",
    "LocalDataTrack",
    "LocalDataTrackStats",
    "RemoteDataTrack",
    "DataTrackSubscription",
    "DataTrackStream",
    "SubscriptionEndReason",
    "MAX_BUFFER_SIZE",
]

#: Largest subscription buffer the library accepts (frames; informative: the library checks it).
MAX_BUFFER_SIZE = 65536


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
        dropped_before: how many of the publisher's frames this subscription lost since the
            previous delivered frame (or since its first one): frames the library's buffer
            dropped because the consumer was slow (the subscription's buffer; for an
            auto-subscription, the room's ``data_track_buffer_size`` /
            ``data_track_buffer_bytes``) and frames that never arrived whole (lost by the
            network or the SFU, incomplete, undecryptable), counted from the publisher's frame
            numbers. Frames delivered plus the sum of ``dropped_before`` is every frame the
            publisher sent from the first delivered frame to the last.
    """

    payload: bytes
    user_timestamp: Optional[int] = None
    dropped_before: int = 0


#: What the push methods accept: a payload (bytes-like) or a :class:`DataTrackFrame`.
FrameLike = Union[bytes, bytearray, memoryview, DataTrackFrame]


def _check_timestamp(ts: Optional[int]) -> Optional[int]:
    """A user timestamp as the library's u64, checked once for every push path (the fast path's
    ctypes call would wrap a negative or too large value silently)."""
    if ts is None:
        return None
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise TypeError(f"user_timestamp is an int, not {type(ts).__name__}")
    if not 0 <= ts < 1 << 64:
        raise errors.InvalidArgumentError(f"user_timestamp must be 0..2**64-1, not {ts}")
    return ts


def _frame_args(frame: FrameLike, user_timestamp: Optional[int]) -> Tuple[bytes, Optional[int]]:
    if isinstance(frame, DataTrackFrame):
        if user_timestamp is not None and frame.user_timestamp is not None:
            raise errors.InvalidArgumentError("user_timestamp given twice (in the frame and as an argument)")
        payload = bytes_arg(frame.payload, "DataTrackFrame.payload")
        ts = frame.user_timestamp if frame.user_timestamp is not None else user_timestamp
        return payload, _check_timestamp(ts)
    if isinstance(frame, bytes):
        return frame, _check_timestamp(user_timestamp)
    if isinstance(frame, (bytearray, memoryview)):
        return bytes(frame), _check_timestamp(user_timestamp)
    raise TypeError(f"a data track frame is bytes-like or a DataTrackFrame, not {type(frame).__name__}")


@dataclass(frozen=True)
class LocalDataTrackStats:
    """A local track's counters (the core's ``LocalDataTrackStats``).

    Every accepted frame is accounted for:
    ``pushed == sent + send_failed + discarded + evicted + queued``.

    Attributes:
        pushed: frames accepted (``try_push`` and ``push``).
        rejected: pushes refused with QueueFullError (each refused attempt of ``push`` too).
        sent: frames whose every packet was handed to the data channel.
        send_failed: frames abandoned because the channel failed.
        discarded: queued frames thrown away by unpublish, reconnect or disconnect.
        queued: frames waiting in the send queue now.
        evicted: accepted frames evicted by a ``drop_oldest`` queue.
        queued_bytes: serialized bytes of the queued frames.
    """

    pushed: int = 0
    rejected: int = 0
    sent: int = 0
    send_failed: int = 0
    discarded: int = 0
    queued: int = 0
    evicted: int = 0
    queued_bytes: int = 0

    @property
    def dropped(self) -> int:
        """Accepted frames that were not sent (``send_failed + discarded + evicted``)."""
        return self.send_failed + self.discarded + self.evicted


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
        self._push_lock: Optional[asyncio.Lock] = None
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

    def try_push(self, frame: FrameLike, user_timestamp: Optional[int] = None) -> None:
        """Queues one frame for sending; never blocks.

        Args:
            frame: the payload (bytes-like), or a :class:`DataTrackFrame` (its
                ``user_timestamp`` is sent; ``dropped_before`` is ignored).
            user_timestamp: the application's timestamp for the frame (u64), if any.

        Raises:
            InvalidArgumentError: ``user_timestamp`` outside 0..2**64-1 (TypeError if not an
                int).
            QueueFullError: the send queue is full; nothing was queued (retryable). Use
                :meth:`push` to wait for space instead.
            FailedPreconditionError: a full reconnect of the room is publishing the track
                again; nothing was queued (retryable: ``local_data_track_sid_changed`` marks
                the end). :meth:`push` waits instead.
            TrackUnpublishedError: the track is no longer published.
            PayloadTooLargeError: the frame is too large.
        """
        payload, ts = _frame_args(frame, user_timestamp)
        self._client.push_frame(self._handle, payload, ts)

    async def push(
        self, frame: FrameLike, user_timestamp: Optional[int] = None, *, timeout: Optional[float] = None
    ) -> None:
        """Queues one frame, waiting while the send queue is full (back-pressure, no spinning).

        The library paces it like the core's ``LocalDataTrack.Push``: it waits while the queue
        already holds 16 frames or 256 KiB (or is full) until its writer has drained the
        queue, then queues the frame, so frames pushed this way wait behind at most about 16
        others, while :meth:`try_push` accepts up to the whole queue. It also waits while a full
        reconnect of the room publishes the track again. The frame is first
        offered without waiting (no round trip when there is room). Frames of concurrent
        ``push`` calls are queued in call order; a ``try_push`` made meanwhile may overtake a
        waiting ``push``.

        Args:
            frame, user_timestamp: as for :meth:`try_push`.
            timeout: seconds to wait for space (None = as long as it takes; 0 = give up at once;
                negative or NaN raises InvalidArgumentError).

        Raises:
            OperationTimeoutError: no space within ``timeout``; the frame was not queued.
            TrackUnpublishedError, PayloadTooLargeError, DisconnectedError.

        Cancelling the awaiting task cancels the wait (a ``CancelRequest``), but whether the
        frame was queued is decided by the operation's completion, which a cancelled caller
        does not see: a wait the cancel stopped (``CANCELLED``) queued nothing, while a wait
        that had already ended queued the frame, which is then sent. After a cancel the frame
        may therefore have been queued or not (:meth:`stats` counts it in ``pushed`` if it was).
        """
        payload, ts = _frame_args(frame, user_timestamp)
        if self._push_lock is None:
            self._push_lock = asyncio.Lock()
        async with self._push_lock:
            try:
                self._client.push_frame(self._handle, payload, ts, paced=True)
                return
            except errors.QueueFullError:
                pass
            req = pb.PushDataTrackFrameRequest(track_handle=self._handle, payload=payload)
            if ts is not None:
                req.user_timestamp = ts
            await self._client.request_async(pb.Request(push_data_track_frame_wait=req), timeout=timeout)

    async def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until every frame queued so far was handed to the data channel (or discarded).

        Raises:
            OperationTimeoutError: not flushed within ``timeout`` seconds.
        """
        await self._client.request_async(
            pb.Request(flush_data_track=pb.FlushDataTrackRequest(track_handle=self._handle)), timeout=timeout
        )

    def stats(self) -> LocalDataTrackStats:
        """Returns the track's counters (see :class:`LocalDataTrackStats`)."""
        st = self._client.request(
            pb.Request(get_data_track_stats=pb.GetDataTrackStatsRequest(track_handle=self._handle))
        ).get_data_track_stats.stats
        return LocalDataTrackStats(
            st.pushed, st.rejected, st.sent, st.send_failed, st.discarded, st.queued, st.evicted, st.queued_bytes
        )

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

    def __init__(self, session: "RoomSession", publisher: "RemoteParticipant", info: DataTrackInfo) -> None:
        self._session = session
        self._publisher = publisher
        self._info = info
        self._published = True
        # RemoteDataTrackInfo.subscription_revoked of the snapshot, then the permission events.
        self._subscription_revoked = False
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
    def subscription_revoked(self) -> bool:
        """Whether the publisher revoked this room's permission to receive the track (the last
        ``data_track_subscription_permission_changed`` said not allowed). A revoked subscription
        stays open and receives again once allowed. It stays True when the revoked subscription
        is closed, until a later subscription is allowed (that event again); False for a track
        never revoked."""
        return self._subscription_revoked

    @property
    def publisher_identity(self) -> str:
        """Identity of the participant publishing the track."""
        return self._publisher.identity

    def is_published(self) -> bool:
        """False once the publisher unpublished the track."""
        return self._published

    @property
    def uses_e2ee(self) -> bool:
        """Whether frames of the track are end-to-end encrypted."""
        return self._info.uses_e2ee

    def subscribe(self, buffer_size: Optional[int] = None, buffer_bytes: Optional[int] = None) -> "DataTrackSubscription":
        """Subscribes to the track and returns the subscription, an async iterator of
        :class:`DataTrackFrame`.

        The subscription is established in the background; ``await`` it (``sub = await
        track.subscribe()``) to return once the server confirmed it and frames flow, or to get
        the reason it failed (e.g. EncryptionError for an encrypted track in a room without
        E2EE, NotAllowedError). Iterating without awaiting works too: a failure then ends the
        iteration with that error.

        Args:
            buffer_size: frames buffered for a slow consumer (at least 1; the library accepts
                at most 65 536, :data:`MAX_BUFFER_SIZE`; None = the room's
                ``data_track_buffer_size``, else the library's default: 256 frames and at most
                1 MiB of payloads, so a burst as large as a track accepts by default arrives
                whole); beyond it the library drops the oldest frame and counts it in the next
                frame's ``dropped_before``.
            buffer_bytes: payload bytes buffered besides (at least 1; the library accepts at most
                64 MiB; None = the room's ``data_track_buffer_bytes``, else 1 MiB when no frame
                count applies either, else 64 MiB, so a buffer sized in frames keeps them
                whatever their size). A frame larger than it alone is kept.

        With ``RoomOptions(auto_subscribe=True)`` the first call returns the subscription the
        library already opened (the arguments do not apply to it); one not taken when the track
        is unpublished is released then, with the frames it buffered. It is the same kind of
        subscription as one opened here without sizes: until it is taken and read, its frames
        wait in the library's buffer, bounded by the room's ``data_track_buffer_size`` and
        ``data_track_buffer_bytes`` (by default 256 frames and at most 1 MiB; the oldest
        dropped and counted in ``dropped_before``), not in Python.

        Raises:
            InvalidArgumentError: ``buffer_size`` or ``buffer_bytes`` out of range (the library
                checks their caps).
            NotFoundError: the track is no longer published.
        """
        # The cap is the library's to check (BINDINGS.md §6). Refused here is only what cannot
        # reach it as a size: below 1 (the field's 0 means "the room's default", which is None
        # here) or beyond the uint32 field.
        for name, value in (("buffer_size", buffer_size), ("buffer_bytes", buffer_bytes)):
            if value is not None and not 1 <= value <= 0xFFFFFFFF:
                raise errors.InvalidArgumentError(f"{name} must be at least 1, not {value}")
        if self._auto_sub is not None:
            sub, self._auto_sub = self._auto_sub, None
            return sub
        return self._session.subscribe_data_track(self, buffer_size, buffer_bytes)

    def __repr__(self) -> str:
        return f"<RemoteDataTrack name={self.name!r} sid={self.sid!r} publisher={self.publisher_identity!r}>"


class DataTrackSubscription:
    """A subscription to a remote data track: ``async for frame in subscription``.

    Iteration ends when the publisher unpublishes the track, the room disconnects or
    :meth:`aclose` is called; it raises the error if the subscription failed. Frames are
    delivered with credits (auto-subscriptions too), so at most ``window`` frames wait in
    Python (16, or fewer when the buffer holds fewer frames); the others wait in the library's
    buffer, which drops the oldest when full and counts them in ``dropped_before``.
    """

    def __init__(self, client: Client, handle: int, track: RemoteDataTrack, window: int) -> None:
        self._client = client
        self._handle = handle
        self._track = track
        self._established = False
        self._queue: CreditQueue[DataTrackFrame] = CreditQueue(client, handle, window)
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
        """Frames the library handed to Python so far, read or not; once the subscription
        ended, the library's final figure."""
        return self._frames_received

    @property
    def frames_dropped(self) -> int:
        """Frames lost so far: the sum of the ``dropped_before`` of the frames handed to Python.
        Once the subscription ended, the library's final figure (which also counts frames lost
        after the last frame), so that ``frames_received + frames_dropped`` is every frame the
        publisher sent from the first frame received."""
        return self._frames_dropped

    def _on_ffi_event(self, ev: pb.Event) -> None:
        kind = ev.WhichOneof("message")
        if kind == "data_track_frame":
            f = ev.data_track_frame
            self._frames_received += 1
            self._frames_dropped += f.dropped_before
            self._queue.put(
                DataTrackFrame(
                    f.payload,
                    f.user_timestamp if f.HasField("user_timestamp") else None,
                    f.dropped_before,
                )
            )
        elif kind == "data_track_subscription_ended":
            e = ev.data_track_subscription_ended
            self._end_reason = e.reason
            # The library's figures: every frame it handed over and every loss it saw (also
            # after the last frame).
            self._frames_received = e.frames_received
            self._frames_dropped = e.frames_dropped
            err = error_from_proto(e.error) if e.HasField("error") else None
            if e.reason != SubscriptionEndReason.FAILED:
                err = None
            self._queue.end(err)
            self._client.unroute(self._handle)

    def _end(self, reason: int) -> None:
        if not self._queue.ended:
            self._end_reason = reason
            self._queue.end()

    async def wait_subscribed(self, timeout: Optional[float] = None) -> "DataTrackSubscription":
        """Returns once the subscription is established (the server confirmed it and frames
        flow); ``await subscription`` does the same.

        Raises:
            the reason it could not be established (e.g. EncryptionError, NotAllowedError,
            OperationTimeoutError, DisconnectedError); InvalidHandleError once closed.
        """
        if self._established:
            return self
        if self._client.closed:
            raise errors.ClientClosedError("the client is closed")
        await self._client.request_async(
            pb.Request(wait_data_track_subscribed=pb.WaitDataTrackSubscribedRequest(subscription_handle=self._handle)),
            timeout=timeout,
        )
        self._established = True
        return self

    def __await__(self) -> Generator[Any, None, "DataTrackSubscription"]:
        return self.wait_subscribed().__await__()

    def __aiter__(self) -> AsyncIterator[DataTrackFrame]:
        return self

    async def __anext__(self) -> DataTrackFrame:
        return await self._queue.get()

    async def read(self) -> Optional[DataTrackFrame]:
        """Returns the next frame, or None once the subscription ended."""
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return None

    def close(self) -> None:
        """Unsubscribes; iteration ends after the frames already buffered."""
        self._end(SubscriptionEndReason.UNSPECIFIED)
        self._client.unroute(self._handle)
        self._finalizer()

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        self.close()

    def __repr__(self) -> str:
        return f"<DataTrackSubscription track={self._track.name!r}>"


#: The official SDK's name for a subscription (``livekit.rtc.DataTrackStream``).
DataTrackStream = DataTrackSubscription
