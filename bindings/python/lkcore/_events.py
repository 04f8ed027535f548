"""A small event emitter in the style of ``livekit.rtc.EventEmitter``."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, AsyncIterator, Callable, Dict, Generic, List, NamedTuple, Optional, Set, TypeVar

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
        self._iterators: List["asyncio.Queue[Optional[EmittedEvent]]"] = []

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
        for q in list(self._iterators):
            if q.full():
                try:
                    q.get_nowait()
                    logger.warning("lkcore: events() iterator is not keeping up; dropped an event")
                except asyncio.QueueEmpty:  # pragma: no cover
                    pass
            q.put_nowait(EmittedEvent(event, args))
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
        """Iterates over every emitted event as :class:`EmittedEvent` until the emitter closes.

        At most ``maxsize`` events (at least 1) are buffered for a slow consumer; older ones
        are dropped with a warning.

        Raises:
            InvalidArgumentError: ``maxsize`` is below 1 (an unbounded buffer is not offered).
        """
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize is an int, not {type(maxsize).__name__}")
        if maxsize < 1:
            raise InvalidArgumentError(f"maxsize must be at least 1, not {maxsize}")
        return self._events(maxsize)

    async def _events(self, maxsize: int) -> AsyncIterator[EmittedEvent]:
        q: "asyncio.Queue[Optional[EmittedEvent]]" = asyncio.Queue(maxsize)
        self._iterators.append(q)
        try:
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
        finally:
            if q in self._iterators:
                self._iterators.remove(q)

    def _close_iterators(self) -> None:
        for q in list(self._iterators):
            while q.full():
                q.get_nowait()
            q.put_nowait(None)
        self._iterators.clear()

    async def _cancel_handler_tasks(self) -> None:
        tasks = [t for t in self._handler_tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
