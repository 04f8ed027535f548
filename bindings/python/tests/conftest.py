"""Shared fixtures of the lkcore binding tests.

Environment (set by tests/suites/python.sh):
  LKCORE_LIB           path of liblkcore.so (required)
  LKCORE_DEVSFU_URL    ws:// URL of a running lkcore-devsfu (tests marked `devsfu` need it)
  LKCORE_DEVSFU_BIN    the lkcore-devsfu binary (mints tokens)
  LKCORE_DEVSFU_KEY / LKCORE_DEVSFU_SECRET   its API key and secret
  LKCORE_DEVSFU_TLS_URL  wss:// URL of the same server (devsfu --tls-ca-out; the `devsfu_tls`
                       fixture needs it)
  LKCORE_DEVSFU_TLS_CA   the PEM file of the CA that signed that listener's certificate

After every test the binding must have released everything: no open client (hence no live
handle and no event thread) may remain.
"""

from __future__ import annotations

import gc
import os
import subprocess
import threading
import time
import uuid
from typing import Callable, Iterator

import pytest

import lkcore


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "devsfu: needs a running lkcore-devsfu (LKCORE_DEVSFU_URL)")


@pytest.fixture(autouse=True)
def devsfu_required(request: pytest.FixtureRequest) -> None:
    """A server test without a server fails (never skips): a moved or missing devsfu must not
    silently turn the server tests off."""
    if request.node.get_closest_marker("devsfu") and not os.environ.get("LKCORE_DEVSFU_URL"):
        pytest.fail("LKCORE_DEVSFU_URL not set: no lkcore-devsfu to test against (run tests/suites/python.sh)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"lkcore package: {os.path.dirname(lkcore.__file__)}; LKCORE_LIB={os.environ.get('LKCORE_LIB')}"


@pytest.fixture(scope="session")
def lib_path() -> str:
    p = os.environ.get("LKCORE_LIB")
    if not p:
        pytest.fail("LKCORE_LIB must point at liblkcore.so (run tests/suites/python.sh)")
    return p


def _lkcore_threads() -> "list[threading.Thread]":
    return [t for t in threading.enumerate() if t.name.startswith("lkcore-")]


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fails a test that leaves an open client, a live handle or an lkcore thread behind."""
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while (lkcore.live_clients() or _lkcore_threads()) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    clients = lkcore.live_clients()
    handles = sum(c.live_handles for c in clients)
    for c in clients:
        c.close()
    assert not clients, f"clients left open: {clients} holding {handles} handles"
    assert not _lkcore_threads(), f"threads left: {_lkcore_threads()}"


class DevSFU:
    """A running lkcore-devsfu: its URL and a token minter."""

    def __init__(self) -> None:
        self.url = os.environ["LKCORE_DEVSFU_URL"]
        self.bin = os.environ["LKCORE_DEVSFU_BIN"]
        self.key = os.environ["LKCORE_DEVSFU_KEY"]
        self.secret = os.environ["LKCORE_DEVSFU_SECRET"]

    def token(self, room: str, identity: str, *extra: str) -> str:
        out = subprocess.run(
            [self.bin, "token", "--room", room, "--identity", identity, "--key", self.key, "--secret", self.secret, *extra],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.strip()


@pytest.fixture(scope="session")
def devsfu() -> DevSFU:
    return DevSFU()


class DevSFUTLS:
    """The suite's devsfu over wss:// (a second listener of the same server: same rooms, same
    key and secret) and the PEM of the private CA its certificate chains to."""

    def __init__(self, url: str, ca_pem: bytes) -> None:
        self.url = url
        self.ca_pem = ca_pem


@pytest.fixture(scope="session")
def devsfu_tls() -> DevSFUTLS:
    """Fails (never skips) without the wss:// listener or its CA: a devsfu started without
    --tls-ca-out must not silently turn the TLS tests off."""
    url = os.environ.get("LKCORE_DEVSFU_TLS_URL")
    ca = os.environ.get("LKCORE_DEVSFU_TLS_CA")
    if not url or not ca:
        pytest.fail(
            "LKCORE_DEVSFU_TLS_URL / LKCORE_DEVSFU_TLS_CA not set: no wss:// devsfu listener to test against "
            "(run tests/suites/python.sh, which starts lkcore-devsfu with --tls-ca-out)"
        )
    if not url.startswith("wss://"):
        pytest.fail(f"LKCORE_DEVSFU_TLS_URL is not a wss:// URL: {url!r}")
    try:
        with open(ca, "rb") as f:
            pem = f.read()
    except OSError as e:
        pytest.fail(f"LKCORE_DEVSFU_TLS_CA unreadable: {e}")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        pytest.fail(f"LKCORE_DEVSFU_TLS_CA ({ca}) holds no PEM certificate")
    return DevSFUTLS(url, pem)


@pytest.fixture
def room_name() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def token_for(devsfu: DevSFU, room_name: str) -> Callable[[str], str]:
    return lambda identity: devsfu.token(room_name, identity)
