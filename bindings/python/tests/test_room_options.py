"""RoomOptions that shape the connection: ICE servers and the relay-only policy, the SCTP receive
window and UDP batching, the subscriptions' byte bound (the library applies and checks them; the
binding only passes them on). The TLS roots: test_tls_roots.py."""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
from typing import Iterator

import pytest

import lkcore
from lkcore import errors
from lkcore._proto import lkcore_ffi_pb2 as pb
from lkcore._session import CREDIT_WINDOW, credit_window

from helpers import GUARD, EventWaiter, connect, control_get


def test_room_options_reach_the_request() -> None:
    o = lkcore.RoomOptions(
        ice_servers=[lkcore.IceServer(["turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"], "u", "secret")],
        ice_transport_policy=lkcore.IceTransportPolicy.RELAY,
        sctp_receive_buffer_size=1 << 20,
        disable_udp_batching=True,
    )._to_proto()
    assert [list(s.urls) for s in o.ice_servers] == [["turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"]]
    assert (o.ice_servers[0].username, o.ice_servers[0].credential) == ("u", "secret")
    assert o.ice_transport_policy == lkcore.IceTransportPolicy.RELAY
    assert o.sctp_receive_buffer_bytes == 1 << 20 and o.disable_udp_batching
    d = lkcore.RoomOptions()._to_proto()
    assert not d.ice_servers and d.ice_transport_policy == 0 and d.sctp_receive_buffer_bytes == 0
    assert not d.disable_udp_batching


#: RoomOptions fields the binding sets itself, whatever the user's options, with their values:
#: auto-subscriptions in the connect snapshot (ABI 1.5) and delivered like subscribe()'s, one
#: frame per credit with the binding's credit window, the others waiting in the library's buffer
#: (ABI 1.14). They are no user attributes. (The values are those of the default options: the
#: credit window is never larger than data_track_buffer_size.)
SET_BY_THE_BINDING = {
    "auto_subscriptions_in_snapshot": True,
    "auto_subscription_delivery": pb.DELIVERY_MODE_CREDITS,
    "auto_subscription_credits": CREDIT_WINDOW,
}


def test_every_schema_room_option_is_exposed() -> None:
    """Each RoomOptions field of the library's schema can be set from Python or is set by the
    binding (a field added to the schema without a binding attribute fails here)."""
    d = lkcore.RoomOptions()._to_proto()
    assert {f.name: v for f, v in d.ListFields()} == SET_BY_THE_BINDING
    o = lkcore.RoomOptions(
        auto_subscribe=True,
        e2ee=lkcore.E2EEOptions(b"key"),
        connect_timeout=1,
        join_attempts=2,
        max_reconnect_attempts=3,
        rpc_response_timeout=4,
        data_track_buffer_size=5,
        max_incoming_stream_bytes=6,
        ice_servers=[lkcore.IceServer(["stun:127.0.0.1:3478"])],
        ice_transport_policy=lkcore.IceTransportPolicy.RELAY,
        sctp_receive_buffer_size=1 << 20,
        disable_udp_batching=True,
        data_track_buffer_bytes=7,
        tls_root_certificates=b"pem",
    )._to_proto()
    user_set = {f.name for f, _ in o.ListFields()} - set(SET_BY_THE_BINDING)
    assert user_set == {f.name for f in o.DESCRIPTOR.fields} - set(SET_BY_THE_BINDING)
    # Passed through unchanged (the library checks them).
    assert (o.data_track_buffer_size, o.data_track_buffer_bytes) == (5, 7)
    assert o.tls_root_certificates_pem == b"pem"
    assert {name: getattr(o, name) for name in SET_BY_THE_BINDING} == SET_BY_THE_BINDING | {"auto_subscription_credits": 5}


