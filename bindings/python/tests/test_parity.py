"""Parity with the Go API: waiting push, flush, per-track stats, subscriptions that return once
established, E2EE state and stats, data tracks by name."""

from __future__ import annotations

import asyncio

import pytest

import lkcore
from lkcore import errors

from helpers import GUARD, EventWaiter, connect, control_get, published_track


async def read_first_forwarded(
    url: str, track: lkcore.LocalDataTrack, sub: lkcore.DataTrackSubscription, frame: lkcore.DataTrackFrame
) -> lkcore.DataTrackFrame:
    """Pushes `frame` once on an established subscription's track and returns what `sub` reads.
    The channel does not retransmit, so on a loaded machine the frame's packet can be lost on
    its way to the server or from it; only then is it pushed again (at most four times). A
    packet the server read and wrote to no subscriber means the subscription was not
    established yet: that fails."""
    for attempt in range(5):
        before = control_get(url, "stats")
        track.try_push(frame)
        try:
            got = await asyncio.wait_for(sub.read(), 3)
            assert got is not None, "the subscription ended"
            return got
        except asyncio.TimeoutError:
            pass
        after = control_get(url, "stats")
        forwarded = after["DataTrackPacketsOut"] > before["DataTrackPacketsOut"]
        assert forwarded or after["DataTrackPacketsIn"] == before["DataTrackPacketsIn"], (
            f"the server read the frame and forwarded it to no subscriber (attempt {attempt})"
        )
    raise AssertionError("five pushes of the first frame were lost")

pytestmark = pytest.mark.devsfu


async def test_subscribe_returns_once_established(devsfu, token_for) -> None:
    async with published_track(devsfu.url, token_for, "sensor") as (_, _, track, remote):
        with pytest.raises(errors.InvalidArgumentError):
            remote.subscribe(buffer_size=0)
        for bad in ({"buffer_bytes": 0}, {"buffer_bytes": (64 << 20) + 1}):  # the library's cap
            with pytest.raises(errors.InvalidArgumentError):
                remote.subscribe(**bad)
        sub = await asyncio.wait_for(remote.subscribe(buffer_size=8, buffer_bytes=1 << 20), GUARD)
        assert isinstance(sub, lkcore.DataTrackSubscription)
        # Established: the server forwards the very first frame pushed afterwards (no warm-up pushes).
        frame = await read_first_forwarded(devsfu.url, track, sub, lkcore.DataTrackFrame(b"first", user_timestamp=7))
        assert (frame.payload, frame.user_timestamp) == (b"first", 7)
        assert await asyncio.wait_for(sub.wait_subscribed(), GUARD) is sub  # idempotent
        sub.close()
        assert await asyncio.wait_for(sub.read(), GUARD) is None


async def test_subscribe_failure_is_raised(devsfu, token_for) -> None:
    opts = lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=b"alice only"))
    # Bob has no E2EE: he cannot decrypt the track.
    async with published_track(devsfu.url, token_for, "secret", options=opts) as (_, _, _, remote):
        assert remote.uses_e2ee
        sub = remote.subscribe()
        with pytest.raises(errors.EncryptionError):
            await asyncio.wait_for(sub, GUARD)
        with pytest.raises(errors.EncryptionError):  # iteration reports the same failure
            await asyncio.wait_for(sub.__anext__(), GUARD)


