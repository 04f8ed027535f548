"""The example at the top of bindings/python/README.md, run as written against devsfu.

The README's code block is read from the file and executed unchanged, with a second
participant "bob" that answers the "echo" call it makes; so a README that stops working (a
renamed method, a changed signature, a call that no longer does what the comments say) fails
this test instead of a user.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import pathlib
import re

import pytest

import lkcore

from helpers import GUARD, EventWaiter

pytestmark = pytest.mark.devsfu

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    assert blocks, f"no python code block in {README}"
    return blocks[0]


async def test_readme_example_runs(devsfu, token_for) -> None:
    scope: dict = {}
    exec(compile(readme_example(), str(README), "exec"), scope)  # defines main(url, token)

    texts: "asyncio.Queue[tuple[str, str, str]]" = asyncio.Queue()

    async def on_text(reader: lkcore.TextStreamReader, identity: str) -> None:
        await texts.put((identity, reader.info.topic, await reader.read_all()))

    bob = lkcore.Room()
    bob.register_text_stream_handler("chat", on_text)
    calls: "list[lkcore.RpcInvocationData]" = []

    @bob.register_rpc_method("echo")
    async def echo(data: lkcore.RpcInvocationData) -> str:
        calls.append(data)
        return data.payload

    data = EventWaiter(bob, "data_received")
    tracks = EventWaiter(bob, "data_track_published")
    await asyncio.wait_for(bob.connect(devsfu.url, token_for("bob")), GUARD)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            await asyncio.wait_for(scope["main"](devsfu.url, token_for("readme")), GUARD)
        # What the example's comments promise: the data packet, the track, the RPC answer
        # (printed) and the text stream all reached the other participant.
        assert out.getvalue().splitlines()[-1:] == ["hi"], out.getvalue()
        assert [(c.caller_identity, c.payload) for c in calls] == [("readme", "hi")]
        (pkt,) = await data.wait(lambda p: p.participant_identity == "readme")
        assert (pkt.topic, pkt.data) == ("greetings", b"hello")
        (track,) = await tracks.wait(lambda t: t.publisher.identity == "readme")
        assert track.name == "telemetry"
        assert await asyncio.wait_for(texts.get(), GUARD) == ("readme", "chat", "a text stream")
    finally:
        await bob.disconnect()
