"""Environment variables set after start-up (``os.environ``) apply to the next connect. The
library's Go runtime only saw the environment the process started with; before each connect it
copies the proxy and TLS-root variables from the current one, so a proxy set (or removed) in
``os.environ`` is used (or not) from then on."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from typing import Dict, List, Optional, Tuple

import pytest

import lkcore
from lkcore import errors

from helpers import GUARD, connect

pytestmark = pytest.mark.devsfu

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD")


async def start_connect_proxy(target_port: int) -> "Tuple[asyncio.AbstractServer, List[str]]":
    """An HTTP CONNECT proxy on loopback that tunnels every request to 127.0.0.1:target_port,
    whatever host it names, and records each CONNECT target."""
    targets: List[str] = []

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method, target, _ = (await reader.readline()).decode().split()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        targets.append(target)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, targets


async def test_proxy_set_after_start_is_used_then_dropped(devsfu, token_for) -> None:
    port = urllib.parse.urlsplit(devsfu.url).port
    assert port is not None
    server, targets = await start_connect_proxy(port)
    proxy_port = server.sockets[0].getsockname()[1]
    # A name that resolves nowhere: only the proxy, which sends everything to devsfu, reaches it.
    url = f"ws://lkcore-proxied.invalid:{port}"
    saved: Dict[str, Optional[str]] = {k: os.environ.get(k) for k in PROXY_VARS}
    try:
        for k in PROXY_VARS:
            os.environ.pop(k, None)
        os.environ["HTTP_PROXY"] = f"http://127.0.0.1:{proxy_port}"
        room = await connect(url, token_for("alice"))
        try:
            assert room.connection_state == lkcore.ConnectionState.CONNECTED
            assert targets == [f"lkcore-proxied.invalid:{port}"]
        finally:
            await asyncio.wait_for(room.disconnect(), GUARD)

        # Removed again: the next connect dials the name itself, which does not resolve.
        del os.environ["HTTP_PROXY"]
        with pytest.raises(errors.ConnectionFailedError):
            await connect(url, token_for("bob"))
        assert len(targets) == 1
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.close()
        await server.wait_closed()
