"""The binding's FFI layer against the real liblkcore: loading, ABI version, client lifecycle,
asynchronous operations, error mapping and handles. No server needed."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import weakref

import pytest

import lkcore
from lkcore import errors
from lkcore._lib import load_library
from lkcore._proto import lkcore_ffi_pb2 as pb


def echo_async(payload: bytes, delay_ms: int = 0) -> pb.Request:
    e = pb.EchoRequest(payload=payload, delay_ms=delay_ms)
    setattr(e, "async", True)  # `async` is a Python keyword
    return pb.Request(echo=e)


@pytest.fixture
async def client(lib_path: str):
    c = lkcore.Client(lib_path)
    yield c
    await c.aclose()


# -- loading and ABI -----------------------------------------------------------------------------


def test_abi_version_matches_library_report(lib_path: str) -> None:
    major, minor = lkcore.abi_version(lib_path)
    assert major == lkcore.ABI_VERSION_MAJOR
    assert minor >= lkcore.ABI_VERSION_MINOR
    c = lkcore.Client(lib_path)
    try:
        v = c.request(pb.Request(get_version=pb.GetVersionRequest())).get_version
    finally:
        c.close()
    assert v.abi_version == (major << 16) | minor
    assert v.schema == pb.DESCRIPTOR.package == "lkcore.ffi.v1"


def test_version_reports_the_loaded_library(lib_path: str) -> None:
    # lkcore.version() (a short-lived client of its own) and Client.version() decode the same
    # GetVersion response: ABI split into (major, minor), the schema package, a build version.
    v = lkcore.version(lib_path)
    assert v.abi_version == lkcore.abi_version(lib_path)
    assert v.schema == pb.DESCRIPTOR.package
    assert v.library_version  # "(devel)" or a module (pseudo-)version, never empty
    c = lkcore.Client(lib_path)
    try:
        assert c.version() == v
    finally:
        c.close()
    with pytest.raises(lkcore.ClientClosedError):
        c.version()


_RUNTIME_PROBE = """
import os, sys
for k, v in zip(sys.argv[2::2], sys.argv[3::2]):
    os.environ[k] = v  # after the process started, before the library is loaded
import lkcore
from lkcore._proto import lkcore_ffi_pb2 as pb
c = lkcore.Client(sys.argv[1])
s = c.request(pb.Request(get_client_stats=pb.GetClientStatsRequest())).get_client_stats
c.close()
print(s.gc_percent, s.memory_limit_bytes)
"""


def _probe(script: str, *args: str, env: "dict[str, str] | None" = None) -> "list[str]":
    """Runs script in a fresh Python process (bounded) and returns the words it printed."""
    out = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _start_env(**go: str) -> "dict[str, str]":
    """This process's environment without GOGC/GOMEMLIMIT, plus go (a child's start-up env)."""
    return {k: v for k, v in os.environ.items() if k not in ("GOGC", "GOMEMLIMIT")} | go


def _runtime_settings(lib_path: str, at_start: dict[str, str], later: dict[str, str]) -> tuple[int, int]:
    out = _probe(_RUNTIME_PROBE, lib_path, *[x for kv in later.items() for x in kv], env=_start_env(**at_start))
    return int(out[0]), int(out[1])


def test_go_runtime_settings_follow_the_environment(lib_path: str) -> None:
    none = 2**63 - 1
    assert _runtime_settings(lib_path, {}, {}) == (100, none)
    # Set when the process starts: the Go runtime reads it itself.
    assert _runtime_settings(lib_path, {"GOGC": "300", "GOMEMLIMIT": "80MiB"}, {}) == (300, 80 << 20)
    # Set through os.environ before the library is loaded: the library applies it.
    assert _runtime_settings(lib_path, {}, {"GOGC": "250", "GOMEMLIMIT": "96MiB"}) == (250, 96 << 20)
    assert _runtime_settings(lib_path, {"GOGC": "50"}, {"GOGC": "off"}) == (-1, none)
    # An invalid value set later is ignored (the Go runtime would abort on it at start-up).
    assert _runtime_settings(lib_path, {}, {"GOMEMLIMIT": "96MB"}) == (100, none)


_LOAD_PROBE = """
import sys, lkcore
try:
    lkcore.Client(sys.argv[1]).close()
    print("loaded")
except lkcore.LibraryError as e:
    print("refused", "GOMEMLIMIT" in str(e))
