"""Other participants' media tracks, described (ABI 1.25): ``Participant.track_publications`` and
the room's ``track_published`` / ``track_unpublished`` / ``track_muted`` / ``track_unmuted``
events, end to end through liblkcore and lkcore-devsfu (whose ``/devsfu/media-track`` control
endpoint stands in for a participant publishing a microphone or a camera from a browser)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import lkcore
from lkcore import TrackKind, TrackPublication, TrackSource
from lkcore._proto import lkcore_ffi_pb2 as pb

from helpers import GUARD, EventWaiter, assert_model_matches_library, connect, control

pytestmark = pytest.mark.devsfu

TRACK_EVENTS = ("track_published", "track_unpublished", "track_muted", "track_unmuted")


async def media_track(url: str, room: str, identity: str, sid: str, **params: Any) -> None:
    """Publishes (or replaces, or with remove="1" unpublishes) ``identity``'s media track ``sid``
    through devsfu's control endpoint; the server announces it to everyone at once."""
    await asyncio.to_thread(control, url, "media-track", room=room, identity=identity, sid=sid,
                            **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()})


class Recorder:
    """Records, in order, the track events and ``participant_disconnected`` of a room, each with
    the participant's ``track_publications`` as the handler saw them (so a test can tell that the
    participant's info was updated before the event was emitted)."""

    def __init__(self, room: lkcore.Room) -> None:
        self.log: "list[tuple[str, str, str, list[str]]]" = []  # (event, identity, sid, sids listed then)
        for name in TRACK_EVENTS:
            room.on(name, self._track(name))
        room.on("participant_disconnected", lambda p, reason: self.log.append(
            ("participant_disconnected", p.identity, "", list(p.track_publications))))

    def _track(self, name: str) -> Any:
        def on(*args: Any) -> None:
            pub, p = args if name in ("track_published", "track_unpublished") else reversed(args)
            assert isinstance(pub, TrackPublication) and isinstance(p, lkcore.Participant)
            self.log.append((name, p.identity, pub.sid, list(p.track_publications)))
        return on


