"""Simulated connection faults (ABI 1.27) and the simulated speaker update (ABI 1.29):
``Room.simulate_scenario()`` end to end through liblkcore and lkcore-devsfu (which does the
server's part as livekit-server 1.13.5 does), and the request it sends for each
``SimulateScenario``.

The library does the work; the binding sends one request and reports what follows through its
usual events, so each test checks those events and the participant's sid."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any, List, Optional

import pytest

import lkcore
from lkcore import ReconnectKind, SimulateScenario, errors
from lkcore._proto import lkcore_ffi_pb2 as pb

from helpers import GUARD, EventWaiter, assert_model_matches_library, connect, published_track
from test_active_speakers import Log, speakers, speaking
from test_data_track import first_frame_while_pushing

RESUME, FULL = ReconnectKind.RESUME, ReconnectKind.FULL


async def simulate(room: lkcore.Room, scenario: Any) -> None:
    """``room.simulate_scenario(scenario)``, bounded: it returns once the fault is under way."""
    await asyncio.wait_for(room.simulate_scenario(scenario), GUARD)


async def reconnection(room: lkcore.Room, scenario: SimulateScenario) -> "tuple[list[tuple[Any, ...]], ReconnectKind, str]":
    """Simulates ``scenario`` on ``room`` and waits for its ``reconnected``: returns the
    ``reconnecting`` events (kind, attempt) seen before it, its kind, and the local
    participant's sid afterwards (read once the events that follow ``reconnected`` in the
    library's order, the local participant's new sid after a full reconnect, are applied)."""
    reconnecting = EventWaiter(room, "reconnecting")
    reconnected = EventWaiter(room, "reconnected")
    before: "list[tuple[Any, ...]]" = []
    room.on("reconnected", lambda *_: before.extend(reconnecting.seen))
    await simulate(room, scenario)
    kind, _discarded, _replayed = await reconnected.wait()
    assert room.connection_state == lkcore.ConnectionState.CONNECTED
    await assert_model_matches_library(room)
    assert len(reconnected.seen) == 1
    return before, kind, room.local_participant.sid


async def data_flows(sender: lkcore.Room, receiver: lkcore.Room, payload: bytes) -> None:
    """A packet of ``sender`` reaches ``receiver`` (the room works after the fault)."""
    got = EventWaiter(receiver, "data_received")
    await asyncio.wait_for(sender.local_participant.publish_data(payload, topic="simulate"), GUARD)
    (pkt,) = await got.wait(lambda p: p.data == payload)
    assert pkt.participant_identity == sender.local_participant.identity


# -- the enum and the request (no server) ---------------------------------------------------------


class _RecordingClient:
    """Stands in for a connected room's client: records the ASYNC requests it is given."""

    def __init__(self) -> None:
        self.sent: "list[pb.Request]" = []
        self.closed = False

    async def request_async(self, req: pb.Request, on_result: Optional[Any] = None) -> None:
        self.sent.append(req)


def test_simulate_scenario_enum() -> None:
    # The schema's scenarios, by name and number, but its zero value (no scenario).
    assert [(s.name, int(s)) for s in SimulateScenario] == [
        (pb.SimulateScenario.Name(v)[len("SIMULATE_SCENARIO_"):], v)
        for v in pb.SimulateScenario.values() if v != pb.SIMULATE_SCENARIO_UNSPECIFIED]
    assert [s.name for s in SimulateScenario] == [
        "SIGNAL_RECONNECT", "FULL_RECONNECT", "NODE_FAILURE", "MIGRATION", "SERVER_LEAVE",
        "DISCONNECT_SIGNAL_ON_RESUME", "SPEAKER_UPDATE"]
    assert [int(s) for s in SimulateScenario] == [1, 2, 3, 4, 5, 6, 7]
    assert lkcore.SimulateScenario is SimulateScenario and "SimulateScenario" in lkcore.__all__
    assert lkcore.ABI_VERSION_MINOR >= 29  # SimulateScenarioRequest (27), SPEAKER_UPDATE (29)


async def test_simulate_scenario_request() -> None:
    # One SimulateScenarioRequest per call, naming the room and the scenario's schema value.
    room = lkcore.Room()
    fake = _RecordingClient()
    room._session.client = fake  # type: ignore[assignment]
    room._session.handle = 42
    try:
        for s in SimulateScenario:
            await simulate(room, s)
        want = [pb.Request(simulate_scenario=pb.SimulateScenarioRequest(
            room_handle=42, scenario=getattr(pb, f"SIMULATE_SCENARIO_{s.name}"))) for s in SimulateScenario]
        assert fake.sent == want
        assert [r.WhichOneof("message") for r in fake.sent] == ["simulate_scenario"] * len(SimulateScenario)
    finally:
        room._session.client = None
        room._session.handle = 0


# -- against devsfu ------------------------------------------------------------------------------


