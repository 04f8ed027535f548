"""RPC between lkcore and the official SDK, each as caller and as handler."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from livekit import rtc

import lkcore
from conftest import until

# Payload sizes: small, just under the 15 KiB a v1 request carries in one packet, and large
# enough that it must travel as a data stream (RPC v2).
SIZES = [0, 10, 15_000, 200_000, 1 << 20]


def _payload(n: int) -> str:
    return base64.b64encode(os.urandom(n))[:n].decode() if n else ""


@pytest.mark.parametrize("size", SIZES)
async def test_lkcore_calls_official(join, size: int) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    seen: list = []

    @off.local_participant.register_rpc_method("echo")
    async def echo(data: rtc.RpcInvocationData) -> str:
        seen.append((data.caller_identity, data.method, len(data.payload), data.request_id))
        return data.payload[::-1]

    await until(lambda: "official" in lk.remote_participants, "lkcore to see official")
    p = _payload(size)
    got = await lk.local_participant.perform_rpc("official", "echo", p, response_timeout=20)
    assert got == p[::-1]
    assert [s[:3] for s in seen] == [("lk", "echo", size)]


@pytest.mark.parametrize("size", SIZES)
async def test_official_calls_lkcore(join, size: int) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    seen: list = []

    @lk.local_participant.register_rpc_method("echo")
    async def echo(data: lkcore.RpcInvocationData) -> str:
        seen.append((data.caller_identity, data.method, len(data.payload)))
        return data.payload[::-1]

    await until(lambda: "lk" in off.remote_participants, "official to see lkcore")
    p = _payload(size)
    got = await off.local_participant.perform_rpc(destination_identity="lk", method="echo", payload=p, response_timeout=20)
    assert got == p[::-1]
    assert seen == [("official", "echo", size)]


async def test_errors_cross_both_ways(join) -> None:
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")

    @off.local_participant.register_rpc_method("fail")
    async def off_fail(data: rtc.RpcInvocationData) -> str:
        raise rtc.RpcError(4001, "official says no", "details: " + data.payload)

    @off.local_participant.register_rpc_method("crash")
    async def off_crash(data: rtc.RpcInvocationData) -> str:
        raise ValueError("not an RpcError")

    @lk.local_participant.register_rpc_method("fail")
    async def lk_fail(data: lkcore.RpcInvocationData) -> str:
        raise lkcore.RpcError(4002, "lkcore says no", "details: " + data.payload)

    @lk.local_participant.register_rpc_method("crash")
    async def lk_crash(data: lkcore.RpcInvocationData) -> str:
        raise ValueError("not an RpcError")

    await until(lambda: "lk" in off.remote_participants and "official" in lk.remote_participants, "both to meet")

    # An application error keeps its code, message and data.
    with pytest.raises(lkcore.RpcError) as ei:
        await lk.local_participant.perform_rpc("official", "fail", "p1", response_timeout=10)
    assert (ei.value.code, str(ei.value.message), ei.value.data) == (4001, "official says no", "details: p1")
    with pytest.raises(rtc.RpcError) as eo:
        await off.local_participant.perform_rpc(destination_identity="lk", method="fail", payload="p2", response_timeout=10)
    assert (eo.value.code, eo.value.message, eo.value.data) == (4002, "lkcore says no", "details: p2")

    # A handler that raises something else is an APPLICATION_ERROR (1500).
    with pytest.raises(lkcore.RpcError) as ei:
        await lk.local_participant.perform_rpc("official", "crash", "", response_timeout=10)
    assert ei.value.code == 1500
    with pytest.raises(rtc.RpcError) as eo:
        await off.local_participant.perform_rpc(destination_identity="lk", method="crash", payload="", response_timeout=10)
    assert eo.value.code == 1500

    # A method nobody registered: UNSUPPORTED_METHOD (1400), answered by the other SDK.
    with pytest.raises(lkcore.RpcError) as ei:
        await lk.local_participant.perform_rpc("official", "nope", "", response_timeout=10)
    assert ei.value.code == 1400
    with pytest.raises(rtc.RpcError) as eo:
        await off.local_participant.perform_rpc(destination_identity="lk", method="nope", payload="", response_timeout=10)
    assert eo.value.code == 1400


async def test_timeouts_and_departures(join) -> None:
    """Whichever SDK calls: a handler slower than the caller's timeout is RESPONSE_TIMEOUT
    (1502) for the caller; a callee that leaves during the call, RECIPIENT_DISCONNECTED (1503).
    (A destination nobody has is not compared: the Rust SDK ends such a call with 1501 when the
    7 s acknowledgement deadline passes, even with a shorter response timeout; lkcore, as the JS
    client, with 1502 when the response timeout passes first.)"""
    off: rtc.Room = await join("official", "official")
    lk: lkcore.Room = await join("lkcore", "lk")
    release = asyncio.Event()
    started: asyncio.Queue = asyncio.Queue()

    @off.local_participant.register_rpc_method("slow")
    async def off_slow(data: rtc.RpcInvocationData) -> str:
        started.put_nowait("official")
        await release.wait()
        return "late"

    @lk.local_participant.register_rpc_method("slow")
    async def lk_slow(data: lkcore.RpcInvocationData) -> str:
        started.put_nowait("lk")
        await release.wait()
        return "late"

    await until(lambda: "lk" in off.remote_participants and "official" in lk.remote_participants, "both to meet")
    with pytest.raises(lkcore.RpcError) as ei:
        await lk.local_participant.perform_rpc("official", "slow", "", response_timeout=1.5)
    assert ei.value.code == 1502
    with pytest.raises(rtc.RpcError) as eo:
        await off.local_participant.perform_rpc(destination_identity="lk", method="slow", payload="", response_timeout=1.5)
    assert eo.value.code == 1502
    assert [started.get_nowait(), started.get_nowait()] == ["official", "lk"]

    # The official callee leaves while lkcore waits for its answer.
    call = asyncio.ensure_future(lk.local_participant.perform_rpc("official", "slow", "", response_timeout=20))
    assert await asyncio.wait_for(started.get(), 10) == "official"
    await off.disconnect()
    with pytest.raises(lkcore.RpcError) as ei:
        await asyncio.wait_for(call, 10)
    assert ei.value.code == 1503

    # And the lkcore callee leaves while the official SDK waits.
    off2: rtc.Room = await join("official", "official2")
    await until(lambda: "lk" in off2.remote_participants, "official2 to see lkcore")
    call2 = asyncio.ensure_future(off2.local_participant.perform_rpc(destination_identity="lk", method="slow", payload="", response_timeout=20))
    assert await asyncio.wait_for(started.get(), 10) == "lk"
    await lk.disconnect()
    with pytest.raises(rtc.RpcError) as eo:
        await asyncio.wait_for(call2, 10)
    assert eo.value.code == 1503
    release.set()
