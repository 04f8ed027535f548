"""Helpers for the server tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable, Optional

import lkcore
from lkcore._proto import lkcore_ffi_pb2 as pb
from lkcore.data_track import DataTrackInfo

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
async def alice_bob_carol(
    url: str, token_for: Callable[[str], str]
) -> AsyncIterator["tuple[lkcore.Room, lkcore.Room, lkcore.Room]"]:
    """Alice, bob and carol in a room, joined in that order, once alice knows carol (so all
    three know each other): yields (alice, bob, carol), then disconnects all three."""
    alice = await connect(url, token_for("alice"))
    rooms = [alice]
    try:
        rooms.append(await connect(url, token_for("bob")))
        # Listening before carol joins: her arrival may reach alice while carol's connect returns.
        alice_sees_carol = EventWaiter(alice, "participant_connected")
        rooms.append(await connect(url, token_for("carol")))
        await alice_sees_carol.wait(lambda p: p.identity == "carol")
        yield rooms[0], rooms[1], rooms[2]
    finally:
        for r in rooms:
            await r.disconnect()


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


class _SnapshotTap:
    """Stands in for a room's event route while a snapshot is awaited: compares the room's model
    with the snapshot when the RoomSnapshotTaken arrives, passes every event on to the room."""

    def __init__(self, room: lkcore.Room, found: "asyncio.Future[list[str]]") -> None:
        self.room, self.found = room, found

    def on_event(self, ev: pb.Event) -> None:
        if ev.room.WhichOneof("message") == "snapshot_taken" and not self.found.done():
            self.found.set_result(model_mismatches(self.room, ev.room.snapshot_taken.snapshot))
        self.room._on_ffi_event(ev)


def model_mismatches(room: lkcore.Room, snap: pb.ConnectResult) -> "list[str]":
    """How the binding's model of ``room`` (built from the connect snapshot and the events)
    differs from the library's snapshot ``snap`` taken at the same point of the events."""
    out: "list[str]" = []

    def same(what: str, model: Any, library: Any) -> None:
        if model != library:
            out.append(f"{what}: model {model!r}, library {library!r}")

    r = snap.room
    same("room", (room.sid, room.name, room.metadata, room.num_participants, room.num_publishers, room.is_recording,
                  room.empty_timeout, room.departure_timeout, int(room.connection_state)),
         (r.sid, r.name, r.metadata, r.num_participants, r.num_publishers, r.active_recording,
          r.empty_timeout_seconds, r.departure_timeout_seconds, r.connection_state))
    # The server, as Room.server shows it, against the snapshot's own fields (not through the
    # binding's conversion, which would hide a field it drops on both sides).
    server = room.server
    same("server",
         None if server is None else (int(server.edition), server.version, server.protocol, server.region,
                                      server.node_id),
         (r.server.edition, r.server.version, r.server.protocol, r.server.region, r.server.node_id)
         if r.HasField("server") else None)
    same("local participant", room.local_participant._info, snap.local_participant)
    library = {p.identity: p for p in snap.remote_participants}
    same("remote participants", sorted(room.remote_participants), sorted(library))
    for identity, p in room.remote_participants.items():
        if identity in library:
            same(f"participant {identity}", p._info, library[identity])
    # Active speakers (ABI 1.29): the binding's objects, in the binding's order, against the
    # library's identities; each participant's speaking state as its properties show it.
    same("active speakers", [p.identity for p in room.active_speakers], list(snap.active_speakers))
    same("active speakers are the model's objects",
         [p is room._participant(p.identity) for p in room.active_speakers], [True] * len(room.active_speakers))
    same("local speaking", (room.local_participant.is_speaking, room.local_participant.audio_level),
         (snap.local_participant.is_speaking, snap.local_participant.audio_level))
    for identity, p in room.remote_participants.items():
        if identity in library:
            same(f"participant {identity} speaking", (p.is_speaking, p.audio_level),
                 (library[identity].is_speaking, library[identity].audio_level))
    same("remote data tracks",
         {(identity, name): (t.info, t.subscription_revoked)
          for identity, p in room.remote_participants.items() for name, t in p.data_tracks.items()},
         {(t.publisher_identity, t.info.name): (DataTrackInfo._from_proto(t.info), t.subscription_revoked)
          for t in snap.remote_data_tracks})
    return out


async def assert_model_matches_library(room: lkcore.Room) -> None:
    """Asks the library for a snapshot at the current point of the room's event stream
    (RequestRoomSnapshot) and checks that the binding's model, with every event before the
    snapshot applied, holds the same room info (its server too), participants (their speaking
    state too), active speakers (in order) and remote data tracks: the model a binding keeps is the library's state, not an approximation of it."""
    client, handle = room.client, room._session.handle
    assert client is not None and handle
    found: "asyncio.Future[list[str]]" = asyncio.get_running_loop().create_future()
    tap = _SnapshotTap(room, found)
    client.route(handle, tap.on_event)
    try:
        client.request(pb.Request(request_room_snapshot=pb.RequestRoomSnapshotRequest(room_handle=handle)))
        mismatches = await asyncio.wait_for(found, GUARD)
    finally:
        client.route(handle, room._on_ffi_event)
    assert not mismatches, "\n".join(mismatches)


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
