package io.lkcore

/**
 * The library's error codes (`lkcore.ffi.v1.ErrorCode`, `LK_ERR_*` in lkcore.h). Codes this
 * binding does not know map to [UNKNOWN] (the ABI may add codes in any minor version).
 */
enum class ErrorCode(val value: Int) {
    INTERNAL(1), INVALID_ARGUMENT(2), INVALID_REQUEST(3), UNIMPLEMENTED(4), INVALID_HANDLE(5),
    WRONG_HANDLE_TYPE(6), CLIENT_CLOSED(7), INVALID_CLIENT(8), TIMEOUT(9), CANCELLED(10),
    NOT_FOUND(11), ALREADY_EXISTS(12), FAILED_PRECONDITION(13), FORKED(14),
    CONNECTION_FAILED(20), UNAUTHORIZED(21), DISCONNECTED(22), NOT_ALLOWED(23), UNSUPPORTED(24),
    PROTOCOL_ERROR(25),
    QUEUE_FULL(30), PAYLOAD_TOO_LARGE(31), LIMIT_REACHED(32), TRACK_UNPUBLISHED(33),
    END_OF_STREAM(34), ENCRYPTION_ERROR(35), RPC_ERROR(36), IO_ERROR(37), ABORTED(38),

    /** A code newer than this binding. */
    UNKNOWN(-1),
    ;

    companion object {
        private val byValue = entries.associateBy { it.value }

        /** The code for a raw status value ([UNKNOWN] if not known). */
        fun of(value: Int): ErrorCode = byValue[value] ?: UNKNOWN
    }
}

/**
 * Base of every error the library reports: [code] is the ABI's error code, [rawCode] the number
 * as received, [retryable] whether the same request may succeed later (e.g. [QueueFullException]).
 */
open class LkException(
    val code: ErrorCode,
    message: String,
    val retryable: Boolean = false,
    val rawCode: Int = code.value,
) : RuntimeException(message)

/**
 * liblkcore could not be loaded or has an incompatible ABI version. Thrown by every call into
 * the library once loading failed (the same [message] each time; [cause] is the first failure
 * when this one is a later call's).
 */
class LkAbiException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)

/** A bug in lkcore (including a recovered panic). */
class InternalException(message: String, retryable: Boolean = false) : LkException(ErrorCode.INTERNAL, message, retryable)

/** A bad argument or field value (NULL, oversized buffer, out-of-range option). */
class InvalidArgumentException(message: String, retryable: Boolean = false) : LkException(ErrorCode.INVALID_ARGUMENT, message, retryable)

/** An undecodable or incomplete request. */
class InvalidRequestException(message: String, retryable: Boolean = false) : LkException(ErrorCode.INVALID_REQUEST, message, retryable)

/** The library does not implement this request. */
class UnimplementedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.UNIMPLEMENTED, message, retryable)

/** The object was released (closed, dropped) or never existed. */
class InvalidHandleException(message: String, retryable: Boolean = false) : LkException(ErrorCode.INVALID_HANDLE, message, retryable)

/** A handle of another kind of object. */
class WrongHandleTypeException(message: String, retryable: Boolean = false) : LkException(ErrorCode.WRONG_HANDLE_TYPE, message, retryable)

/** The room (its native client) was closed. */
class ClientClosedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.CLIENT_CLOSED, message, retryable)

/** The native client id is not valid. */
class InvalidClientException(message: String, retryable: Boolean = false) : LkException(ErrorCode.INVALID_CLIENT, message, retryable)

/** A deadline expired. */
class TimeoutException(message: String, retryable: Boolean = false) : LkException(ErrorCode.TIMEOUT, message, retryable)

/** The operation was cancelled. */
class CancelledException(message: String, retryable: Boolean = false) : LkException(ErrorCode.CANCELLED, message, retryable)

/** A named thing (participant, method, pending operation) was not found. */
class NotFoundException(message: String, retryable: Boolean = false) : LkException(ErrorCode.NOT_FOUND, message, retryable)

/** A duplicate name (data track, RPC method, stream handler topic). */
class AlreadyExistsException(message: String, retryable: Boolean = false) : LkException(ErrorCode.ALREADY_EXISTS, message, retryable)

/** The object is in the wrong state for the call (e.g. connecting a room twice). */
class FailedPreconditionException(message: String, retryable: Boolean = false) : LkException(ErrorCode.FAILED_PRECONDITION, message, retryable)

/** Called in a process forked after it loaded the library (not reachable from a JVM, which does not fork). */
class ForkedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.FORKED, message, retryable)

/** The connection could not be established. */
class ConnectionFailedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.CONNECTION_FAILED, message, retryable)

/** The access token was rejected. */
class UnauthorizedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.UNAUTHORIZED, message, retryable)

/** The room is not connected, or the connection was lost. */
class DisconnectedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.DISCONNECTED, message, retryable)

/** The server denied the permission. */
class NotAllowedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.NOT_ALLOWED, message, retryable)

/** The server or the remote peer lacks the feature. */
class UnsupportedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.UNSUPPORTED, message, retryable)

/** The remote side violated the protocol. */
class ProtocolErrorException(message: String, retryable: Boolean = false) : LkException(ErrorCode.PROTOCOL_ERROR, message, retryable)

/** A bounded send queue is full; nothing was queued (retry later). */
class QueueFullException(message: String, retryable: Boolean = true) : LkException(ErrorCode.QUEUE_FULL, message, retryable)

/** The payload exceeds a size limit. */
class PayloadTooLargeException(message: String, retryable: Boolean = false) : LkException(ErrorCode.PAYLOAD_TOO_LARGE, message, retryable)