async def test_media_track_publications(devsfu, token_for, room_name) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    rooms = [alice, bob]
    try:
        p = bob.remote_participants["alice"]
        assert p.track_publications == {}
        published = EventWaiter(bob, "track_published")
        unpublished = EventWaiter(bob, "track_unpublished")
        muted = EventWaiter(bob, "track_muted")
        unmuted = EventWaiter(bob, "track_unmuted")
        rec = Recorder(bob)

        # A microphone: every field as the server describes it, and listed by alice's object.
        await media_track(devsfu.url, room_name, "alice", "TR_mic", kind="audio", source="microphone", name="mic",
                          mime="audio/opus")
        pub, who = await published.wait(lambda pub, who: pub.sid == "TR_mic")
        mic = TrackPublication("TR_mic", "mic", TrackKind.AUDIO, TrackSource.MICROPHONE, False, "audio/opus", 0, 0,
                               False, False)
        assert who is p and pub == mic
        assert type(pub.kind) is TrackKind and type(pub.source) is TrackSource
        assert p.track_publications == {"TR_mic": mic}
        assert rec.log[-1] == ("track_published", "alice", "TR_mic", ["TR_mic"])  # listed when emitted
        with pytest.raises(dataclasses.FrozenInstanceError):
            pub.muted = True  # type: ignore[misc]
        p.track_publications.clear()  # a copy: the participant's list is not changed through it
        assert p.track_publications == {"TR_mic": mic}

        # Muted, then unmuted: track_muted / track_unmuted (participant first), the new state.
        await media_track(devsfu.url, room_name, "alice", "TR_mic", kind="audio", source="microphone", name="mic",
                          mime="audio/opus", muted=True)
        who, pub = await muted.wait()
        mic_muted = dataclasses.replace(mic, muted=True)
        assert who is p and pub == mic_muted and p.track_publications == {"TR_mic": mic_muted}
        await media_track(devsfu.url, room_name, "alice", "TR_mic", kind="audio", source="microphone", name="mic",
                          mime="audio/opus", muted=False)
        who, pub = await unmuted.wait()
        assert who is p and pub == mic and p.track_publications == {"TR_mic": mic}
        assert [e[0] for e in rec.log] == ["track_published", "track_muted", "track_unmuted"]
        assert len(muted.seen) == 1 and len(published.seen) == 1

        # A simulcast, encrypted camera: the video fields; listed after the microphone.
        await media_track(devsfu.url, room_name, "alice", "TR_cam", kind="video", source="camera", name="cam",
                          mime="video/VP8", width=1280, height=720, simulcast=True, encrypted=True)
        pub, who = await published.wait(lambda pub, who: pub.sid == "TR_cam")
        cam = TrackPublication("TR_cam", "cam", TrackKind.VIDEO, TrackSource.CAMERA, False, "video/VP8", 1280, 720,
                               True, True)
        assert who is p and pub == cam
        assert list(p.track_publications.items()) == [("TR_mic", mic), ("TR_cam", cam)]

        # Its dimensions change: no event, alice's list is updated (seen once the next track's
        # event, which the server sends after it, has arrived).
        await media_track(devsfu.url, room_name, "alice", "TR_cam", kind="video", source="camera", name="cam",
                          mime="video/VP8", width=640, height=360, simulcast=True, encrypted=True)
        await media_track(devsfu.url, room_name, "alice", "TR_screen", kind="video", source="screen_share")
        await media_track(devsfu.url, room_name, "alice", "TR_screen_audio", kind="audio",
                          source="screen_share_audio")
        await published.wait(lambda pub, who: pub.sid == "TR_screen_audio")
        cam = dataclasses.replace(cam, width=640, height=360)
        screen = TrackPublication("TR_screen", kind=TrackKind.VIDEO, source=TrackSource.SCREEN_SHARE)
        screen_audio = TrackPublication("TR_screen_audio", kind=TrackKind.AUDIO, source=TrackSource.SCREEN_SHARE_AUDIO)
        assert list(p.track_publications.items()) == [
            ("TR_mic", mic), ("TR_cam", cam), ("TR_screen", screen), ("TR_screen_audio", screen_audio)]
        assert [e[2] for e in rec.log if e[0] == "track_published"] == [
            "TR_mic", "TR_cam", "TR_screen", "TR_screen_audio"]  # no event for the dimensions
        await assert_model_matches_library(bob)

        # Carol, joining now, finds alice's tracks in her connect snapshot (no events for them).
        carol = lkcore.Room()
        rooms.append(carol)
        carol_published = EventWaiter(carol, "track_published")  # listening before the connect
        carol_unpublished = EventWaiter(carol, "track_unpublished")
        await asyncio.wait_for(carol.connect(devsfu.url, token_for("carol")), GUARD)
        assert list(carol.remote_participants["alice"].track_publications.items()) == list(
            p.track_publications.items())
        assert carol.remote_participants["bob"].track_publications == {}
        await assert_model_matches_library(carol)

        # The screen share is unpublished: its last description, and no longer listed.
        await media_track(devsfu.url, room_name, "alice", "TR_screen", remove="1")
        pub, who = await unpublished.wait()
        assert who is p and pub == screen
        assert list(p.track_publications) == ["TR_mic", "TR_cam", "TR_screen_audio"]
        assert rec.log[-1] == ("track_unpublished", "alice", "TR_screen", ["TR_mic", "TR_cam", "TR_screen_audio"])
        pub, who = await carol_unpublished.wait()
        assert pub == screen and who is carol.remote_participants["alice"]
        assert carol_published.seen == []  # the snapshot's tracks came without events
        await assert_model_matches_library(bob)
        await assert_model_matches_library(carol)

        # Alice leaves: a track_unpublished for each remaining track, each with the list already
        # without it, all before participant_disconnected.
        gone = EventWaiter(bob, "participant_disconnected")
        before = len(rec.log)
        await alice.disconnect()
        await gone.wait(lambda who, reason: who is p)
        leaving = rec.log[before:]
        assert leaving[-1] == ("participant_disconnected", "alice", "", [])
        assert [e[:2] for e in leaving[:-1]] == [("track_unpublished", "alice")] * 3
        assert sorted(e[2] for e in leaving[:-1]) == ["TR_cam", "TR_mic", "TR_screen_audio"]
        remaining = ["TR_mic", "TR_cam", "TR_screen_audio"]
        for _, _, sid, listed in leaving[:-1]:
            remaining.remove(sid)
            assert listed == remaining
        last = {pub.sid: pub for pub, who in unpublished.seen if who is p}
        assert (last["TR_mic"], last["TR_cam"], last["TR_screen_audio"]) == (mic, cam, screen_audio)
        assert p.track_publications == {} and "alice" not in bob.remote_participants
    finally:
        for r in rooms:
            await r.disconnect()


