/*
 * lkcore.h — the C ABI of liblkcore, a LiveKit client core for data (data packets, data
 * tracks, RPC, data streams, E2EE) without audio/video.
 *
 * This header is written by hand and is the ABI: tests/capi/check_header.sh fails when it and
 * the library's exported lk_* symbols differ.
 *
 * MODEL
 *   A host creates one or more independent clients with lk_client_new. Everything else goes
 *   through protobuf messages defined in the .proto files of capi/proto (package lkcore.ffi.v1;
 *   envelopes in lkcore_ffi.proto, the other files per domain; what a binding must do:
 *   capi/BINDINGS.md):
 *
 *     lk_request(client, Request)  -> Response       synchronous, on the calling thread
 *     events of the client         -> callback, or lk_client_next_event (pull)
 *
 *   Asynchronous operations return at once and complete later with an Event.completion that
 *   carries the request_id the host chose in its Request. Objects the host owns are named by
 *   handles (opaque non-zero uint64 values), released with lk_handle_drop. The hot data paths
 *   (pushing and reading data-track frames) have direct functions below so that a frame costs
 *   no protobuf encoding.
 *
 * STATUS CODES
 *   Functions returning int32_t return LK_OK (0) or one of the LK_ERR_* codes below. They are
 *   the values of the schema's ErrorCode enum, so a Response's error.code and the status of
 *   the call that produced it are the same number. New codes may be added in any minor
 *   version: treat an unknown non-zero code as a failure.
 *
 * OWNERSHIP OF MEMORY
 *   - Buffers passed in (requests, frames) are borrowed for the duration of the call only;
 *     the library copies what it keeps.
 *   - Every buffer the library hands out through an out-parameter (responses, pulled events,
 *     read frames) is owned by the caller and must be released with exactly one lk_free.
 *   - The event buffer given to the callback belongs to the library and is valid only until
 *     the callback returns: copy (or decode) it inside the callback, never free it.
 *
 * THREADING
 *   Every function may be called from any thread, concurrently, except where noted. Calls that
 *   wait (lk_client_close, lk_client_next_event, lk_data_track_read) block only the calling
 *   thread, for at most their timeout.
 *
 * ABI COMPATIBILITY RULE
 *   lk_abi_version() returns (major << 16) | minor. Within one major version the library only
 *   adds: new functions, new status codes, new protobuf fields, messages, oneof members and
 *   enum values (never renumbering or reusing a tag). A host built against LK_ABI_VERSION_MAJOR
 *   M and LK_ABI_VERSION_MINOR n works with any library of major M and minor >= n. Check with
 *   LK_ABI_COMPATIBLE(lk_abi_version()) at start-up. Hosts must ignore unknown protobuf fields
 *   and treat unknown enum values as unspecified. A request kind the library does not know
 *   fails with LK_ERR_UNIMPLEMENTED rather than being misread.
 *
 * PROCESS-WIDE FACTS
 *   The library contains a Go runtime: it is started when the library is loaded, is shared by
 *   every client, and cannot be unloaded (do not dlclose liblkcore). Load it after any fork():
 *   a child forked after the library was loaded cannot use it (the Go runtime's threads do not
 *   survive a fork); there every function returns LK_ERR_FORKED at once without entering Go,
 *   lk_client_new returns 0, lk_free still frees and lk_abi_version still answers (since ABI
 *   1.6; a fork followed by exec is not concerned). The Go runtime installs handlers only
 *   for the synchronous signals (SIGSEGV, SIGBUS, SIGFPE) and SIGPIPE, keeping the handlers
 *   installed before it: a synchronous signal raised while host code runs goes to the host's
 *   handler. SIGINT, SIGTERM and the other asynchronous signals stay the
 *   host's, whether it installs its handlers before or after loading the library.
 *   Its garbage collector follows GOGC and GOMEMLIMIT (docs/performance.md): put them in the
 *   environment the process starts with, or setenv them before the library is loaded (dlopen);
 *   a library linked at build time is loaded before main() runs. GetClientStatsRequest reports
 *   the values in effect. A malformed GOMEMLIMIT in the start-up environment (e.g. "64MB"; the
 *   units are B, KiB, MiB, GiB, TiB) makes the Go runtime abort the process as it loads.
 */
#ifndef LKCORE_H
#define LKCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version this header describes. */
#define LK_ABI_VERSION_MAJOR 1
#define LK_ABI_VERSION_MINOR 30
#define LK_ABI_VERSION ((LK_ABI_VERSION_MAJOR << 16) | LK_ABI_VERSION_MINOR)
/* True if a library reporting version v (from lk_abi_version) can serve this header. */
#define LK_ABI_COMPATIBLE(v) \
  (((uint32_t)(v) >> 16) == LK_ABI_VERSION_MAJOR &&         \
   (int64_t)((uint32_t)(v) & 0xFFFFu) >= (int64_t)LK_ABI_VERSION_MINOR)