/** A server-side limit was reached (e.g. number of data tracks). */
class LimitReachedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.LIMIT_REACHED, message, retryable)

/** The data track is not published (any more). */
class TrackUnpublishedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.TRACK_UNPUBLISHED, message, retryable)

/** A subscription or stream ended. */
class EndOfStreamException(message: String, retryable: Boolean = false) : LkException(ErrorCode.END_OF_STREAM, message, retryable)

/** End-to-end encryption failed (missing key, decryption failure). */
class EncryptionException(message: String, retryable: Boolean = false) : LkException(ErrorCode.ENCRYPTION_ERROR, message, retryable)

/** Local file access failed (sendFile). */
class IoException(message: String, retryable: Boolean = false) : LkException(ErrorCode.IO_ERROR, message, retryable)

/** A stream was aborted by its sender or by a disconnect. */
class AbortedException(message: String, retryable: Boolean = false) : LkException(ErrorCode.ABORTED, message, retryable)

/** An error code newer than this binding ([rawCode] has the number). */
class UnknownLkException(rawCode: Int, message: String, retryable: Boolean = false) :
    LkException(ErrorCode.UNKNOWN, message, retryable, rawCode)

/**
 * An RPC failed: [rpcCode] is LiveKit's RPC error code (1400-1599 built in, others defined by
 * applications), [rpcMessage] and [data] what the callee (or the library) set; [retryable] as
 * the library decided it. Throw it from an RPC handler to answer with that error.
 */
class RpcException(
    val rpcCode: Int,
    val rpcMessage: String,
    val data: String? = null,
    retryable: Boolean = false,
) : LkException(ErrorCode.RPC_ERROR, "RPC error $rpcCode: $rpcMessage", retryable) {
    /** LiveKit's built-in RPC error codes. */
    companion object {
        const val APPLICATION_ERROR = 1500
        const val CONNECTION_TIMEOUT = 1501
        const val RESPONSE_TIMEOUT = 1502
        const val RECIPIENT_DISCONNECTED = 1503
        const val RESPONSE_PAYLOAD_TOO_LARGE = 1504
        const val SEND_FAILED = 1505
        const val UNSUPPORTED_METHOD = 1400
        const val RECIPIENT_NOT_FOUND = 1401
        const val REQUEST_PAYLOAD_TOO_LARGE = 1402
        const val UNSUPPORTED_SERVER = 1403
        const val UNSUPPORTED_VERSION = 1404
    }
}

/** Builds the typed exception for a status code (the one place that maps codes to classes). */
fun lkException(code: Int, message: String, retryable: Boolean = false): LkException {
    val m = message.ifEmpty { "lkcore error ${statusName(code)}" }
    return when (ErrorCode.of(code)) {
        ErrorCode.INTERNAL -> InternalException(m, retryable)
        ErrorCode.INVALID_ARGUMENT -> InvalidArgumentException(m, retryable)
        ErrorCode.INVALID_REQUEST -> InvalidRequestException(m, retryable)
        ErrorCode.UNIMPLEMENTED -> UnimplementedException(m, retryable)
        ErrorCode.INVALID_HANDLE -> InvalidHandleException(m, retryable)
        ErrorCode.WRONG_HANDLE_TYPE -> WrongHandleTypeException(m, retryable)
        ErrorCode.CLIENT_CLOSED -> ClientClosedException(m, retryable)
        ErrorCode.INVALID_CLIENT -> InvalidClientException(m, retryable)
        ErrorCode.TIMEOUT -> TimeoutException(m, retryable)
        ErrorCode.CANCELLED -> CancelledException(m, retryable)
        ErrorCode.NOT_FOUND -> NotFoundException(m, retryable)
        ErrorCode.ALREADY_EXISTS -> AlreadyExistsException(m, retryable)
        ErrorCode.FAILED_PRECONDITION -> FailedPreconditionException(m, retryable)
        ErrorCode.FORKED -> ForkedException(m, retryable)
        ErrorCode.CONNECTION_FAILED -> ConnectionFailedException(m, retryable)
        ErrorCode.UNAUTHORIZED -> UnauthorizedException(m, retryable)
        ErrorCode.DISCONNECTED -> DisconnectedException(m, retryable)
        ErrorCode.NOT_ALLOWED -> NotAllowedException(m, retryable)
        ErrorCode.UNSUPPORTED -> UnsupportedException(m, retryable)
        ErrorCode.PROTOCOL_ERROR -> ProtocolErrorException(m, retryable)
        ErrorCode.QUEUE_FULL -> QueueFullException(m, true) // retryable by definition, also from a bare status
        ErrorCode.PAYLOAD_TOO_LARGE -> PayloadTooLargeException(m, retryable)
        ErrorCode.LIMIT_REACHED -> LimitReachedException(m, retryable)
        ErrorCode.TRACK_UNPUBLISHED -> TrackUnpublishedException(m, retryable)
        ErrorCode.END_OF_STREAM -> EndOfStreamException(m, retryable)
        ErrorCode.ENCRYPTION_ERROR -> EncryptionException(m, retryable)
        ErrorCode.RPC_ERROR -> RpcException(RpcException.APPLICATION_ERROR, m, retryable = retryable) // a bare status: no Error.rpc
        ErrorCode.IO_ERROR -> IoException(m, retryable)
        ErrorCode.ABORTED -> AbortedException(m, retryable)
        ErrorCode.UNKNOWN -> UnknownLkException(code, m, retryable)
    }
}

/** The library's name of a status code ("LK_ERR_TIMEOUT", ...). */
fun statusName(code: Int): String = LkNative.lk_status_name(code)
