"""The internal session of a Room: what the room's child objects need of it.

Participants, data tracks, stream writers and the E2EE manager hold a :class:`RoomSession`,
never the :class:`~lkcore.Room` itself: it owns the FFI client and the room handle while the
room is connected, the handler tables (RPC methods, stream topics, also filled before
connecting) and the registries of child handles, and it offers the requests children make. It
holds no reference to the Room or its participants, so children keep no room alive.
"""

from __future__ import annotations

import weakref
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Union

from . import errors
from ._client import Client, bytes_arg, enum_value
from ._proto import lkcore_ffi_pb2 as pb
from .data_stream import (
    READER_WINDOW,
    ByteStreamHandler,
    ByteStreamInfo,
    ByteStreamReader,
    ByteStreamWriter,
    TextStreamHandler,
    TextStreamInfo,
    TextStreamReader,
    TextStreamWriter,
)
from .data_track import DataTrackInfo, DataTrackSubscription, LocalDataTrack
from .e2ee import E2EEStats
from .rpc import RpcHandler

if TYPE_CHECKING:
    from .data_track import RemoteDataTrack
    from .room import RoomOptions

#: Credits (frames in flight to Python) of a subscription given no ``buffer_size`` and of every
#: auto-subscription (``RoomOptions.auto_subscription_credits``, ABI 1.14); the rest of a burst
#: waits in the library's buffer (256 frames and 1 MiB by default since ABI 1.13, or the room's
#: ``data_track_buffer_size`` / ``data_track_buffer_bytes``).
CREDIT_WINDOW = 16


def credit_window(frames: int) -> int:
    """Credits of a subscription whose library buffer holds ``frames`` frames (0: not bounded in
    frames): ``CREDIT_WINDOW``, but never more than the buffer, so that a reader who asked for
    only the freshest frames (a buffer of 1) finds no older ones waiting in Python."""
    return min(frames, CREDIT_WINDOW) if frames > 0 else CREDIT_WINDOW