@pytest.mark.devsfu
async def test_signal_reconnect_resumes_the_session(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        sid = alice.local_participant.sid
        states = EventWaiter(alice, "connection_state_changed")
        before, kind, after = await reconnection(alice, SimulateScenario.SIGNAL_RECONNECT)
        assert before == [(RESUME, 1)] and kind == RESUME
        assert after == sid  # the same session
        assert [a[0] for a in states.seen] == [lkcore.ConnectionState.RECONNECTING, lkcore.ConnectionState.CONNECTED]
        await data_flows(alice, bob, b"after the resume")
        await data_flows(bob, alice, b"to alice after the resume")
        assert bob.remote_participants["alice"].sid == sid
    finally:
        await alice.disconnect()
        await bob.disconnect()


@pytest.mark.devsfu
async def test_full_reconnect_starts_a_new_session(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        track = await asyncio.wait_for(alice.local_participant.publish_data_track("sensor"), GUARD)
        sid, track_sid = alice.local_participant.sid, track.sid
        resid = EventWaiter(alice, "local_data_track_sid_changed")
        before, kind, after = await reconnection(alice, SimulateScenario.FULL_RECONNECT)
        assert before == [(FULL, 1)] and kind == FULL
        assert after and after != sid  # a new session
        # Its data track, published again by the library under a new sid (same object).
        assert await resid.wait() == (track, track_sid)
        assert track.sid != track_sid and track.is_published()
        await data_flows(alice, bob, b"after the full reconnect")
        await assert_model_matches_library(bob)
    finally:
        await alice.disconnect()
        await bob.disconnect()


@pytest.mark.devsfu
@pytest.mark.parametrize("scenario", [SimulateScenario.NODE_FAILURE, SimulateScenario.MIGRATION], ids=lambda s: s.name)
async def test_node_failure_resume_refused_then_full_reconnect(devsfu, token_for, scenario) -> None:
    # The server drops the session without a leave: the resume is refused, a full reconnect
    # follows (livekit-server 1.13 handles a migration as a node failure).
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        sid = alice.local_participant.sid
        gone = EventWaiter(alice, "disconnected")
        before, kind, after = await reconnection(alice, scenario)
        # One episode: announced as a resume, escalated to a full reconnect (attempt 2).
        assert before == [(RESUME, 1), (FULL, 2)] and kind == FULL
        assert after and after != sid
        assert not gone.seen
        await data_flows(alice, bob, b"after the node failure")
    finally:
        await alice.disconnect()
        await bob.disconnect()


@pytest.mark.devsfu
async def test_disconnect_signal_on_resume_resumes_again(devsfu, token_for) -> None:
    # The server cuts the first resume's signalling after answering it; the room resumes again,
    # within the same episode (one reconnecting event: the library announces an episode and its
    # escalation to a full reconnect, not each attempt).
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        sid = alice.local_participant.sid
        before, kind, after = await reconnection(alice, SimulateScenario.DISCONNECT_SIGNAL_ON_RESUME)
        assert before == [(RESUME, 1)] and kind == RESUME
        assert after == sid
        await data_flows(alice, bob, b"after the second resume")
    finally:
        await alice.disconnect()
        await bob.disconnect()


#: The simulated speaker's level, 0.9 as the schema's float (32 bits) carries it.
LEVEL_09 = struct.unpack("f", struct.pack("f", 0.9))[0]


@pytest.mark.devsfu
async def test_speaker_update_reports_alice_speaking_then_stopped(devsfu, token_for) -> None:
    # No fault: the server reports alice speaking at 0.9 (unquantised) to herself and to bob,
    # subscribed to her data track, then stopped 3 s later; nothing reconnects.
    async with published_track(devsfu.url, token_for, "voice") as (alice, bob, track, remote):
        sub = await remote.subscribe()
        await first_frame_while_pushing(track, sub, b"warm-up", 1)  # the subscription is established
        me_a, ra = alice.local_participant, bob.remote_participants["alice"]
        sid = me_a.sid
        faults = [EventWaiter(r, name) for r in (alice, bob)
                  for name in ("reconnecting", "reconnected", "disconnected", "connection_state_changed")]
        logs = {alice: Log(alice), bob: Log(bob)}
        lists = {r: EventWaiter(r, "active_speakers_changed") for r in (alice, bob)}
        changed = {r: EventWaiter(r, "participant_speaking_changed") for r in (alice, bob)}
        assert alice.active_speakers == [] and bob.active_speakers == []

        start = time.monotonic()
        await simulate(alice, SimulateScenario.SPEAKER_UPDATE)
        for room, p in ((alice, me_a), (bob, ra)):
            await changed[room].wait(lambda q, on, level, p=p: q is p and on)
            await lists[room].wait(lambda s, p=p: s == [p])
            assert (p.is_speaking, p.audio_level) == (True, LEVEL_09) and room.active_speakers == [p]
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)

        for room, p in ((alice, me_a), (bob, ra)):
            # 3 s after it started (the guard's 15 s leave ample room).
            await changed[room].wait(lambda q, on, level, p=p: q is p and not on, timeout=GUARD)
            await lists[room].wait(lambda s: s == [], timeout=GUARD)
            assert (p.is_speaking, p.audio_level) == (False, 0.0) and room.active_speakers == []
        assert time.monotonic() - start >= 2.0, "the scenario asks for 3 s of speaking"
        # Alice's speaking before the list it changed, both ways, nothing else.
        for room, p in ((alice, me_a), (bob, ra)):
            assert logs[room].entries == [speaking(p, True, LEVEL_09), speakers([p]),
                                          speaking(p, False, 0.0), speakers([])], room
        assert all(not w.seen for w in faults), [w.seen for w in faults]
        assert me_a.sid == sid and alice.connection_state == lkcore.ConnectionState.CONNECTED
        assert bob.connection_state == lkcore.ConnectionState.CONNECTED
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
        sub.close()


@pytest.mark.devsfu
async def test_server_leave_ends_the_room(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        left = EventWaiter(bob, "participant_disconnected")
        gone = EventWaiter(alice, "disconnected")
        reconnecting = EventWaiter(alice, "reconnecting")
        await simulate(alice, SimulateScenario.SERVER_LEAVE)
        assert await gone.wait() == (lkcore.DisconnectReason.SERVER_SHUTDOWN,)
        await asyncio.wait_for(alice.wait_disconnected(), GUARD)
        assert alice.connection_state == lkcore.ConnectionState.DISCONNECTED and not reconnecting.seen
        (p, _reason) = await left.wait()
        assert p.identity == "alice"
        # The room has ended but its handle is held until disconnect(): the library refuses,
        # not retryable.
        assert alice._session.live
        with pytest.raises(errors.DisconnectedError) as ei:
            await simulate(alice, SimulateScenario.SIGNAL_RECONNECT)
        assert not ei.value.retryable
    finally:
        await alice.disconnect()
        await bob.disconnect()


@pytest.mark.devsfu
async def test_simulated_loss_without_reconnection_ends_the_room(devsfu, token_for) -> None:
    # With reconnection off a simulated loss ends the room as a real one would: the call
    # returns once the fault is under way (there is no reconnection to wait for).
    alice = await connect(devsfu.url, token_for("alice"), options=lkcore.RoomOptions(max_reconnect_attempts=-1))
    try:
        gone = EventWaiter(alice, "disconnected")
        reconnected = EventWaiter(alice, "reconnected")
        await simulate(alice, SimulateScenario.SIGNAL_RECONNECT)
        assert await gone.wait() == (lkcore.DisconnectReason.SIGNAL_CLOSE,)
        await asyncio.wait_for(alice.wait_disconnected(), GUARD)
        assert alice.connection_state == lkcore.ConnectionState.DISCONNECTED and not reconnected.seen
    finally:
        await alice.disconnect()


@pytest.mark.devsfu
async def test_refusals(devsfu, token_for) -> None:
    # Never connected: the binding's DisconnectedError, before anything is sent.
    idle = lkcore.Room()
    with pytest.raises(errors.DisconnectedError):
        await simulate(idle, SimulateScenario.SIGNAL_RECONNECT)
    await idle.disconnect()

    alice = await connect(devsfu.url, token_for("alice"))
    try:
        sid = alice.local_participant.sid
        reconnecting = EventWaiter(alice, "reconnecting")
        # A number that is no scenario reaches the library, which refuses it.
        for bad in (0, 99):
            with pytest.raises(errors.InvalidArgumentError):
                await simulate(alice, bad)
        assert not reconnecting.seen and alice.connection_state == lkcore.ConnectionState.CONNECTED

        # Two at once: the second finds the first's loss under way, a retryable refusal (in the
        # completion or the response, whichever); the room then reconnects once.
        reconnected = EventWaiter(alice, "reconnected")
        results: List[Any] = await asyncio.gather(
            simulate(alice, SimulateScenario.SIGNAL_RECONNECT),
            simulate(alice, SimulateScenario.SIGNAL_RECONNECT),
            return_exceptions=True,
        )
        assert results.count(None) == 1, results
        (refused,) = [r for r in results if r is not None]
        assert isinstance(refused, errors.DisconnectedError) and refused.retryable, results
        assert (await reconnected.wait())[0] == RESUME
        await assert_model_matches_library(alice)
        assert alice.local_participant.sid == sid and len(reconnected.seen) == 1
    finally:
        await alice.disconnect()


async def test_reconnected_carries_the_discarded_and_replayed_packets() -> None:
    # The library's counts (ABI 1.28) reach the handlers as they are, the largest uint32
    # included. Fed to the room's event handling directly: no server discards reliable packets on
    # demand (the core's tests cause both with real faults).
    room = lkcore.Room()
    seen: "list[tuple[Any, ...]]" = []
    room.on("reconnected", lambda *args: seen.append(args))
    room._on_room_event(pb.RoomEvent(reconnected=pb.Reconnected(kind=pb.RECONNECT_KIND_FULL, discarded_packets=7)))
    room._on_room_event(pb.RoomEvent(reconnected=pb.Reconnected(kind=pb.RECONNECT_KIND_RESUME, replayed_packets=4_294_967_295)))
    assert seen == [(FULL, 7, 0), (RESUME, 0, 4_294_967_295)]
