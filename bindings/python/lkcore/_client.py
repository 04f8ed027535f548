"""The FFI client: requests, asynchronous operations, event delivery and handles.

One :class:`Client` is one ``lk_client_new`` client in *pull mode*, read by the asyncio loop
itself: the client gives the library the write end of a non-blocking pipe
(``SetEventNotifyFdRequest``); the library writes a byte when an event is queued, the loop
watches the read end (``loop.add_reader``) and, on the loop's thread, pulls the queued events
with ``lk_client_next_event(client, 0)`` until none is left, decoding and dispatching each in
the library's order. No other thread is involved: an event costs one wake-up of the loop's
thread and no GIL hand-off between threads (that hand-off, under CPU load, made the latency
tail). No foreign-thread callback into Python is ever made, so nothing can call into a
finalizing interpreter.

Where the platform has no such descriptors (Windows), a dedicated thread
(``lkcore-events-<id>``) blocks in ``lk_client_next_event`` instead (ctypes releases the GIL
while it waits) and hands events to the loop with ``loop.call_soon_threadsafe``; closing the
client ends it. It hands over at most ``_BATCHES_IN_FLIGHT`` batches the loop has not dispatched
yet (kept until a loop is bound, if none is yet) and otherwise waits, leaving the events in the
library, whose bounds then hold back the room's data (as when the loop pulls them itself).

Log records are forwarded to the :mod:`logging` logger ``"lkcore"``.

Asynchronous operations pick a request id, register a future under it *before* calling
``lk_request``, and are resolved by the matching ``Event.completion``. Cancelling the awaiting
task sends a ``CancelRequest``.

Handles are tracked per client (so a handle is released once, with its children):
:attr:`Client.live_handles` is the library's count of handles issued to the host and not yet
released. Objects that own a handle release it when garbage collected, without raising.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import numbers
import os
import sys
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple, Type, TypeVar, Union

from . import errors
from ._lib import LK_ERR_CLIENT_CLOSED, LK_ERR_TIMEOUT, LK_OK, Library, load_library
from ._proto import lkcore_ffi_pb2 as pb

__all__ = ["Client", "VersionInfo", "live_clients", "version"]

logger = logging.getLogger("lkcore")
_lib_logger = logging.getLogger("lkcore.lib")

_LEVEL_TO_PY = {
    pb.LOG_LEVEL_DEBUG: logging.DEBUG,
    pb.LOG_LEVEL_INFO: logging.INFO,
    pb.LOG_LEVEL_WARN: logging.WARNING,
    pb.LOG_LEVEL_ERROR: logging.ERROR,
}

_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()
_clients_lock = threading.Lock()

EventHandler = Callable[[pb.Event], None]


@dataclass(frozen=True)
class VersionInfo:
    """The versions a loaded liblkcore reports (``GetVersionRequest``).

    Attributes:
        abi_version: ``(major, minor)`` of the C ABI, as :func:`lkcore.abi_version`.
        schema: protobuf package of the FFI messages, ``"lkcore.ffi.v1"``.
        library_version: the Go module version the library was built from, for bug reports
            (a pseudo-version with the commit for a build from a git checkout, ``"(devel)"``
            when the build had no version information); informational, never parsed.
    """

    abi_version: "tuple[int, int]"
    schema: str
    library_version: str


def _version_from(resp: pb.Response) -> VersionInfo:
    v = resp.get_version
    return VersionInfo((v.abi_version >> 16, v.abi_version & 0xFFFF), v.schema, v.library_version)


def version(lib_path: Optional[Union[str, "os.PathLike[str]"]] = None) -> VersionInfo:
    """Returns the versions of the library (loaded as :func:`lkcore.load_library` does).

    Uses a short-lived native client of its own; :meth:`Client.version` asks an open one.
    """
    lib = load_library(lib_path)
    cid = lib.client_new()
    if cid == 0:
        raise errors.InternalError("lk_client_new failed")
    try:
        st, out = lib.request(cid, pb.Request(get_version=pb.GetVersionRequest()).SerializeToString())
        if out is None:
            raise errors.error_for_code(st, lib.status_name(st))
        resp = pb.Response.FromString(out)
        if resp.HasField("error"):
            raise error_from_proto(resp.error)
        return _version_from(resp)
    finally:
        lib.client_close(cid, 1000)


#: Largest millisecond value of the schema's uint32 timeout fields (about 49.7 days).
MAX_TIMEOUT_MS = 2**32 - 1


def seconds_to_ms(seconds: float, what: str, cap: int = MAX_TIMEOUT_MS) -> int:
    """A duration in seconds as a uint32 millisecond field of a request or of RoomOptions.

    0 stays 0 (the field's "unset": the library's default); a positive value is at least 1 ms;
    values beyond the field (``inf`` included) are capped at ``cap`` (:data:`MAX_TIMEOUT_MS`).

    Raises:
        InvalidArgumentError: negative or NaN.
        TypeError: not a number.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"{what} is a number of seconds, not {type(seconds).__name__}")
    seconds = float(seconds)
    if seconds != seconds or seconds < 0:
        raise errors.InvalidArgumentError(f"{what} must be a non-negative number of seconds, not {seconds}")
    if seconds == 0:
        return 0
    if seconds * 1000 >= cap:
        return cap
    return max(1, int(seconds * 1000))