async def test_track_events_conversion(devsfu, token_for) -> None:
    # The conversion of each kind of ParticipantUpdated with a track, synchronously: made here
    # from bob's info of alice and handed to bob's event route like one from the library. A kind
    # or source newer than this binding (a number it does not know) is not an error: it shows as
    # the schema's zero value (AUDIO, UNKNOWN).
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        client, handle = bob.client, bob._session.handle
        assert client is not None
        p = bob.remote_participants["alice"]
        seen: "list[tuple[str, tuple[Any, ...], list[TrackPublication]]]" = []
        for name in TRACK_EVENTS + ("participant_name_changed", "participant_metadata_changed"):
            bob.on(name, (lambda n: lambda *args: seen.append((n, args, list(p.track_publications.values()))))(name))

        def update(tracks: "list[pb.TrackPublicationInfo]", **flag: pb.TrackPublicationInfo) -> "list[Any]":
            info = pb.ParticipantInfo()
            info.CopyFrom(p._info)
            del info.tracks[:]
            info.tracks.extend(tracks)
            seen.clear()
            client._dispatch(pb.Event(room=pb.RoomEvent(room_handle=handle, participant_updated=pb.ParticipantUpdated(
                info=info, **flag))))
            return seen[:]

        newer = pb.TrackPublicationInfo(sid="TR_new", name="n", kind=7, source=9, mime_type="video/AV2", width=3,
                                        height=2, simulcast=True, encrypted=True)
        new = TrackPublication("TR_new", "n", TrackKind.AUDIO, TrackSource.UNKNOWN, False, "video/AV2", 3, 2, True, True)
        assert update([newer], track_published=newer) == [("track_published", (new, p), [new])]
        assert p.track_publications == {"TR_new": new}

        mic = pb.TrackPublicationInfo(sid="TR_mic", kind=pb.TRACK_KIND_AUDIO, source=pb.TRACK_SOURCE_MICROPHONE,
                                      muted=True)
        mic_pub = TrackPublication("TR_mic", kind=TrackKind.AUDIO, source=TrackSource.MICROPHONE, muted=True)
        assert update([newer, mic], track_mute_changed=mic) == [("track_muted", (p, mic_pub), [new, mic_pub])]
        mic.muted = False
        unmuted = dataclasses.replace(mic_pub, muted=False)
        assert update([newer, mic], track_mute_changed=mic) == [("track_unmuted", (p, unmuted), [new, unmuted])]
        assert update([mic], track_unpublished=newer) == [("track_unpublished", (new, p), [unmuted])]
        # Without a flag (another change of a track): the list is replaced, no event.
        cam = pb.TrackPublicationInfo(sid="TR_cam", kind=pb.TRACK_KIND_VIDEO, source=pb.TRACK_SOURCE_CAMERA, width=1)
        assert update([mic, cam]) == []
        assert list(p.track_publications.values()) == [
            unmuted, TrackPublication("TR_cam", kind=TrackKind.VIDEO, source=TrackSource.CAMERA, width=1)]
        assert update([]) == [] and p.track_publications == {}
    finally:
        for r in (alice, bob):
            await r.disconnect()
