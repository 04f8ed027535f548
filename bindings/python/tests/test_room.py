"""Rooms, participants and data packets end to end through liblkcore and lkcore-devsfu."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import socket

import pytest

import lkcore
from lkcore import errors
from lkcore._proto import lkcore_ffi_pb2 as pb

from helpers import GUARD, EventWaiter, alice_bob_carol, assert_model_matches_library, connect, control

pytestmark = pytest.mark.devsfu

#: The region tests/suites/python.sh starts lkcore-devsfu with (--region).
DEVSFU_REGION = "test-region"


async def test_connect_snapshot_and_disconnect(devsfu, token_for, room_name) -> None:
    room = lkcore.Room()
    states = EventWaiter(room, "connection_state_changed")
    connected = EventWaiter(room, "connected")
    await asyncio.wait_for(room.connect(devsfu.url, token_for("alice")), GUARD)
    assert room.connection_state == lkcore.ConnectionState.CONNECTED and room.isconnected()
    assert room.name == room_name and room.sid
    assert room.local_participant.identity == "alice"
    assert room.local_participant.sid
    assert room.remote_participants == {}
    await connected.wait()
    assert [a[0] for a in states.seen] == [lkcore.ConnectionState.CONNECTING, lkcore.ConnectionState.CONNECTED]
    client = room.client
    assert client is not None and client.live_handles == 1  # the room
    await room.disconnect()
    assert room.connection_state == lkcore.ConnectionState.DISCONNECTED
    assert client.closed and client.live_handles == 0
    await room.disconnect()  # idempotent
    with pytest.raises(errors.FailedPreconditionError):
        await room.connect(devsfu.url, token_for("alice"))


async def test_async_context_manager(devsfu, token_for) -> None:
    async with lkcore.Room() as room:
        await room.connect(devsfu.url, token_for("ctx"))
        client = room.client
    assert client is not None and client.closed


async def test_rooms_can_share_one_client(devsfu, token_for, lib_path) -> None:
    client = lkcore.Client(lib_path)
    try:
        alice = lkcore.Room(client=client)
        bob = lkcore.Room(client=client)
        joined = EventWaiter(alice, "participant_connected")
        await asyncio.wait_for(alice.connect(devsfu.url, token_for("alice")), GUARD)
        await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
        assert client.live_handles == 2
        await joined.wait(lambda p: p.identity == "bob")
        got = EventWaiter(alice, "data_received")
        await bob.local_participant.publish_data(b"same client", topic="s")
        (pkt,) = await got.wait()
        assert pkt.data == b"same client" and pkt.participant_identity == "bob"
        await bob.disconnect()
        assert not client.closed and client.live_handles == 1  # a shared client stays open
        await alice.disconnect()
        assert client.live_handles == 0
    finally:
        await client.aclose()


async def test_bad_token_is_unauthorized(devsfu) -> None:
    room = lkcore.Room()
    with pytest.raises(errors.UnauthorizedError):
        await asyncio.wait_for(room.connect(devsfu.url, "not-a-token"), GUARD)
    assert room.client is None and not lkcore.live_clients()  # nothing left behind


async def test_unreachable_server_fails_to_connect() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    room = lkcore.Room(lkcore.RoomOptions(connect_timeout=2))
    with pytest.raises(errors.ConnectionFailedError):
        await asyncio.wait_for(room.connect(f"ws://127.0.0.1:{port}", "t"), GUARD)


async def test_participants_join_and_leave(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    assert alice.num_participants == 1
    joined = EventWaiter(alice, "participant_connected")
    left = EventWaiter(alice, "participant_disconnected")
    # The server's participant count, as its room updates say (some time after a join or leave).
    counts: "list[int]" = []
    alice.on("room_updated", lambda: counts.append(alice.num_participants))
    updated = EventWaiter(alice, "room_updated")
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        (p,) = await joined.wait(lambda p: p.identity == "bob")
        assert isinstance(p, lkcore.RemoteParticipant) and p.sid
        assert "bob" in alice.remote_participants
        # bob learned about alice from the connect snapshot
        assert list(bob.remote_participants) == ["alice"]
        assert bob.remote_participants["alice"].sid == alice.local_participant.sid
        await updated.wait(lambda: counts[-1] == 2)
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
    finally:
        await bob.disconnect()
    p2, reason = await left.wait()
    assert p2.identity == "bob" and isinstance(reason, lkcore.DisconnectReason)
    assert "bob" not in alice.remote_participants
    await updated.wait(lambda: counts[-1] == 1)
    assert alice.num_participants == 1 and 2 in counts
    await assert_model_matches_library(alice)
    await alice.disconnect()


async def test_publish_data_reaches_the_other_participant(devsfu, token_for) -> None:
    async with alice_bob_carol(devsfu.url, token_for) as (alice, bob, carol):
        got = EventWaiter(bob, "data_received")
        carol_got = EventWaiter(carol, "data_received")
        await alice.local_participant.publish_data(b"\x00hello\xff", topic="greet")
        (pkt,) = await got.wait()
        assert pkt.data == b"\x00hello\xff" and pkt.topic == "greet" and pkt.reliable
        assert pkt.participant_identity == "alice" and pkt.participant is bob.remote_participants["alice"]
        await carol_got.wait()

        await alice.local_participant.publish_data("lossy text", reliable=False, topic="l")
        (pkt,) = await got.wait(lambda p: p.topic == "l")
        assert pkt.data == b"lossy text" and not pkt.reliable

        # destination_identities: only carol gets it; bob then gets the next broadcast first.
        await alice.local_participant.publish_data(b"for carol", destination_identities=["carol"], topic="dm")
        (pkt,) = await carol_got.wait(lambda p: p.topic == "dm")
        assert pkt.data == b"for carol"
        await alice.local_participant.publish_data(b"after", topic="after")
        await got.wait(lambda p: p.topic == "after")
        assert not [a for a in got.seen if a[0].topic == "dm"]


async def test_publish_on_disconnected_room_raises(devsfu, token_for) -> None:
    room = await connect(devsfu.url, token_for("alice"))
    lp = room.local_participant
    await room.disconnect()
    with pytest.raises(errors.DisconnectedError):
        await lp.publish_data(b"x")


async def test_metadata_name_and_attributes_updates(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        await EventWaiter(bob, "participant_connected").wait() if "alice" not in bob.remote_participants else None
        meta = EventWaiter(bob, "participant_metadata_changed")
        name = EventWaiter(bob, "participant_name_changed")
        attrs = EventWaiter(bob, "participant_attributes_changed")
        await alice.local_participant.set_metadata("m1")
        await alice.local_participant.set_name("Alice")
        await alice.local_participant.set_attributes({"k": "v", "x": "1"})
        p, old, new = await meta.wait()
        assert (p.identity, old, new) == ("alice", "", "m1")
        p, old, new = await name.wait()
        assert (p.identity, new) == ("alice", "Alice")
        changed, p = await attrs.wait()
        assert changed == {"k": "v", "x": "1"} and p.attributes == {"k": "v", "x": "1"}
        await alice.local_participant.set_attributes({"x": ""})  # delete x
        changed, p = await attrs.wait(lambda c, p: "x" in c and c["x"] == "")
        assert p.attributes == {"k": "v"}
        assert bob.remote_participants["alice"].metadata == "m1"
        # A second change reports the value it replaced (carried by the event, ABI 1.3).
        await alice.local_participant.set_metadata("m2")
        await alice.local_participant.set_name("Alice 2")
        p, old, new = await meta.wait(lambda p, old, new: new == "m2")
        assert (p.identity, old) == ("alice", "m1")
        p, old, new = await name.wait(lambda p, old, new: new == "Alice 2")
        assert (p.identity, old) == ("alice", "Alice")
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_permission_change_is_announced(devsfu, token_for, room_name) -> None:
    # The server API revokes bob's permission to publish: bob (about himself) and alice (about
    # bob) are told, and both models show the new permission (ABI 1.16; it never changed before).
    # The server removed bob's data track without telling him: his track ends NOT_ALLOWED, and
    # alice sees it unpublished.
    alice = await connect(devsfu.url, token_for("alice"))
    joined = EventWaiter(alice, "participant_connected")
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        await joined.wait(lambda p: p.identity == "bob")
        assert bob.local_participant.permissions.can_publish_data
        announced = EventWaiter(alice, "data_track_published")
        track = await bob.local_participant.publish_data_track("sensor")
        (remote,) = await announced.wait()
        changed = [EventWaiter(r, "participant_permissions_changed") for r in (alice, bob)]
        ended = EventWaiter(bob, "local_data_track_unpublished")
        gone = EventWaiter(alice, "data_track_unpublished")
        await asyncio.to_thread(control, devsfu.url, "permission", room=room_name, identity="bob", can_subscribe="true")
        revoked = lkcore.ParticipantPermission(can_subscribe=True, can_publish=False, can_publish_data=False, hidden=False)
        for w, who in zip(changed, (alice.remote_participants["bob"], bob.local_participant)):
            (p,) = await w.wait()
            assert p is who and p.permissions == revoked
        t, err = await ended.wait()
        assert t is track and isinstance(err, lkcore.errors.NotAllowedError) and not track.is_published()
        assert await gone.wait() == (remote,) and alice.remote_participants["bob"].data_tracks == {}
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
        with pytest.raises(lkcore.errors.NotAllowedError):  # the server enforces it
            await bob.local_participant.publish_data_track("not-allowed")
        # What the server would drop without a word is refused.
        with pytest.raises(lkcore.errors.NotAllowedError):
            await bob.local_participant.publish_data(b"dropped")
        with pytest.raises(lkcore.errors.NotAllowedError):
            await bob.local_participant.send_text("dropped", topic="t")
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_events_async_iterator(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    seen = []

    async def collect() -> None:
        async for ev in alice.events():
            seen.append(ev.name)
            if ev.name == "participant_connected":
                return

    task = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    bob = await connect(devsfu.url, token_for("bob"))
    await asyncio.wait_for(task, GUARD)
    assert "participant_connected" in seen
    await bob.disconnect()
    await alice.disconnect()


async def test_library_logs_reach_python_logging(devsfu, token_for, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lkcore")
    room = await connect(devsfu.url, token_for("logger"))
    await room.disconnect()
    assert any(r.name == "lkcore.lib" for r in caplog.records), "no library log record was forwarded"


async def _closed_in_background(client: lkcore.Client) -> None:
    """Waits (bounded) for the helper thread a collected Room closes its client on."""
    import threading

    for t in threading.enumerate():
        if t.name == f"lkcore-close-{client.id}":
            await asyncio.to_thread(t.join, GUARD)
            assert not t.is_alive()


async def test_dropped_room_is_released_by_gc(devsfu, token_for, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    room = await connect(devsfu.url, token_for("gc"))
    client = room.client
    assert client is not None
    n = client._notifier
    assert n is not None
    closed_on: "list[str]" = []
    real_close = client.lib.client_close

    def spy(cid: int, timeout_ms: int) -> int:
        if cid == client.id:
            closed_on.append(threading.current_thread().name)
        return real_close(cid, timeout_ms)

    monkeypatch.setattr(client.lib, "client_close", spy)
    del room
    gc.collect()
    assert client.closed and client.live_handles == 0
    await _closed_in_background(client)
    # The garbage collector ran on the loop's thread: the library's teardown (which waits for
    # the room to leave) ran on a helper thread instead of blocking the loop.
    assert closed_on == [f"lkcore-close-{client.id}"]
    await asyncio.sleep(0)  # the loop runs the helper's call to remove the reader and close the pipe
    with pytest.raises(OSError):
        os.fstat(n.r)


async def test_children_do_not_keep_the_room_alive(devsfu, token_for) -> None:
    # Participants, tracks and the E2EE manager hold the room's internal session, not the
    # Room: dropping the Room releases it even while they are referenced, and they then fail
    # with a typed error instead of reaching a half-released room.
    import weakref

    room = await connect(devsfu.url, token_for("children"))
    lp = room.local_participant
    e2ee = room.e2ee_manager
    client = room.client
    assert client is not None
    gone = weakref.ref(room)
    del room
    gc.collect()
    assert gone() is None and client.closed and client.live_handles == 0
    await _closed_in_background(client)
    with pytest.raises((errors.DisconnectedError, errors.ClientClosedError)):
        await lp.publish_data(b"after the room is gone")
    assert e2ee.stats().decryption_failures == 0 and not e2ee.enabled


async def test_resume_after_signal_drop(devsfu, token_for) -> None:
    # The ABI reports the reconnection as the Reconnecting / Reconnected events (kind RESUME:
    # same session) and as connection_state_changed RECONNECTING -> CONNECTED.
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        states = EventWaiter(alice, "connection_state_changed")
        reconnecting = EventWaiter(alice, "reconnecting")
        reconnected = EventWaiter(alice, "reconnected")
        await asyncio.to_thread(control, devsfu.url, "drop-signal", identity="alice")
        await states.wait(lambda s: s == lkcore.ConnectionState.RECONNECTING)
        await states.wait(lambda s: s == lkcore.ConnectionState.CONNECTED)
        assert [a[0] for a in states.seen] == [lkcore.ConnectionState.RECONNECTING, lkcore.ConnectionState.CONNECTED]
        assert await reconnecting.wait() == (lkcore.ReconnectKind.RESUME, 1)
        assert (await reconnected.wait())[:2] == (lkcore.ReconnectKind.RESUME, 0)
        assert alice.connection_state == lkcore.ConnectionState.CONNECTED and alice.isconnected()
        # the room still works after the reconnect
        got = EventWaiter(bob, "data_received")
        await alice.local_participant.publish_data(b"after resume", topic="r")
        (pkt,) = await got.wait()
        assert pkt.data == b"after resume"
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def _reconnect_after_a_cut_path(
    devsfu, token_for, n: int, *, refuse_resume: bool
) -> "tuple[tuple[int, ...], list[bytes]]":
    # devsfu drops alice's datagrams both ways, then alice publishes n reliable packets: her
    # data channel accepts them and the server acknowledges none (she has sent nothing reliable
    # before, so exactly these n are unacknowledged). Her signalling connection is then dropped
    # (with refuse_resume the server refuses her resume, so she reconnects fully), and once she
    # is back the path works again and she publishes b"after". Returns the arguments of her
    # reconnected event and the payloads bob received up to b"after", in order.
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        got = EventWaiter(bob, "data_received")
        reconnected = EventWaiter(alice, "reconnected")
        await asyncio.to_thread(control, devsfu.url, "cut-path", identity="alice", on="true")
        for i in range(n):
            await alice.local_participant.publish_data(f"cut {i}".encode(), topic="cut")
        if refuse_resume:
            await asyncio.to_thread(control, devsfu.url, "force-full-reconnect", identity="alice", on="true")
        await asyncio.to_thread(control, devsfu.url, "drop-signal", identity="alice")
        args = await reconnected.wait()
        await asyncio.to_thread(control, devsfu.url, "clear-faults")
        await alice.local_participant.publish_data(b"after", topic="cut")
        await got.wait(lambda pkt: pkt.data == b"after")
        return args, [pkt.data for (pkt,) in got.seen]
    finally:
        await asyncio.to_thread(control, devsfu.url, "clear-faults")
        await alice.disconnect()
        await bob.disconnect()


async def test_full_reconnect_reports_the_reliable_packets_it_discards(devsfu, token_for) -> None:
    # The server refuses alice's resume, so the packets it never acknowledged cannot be sent
    # again (the new session has new sequence numbers; the official SDKs drop them too): the
    # reconnected event counts them, and none of them reaches bob.
    n = 20
    reconnected, got = await _reconnect_after_a_cut_path(devsfu, token_for, n, refuse_resume=True)
    assert reconnected == (lkcore.ReconnectKind.FULL, n, 0)
    assert got == [b"after"]


async def test_resume_replays_the_reliable_packets_the_server_missed(devsfu, token_for) -> None:
    # After a resume the server says which of alice's packets it has (last_message_seq); the
    # core sends the others again. SCTP may also deliver some of them on its own once the path
    # works (its retransmission timer is a second or more, so usually it does not get there
    # first); either way bob gets each packet exactly once, in order.
    n = 20
    (kind, discarded, replayed), got = await _reconnect_after_a_cut_path(devsfu, token_for, n, refuse_resume=False)
    assert (kind, discarded) == (lkcore.ReconnectKind.RESUME, 0)
    assert 1 <= replayed <= n
    assert got == [f"cut {i}".encode() for i in range(n)] + [b"after"]


async def test_removed_by_server(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        gone = EventWaiter(alice, "disconnected")
        await asyncio.to_thread(
            control, devsfu.url, "leave", identity="alice", action="DISCONNECT", reason="PARTICIPANT_REMOVED"
        )
        (reason,) = await gone.wait()
        assert reason == lkcore.DisconnectReason.PARTICIPANT_REMOVED
        await asyncio.wait_for(alice.wait_disconnected(), GUARD)
        assert alice.connection_state == lkcore.ConnectionState.DISCONNECTED
        with pytest.raises(errors.DisconnectedError):
            await alice.local_participant.publish_data(b"x")
    finally:
        await alice.disconnect()
    assert alice.client is not None and alice.client.closed


async def test_cancelled_disconnect_still_ends_iterators_and_closes_the_client(devsfu, token_for) -> None:
    # An async handler that survives its first cancellation holds disconnect() inside its wait
    # for the handler tasks; the disconnect is cancelled there (which cancels the handler again).
    room = lkcore.Room()
    cancel_seen = asyncio.Event()
    stop = asyncio.Event()

    async def stubborn() -> None:
        try:
            await stop.wait()
        except asyncio.CancelledError:
            cancel_seen.set()
            await stop.wait()

    room.on("connected", stubborn)
    await asyncio.wait_for(room.connect(devsfu.url, token_for("alice")), GUARD)
    client = room.client
    assert client is not None

    async def consume() -> None:
        async for _ in room.events():
            pass

    consumer = asyncio.create_task(consume())  # runs its first step before the disconnect's
    disconnecting = asyncio.create_task(room.disconnect())
    try:
        await asyncio.wait_for(cancel_seen.wait(), GUARD)  # disconnect waits for the handler
        disconnecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(disconnecting, GUARD)
        # The iterator ends although the disconnect was cancelled...
        await asyncio.wait_for(consumer, GUARD)
        assert room.connection_state == lkcore.ConnectionState.DISCONNECTED
        await asyncio.wait_for(room.wait_disconnected(), GUARD)
        # ...and a later disconnect() returns once the client is closed.
        await asyncio.wait_for(room.disconnect(), GUARD)
        assert client.closed
    finally:
        stop.set()
        consumer.cancel()


async def test_failed_connect_leaves_the_room_connectable(devsfu, token_for) -> None:
    # BINDINGS.md §7: "A failed connect leaves the room connectable again."
    room = lkcore.Room()
    room.register_rpc_method("ping", lambda data: "pong")  # declared before: kept for the retry

    events = room.events()  # collects from here, whenever the loop below takes its first step

    async def follow() -> "list[tuple[str, tuple[object, ...]]]":
        return [(ev.name, ev.args) async for ev in events]

    follower = asyncio.create_task(follow())  # follows the room across the failed attempt
    with pytest.raises(errors.UnauthorizedError):
        await asyncio.wait_for(room.connect(devsfu.url, "not-a-token"), GUARD)
    assert not lkcore.live_clients()  # the attempt left nothing behind
    await asyncio.wait_for(room.connect(devsfu.url, token_for("retry")), GUARD)
    try:
        assert room.isconnected() and room.local_participant.identity == "retry"
        caller = await connect(devsfu.url, token_for("caller"))
        try:
            assert await asyncio.wait_for(caller.local_participant.perform_rpc("retry", "ping", ""), GUARD) == "pong"
        finally:
            await caller.disconnect()
    finally:
        await room.disconnect()
    names = await asyncio.wait_for(follower, GUARD)  # ends with the final disconnect
    states = [args[0] for name, args in names if name == "connection_state_changed"]
    S = lkcore.ConnectionState
    assert states[:4] == [S.CONNECTING, S.DISCONNECTED, S.CONNECTING, S.CONNECTED]
    assert [name for name, _ in names].count("connected") == 1
    with pytest.raises(errors.FailedPreconditionError):  # connected once: a new Room is needed
        await room.connect(devsfu.url, token_for("retry"))



async def test_moved_to_another_room(devsfu, room_name) -> None:
    # LiveKit Cloud's MoveParticipant, played by devsfu: m leaves room a's participants (alice's
    # track first), "moved" (room.name already b's), then b's participants and tracks arrive;
    # the binding's model equals the library's afterwards, and data flows in room b.
    a, b = room_name + "-a", room_name + "-b"
    alice = await connect(devsfu.url, devsfu.token(a, "alice"))
    bob = await connect(devsfu.url, devsfu.token(b, "bob"))
    m: "lkcore.Room | None" = None
    try:
        await alice.local_participant.publish_data_track("ta")
        await bob.local_participant.publish_data_track("tb")
        m = await connect(devsfu.url, devsfu.token(a, "m"))
        assert "ta" in m.remote_participants["alice"].data_tracks
        server = m.server
        assert server is not None and server.region == DEVSFU_REGION
        order: "list[tuple[str, str]]" = []
        m.on("data_track_unpublished", lambda t: order.append(("unpublished", t.name)))
        m.on("participant_disconnected", lambda p, _r: order.append(("left", p.identity)))
        m.on("moved", lambda: order.append(("moved", m.name)))
        m.on("participant_connected", lambda p: order.append(("joined", p.identity)))
        m.on("data_track_published", lambda t: order.append(("published", t.name)))
        published = EventWaiter(m, "data_track_published")
        control(devsfu.url, "move", room=a, identity="m", destination=b)
        await published.wait(lambda t: t.name == "tb")
        assert order == [("unpublished", "ta"), ("left", "alice"), ("moved", b), ("joined", "bob"), ("published", "tb")]
        assert m.name == b and sorted(m.remote_participants) == ["bob"]
        assert m.server == server  # RoomMoved's info replaced the room's: the same server (one devsfu)
        await assert_model_matches_library(m)
        got = EventWaiter(bob, "data_received")
        await m.local_participant.publish_data(b"hi", topic="moved")
        (packet,) = await got.wait()
        assert packet.data == b"hi" and packet.participant_identity == "m"
    finally:
        for r in (alice, bob, m):
            if r is not None:
                await r.disconnect()


async def test_dtmf_reaches_the_other_participants_in_order_with_data(devsfu, token_for) -> None:
    async with alice_bob_carol(devsfu.url, token_for) as (alice, bob, carol):
        order: list[str] = []
        bob.on("data_received", lambda pkt: order.append(pkt.data.decode()))
        bob.on("sip_dtmf_received", lambda d: order.append(f"{d.code}:{d.digit}"))
        got = EventWaiter(bob, "sip_dtmf_received")
        data_got = EventWaiter(bob, "data_received")
        carol_got = EventWaiter(carol, "sip_dtmf_received")
        lp = alice.local_participant

        # Bad input is refused and nothing is sent (bob's first event is the data below).
        for code, digit in ((256, "1"), (1, ""), (1, "1" * 257)):
            with pytest.raises(errors.InvalidArgumentError):
                await lp.publish_dtmf(code=code, digit=digit)
        with pytest.raises(ValueError):
            await lp.publish_dtmf(code=-1, digit="1")

        await lp.publish_data("before")
        await lp.publish_dtmf(code=11, digit="#")
        await lp.publish_data("after")
        (dtmf,) = await got.wait()
        assert (dtmf.code, dtmf.digit, dtmf.participant_identity) == (11, "#", "alice")
        assert dtmf.participant is bob.remote_participants["alice"]
        await carol_got.wait()
        await data_got.wait(lambda p: p.data == b"after")
        assert order == ["before", "11:#", "after"]

        # destination_identities: only carol gets the first; bob's next one is the broadcast.
        await lp.publish_dtmf(code=1, digit="1", destination_identities=["carol"])
        await lp.publish_dtmf(code=2, digit="2")
        await carol_got.wait(lambda d: d.code == 2)
        await got.wait(lambda d: d.code == 2)
        assert [d.code for (d,) in carol_got.seen] == [11, 1, 2]
        assert [d.code for (d,) in got.seen] == [11, 2]


async def test_transcriptions(devsfu, room_name) -> None:
    bob = await connect(devsfu.url, devsfu.token(room_name, "bob"))
    got = EventWaiter(bob, "transcription_received")
    data = EventWaiter(bob, "data_received")
    joined = EventWaiter(bob, "participant_connected")
    agent = await connect(devsfu.url, devsfu.token(room_name, "agent", "--kind", "agent"))
    try:
        await joined.wait(lambda p: p.identity == "agent")
        tr = lkcore.Transcription(
            "bob",
            "TR_mic",
            [
                lkcore.TranscriptionSegment("s1", "hello", 10, 400, "en"),
                lkcore.TranscriptionSegment("s2", "wörld", 500, 900, "de", final=True),
            ],
        )
        with pytest.raises(errors.NotAllowedError):  # not an agent: the server would drop it
            await bob.local_participant.publish_transcription(tr)
        with pytest.raises(errors.InvalidArgumentError):
            await agent.local_participant.publish_transcription(lkcore.Transcription("bob", "", []))
        await agent.local_participant.publish_transcription(tr)
        await agent.local_participant.publish_data(b"after")
        (t, participant, identity) = await got.wait()
        assert t == tr and isinstance(t.segments, tuple)
        assert participant is bob.remote_participants["agent"] and identity == "agent"
        (pkt,) = await data.wait()
        assert pkt.data == b"after" and len(got.seen) == 1  # in order, nothing else
    finally:
        for r in (agent, bob):
            await r.disconnect()


async def test_sending_on_behalf_of_another_participant(devsfu, room_name) -> None:
    texts: "asyncio.Queue[tuple[lkcore.TextStreamInfo, str, str]]" = asyncio.Queue()

    async def on_text(reader: lkcore.TextStreamReader, identity: str) -> None:
        await texts.put((reader.info, identity, await reader.read_all()))

    bob = lkcore.Room()
    bob.register_text_stream_handler("lk.transcription", on_text)
    await asyncio.wait_for(bob.connect(devsfu.url, devsfu.token(room_name, "bob")), GUARD)
    chats = EventWaiter(bob, "chat_message_received")
    agent = await connect(devsfu.url, devsfu.token(room_name, "agent", "--kind", "agent"))
    try:
        with pytest.raises(errors.NotAllowedError):  # only an agent may
            await bob.local_participant.send_text("x", topic="lk.transcription", sender_identity="agent")
        lp = agent.local_participant
        await lp.send_text("said by the user", topic="lk.transcription", sender_identity="user")
        info, identity, text = await asyncio.wait_for(texts.get(), GUARD)
        assert (identity, text, info.generated) == ("user", "said by the user", True)
        async with await lp.stream_text(topic="lk.transcription", sender_identity="user") as w:
            await w.write("streamed")
        info, identity, text = await asyncio.wait_for(texts.get(), GUARD)
        assert (identity, text, info.generated) == ("user", "streamed", True)
        sent = await lp.send_chat_message("hi", sender_identity="user")
        (m, participant, identity) = await chats.wait()
        assert (m.id, m.message, m.generated, participant, identity) == (sent.id, "hi", True, None, "user")
    finally:
        for r in (agent, bob):
            await r.disconnect()


async def test_participant_kinds_and_kind_details(devsfu, room_name) -> None:
    observer = await connect(devsfu.url, devsfu.token(room_name, "observer"))
    joined = EventWaiter(observer, "participant_connected")
    twilio = await connect(
        devsfu.url, devsfu.token(room_name, "twilio", "--kind", "connector", "--kind-details", "connector_twilio")
    )
    agent = await connect(
        devsfu.url, devsfu.token(room_name, "agent", "--kind", "agent", "--kind-details", "cloud_agent,forwarded")
    )
    try:
        D = lkcore.ParticipantKindDetail
        assert twilio.local_participant.kind == lkcore.ParticipantKind.CONNECTOR
        assert twilio.local_participant.kind_details == [D.CONNECTOR_TWILIO]
        (p,) = await joined.wait(lambda p: p.identity == "agent")
        assert p.kind == lkcore.ParticipantKind.AGENT and p.kind_details == [D.CLOUD_AGENT, D.FORWARDED]
        (p,) = await joined.wait(lambda p: p.identity == "twilio")
        assert p.kind == lkcore.ParticipantKind.CONNECTOR and p.kind_details == [D.CONNECTOR_TWILIO]
        assert observer.local_participant.kind == lkcore.ParticipantKind.STANDARD
        assert observer.local_participant.kind_details == []
    finally:
        for r in (observer, twilio, agent):
            await r.disconnect()


async def test_room_info_publishers_recording_and_timeouts(devsfu, token_for, room_name) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        assert (alice.empty_timeout, alice.departure_timeout) == (300.0, 20.0)  # devsfu's, as the server's
        assert alice.creation_time is not None and alice.creation_time.tzinfo is not None
        assert alice.num_publishers == 0 and not alice.is_recording
        updates: "list[tuple[int, bool]]" = []
        alice.on("room_updated", lambda: updates.append((alice.num_publishers, alice.is_recording)))
        updated = EventWaiter(alice, "room_updated")
        await bob.local_participant.publish_data_track("t")
        await updated.wait(lambda: alice.num_publishers == 1)
        control(devsfu.url, "recording", room=room_name, on="true")
        await updated.wait(lambda: alice.is_recording)
        control(devsfu.url, "recording", room=room_name, on="false")
        await updated.wait(lambda: (1, True) in updates and not alice.is_recording)
        assert updates[-1] == (1, False)
        await assert_model_matches_library(alice)
    finally:
        for r in (alice, bob):
            await r.disconnect()


async def test_room_server_info(devsfu, token_for) -> None:
    # The server of the session, from the connect snapshot: devsfu sends livekit-server 1.13.5's
    # version and protocol, the region it was started with and its node id.
    room = lkcore.Room()
    assert room.server is None  # not connected yet
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        s = alice.server
        assert s is not None
        assert (s.edition, s.version, s.protocol, s.region) == (lkcore.ServerEdition.STANDARD, "1.13.5", 17, DEVSFU_REGION)
        assert type(s.edition) is lkcore.ServerEdition and type(s) is lkcore.ServerInfo
        assert s.node_id.startswith("ND_") and len(s.node_id) > len("ND_")
        assert bob.server == s  # one devsfu process: the same node
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.region = "elsewhere"  # type: ignore[misc]
        # The library's current state (GetRoomSnapshot) holds the same server...
        client, handle = alice.client, alice._session.handle
        assert client is not None
        snap = client.request(pb.Request(get_room_snapshot=pb.GetRoomSnapshotRequest(room_handle=handle)))
        srv = snap.get_room_snapshot.snapshot.room.server
        assert (srv.edition, srv.version, srv.protocol, srv.region, srv.node_id) == (
            pb.SERVER_EDITION_STANDARD, "1.13.5", 17, DEVSFU_REGION, s.node_id)
        # ... and so does its snapshot at this point of the events (RoomSnapshotTaken).
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
    finally:
        for r in (alice, bob):
            await r.disconnect()
    assert alice.server == s  # the last server stays readable after the disconnect


async def test_server_change_is_a_room_update(devsfu, token_for) -> None:
    # A full reconnect that lands on another server (another LiveKit Cloud region after a
    # failover) comes as RoomUpdated with the new server in its info. One devsfu cannot fail
    # over, so the event is made here, from the library's own room info, and handed to the
    # room's event route like one from the library (synchronously: no real update between).
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        client, handle = alice.client, alice._session.handle
        assert client is not None
        resp = client.request(pb.Request(get_room_snapshot=pb.GetRoomSnapshotRequest(room_handle=handle)))
        info = resp.get_room_snapshot.snapshot.room
        seen: "list[lkcore.ServerInfo | None]" = []
        alice.on("room_updated", lambda: seen.append(alice.server))

        def room_updated(edition: int, region: str, node_id: str) -> "lkcore.ServerInfo | None":
            new = pb.RoomInfo()
            new.CopyFrom(info)
            new.server.CopyFrom(pb.ServerInfo(edition=edition, version="1.14.0", protocol=18, region=region,
                                              node_id=node_id))
            seen.clear()
            client._dispatch(pb.Event(room=pb.RoomEvent(room_handle=handle, room_updated=pb.RoomUpdated(info=new))))
            assert len(seen) == 1  # room_updated, with room.server already the new one
            return seen[0]

        assert room_updated(pb.SERVER_EDITION_CLOUD, "eu-central", "ND_elsewhere") == lkcore.ServerInfo(
            lkcore.ServerEdition.CLOUD, "1.14.0", 18, "eu-central", "ND_elsewhere")
        # An edition newer than this binding (a number it does not know) is not an error: it
        # shows as the schema's zero value.
        assert room_updated(7, "us-east", "ND_newer") == lkcore.ServerInfo(
            lkcore.ServerEdition.STANDARD, "1.14.0", 18, "us-east", "ND_newer")
        assert alice.name == info.name and alice.sid == info.sid  # the rest of the info as it was
    finally:
        await alice.disconnect()


async def test_chat_messages(devsfu, token_for) -> None:
    async with alice_bob_carol(devsfu.url, token_for) as (alice, bob, carol):
        got = EventWaiter(bob, "chat_message_received")
        # From the start: carol may receive the first broadcasts later than bob does.
        carol_got = EventWaiter(carol, "chat_message_received")
        lp = alice.local_participant

        sent = await lp.send_chat_message("hello")
        assert len(sent.id) == 36 and sent.timestamp_ms > 0 and sent.edit_timestamp_ms == 0 and sent.message == "hello"
        edit = await lp.edit_chat_message("hello, bob", sent)
        assert (edit.id, edit.timestamp_ms, edit.message) == (sent.id, sent.timestamp_ms, "hello, bob")
        assert edit.edit_timestamp_ms >= sent.timestamp_ms
        with pytest.raises(errors.InvalidArgumentError):
            await lp.edit_chat_message("x", lkcore.ChatMessage("", 0, "y"))

        (m1, p1, id1) = await got.wait()
        (m2, _, _) = await got.wait(lambda m, p, i: m.edit_timestamp_ms != 0)
        assert (m1, m2) == (sent, edit)
        assert p1 is bob.remote_participants["alice"] and id1 == "alice"

        # destination_identities: only carol gets the first; bob's next one is the broadcast.
        await lp.send_chat_message("to carol", destination_identities=["carol"])
        await lp.send_chat_message("to all")
        await carol_got.wait(lambda m, p, i: m.message == "to all")
        await got.wait(lambda m, p, i: m.message == "to all")
        assert [m.message for (m, _, _) in carol_got.seen] == ["hello", "hello, bob", "to carol", "to all"]
        assert [m.message for (m, _, _) in got.seen] == ["hello", "hello, bob", "to all"]
