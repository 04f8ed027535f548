"""Typed exceptions, mapped 1:1 from the ABI's error codes (``lkcore.ffi.v1.ErrorCode``).

Every failure reported by the library raises a subclass of :class:`LkError` chosen by the
error code; unknown codes (from a newer library) raise :class:`LkError` itself. RPC failures
raise :class:`RpcError`, which carries LiveKit's RPC code, message and data.

The codes come from the generated ``ErrorCode`` enum, never from numbers written here: each
class names its enum value (``_code("QUEUE_FULL")``, an import error if the schema lacks it), and
a value of the enum without a class of its own gets one made from its name (``ERROR_CODE_X_Y`` ->
``XYError``), so every code of the schema maps to exactly one class.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type, cast

from ._proto import lkcore_ffi_pb2 as _pb

_PREFIX = "ERROR_CODE_"


def _code(name: str) -> int:
    """The ErrorCode value named ``ERROR_CODE_<name>``."""
    return int(_pb.ErrorCode.Value(_PREFIX + name))

__all__ = [
    "LkError",
    "LibraryError",
    "LibraryNotFoundError",
    "AbiVersionError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidRequestError",
    "UnimplementedError",
    "InvalidHandleError",
    "WrongHandleTypeError",
    "ClientClosedError",
    "InvalidClientError",
    "OperationTimeoutError",
    "OperationCancelledError",
    "NotFoundError",
    "AlreadyExistsError",
    "FailedPreconditionError",
    "ForkedError",
    "ConnectionFailedError",
    "UnauthorizedError",
    "DisconnectedError",
    "NotAllowedError",
    "UnsupportedError",
    "ProtocolError",
    "QueueFullError",
    "PayloadTooLargeError",
    "LimitReachedError",
    "TrackUnpublishedError",
    "EndOfStreamError",
    "EncryptionError",
    "RpcError",
    "IoError",
    "AbortedError",
    "error_for_code",
]


class LibraryError(RuntimeError):
    """The shared library could not be used (not found, or incompatible)."""


class LibraryNotFoundError(LibraryError):
    """liblkcore could not be found or loaded."""


class AbiVersionError(LibraryError):
    """The loaded liblkcore implements an ABI this binding cannot use."""

    def __init__(self, message: str, library_version: Tuple[int, int] = (0, 0)) -> None:
        super().__init__(message)
        #: ``(major, minor)`` reported by the library.
        self.library_version = library_version


class LkError(Exception):
    """An error reported by liblkcore.

    Attributes:
        code: the ``lkcore.ffi.v1.ErrorCode`` value (also the C status code).
        message: human-readable description (never contains tokens, keys or payloads).
        retryable: True when retrying the same operation later may succeed.
    """

    #: Error code this class stands for (ERROR_CODE_OK for the base class).
    CODE = _code("OK")

    def __init__(self, message: str = "", *, code: Optional[int] = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code: int = self.CODE if code is None else code
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} [{_code_name(self.code)}]"


class InternalError(LkError):
    """A bug in lkcore (including a recovered panic)."""

    CODE = _code("INTERNAL")


class InvalidArgumentError(LkError, ValueError):
    """A bad argument or field value."""

    CODE = _code("INVALID_ARGUMENT")


class InvalidRequestError(LkError):
    """The request could not be decoded or misses a field."""

    CODE = _code("INVALID_REQUEST")


class UnimplementedError(LkError, NotImplementedError):
    """The library does not implement this request."""

    CODE = _code("UNIMPLEMENTED")


class InvalidHandleError(LkError):
    """The handle is zero, was never issued, was dropped, or belongs to another client."""

    CODE = _code("INVALID_HANDLE")


class WrongHandleTypeError(LkError):
    """The handle names another kind of object."""

    CODE = _code("WRONG_HANDLE_TYPE")


class ClientClosedError(LkError):
    """The client (or the room owning it) was closed."""

    CODE = _code("CLIENT_CLOSED")


class InvalidClientError(LkError):
    """The client id was never issued."""

    CODE = _code("INVALID_CLIENT")


class OperationTimeoutError(LkError):
    """The operation's deadline expired."""

    CODE = _code("TIMEOUT")


class OperationCancelledError(LkError):
    """The operation was cancelled."""

    CODE = _code("CANCELLED")


class NotFoundError(LkError, LookupError):
    """A named thing (participant, method, pending operation) was not found."""

    CODE = _code("NOT_FOUND")


class AlreadyExistsError(LkError):
    """Duplicate name (data track, RPC method, stream handler topic)."""

    CODE = _code("ALREADY_EXISTS")


class FailedPreconditionError(LkError):
    """The object is in the wrong state for the call."""

    CODE = _code("FAILED_PRECONDITION")


class ForkedError(LkError):
    """The process was forked after it loaded the library: the library cannot be used in the
    child (the Go runtime's threads do not survive ``fork``). Use the ``"spawn"`` or
    ``"forkserver"`` start method of :mod:`multiprocessing`, or import and use lkcore only in the
    child processes."""

    CODE = _code("FORKED")


class ConnectionFailedError(LkError):
    """Could not connect (network or server error)."""

    CODE = _code("CONNECTION_FAILED")


class UnauthorizedError(LkError):
    """The access token was rejected."""

    CODE = _code("UNAUTHORIZED")


