"""RPC end to end through liblkcore and lkcore-devsfu."""

from __future__ import annotations

import asyncio

import pytest

import lkcore
from lkcore import errors

from helpers import GUARD, connect

pytestmark = pytest.mark.devsfu


async def test_rpc_round_trips_and_errors(devsfu, token_for) -> None:
    bob = lkcore.Room()
    calls = []

    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    try:
        await rpc_scenario(devsfu, token_for, bob, calls)
    finally:
        await bob.disconnect()


async def rpc_scenario(devsfu, token_for, bob: lkcore.Room, calls: list) -> None:
    lp = bob.local_participant

    @lp.register_rpc_method("echo")
    async def echo(data: lkcore.RpcInvocationData) -> str:
        calls.append(data)
        await asyncio.sleep(0)
        return data.payload

    def upper(data: lkcore.RpcInvocationData) -> str:
        return data.payload.upper()

    lp.register_rpc_method("upper", upper)

    @lp.register_rpc_method("fail")
    def fail(data: lkcore.RpcInvocationData) -> str:
        raise lkcore.RpcError(4001, "nope", "details")

    @lp.register_rpc_method("crash")
    def crash(data: lkcore.RpcInvocationData) -> str:
        raise ValueError("boom")

    @lp.register_rpc_method("slow")
    async def slow(data: lkcore.RpcInvocationData) -> str:
        await asyncio.sleep(5)
        return "too late"

    with pytest.raises(errors.AlreadyExistsError):
        lp.register_rpc_method("echo", upper)

    alice = await connect(devsfu.url, token_for("alice"))
    try:
        a = alice.local_participant
        assert await a.perform_rpc("bob", "echo", "hi there") == "hi there"
        (d,) = calls
        assert d.caller_identity == "alice" and d.method == "echo" and d.request_id and d.response_timeout > 0
        assert await a.perform_rpc("bob", "upper", "abc", response_timeout=5) == "ABC"
        big = "x" * 15_000
        assert await a.perform_rpc("bob", "echo", big) == big

        with pytest.raises(lkcore.RpcError) as ei:
            await a.perform_rpc("bob", "fail", "")
        assert (ei.value.rpc_code, ei.value.message, ei.value.data) == (4001, "nope", "details")
        assert ei.value.code == 4001

        with pytest.raises(lkcore.RpcError) as ei:
            await a.perform_rpc("bob", "crash", "")
        assert ei.value.rpc_code == lkcore.RpcError.APPLICATION_ERROR

        with pytest.raises(lkcore.RpcError) as ei:
            await a.perform_rpc("bob", "missing", "")
        assert ei.value.rpc_code == lkcore.RpcError.UNSUPPORTED_METHOD

        with pytest.raises(lkcore.RpcError) as ei:
            await a.perform_rpc("nobody", "echo", "")
        assert ei.value.rpc_code in (lkcore.RpcError.RECIPIENT_NOT_FOUND, lkcore.RpcError.CONNECTION_TIMEOUT)

        with pytest.raises(lkcore.RpcError) as ei:
            await a.perform_rpc("bob", "slow", "", response_timeout=0.3)
        assert ei.value.rpc_code == lkcore.RpcError.RESPONSE_TIMEOUT

        lp.unregister_rpc_method("upper")
        with pytest.raises(lkcore.RpcError) as ei:
            await a.perform_rpc("bob", "upper", "abc")
        assert ei.value.rpc_code == lkcore.RpcError.UNSUPPORTED_METHOD
    finally:
        await alice.disconnect()


async def test_rpc_registered_before_connect(devsfu, token_for) -> None:
    bob = lkcore.Room()
    # The local participant exists only after connect: Room.register_rpc_method registers
    # before connecting so no early invocation is missed.
    @bob.register_rpc_method("early")
    async def early(d: lkcore.RpcInvocationData) -> str:
        return "early:" + d.payload

    bob.register_rpc_method("early-sync", lambda d: "sync:" + d.payload)
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        assert await alice.local_participant.perform_rpc("bob", "early", "x") == "early:x"
        assert await alice.local_participant.perform_rpc("bob", "early-sync", "y") == "sync:y"
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_handler_rpc_error_out_of_range_is_still_answered(devsfu, token_for) -> None:
    # An RpcError whose code is no uint32 (or whose data is no str) must still be answered, as
    # APPLICATION_ERROR (or with the data as text), never leave the caller to its timeout.
    bob = await connect(devsfu.url, token_for("bob"))
    alice = await connect(devsfu.url, token_for("alice"))
    try:
        lp = bob.local_participant

        @lp.register_rpc_method("negative")
        def negative(data: lkcore.RpcInvocationData) -> str:
            raise lkcore.RpcError(-1, "negative code")

        @lp.register_rpc_method("huge")
        def huge(data: lkcore.RpcInvocationData) -> str:
            raise lkcore.RpcError(1 << 32, "huge code")

        @lp.register_rpc_method("data")
        def not_str(data: lkcore.RpcInvocationData) -> str:
            raise lkcore.RpcError(4001, "data", 42)  # type: ignore[arg-type]

        a = alice.local_participant
        for method, code, msg, extra in [("negative", 1500, "negative code", None), ("huge", 1500, "huge code", None),
                                         ("data", 4001, "data", "42")]:
            with pytest.raises(lkcore.RpcError) as ei:
                # The response timeout outlasts the guard: only an answer ends the call in time.
                await asyncio.wait_for(a.perform_rpc("bob", method, "", response_timeout=4 * GUARD), GUARD)
            assert (ei.value.rpc_code, ei.value.message, ei.value.data) == (code, msg, extra)
    finally:
        await alice.disconnect()
        await bob.disconnect()
