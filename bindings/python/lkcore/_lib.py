"""Loading liblkcore with ctypes and declaring the C ABI of ``include/lkcore.h``.

The library is looked up, in order:

1. the ``path`` argument of :func:`load_library`;
2. the ``LKCORE_LIB`` environment variable (a file path);
3. the package folder (``lkcore/liblkcore.so``, present when the wheel bundles it);
4. the system's library search path (``ctypes.util.find_library("lkcore")``, then
   ``liblkcore.so`` through the dynamic loader).

The library's ABI version is checked against the version this binding was written for
(:data:`ABI_VERSION_MAJOR`, :data:`ABI_VERSION_MINOR`) using the rule of ``lkcore.h``: same
major, library minor >= binding minor. A mismatch raises :class:`AbiVersionError`.

The library contains a Go runtime: it cannot be unloaded, so one loaded instance is kept for
the life of the process (per path).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
import re
import sys
import threading
from typing import Dict, Optional, Union

from .errors import AbiVersionError, LibraryError, LibraryNotFoundError

__all__ = [
    "ABI_VERSION_MAJOR",
    "ABI_VERSION_MINOR",
    "Library",
    "load_library",
    "abi_version",
]

#: ABI major version this binding is written for (``LK_ABI_VERSION_MAJOR``).
ABI_VERSION_MAJOR = 1
#: Lowest ABI minor version this binding needs (``LK_ABI_VERSION_MINOR``): 30, for
#: ``RoomOptions.tls_root_certificates_pem`` (``RoomOptions.tls_root_certificates``: a library
#: before 1.30 would ignore it and trust the system's roots); since 29, for active
#: speakers (``ParticipantInfo.is_speaking`` / ``audio_level``: ``Participant.is_speaking`` /
#: ``audio_level``; ``ParticipantUpdated.speaking_changed``: ``participant_speaking_changed``;
#: ``ActiveSpeakersChanged`` and ``ConnectResult.active_speakers``: ``Room.active_speakers``,
#: ``active_speakers_changed``; ``SIMULATE_SCENARIO_SPEAKER_UPDATE``: ``SimulateScenario.SPEAKER_UPDATE``);
#: since 28, for the reliable
#: packets a reconnect discarded or sent again (``Reconnected.discarded_packets`` /
#: ``replayed_packets``: the ``reconnected`` event's arguments); since 27, for simulated
#: connection faults (``SimulateScenarioRequest``: ``Room.simulate_scenario``); since 26, for the
#: connection's statistics (``GetConnectionStatsRequest``: ``Room.connection_stats``); since 25,
#: for other participants' media tracks, described (``ParticipantInfo.tracks``:
#: ``Participant.track_publications``; ``ParticipantUpdated.track_published`` /
#: ``track_unpublished`` / ``track_mute_changed``: ``track_published``, ``track_unpublished``,
#: ``track_muted``, ``track_unmuted``); since 24, for the server
#: of the session (``RoomInfo.server``: ``Room.server``); since 23, for data-track
#: schema definitions (``define_schema``, ``get_schema``); since 22, for connection quality;
#: since 21, for transcriptions
#: (``publish_transcription``, ``transcription_received``) and ``sender_identity`` (a library
#: before 1.21 would ignore it and send in the agent's own name); since 20, for subscription
#: permissions (``set_track_subscription_permissions``,
#: ``data_track_subscription_permission_changed``) and legacy chat messages; since 19, for DTMF
#: (``publish_dtmf``, ``sip_dtmf_received``), ``Participant.kind_details`` and the room's
#: publisher count, recording state and timeouts; since 18, for the
#: ``RoomMoved`` room event (``moved``: a library before 1.18 ignores a move to another room);
#: since 17, for ``GetE2eeStatsResponse.participant_states`` (``E2EEManager.encryption_state``: the library
#: holds each participant's state); since 15, for the order
#: of room events its model relies on (a participant's ``RemoteDataTrackUnpublished`` events
#: before its ``ParticipantDisconnected``; after a full reconnect only who joined or left is
#: reported) and ``LocalDataTrackSidChanged``; since 14, for
#: ``RoomOptions.auto_subscription_delivery`` / ``auto_subscription_credits`` (auto-subscriptions
#: delivered with credits, their frames waiting in the library's buffer; a library before 1.14
#: would ignore them and push every frame as an event) and ``data_track_buffer_bytes`` (and,
#: since 13, ``SubscribeDataTrackRequest.buffer_bytes`` and the default subscription buffer
#: that ``subscribe()`` relies on; since 11, ``RoomEvent.owned_handles``; since 10,
#: ``lk_data_track_read_frame`` and the ``RemoteDataTrackSidChanged`` room event).
ABI_VERSION_MINOR = 30

_LIB_NAMES = {"darwin": "liblkcore.dylib", "win32": "lkcore.dll"}
_DEFAULT_NAME = _LIB_NAMES.get(sys.platform, "liblkcore.so")

_u8p = ctypes.POINTER(ctypes.c_uint8)

# int32_t functions return these (same numbers as lkcore.ffi.v1.ErrorCode).
LK_OK = 0
LK_ERR_TIMEOUT = 9
LK_ERR_CLIENT_CLOSED = 7
LK_ERR_END_OF_STREAM = 34


class Library:
    """A loaded liblkcore with its C prototypes declared.

    Thin and stateless: every method maps 1:1 onto a C function (see ``include/lkcore.h``).
    ctypes releases the GIL for the duration of each call.
    """

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.path = path
        self._dll = cdll
        d = cdll
        d.lk_abi_version.argtypes = []
        d.lk_abi_version.restype = ctypes.c_uint32
        d.lk_client_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        d.lk_client_new.restype = ctypes.c_uint64
        d.lk_client_close.argtypes = [ctypes.c_uint64, ctypes.c_int32]
        d.lk_client_close.restype = ctypes.c_int32
        d.lk_request.argtypes = [
            ctypes.c_uint64,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(_u8p),
            ctypes.POINTER(ctypes.c_size_t),
        ]
        d.lk_request.restype = ctypes.c_int32
        d.lk_client_next_event.argtypes = [
            ctypes.c_uint64,
            ctypes.c_int32,
            ctypes.POINTER(_u8p),
            ctypes.POINTER(ctypes.c_size_t),
        ]
        d.lk_client_next_event.restype = ctypes.c_int32
        d.lk_free.argtypes = [ctypes.c_void_p]
        d.lk_free.restype = None
        d.lk_handle_drop.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
        d.lk_handle_drop.restype = ctypes.c_int32
        d.lk_data_track_push.argtypes = [
            ctypes.c_uint64,
            ctypes.c_uint64,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint64,
            ctypes.c_bool,
        ]
        d.lk_data_track_push.restype = ctypes.c_int32
        d.lk_data_track_push_paced.argtypes = d.lk_data_track_push.argtypes
        d.lk_data_track_push_paced.restype = ctypes.c_int32
        d.lk_data_track_read_frame.argtypes = [
            ctypes.c_uint64,
            ctypes.c_uint64,
            ctypes.c_int32,
            ctypes.POINTER(_u8p),
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.POINTER(ctypes.c_uint64),
            ctypes.POINTER(ctypes.c_bool),
            ctypes.POINTER(ctypes.c_uint64),
        ]
        d.lk_data_track_read_frame.restype = ctypes.c_int32
        d.lk_status_name.argtypes = [ctypes.c_int32]
        d.lk_status_name.restype = ctypes.c_char_p

    # -- thin wrappers -------------------------------------------------------------------------

    def abi_version(self) -> int:
        """``lk_abi_version()``: ``(major << 16) | minor``."""
        return int(self._dll.lk_abi_version())

    def status_name(self, status: int) -> str:
        """``lk_status_name(status)``, e.g. ``"LK_ERR_TIMEOUT"``."""
        name = self._dll.lk_status_name(status)
        return name.decode("ascii") if name else "LK_ERR_UNKNOWN"

    def client_new(self) -> int:
        """Creates a pull-mode client (no callback); returns its id or 0."""
        return int(self._dll.lk_client_new(None, None))

    def client_close(self, client: int, timeout_ms: int) -> int:
        """``lk_client_close``; returns the status."""
        return int(self._dll.lk_client_close(client, timeout_ms))

    def request(self, client: int, data: bytes) -> "tuple[int, Optional[bytes]]":
        """``lk_request``; returns ``(status, encoded Response or None)``."""
        out = _u8p()
        out_len = ctypes.c_size_t(0)
        st = self._dll.lk_request(client, data, len(data), ctypes.byref(out), ctypes.byref(out_len))
        return int(st), self._take(out, out_len.value)

    def next_event(self, client: int, timeout_ms: int) -> "tuple[int, Optional[bytes]]":
        """``lk_client_next_event``; returns ``(status, encoded Event or None)``."""
        out = _u8p()
        out_len = ctypes.c_size_t(0)
        st = self._dll.lk_client_next_event(client, timeout_ms, ctypes.byref(out), ctypes.byref(out_len))
        return int(st), self._take(out, out_len.value)

    def handle_drop(self, client: int, handle: int) -> int:
        """``lk_handle_drop``; returns the status."""
        return int(self._dll.lk_handle_drop(client, handle))

    def data_track_push(self, client: int, track: int, data: bytes, ts: Optional[int], paced: bool = False) -> int:
        """``lk_data_track_push`` (``lk_data_track_push_paced`` if ``paced``); returns the
        status. ``data`` is borrowed for the call."""
        fn = self._dll.lk_data_track_push_paced if paced else self._dll.lk_data_track_push
        return int(fn(client, track, data, len(data), ts if ts is not None else 0, ts is not None))

    def data_track_read_frame(
        self, client: int, sub: int, timeout_ms: int
    ) -> "tuple[int, Optional[bytes], Optional[int], int]":
        """``lk_data_track_read_frame`` (ABI 1.10): the next frame of a subscription opened
        with ``DELIVERY_MODE_PULL``.

        ``timeout_ms``: < 0 waits until a frame arrives, the subscription ends or the client
        closes; 0 polls; > 0 waits at most that long.

        Returns ``(status, frame, user_timestamp, dropped_before)``: ``frame`` is the payload
        on ``LK_OK`` (None otherwise), ``user_timestamp`` the publisher's timestamp if it sent
        one, and ``dropped_before`` how many of the publisher's frames the subscription lost
        since the frame read before (its buffer's drops and frames that never arrived whole),
        so frames read plus the sum of ``dropped_before`` is every frame the publisher sent
        from the first frame read to the last (0 unless ``LK_OK``). Other statuses:
        ``LK_ERR_TIMEOUT``, ``LK_ERR_END_OF_STREAM`` (ended and drained), and those of
        ``include/lkcore.h``.
        """
        out = _u8p()
        out_len = ctypes.c_size_t(0)
        ts = ctypes.c_uint64(0)
        has_ts = ctypes.c_bool(False)
        dropped = ctypes.c_uint64(0)
        st = self._dll.lk_data_track_read_frame(
            client,
            sub,
            timeout_ms,
            ctypes.byref(out),
            ctypes.byref(out_len),
            ctypes.byref(ts),
            ctypes.byref(has_ts),
            ctypes.byref(dropped),
        )
        ok = st == LK_OK
        return (
            int(st),
            self._take(out, out_len.value),
            ts.value if ok and has_ts.value else None,
            dropped.value if ok else 0,
        )

    def _take(self, ptr: "ctypes._Pointer[ctypes.c_uint8]", n: int) -> Optional[bytes]:
        """Copies a library-owned buffer into Python and frees it with ``lk_free``."""
        if not ptr:
            return None
        try:
            return ctypes.string_at(ptr, n)
        finally:
            self._dll.lk_free(ptr)


_loaded: Dict[str, Library] = {}
_lock = threading.Lock()


def _candidates(path: Optional[Union[str, "os.PathLike[str]"]]) -> "list[tuple[str, str]]":
    """Returns ``(how, path-or-name)`` in lookup order."""
    if path is not None:
        return [("path argument", os.fspath(path))]
    env = os.environ.get("LKCORE_LIB")
    if env:
        return [("LKCORE_LIB", env)]
    out = []
    pkg = pathlib.Path(__file__).resolve().parent / _DEFAULT_NAME
    if pkg.is_file():
        out.append(("package folder", str(pkg)))
    found = ctypes.util.find_library("lkcore")
    if found:
        out.append(("system (find_library)", found))
    out.append(("system (dynamic loader)", _DEFAULT_NAME))
    return out


def load_library(path: Optional[Union[str, "os.PathLike[str]"]] = None) -> Library:
    """Loads liblkcore (see the module docstring for the lookup order) and checks its ABI.

    An explicit ``path`` or ``LKCORE_LIB`` is used exclusively: if it cannot be loaded the
    call fails instead of silently falling back to another copy.

    Raises:
        LibraryNotFoundError: no candidate could be loaded.
        AbiVersionError: the library's ABI is incompatible with this binding.
        LibraryError: the process started with a malformed ``GOMEMLIMIT``, on which the Go
            runtime inside the library would abort the whole process as it loads.
    """
    tried = []
    with _lock:
        if not _loaded:
            _check_startup_environment()
        for how, cand in _candidates(path):
            key = os.path.realpath(cand) if os.path.sep in cand else cand
            lib = _loaded.get(key)
            if lib is None:
                try:
                    dll = ctypes.CDLL(cand)
                except OSError as e:
                    tried.append(f"{how}: {cand} ({e})")
                    continue
                if not hasattr(dll, "lk_abi_version"):
                    tried.append(f"{how}: {cand} (not liblkcore: no lk_abi_version)")
                    continue
                _check_abi(int(dll.lk_abi_version()), cand)
                lib = Library(dll, cand)
                _loaded[key] = lib
            return lib
    raise LibraryNotFoundError(
        "liblkcore could not be loaded; build it with `./build.sh lib` and set LKCORE_LIB "
        "to the file, or pass its path. Tried: " + "; ".join(tried)
    )


# GOMEMLIMIT as the Go runtime accepts it: empty, "off", or a signed decimal number of bytes
# (not negative, below 2**63 with its unit) with an optional unit.
_GOMEMLIMIT = re.compile(rb"(?:|off|([+-]?)([0-9]+)(B|KiB|MiB|GiB|TiB)?)")
_UNITS = {None: 1, b"B": 1, b"KiB": 1 << 10, b"MiB": 1 << 20, b"GiB": 1 << 30, b"TiB": 1 << 40}


def _check_startup_environment() -> None:
    """Refuses to load the library into a process that started with a malformed GOMEMLIMIT.

    The Go runtime reads it from the environment the process started with (``/proc/self/environ``,
    not ``os.environ``) when the library loads, and aborts the process on a value it cannot
    parse; a value set later is the library's to check (it ignores a malformed one).
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return
    for entry in env:
        if entry.startswith(b"GOMEMLIMIT="):
            value = entry[len(b"GOMEMLIMIT=") :]
            m = _GOMEMLIMIT.fullmatch(value)
            n = int(m.group(2)) * _UNITS[m.group(3)] if m is not None and m.group(2) is not None else 0
            if m is None or n >= 1 << 63 or (m.group(1) == b"-" and n != 0):
                raise LibraryError(
                    f"the process started with GOMEMLIMIT={value.decode(errors='replace')!r}, which the Go "
                    "runtime inside liblkcore cannot parse and would abort the process on: use a number "
                    "of bytes with an optional unit B, KiB, MiB, GiB or TiB (e.g. 64MiB), or 'off'"
                )


def _check_abi(version: int, where: str) -> None:
    major, minor = version >> 16, version & 0xFFFF
    if major != ABI_VERSION_MAJOR or minor < ABI_VERSION_MINOR:
        raise AbiVersionError(
            f"{where} implements lkcore ABI {major}.{minor}, but this binding needs "
            f"{ABI_VERSION_MAJOR}.x with x >= {ABI_VERSION_MINOR}: install a matching "
            "liblkcore or lkcore Python package",
            library_version=(major, minor),
        )


def abi_version(path: Optional[Union[str, "os.PathLike[str]"]] = None) -> "tuple[int, int]":
    """Returns the loaded library's ABI version as ``(major, minor)``."""
    v = load_library(path).abi_version()
    return v >> 16, v & 0xFFFF