/* Status codes (= lkcore.ffi.v1.ErrorCode). */
#define LK_OK 0
/* Request-level failures. */
#define LK_ERR_INTERNAL 1            /* bug in lkcore, including a recovered panic */
#define LK_ERR_INVALID_ARGUMENT 2    /* NULL pointer, oversized buffer, bad field value */
#define LK_ERR_INVALID_REQUEST 3     /* undecodable protobuf, no request kind, missing field, request_id in use */
#define LK_ERR_UNIMPLEMENTED 4       /* request kind not supported by this library */
#define LK_ERR_INVALID_HANDLE 5      /* handle 0, never issued, dropped, or of another client */
#define LK_ERR_WRONG_HANDLE_TYPE 6   /* handle of another kind of object, or with altered kind bits */
#define LK_ERR_CLIENT_CLOSED 7       /* the client was closed */
#define LK_ERR_INVALID_CLIENT 8      /* client id 0 or never issued */
#define LK_ERR_TIMEOUT 9             /* deadline expired; also "no event/frame within the timeout" */
#define LK_ERR_CANCELLED 10
#define LK_ERR_NOT_FOUND 11
#define LK_ERR_ALREADY_EXISTS 12
#define LK_ERR_FAILED_PRECONDITION 13 /* object in the wrong state for the call */
#define LK_ERR_FORKED 14             /* called in a child forked after the library was loaded (ABI 1.6) */
/* Connection. */
#define LK_ERR_CONNECTION_FAILED 20
#define LK_ERR_UNAUTHORIZED 21
#define LK_ERR_DISCONNECTED 22
#define LK_ERR_NOT_ALLOWED 23
#define LK_ERR_UNSUPPORTED 24
#define LK_ERR_PROTOCOL_ERROR 25
/* Data. */
#define LK_ERR_QUEUE_FULL 30         /* send queue full, nothing queued; retry later */
#define LK_ERR_PAYLOAD_TOO_LARGE 31
#define LK_ERR_LIMIT_REACHED 32
#define LK_ERR_TRACK_UNPUBLISHED 33
#define LK_ERR_END_OF_STREAM 34      /* subscription ended and drained */
#define LK_ERR_ENCRYPTION_ERROR 35
#define LK_ERR_RPC_ERROR 36
#define LK_ERR_IO_ERROR 37
#define LK_ERR_ABORTED 38

/* A client: an opaque non-zero id; 0 is never a valid client. Ids are never reused. */
typedef uint64_t lk_client_t;

/* A handle to an object owned by the host (room, local data track, subscription, stream
 * reader or writer): an opaque non-zero id, valid only with the client that issued it. */
typedef uint64_t lk_handle_t;

/*
 * Event callback. `event`/`event_len` hold one encoded lkcore.ffi.v1.Event.
 *
 * - Called for one client from one dedicated thread, one event at a time, in Event.seq
 *   order (1, 2, 3, ... without gaps). Different clients have different threads.
 * - `event` is valid only until the callback returns; do not free it.
 * - `user_data` is the pointer given to lk_client_new, passed back unchanged.
 * - The callback should return quickly: while it runs, that client's events queue up
 *   (bounded; producers of lossy events such as log records then drop and count them).
 * - It may call any lk_* function, including lk_request and lk_client_close on its own
 *   client (which then returns without waiting for the callback itself; nothing is delivered
 *   after it).
 */
typedef void (*lk_event_callback)(void *user_data, const uint8_t *event, size_t event_len);

/*
 * Returns the ABI version of the loaded library: (major << 16) | minor.
 * Never fails; callable at any time from any thread.
 */
uint32_t lk_abi_version(void);

/*
 * Creates an independent client with its own handles, event stream and log settings.
 *
 * callback:  receives the client's events (see lk_event_callback), or NULL for pull mode,
 *            where the host calls lk_client_next_event instead.
 * user_data: passed to every callback invocation; never dereferenced by the library.
 *
 * Returns the client id, or 0 on failure (internal error, or ids exhausted after 16 777 215
 * clients in the process's lifetime). Release with lk_client_close.
 */
lk_client_t lk_client_new(lk_event_callback callback, void *user_data);

/*
 * Closes a client: pending asynchronous operations are abandoned (no completion is
 * delivered), every handle is released (rooms disconnect), event delivery stops and
 * undelivered events are discarded.
 *
 * timeout_ms: upper bound of the wait; <= 0 means the default (5000 ms).
 *
 * Returns LK_OK when the client is fully closed: no callback is running and none will
 * start. Idempotent: closing a closed client returns LK_OK (a concurrent second caller waits
 * for the same teardown). LK_ERR_TIMEOUT: the teardown did not finish in time (e.g. a callback
 * is still running); no new callback starts, and calling lk_client_close again waits again.
 * LK_ERR_INVALID_CLIENT: the id was never issued. Every other function fails with
 * LK_ERR_CLIENT_CLOSED on a closed client.
 *
 * Called from inside this client's own callback it does the same but does not wait for that
 * callback to return, and returns LK_OK.
 */