class RoomSession:
    """A room's FFI side, shared with its child objects (internal)."""

    def __init__(self, options: "RoomOptions") -> None:
        self.options = options
        self.client: Optional[Client] = None
        self.handle = 0
        self.released = False
        self.rpc_handlers: Dict[str, RpcHandler] = {}
        self.text_handlers: Dict[str, TextStreamHandler] = {}
        self.byte_handlers: Dict[str, ByteStreamHandler] = {}
        self.local_tracks: "weakref.WeakValueDictionary[int, LocalDataTrack]" = weakref.WeakValueDictionary()
        self.subscriptions: "weakref.WeakValueDictionary[int, DataTrackSubscription]" = weakref.WeakValueDictionary()
        self.readers: "weakref.WeakValueDictionary[int, Union[TextStreamReader, ByteStreamReader]]" = (
            weakref.WeakValueDictionary()
        )
        self.final_e2ee_stats: Optional[E2EEStats] = None

    # -- state ---------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """True while the room handle exists (between create and release)."""
        return bool(self.handle) and not self.released

    def require_client(self) -> Client:
        """The client, or DisconnectedError when the room is not (or no longer) connected."""
        if self.client is None or self.released:
            raise errors.DisconnectedError("the room is not connected")
        return self.client

    def require_handle(self) -> int:
        """The room handle, or DisconnectedError."""
        self.require_client()
        return self.handle

    # -- requests ------------------------------------------------------------------------------

    def request(self, req: pb.Request) -> pb.Response:
        """A synchronous request on the room's client."""
        return self.require_client().request(req)

    async def request_async(self, req: pb.Request, on_result: Optional[Callable[[pb.Completion], Any]] = None) -> Any:
        """An ASYNC request on the room's client (see Client.request_async)."""
        return await self.require_client().request_async(req, on_result=on_result)

    def adopt(self, handle: int) -> Client:
        """Takes ownership of a child handle of the room; returns the client."""
        client = self.require_client()
        client.adopt(handle, self.handle)
        return client

    # -- data tracks ---------------------------------------------------------------------------

    def local_track_published(self, owned: pb.OwnedLocalDataTrack) -> LocalDataTrack:
        """Wraps a published local track's handle (a publish completion)."""
        client = self.adopt(owned.handle)
        t = LocalDataTrack(client, owned.handle, DataTrackInfo._from_proto(owned.info))
        self.local_tracks[owned.handle] = t
        return t

    def subscribe_data_track(
        self, track: "RemoteDataTrack", buffer_size: Optional[int], buffer_bytes: Optional[int] = None
    ) -> DataTrackSubscription:
        """Subscribes to a remote data track (credit-based delivery). The call's sizes are
        passed on as given, 0 when it gave none: the library then applies the room's
        ``data_track_buffer_size`` / ``data_track_buffer_bytes``, else its defaults. The credit
        window is :func:`credit_window` of the frames the buffer holds, as for an
        auto-subscription."""
        window = credit_window(buffer_size or self.options.data_track_buffer_size)
        resp = self.request(
            pb.Request(
                subscribe_data_track=pb.SubscribeDataTrackRequest(
                    room_handle=self.require_handle(),
                    publisher_identity=track.publisher_identity,
                    track_sid=track.sid,
                    track_name=track.name,  # ABI 1.9: found by name (its sid changes when the publisher fully reconnects)
                    buffer_size=buffer_size or 0,
                    buffer_bytes=buffer_bytes or 0,  # ABI 1.13
                    delivery=pb.DELIVERY_MODE_CREDITS,
                    initial_credits=window,
                )
            )
        )
        return self.adopt_subscription(track, resp.subscribe_data_track.subscription.handle, window)

    def adopt_subscription(
        self, track: "RemoteDataTrack", handle: int, window: int
    ) -> DataTrackSubscription:
        """Wraps a subscription handle of the room, delivered with ``window`` credits: one
        :meth:`subscribe_data_track` opened, or an auto-subscription the library opened (with
        the credits RoomOptions._to_proto asked for), so both are the same kind of object."""
        client = self.adopt(handle)
        sub = DataTrackSubscription(client, handle, track, window)
        self.subscriptions[handle] = sub
        return sub

    # -- RPC -----------------------------------------------------------------------------------

    def register_rpc(self, method: str, handler: Optional[RpcHandler] = None) -> Any:
        """Adds an RPC handler (registered with the library now if the room exists, else when
        it is created) and returns it; without ``handler``, returns a decorator that registers
        the function it decorates (what ``register_rpc_method`` of the room and of the local
        participant return)."""
        if handler is None:

            def deco(fn: RpcHandler) -> RpcHandler:
                self.register_rpc(method, fn)
                return fn

            return deco
        if method in self.rpc_handlers:
            raise errors.AlreadyExistsError(f"RPC method {method!r} is already registered")
        if self.live:
            self.ffi_register_rpc(method)
        self.rpc_handlers[method] = handler
        return handler

    def unregister_rpc(self, method: str) -> None:
        """Removes an RPC handler (no error if none is registered)."""
        if self.rpc_handlers.pop(method, None) is None or not self.live:
            return
        try:
            self.request(pb.Request(unregister_rpc_method=pb.UnregisterRpcMethodRequest(room_handle=self.handle, method=method)))
        except errors.NotFoundError:
            pass

    def ffi_register_rpc(self, method: str) -> None:
        """Registers ``method`` with the library."""
        self.request(pb.Request(register_rpc_method=pb.RegisterRpcMethodRequest(room_handle=self.handle, method=method)))

    # -- data streams --------------------------------------------------------------------------

    def register_stream(self, kind: Any, topic: str, handler: Any) -> None:
        """Adds a text or byte stream handler for ``topic``."""
        table: Dict[str, Any] = self.text_handlers if kind == pb.STREAM_KIND_TEXT else self.byte_handlers
        if topic in table:
            what = "text" if kind == pb.STREAM_KIND_TEXT else "byte"
            raise errors.AlreadyExistsError(f"a {what} stream handler for topic {topic!r} is already registered")
        if self.live:
            self.ffi_register_stream(kind, topic)
        table[topic] = handler

    def unregister_stream(self, kind: Any, topic: str) -> None:
        """Removes a stream handler (no error if none is registered)."""
        table: Dict[str, Any] = self.text_handlers if kind == pb.STREAM_KIND_TEXT else self.byte_handlers
        if table.pop(topic, None) is None or not self.live:
            return
        try:
            self.request(
                pb.Request(unregister_stream_handler=pb.UnregisterStreamHandlerRequest(room_handle=self.handle, kind=kind, topic=topic))
            )
        except errors.NotFoundError:
            pass

    def ffi_register_stream(self, kind: Any, topic: str) -> None:
        """Registers a stream topic with the library (credit-based readers)."""
        self.request(
            pb.Request(
                register_stream_handler=pb.RegisterStreamHandlerRequest(
                    room_handle=self.handle,
                    kind=kind,
                    topic=topic,
                    delivery=pb.DELIVERY_MODE_CREDITS,
                    initial_credits=READER_WINDOW,
                )
            )
        )

    async def open_writer(self, req: pb.Request) -> Union[TextStreamWriter, ByteStreamWriter]:
        """Opens an incremental stream writer (open_text_writer / open_byte_writer)."""
        client = self.require_client()

        def on_result(comp: pb.Completion) -> Union[TextStreamWriter, ByteStreamWriter]:
            owned = getattr(comp, comp.WhichOneof("result") or "open_text_writer")
            client.adopt(owned.handle, self.handle)
            if owned.WhichOneof("info") == "bytes":
                return ByteStreamWriter(self, client, owned.handle, ByteStreamInfo._from_proto(owned.bytes))
            return TextStreamWriter(self, client, owned.handle, TextStreamInfo._from_proto(owned.text))

        w: Union[TextStreamWriter, ByteStreamWriter] = await client.request_async(req, on_result=on_result)
        return w

    # -- E2EE ----------------------------------------------------------------------------------

    @property
    def e2ee_enabled(self) -> bool:
        """True when the room is configured with end-to-end encryption."""
        return self.options.e2ee is not None

    def set_shared_key(self, key: bytes, key_index: int) -> None:
        """Replaces the E2EE shared key at ``key_index``."""
        self.request(
            pb.Request(set_shared_key=pb.SetSharedKeyRequest(room_handle=self.require_handle(), shared_key=bytes_arg(key, "key"), key_index=key_index))
        )

    def e2ee_stats(self) -> E2EEStats:
        """The library's E2EE counters and participants' states (the final ones after the room
        was released)."""
        if self.final_e2ee_stats is not None:
            return self.final_e2ee_stats
        client = self.client
        if client is None or client.closed or not self.live:
            return E2EEStats(enabled=self.e2ee_enabled)
        r = client.request(pb.Request(get_e2ee_stats=pb.GetE2eeStatsRequest(room_handle=self.handle))).get_e2ee_stats
        from .room import EncryptionState

        # Read-only: the final stats are handed out again after the room was released.
        states = MappingProxyType({identity: enum_value(EncryptionState, s) for identity, s in r.participant_states.items()})
        return E2EEStats(r.enabled, r.decryption_failures, r.events_suppressed, states)