"""


@pytest.mark.parametrize("value", ["64MB", "-1", "5 MiB", "8388608TiB"])
def test_malformed_startup_gomemlimit_is_refused_not_fatal(lib_path: str, value: str) -> None:
    # The Go runtime inside the library aborts the process as it loads on such a value; the
    # binding refuses to load the library instead.
    assert _probe(_LOAD_PROBE, lib_path, env=_start_env(GOMEMLIMIT=value)) == ["refused", "True"]


@pytest.mark.parametrize("value", ["", "off", "0", "+64MiB", "-0", "123B", "8388607TiB"])
def test_valid_startup_gomemlimit_loads(lib_path: str, value: str) -> None:
    assert _probe(_LOAD_PROBE, lib_path, env=_start_env(GOMEMLIMIT=value)) == ["loaded"]


_SIGNAL_PROBE = """
import os, signal, sys, time, lkcore
got = set()
signal.signal(signal.SIGTERM, lambda *_: got.add("term"))  # before the library is loaded
c = lkcore.Client(sys.argv[1])  # loads the library and starts its Go runtime
signal.signal(signal.SIGINT, lambda *_: got.add("int"))  # after
os.kill(os.getpid(), signal.SIGTERM)
os.kill(os.getpid(), signal.SIGINT)
deadline = time.monotonic() + 10
while len(got) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
c.close()
print(" ".join(sorted(got)))
"""


def test_host_keeps_sigint_and_sigterm(lib_path: str) -> None:
    # The Go runtime in the library installs no handler for asynchronous signals: the
    # host's handlers (here Python's) still run.
    assert _probe(_SIGNAL_PROBE, lib_path) == ["int", "term"]


_FORK_PROBE = """
import os, sys, lkcore
from lkcore._proto import lkcore_ffi_pb2 as pb
c = lkcore.Client(sys.argv[1])
version = pb.Request(get_version=pb.GetVersionRequest())
c.request(version)
pid = os.fork()
if pid == 0:
    got = []
    for use in (lambda: lkcore.Client(sys.argv[1]), lambda: c.request(version)):
        try:
            use()
            got.append("ok")
        except lkcore.ForkedError:
            got.append("forked")
    c.close()  # the inherited client: returns at once, nothing to release in the child
    print(" ".join(got), flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
c.request(version)  # the parent's client still works
c.close()
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_forked_child_gets_forked_error_at_once(lib_path: str) -> None:
    # Without the library's fork check the child hangs inside the Go runtime (timeout below).
    assert _probe(_FORK_PROBE, lib_path) == ["forked", "forked"]


def test_env_var_is_used(lib_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKCORE_LIB", lib_path)
    assert load_library().path == lib_path


def test_missing_library_raises_clear_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "liblkcore.so"
    with pytest.raises(errors.LibraryNotFoundError, match="LKCORE_LIB"):
        load_library(missing)
    monkeypatch.setenv("LKCORE_LIB", str(missing))
    with pytest.raises(errors.LibraryNotFoundError, match=str(missing)):
        load_library()


def _build_fake_lib(tmp_path, version: int) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build the fake library (tests/suites/python.sh installs gcc)")
    src = tmp_path / "fake.c"
    src.write_text(f"unsigned int lk_abi_version(void) {{ return {version}u; }}\n")
    out = tmp_path / f"libfake{version}.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return str(out)


# 1.13: before RoomOptions.auto_subscription_delivery, which such a library would ignore (every
# auto-subscription's frame pushed as an event, ahead of the binding's credits); 1.24: before
# ParticipantInfo.tracks (every participant would show no media track, and no track event come);
# 1.25: before GetConnectionStatsRequest (Room.connection_stats would raise UnimplementedError).
@pytest.mark.parametrize("version", [(2 << 16) | 0, (0 << 16) | 7, (1 << 16) | 13, (1 << 16) | 24, (1 << 16) | 25])
def test_abi_mismatch_is_refused(tmp_path, version: int) -> None:
    fake = _build_fake_lib(tmp_path, version)
    with pytest.raises(errors.AbiVersionError, match="ABI") as ei:
        load_library(fake)
    assert ei.value.library_version == (version >> 16, version & 0xFFFF)


def test_not_an_lkcore_library(tmp_path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "C compiler missing"
    src = tmp_path / "other.c"
    src.write_text("int something(void) { return 1; }\n")
    out = tmp_path / "libother.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    with pytest.raises(errors.LibraryNotFoundError, match="lk_abi_version"):
        load_library(out)


def test_status_names(lib_path: str) -> None:
    lib = load_library(lib_path)
    assert lib.status_name(0) == "LK_OK"
    assert lib.status_name(30) == "LK_ERR_QUEUE_FULL"
    assert lib.status_name(12345) == "LK_ERR_UNKNOWN"


# -- client lifecycle ----------------------------------------------------------------------------


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_close_is_idempotent_and_releases_the_notifier(lib_path: str) -> None:
    c = lkcore.Client(lib_path)
    # Events reach the loop through the notify pipe: no thread of ours waits in the library.
    assert c._thread is None and c._notifier is not None
    assert not [t for t in threading.enumerate() if t.name.startswith("lkcore-")]
    r, w = c._notifier.r, c._notifier.w
    assert _fd_open(r) and _fd_open(w)
    assert c in lkcore.live_clients()
    c.close()
    assert not _fd_open(r) and not _fd_open(w)
    c.close()
    assert c.closed and c not in lkcore.live_clients()
    with pytest.raises(errors.ClientClosedError):
        c.request(pb.Request(get_version=pb.GetVersionRequest()))


@pytest.fixture
def thread_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients made while active deliver through the event thread, as on Windows (no notify
    descriptor), so that path runs here too."""
    monkeypatch.setattr(lkcore._client.Client, "_make_notifier", lambda self: None)


@pytest.mark.parametrize("delivery", ["pipe", "thread"])
async def test_events_are_dispatched_on_the_loop_thread(lib_path: str, delivery: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # pipe: the loop pulls the events itself (POSIX). thread: an event thread pulls them and
    # hands them to the loop (Windows; forced here), at most _BATCHES_IN_FLIGHT batches at once.
    if delivery == "thread":
        monkeypatch.setattr(lkcore._client.Client, "_make_notifier", lambda self: None)
    c = lkcore.Client(lib_path)
    assert (c._thread is not None) == (delivery == "thread") and (c._notifier is None) == (delivery == "thread")
    try:
        seen: "list[int]" = []
        real = c._dispatch

        def spy(ev: pb.Event) -> None:
            seen.append(threading.get_ident())
            real(ev)

        c._dispatch = spy  # type: ignore[method-assign]
        # Many completions in flight at once: many more batches than are pulled (or handed
        # over) at once, none lost.
        n = 40 * lkcore._client._BATCH
        reqs = [c.request_async(echo_async(str(i).encode())) for i in range(n)]
        got = await asyncio.wait_for(asyncio.gather(*reqs), 20)
        assert [g.echo.payload for g in got] == [str(i).encode() for i in range(n)]
        assert set(seen) == {threading.get_ident()}  # on the loop, never the event thread
        assert c._handed == 0
    finally:
        await c.aclose()
    assert c._thread is None or not c._thread.is_alive()


def test_event_thread_leaves_events_in_the_library_while_none_are_dispatched(lib_path: str, thread_mode: None) -> None:
    # No loop is bound: what the event thread pulls waits in the backlog. It takes at most
    # _BATCHES_IN_FLIGHT batches, then leaves the rest in the library (whose bounds hold back
    # rooms' data), instead of queueing without bound.
    c = lkcore.Client(lib_path)
    try:
        n = 20 * lkcore._client._BATCH
        for i in range(n):
            req = echo_async(str(i).encode())
            req.request_id = i + 1
            c.request(req)  # the completion follows as an event
        limit = lkcore._client._BATCHES_IN_FLIGHT

        def backlog() -> int:
            with c._lock:
                return sum(len(b) for b in c._backlog)

        deadline = time.monotonic() + 10  # hang guard
        while c._handed < limit:
            assert time.monotonic() < deadline, f"{c._handed} batches handed over"
            time.sleep(0.01)
        held = backlog()
        assert 0 < held <= limit * lkcore._client._BATCH < n
        time.sleep(0.3)  # the thread waits: nothing more is taken while nothing is dispatched
        assert c._handed == limit and backlog() == held

        # A loop binds: the backlog is dispatched and the rest follows, every completion once.
        done: "set[int]" = set()
        real = c._on_orphan_completion

        def count(comp: pb.Completion) -> None:
            done.add(comp.request_id)
            real(comp)

        c._on_orphan_completion = count  # type: ignore[method-assign]

        async def drain() -> None:
            c._bind_loop()
            while len(done) < n:
                await asyncio.sleep(0.01)

        asyncio.run(asyncio.wait_for(drain(), 20))
        assert done == set(range(1, n + 1))
    finally:
        c.close()
    assert c._thread is not None and not c._thread.is_alive()


async def test_aclose_does_not_block_the_loop(lib_path: str) -> None:
    c = lkcore.Client(lib_path)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    await c.aclose()
    t.cancel()
    assert c.closed and ticks > 0


def test_collected_client_is_closed(lib_path: str) -> None:
    c = lkcore.Client(lib_path)
    r = c._notifier.r
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None
    assert not lkcore.live_clients()
    assert not _fd_open(r), "the collected client's notify pipe must be closed"


def test_two_clients_are_independent(lib_path: str) -> None:
    a, b = lkcore.Client(lib_path), lkcore.Client(lib_path)
    try:
        room = a.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room
        a.adopt(room.handle)
        with pytest.raises(errors.InvalidHandleError):
            b.request(pb.Request(grant_credits=pb.GrantCreditsRequest(handle=room.handle, credits=1)))
        b.close()
        # closing b does not disturb a
        assert a.request(pb.Request(echo=pb.EchoRequest(payload=b"still here"))).echo.payload == b"still here"
    finally:
        a.close()
        b.close()


# -- asynchronous operations ---------------------------------------------------------------------


async def test_async_completions_are_correlated(client: lkcore.Client) -> None:
    payloads = [f"p{i}".encode() for i in range(50)]
    results = await asyncio.gather(
        *(client.request_async(echo_async(p, delay_ms=(50 - i) % 7)) for i, p in enumerate(payloads))
    )
    assert [r.echo.payload for r in results] == payloads


async def test_sync_echo(client: lkcore.Client) -> None:
    big = bytes(range(256)) * 1000
    assert client.request(pb.Request(echo=pb.EchoRequest(payload=big))).echo.payload == big


async def test_library_deadline_raises_timeout(client: lkcore.Client) -> None:
    with pytest.raises(errors.OperationTimeoutError):
        await client.request_async(echo_async(b"slow", delay_ms=10_000), timeout=0.05)
    assert client._pending == {}


async def test_cancelling_the_task_cancels_the_operation(client: lkcore.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    orphans: "asyncio.Queue[pb.Completion]" = asyncio.Queue()
    orig = client._on_orphan_completion
    monkeypatch.setattr(client, "_on_orphan_completion", lambda comp: (orphans.put_nowait(comp), orig(comp)))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.request_async(echo_async(b"x", delay_ms=10_000)), 0.05)
    comp = await asyncio.wait_for(orphans.get(), 5)
    assert comp.error.code == pb.ERROR_CODE_CANCELLED
    assert client._pending == {}


def _new_room_handle(c: lkcore.Client) -> int:
    h: int = c.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room.handle
    return h


def _handle_is_live(c: lkcore.Client, h: int) -> bool:
    try:
        c.request(pb.Request(get_room_snapshot=pb.GetRoomSnapshotRequest(room_handle=h)))
    except errors.InvalidHandleError:
        return False
    except errors.LkError:
        return True  # e.g. not connected: the handle exists
    return True


def _owned_handles_and_drop_spy(c: lkcore.Client, monkeypatch: pytest.MonkeyPatch) -> "tuple[list[int], list[int]]":
    """Two new room handles for a completion to hand over, and the list of the handles the
    binding drops from now on (in order)."""
    owned = [_new_room_handle(c), _new_room_handle(c)]
    dropped: "list[int]" = []
    orig = c.lib.handle_drop

    def spy(cid: int, h: int) -> int:
        dropped.append(h)
        return orig(cid, h)

    monkeypatch.setattr(c.lib, "handle_drop", spy)
    return owned, dropped


async def test_orphan_completion_drops_exactly_its_owned_handles(
    client: lkcore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A completion nobody waits for (its waiter was cancelled) hands over what
    # Completion.owned_handles lists, whatever its result kind: here a connect whose
    # auto-subscriptions a binding keeping its own list of result kinds would leak.
    owned, dropped = _owned_handles_and_drop_spy(client, monkeypatch)
    kept = _new_room_handle(client)  # appears in the result but is not listed: not the binding's
    comp = pb.Completion(
        request_id=987654,  # not pending: the orphan path
        connect=pb.ConnectResult(
            auto_subscriptions=[pb.OwnedDataTrackSubscription(handle=h) for h in owned + [kept]]
        ),
        owned_handles=owned,
    )
    client._dispatch(pb.Event(completion=comp))
    assert dropped == owned
    assert [_handle_is_live(client, h) for h in owned + [kept]] == [False, False, True]
    assert client.live_handles == 1  # the library counts only `kept` now

    # A failed completion lists nothing, and nothing is dropped.
    dropped.clear()
    client._dispatch(pb.Event(completion=pb.Completion(request_id=987655, error=pb.Error(code=pb.ERROR_CODE_CANCELLED))))
    assert dropped == []
    assert _handle_is_live(client, kept)


async def test_undelivered_room_event_drops_exactly_its_owned_handles(
    client: lkcore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A room event for a room nothing routes any more (its Room object is gone) hands over what
    # RoomEvent.owned_handles lists (ABI 1.11), whatever its kind: here a published track's
    # auto-subscription, which a binding releasing stream readers by kind would leak.
    owned, dropped = _owned_handles_and_drop_spy(client, monkeypatch)
    kept = _new_room_handle(client)  # appears in the event but is not listed: not the binding's
    unrouted = 424242
    ev = pb.RoomEvent(
        room_handle=unrouted,
        data_track_published=pb.RemoteDataTrackPublished(
            track=pb.RemoteDataTrackInfo(publisher_identity="p"),
            auto_subscription=pb.OwnedDataTrackSubscription(handle=owned[0]),
        ),
        owned_handles=owned,
    )
    client._dispatch(pb.Event(room=ev))
    assert dropped == owned
    assert [_handle_is_live(client, h) for h in owned + [kept]] == [False, False, True]

    # An event that hands nothing over releases nothing.
    dropped.clear()
    client._dispatch(pb.Event(room=pb.RoomEvent(room_handle=unrouted, reconnecting=pb.Reconnecting())))
    assert dropped == []
    assert _handle_is_live(client, kept)


async def test_failing_on_result_releases_the_owned_handles(
    client: lkcore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on_result builds the caller's objects from a completion; when it raises, the caller gets
    # the exception and no object: every handle the completion hands over is released, also
    # one on_result had adopted before failing.
    owned, dropped = _owned_handles_and_drop_spy(client, monkeypatch)

    def on_result(comp: pb.Completion) -> None:
        client.adopt(comp.owned_handles[0])
        raise ValueError("cannot build the result")

    task = asyncio.ensure_future(client.request_async(echo_async(b"x", delay_ms=10_000), on_result=on_result))
    for _ in range(100):  # the task registers its operation when it first runs
        if client._pending:
            break
        await asyncio.sleep(0)
    (rid,) = client._pending
    # The operation's completion, as the library would deliver it, handing over two handles.
    client._dispatch(pb.Event(completion=pb.Completion(request_id=rid, owned_handles=owned)))
    with pytest.raises(ValueError, match="cannot build"):
        await asyncio.wait_for(task, 5)
    assert dropped == owned
    assert [_handle_is_live(client, h) for h in owned] == [False, False]
    assert client.live_handles == 0


async def test_close_fails_pending_operations(lib_path: str) -> None:
    c = lkcore.Client(lib_path)
    fut = asyncio.ensure_future(c.request_async(echo_async(b"x", delay_ms=10_000)))
    await asyncio.sleep(0.01)
    await c.aclose()
    with pytest.raises(errors.ClientClosedError):
        await asyncio.wait_for(fut, 5)


async def test_client_is_bound_to_one_loop(client: lkcore.Client) -> None:
    await client.request_async(echo_async(b"bind"))

    def other_loop() -> None:
        async def go() -> None:
            await client.request_async(echo_async(b"x"))

        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(go())

    t = threading.Thread(target=other_loop)
    t.start()
    t.join()


# -- error mapping -------------------------------------------------------------------------------


async def test_error_codes_map_to_exception_types(client: lkcore.Client) -> None:
    with pytest.raises(errors.InvalidRequestError):
        client.request(pb.Request())  # names no operation
    # A request kind from a newer schema (unknown field 999, length-delimited).
    unknown = bytes([0xBA, 0x3E, 0x00])  # tag 999 wire type 2, empty
    st, out = client.lib.request(client.id, unknown)
    resp = pb.Response.FromString(out)
    assert st == pb.ERROR_CODE_UNIMPLEMENTED == resp.error.code
    with pytest.raises(errors.InvalidRequestError):  # ASYNC request without request_id
        client.request(echo_async(b"x"))
    with pytest.raises(errors.NotFoundError):
        client.request(pb.Request(cancel=pb.CancelRequest(target_request_id=424242)))
    with pytest.raises(errors.InvalidHandleError):
        client.request(pb.Request(grant_credits=pb.GrantCreditsRequest(handle=0, credits=1)))
    room = client.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room
    client.adopt(room.handle)
    with pytest.raises(errors.WrongHandleTypeError):
        client.request(pb.Request(grant_credits=pb.GrantCreditsRequest(handle=room.handle, credits=1)))
    with pytest.raises(errors.InvalidArgumentError) as ei:
        client.request(pb.Request(create_room=pb.CreateRoomRequest(options=pb.RoomOptions(e2ee=pb.E2eeOptions()))))
    assert isinstance(ei.value, ValueError)
    assert ei.value.code == pb.ERROR_CODE_INVALID_ARGUMENT
    client.drop(room.handle)


async def test_fast_path_push_errors(client: lkcore.Client) -> None:
    with pytest.raises(errors.InvalidHandleError):
        client.push_frame(12345, b"frame", None)
    room = client.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room
    client.adopt(room.handle)
    with pytest.raises(errors.WrongHandleTypeError):
        client.push_frame(room.handle, b"frame", 7)
    client.drop(room.handle)


def test_every_abi_error_code_has_its_class(lib_path: str) -> None:
    """Each value of the generated ErrorCode enum (the ABI's status codes) has one class of its
    own, the C library names the same code, and every error class stands for a code of the enum."""
    lib = load_library(lib_path)
    seen = set()
    for name, value in pb.ErrorCode.items():
        if value == pb.ERROR_CODE_OK:
            assert lib.status_name(value) == "LK_OK"
            continue
        short = name[len("ERROR_CODE_") :]
        assert lib.status_name(value) == "LK_ERR_" + short, name
        cls = errors._BY_CODE[value]
        assert issubclass(cls, errors.LkError) and cls is not errors.LkError and cls.CODE == value, name
        assert cls not in seen, f"{cls.__name__} stands for two codes"
        seen.add(cls)
        assert getattr(errors, cls.__name__) is cls
        if cls is errors.RpcError:
            continue  # built with its RPC code and data (see test_rpc.py)
        e = errors.error_for_code(value, "m", retryable=True)
        assert type(e) is cls and e.code == value and e.retryable and short in str(e)
    assert len(seen) == len(pb.ErrorCode.items()) - 1
    public = [getattr(errors, n) for n in errors.__all__]
    for cls in public:
        if isinstance(cls, type) and issubclass(cls, errors.LkError) and cls is not errors.LkError:
            assert errors._BY_CODE.get(cls.CODE) is cls, cls.__name__
    # A code the schema lacks (a newer library's) is the base class.
    assert max(v for _, v in pb.ErrorCode.items()) + 1 not in errors._BY_CODE


def test_unknown_code_maps_to_base_class() -> None:
    e = errors.error_for_code(999, "from the future")
    assert type(e) is errors.LkError and e.code == 999
    assert isinstance(errors.error_for_code(30), errors.QueueFullError)


# -- handles -------------------------------------------------------------------------------------


async def test_handle_counter_and_idempotent_drop(client: lkcore.Client) -> None:
    assert client.live_handles == 0
    hs = []
    for _ in range(3):
        r = client.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room
        client.adopt(r.handle)
        hs.append(r.handle)
    assert client.live_handles == 3
    for h in hs:
        client.drop(h)
        client.drop(h)  # idempotent, never raises
    assert client.live_handles == 0
    # the library agrees the handles are gone
    with pytest.raises(errors.InvalidHandleError):
        client.request(pb.Request(grant_credits=pb.GrantCreditsRequest(handle=hs[0], credits=1)))
    st = client.lib.handle_drop(client.id, hs[0])
    assert st == 0  # dropping a dropped handle is OK at the C level too


def test_drop_after_close_does_not_raise(lib_path: str) -> None:
    c = lkcore.Client(lib_path)
    r = c.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room
    c.adopt(r.handle)
    c.close()
    assert c.live_handles == 0
    c.drop(r.handle)


# -- logging -------------------------------------------------------------------------------------


async def test_log_level_follows_python_logging(lib_path: str, caplog: pytest.LogCaptureFixture) -> None:
    from lkcore._client import py_level_to_lib

    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL + 1]
    assert [py_level_to_lib(lvl) for lvl in levels] == [
        pb.LOG_LEVEL_DEBUG,
        pb.LOG_LEVEL_INFO,
        pb.LOG_LEVEL_WARN,
        pb.LOG_LEVEL_ERROR,
        pb.LOG_LEVEL_OFF,
    ]

    async def failed_connect(c: lkcore.Client) -> None:
        # Nothing listens on port 1: the attempt logs (at debug) and fails.
        with pytest.raises(errors.LkError):
            await asyncio.wait_for(lkcore.Room(client=c).connect("ws://127.0.0.1:1", "aaaa.bbbb.cccc"), 30)

    def lib_debug_records() -> "list[logging.LogRecord]":
        return [r for r in caplog.records if r.name == "lkcore.lib" and r.levelno == logging.DEBUG]

    # A client created while "lkcore" logs at DEBUG forwards the library's debug records.
    caplog.set_level(logging.DEBUG, logger="lkcore")
    c = lkcore.Client(lib_path)
    try:
        await failed_connect(c)
        # The failure's completion follows the attempt's records in the one ordered event
        # stream: whatever was forwarded has arrived.
        assert lib_debug_records(), "no debug record forwarded at DEBUG"
        c.set_log_level(logging.WARNING)
        # Records the first room's teardown logged before the level changed may still be
        # queued: an asynchronous echo's completion follows them in the event order.
        await asyncio.wait_for(c.request_async(echo_async(b"barrier")), 30)
        caplog.clear()
        await failed_connect(c)
        assert not lib_debug_records(), "debug records forwarded at WARNING"
    finally:
        c.close()


def test_e2ee_options_never_show_the_key() -> None:
    o = lkcore.E2EEOptions(shared_key=b"hunter2hunter2")
    assert "hunter2" not in repr(o) and "hunter2" not in repr(lkcore.RoomOptions(e2ee=o))


async def test_cancelled_blocking_call_does_not_block_the_loop() -> None:
    # aclose() (and the Room's close of its private client) wait for a blocking call on a
    # helper thread; cancelling the waiter must return at once instead of joining the thread
    # on the loop. The call below blocks until released: a guard timer releases it so a
    # regression fails the assertion instead of hanging the suite.
    from lkcore._client import _run_blocking

    entered = asyncio.Event()
    release = threading.Event()
    loop = asyncio.get_running_loop()

    def blocking() -> str:
        loop.call_soon_threadsafe(entered.set)
        release.wait(30)
        return "done"

    guard = threading.Timer(10, release.set)
    guard.start()
    try:
        task = asyncio.create_task(_run_blocking(blocking))
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not release.is_set(), "the cancel waited for the blocking call to finish"
    finally:
        release.set()
        guard.cancel()


class _CloseGate:
    """The client's Library with lk_client_close held until released (a close() from another
    thread stopped after its snapshot of the pending operations, before the library closes)."""

    def __init__(self, lib: object) -> None:
        self._lib = lib
        self.closing = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._lib, name)

    def client_close(self, cid: int, timeout_ms: int) -> int:
        self.closing.set()
        self.go.wait(30)
        return self._lib.client_close(cid, timeout_ms)  # type: ignore[attr-defined]

    def request(self, cid: int, data: bytes) -> object:
        out = self._lib.request(cid, data)  # type: ignore[attr-defined]
        self.go.set()  # the asynchronous request got in: let the close proceed
        return out


async def test_close_racing_an_async_request_fails_it(lib_path: str) -> None:
    # close() on another thread runs between request_async's closed check and its registration
    # of the operation; the request must then fail with ClientClosedError, never wait forever.
    c = lkcore.Client(lib_path)
    gate = _CloseGate(c._lib)
    c.request(pb.Request(get_version=pb.GetVersionRequest()))
    c._bind_loop()
    closer = threading.Thread(target=c.close, name="test-closer")
    ids = c._ids

    class Ids:
        def __next__(self) -> int:
            # Called by request_async after its closed check: close on the other thread now.
            c._lib = gate  # type: ignore[assignment]
            closer.start()
            assert gate.closing.wait(30)
            return next(ids)

    c._ids = Ids()  # type: ignore[assignment]
    try:
        with pytest.raises(errors.ClientClosedError):
            await asyncio.wait_for(c.request_async(echo_async(b"x", delay_ms=60_000)), 10)
    finally:
        gate.go.set()
        closer.join(30)
    assert c.closed and not closer.is_alive()


class _SlowTeardown:
    """The client's Library, with lk_client_close reporting TIMEOUT its first `n` times (a
    teardown that does not finish in time)."""

    def __init__(self, lib: object, n: int) -> None:
        self._lib = lib
        self.n = n
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._lib, name)

    def client_close(self, cid: int, timeout_ms: int) -> int:
        self.calls += 1
        if self.calls <= self.n:
            return 9  # LK_ERR_TIMEOUT
        return self._lib.client_close(cid, timeout_ms)  # type: ignore[attr-defined]


def test_close_timeout_is_bounded_and_typed(lib_path: str) -> None:
    lib = load_library(lib_path)
    c = lkcore.Client(lib_path)
    cid = c.id
    slow = _SlowTeardown(c._lib, 3)
    c._lib = slow  # type: ignore[assignment]
    with pytest.raises(errors.OperationTimeoutError):
        c.close(timeout=0.05)
    assert slow.calls == 1  # waited once, for the timeout given, not again and again
    assert c.closed and c not in lkcore.live_clients()
    # Garbage collection of the client waits for the library's teardown once more.
    del c
    gc.collect()
    st, _ = lib.request(cid, pb.Request(get_version=pb.GetVersionRequest()).SerializeToString())
    assert st == errors.ClientClosedError.CODE
    c2 = lkcore.Client(lib_path)
    with pytest.raises(errors.InvalidArgumentError):
        c2.close(timeout=-1)
    assert not c2.closed
    c2.close(timeout=float("inf"))  # capped, not an overflow
    assert c2.closed


def test_close_with_a_stopped_loop_closes_the_pipe(lib_path: str) -> None:
    # The client's loop has stopped but is not closed (asyncio.run-style code that closes it
    # later): close() must close the notify pipe itself, since loop.close() discards callbacks.
    loop = asyncio.new_event_loop()
    c = lkcore.Client(lib_path)
    try:
        loop.run_until_complete(c.request_async(echo_async(b"bind")))
        n = c._notifier
        assert n is not None and n.loop is loop
        c.close()
    finally:
        loop.close()
    for fd in (n.r, n.w):
        with pytest.raises(OSError):
            os.fstat(fd)


def test_failed_init_closes_the_native_client(lib_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    lib = load_library(lib_path)
    made: "list[int]" = []
    real_new = lib.client_new

    def spy_new() -> int:
        made.append(real_new())
        return made[-1]

    def no_fds() -> "tuple[int, int]":
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(lib, "client_new", spy_new)
    monkeypatch.setattr(os, "pipe", no_fds)
    with pytest.raises(errors.IoError):  # typed, not a raw OSError
        lkcore.Client(lib_path)
    monkeypatch.undo()
    assert len(made) == 1
    st, _ = lib.request(made[0], pb.Request(get_version=pb.GetVersionRequest()).SerializeToString())
    assert st == errors.ClientClosedError.CODE  # the native client was closed, not leaked


async def test_timeouts_out_of_range_are_typed_or_capped(client: lkcore.Client) -> None:
    # Beyond Request.timeout_ms (uint32 ms) is capped, inf included (it was a protobuf
    # ValueError / an OverflowError); negative or NaN is InvalidArgumentError.
    import fractions

    for t in (5e6, float("inf"), fractions.Fraction(30, 1)):  # any real number of seconds
        comp = await asyncio.wait_for(client.request_async(echo_async(b"t"), timeout=t), 30)
        assert comp.echo.payload == b"t"
    for bad in (-1.0, float("nan")):
        with pytest.raises(errors.InvalidArgumentError):
            await client.request_async(echo_async(b"t"), timeout=bad)


def test_events_maxsize_must_bound_the_buffer() -> None:
    room = lkcore.Room()
    with pytest.raises(errors.InvalidArgumentError):
        room.events(maxsize=0)  # asyncio.Queue(0) would be unbounded
    with pytest.raises(errors.InvalidArgumentError):
        room.events(maxsize=-5)
