"""Active speakers (ABI 1.29): ``Participant.is_speaking`` / ``audio_level``, ``Room.active_speakers``
and the room's ``participant_speaking_changed`` / ``active_speakers_changed`` events, end to end
through liblkcore and lkcore-devsfu (whose ``/devsfu/audio-level`` control endpoint stands in for
the server measuring a participant's microphone), and the binding's mapping of the library's
list on its own (the connect snapshot and events made here)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import lkcore
from lkcore._proto import lkcore_ffi_pb2 as pb

from helpers import EventWaiter, assert_model_matches_library, control, published_track
from test_data_track import first_frame_while_pushing


async def set_level(url: str, room: str, identity: str, level: float) -> None:
    """Makes ``identity`` speak at ``level`` (0: silent) from devsfu's next speaker update on."""
    await asyncio.to_thread(control, url, "audio-level", room=room, identity=identity, level=str(level))


class Log:
    """Records a room's speaker events in order, with what the model shows when each handler
    runs: for ``participant_speaking_changed`` the arguments and the participant's properties,
    for ``active_speakers_changed`` the argument and ``room.active_speakers``."""

    def __init__(self, room: lkcore.Room) -> None:
        self.entries: "list[tuple[Any, ...]]" = []
        room.on("participant_speaking_changed", lambda p, speaking, level: self.entries.append(
            ("speaking", p, speaking, level, p.is_speaking, p.audio_level)))
        room.on("active_speakers_changed", lambda speakers: self.entries.append(
            ("speakers", speakers, room.active_speakers)))


def speaking(p: lkcore.Participant, on: bool, level: float) -> "tuple[Any, ...]":
    """The Log entry of a participant_speaking_changed (its arguments as the properties)."""
    return ("speaking", p, on, level, on, level)


def speakers(room_list: "list[lkcore.Participant]") -> "tuple[Any, ...]":
    """The Log entry of an active_speakers_changed whose list, and room.active_speakers, are these."""
    return ("speakers", room_list, room_list)


def ids(speakers: "list[lkcore.Participant]") -> "list[str]":
    return [p.identity for p in speakers]


@pytest.mark.devsfu
async def test_active_speakers(devsfu, token_for, room_name) -> None:
    # The server tells each participant about itself and about those it subscribes to (a data
    # track counts), levels rounded up to eighths: bob, subscribed to alice's track, hears alice
    # and himself; alice, subscribed to nothing of bob's, hears only herself.
    async with published_track(devsfu.url, token_for, "voice") as (alice, bob, track, remote):
        bob_log, alice_log = Log(bob), Log(alice)
        bob_lists = EventWaiter(bob, "active_speakers_changed")
        alice_lists = EventWaiter(alice, "active_speakers_changed")
        sub = await remote.subscribe()
        await first_frame_while_pushing(track, sub, b"warm-up", 1)  # the subscription is established
        ra, me_b, me_a = bob.remote_participants["alice"], bob.local_participant, alice.local_participant
        assert bob.active_speakers == [] and (ra.is_speaking, ra.audio_level) == (False, 0.0)

        await set_level(devsfu.url, room_name, "alice", 0.4)  # sent as 0.5
        await bob_lists.wait(lambda s: ids(s) == ["alice"])
        assert (ra.is_speaking, ra.audio_level) == (True, 0.5) and bob.active_speakers == [ra]
        assert bob.active_speakers[0] is ra
        await alice_lists.wait(lambda s: ids(s) == ["alice"])
        assert (me_a.is_speaking, me_a.audio_level) == (True, 0.5) and alice.active_speakers == [me_a]

        await set_level(devsfu.url, room_name, "bob", 0.9)  # sent as 1.0: louder, first
        await bob_lists.wait(lambda s: ids(s) == ["bob", "alice"])
        assert (me_b.is_speaking, me_b.audio_level) == (True, 1.0) and bob.active_speakers == [me_b, ra]
        await assert_model_matches_library(bob)

        await set_level(devsfu.url, room_name, "alice", 0)
        await bob_lists.wait(lambda s: ids(s) == ["bob"])
        assert (ra.is_speaking, ra.audio_level) == (False, 0.0) and bob.active_speakers == [me_b]
        await alice_lists.wait(lambda s: s == [])
        # The update that told bob he speaks was sent to alice's signal connection, if at all,
        # before the one that tells her she stopped: she was never told about bob.
        assert alice_log.entries == [speaking(me_a, True, 0.5), speakers([me_a]), speaking(me_a, False, 0.0),
                                     speakers([])]
        rb = alice.remote_participants["bob"]
        assert (rb.is_speaking, rb.audio_level) == (False, 0.0) and alice.active_speakers == []

        await set_level(devsfu.url, room_name, "bob", 0)
        await bob_lists.wait(lambda s: s == [])
        assert (me_b.is_speaking, me_b.audio_level) == (False, 0.0) and bob.active_speakers == []
        # Each change of a participant before the list it changed, nothing else.
        assert bob_log.entries == [
            speaking(ra, True, 0.5), speakers([ra]),
            speaking(me_b, True, 1.0), speakers([me_b, ra]),
            speaking(ra, False, 0.0), speakers([me_b]),
            speaking(me_b, False, 0.0), speakers([]),
        ]
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
        sub.close()


def info(identity: str, level: float = 0.0) -> pb.ParticipantInfo:
    return pb.ParticipantInfo(sid="PA_" + identity, identity=identity, is_speaking=level > 0, audio_level=level)


async def test_active_speakers_mapping() -> None:
    # The binding's side alone, from a connect snapshot and events made here: the library's list
    # is taken in its order (deliberately not the levels' here: the binding sorts nothing),
    # mapped to the room's own objects, the local participant included; an identity the room
    # does not know is left out.
    room = lkcore.Room()
    room._on_connected(pb.Completion(connect=pb.ConnectResult(
        room=pb.RoomInfo(sid="RM_x", name="x"),
        local_participant=info("me", 0.25),
        remote_participants=[info("a", 0.5), info("b", 0.125), info("c")],
        active_speakers=["b", "me", "a"],
    )))
    me, a, b, c = room.local_participant, *(room.remote_participants[i] for i in "abc")
    assert room.active_speakers == [b, me, a]
    assert (me.is_speaking, me.audio_level, a.is_speaking, a.audio_level) == (True, 0.25, True, 0.5)
    assert (c.is_speaking, c.audio_level) == (False, 0.0)
    got = room.active_speakers
    got.clear()  # a copy
    assert room.active_speakers == [b, me, a]

    log = Log(room)

    def event(**kw: Any) -> None:
        room._on_ffi_event(pb.Event(room=pb.RoomEvent(room_handle=1, **kw)))

    event(participant_updated=pb.ParticipantUpdated(info=info("c", 0.875), speaking_changed=True))
    event(active_speakers_changed=pb.ActiveSpeakersChanged(identities=["a", "c", "me", "b"]))
    # A ParticipantUpdated without the flag announces nothing about speaking.
    event(participant_updated=pb.ParticipantUpdated(info=info("c", 0.875)))
    event(active_speakers_changed=pb.ActiveSpeakersChanged(identities=["ghost", "me"]))
    event(active_speakers_changed=pb.ActiveSpeakersChanged())
    assert log.entries == [
        speaking(c, True, 0.875), speakers([a, c, me, b]), speakers([me]), speakers([]),
    ]
    assert room.active_speakers == []
