"""Data tracks end to end through liblkcore and lkcore-devsfu."""

from __future__ import annotations

import asyncio
import gc

import pytest

import lkcore
from lkcore import errors
from lkcore._proto import lkcore_ffi_pb2 as pb
from lkcore.data_track import MAX_BUFFER_SIZE

from helpers import GUARD, EventWaiter, assert_model_matches_library, connect, control, published_track

pytestmark = pytest.mark.devsfu


async def push_until(track: lkcore.LocalDataTrack, payload: bytes, ts: int, done: "asyncio.Future[object]") -> int:
    """Pushes the same frame every 20 ms until `done` (the subscription needs time to be
    established; frames before that are legitimately not delivered)."""
    n = 0
    while not done.done():
        try:
            track.try_push(payload, user_timestamp=ts)
            n += 1
        except errors.QueueFullError:
            pass
        except errors.FailedPreconditionError as e:
            # A full reconnect of the publisher is publishing the track again (documented,
            # retryable).
            assert e.retryable, e
        await asyncio.sleep(0.02)
    return n


async def first_frame_while_pushing(
    track: lkcore.LocalDataTrack, sub: lkcore.DataTrackSubscription, payload: bytes, ts: int
) -> lkcore.DataTrackFrame:
    """Pushes `payload` (push_until) until `sub` delivers a frame (within the guard), which it
    returns."""
    done: "asyncio.Future[object]" = asyncio.get_running_loop().create_future()
    pusher = asyncio.ensure_future(push_until(track, payload, ts, done))
    try:
        return await asyncio.wait_for(sub.__aiter__().__anext__(), GUARD)
    finally:
        done.set_result(None)
        await pusher


async def push_numbered(track: lkcore.LocalDataTrack, i: int) -> None:
    """Pushes frame number `i` (b"n" + 4 bytes big-endian), retrying while the queue is full:
    every numbered frame leaves the publisher, so what the subscriber misses was lost on the
    way or in its own buffer."""
    while True:
        try:
            track.try_push(b"n" + i.to_bytes(4, "big"))
            return
        except errors.QueueFullError:
            await asyncio.sleep(0.001)


async def test_publish_subscribe_unpublish(devsfu, token_for) -> None:
    async with published_track(
        devsfu.url, token_for, "sensor", schema_name="s", frame_encoding="raw"
    ) as (alice, bob, track, remote):
        unpublished = EventWaiter(bob, "data_track_unpublished")
        assert isinstance(track, lkcore.LocalDataTrack)
        assert track.name == "sensor" and track.sid and track.is_published()
        assert alice.local_participant.data_tracks["sensor"] is track

        assert isinstance(remote, lkcore.RemoteDataTrack)
        assert (remote.name, remote.sid, remote.publisher_identity) == ("sensor", track.sid, "alice")
        assert remote.info.schema_name == "s" and remote.info.frame_encoding == "raw"
        assert bob.remote_participants["alice"].data_tracks["sensor"] is remote

        sub = await remote.subscribe(buffer_size=8)
        first: "asyncio.Future[object]" = asyncio.get_running_loop().create_future()
        pusher = asyncio.ensure_future(push_until(track, b"warmup", 1, first))
        it = sub.__aiter__()
        frame = await asyncio.wait_for(it.__anext__(), GUARD)
        first.set_result(None)
        await pusher
        assert frame.payload == b"warmup" and frame.user_timestamp == 1

        # Drain warm-up frames, then send a numbered sequence and check order and content.
        for i in range(20):
            while True:
                try:
                    track.try_push(i.to_bytes(4, "big") * 64, user_timestamp=1000 + i)
                    break
                except errors.QueueFullError:
                    await asyncio.sleep(0.005)
            await asyncio.sleep(0.002)
        got = []
        while len(got) < 20:
            f = await asyncio.wait_for(it.__anext__(), GUARD)
            if f.payload == b"warmup":
                continue
            got.append(f)
            if f.user_timestamp == 1019:
                break
        idx = [int.from_bytes(f.payload[:4], "big") for f in got]
        assert idx == sorted(idx) and idx[-1] == 19
        for f in got:
            assert f.payload == f.payload[:4] * 64 and f.user_timestamp == 1000 + int.from_bytes(f.payload[:4], "big")
        assert sub.frames_received >= len(got)
        # Every frame not delivered is counted, never lost silently.
        assert len(idx) + sum(f.dropped_before for f in got) >= 20 - 0

        await track.unpublish()
        assert not track.is_published()
        with pytest.raises(errors.TrackUnpublishedError):
            track.try_push(b"late")
        (gone,) = await unpublished.wait()
        assert gone is remote and not remote.is_published()
        rest = [f async for f in sub]  # iteration ends
        assert all(f.payload != b"late" for f in rest)
        assert sub.end_reason == lkcore.SubscriptionEndReason.UNPUBLISHED
        await sub.aclose()


