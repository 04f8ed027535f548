"""The official JS client (livekit-client, bundled from js/) in headless Chromium, driven through
Playwright: a page per participant, served over loopback (Chromium refuses a page that is not
itself on loopback access to a loopback server). Used by test_js.py."""

from __future__ import annotations

import asyncio
import base64
import functools
import http.server
import os
import threading
from typing import Any, AsyncIterator, Callable, List

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from tracks import Published, Subscribed

CHROMIUM = "/usr/lib/chromium/chromium"  # Debian's package (tests/suites/interop.sh installs it)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


class PageServer:
    """Serves the bundle's folder on a loopback port (one per test, closed by the fixture)."""

    def __init__(self, folder: str) -> None:
        handler = functools.partial(_QuietHandler, directory=folder)
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/index.html"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


class JsRoom:
    """One participant of the JS client: `call(name, *args)` runs `lkjs[name](...args)` in its page."""

    def __init__(self, page: Page, identity: str) -> None:
        self.page, self.identity = page, identity
        self.console: List[str] = []
        page.on("console", lambda m: self.console.append(m.text))

    async def call(self, name: str, *args: Any) -> Any:
        return await asyncio.wait_for(self.page.evaluate(f"(a) => lkjs.{name}(...a)", list(args)), 60)

    async def remotes(self) -> List[str]:
        return list(await self.call("remotes"))

    async def received(self) -> dict:
        return dict(await self.call("received"))


async def poll(fetch: Callable[[], Any], cond: Callable[[Any], bool], what: str, timeout: float = 15.0) -> Any:
    """Calls fetch() (a coroutine function) until cond(result); bounded, fails naming what."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await fetch()
        if cond(r):
            return r
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: run tests/suites/interop.sh (it installs Debian's chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


async def open_js(b: Browser, page_url: str, url: str, token: str, identity: str) -> JsRoom:
    page = await b.new_page()
    r = JsRoom(page, identity)
    await page.goto(page_url)
    try:
        await r.call("connect", url, token)
    except Exception:
        print("\n".join(r.console[-30:]))  # the client's log, for the failure report
        raise
    return r


async def publish_js(r: JsRoom, name: str) -> Published:
    """Publishes a data track from the page; push() hands each frame to the page in order."""
    sid = await r.call("publishTrack", name)
    pending: List["asyncio.Future[Any]"] = []
    lock = asyncio.Lock()

    async def push_in_order(data: bytes, ts: int) -> None:
        async with lock:
            await r.call("push", name, b64(data), ts)

    def push(data: bytes, ts: int) -> None:
        pending.append(asyncio.ensure_future(push_in_order(data, ts)))

    async def unpublish() -> None:
        await asyncio.gather(*pending)
        await r.call("unpublishTrack", name)

    return Published(sid, False, push, unpublish)


async def subscribe_js(r: JsRoom, publisher: str, name: str, timeout: float = 10) -> Subscribed:
    """Subscribes the page to publisher's track once announced; a task moves its frames into the
    Subscribed's queue (its `done` ends when the page's subscription ends)."""
    sid = await poll(lambda: r.call("subscribe", publisher, name), lambda s: s is not None, f"{publisher}'s {name!r} announced to JS", timeout)
    s = Subscribed(sid, False)

    async def pump() -> None:
        while True:
            try:
                frames = await r.call("takeFrames")
            except PlaywrightError:  # the page closed at the end of the test
                return
            for f in frames:
                if f.get("end"):
                    return
                s.received.put_nowait((unb64(f["data"]), f["ts"]))
            await asyncio.sleep(0.01)

    s.done = asyncio.ensure_future(pump())
    return s