async def test_queue_policy_burst_and_drop_oldest(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        lp = alice.local_participant
        # Default options: a burst of 256 small frames is accepted whole.
        burst = await lp.publish_data_track("burst")
        for i in range(256):
            burst.try_push(i.to_bytes(4, "big") * 256)
        await asyncio.wait_for(burst.flush(), GUARD)
        st = burst.stats()
        assert (st.pushed, st.sent, st.rejected, st.dropped, st.queued, st.queued_bytes) == (256, 256, 0, 0, 0, 0)

        # drop_oldest: nothing is refused, evictions are counted, every frame accounted for.
        fresh = await lp.publish_data_track("fresh", queue_size=2, queue_bytes=64_000, drop_oldest=True)
        for i in range(200):
            fresh.try_push(bytes([i % 256]) * 60_000)
            q = fresh.stats()
            assert q.queued <= 2 and q.queued_bytes <= 2 * 61_000
        await asyncio.wait_for(fresh.flush(), GUARD)
        st = fresh.stats()
        assert st.pushed == 200 and st.rejected == 0 and st.evicted > 0
        assert st.sent + st.evicted == 200 and st.dropped == st.evicted

        with pytest.raises(errors.InvalidArgumentError):
            await lp.publish_data_track("too-big", queue_bytes=(64 << 20) + 1)
    finally:
        await alice.disconnect()


async def test_burst_reaches_a_default_subscription_whole(devsfu, token_for) -> None:
    # A burst of 256 small frames, which a track accepts with default options, arrives back to
    # back; with default options the subscription holds it in the library until Python reads
    # (16 frames before ABI 1.13: 32 to 69 of them arrived).
    async with published_track(devsfu.url, token_for, "burst") as (_, _, track, remote):
        sub = await asyncio.wait_for(remote.subscribe(), GUARD)
        for i in range(256):
            track.try_push(lkcore.DataTrackFrame(i.to_bytes(4, "big")))
        await asyncio.wait_for(track.flush(), GUARD)
        for i in range(256):
            frame = await asyncio.wait_for(sub.read(), GUARD)
            assert frame is not None
            assert (int.from_bytes(frame.payload, "big"), frame.dropped_before) == (i, 0)
        sub.close()


async def test_push_waits_flush_and_stats(devsfu, token_for) -> None:
    async with published_track(devsfu.url, token_for, "bulk", queue_size=2) as (alice, _, track, remote):
        sub = await asyncio.wait_for(remote.subscribe(buffer_size=1024), GUARD)
        assert track.stats() == lkcore.LocalDataTrackStats()

        # Fill the queue until a push is refused; the message says what happened.
        big = b"\x07" * 60_000
        accepted = 0
        with pytest.raises(errors.QueueFullError) as ei:
            for _ in range(10_000):
                track.try_push(big)
                accepted += 1
        assert ei.value.retryable and "queue is full" in str(ei.value) and "LK_ERR" not in str(ei.value)
        # push() waits for space instead of refusing, and keeps call order.
        n = 50
        for i in range(n):
            await asyncio.wait_for(track.push(i.to_bytes(4, "big") * 16, user_timestamp=i), GUARD)
        await asyncio.wait_for(track.flush(), GUARD)
        st = track.stats()
        assert st.pushed == accepted + n and st.queued == 0 and st.rejected >= 1
        assert st.sent + st.send_failed + st.discarded == st.pushed and st.dropped == st.send_failed + st.discarded
        assert st.evicted == 0 and st.queued_bytes == 0

        got, lost = [], 0
        while len(got) < n:
            f = await asyncio.wait_for(sub.__anext__(), GUARD)
            lost += f.dropped_before
            if len(f.payload) == 64:
                got.append(f)
            if len(got) + lost >= accepted + n and got and got[-1].user_timestamp == n - 1:
                break
        ts = [f.user_timestamp for f in got]
        assert ts == sorted(ts) and ts[-1] == n - 1
        for f in got:
            assert f.payload == f.user_timestamp.to_bytes(4, "big") * 16

        # push() is paced like the core's Push: however fast the producer, its frames wait
        # behind at most 16 others (try_push would let 1 024 pile up).
        paced = await alice.local_participant.publish_data_track("paced")
        for i in range(2000):
            await asyncio.wait_for(paced.push(b"\x01" * 1000), GUARD)
            assert paced.stats().queued <= 16, f"after push {i}: {paced.stats()}"
        assert paced.stats().rejected == 0

        with pytest.raises(TypeError):
            track.try_push("not bytes")  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidArgumentError):
            track.try_push(lkcore.DataTrackFrame(b"x", user_timestamp=1), user_timestamp=2)
        await track.unpublish()
        with pytest.raises(errors.TrackUnpublishedError) as ei2:
            await track.push(b"late")
        assert "not published" in str(ei2.value)
        await track.flush()  # nothing queued: returns at once


async def test_data_tracks_by_name(devsfu, token_for) -> None:
    alice = await connect(devsfu.url, token_for("alice"))
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        published = EventWaiter(bob, "data_track_published")
        unpublished = EventWaiter(bob, "data_track_unpublished")
        a = await alice.local_participant.publish_data_track("a")
        b = await alice.local_participant.publish_data_track("b")
        assert alice.local_participant.data_tracks == {"a": a, "b": b}
        await published.wait(lambda t: t.name == "b")
        await published.wait(lambda t: t.name == "a")
        p = bob.remote_participants["alice"]
        assert sorted(p.data_tracks) == ["a", "b"]
        ra = p.data_track("a")
        assert ra is not None and ra.sid == a.sid and p.data_track_by_sid(a.sid) is ra
        assert p.data_track("nope") is None and p.data_track_by_sid("DTR_nope") is None
        await a.unpublish()
        (gone,) = await unpublished.wait()
        assert gone is ra and p.data_track("a") is None and sorted(p.data_tracks) == ["b"]
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_e2ee_state_and_stats(devsfu, token_for) -> None:
    bob = lkcore.Room(lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=b"bob's key")))
    assert bob.e2ee_manager.enabled and bob.e2ee_manager.stats() == lkcore.E2EEStats(enabled=True)
    states = EventWaiter(bob, "e2ee_state_changed")
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    alice = await connect(devsfu.url, token_for("alice"), options=lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=b"other")))
    plain = await connect(devsfu.url, token_for("carol"))
    try:
        assert not plain.e2ee_manager.enabled and plain.e2ee_manager.key_provider is None
        assert plain.e2ee_manager.stats() == lkcore.E2EEStats(enabled=False)
        assert bob.e2ee_manager.encryption_state("alice") == lkcore.EncryptionState.UNSPECIFIED
        await alice.local_participant.publish_data(b"unreadable", topic="s")
        identity, state = await states.wait()
        assert identity == "alice"
        assert bob.e2ee_manager.encryption_state("alice") == state
        assert bob.e2ee_manager.encryption_states == {"alice": state}
        st = bob.e2ee_manager.stats()
        assert st.enabled and st.decryption_failures >= 1
        # key rotation through the key provider: readable again
        got = EventWaiter(bob, "data_received")
        alice.e2ee_manager.key_provider.set_shared_key(b"rotated", key_index=1)
        bob.e2ee_manager.key_provider.set_shared_key(b"rotated", key_index=1)
        await alice.local_participant.publish_data(b"readable", topic="s2")
        (pkt,) = await got.wait(lambda p: p.topic == "s2")
        assert pkt.data == b"readable" and pkt.encrypted
        await states.wait(lambda i, s: s == lkcore.EncryptionState.OK)
        assert bob.e2ee_manager.encryption_states == {"alice": lkcore.EncryptionState.OK}
    finally:
        await alice.disconnect()
        await plain.disconnect()
        await bob.disconnect()
    final = bob.e2ee_manager.stats()
    assert final.decryption_failures >= 1  # final figures stay readable
    with pytest.raises(TypeError):  # handed out again on every call: read-only
        final.encryption_states["x"] = lkcore.EncryptionState.OK  # type: ignore[index]
