"""Typed exceptions, mapped 1:1 from the ABI's error codes (``lkcore.ffi.v1.ErrorCode``).

Every failure reported by the library raises a subclass of :class:`LkError` chosen by the
error code; unknown codes (from a newer library) raise :class:`LkError` itself. RPC failures
raise :class:`RpcError`, which carries LiveKit's RPC code, message and data.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type

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

    #: Error code this class stands for (0 for the base class).
    CODE = 0

    def __init__(self, message: str = "", *, code: Optional[int] = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code: int = self.CODE if code is None else code
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} [{_code_name(self.code)}]"


class InternalError(LkError):
    """A bug in lkcore (including a recovered panic)."""

    CODE = 1


class InvalidArgumentError(LkError, ValueError):
    """A bad argument or field value."""

    CODE = 2


class InvalidRequestError(LkError):
    """The request could not be decoded or misses a field."""

    CODE = 3


class UnimplementedError(LkError, NotImplementedError):
    """The library does not implement this request."""

    CODE = 4


class InvalidHandleError(LkError):
    """The handle is zero, was never issued, was dropped, or belongs to another client."""

    CODE = 5


class WrongHandleTypeError(LkError):
    """The handle names another kind of object."""

    CODE = 6


class ClientClosedError(LkError):
    """The client (or the room owning it) was closed."""

    CODE = 7


class InvalidClientError(LkError):
    """The client id was never issued."""

    CODE = 8


class OperationTimeoutError(LkError):
    """The operation's deadline expired."""

    CODE = 9


class OperationCancelledError(LkError):
    """The operation was cancelled."""

    CODE = 10


class NotFoundError(LkError, LookupError):
    """A named thing (participant, method, pending operation) was not found."""

    CODE = 11


class AlreadyExistsError(LkError):
    """Duplicate name (data track, RPC method, stream handler topic)."""

    CODE = 12


class FailedPreconditionError(LkError):
    """The object is in the wrong state for the call."""

    CODE = 13


class ConnectionFailedError(LkError):
    """Could not connect (network or server error)."""

    CODE = 20


class UnauthorizedError(LkError):
    """The access token was rejected."""

    CODE = 21


class DisconnectedError(LkError):
    """The room is not connected, or the connection was lost."""

    CODE = 22


class NotAllowedError(LkError):
    """The server denied permission."""

    CODE = 23


class UnsupportedError(LkError):
    """The server or the remote peer lacks the feature."""

    CODE = 24


class ProtocolError(LkError):
    """The remote side violated the protocol."""

    CODE = 25


class QueueFullError(LkError):
    """A bounded send queue is full; nothing was queued. Retry later."""

    CODE = 30


class PayloadTooLargeError(LkError):
    """The payload exceeds a size limit."""

    CODE = 31


class LimitReachedError(LkError):
    """A server-side limit was reached (e.g. number of data tracks)."""

    CODE = 32


class TrackUnpublishedError(LkError):
    """The data track is not published (any more)."""

    CODE = 33


class EndOfStreamError(LkError):
    """The subscription or reader ended; no more data."""

    CODE = 34


class EncryptionError(LkError):
    """End-to-end encryption failure (missing key, encryption or decryption failed)."""

    CODE = 35


class IoError(LkError):
    """Local file access failed (send_file)."""

    CODE = 37


class AbortedError(LkError):
    """A stream was aborted by its sender or by a disconnect."""

    CODE = 38


class RpcError(LkError):
    """An RPC failed: raised by ``perform_rpc`` and raised by handlers to answer with an error.

    ``rpc_code`` (also available as :attr:`code` for compatibility with livekit's ``RpcError``)
    is LiveKit's RPC error code: 1400-1599 are built in (see the class constants), applications
    use any other value.
    """

    CODE = 36

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


_BY_CODE: Dict[int, Type[LkError]] = {
    cls.CODE: cls
    for cls in (
        InternalError,
        InvalidArgumentError,
        InvalidRequestError,
        UnimplementedError,
        InvalidHandleError,
        WrongHandleTypeError,
        ClientClosedError,
        InvalidClientError,
        OperationTimeoutError,
        OperationCancelledError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        ConnectionFailedError,
        UnauthorizedError,
        DisconnectedError,
        NotAllowedError,
        UnsupportedError,
        ProtocolError,
        QueueFullError,
        PayloadTooLargeError,
        LimitReachedError,
        TrackUnpublishedError,
        EndOfStreamError,
        EncryptionError,
        IoError,
        AbortedError,
    )
}

_NAMES: Dict[int, str] = {
    0: "OK",
    1: "INTERNAL",
    2: "INVALID_ARGUMENT",
    3: "INVALID_REQUEST",
    4: "UNIMPLEMENTED",
    5: "INVALID_HANDLE",
    6: "WRONG_HANDLE_TYPE",
    7: "CLIENT_CLOSED",
    8: "INVALID_CLIENT",
    9: "TIMEOUT",
    10: "CANCELLED",
    11: "NOT_FOUND",
    12: "ALREADY_EXISTS",
    13: "FAILED_PRECONDITION",
    20: "CONNECTION_FAILED",
    21: "UNAUTHORIZED",
    22: "DISCONNECTED",
    23: "NOT_ALLOWED",
    24: "UNSUPPORTED",
    25: "PROTOCOL_ERROR",
    30: "QUEUE_FULL",
    31: "PAYLOAD_TOO_LARGE",
    32: "LIMIT_REACHED",
    33: "TRACK_UNPUBLISHED",
    34: "END_OF_STREAM",
    35: "ENCRYPTION_ERROR",
    36: "RPC_ERROR",
    37: "IO_ERROR",
    38: "ABORTED",
}


def _code_name(code: int) -> str:
    return _NAMES.get(code, f"code {code}")


def error_for_code(code: int, message: str = "", retryable: bool = False) -> LkError:
    """Returns the exception instance for an ABI error code (LkError for unknown codes)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return LkError(message or f"lkcore error {code}", code=code, retryable=retryable)
    return cls(message or _code_name(code).lower().replace("_", " "), retryable=retryable)
