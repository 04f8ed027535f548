"""Fixtures of the interop tests: lkcore's Python binding and the official LiveKit Python SDK
(`livekit`, which runs the Rust SDK through livekit-ffi) in one room of the devsfu CLI (the
official JS client's fixtures: test_js.py and jsroom.py).

Environment (set by tests/suites/interop.sh):
  LKCORE_LIB         path of liblkcore.so
  LKCORE_DEVSFU_URL  ws:// URL of a running lkcore-devsfu
  LKCORE_DEVSFU_BIN  the lkcore-devsfu binary (mints tokens)
  LKCORE_DEVSFU_KEY / LKCORE_DEVSFU_SECRET   its API key and secret
  LKCORE_INTEROP_JS  the folder of the bundled JS client (test_js.py)

A missing variable fails the test (never a skip).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import urllib.parse
import urllib.request
import uuid
from typing import Any, AsyncIterator, Callable, List, Tuple

import pytest

pytest.register_assert_rewrite("tracks")  # its checks report their values, as the tests' do

from livekit import rtc  # noqa: E402

import lkcore  # noqa: E402
import tracks  # noqa: E402


def _env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} not set: run tests/suites/interop.sh")
    return v


class Server:
    """The devsfu under test: its URL and a token minter."""

    def __init__(self) -> None:
        self.url = _env("LKCORE_DEVSFU_URL")
        self.bin = _env("LKCORE_DEVSFU_BIN")
        self.key = _env("LKCORE_DEVSFU_KEY")
        self.secret = _env("LKCORE_DEVSFU_SECRET")

    def control(self, path: str, **params: str) -> None:
        """POSTs to a devsfu fault-injection endpoint (the suite starts it with --control)."""
        q = urllib.parse.urlencode(params)
        url = self.url.replace("ws://", "http://", 1) + f"/devsfu/{path}?{q}"
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=10) as resp:
            assert resp.status in (200, 204), resp.status

    def token(self, room: str, identity: str, kind: str = "") -> str:
        """An access token; kind: the participant kind ("agent", "sip", ...; "" standard)."""
        args = [self.bin, "token", "--room", room, "--identity", identity, "--key", self.key, "--secret", self.secret]
        return subprocess.check_output(args + (["--kind", kind] if kind else []), text=True, timeout=10).strip()


@pytest.fixture(scope="session")
def server() -> Server:
    _env("LKCORE_LIB")
    return Server()


@pytest.fixture
def room_name() -> str:
    return "interop-" + uuid.uuid4().hex[:10]


@pytest.fixture
async def join(server: Server, room_name: str) -> AsyncIterator[Callable[..., Any]]:
    """join("official" | "lkcore", identity, options=None, kind="") connects a room of either SDK
    (options: that SDK's RoomOptions; kind: the participant kind in its token) to the test's
    room and returns it; every room is disconnected at the end of the test."""
    rooms: List[Tuple[str, Any]] = []

    async def _join(sdk: str, identity: str, options: Any = None, kind: str = "") -> Any:
        token = server.token(room_name, identity, kind)
        if sdk == "official":
            r = rtc.Room()
            tracks.watch(r)
            rooms.append((sdk, r))
            await asyncio.wait_for(r.connect(server.url, token, options or rtc.RoomOptions()), 20)
            return r
        assert sdk == "lkcore", sdk
        lr = lkcore.Room()
        rooms.append((sdk, lr))
        await asyncio.wait_for(lr.connect(server.url, token, options), 20)
        return lr

    yield _join
    failures = []
    for sdk, r in reversed(rooms):  # every room is closed, then the first failure is raised
        try:
            await asyncio.wait_for(r.disconnect() if sdk == "official" else r.aclose(), 10)
        except Exception as e:  # noqa: BLE001
            failures.append(e)
    if failures:
        raise failures[0]


async def until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Waits (bounded) until cond() holds; fails naming what did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
