"""Credit-based delivery shared by data-track subscriptions and stream readers.

The library delivers one item (frame or chunk) per credit (``DELIVERY_MODE_CREDITS``). The
consumer starts with ``window`` credits and gives credits back as the application takes items,
in batches, so the Python-side buffer never holds more than ``window`` items and a slow
consumer pushes back on the library's bounded buffer instead of growing memory here. Every
data-track subscription is delivered this way, auto-subscriptions included (the binding sets
``RoomOptions.auto_subscription_delivery``), and so is every stream reader.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Deque, Generic, Optional, TypeVar

from . import errors
from ._client import Client
from ._proto import lkcore_ffi_pb2 as pb

T = TypeVar("T")


class CreditQueue(Generic[T]):
    """An asyncio queue of items delivered against credits, with an end marker."""

    def __init__(self, client: Client, handle: int, window: int) -> None:
        self._client = client
        self._handle = handle
        self._window = max(1, window)
        self._batch = max(1, self._window // 4)
        self._owed = 0  # items taken by the application whose credit is not returned yet
        self._items: Deque[T] = deque()
        # Every get() waiting for an item or the end (concurrent readers are allowed).
        self._waiters: "list[asyncio.Future[None]]" = []
        self._ended = False
        self._error: Optional[BaseException] = None

    @property
    def window(self) -> int:
        """Credits granted up front (initial_credits)."""
        return self._window

    def put(self, item: T) -> None:
        """Called on the loop when an item arrives (one per credit granted, so at most
        ``window`` are buffered here: nothing is ever evicted in Python)."""
        self._items.append(item)
        self._wake()

    def end(self, error: Optional[BaseException] = None) -> None:
        """Marks the end of the items; ``error`` is raised once the buffered items are taken."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._wake()

    @property
    def ended(self) -> bool:
        """True once the end was signalled (items may still be buffered)."""
        return self._ended

    def _wake(self) -> None:
        """Wakes every waiting get(): each re-checks the items and the end itself."""
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def get(self) -> T:
        """Returns the next item; raises StopAsyncIteration (or the end error) at the end.

        Concurrent calls are allowed: each item goes to one of them, and the end reaches all.
        """
        while not self._items:
            if self._ended:
                if self._error is not None:
                    err, self._error = self._error, None
                    raise err
                raise StopAsyncIteration
            w: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
            self._waiters.append(w)
            try:
                await w
            finally:
                if w in self._waiters:
                    self._waiters.remove(w)
        item = self._items.popleft()
        self._owed += 1
        if self._owed >= self._batch and not self._ended:
            self._grant()
        return item

    def _grant(self) -> None:
        n, self._owed = self._owed, 0
        try:
            self._client.request(
                pb.Request(grant_credits=pb.GrantCreditsRequest(handle=self._handle, credits=n))
            )
        except (errors.InvalidHandleError, errors.ClientClosedError, errors.EndOfStreamError):
            pass  # ended or released meanwhile: the end event follows or already came
        except errors.FailedPreconditionError:
            pass