async def test_duplicate_track_name_is_refused(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        t = await alice.local_participant.publish_data_track("dup")
        with pytest.raises(errors.AlreadyExistsError):
            await alice.local_participant.publish_data_track("dup")
        with pytest.raises(errors.InvalidArgumentError):
            await alice.local_participant.publish_data_track("")
        assert t.is_published()
    finally:
        await alice.disconnect()


async def test_existing_tracks_are_in_the_snapshot(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        t = await alice.local_participant.publish_data_track("early")
        bob = await connect(devsfu.url, token_for("bob"))
        try:
            tracks = bob.remote_participants["alice"].data_tracks
            if not tracks:  # the publication may also arrive as an event right after joining
                await EventWaiter(bob, "data_track_published").wait()
            (remote,) = bob.remote_participants["alice"].data_tracks.values()
            assert remote.sid == t.sid and remote.name == "early"
        finally:
            await bob.disconnect()
    finally:
        await alice.disconnect()


async def test_track_handle_released_when_collected_and_on_disconnect(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    client = alice.client
    assert client is not None
    t = await alice.local_participant.publish_data_track("gc")
    assert client.live_handles == 2  # room + track
    alice.local_participant.data_tracks.clear()
    del t
    # The loop's handle that resumed this task still references the finished publish future
    # (and so the track) until the task yields once.
    await asyncio.sleep(0)
    gc.collect()
    assert client.live_handles == 1
    t2 = await alice.local_participant.publish_data_track("kept")
    await alice.disconnect()
    assert client.live_handles == 0
    with pytest.raises((errors.ClientClosedError, errors.InvalidHandleError, errors.TrackUnpublishedError)):
        t2.try_push(b"x")
    assert not t2.is_published()


async def test_auto_subscribe(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        early = await alice.local_participant.publish_data_track("early")
        bob = lkcore.Room(lkcore.RoomOptions(auto_subscribe=True, data_track_buffer_size=32))
        published = EventWaiter(bob, "data_track_published")  # before connect: none is missed
        await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
        try:
            # A snapshot track is in the participant's tracks, its subscription already there.
            t_early = bob.remote_participants["alice"].data_tracks["early"]
            late = await alice.local_participant.publish_data_track("late")
            (t_late,) = await published.wait(lambda t: t.name == "late")
            # Only the track published after the join is announced, never the snapshot's.
            assert [t.name for (t,) in published.seen] == ["late"]
            client = bob.client
            assert client is not None
            assert client.live_handles == 3  # room + two auto-subscriptions
            subs = []
            for local, remote in ((early, t_early), (late, t_late)):
                sub = await remote.subscribe()  # the auto-subscription, not a new one
                subs.append(sub)
                done: "asyncio.Future[object]" = asyncio.get_running_loop().create_future()
                pusher = asyncio.ensure_future(push_until(local, remote.name.encode(), 7, done))
                frame = await asyncio.wait_for(sub.__anext__(), GUARD)
                done.set_result(None)
                await pusher
                assert frame.payload == remote.name.encode() and frame.user_timestamp == 7
            assert client.live_handles == 3
            del sub, subs  # a collected subscription releases its handle
            await asyncio.sleep(0)
            gc.collect()
            assert client.live_handles == 1
        finally:
            await bob.disconnect()
    finally:
        await alice.disconnect()


async def test_slow_consumer_counts_every_dropped_frame(devsfu, token_for) -> None:
    """A consumer that does not read while 200 frames arrive (buffer of 4) loses most of
    them, and every loss is reported: between two delivered frames, dropped_before is the
    number of frames pushed in between, so delivered + sum(dropped_before) == pushed."""
    async with published_track(devsfu.url, token_for, "fast") as (_, bob, track, remote):
        sub = await remote.subscribe(buffer_size=4)
        it = sub.__aiter__()
        first: "asyncio.Future[object]" = asyncio.get_running_loop().create_future()
        pusher = asyncio.ensure_future(push_until(track, b"warmup", 1, first))
        await asyncio.wait_for(it.__anext__(), GUARD)
        first.set_result(None)
        await pusher

        n = 200
        for i in range(n + 1):  # bob reads nothing meanwhile; frame n is the tail
            await push_numbered(track, i)
        got = []  # (index, dropped_before) of the delivered numbered frames
        while not got or got[-1][0] != n:
            f = await asyncio.wait_for(it.__anext__(), GUARD)
            if f.payload == b"warmup":
                continue
            got.append((int.from_bytes(f.payload[1:5], "big"), f.dropped_before))
        idx = [i for i, _ in got]
        assert idx == sorted(set(idx)), f"frames out of order or repeated: {idx}"
        for (prev, _), (cur, dropped) in zip(got, got[1:]):
            assert dropped == cur - prev - 1, f"frame {cur}: dropped_before {dropped}, {cur - prev - 1} frames lost since {prev}"
        delivered, reported = len(got) - 1, sum(d for _, d in got[1:])
        assert delivered + reported == idx[-1] - idx[0], "delivered + dropped != pushed"
        assert reported > 0, "nothing was dropped: the consumer was not slow"


async def test_concurrent_readers_all_see_the_end(devsfu, token_for) -> None:
    # Two tasks read one subscription; when it ends (the publisher unpublishes: the end arrives
    # later, over the network, while both wait), both return instead of one waiting forever.
    async with published_track(devsfu.url, token_for, "quiet") as (_, bob, track, remote):
        sub = await asyncio.wait_for(remote.subscribe(), GUARD)
        readers = [asyncio.create_task(sub.read()) for _ in range(2)]
        await track.unpublish()
        assert await asyncio.wait_for(asyncio.gather(*readers), GUARD) == [None, None]
        assert sub.end_reason == lkcore.SubscriptionEndReason.UNPUBLISHED
        await sub.aclose()


async def test_user_timestamp_is_checked_the_same_on_both_push_paths(devsfu, token_for) -> None:
    # The fast path (ctypes u64) wrapped a negative or too large timestamp silently, while
    # push() failed with protobuf's ValueError: both now raise InvalidArgumentError.
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        track = await alice.local_participant.publish_data_track("ts")
        for bad in (-1, 1 << 64):
            with pytest.raises(errors.InvalidArgumentError):
                track.try_push(b"x", user_timestamp=bad)
            with pytest.raises(errors.InvalidArgumentError):
                await asyncio.wait_for(track.push(b"x", user_timestamp=bad), GUARD)
            with pytest.raises(errors.InvalidArgumentError):
                track.try_push(lkcore.DataTrackFrame(b"x", bad))
        assert track.stats().pushed == 0  # nothing was queued
        track.try_push(b"x", user_timestamp=(1 << 64) - 1)
        with pytest.raises(TypeError):
            track.try_push(b"x", user_timestamp=1.5)  # type: ignore[arg-type]
    finally:
        await alice.disconnect()


async def test_subscription_buffer_cap_is_the_library_s(devsfu, token_for, monkeypatch: pytest.MonkeyPatch) -> None:
    # BINDINGS.md §6: caps are checked by the library (INVALID_ARGUMENT), not duplicated in the
    # binding: a buffer beyond 65 536 reaches the library, which refuses it with a typed error.
    async with published_track(devsfu.url, token_for, "capped") as (_, bob, _, remote):
        client = bob.client
        assert client is not None
        sent: "list[str]" = []
        real = client.request

        def spy(req):  # type: ignore[no-untyped-def]
            sent.append(req.WhichOneof("message"))
            return real(req)

        monkeypatch.setattr(client, "request", spy)
        with pytest.raises(errors.InvalidArgumentError):
            remote.subscribe(buffer_size=MAX_BUFFER_SIZE + 1)
        assert sent == ["subscribe_data_track"]
        with pytest.raises(errors.InvalidArgumentError):
            remote.subscribe(buffer_size=-1)  # not representable: refused before the library
        sub = await asyncio.wait_for(remote.subscribe(buffer_size=MAX_BUFFER_SIZE), GUARD)
        await sub.aclose()


async def test_push_waits_for_the_republication(devsfu, token_for) -> None:
    # A full reconnect publishes alice's track again; devsfu holds that request until the test
    # releases it. Meanwhile try_push refuses with a retryable FailedPreconditionError and push
    # waits; it completes once the track is published again (its sid changed).
    async with published_track(devsfu.url, token_for, "held") as (alice, _bob, track, _remote):
        old_sid = track.sid
        try:
            await asyncio.to_thread(control, devsfu.url, "publish-fault", identity="alice", hold="1")
            reconnected = EventWaiter(alice, "reconnected")
            await asyncio.to_thread(
                control, devsfu.url, "leave", identity="alice", action="RECONNECT", reason="STATE_MISMATCH"
            )
            assert (await reconnected.wait())[0] == lkcore.ReconnectKind.FULL
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GUARD
            while True:  # the republication starts right after the reconnected event
                assert loop.time() < deadline, "the track never republished"
                try:
                    track.try_push(b"probe")
                except errors.FailedPreconditionError as e:
                    assert e.retryable
                    break
                await asyncio.sleep(0.005)
            pushed = asyncio.ensure_future(track.push(b"after the republication"))
            await asyncio.sleep(0.2)
            assert not pushed.done(), "push returned while the track was republishing"
            assert track.sid == old_sid
            sid_changed = EventWaiter(alice, "local_data_track_sid_changed")
            await asyncio.to_thread(control, devsfu.url, "publish-fault", identity="alice")
            await asyncio.to_thread(control, devsfu.url, "release-held-publishes")
            await asyncio.wait_for(pushed, GUARD)
            await sid_changed.wait()
            assert track.sid != old_sid
        finally:
            await asyncio.to_thread(control, devsfu.url, "publish-fault", identity="alice")
            await asyncio.to_thread(control, devsfu.url, "release-held-publishes")


async def test_subscribe_after_the_publisher_fully_reconnected(devsfu, token_for) -> None:
    # A full reconnect gives the publisher's tracks new sids. Bob's model follows the library's
    # events (ABI 1.10): data_track_sid_changed (the same RemoteDataTrack, its sid updated) or,
    # depending on the order of the server's updates, data_track_unpublished then
    # data_track_published (a new object). Either way the track bob's participant lists under
    # the name has the new sid, and subscribing to it delivers the publisher's frames.
    async with published_track(devsfu.url, token_for, "sensor") as (alice, bob, track, remote):
        old_sid = remote.sid
        try:
            changed = EventWaiter(bob, "data_track_sid_changed")
            unpublished = EventWaiter(bob, "data_track_unpublished")
            published = EventWaiter(bob, "data_track_published")  # a republication under a new sid

            reconnected = EventWaiter(alice, "reconnected")
            await asyncio.to_thread(control, devsfu.url, "force-full-reconnect", identity="alice", on="true")
            await asyncio.to_thread(control, devsfu.url, "drop-signal", identity="alice")
            assert (await reconnected.wait())[0] == lkcore.ReconnectKind.FULL

            # Whichever way the library tells it (each wait is bounded by GUARD).
            sid_changed = asyncio.ensure_future(changed.wait())
            republished = asyncio.ensure_future(published.wait(lambda t: t.name == "sensor" and t.sid != old_sid))
            done, pending = await asyncio.wait({sid_changed, republished}, return_when=asyncio.FIRST_COMPLETED)
            for f in pending:
                f.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if sid_changed in done and sid_changed.exception() is None:
                assert sid_changed.result() == (remote, old_sid)
                current = remote
                assert remote.is_published()
            else:
                (current,) = republished.result()  # raises the timeout if neither came
                assert current is not remote
                assert unpublished.seen == [(remote,)], "published again without the old track unpublished"
                assert not remote.is_published()
            participant = bob.remote_participants["alice"]
            assert current.sid and current.sid != old_sid
            assert participant.data_tracks["sensor"] is current
            assert participant.data_track_by_sid(current.sid) is current
            assert participant.data_track_by_sid(old_sid) is None

            # The library knows the track under its new sid: subscribing succeeds at once; frames
            # flow once the server routes the new publication (retried within the guard).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GUARD
            frame = None
            while frame is None:
                assert loop.time() < deadline, "no frame through a subscription made after the full reconnect"
                sub = current.subscribe(buffer_size=8)
                first: "asyncio.Future[object]" = loop.create_future()
                pusher = asyncio.ensure_future(push_until(track, b"after", 7, first))
                try:
                    frame = await asyncio.wait_for(sub.__aiter__().__anext__(), 1.0)
                except (asyncio.TimeoutError, StopAsyncIteration):
                    pass
                finally:
                    first.set_result(None)
                    await pusher
                    await sub.aclose()
            assert frame.payload == b"after"
        finally:
            await asyncio.to_thread(control, devsfu.url, "force-full-reconnect", identity="alice", on="false")


async def test_own_full_reconnect_keeps_who_stayed(devsfu, token_for) -> None:
    # Bob's own full reconnect (ABI 1.15): alice, in the room all along, is not reported gone
    # and back, and keeps her RemoteParticipant and her track (still published, its
    # subscription going on); carol, who left while bob was away, is reported gone after her
    # track was unpublished. (Before, the binding saw alice leave and come back and lost her
    # track from its model while the library kept delivering its frames.)
    async with published_track(devsfu.url, token_for, "sensor") as (alice, bob, track, remote):
        carol = await connect(devsfu.url, token_for("carol"))
        try:
            announced = EventWaiter(bob, "data_track_published")
            await carol.local_participant.publish_data_track("c")
            (carols,) = await announced.wait(lambda t: t.publisher_identity == "carol")
            participant = bob.remote_participants["alice"]
            sub = await asyncio.wait_for(remote.subscribe(buffer_size=8), GUARD)

            order: "list[tuple[str, str]]" = []
            bob.on("participant_connected", lambda p: order.append(("participant_connected", p.identity)))
            bob.on("participant_disconnected", lambda p, _r: order.append(("participant_disconnected", p.identity)))
            bob.on("data_track_published", lambda t: order.append(("data_track_published", t.publisher_identity)))
            bob.on("data_track_unpublished", lambda t: order.append(("data_track_unpublished", t.publisher_identity)))
            reconnected = EventWaiter(bob, "reconnected")
            carol_left = EventWaiter(bob, "participant_disconnected")
            await asyncio.to_thread(control, devsfu.url, "force-full-reconnect", identity="bob", on="true")
            try:
                await asyncio.to_thread(control, devsfu.url, "drop-signal", identity="bob")
                # While bob is away: he learns it from his new join (or, were the leave slower
                # than his reconnect, from an update right after it: the same events).
                await carol.disconnect()
                assert (await reconnected.wait())[0] == lkcore.ReconnectKind.FULL
                await carol_left.wait(lambda p, _r: p.identity == "carol")
            finally:
                await asyncio.to_thread(control, devsfu.url, "force-full-reconnect", identity="bob", on="false")

            assert order == [("data_track_unpublished", "carol"), ("participant_disconnected", "carol")]
            assert bob.remote_participants == {"alice": participant}
            assert participant.data_tracks == {"sensor": remote} and remote.is_published()
            assert not carols.is_published()
            # The subscription bob held goes on (renewed by the library on the new session).
            frame = await first_frame_while_pushing(track, sub, b"after", 9)
            assert frame.payload == b"after"
            await sub.aclose()
            await assert_model_matches_library(bob)
            await assert_model_matches_library(alice)  # bob's new session, as alice learned of it
        finally:
            await carol.disconnect()


async def test_server_restart_model_converges(devsfu, token_for) -> None:
    # The server forgets every session: both rooms reconnect fully, in whichever order. Bob's
    # model, built from the events alone, ends up with alice and her republished track (no
    # departed leftovers); whenever alice is reported gone, her tracks have been reported
    # unpublished before; the auto-subscription of the current track carries her frames.
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"), options=lkcore.RoomOptions(auto_subscribe=True))
    try:
        announced = EventWaiter(bob, "data_track_published")
        track = await alice.local_participant.publish_data_track("sensor")
        await announced.wait()
        first_sid = track.sid
        resid = EventWaiter(alice, "local_data_track_sid_changed")
        tracks_at_departure: "list[dict[str, object]]" = []
        bob.on("participant_disconnected", lambda p, _r: tracks_at_departure.append(dict(p.data_tracks)))
        back = [EventWaiter(alice, "reconnected"), EventWaiter(bob, "reconnected")]
        await asyncio.to_thread(control, devsfu.url, "restart")
        for w in back:
            assert (await w.wait())[0] == lkcore.ReconnectKind.FULL
        # Alice's track, published again on her new session, shows its new sid (ABI 1.15).
        assert await resid.wait() == (track, first_sid)
        assert track.sid != first_sid and track.is_published()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + GUARD
        while True:  # bob hears of alice's republication once both have rejoined
            p = bob.remote_participants.get("alice")
            current = p.data_track("sensor") if p is not None else None
            if current is not None and current.sid == track.sid:
                break
            assert loop.time() < deadline, f"bob's model of alice after the restart: {p and p.data_tracks}, alice's track {track.sid}"
            await asyncio.sleep(0.02)
        assert list(bob.remote_participants) == ["alice"] and current.is_published()
        assert all(t == {} for t in tracks_at_departure), tracks_at_departure
        client = bob.client
        assert client is not None and client.live_handles == 2, "the room and one auto-subscription"

        sub = await asyncio.wait_for(current.subscribe(), GUARD)  # takes the auto-subscription
        assert client.live_handles == 2
        frame = await first_frame_while_pushing(track, sub, b"after", 11)
        assert frame.payload == b"after"
        await sub.aclose()
        # Whoever rejoined first found the other with a new sid: both models have it.
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_sid_change_event_updates_the_track_model(devsfu, token_for, monkeypatch: pytest.MonkeyPatch) -> None:
    # RemoteDataTrackSidChanged (ABI 1.10), fed into bob's room event dispatch as the library
    # would send it: the same RemoteDataTrack object shows the new sid (in the participant's
    # tracks too), the event carries it and the old sid, and a later subscribe names the new
    # sid. A change for a track bob does not know is ignored.
    async with published_track(devsfu.url, token_for, "sensor") as (_, bob, _, remote):
        old_sid = remote.sid
        changed = EventWaiter(bob, "data_track_sid_changed")

        def sid_changed(identity: str, name: str, old: str, new: str) -> pb.Event:
            return pb.Event(room=pb.RoomEvent(data_track_sid_changed=pb.RemoteDataTrackSidChanged(
                publisher_identity=identity, name=name, old_sid=old, sid=new)))

        bob._on_ffi_event(sid_changed("alice", "nope", "DTR_nope", "DTR_nope2"))
        bob._on_ffi_event(sid_changed("carol", "sensor", old_sid, "DTR_carol"))
        assert changed.seen == [] and remote.sid == old_sid
        bob._on_ffi_event(sid_changed("alice", "sensor", old_sid, "DTR_republished"))
        assert changed.seen == [(remote, old_sid)]
        assert remote.sid == remote.info.sid == "DTR_republished" and remote.is_published()
        participant = bob.remote_participants["alice"]
        assert participant.data_tracks == {"sensor": remote}
        assert participant.data_track_by_sid("DTR_republished") is remote
        assert participant.data_track_by_sid(old_sid) is None

        client = bob.client
        assert client is not None
        sent: "list[pb.SubscribeDataTrackRequest]" = []
        real = client.request

        def spy(req):  # type: ignore[no-untyped-def]
            if req.WhichOneof("message") == "subscribe_data_track":
                sent.append(req.subscribe_data_track)
            return real(req)

        monkeypatch.setattr(client, "request", spy)
        sub = remote.subscribe(buffer_size=4)
        assert [(r.track_sid, r.track_name, r.publisher_identity) for r in sent] == [
            ("DTR_republished", "sensor", "alice")
        ]
        # The library finds the track by its name (the synthetic sid is not its own).
        await asyncio.wait_for(sub.wait_subscribed(), GUARD)
        await sub.aclose()


async def test_pull_reader_sees_what_it_lost(devsfu, token_for) -> None:
    """Library.data_track_read_frame (lk_data_track_read_frame, ABI 1.10) on a pull
    subscription (buffer of 4) whose reader reads nothing while 200 numbered frames arrive:
    each frame read says how many frames were pushed between it and the frame read before."""
    async with published_track(devsfu.url, token_for, "pulled") as (_, bob, track, remote):
        client = bob.client
        assert client is not None
        lib = client.lib
        resp = client.request(pb.Request(subscribe_data_track=pb.SubscribeDataTrackRequest(
            room_handle=bob._session.handle, publisher_identity="alice", track_sid=remote.sid,
            track_name=remote.name, buffer_size=4, delivery=pb.DELIVERY_MODE_PULL)))
        h = resp.subscribe_data_track.subscription.handle
        client.adopt(h, bob._session.handle)
        try:
            await client.request_async(
                pb.Request(wait_data_track_subscribed=pb.WaitDataTrackSubscribedRequest(subscription_handle=h)),
                timeout=GUARD,
            )

            async def read(timeout_ms: int) -> "tuple[int, bytes | None, int | None, int]":
                res: "tuple[int, bytes | None, int | None, int]" = await asyncio.to_thread(
                    lib.data_track_read_frame, client.id, h, timeout_ms)
                return res

            # Warm up: frames pushed before the subscription reaches the SFU are not delivered.
            first: "asyncio.Future[object]" = asyncio.get_running_loop().create_future()
            pusher = asyncio.ensure_future(push_until(track, b"warmup", 3, first))
            try:
                st, payload, ts, _ = await asyncio.wait_for(read(int(GUARD * 1000)), GUARD + 5)
            finally:
                first.set_result(None)
                await pusher
            assert (st, payload, ts) == (0, b"warmup", 3)

            got = []  # (index, dropped_before) of the numbered frames read

            async def read_until(last: int) -> None:
                while not got or got[-1][0] != last:
                    st, payload, ts, dropped = await asyncio.wait_for(read(int(GUARD * 1000)), GUARD + 5)
                    assert st == 0, lib.status_name(st)
                    assert payload is not None and ts is None
                    if payload == b"warmup":
                        continue
                    got.append((int.from_bytes(payload[1:5], "big"), dropped))

            # Frame 0, read at once, is where the count starts (the warm-up's losses are before it).
            await push_numbered(track, 0)
            await read_until(0)
            n = 200
            for i in range(1, n + 1):  # nothing is read meanwhile; frame n is the tail
                await push_numbered(track, i)
            await track.flush(timeout=GUARD)
            await read_until(n)
            idx = [i for i, _ in got]
            assert idx == sorted(set(idx)) and idx[0] == 0, f"frames out of order or repeated: {idx}"
            for (prev, _), (cur, dropped) in zip(got, got[1:]):
                assert dropped == cur - prev - 1, f"frame {cur}: dropped_before {dropped}, {cur - prev - 1} frames lost since {prev}"
            reported = sum(d for _, d in got[1:])
            assert len(got) - 1 + reported == n, "read + dropped != pushed"
            assert reported > 0, "nothing was dropped: the reader was not slow"
            # Nothing else is buffered: a poll times out.
            assert await read(0) == (errors.OperationTimeoutError.CODE, None, None, 0)
        finally:
            client.drop(h)


async def test_subscription_permissions(devsfu, token_for) -> None:
    # alice lets only carol subscribe: bob's subscription is revoked (the event names the track)
    # and stays open; allowed again, the same subscription receives. Bad input is refused.
    async with published_track(devsfu.url, token_for, "sensor") as (alice, bob, track, remote):
        changed = EventWaiter(bob, "data_track_subscription_permission_changed")
        seen_in_handler: "list[bool]" = []
        bob.on("data_track_subscription_permission_changed", lambda t, _: seen_in_handler.append(t.subscription_revoked))
        sub = await remote.subscribe()
        await first_frame_while_pushing(track, sub, b"before", 1)
        assert remote.subscription_revoked is False
        lp = alice.local_participant

        with pytest.raises(errors.InvalidArgumentError):
            await lp.set_track_subscription_permissions(
                allow_all_participants=False,
                participant_permissions=[lkcore.ParticipantTrackPermission("", allowed_track_sids=[track.sid])],
            )
        await lp.set_track_subscription_permissions(
            allow_all_participants=False,
            participant_permissions=[lkcore.ParticipantTrackPermission("carol", allow_all=True)],
        )
        (t, allowed) = await changed.wait()
        assert t is remote and allowed is False
        assert sub.end_reason == lkcore.SubscriptionEndReason.UNSPECIFIED
        # The library's state, in the model before the handler runs, equal to its snapshot.
        assert remote.subscription_revoked is True and seen_in_handler == [True]
        await assert_model_matches_library(bob)

        await lp.set_track_subscription_permissions(allow_all_participants=True)
        await changed.wait(lambda t, allowed: allowed)
        assert [a for (_, a) in changed.seen] == [False, True]
        assert remote.subscription_revoked is False and seen_in_handler == [True, False]
        await assert_model_matches_library(bob)
        while True:  # frames in flight before the revocation may still come first
            frame = await first_frame_while_pushing(track, sub, b"after", 2)
            if frame.payload == b"after":
                break
        assert sub.end_reason == lkcore.SubscriptionEndReason.UNSPECIFIED


async def test_connection_quality(devsfu, token_for, room_name) -> None:
    # The server rates each participant to itself and to those subscribed to one of its tracks,
    # when one joins or a rating changes (every 200 ms in this suite): alice is told her own
    # EXCELLENT; once bob's subscription is established (a frame arrived), the server rating
    # alice POOR reaches bob (who had not been told hers) and alice, and both models follow.
    Q = lkcore.ConnectionQuality
    async with published_track(devsfu.url, token_for, "sensor") as (alice, bob, track, remote):
        own = EventWaiter(alice, "connection_quality_changed")
        rated = EventWaiter(bob, "connection_quality_changed")
        me = alice.local_participant
        if me.connection_quality != Q.QUALITY_EXCELLENT:  # rated during connect, else soon
            await own.wait(lambda p, q: p is me and q == Q.QUALITY_EXCELLENT)
        assert me.connection_quality == Q.QUALITY_EXCELLENT
        ra = bob.remote_participants["alice"]
        assert ra.connection_quality == Q.QUALITY_UNKNOWN

        async def bob_rated() -> None:
            while bob.local_participant.connection_quality != Q.QUALITY_EXCELLENT:
                await asyncio.sleep(0.01)

        # Bob's own first rating came with the rating that followed his join: subscribed only
        # after it, he is not told alice's before it changes.
        await asyncio.wait_for(bob_rated(), GUARD)
        sub = await remote.subscribe()
        await first_frame_while_pushing(track, sub, b"warm-up", 1)
        await asyncio.to_thread(control, devsfu.url, "connection-quality", room=room_name, identity="alice", quality="POOR")
        p, q = await rated.wait(lambda p, q: p.identity == "alice")
        assert p is ra and q == Q.QUALITY_POOR and ra.connection_quality == Q.QUALITY_POOR
        await own.wait(lambda p, q: p is me and q == Q.QUALITY_POOR)
        assert me.connection_quality == Q.QUALITY_POOR
        await assert_model_matches_library(alice)
        await assert_model_matches_library(bob)
        sub.close()


async def test_schema_definitions(devsfu, token_for) -> None:
    # Alice stores the definition of a typed track's schema; bob reads it back by her identity.
    # A schema is its name and its encoding; defining it again replaces the definition; the
    # library's checks and the server's refusals are typed errors.
    proto = 'syntax = "proto3";\nmessage Pose { double x = 1; double y = 2; }\n'
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        me = alice.local_participant
        await me.define_schema("Pose", proto, schema_encoding="protobuf")
        assert await bob.local_participant.get_schema("alice", "Pose", schema_encoding="protobuf") == proto
        assert await me.get_schema("alice", "Pose", schema_encoding="protobuf") == proto
        with pytest.raises(errors.NotFoundError):
            await bob.local_participant.get_schema("alice", "Pose", schema_encoding="json_schema")
        with pytest.raises(errors.NotFoundError):
            await bob.local_participant.get_schema("carol", "Pose", schema_encoding="protobuf")
        with pytest.raises(errors.InvalidArgumentError):
            await me.define_schema("", proto)
        with pytest.raises(errors.InvalidArgumentError):
            await me.define_schema("Pose", "x" * 50_001, schema_encoding="protobuf")
        await me.define_schema("Pose", "v2", schema_encoding="protobuf")
        assert await bob.local_participant.get_schema("alice", "Pose", schema_encoding="protobuf") == "v2"
        track = await me.publish_data_track("poses", schema_name="Pose", schema_encoding="protobuf", frame_encoding="protobuf")

        async def announced() -> lkcore.RemoteDataTrack:
            while "poses" not in getattr(bob.remote_participants.get("alice"), "data_tracks", {}):
                await asyncio.sleep(0.01)
            return bob.remote_participants["alice"].data_tracks["poses"]

        info = (await asyncio.wait_for(announced(), GUARD)).info
        assert await bob.local_participant.get_schema("alice", info.schema_name, schema_encoding=info.schema_encoding) == "v2"
        await track.unpublish()
    finally:
        await alice.disconnect()
        await bob.disconnect()