_E = TypeVar("_E", bound=enum.IntEnum)


def enum_value(cls: Type[_E], v: int) -> _E:
    """The member of ``cls`` numbered ``v``; the unspecified member (0) for a number this binding
    does not know (a value from a newer library)."""
    try:
        return cls(v)
    except ValueError:
        return cls(0)


def bytes_arg(value: Any, what: str) -> bytes:
    """``value`` as bytes when it is bytes-like (bytes, bytearray, memoryview), else TypeError.

    Never ``bytes(value)`` on anything else: ``bytes(16)`` is sixteen NUL bytes, not an error.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(value).__name__}")


def live_clients() -> "list[Client]":
    """Returns the clients of this process that are not closed (diagnostics and tests)."""
    with _clients_lock:
        return [c for c in _clients if not c.closed]


def error_from_proto(e: pb.Error) -> errors.LkError:
    """Converts an ``lkcore.ffi.v1.Error`` into the matching exception."""
    if e.code == pb.ERROR_CODE_RPC_ERROR and e.HasField("rpc"):
        return errors.RpcError(e.rpc.code, e.rpc.message, e.rpc.data or None)
    return errors.error_for_code(e.code, e.message, e.retryable)


def py_level_to_lib(level: int) -> Any:
    """Maps a :mod:`logging` level to the library's LogLevel."""
    if level <= logging.DEBUG:
        return pb.LOG_LEVEL_DEBUG
    if level <= logging.INFO:
        return pb.LOG_LEVEL_INFO
    if level <= logging.WARNING:
        return pb.LOG_LEVEL_WARN
    if level <= logging.CRITICAL:
        return pb.LOG_LEVEL_ERROR
    return pb.LOG_LEVEL_OFF


#: Largest lk_client_close timeout passed on (int32 milliseconds, about 24.8 days).
_MAX_CLOSE_MS = 2**31 - 1


def _close_timeout_ms(timeout: float) -> int:
    """A close timeout in seconds as lk_client_close's int32 milliseconds (at least 1, capped).

    Raises InvalidArgumentError for a negative or NaN timeout, TypeError for a non-number.
    """
    return max(1, seconds_to_ms(timeout, "timeout", cap=_MAX_CLOSE_MS))


def _close_native(lib: Library, cid: int, timeout_ms: int, notifier: "Optional[_Notifier]") -> int:
    st = lib.client_close(cid, timeout_ms)
    if notifier is not None:
        notifier.close()  # the library writes no more once lk_client_close returned
    return st