def test_credit_window_never_exceeds_the_buffer() -> None:
    # An auto-subscription and subscribe() without sizes hold at most CREDIT_WINDOW frames in
    # Python, and no more than the library's buffer keeps: a latest-value reader (1 frame)
    # finds no older frames waiting in Python.
    assert [credit_window(n) for n in (0, 1, 4, CREDIT_WINDOW, CREDIT_WINDOW + 1, 65536)] == [
        CREDIT_WINDOW, 1, 4, CREDIT_WINDOW, CREDIT_WINDOW, CREDIT_WINDOW
    ]
    assert lkcore.RoomOptions(data_track_buffer_size=1)._to_proto().auto_subscription_credits == 1


def test_ice_server_hides_its_credential_and_wants_a_url_list() -> None:
    s = lkcore.IceServer(["turn:h:1"], "user", "hunter2")
    assert "hunter2" not in repr(s) and "user" in repr(s)
    with pytest.raises(TypeError):
        lkcore.RoomOptions(ice_servers=[lkcore.IceServer("turn:h:1")])._to_proto()


class TurnSFU:
    """A second lkcore-devsfu with an embedded TURN server it does not announce
    (``--turn --turn-withhold``): a client reaches it through TURN only with its own
    ice_servers. It has the suite's API key and secret, so ``token_for`` tokens are valid there."""

    def __init__(self, bin: str, key: str, secret: str) -> None:
        self.proc = subprocess.Popen(
            [bin, "--addr", "127.0.0.1:0", "--key", key, "--secret", secret, "--control", "--turn", "--turn-withhold"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        # Bounded wait for its first line (a server that never starts must not hang the test).
        ready, _, _ = select.select([self.proc.stdout], [], [], GUARD)
        if not ready:
            self.close()
            pytest.fail("the TURN devsfu printed nothing")
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def ice_server(self, identity: str) -> lkcore.IceServer:
        c = control_get(self.url, "turn-credentials", identity=identity)
        return lkcore.IceServer(c["urls"], c["username"], c["credential"])

    def turn_allocations(self) -> int:
        return int(control_get(self.url, "turn-stats")["Allocations"])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def turn_sfu(devsfu) -> Iterator[TurnSFU]:
    s = TurnSFU(devsfu.bin, devsfu.key, devsfu.secret)
    try:
        yield s
    finally:
        s.close()


@pytest.mark.devsfu
async def test_relay_policy_connects_through_own_turn_server(turn_sfu: TurnSFU, token_for) -> None:
    def relay_only(identity: str) -> lkcore.RoomOptions:
        return lkcore.RoomOptions(
            ice_transport_policy=lkcore.IceTransportPolicy.RELAY, ice_servers=[turn_sfu.ice_server(identity)]
        )

    alice = await connect(turn_sfu.url, token_for("alice"), options=relay_only("alice"))
    bob = await connect(turn_sfu.url, token_for("bob"), options=relay_only("bob"))
    try:
        got = EventWaiter(bob, "data_received")
        await alice.local_participant.publish_data(b"through the relay", topic="relay")
        (pkt,) = await got.wait()
        assert pkt.data == b"through the relay" and pkt.participant_identity == "alice"
        # Relay-only candidates: each connection allocated on the TURN server.
        assert turn_sfu.turn_allocations() >= 2
    finally:
        for r in (alice, bob):
            await r.disconnect()


@pytest.mark.devsfu
async def test_relay_policy_without_turn_server_fails(turn_sfu: TurnSFU, token_for) -> None:
    room = lkcore.Room(lkcore.RoomOptions(ice_transport_policy=lkcore.IceTransportPolicy.RELAY))
    with pytest.raises(errors.ConnectionFailedError) as ei:
        await asyncio.wait_for(room.connect(turn_sfu.url, token_for("alice")), GUARD)
    assert "relay" in str(ei.value).lower()
    assert turn_sfu.turn_allocations() == 0


@pytest.mark.devsfu
@pytest.mark.parametrize(
    "server",
    [lkcore.IceServer(["https://turn.example.com"]), lkcore.IceServer(["turn:127.0.0.1:3478"], "user-only")],
)
async def test_malformed_ice_server_is_invalid(devsfu, token_for, server: lkcore.IceServer) -> None:
    room = lkcore.Room(lkcore.RoomOptions(ice_servers=[server]))
    with pytest.raises(errors.InvalidArgumentError) as ei:
        await asyncio.wait_for(room.connect(devsfu.url, token_for("alice")), GUARD)
    assert server.urls[0] in str(ei.value)


@pytest.mark.devsfu
@pytest.mark.parametrize("size", [1, 256 * 1024 - 1, 64 * 1024 * 1024 + 1])
async def test_sctp_window_out_of_range_is_invalid(devsfu, token_for, size: int) -> None:
    room = lkcore.Room(lkcore.RoomOptions(sctp_receive_buffer_size=size))
    with pytest.raises(errors.InvalidArgumentError):
        await asyncio.wait_for(room.connect(devsfu.url, token_for("alice")), GUARD)


@pytest.mark.devsfu
async def test_subscription_byte_bound_above_64_mib_is_invalid(devsfu, token_for) -> None:
    # The library checks the room's data_track_buffer_bytes when the room is created (in
    # connect); the binding passes it on as given. 64 MiB itself is accepted.
    room = lkcore.Room(lkcore.RoomOptions(data_track_buffer_bytes=64 * 1024 * 1024 + 1))
    with pytest.raises(errors.InvalidArgumentError) as ei:
        await asyncio.wait_for(room.connect(devsfu.url, token_for("alice")), GUARD)
    assert "data_track_buffer_bytes" in str(ei.value)
    ok = await connect(devsfu.url, token_for("bob"), options=lkcore.RoomOptions(data_track_buffer_bytes=64 * 1024 * 1024))
    await ok.disconnect()


@pytest.mark.devsfu
async def test_transport_tuning_options_connect_and_carry_data(devsfu, token_for) -> None:
    tuned = lkcore.RoomOptions(sctp_receive_buffer_size=4 << 20, disable_udp_batching=True)
    alice = await connect(devsfu.url, token_for("alice"), options=tuned)
    bob = await connect(devsfu.url, token_for("bob"))
    try:
        to_bob, to_alice = EventWaiter(bob, "data_received"), EventWaiter(alice, "data_received")
        big = os.urandom(60_000)
        await alice.local_participant.publish_data(big, topic="a")
        await bob.local_participant.publish_data(big[::-1], topic="b")
        assert (await to_bob.wait())[0].data == big
        assert (await to_alice.wait())[0].data == big[::-1]
    finally:
        for r in (alice, bob):
            await r.disconnect()


@pytest.mark.devsfu
async def test_zero_timeouts_are_the_library_defaults(devsfu, token_for) -> None:
    # "0 / None = the library default": a zero timeout is left unset for the library, never
    # turned into 1 ms (a connect that fails at once, RPCs that always time out).
    o = lkcore.RoomOptions(connect_timeout=0, rpc_response_timeout=0)
    p = o._to_proto()
    assert (p.connect_timeout_ms, p.rpc_response_timeout_ms) == (0, 0)
    bob = await connect(devsfu.url, token_for("bob"), options=o)
    alice = await connect(devsfu.url, token_for("alice"), options=o)
    try:
        bob.local_participant.register_rpc_method("ping", lambda data: "pong")
        assert await asyncio.wait_for(alice.local_participant.perform_rpc("bob", "ping", ""), GUARD) == "pong"
    finally:
        await alice.disconnect()
        await bob.disconnect()
    for bad in (lkcore.RoomOptions(connect_timeout=-1), lkcore.RoomOptions(rpc_response_timeout=float("nan"))):
        with pytest.raises(errors.InvalidArgumentError):
            await asyncio.wait_for(lkcore.Room(bad).connect(devsfu.url, token_for("carol")), GUARD)
    # Beyond the field: capped, not a protobuf error.
    assert lkcore.RoomOptions(connect_timeout=float("inf"))._to_proto().connect_timeout_ms == 2**32 - 1
