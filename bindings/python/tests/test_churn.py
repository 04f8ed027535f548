"""A long-lived room whose peer comes and goes: what a host that runs for days does.

Each cycle, "bob" joins, publishes a data track (auto-subscribed by the host), calls and
answers an RPC, sends a text stream and a data packet, and leaves. After every cycle the host
must hold nothing of bob's session: one handle (its room), no remote participant (and so no
remote track: tracks live in their participant), and no more handlers than it registered; and
over the cycles after a warm-up its Python heap (tracemalloc) must not keep growing — a few
bytes per session would still pass, anything that keeps a session's objects would not.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

import lkcore

from helpers import GUARD, assert_model_matches_library

pytestmark = pytest.mark.devsfu

WARMUP = 5
CYCLES = 60
#: Python heap the host may gain over CYCLES sessions after the warm-up. Measured: 2.7 - 2.9 KB
#: in all (tracemalloc's own bookkeeping, interpreter caches, not growing with the cycles);
#: keeping one RemoteParticipant object per session (its protobuf fields are not traced) adds
#: about 17 KB over 60 cycles.
HEAP_SLACK = 8 * 1024


def _settled_heap() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_peer_churn_leaves_nothing_behind(devsfu, token_for) -> None:
    host = lkcore.Room(lkcore.RoomOptions(auto_subscribe=True))
    published: "asyncio.Queue[lkcore.RemoteDataTrack]" = asyncio.Queue()
    unpublished: "asyncio.Queue[str]" = asyncio.Queue()
    left: "asyncio.Queue[str]" = asyncio.Queue()
    packets: "asyncio.Queue[bytes]" = asyncio.Queue()
    texts: "asyncio.Queue[str]" = asyncio.Queue()
    host.on("data_track_published", published.put_nowait)
    host.on("data_track_unpublished", lambda t: unpublished.put_nowait(t.sid))
    host.on("participant_disconnected", lambda p, _reason: left.put_nowait(p.identity))
    host.on("data_received", lambda p: packets.put_nowait(p.data))

    async def on_text(reader: lkcore.TextStreamReader, _identity: str) -> None:
        await texts.put(await reader.read_all())

    host.register_text_stream_handler("chat", on_text)

    @host.register_rpc_method("echo")
    async def echo(data: lkcore.RpcInvocationData) -> str:
        return data.payload

    async def bob_session(i: int, token: str) -> None:
        bob = lkcore.Room()

        @bob.register_rpc_method("echo")
        async def bob_echo(data: lkcore.RpcInvocationData) -> str:
            return data.payload

        await asyncio.wait_for(bob.connect(devsfu.url, token), GUARD)
        try:
            track = await bob.local_participant.publish_data_track("telemetry")
            remote = await asyncio.wait_for(published.get(), GUARD)
            assert (remote.publisher.identity, remote.name) == ("bob", "telemetry")
            big = f"{i}:" + "y" * 20_000  # above the RPC v1 limit: an RPC over data streams
            assert await bob.local_participant.perform_rpc("host", "echo", big, response_timeout=GUARD) == big
            assert await host.local_participant.perform_rpc("bob", "echo", str(i), response_timeout=GUARD) == str(i)
            await bob.local_participant.send_text(f"{i}:" + "z" * 50_000, topic="chat")
            assert (await asyncio.wait_for(texts.get(), GUARD)).startswith(f"{i}:")
            await bob.local_participant.publish_data(str(i).encode(), topic="churn")
            assert await asyncio.wait_for(packets.get(), GUARD) == str(i).encode()
            assert track.sid == remote.sid
        finally:
            await bob.disconnect()
        assert await asyncio.wait_for(left.get(), GUARD) == "bob"
        assert await asyncio.wait_for(unpublished.get(), GUARD) == remote.sid

    await asyncio.wait_for(host.connect(devsfu.url, token_for("host")), GUARD)
    token = token_for("bob")
    tracemalloc.start()
    try:
        heap0 = 0
        for i in range(WARMUP + CYCLES):
            if i == WARMUP:
                heap0 = _settled_heap()
            await bob_session(i, token)
            client = host.client
            assert client is not None and client.live_handles == 1, f"cycle {i}: {client and client.live_handles} handles"
            assert host.remote_participants == {}, f"cycle {i}"
        grown = _settled_heap() - heap0
        assert grown < HEAP_SLACK, f"the host's Python heap grew by {grown} bytes over {CYCLES} sessions"
        await assert_model_matches_library(host)  # 65 joins and leaves, all as events
    finally:
        tracemalloc.stop()
        await host.disconnect()