class _Notifier:
    """The pipe the library signals queued events on, and its registration with a loop.

    Held by the client and by its finalizer (never the other way round), so a client that is
    garbage collected still has its reader removed and its descriptors closed.
    """

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed = False

    def attach(self, loop: asyncio.AbstractEventLoop, ref: "weakref.ReferenceType[Client]") -> None:
        """Watches the read end on ``loop`` (called on the loop's thread)."""
        self.loop = loop
        loop.add_reader(self.r, _on_notify, ref)

    def drain(self) -> None:
        """Empties the pipe (a few bytes at most)."""
        try:
            while os.read(self.r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Removes the reader and closes both ends, on the loop's thread if it still runs.

        Idempotent; callable from any thread (finalizers included).
        """
        if self._closed:
            return
        self._closed = True
        loop = self.loop
        if loop is None or loop.is_closed():
            self._close_fds()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            # On the loop's thread, or the loop is stopped: nothing is waiting on the pipe now,
            # and a stopped loop may be closed without running again, which would discard a
            # scheduled callback (and leak both descriptors).
            self._detach()
            return
        try:
            loop.call_soon_threadsafe(self._detach)
        except RuntimeError:  # closed meanwhile
            self._close_fds()

    def _detach(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.remove_reader(self.r)
            except Exception:  # pragma: no cover - loop shutting down
                pass
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


def _on_notify(ref: "weakref.ReferenceType[Client]") -> None:
    """Loop callback: the notify pipe is readable (or a previous drain was cut short)."""
    client = ref()
    if client is not None:
        client._pull_on_loop(ref)


#: Messages of the push fast path's status codes (it returns a code, not a message).
_PUSH_MESSAGES: Dict[int, str] = {
    pb.ERROR_CODE_QUEUE_FULL: "the data track's send queue is full; nothing was queued "
    "(retry later, or await push() to wait for space)",
    pb.ERROR_CODE_FAILED_PRECONDITION: "a full reconnect is publishing the data track again; "
    "nothing was queued (retry later, or await push() to wait)",
    pb.ERROR_CODE_TRACK_UNPUBLISHED: "the data track is not published",
    pb.ERROR_CODE_PAYLOAD_TOO_LARGE: "the frame is too large for a data track",
    pb.ERROR_CODE_INVALID_HANDLE: "the data track was released",
}

#: Events taken from the library per hand-over to the loop (one wake-up per batch).
_BATCH = 128
#: Event thread only: batches handed to the loop and not dispatched yet, at most.
_BATCHES_IN_FLIGHT = 4
#: Event thread only: how often (seconds) a thread waiting for a slot checks that its client
#: is still open and alive.
_SLOT_POLL = 0.1


def _decode(data: bytes) -> Optional[pb.Event]:
    """Decodes one event; a log record is forwarded here (None), as is an event kind from a
    newer library (ignored). Otherwise the event, to dispatch."""
    ev = pb.Event.FromString(data)
    kind = ev.WhichOneof("message")
    if kind == "log":
        _forward_log(ev.log)
        return None
    return ev if kind is not None else None


def _pull_events(lib: Library, cid: int, ref: "weakref.ReferenceType[Client]") -> None:
    """Body of the event thread: pulls until the client is closed.

    It blocks for the first event, then takes what is already queued (without waiting) and
    hands the batch to the loop at once, so a burst of events costs one loop wake-up. Before
    pulling, it waits for one of the client's ``_BATCHES_IN_FLIGHT`` slots (freed as the loop
    dispatches a batch), holding no reference to the client meanwhile, so an unused client can
    still be collected.
    """
    client = ref()
    if client is None:
        return
    slots = client._slots
    del client
    while True:
        while not slots.acquire(timeout=_SLOT_POLL):
            client = ref()
            if client is None or client._closed:
                return
            del client
        try:
            st, data = lib.next_event(cid, -1)
        except BaseException:  # pragma: no cover - interpreter shutdown
            return
        if st == LK_OK and data is not None:
            batch = [data]
            while len(batch) < _BATCH:
                st2, more = lib.next_event(cid, 0)
                if st2 != LK_OK or more is None:
                    break
                batch.append(more)
            client = ref()
            if client is None:
                return  # collected: its finalizer closes the native client
            try:
                client._on_events(batch)  # takes over the slot
            except Exception:  # pragma: no cover - defensive: never kill the thread
                logger.exception("lkcore: failed to handle events")
            del client
            continue
        slots.release()  # nothing pulled
        if st == LK_ERR_CLIENT_CLOSED:
            return
        if st != LK_ERR_TIMEOUT:  # harmless; anything else ends delivery
            logger.error("lkcore: lk_client_next_event failed: %s", lib.status_name(st))
            return


class Client:
    """An independent liblkcore client (own handles and event stream; on POSIX its events are
    pulled by the loop itself, elsewhere by an event thread: see the module docstring).

    A :class:`~lkcore.Room` creates a private client unless one is passed in. A client is
    bound to the first asyncio event loop that uses it. Close it with :meth:`aclose` or
    :meth:`close` (idempotent); garbage collection closes it too.

    Args:
        lib_path: explicit path of liblkcore (see :func:`lkcore.load_library`).

    Raises:
        IoError: the event notification pipe could not be created (e.g. out of file
            descriptors). A failed construction closes the native client it had made.
    """

    def __init__(self, lib_path: Optional[Union[str, "os.PathLike[str]"]] = None) -> None:
        self._lib = load_library(lib_path)
        cid = self._lib.client_new()
        if cid == 0:
            # In a child forked after the library was loaded, every C function says so.
            st = self._lib.handle_drop(0, 0)
            if st == pb.ERROR_CODE_FORKED:
                raise errors.error_for_code(st, "the library was loaded before this process was forked")
            raise errors.InternalError("lk_client_new failed")
        self._id = cid
        self._closed = False
        self._notifier: Optional[_Notifier] = None
        self._thread: Optional[threading.Thread] = None
        try:
            self._lock = threading.RLock()
            self._loop: Optional[asyncio.AbstractEventLoop] = None
            # Event thread only: batches pulled before a loop was bound, and the slots that
            # bound the batches handed to the loop and not dispatched yet (_pull_events).
            self._backlog: Deque[List[pb.Event]] = deque()
            self._slots = threading.BoundedSemaphore(_BATCHES_IN_FLIGHT)
            self._handed = 0  # batches holding a slot (under _lock)
            # request id -> (future, on_result) of pending ASYNC operations (touched on the loop only)
            self._pending: Dict[int, Tuple["asyncio.Future[Any]", Optional[Callable[[pb.Completion], Any]]]] = {}
            self._routes: Dict[int, "weakref.WeakMethod[EventHandler]"] = {}
            self._ids = itertools.count(1)
            self._handles: Dict[int, int] = {}  # live handle -> parent handle (0 = none)
            self._notifier = self._make_notifier()
            self._finalizer = weakref.finalize(self, _close_native, self._lib, cid, 1000, self._notifier)
            if self._notifier is None:
                self._thread = threading.Thread(
                    target=_pull_events,
                    args=(self._lib, cid, weakref.ref(self)),
                    name=f"lkcore-events-{cid}",
                    daemon=True,
                )
                self._thread.start()
            with _clients_lock:
                _clients.add(self)
            self.set_log_level(logger.getEffectiveLevel())
        except BaseException:
            # Never leak the native client (nor the pipe) of a half-made Client.
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Closes what a failed ``__init__`` had made, never raising."""
        self._closed = True
        with _clients_lock:
            _clients.discard(self)
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer.detach()
        try:
            _close_native(self._lib, self._id, 1000, self._notifier)
        except Exception:  # pragma: no cover - defensive
            logger.exception("lkcore: closing a half-made client failed")

    def _make_notifier(self) -> "Optional[_Notifier]":
        """Sets up loop-driven delivery (SetEventNotifyFdRequest); None = use the event thread."""
        if sys.platform == "win32":
            return None
        try:
            n = _Notifier()
        except OSError as e:  # e.g. EMFILE: out of file descriptors
            raise errors.IoError(f"cannot create the client's event notification pipe: {e}") from e
        try:
            self.request(pb.Request(set_event_notify_fd=pb.SetEventNotifyFdRequest(fd=n.w)))
        except errors.UnimplementedError:
            n.close()
            return None
        except BaseException:
            n.close()
            raise
        return n

    # -- properties ----------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """The native client id."""
        return self._id

    @property
    def lib(self) -> Library:
        """The loaded library."""
        return self._lib

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has started."""
        return self._closed

    @property
    def live_handles(self) -> int:
        """Handles issued to this client and not released yet, as the library counts them
        (0 once the client is closed)."""
        if self._closed:
            return 0
        try:
            resp = self.request(pb.Request(get_client_stats=pb.GetClientStatsRequest()))
        except errors.ClientClosedError:
            return 0
        return resp.get_client_stats.live_handles

    def version(self) -> VersionInfo:
        """The versions of the library this client runs on (see :class:`VersionInfo`)."""
        return _version_from(self.request(pb.Request(get_version=pb.GetVersionRequest())))

    # -- requests ------------------------------------------------------------------------------

    def request(self, req: pb.Request) -> pb.Response:
        """Sends one synchronous request and returns its Response.

        Raises the :class:`~lkcore.errors.LkError` subclass matching ``Response.error``.
        """
        st, out = self._lib.request(self._id, req.SerializeToString())
        if out is None:
            raise errors.error_for_code(st, self._lib.status_name(st))
        resp: pb.Response = pb.Response.FromString(out)
        if resp.HasField("error"):
            raise error_from_proto(resp.error)
        if st != LK_OK:  # pragma: no cover - status and Response.error always agree
            raise errors.error_for_code(st, self._lib.status_name(st))
        return resp

    async def request_async(
        self,
        req: pb.Request,
        timeout: Optional[float] = None,
        on_result: Optional[Callable[[pb.Completion], Any]] = None,
    ) -> Any:
        """Starts an ASYNC request and waits for its completion.

        Args:
            req: the request (its ``request_id`` is assigned here).
            timeout: library-side deadline in seconds (``Request.timeout_ms``); None = the
                operation's default; 0 expires at once; capped at about 49.7 days (``inf``
                included); negative or NaN raises InvalidArgumentError.
            on_result: called with a successful Completion *at its place in the event
                order* (before any later event is dispatched); its return value becomes the
                result. Objects created from a completion (rooms, tracks, writers) are built
                here so no event about them can arrive before they exist. If it raises, that
                exception is raised here and every handle the completion hands over
                (``Completion.owned_handles``) is released.

        Returns:
            ``on_result(completion)``, or the Completion when no on_result is given.

        Raises the LkError of a failed completion. Cancelling the awaiting task cancels the
        operation in the library.
        """
        loop = self._bind_loop()
        rid = next(self._ids)
        req.request_id = rid
        if timeout is not None:
            # 0 expires at once (the field's 0 would be the operation's default).
            req.timeout_ms = max(1, seconds_to_ms(timeout, "timeout"))
        fut: "asyncio.Future[Any]" = loop.create_future()
        with self._lock:
            # Under the lock close() takes its snapshot of the pending operations with: either
            # close() sees this one (and fails it), or this sees the client closed. Registered
            # unlocked, a close() between the check in _bind_loop and here could miss it while
            # lk_request still got in before lk_client_close, which then abandons the operation
            # without a completion: the await below would never return.
            if self._closed:
                raise errors.ClientClosedError("the client is closed")
            self._pending[rid] = (fut, on_result)
        try:
            self.request(req)
        except BaseException:
            self._pending.pop(rid, None)
            raise
        try:
            return await fut
        except asyncio.CancelledError:
            if self._pending.pop(rid, None) is not None and not self._closed:
                try:
                    self.request(pb.Request(cancel=pb.CancelRequest(target_request_id=rid)))
                except errors.LkError:
                    pass
                # The CANCELLED completion (or a result that raced it) is then handled by
                # _on_orphan_completion, which releases the handles it hands over
                # (Completion.owned_handles).
            raise

    def set_log_level(self, level: int) -> None:
        """Sets the minimum level of forwarded library logs from a :mod:`logging` level."""
        self.request(pb.Request(set_log_level=pb.SetLogLevelRequest(level=py_level_to_lib(level))))

    def push_frame(
        self, track_handle: int, payload: bytes, user_timestamp: Optional[int], paced: bool = False
    ) -> None:
        """Fast path ``lk_data_track_push`` (``lk_data_track_push_paced`` if ``paced``: refused
        where the waiting push would wait); raises on any status but OK."""
        st = self._lib.data_track_push(self._id, track_handle, payload, user_timestamp, paced)
        if st != LK_OK:
            retryable = st in (pb.ERROR_CODE_QUEUE_FULL, pb.ERROR_CODE_FAILED_PRECONDITION)
            raise errors.error_for_code(st, _PUSH_MESSAGES.get(st, ""), retryable=retryable)

    # -- handles -------------------------------------------------------------------------------

    def adopt(self, handle: int, parent: int = 0) -> None:
        """Records a handle transferred to the host (``Owned*`` messages)."""
        if handle == 0:
            return
        with self._lock:
            if not self._closed:
                self._handles[handle] = parent

    def drop(self, handle: int) -> None:
        """Releases a handle and its children. Idempotent; never raises (safe in finalizers)."""
        with self._lock:
            if self._closed or handle not in self._handles:
                return
            self._forget(handle)
        try:
            st = self._lib.handle_drop(self._id, handle)
        except Exception:  # pragma: no cover - interpreter shutdown
            return
        if st not in (LK_OK, LK_ERR_CLIENT_CLOSED):
            logger.debug("lkcore: lk_handle_drop(%d) returned %s", handle, self._lib.status_name(st))

    def _forget(self, handle: int) -> None:
        self._handles.pop(handle, None)
        self._routes.pop(handle, None)
        children = [h for h, p in self._handles.items() if p == handle]
        for h in children:
            self._forget(h)

    def route(self, handle: int, method: EventHandler) -> None:
        """Delivers events about ``handle`` to ``method`` (a bound method, held weakly)."""
        with self._lock:
            self._routes[handle] = weakref.WeakMethod(method)

    def unroute(self, handle: int) -> None:
        """Stops delivering events about ``handle``."""
        with self._lock:
            self._routes.pop(handle, None)

    # -- event delivery ------------------------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise errors.ClientClosedError("the client is closed")
            if self._loop is None:
                self._loop = loop
                if self._notifier is not None:
                    self._notifier.attach(loop, weakref.ref(self))
                while self._backlog:
                    loop.call_soon_threadsafe(self._dispatch_batch, self._backlog.popleft())
            elif self._loop is not loop:
                raise RuntimeError("this lkcore client is bound to another event loop")
        return loop

    def _pull_on_loop(self, ref: "weakref.ReferenceType[Client]") -> None:
        """Runs on the loop when the library signalled: pulls and dispatches what is queued.

        The pipe is emptied first, then events are pulled until the library reports none
        (which re-arms its notification), so no event is missed. At most ``_BATCH`` events
        are handled per call; if more are queued the rest follows in a later loop iteration.
        """
        n = self._notifier
        if n is None or self._closed:
            return
        n.drain()
        lib, cid = self._lib, self._id
        for _ in range(_BATCH):
            st, data = lib.next_event(cid, 0)
            if st != LK_OK or data is None:
                return  # TIMEOUT: nothing left (notification re-armed); or closed
            ev = _decode(data)
            if ev is not None:
                self._dispatch(ev)
            if self._closed:
                return
        loop = self._loop
        if loop is not None:
            loop.call_soon(_on_notify, ref)  # not re-armed yet: continue on our own

    def _on_events(self, batch: "list[bytes]") -> None:
        """Runs on the event thread: decodes a batch, forwards logs, hands the rest to the loop.

        The batch holds one of ``_slots``: it goes with the events to ``_dispatch_batch``
        (through the backlog while no loop is bound), or is freed here when nothing is handed.
        """
        try:
            evs = [ev for ev in map(_decode, batch) if ev is not None]
        except BaseException:
            self._slots.release()
            raise
        if not evs:
            self._slots.release()
            return
        with self._lock:
            self._handed += 1
            loop = self._loop
            if loop is None:
                self._backlog.append(evs)
                return
        try:
            loop.call_soon_threadsafe(self._dispatch_batch, evs)
        except RuntimeError:  # the loop is closed: nobody is left to receive the events
            self._batch_done()

    def _dispatch_batch(self, evs: "list[pb.Event]") -> None:
        """Dispatches a batch the event thread handed over (on the loop), then frees its slot."""
        try:
            for ev in evs:
                self._dispatch(ev)
        finally:
            self._batch_done()

    def _batch_done(self) -> None:
        with self._lock:
            self._handed -= 1
        self._slots.release()

    def _dispatch(self, ev: pb.Event) -> None:
        """Runs on the event loop, in event order."""
        kind = ev.WhichOneof("message")
        if kind == "completion":
            comp = ev.completion
            entry = self._pending.pop(comp.request_id, None)
            if entry is None or entry[0].done():
                self._on_orphan_completion(comp)
                return
            fut, on_result = entry
            if comp.HasField("error"):
                fut.set_exception(error_from_proto(comp.error))
            elif on_result is None:
                fut.set_result(comp)
            else:
                try:
                    fut.set_result(on_result(comp))
                except Exception as e:  # noqa: BLE001 - delivered to the waiter
                    # No object was handed to the waiter: release what the completion handed
                    # over (whatever on_result adopted, too) instead of leaking it.
                    self.release_handed_over(comp.owned_handles)
                    fut.set_exception(e)
            return
        if kind == "room":
            handle = ev.room.room_handle
        elif kind == "data_track_frame":
            handle = ev.data_track_frame.subscription_handle
        elif kind == "data_track_subscription_ended":
            handle = ev.data_track_subscription_ended.subscription_handle
        elif kind == "stream_chunk":
            handle = ev.stream_chunk.reader_handle
        elif kind == "stream_ended":
            handle = ev.stream_ended.reader_handle
        else:
            return
        ref = self._routes.get(handle)
        method = ref() if ref is not None else None
        if method is None:
            if kind == "room":
                # Nobody to deliver it to: release what it hands over instead of leaking it,
                # exactly RoomEvent.owned_handles (ABI 1.11: a stream's reader, a published
                # track's auto-subscription, whatever kind the library adds).
                self.release_handed_over(ev.room.owned_handles, handle)
            return
        try:
            method(ev)
        except Exception:
            logger.exception("lkcore: event handler failed")

    def _on_orphan_completion(self, comp: pb.Completion) -> None:
        """Releases what a completion nobody waits for (cancelled waiter) hands over: every
        handle in ``Completion.owned_handles`` (ABI 1.10), which the library fills from the
        schema for any result kind (a published track, a stream writer, a connect's
        auto-subscriptions, ...)."""
        self.release_handed_over(comp.owned_handles)

    def release_handed_over(self, handles: Iterable[int], parent: int = 0, keep: int = 0) -> None:
        """Drops every handle a completion or room event hands over (its ``owned_handles``) but
        ``keep`` (one an object took over), adopted first under ``parent`` so that the drop
        reaches the library whether or not the handle was recorded yet."""
        for h in handles:
            if h != keep:
                self.adopt(h, parent)
                self.drop(h)

    # -- closing -------------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Closes the client: rooms disconnect, handles are released, event delivery ends.

        Idempotent and callable from any thread. Pending operations fail with
        :class:`~lkcore.errors.ClientClosedError`. Waits at most ``timeout`` seconds for the
        library's teardown (larger values are capped at about 24 days).

        Raises:
            OperationTimeoutError: the teardown did not finish within ``timeout``. The client
                is closed for Python all the same (every call fails with ClientClosedError);
                the library finishes the teardown on its own, and garbage collection of the
                client waits for it once more.
            InvalidArgumentError: ``timeout`` is negative or NaN.
        """
        ms = _close_timeout_ms(timeout)
        state = self._begin_close()
        if state is not None:
            self._finish_close(state, ms)

    def _close_in_background(self, timeout: float) -> None:
        """Starts :meth:`close` for a finalizer without blocking the thread the garbage
        collector runs on (often the loop's): the client is marked closed at once, the
        library's teardown runs on a daemon thread (``lkcore-close-<id>``) bounded by
        ``timeout``, whose failure is logged."""
        ms = _close_timeout_ms(timeout)
        state = self._begin_close()
        if state is None:
            return

        def run() -> None:
            try:
                self._finish_close(state, ms)
            except Exception as e:  # noqa: BLE001 - a finalizer's work: logged, never raised
                logger.warning("lkcore: closing client %d failed: %s", self._id, e)

        try:
            threading.Thread(target=run, name=f"lkcore-close-{self._id}", daemon=True).start()
        except RuntimeError:  # no new thread at interpreter shutdown: close here instead
            run()

    def _begin_close(
        self,
    ) -> "Optional[Tuple[list[asyncio.Future[Any]], Optional[asyncio.AbstractEventLoop]]]":
        """Marks the client closed (cheap, never blocks): returns the pending futures and the
        loop to fail them on, or None when it was closed already."""
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            self._handles.clear()
            self._routes.clear()
            # list() copies the values in one step (the loop thread pops completions without
            # the lock; iterating the live view could meet a change of size and raise).
            pending = [f for f, _ in list(self._pending.values())]
            self._pending.clear()
            loop = self._loop
        with _clients_lock:
            _clients.discard(self)
        return pending, loop

    def _finish_close(
        self,
        state: "Tuple[list[asyncio.Future[Any]], Optional[asyncio.AbstractEventLoop]]",
        timeout_ms: int,
    ) -> None:
        """The blocking part of :meth:`close`: the library's teardown, bounded by timeout_ms."""
        pending, loop = state
        st = self._lib.client_close(self._id, timeout_ms)
        if st != LK_ERR_TIMEOUT:
            # On TIMEOUT the finalizer stays: it closes (waits) again when the client is
            # collected ("calling lk_client_close again waits again").
            self._finalizer.detach()
        # The library writes no more to the notify descriptor once lk_client_close returned,
        # whatever its status: the pipe can go.
        if self._notifier is not None:
            self._notifier.close()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout_ms / 1000)
        if pending and loop is not None:
            _fail_futures(loop, pending)
        if st == LK_ERR_TIMEOUT:
            logger.warning("lkcore: client %d: the library's teardown did not finish in %d ms", self._id, timeout_ms)
            raise errors.OperationTimeoutError(
                f"the client's teardown did not finish within {timeout_ms} ms (the library goes on with it)"
            )

    async def aclose(self, timeout: float = 5.0) -> None:
        """Async form of :meth:`close`: waits on a short-lived helper thread, not the loop."""
        if self._closed:
            return
        await _run_blocking(self.close, timeout)

    def __repr__(self) -> str:
        return f"<lkcore.Client id={self._id}{' closed' if self._closed else ''}>"