class DisconnectedError(LkError):
    """The room is not connected, or the connection was lost."""

    CODE = _code("DISCONNECTED")


class NotAllowedError(LkError):
    """The server denied permission."""

    CODE = _code("NOT_ALLOWED")


class UnsupportedError(LkError):
    """The server or the remote peer lacks the feature."""

    CODE = _code("UNSUPPORTED")


class ProtocolError(LkError):
    """The remote side violated the protocol."""

    CODE = _code("PROTOCOL_ERROR")


class QueueFullError(LkError):
    """A bounded send queue is full; nothing was queued. Retry later."""

    CODE = _code("QUEUE_FULL")


class PayloadTooLargeError(LkError):
    """The payload exceeds a size limit."""

    CODE = _code("PAYLOAD_TOO_LARGE")


class LimitReachedError(LkError):
    """A server-side limit was reached (e.g. number of data tracks)."""

    CODE = _code("LIMIT_REACHED")


class TrackUnpublishedError(LkError):
    """The data track is not published (any more)."""

    CODE = _code("TRACK_UNPUBLISHED")


class EndOfStreamError(LkError):
    """The subscription or reader ended; no more data."""

    CODE = _code("END_OF_STREAM")


class EncryptionError(LkError):
    """End-to-end encryption failure (missing key, encryption or decryption failed)."""

    CODE = _code("ENCRYPTION_ERROR")


class IoError(LkError):
    """Local file access failed (send_file)."""

    CODE = _code("IO_ERROR")


class AbortedError(LkError):
    """A stream was aborted by its sender or by a disconnect."""

    CODE = _code("ABORTED")


class RpcError(LkError):
    """An RPC failed: raised by ``perform_rpc`` and raised by handlers to answer with an error.

    ``rpc_code`` (also available as :attr:`code` for compatibility with livekit's ``RpcError``)
    is LiveKit's RPC error code: 1400-1599 are built in (see the class constants), applications
    use any other value.
    """

    CODE = _code("RPC_ERROR")

    # LiveKit's built-in RPC error codes.
    APPLICATION_ERROR = 1500
    CONNECTION_TIMEOUT = 1501
    RESPONSE_TIMEOUT = 1502
    RECIPIENT_DISCONNECTED = 1503
    RESPONSE_PAYLOAD_TOO_LARGE = 1504
    SEND_FAILED = 1505
    UNSUPPORTED_METHOD = 1400
    RECIPIENT_NOT_FOUND = 1401
    REQUEST_PAYLOAD_TOO_LARGE = 1402
    UNSUPPORTED_SERVER = 1403
    UNSUPPORTED_VERSION = 1404

    def __init__(self, code: int, message: str, data: Optional[str] = None) -> None:
        super().__init__(message, code=RpcError.CODE)
        #: LiveKit RPC error code.
        self.rpc_code = int(code)
        #: Optional application data.
        self.data = data
        # livekit.rtc.RpcError exposes the RPC code as `code`.
        self.code = self.rpc_code

    def __str__(self) -> str:
        return f"RPC error {self.rpc_code}: {self.message}"


def _class_name(enum_name: str) -> str:
    return "".join(w.capitalize() for w in enum_name[len(_PREFIX) :].split("_")) + "Error"


def _classes_by_code() -> Dict[int, Type[LkError]]:
    """Maps every ErrorCode value but OK to its class, making the missing ones."""
    written: Dict[int, Type[LkError]] = {}
    pending = list(LkError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__ == __name__:
            if cls.CODE in written:
                raise ImportError(f"{cls.__name__} and {written[cls.CODE].__name__} both stand for code {cls.CODE}")
            written[cls.CODE] = cls
    out: Dict[int, Type[LkError]] = {}
    for name, value in _pb.ErrorCode.items():
        if value == _code("OK"):
            continue
        found = written.pop(int(value), None)
        if found is not None:
            cls = found
        else:
            doc = f"The library's error code {name}."
            cls = cast(
                Type[LkError],
                type(_class_name(name), (LkError,), {"CODE": int(value), "__doc__": doc, "__module__": __name__}),
            )
            globals()[cls.__name__] = cls
        out[int(value)] = cls
    if written:
        raise ImportError(f"error classes for codes the schema does not define: {sorted(written)}")
    return out


#: Every ErrorCode value (but OK) and its class.
_BY_CODE: Dict[int, Type[LkError]] = _classes_by_code()

#: ErrorCode value -> its name without the prefix ("QUEUE_FULL").
_NAMES: Dict[int, str] = {int(v): n[len(_PREFIX) :] for n, v in _pb.ErrorCode.items()}


def _code_name(code: int) -> str:
    return _NAMES.get(code, f"code {code}")


def error_for_code(code: int, message: str = "", retryable: bool = False) -> LkError:
    """Returns the exception instance for an ABI error code (LkError for unknown codes).

    RPC_ERROR without its RPC details (which only a Response or Completion carries, see
    ``_client``) is an :class:`LkError` too.
    """
    cls = _BY_CODE.get(code)
    if cls is None or cls is RpcError:
        return LkError(message or f"lkcore error {code}", code=code, retryable=retryable)
    return cls(message or _code_name(code).lower().replace("_", " "), retryable=retryable)
