"""End-to-end encryption with a shared key, end to end through liblkcore and lkcore-devsfu."""

from __future__ import annotations

import asyncio

import pytest

import lkcore

from helpers import GUARD, EventWaiter, connect

pytestmark = pytest.mark.devsfu


def e2ee(key: bytes) -> lkcore.RoomOptions:
    return lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(shared_key=key))


async def test_shared_key_data_packets_and_streams(devsfu, token_for) -> None:
    texts: "asyncio.Queue[tuple[lkcore.TextStreamInfo, str]]" = asyncio.Queue()

    async def on_text(reader: lkcore.TextStreamReader, identity: str) -> None:
        await texts.put((reader.info, await reader.read_all()))

    bob = lkcore.Room(e2ee(b"correct horse battery staple"))
    bob.register_text_stream_handler("secret", on_text)
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    alice = await connect(devsfu.url, token_for("alice"), options=e2ee(b"correct horse battery staple"))
    try:
        got = EventWaiter(bob, "data_received")
        await alice.local_participant.publish_data(b"top secret", topic="s")
        (pkt,) = await got.wait()
        assert pkt.data == b"top secret" and pkt.encrypted

        await alice.local_participant.send_text("classified", topic="secret")
        info, text = await asyncio.wait_for(texts.get(), GUARD)
        assert text == "classified" and info.encrypted

        track = await alice.local_participant.publish_data_track("enc")
        assert track.info.uses_e2ee
    finally:
        await alice.disconnect()
        await bob.disconnect()



async def test_wrong_key_is_reported_not_delivered(devsfu, token_for) -> None:
    bob = lkcore.Room(e2ee(b"bob's key"))
    states = EventWaiter(bob, "e2ee_state_changed")
    got = EventWaiter(bob, "data_received")
    joined = EventWaiter(bob, "participant_connected")
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    alice = await connect(devsfu.url, token_for("alice"), options=e2ee(b"alice's key"))
    try:
        # The server announces a participant that publishes nothing with its next batch of
        # updates; one that joins and leaves within a batch is never announced (nor its
        # departure), so alice must be known before her departure can be awaited below.
        await joined.wait(lambda p: p.identity == "alice")
        await alice.local_participant.publish_data(b"unreadable", topic="s")
        identity, state = await states.wait()
        assert identity == "alice"
        assert state in (lkcore.EncryptionState.DECRYPTION_FAILED, lkcore.EncryptionState.MISSING_KEY)
        # key rotation: both sides switch to a shared key, and packets flow again
        alice.set_shared_key(b"rotated", key_index=1)
        bob.set_shared_key(b"rotated", key_index=1)
        await alice.local_participant.publish_data(b"readable", topic="s2")
        (pkt,) = await got.wait(lambda p: p.topic == "s2")
        assert pkt.data == b"readable" and pkt.encrypted
        assert not [a for a in got.seen if a[0].topic == "s"]
        # Decrypting again is reported too, and the library's state for alice is OK (ABI 1.17).
        await states.wait(lambda i, s: i == "alice" and s == lkcore.EncryptionState.OK)
        assert bob.e2ee_manager.encryption_state("alice") == lkcore.EncryptionState.OK
        assert bob.e2ee_manager.encryption_states == {"alice": lkcore.EncryptionState.OK}
        # The state goes when she leaves (as her participant does): a room that sees many
        # participants come and go keeps none of theirs.
        left = EventWaiter(bob, "participant_disconnected")
        await alice.disconnect()
        await left.wait(lambda p, _r: p.identity == "alice")
        assert bob.e2ee_manager.encryption_state("alice") == lkcore.EncryptionState.UNSPECIFIED
        assert bob.e2ee_manager.encryption_states == {}
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_an_int_is_never_taken_for_bytes(devsfu, token_for) -> None:
    # bytes(16) is sixteen NUL bytes: an int where key material or a payload is expected must be
    # a TypeError, never an all-zero key or a silently allocated buffer.
    for opts in (e2ee(16), lkcore.RoomOptions(e2ee=lkcore.E2EEOptions(b"key", ratchet_salt=8))):  # type: ignore[arg-type]
        room = lkcore.Room(opts)
        with pytest.raises(TypeError):
            await asyncio.wait_for(room.connect(devsfu.url, token_for("nokey")), GUARD)
    room = await connect(devsfu.url, token_for("alice"), options=e2ee(bytearray(b"a key")))
    try:
        lp = room.local_participant
        with pytest.raises(TypeError):
            room.e2ee_manager.key_provider.set_shared_key(16)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await lp.publish_data(1 << 30)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await lp.send_bytes(1 << 30)  # type: ignore[arg-type]
        track = await lp.publish_data_track("t")
        with pytest.raises(TypeError):
            track.try_push(lkcore.DataTrackFrame(4))  # type: ignore[arg-type]
        async with await lp.stream_bytes("b.bin") as w:
            with pytest.raises(TypeError):
                await w.write(1 << 30)  # type: ignore[arg-type]
            await w.write(memoryview(b"bytes-like is fine"))
        room.e2ee_manager.key_provider.set_shared_key(memoryview(b"next"), key_index=1)
        await lp.publish_data(bytearray(b"fine"))
    finally:
        await room.disconnect()