int32_t lk_client_close(lk_client_t client, int32_t timeout_ms);

/*
 * Handles one request synchronously.
 *
 * request/request_len: one encoded lkcore.ffi.v1.Request (borrowed; may be NULL if
 *            request_len is 0, which decodes as an empty request and fails).
 * response/response_len: receive one encoded lkcore.ffi.v1.Response, always — also on
 *            failure, with Response.error describing it. *response is never NULL after the
 *            call unless the status is LK_ERR_INVALID_ARGUMENT because `response` or
 *            `response_len` is NULL (then nothing is written or allocated). Free *response
 *            with lk_free.
 *
 * Returns the code of Response.error (LK_OK if unset), so simple hosts may check the status
 * only. For asynchronous requests LK_OK means "accepted": exactly one Event.completion with
 * the same request_id follows, unless the client is closed first.
 *
 * Never waits for the network. Thread-safe; may be called from inside the callback.
 */
int32_t lk_request(lk_client_t client, const uint8_t *request, size_t request_len,
                   uint8_t **response, size_t *response_len);

/*
 * Pull mode: takes the next event of a client created with a NULL callback.
 *
 * timeout_ms: < 0 waits until an event arrives or the client closes; 0 polls; > 0 waits at
 *             most that long.
 * event/event_len: receive one encoded lkcore.ffi.v1.Event on LK_OK (free with lk_free);
 *             set to NULL/0 otherwise.
 *
 * Returns LK_OK, LK_ERR_TIMEOUT (no event in time), LK_ERR_CLIENT_CLOSED (also when the
 * client is closed while waiting), LK_ERR_FAILED_PRECONDITION (client has a callback),
 * LK_ERR_INVALID_ARGUMENT (NULL out-parameter), LK_ERR_INVALID_CLIENT, LK_ERR_FORKED, or
 * LK_ERR_INTERNAL (the event could not be encoded or handed out — a library bug; that event
 * is lost). Only LK_ERR_CLIENT_CLOSED and LK_ERR_INVALID_CLIENT mean no event will follow;
 * after any other status the client stays open (close it with lk_client_close as usual).
 * Concurrent callers each get distinct events; to observe them in order, pull from one
 * thread.
 */
int32_t lk_client_next_event(lk_client_t client, int32_t timeout_ms, uint8_t **event,
                             size_t *event_len);

/*
 * Frees a buffer handed out by lk_request, lk_client_next_event or lk_data_track_read.
 * lk_free(NULL) does nothing. Use this function, not free(): the allocator is the library's.
 */
void lk_free(void *ptr);

/*
 * Releases a handle and every handle that belongs to it (dropping a room releases its data
 * tracks, subscriptions, readers and writers, and disconnects the room). What the release
 * involves (unpublishing, disconnecting) runs in the background: this never blocks on the
 * network, and may be called from any thread (e.g. a garbage collector's finalizer).
 *
 * Returns LK_OK, also when the handle was already dropped or released with its parent
 * (idempotent). LK_ERR_INVALID_HANDLE: 0, never issued, or issued by another client.
 * LK_ERR_WRONG_HANDLE_TYPE: the handle's kind bits differ from those it was issued with
 * (nothing is dropped). The library remembers the kinds of a client's last 1 048 576 handles
 * (and of every live one): a handle dropped longer ago than that is only known to have been
 * issued, so an altered one is then taken for it and LK_OK returned (nothing is dropped either).
 * LK_ERR_CLIENT_CLOSED / LK_ERR_INVALID_CLIENT as usual.
 */
int32_t lk_handle_drop(lk_client_t client, lk_handle_t handle);

/*
 * Fast path: queues one frame on a published local data track (the protobuf twin is
 * PushDataTrackFrameRequest). Never blocks. It admits frames up to the track's whole queue; a
 * host that waits for room when refused should call lk_data_track_push_paced instead.
 *
 * track:        a local data track handle (from a publish_data_track completion).
 * data/len:     the frame (borrowed; copied before return). data may be NULL if len is 0.
 * user_timestamp, has_user_timestamp: optional application timestamp sent with the frame.
 *
 * Returns LK_OK (queued; it will be sent or its loss reported, never dropped silently),
 * LK_ERR_QUEUE_FULL (nothing queued; retry later), LK_ERR_FAILED_PRECONDITION (nothing queued:
 * a full reconnect is publishing the track again; retry later — it accepts frames once the
 * room's LocalDataTrackSidChanged event has come), LK_ERR_TRACK_UNPUBLISHED,
 * LK_ERR_PAYLOAD_TOO_LARGE, LK_ERR_INVALID_HANDLE, LK_ERR_WRONG_HANDLE_TYPE,
 * LK_ERR_INVALID_ARGUMENT (data NULL with len > 0), LK_ERR_CLIENT_CLOSED.
 */
