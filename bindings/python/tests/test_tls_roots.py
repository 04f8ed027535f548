"""RoomOptions.tls_root_certificates (ABI 1.30): the PEM roots a room's wss:// signalling trusts
instead of the system's. The binding passes the bytes on; the library checks them (at most 1 MiB,
at least one certificate) and applies them. The server tests use the suite's devsfu, which also
serves wss:// on a second port with a certificate its own CA signed (--tls-ca-out): the same
server, so a room connected over wss:// and one over ws:// share a room."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List

import pytest

import lkcore
from lkcore import errors
from lkcore._proto import lkcore_ffi_pb2 as pb

from helpers import GUARD, EventWaiter, connect

MiB = 1 << 20


def test_tls_root_certificates_reach_the_room_options() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n"
    for given in (pem, bytearray(pem), memoryview(pem)):
        o = lkcore.RoomOptions(tls_root_certificates=given)._to_proto()
        assert o.tls_root_certificates_pem == pem
    # Passed on as given, whatever it holds: the library owns the checks.
    assert lkcore.RoomOptions(tls_root_certificates=b"x" * (MiB + 1))._to_proto().tls_root_certificates_pem == b"x" * (MiB + 1)
    # Default (None) and empty: the field stays unset, the system's roots.
    for o in (lkcore.RoomOptions()._to_proto(), lkcore.RoomOptions(tls_root_certificates=b"")._to_proto()):
        assert o.tls_root_certificates_pem == b""
        assert "tls_root_certificates_pem" not in {f.name for f, _ in o.ListFields()}
    # bytes only (as the binding's other byte fields): a str is a TypeError, not encoded here.
    with pytest.raises(TypeError, match="tls_root_certificates"):
        lkcore.RoomOptions(tls_root_certificates="pem")._to_proto()  # type: ignore[arg-type]


@pytest.fixture
def create_room_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[pb.CreateRoomRequest]]:
    """The CreateRoomRequests the binding sends to the library (passed on unchanged)."""
    seen: List[pb.CreateRoomRequest] = []
    orig = lkcore.Client.request

    def spy(self: lkcore.Client, req: pb.Request) -> Any:
        if req.HasField("create_room"):
            seen.append(pb.CreateRoomRequest.FromString(req.create_room.SerializeToString()))
        return orig(self, req)

    monkeypatch.setattr(lkcore.Client, "request", spy)
    yield seen


@pytest.mark.devsfu
async def test_connects_over_wss_with_the_servers_ca(devsfu, devsfu_tls, token_for, create_room_requests) -> None:
    """With the server's CA as its roots, a room connects over wss:// and shares the room with
    one connected over ws:// to the same server: data flows both ways."""
    alice = await connect(
        devsfu_tls.url, token_for("alice"), options=lkcore.RoomOptions(tls_root_certificates=devsfu_tls.ca_pem)
    )
    try:
        bob = await connect(devsfu.url, token_for("bob"))
        try:
            assert alice.local_participant.identity == "alice"
            # What reached the library: the CA's PEM, unchanged (and none for bob's room).
            assert [r.options.tls_root_certificates_pem for r in create_room_requests] == [devsfu_tls.ca_pem, b""]
            to_bob, to_alice = EventWaiter(bob, "data_received"), EventWaiter(alice, "data_received")
            await alice.local_participant.publish_data(b"over wss", topic="tls")
            await bob.local_participant.publish_data(b"over ws", topic="plain")
            (pkt,) = await to_bob.wait()
            assert (pkt.data, pkt.participant_identity) == (b"over wss", "alice")
            (pkt,) = await to_alice.wait()
            assert (pkt.data, pkt.participant_identity) == (b"over ws", "bob")
        finally:
            await bob.disconnect()
    finally:
        await alice.disconnect()


@pytest.mark.devsfu
async def test_wss_without_the_ca_fails(devsfu_tls, token_for, monkeypatch: pytest.MonkeyPatch) -> None:
    """The system's roots do not trust the test CA: without the option the connect fails, and
    the Room (not connected, as after any failed connect) can connect again with the roots."""
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):  # nothing that could add the CA to the system's roots
        monkeypatch.delenv(var, raising=False)
    room = lkcore.Room()
    with pytest.raises(errors.ConnectionFailedError) as ei:
        await asyncio.wait_for(room.connect(devsfu_tls.url, token_for("alice")), GUARD)
    assert "certificate" in str(ei.value)
    assert room.connection_state == lkcore.ConnectionState.DISCONNECTED
    await asyncio.wait_for(
        room.connect(devsfu_tls.url, token_for("alice"), options=lkcore.RoomOptions(tls_root_certificates=devsfu_tls.ca_pem)),
        GUARD,
    )
    try:
        assert room.local_participant.identity == "alice"
    finally:
        await room.disconnect()


@pytest.mark.devsfu
@pytest.mark.parametrize(
    "roots",
    [
        b"not a certificate",
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        "ca + padding beyond 1 MiB",
    ],
)
async def test_invalid_roots_are_refused(devsfu_tls, token_for, roots: Any) -> None:
    """No certificate, or more than 1 MiB: the library refuses the room (INVALID_ARGUMENT)."""
    if roots == "ca + padding beyond 1 MiB":
        roots = devsfu_tls.ca_pem + b"\n" * (MiB + 1 - len(devsfu_tls.ca_pem))
        assert len(roots) == MiB + 1
    room = lkcore.Room(lkcore.RoomOptions(tls_root_certificates=roots))
    with pytest.raises(errors.InvalidArgumentError) as ei:
        await asyncio.wait_for(room.connect(devsfu_tls.url, token_for("alice")), GUARD)
    assert "tls_root_certificates_pem" in str(ei.value)


@pytest.mark.devsfu
async def test_roots_of_exactly_1_mib_connect(devsfu_tls, token_for) -> None:
    """1 MiB itself is accepted: the CA padded to the cap (text around PEM blocks is ignored)."""
    roots = devsfu_tls.ca_pem + b"\n" * (MiB - len(devsfu_tls.ca_pem))
    assert len(roots) == MiB
    room = await connect(devsfu_tls.url, token_for("alice"), options=lkcore.RoomOptions(tls_root_certificates=roots))
    try:
        assert room.local_participant.identity == "alice"
    finally:
        await room.disconnect()