def _fail_futures(loop: asyncio.AbstractEventLoop, futs: "list[asyncio.Future[Any]]") -> None:
    def fail() -> None:
        for f in futs:
            if not f.done():
                f.set_exception(errors.ClientClosedError("the client was closed"))

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fail()
    else:
        try:
            loop.call_soon_threadsafe(fail)
        except RuntimeError:
            pass


def _start_blocking(fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
    """Starts a blocking call on a dedicated daemon thread (``lkcore-close``) that ends with
    it, and returns a future of the running loop resolved with its outcome.

    The thread never waits for the loop: if the loop is closed before the call returns, the
    outcome is dropped.
    """
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[Any]" = loop.create_future()

    def done(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def run() -> None:
        try:
            r = fn(*args)
        except BaseException as e:  # noqa: BLE001 - forwarded to the awaiting task
            ok, value = False, e
        else:
            ok, value = True, r
        try:
            loop.call_soon_threadsafe(done, ok, value)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    threading.Thread(target=run, name="lkcore-close", daemon=True).start()
    return fut


async def _run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs a blocking call on a dedicated thread that ends with it (no lingering pool).

    Cancelling the awaiting task returns at once, without blocking the loop: the call goes on
    to its end on its thread.
    """
    return await asyncio.shield(_start_blocking(fn, *args))


def _forward_log(rec: pb.LogRecord) -> None:
    level = _LEVEL_TO_PY.get(rec.level, logging.INFO)
    if not _lib_logger.isEnabledFor(level):
        return
    attrs = " ".join(f"{k}={v}" for k, v in sorted(rec.attributes.items()))
    msg = rec.message if not attrs else f"{rec.message} {attrs}"
    if rec.dropped_before:
        msg += f" ({rec.dropped_before} earlier records dropped)"
    record = _lib_logger.makeRecord(
        _lib_logger.name,
        level,
        "liblkcore",
        0,
        msg,
        (),
        None,
        extra={"lkcore_attributes": dict(rec.attributes)},
    )
    if rec.time_unix_ms:
        record.created = rec.time_unix_ms / 1000.0
        record.msecs = rec.time_unix_ms % 1000
    _lib_logger.handle(record)