int32_t lk_data_track_push(lk_client_t client, lk_handle_t track, const uint8_t *data,
                           size_t len, uint64_t user_timestamp, bool has_user_timestamp);

/*
 * Fast path (ABI 1.7): lk_data_track_push with the pacing of the waiting push
 * (push_data_track_frame_wait, the core's LocalDataTrack.Push). It queues the frame only where
 * that push would queue it at once, and returns LK_ERR_QUEUE_FULL (nothing queued) where it
 * would wait: while the track already holds 16 frames or 256 KiB, although lk_data_track_push
 * would accept frames up to the queue's bounds (PublishDataTrackRequest.queue_size and
 * queue_bytes: 1 024 frames, 1 MiB by default). A host's blocking push is this call, and when
 * it is refused, push_data_track_frame_wait: its frames then wait behind at most about 16
 * others instead of a whole queue (lower latency at the same throughput). A refusal at the
 * pacing point is not counted in LocalDataTrackStats.rejected (the queue is not full); one
 * because the frame does not fit is. While a full reconnect publishes the track again it
 * returns LK_ERR_QUEUE_FULL too (since ABI 1.26; LK_ERR_FAILED_PRECONDITION before), as the
 * waiting push waits there. Arguments and other results as lk_data_track_push.
 */
int32_t lk_data_track_push_paced(lk_client_t client, lk_handle_t track, const uint8_t *data,
                                 size_t len, uint64_t user_timestamp, bool has_user_timestamp);

/*
 * Fast path: takes the next frame of a data-track subscription opened with
 * DELIVERY_MODE_PULL.
 *
 * timeout_ms: < 0 waits until a frame arrives, the subscription ends or the client closes;
 *             0 polls; > 0 waits at most that long.
 * frame/frame_len: receive the frame on LK_OK (free with lk_free; never NULL on LK_OK even
 *             for an empty frame); NULL/0 otherwise.
 * user_timestamp, has_user_timestamp: receive the frame's timestamp if non-NULL.
 *
 * Returns LK_OK, LK_ERR_TIMEOUT, LK_ERR_END_OF_STREAM (ended and drained; the reason is in the
 * DataTrackSubscriptionEnded event, and readable at once with GetDataTrackSubscriptionEndRequest
 * since ABI 1.4), LK_ERR_FAILED_PRECONDITION (not a pull subscription),
 * LK_ERR_INVALID_HANDLE, LK_ERR_WRONG_HANDLE_TYPE, LK_ERR_INVALID_ARGUMENT (NULL frame or
 * frame_len), LK_ERR_CLIENT_CLOSED.
 */
int32_t lk_data_track_read(lk_client_t client, lk_handle_t subscription, int32_t timeout_ms,
                           uint8_t **frame, size_t *frame_len, uint64_t *user_timestamp,
                           bool *has_user_timestamp);

/*
 * Fast path (ABI 1.10): lk_data_track_read that also tells what was lost.
 *
 * dropped_before: receives, on LK_OK and if non-NULL, how many of the publisher's frames this
 *             subscription lost since the frame read before (or since its first frame): frames
 *             the subscription's buffer dropped because the host read too slowly, and frames
 *             that never arrived whole (lost by the network or the SFU, incomplete,
 *             undecryptable), counted from the publisher's frame numbers. It is
 *             DataTrackFrameEvent.dropped_before for a pull subscription, so the frames read
 *             plus the sum of dropped_before is every frame the publisher sent from the first
 *             frame read up to the last. (Empty frames are never sent, so a publisher's empty
 *             frames count as lost; a frame overtaken by a later one, which the unordered
 *             channel allows but loopback and one SFU hop practically never do, can make one
 *             count too high by one.) 0 otherwise.
 *
 * Everything else, including the statuses, is as lk_data_track_read, which is this call with
 * dropped_before NULL.
 */
int32_t lk_data_track_read_frame(lk_client_t client, lk_handle_t subscription, int32_t timeout_ms,
                                 uint8_t **frame, size_t *frame_len, uint64_t *user_timestamp,
                                 bool *has_user_timestamp, uint64_t *dropped_before);

/*
 * Returns the name of a status code ("LK_OK", "LK_ERR_TIMEOUT", ...), or "LK_ERR_UNKNOWN" for
 * a code this library does not know. The string is static: never free it.
 */
const char *lk_status_name(int32_t status);

#ifdef __cplusplus
}
#endif

#endif /* LKCORE_H */
