"""A small event emitter in the style of ``livekit.rtc.EventEmitter``."""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import weakref
from typing import Any, AsyncIterator, Callable, Deque, Dict, Generic, List, NamedTuple, Optional, Set, TypeVar

from .errors import InvalidArgumentError

__all__ = ["EventEmitter", "EmittedEvent"]

logger = logging.getLogger("lkcore")

T = TypeVar("T", bound=str)
F = TypeVar("F", bound=Callable[..., Any])


class EmittedEvent(NamedTuple):
    """One event as yielded by :meth:`EventEmitter.events`: its name and its arguments."""

    name: str
    args: "tuple[Any, ...]"


class EventEmitter(Generic[T]):
    """Registers handlers per event name and calls them in order of registration.

    Handlers may be plain functions or coroutine functions; coroutine handlers run as tasks
    owned by the emitter (cancelled by :meth:`_cancel_handler_tasks`). Exceptions raised by
    handlers are logged, never propagated into the library's event delivery.
    """

    def __init__(self) -> None:
        self._handlers: Dict[str, List[Callable[..., Any]]] = {}
        self._handler_tasks: Set["asyncio.Task[Any]"] = set()
        # The live events() iterators, held weakly: one its consumer dropped (a loop left with
        # break, say) is collected and gets no more events, without a close.
        self._iterators: "weakref.WeakSet[_EventIterator]" = weakref.WeakSet()
        self._iterators_closed = False  # events() iterators made from now on end at once

    def on(self, event: T, callback: Optional[F] = None) -> Any:
        """Registers ``callback`` for ``event``; usable as a decorator when callback is None."""
        if callback is None:

            def deco(fn: F) -> F:
                self.on(event, fn)
                return fn

            return deco
        self._handlers.setdefault(event, []).append(callback)
        return callback

    def once(self, event: T, callback: Optional[F] = None) -> Any:
        """Like :meth:`on`, but the handler is removed after its first call."""
        if callback is None:

            def deco(fn: F) -> F:
                self.once(event, fn)
                return fn

            return deco

        def wrapper(*args: Any) -> Any:
            self.off(event, wrapper)
            return callback(*args)

        return self.on(event, wrapper)

    def off(self, event: T, callback: Callable[..., Any]) -> None:
        """Removes a handler registered with :meth:`on` (no error if absent)."""
        lst = self._handlers.get(event)
        if lst and callback in lst:
            lst.remove(callback)

    def emit(self, event: T, *args: Any) -> None:
        """Calls the handlers of ``event`` with ``args`` and feeds :meth:`events` iterators."""
        for it in list(self._iterators):
            it._put(EmittedEvent(event, args))
        for cb in list(self._handlers.get(event, ())):
            try:
                res = cb(*args)
            except Exception:
                logger.exception("lkcore: handler for %r raised", event)
                continue
            if inspect.isawaitable(res):
                self._spawn(res, f"handler for {event!r}")

    def _spawn(self, aw: Any, what: str) -> "asyncio.Task[Any]":
        async def run() -> Any:
            try:
                return await aw
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("lkcore: %s raised", what)

        task = asyncio.get_running_loop().create_task(run())
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)
        return task

    def events(self, maxsize: int = 1024) -> AsyncIterator[EmittedEvent]:
        """Iterates over every event emitted from this call on, as :class:`EmittedEvent`, until
        the emitter closes.

        The iterator collects from the moment ``events()`` returns, not from its first
        ``__anext__``: ``it = room.events()`` before ``await room.connect(...)`` sees every event
        of the connection, whenever the loop over ``it`` starts. At most ``maxsize`` events (at
        least 1) are buffered for a slow consumer; older ones are dropped with a warning. The
        iterator stops collecting when it is closed (``aclose()``) or no longer referenced;
        made after the emitter closed for good (a Room after its final disconnect), it ends at
        once.

        Raises:
            InvalidArgumentError: ``maxsize`` is below 1 (an unbounded buffer is not offered).
        """
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize is an int, not {type(maxsize).__name__}")
        if maxsize < 1:
            raise InvalidArgumentError(f"maxsize must be at least 1, not {maxsize}")
        it = _EventIterator(maxsize)
        if self._iterators_closed:
            it._end()
        else:
            self._iterators.add(it)
        return it

    def _close_iterators(self) -> None:
        self._iterators_closed = True
        for it in list(self._iterators):
            it._end()
        self._iterators.clear()

    async def _cancel_handler_tasks(self) -> None:
        tasks = [t for t in self._handler_tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class _EventIterator:
    """An :meth:`EventEmitter.events` iterator: a bounded buffer the emitter fills (oldest
    dropped with a warning when full) and one consumer drains. Not thread-safe: the emitter and
    the consumer run on the same event loop."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._buf: Deque[EmittedEvent] = collections.deque()
        self._ended = False
        self._waiter: "Optional[asyncio.Future[None]]" = None

    def _put(self, ev: EmittedEvent) -> None:
        if self._ended:
            return
        if len(self._buf) >= self._maxsize:
            self._buf.popleft()
            logger.warning("lkcore: events() iterator is not keeping up; dropped an event")
        self._buf.append(ev)
        self._wake()

    def _end(self) -> None:
        """Ends the iterator once what it buffered is consumed."""
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> "_EventIterator":
        return self

    async def __anext__(self) -> EmittedEvent:
        if self._waiter is not None:
            # As an async generator does: a second concurrent reader would never be woken.
            raise RuntimeError("this events() iterator is already awaited by another task")
        while not self._buf:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._buf.popleft()

    async def aclose(self) -> None:
        """Stops collecting and drops what is buffered; the loop over the iterator then ends."""
        self._ended = True
        self._buf.clear()
        self._wake()
