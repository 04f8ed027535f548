"""lkcore and the official JS client (livekit-client 2.23.0 in headless Chromium) in the same
devsfu room: data packets, RPC, text and byte streams and data-track frames, both directions."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any, AsyncIterator, Tuple

import pytest

import lkcore
from conftest import Server, until
from jsroom import JsRoom, PageServer, b64, browser, open_js, poll, publish_js, subscribe_js, unb64
from tracks import Deliverer, Published, Subscribed, publish, subscribe


def _bundle_dir() -> str:
    d = os.environ.get("LKCORE_INTEROP_JS")
    if not d or not os.path.exists(os.path.join(d, "bundle.js")):
        pytest.fail("LKCORE_INTEROP_JS must name the folder of the bundled JS client: run tests/suites/interop.sh")
    return d


@pytest.fixture
async def js(server: Server, room_name: str) -> AsyncIterator[Any]:
    """js(identity) opens a page whose JS client joins the test's room; pages and browser close
    at the end of the test."""
    pages = PageServer(_bundle_dir())
    rooms = []
    async for b in browser():
        async def _open(identity: str) -> JsRoom:
            r = await open_js(b, pages.url, server.url, server.token(room_name, identity), identity)
            rooms.append(r)
            return r

        try:
            yield _open
        finally:
            pages.close()
            for r in rooms:  # the pages' rooms leave before the browser closes
                await r.call("disconnect")


async def _meet(j: JsRoom, lk: lkcore.Room, *others: str) -> None:
    await poll(j.remotes, lambda rs: {"lk", *others} <= set(rs), "JS to see everyone")
    await until(lambda: j.identity in lk.remote_participants, "lkcore to see JS")


async def test_data_packets(join, js) -> None:
    j = await js("js")
    lk: lkcore.Room = await join("lkcore", "lk")
    other: lkcore.Room = await join("lkcore", "other")
    await _meet(j, lk, "other")
    to_lk: asyncio.Queue = asyncio.Queue()
    lk.on("data_received", lambda p: to_lk.put_nowait((p.participant_identity, p.topic, p.data)))
    to_other: list = []
    other.on("data_received", lambda p: to_other.append(p.data))
    payloads = [b"x", os.urandom(1000), os.urandom(15_000), os.urandom(63_000)]
    for i, data in enumerate(payloads):
        await j.call("publishData", b64(data), f"t{i}", ["lk"])
        await lk.local_participant.publish_data(data, topic=f"u{i}", destination_identities=["js"])
    for i, data in enumerate(payloads):
        assert await asyncio.wait_for(to_lk.get(), 10) == ("js", f"t{i}", data)
    got = await poll(j.received, lambda r: len(r["data"]) >= len(payloads), "JS to get the packets")
    assert [(d["from"], d["topic"], unb64(d["data"])) for d in got["data"]] == [("lk", f"u{i}", d) for i, d in enumerate(payloads)]
    assert to_other == []


@pytest.mark.parametrize("size", [100, 15_000, 1 << 20])
async def test_rpc(join, js, size: int) -> None:
    j = await js("js")
    lk: lkcore.Room = await join("lkcore", "lk")
    await _meet(j, lk)
    calls: list = []

    @lk.local_participant.register_rpc_method("echo")
    async def echo(d: lkcore.RpcInvocationData) -> str:
        calls.append((d.caller_identity, len(d.payload)))
        return d.payload[::-1]

    @lk.local_participant.register_rpc_method("fail")
    async def fail(d: lkcore.RpcInvocationData) -> str:
        raise lkcore.RpcError(4004, "lkcore says no", "details: " + d.payload)

    p = base64.b64encode(os.urandom(size))[:size].decode()
    assert await lk.local_participant.perform_rpc("js", "echo", p, response_timeout=20) == p[::-1]
    assert await j.call("rpc", "lk", "echo", p) == {"payload": p[::-1]}
    assert calls == [("js", size)]

    with pytest.raises(lkcore.RpcError) as e:
        await lk.local_participant.perform_rpc("js", "fail", "p1", response_timeout=10)
    assert (e.value.code, e.value.message, e.value.data) == (4003, "js says no", "details: p1")
    assert await j.call("rpc", "lk", "fail", "p2") == {"code": 4004, "message": "lkcore says no", "data": "details: p2"}
    with pytest.raises(lkcore.RpcError) as e:
        await lk.local_participant.perform_rpc("js", "nope", "", response_timeout=10)
    assert e.value.code == 1400
    assert (await j.call("rpc", "lk", "nope", ""))["code"] == 1400


@pytest.mark.parametrize("kind", ["utf8", "base64-1MiB"])
async def test_text_streams(join, js, kind: str) -> None:
    j = await js("js")
    lk: lkcore.Room = await join("lkcore", "lk")
    await _meet(j, lk)
    text = "aé€😀" * 30001 if kind == "utf8" else base64.b64encode(os.urandom(786432)).decode()
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_text(reader: lkcore.TextStreamReader, sender: str) -> None:
        got.set_result((sender, reader.info.stream_id, reader.info.attributes, await reader.read_all()))

    lk.register_text_stream_handler("chat", on_text)
    sid = await j.call("sendText", text, ["lk"])
    assert await asyncio.wait_for(got, 30) == ("js", sid, {"k": "v"}, text)
    info = await lk.local_participant.send_text(text, topic="chat", attributes={"k": "v"}, destination_identities=["js"])
    r = await poll(j.received, lambda r: r["texts"], "JS to get the text", 30)
    assert r["texts"] == [{"from": "lk", "id": info.stream_id, "attributes": {"k": "v"}, "text": text}]


@pytest.mark.parametrize("size", [1, 15_000, 1 << 20])
async def test_byte_streams(join, js, size: int) -> None:
    j = await js("js")
    lk: lkcore.Room = await join("lkcore", "lk")
    await _meet(j, lk)
    data = os.urandom(size)
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_bytes(reader: lkcore.ByteStreamReader, sender: str) -> None:
        got.set_result((sender, reader.info.stream_id, reader.info.name, await reader.read_all()))

    lk.register_byte_stream_handler("files", on_bytes)
    sid = await j.call("sendBytes", b64(data), ["lk"])
    assert await asyncio.wait_for(got, 30) == ("js", sid, "c.bin", data)
    info = await lk.local_participant.send_bytes(data, topic="files", name="d.bin", destination_identities=["js"])
    r = await poll(j.received, lambda r: r["bytes"], "JS to get the bytes", 30)
    assert [(b["from"], b["id"], b["name"], unb64(b["data"])) for b in r["bytes"]] == [("lk", info.stream_id, "d.bin", data)]


async def _track(join, js, direction: str) -> Tuple[JsRoom, lkcore.Room, Published, Subscribed]:
    """A JS participant and an lkcore one; one publishes a track, the other subscribes."""
    j = await js("js")
    lk: lkcore.Room = await join("lkcore", "lk")
    await _meet(j, lk)
    if direction == "js-to-lkcore":
        pub = await publish_js(j, "telemetry")
        sub = await subscribe(lk, "js", "telemetry")
    else:
        pub = await publish(lk, "telemetry")
        sub = await subscribe_js(j, "lk", "telemetry")
    assert sub.sid == pub.sid
    return j, lk, pub, sub


@pytest.mark.parametrize("direction", ["js-to-lkcore", "lkcore-to-js"])
async def test_data_track_frames(join, js, direction: str) -> None:
    j, lk, pub, sub = await _track(join, js, direction)
    d = Deliverer(pub, sub)
    await d.warm_up()
    await d.sizes()
    await pub.unpublish()
    assert sub.done is not None
    await asyncio.wait_for(sub.done, 10)  # the subscriber's stream ends
    if direction == "lkcore-to-js":
        assert pub.sid in (await j.received())["unpublished"]


@pytest.mark.parametrize("reconnecting", ["js", "lk"])
@pytest.mark.parametrize("direction", ["js-to-lkcore", "lkcore-to-js"])
async def test_resume_keeps_the_track(join, js, server: Server, direction: str, reconnecting: str) -> None:
    """Either side's signalling connection drops and it resumes: the same subscription carries
    frames of every size again."""
    j, lk, pub, sub = await _track(join, js, direction)
    d = Deliverer(pub, sub)
    await d.warm_up()
    resumed = asyncio.Event()
    if reconnecting == "lk":
        lk.on("reconnected", lambda *a: resumed.set())
    await asyncio.to_thread(server.control, "drop-signal", identity=reconnecting)
    if reconnecting == "lk":
        await asyncio.wait_for(resumed.wait(), 20)
    else:
        await poll(lambda: j.call("state"), lambda s: s == "reconnected", "the JS client to resume", 20)
    await d.warm_up()
    await d.sizes()
    assert sub.done is not None and not sub.done.done()
