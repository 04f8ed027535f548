"""Helpers for the server tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable, Optional

import lkcore

#: Hang guard for anything that waits on the network (never a performance assertion).
GUARD = 15.0


class EventWaiter:
    """Records one room event kind from the moment it is created and lets a test wait for a
    matching occurrence (so an event that arrives before the wait is not missed)."""

    def __init__(self, room: lkcore.Room, name: str) -> None:
        self.seen: "list[tuple[Any, ...]]" = []
        self._cond = asyncio.Condition()
        room.on(name, self._on)

    def _on(self, *args: Any) -> None:
        self.seen.append(args)

        async def notify() -> None:
            async with self._cond:
                self._cond.notify_all()

        asyncio.ensure_future(notify())

    async def wait(self, pred: Optional[Callable[..., bool]] = None, timeout: float = GUARD) -> "tuple[Any, ...]":
        async def find() -> "tuple[Any, ...]":
            async with self._cond:
                while True:
                    for args in self.seen:
                        if pred is None or pred(*args):
                            return args
                    await self._cond.wait()

        return await asyncio.wait_for(find(), timeout)


async def connect(url: str, token: str, **kw: Any) -> lkcore.Room:
    room = lkcore.Room(kw.pop("options", None), **kw)
    await asyncio.wait_for(room.connect(url, token), GUARD)
    return room


@contextlib.asynccontextmanager
async def published_track(
    url: str,
    token_for: Callable[[str], str],
    name: str,
    *,
    options: Optional[lkcore.RoomOptions] = None,
    bob_options: Optional[lkcore.RoomOptions] = None,
    at_join: bool = False,
    **publish: Any,
) -> AsyncIterator["tuple[lkcore.Room, lkcore.Room, lkcore.LocalDataTrack, lkcore.RemoteDataTrack]"]:
    """Alice (connected with `options`) and bob (with `bob_options`) in a room, alice's data
    track `name` published (with the `publish` arguments) and bob told about it — by an event,
    or with `at_join` published before bob joined, in his connect snapshot: yields (alice, bob,
    track, remote), then disconnects both."""
    alice = await connect(url, token_for("alice"), options=options)
    bob: Optional[lkcore.Room] = None
    try:
        if at_join:
            track = await alice.local_participant.publish_data_track(name, **publish)
            bob = await connect(url, token_for("bob"), options=bob_options)
            remote = bob.remote_participants["alice"].data_tracks[name]
        else:
            bob = await connect(url, token_for("bob"), options=bob_options)
            published = EventWaiter(bob, "data_track_published")
            track = await alice.local_participant.publish_data_track(name, **publish)
            (remote,) = await published.wait()
        yield alice, bob, track, remote
    finally:
        await alice.disconnect()
        if bob is not None:
            await bob.disconnect()


def _control_url(url: str, path: str, params: "dict[str, str]") -> str:
    import urllib.parse

    base = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/")
    return f"{base}/devsfu/{path}?{urllib.parse.urlencode(params)}"


def control(url: str, path: str, **params: str) -> None:
    """POSTs to a devsfu fault-injection endpoint (``lkcore-devsfu --control``)."""
    import urllib.request

    req = urllib.request.Request(_control_url(url, path, params), method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status in (200, 204), resp.status


def control_get(url: str, path: str, **params: str) -> Any:
    """GETs a devsfu control endpoint's JSON (``lkcore-devsfu --control``)."""
    import json
    import urllib.request

    with urllib.request.urlopen(_control_url(url, path, params), timeout=10) as resp:
        return json.loads(resp.read())
