package io.lkcore

import com.google.protobuf.ByteString
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.emitAll
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import lkcore.ffi.v1.Request
import kotlin.time.Duration

/** Options of [Room.publishDataTrack]. */
data class DataTrackOptions(
    /** Schema name of typed frames (optional; needs [frameEncoding]). */
    val schemaName: String = "",
    /** Frame encoding: "protobuf", "json", "cdr", ... or a custom name (optional). */
    val frameEncoding: String = "",
    /** Schema encoding: "protobuf", "json_schema", "ros2_msg", ... (optional). */
    val schemaEncoding: String = "",
    /** Outgoing queue bound in frames (0 = the library's default, 1 024; at most 65 536; not negative). */
    val queueSize: Int = 0,
    /** Outgoing queue bound in serialized bytes (0 = the library's default, 1 MiB; at most 64 MiB; not negative). */
    val queueBytes: Int = 0,
    /**
     * What a full queue does with a new frame: false (default) refuses it ([QueueFullException]
     * from tryPush; push waits); true evicts the oldest waiting frames, counted in
     * [DataTrackStats.evicted].
     */
    val dropOldest: Boolean = false,
)

/**
 * One frame of a data track.
 *
 * @property payload the frame's bytes.
 * @property userTimestamp the application timestamp the publisher sent with the frame, if any.
 * @property droppedBefore how many of the publisher's frames this subscription lost since the
 *   previous frame it delivered (or, for the first, since it started): frames the library's
 *   subscription buffer dropped because the collector was too slow (the only buffer: this
 *   binding keeps none, for an auto-subscription neither), and frames that never arrived whole
 *   (lost by the network or the server, incomplete, undecryptable), counted from the
 *   publisher's frame numbers. The frames collected plus the sum of their [droppedBefore] (the
 *   first frame's aside) are every frame the publisher sent from the first frame collected to
 *   the last. It is the library's count, read with each frame (`lk_data_track_read_frame`).
 */
class DataTrackFrame(val payload: ByteArray, val userTimestamp: Long?, val droppedBefore: Long = 0) {
    override fun toString() = "DataTrackFrame(${payload.size} bytes, userTimestamp=$userTimestamp, droppedBefore=$droppedBefore)"
}

/** A local data track's counters: pushed = sent + sendFailed + discarded + evicted + queued. */
data class DataTrackStats(
    val pushed: Long,
    val rejected: Long,
    val sent: Long,
    val sendFailed: Long,
    val discarded: Long,
    val queued: Int,
    /** Accepted frames evicted by a [DataTrackOptions.dropOldest] queue. */
    val evicted: Long = 0,
    /** Serialized bytes of the queued frames. */
    val queuedBytes: Long = 0,
)

/**
 * A data track published by this participant. [close] releases it (and unpublishes it).
 */
class LocalDataTrack internal constructor(private val room: Room, internal val handle: Long, info: DataTrackInfo) : AutoCloseable {
    /**
     * The track's description. Its sid changes when a full reconnect of the room publishes the
     * track again ([RoomEvent.LocalDataTrackSidChanged] tells it; the new value is here before
     * that event is emitted).
     */
    @Volatile
    var info: DataTrackInfo = info
        internal set

    /**
     * Queues one frame without waiting, through the library's direct push function (no
     * protobuf per frame). Throws [QueueFullException] when the send queue is full (nothing
     * queued: retry later, or use [push]), [FailedPreconditionException] while a full reconnect
     * publishes the track again (nothing queued: retry later, or use [push], which waits;
     * [RoomEvent.LocalDataTrackSidChanged] marks the end), [TrackUnpublishedException],
     * [PayloadTooLargeException], [InvalidHandleException] after [close],
     * [ClientClosedException] after the room closed.
     */
    fun tryPush(data: ByteArray, userTimestamp: Long? = null) {
        val st = LkNative.lk_data_track_push(room.client.id, handle, data, data.size.toLong(), userTimestamp ?: 0L, userTimestamp != null)
        // FAILED_PRECONDITION here is a full reconnect publishing the track again: retryable.
        if (st != 0) throw lkException(st, pushMessage(st), retryable = st == ErrorCode.FAILED_PRECONDITION.value)
    }

    /**
     * Queues one frame, suspending while the send queue is full or already holds 16 frames or
     * 256 KiB (back-pressure, paced like the core's Push: frames pushed this way wait behind at
     * most about 16 others, while [tryPush] accepts up to the whole queue; it also suspends while a
     * full reconnect publishes the track again) for at most [timeout]
     * (null = no bound; [TimeoutException] when it expires, the frame then not queued). The
     * frame is first offered without suspending (no round trip when there is room).
     */
    suspend fun push(data: ByteArray, userTimestamp: Long? = null, timeout: Duration? = null) {
        val st = LkNative.lk_data_track_push_paced(room.client.id, handle, data, data.size.toLong(), userTimestamp ?: 0L, userTimestamp != null)
        if (st == 0) return
        if (st != ErrorCode.QUEUE_FULL.value) throw lkException(st, pushMessage(st))
        val b = lkcore.ffi.v1.PushDataTrackFrameRequest.newBuilder().setTrackHandle(handle).setPayload(ByteString.copyFrom(data))
        userTimestamp?.let { b.setUserTimestamp(it) }
        room.client.call(Request.newBuilder().setPushDataTrackFrameWait(b), timeout?.let { Convert.millis(it) } ?: 0)
    }

    /** Suspends until every frame queued so far was handed to the data channel (or discarded). */
    suspend fun flush(timeout: Duration? = null) {
        room.client.call(
            Request.newBuilder().setFlushDataTrack(lkcore.ffi.v1.FlushDataTrackRequest.newBuilder().setTrackHandle(handle)),
            timeout?.let { Convert.millis(it) } ?: 0,
        )
    }

    /** The track's counters. */
    fun stats(): DataTrackStats {
        val s = room.client.request(Request.newBuilder().setGetDataTrackStats(lkcore.ffi.v1.GetDataTrackStatsRequest.newBuilder().setTrackHandle(handle)))
            .getDataTrackStats.stats
        return DataTrackStats(s.pushed, s.rejected, s.sent, s.sendFailed, s.discarded, s.queued, s.evicted, s.queuedBytes)
    }

    /** Whether the track is still published. */
    val isPublished: Boolean
        get() = room.client.request(
            Request.newBuilder().setDataTrackIsPublished(lkcore.ffi.v1.DataTrackIsPublishedRequest.newBuilder().setTrackHandle(handle)),
        ).dataTrackIsPublished.isPublished

    /** Unpublishes the track (idempotent); later pushes fail with [TrackUnpublishedException]. */
    fun unpublish() {
        room.client.request(Request.newBuilder().setUnpublishDataTrack(lkcore.ffi.v1.UnpublishDataTrackRequest.newBuilder().setTrackHandle(handle)))
    }

    /** Releases the track's handle (unpublishing it). Idempotent. */
    override fun close() {
        room.localTracks.remove(handle)
        room.client.drop(handle)
    }

    override fun toString() = "LocalDataTrack(${info.name}, sid=${info.sid})"

    private fun pushMessage(st: Int): String = when (ErrorCode.of(st)) {
        ErrorCode.QUEUE_FULL -> "the data track's send queue is full; nothing was queued (retry later, or use push())"
        ErrorCode.FAILED_PRECONDITION -> "a full reconnect is publishing the data track ${info.name} again; nothing was queued (retry later, or use push())"
        ErrorCode.TRACK_UNPUBLISHED -> "the data track ${info.name} is not published"
        ErrorCode.PAYLOAD_TOO_LARGE -> "the frame is too large for a data track"
        ErrorCode.INVALID_HANDLE -> "the data track ${info.name} was released"
        ErrorCode.CLIENT_CLOSED -> "the room was closed"
        else -> "push failed: ${statusName(st)}"
    }
}

/**
 * A remote participant's data track (nothing to release). A room hands out one object per
 * track, keyed by [publisherIdentity] and name: the object of its connect [RoomSnapshot] or of
 * [RoomEvent.DataTrackPublished] is also the one of later [Room.snapshot]s, of
 * [RoomEvent.DataTrackSidChanged] and of the track's subscriptions
 * ([DataTrackSubscription.track]). After [RoomEvent.DataTrackUnpublished] a track published
 * again under the same name is a new object.
 */
class RemoteDataTrack internal constructor(
    private val room: Room,
    /** The identity of the participant who published the track (with [DataTrackInfo.name], its key). */
    val publisherIdentity: String,
    info: DataTrackInfo,
    subscriptionRevoked: Boolean = false,
) {
    /**
     * The track's description, as the room knows it now: its [DataTrackInfo.sid] changes when
     * its publisher reconnects fully and publishes it again ([RoomEvent.DataTrackSidChanged];
     * the same track, its subscriptions go on). A track that ended is not updated.
     */
    @Volatile
    var info: DataTrackInfo = info
        private set

    /**
     * Whether the publisher revoked this participant's permission to receive the track
     * (ABI 1.23; the publisher's [Room.setTrackSubscriptionPermissions]): the last
     * [RoomEvent.DataTrackSubscriptionPermissionChanged] for it said `allowed` false. The
     * subscription stays open: it receives nothing while revoked and receives again by itself
     * once the publisher allows it. It stays true when the revoked subscription is closed,
     * until a later subscription is allowed (that event again); false for a track never
     * revoked. The library's
     * state, as the room's snapshots and that event tell it: set from the connect snapshot and
     * [RoomEvent.SnapshotTaken] (and for a track first seen in a [Room.snapshot], from that),
     * changed by each [RoomEvent.DataTrackSubscriptionPermissionChanged] before the event is
     * delivered, so a collector reading it there sees the new value.
     */
    @Volatile
    var subscriptionRevoked: Boolean = subscriptionRevoked
        internal set

    /** The track's new sid after its publisher's full reconnect (dispatcher thread). */
    internal fun sidChanged(sid: String) {
        info = info.copy(sid = sid)
    }

    /**
     * Subscribes while the flow is collected and emits the track's frames, read through the
     * library's direct read function on [Dispatchers.IO]. [bufferSize] frames and [bufferBytes]
     * payload bytes are buffered in the library (see [openSubscription]); when the reader falls
     * behind, the oldest are dropped and counted. Nothing else is buffered: a slow collector
     * gets at most the one frame being handed over plus the library's [bufferSize] (e.g. 1 for
     * latest-value sensors). With [RoomOptions.autoSubscribe] the first call collects the
     * subscription the library opened (see [openSubscription]). The flow completes when the
     * subscription ends (track unpublished, room disconnected) and throws the failure if it
     * failed.
     */
    fun subscribe(bufferSize: Int = 0, bufferBytes: Int = 0): Flow<DataTrackFrame> = flow {
        openSubscription(bufferSize, bufferBytes).use { emitAll(it.frames()) }
    }

    /**
     * Opens a subscription whose lifetime the caller manages ([DataTrackSubscription.close]),
     * e.g. to wait until it is established ([DataTrackSubscription.awaitSubscribed]). Its frames
     * wait in the library's buffer until read: [bufferSize] frames (0 = the room's
     * [RoomOptions.dataTrackBufferSize], else the library's default, 256) and [bufferBytes]
     * payload bytes (0 = the room's [RoomOptions.dataTrackBufferBytes], else 1 MiB without a
     * frame count, 64 MiB with one, so a buffer sized in frames keeps them whatever their size;
     * the library refuses more than 64 MiB); when it is full the oldest are dropped and counted.
     * With [RoomOptions.autoSubscribe] the first call returns the subscription the library
     * opened, buffered as the room's options say ([bufferSize] and [bufferBytes] do not apply to
     * it), with the frames that arrived since it was established still waiting in the library's
     * buffer; it is read the same way. A negative [bufferSize] or [bufferBytes] is refused with
     * [InvalidArgumentException].
     */
    fun openSubscription(bufferSize: Int = 0, bufferBytes: Int = 0): DataTrackSubscription {
        Convert.unsigned("bufferSize", bufferSize)
        Convert.unsigned("bufferBytes", bufferBytes)
        // RoomOptions.autoSubscribe: the subscription the library opened, handed out once.
        // Found by (publisher, name): the SID may have changed since (publisher's full reconnect).
        room.autoSubscriptions.remove(Room.trackKey(publisherIdentity, info.name))?.let { return it }
        val r = room.client.request(
            Request.newBuilder().setSubscribeDataTrack(
                lkcore.ffi.v1.SubscribeDataTrackRequest.newBuilder().setRoomHandle(room.handle).setPublisherIdentity(publisherIdentity)
                    // ABI 1.9: found by name (its sid changes when the publisher fully reconnects)
                    .setTrackSid(info.sid).setTrackName(info.name).setBufferSize(bufferSize).setBufferBytes(bufferBytes).setDelivery(lkcore.ffi.v1.DeliveryMode.DELIVERY_MODE_PULL),
            ),
        )
        val h = r.subscribeDataTrack.subscription.handle
        val s = DataTrackSubscription(room, h, this)
        room.subscriptions[h] = s
        return s
    }

    override fun toString() = "RemoteDataTrack(${info.name}, sid=${info.sid}, publisher=$publisherIdentity)"
}

/** How a data-track subscription ended. */
data class SubscriptionEnd(
    /** Why it ended. */
    val reason: SubscriptionEndReason,
    /** The failure, when [reason] is [SubscriptionEndReason.FAILED]. */
    val error: LkException?,
    /** Frames the library delivered to the subscription. */
    val framesReceived: Long,
    /**
     * Every frame of the publisher the subscription lost: those the library's subscription
     * buffer dropped (this binding keeps none) and those that never arrived whole, as counted
     * in [DataTrackFrame.droppedBefore], plus any lost after the last frame delivered.
     */
    val framesDropped: Long,
)

/** A subscription to a [RemoteDataTrack]; [close] unsubscribes. */
class DataTrackSubscription internal constructor(
    private val room: Room,
    internal val handle: Long,
    val track: RemoteDataTrack,
) : AutoCloseable {
    @Volatile
    private var endInfo: SubscriptionEnd? = null

    /** [close] was called: a read failing on the released handle is the end, not an error. */
    private val closed = java.util.concurrent.atomic.AtomicBoolean(false)

    /** Suspends until the subscription is established (frames flow), or throws why it failed. */
    suspend fun awaitSubscribed(timeout: Duration? = null) {
        room.client.call(
            Request.newBuilder().setWaitDataTrackSubscribed(lkcore.ffi.v1.WaitDataTrackSubscribedRequest.newBuilder().setSubscriptionHandle(handle)),
            timeout?.let { Convert.millis(it) } ?: 0,
        )
    }

    /** How the subscription ended, once it has (null before, or if the room closed). */
    val end: SubscriptionEnd? get() = endInfo

    /**
     * The frames, read with the library's direct read function on [Dispatchers.IO] (never on
     * the collector's dispatcher), an auto-subscription's too: until read they wait in the
     * library's buffer, and no buffer lies between the reader and the collector beyond the
     * frame being handed over. Completes at the end of the subscription, and when it is
     * [close]d (from any coroutine) or its room closes; throws its failure. Collect it once.
     */
    fun frames(): Flow<DataTrackFrame> = flow {
        val cid = room.client.id
        val buf = LongArray(1)
        val len = LongArray(1)
        val ts = LongArray(1)
        val hasTs = ByteArray(1)
        val dropped = LongArray(1)
        while (true) {
            currentCoroutineContext().ensureActive()
            val st = LkNative.lk_data_track_read_frame(cid, handle, READ_SLICE_MS, buf, len, ts, hasTs, dropped)
            when (st) {
                0 -> {
                    val payload = LkNative.takeBuffer(buf[0], len[0])
                    // The library's count is the whole loss: nothing is dropped between this
                    // reader and the collector (a rendezvous hand-over, below).
                    emit(DataTrackFrame(payload, if (hasTs[0].toInt() != 0) ts[0] else null, dropped[0]))
                }
                ErrorCode.TIMEOUT.value -> continue
                ErrorCode.END_OF_STREAM.value -> {
                    // The end event may still be on its way: ask the library how it ended.
                    val end = runCatching { readEnd() }.getOrNull() ?: endInfo
                    if (end != null && end.reason == SubscriptionEndReason.FAILED && end.error != null) throw end.error
                    return@flow
                }
                // Closed here (from any coroutine) or with the room: the end, not an
                // InvalidHandleException/ClientClosedException.
                else -> if (closed.get() || room.isClosed) return@flow else throw lkException(st, "reading the data track ${track.info.name} failed")
            }
        }
        // flowOn alone would put a 64-frame channel between the reader and the collector: a
        // slow collector would then see up to 64 stale frames beyond the library's buffer.
        // Rendezvous: the reader holds at most the one frame it is handing over.
    }.flowOn(Dispatchers.IO).buffer(Channel.RENDEZVOUS)

    /** How the subscription ended, read from the library (null while it runs); sets [end]. */
    private fun readEnd(): SubscriptionEnd? {
        val r = room.client.request(
            Request.newBuilder().setGetDataTrackSubscriptionEnd(
                lkcore.ffi.v1.GetDataTrackSubscriptionEndRequest.newBuilder().setSubscriptionHandle(handle),
            ),
        ).getDataTrackSubscriptionEnd
        if (!r.ended) return null
        val info = toEnd(r.end)
        if (endInfo == null) endInfo = info
        return info
    }

    private fun toEnd(e: lkcore.ffi.v1.DataTrackSubscriptionEnded) = SubscriptionEnd(
        Convert.endReason(e.reasonValue),
        if (e.hasError()) NativeClient.toException(e.error) else null,
        e.framesReceived,
        e.framesDropped,
    )

    /** The library's DataTrackSubscriptionEnded event (dispatcher thread). */
    internal fun onEnded(e: lkcore.ffi.v1.DataTrackSubscriptionEnded) {
        val info = toEnd(e)
        if (endInfo == null) endInfo = info
    }

    /**
     * Unsubscribes and releases the handle. Idempotent. A [frames] collection running
     * meanwhile (e.g. in another coroutine) then completes normally.
     */
    override fun close() {
        closed.set(true)
        room.subscriptions.remove(handle)
        room.client.drop(handle)
    }

    private companion object {
        /** Longest single wait in the library, so a cancelled collector stops promptly. */
        const val READ_SLICE_MS = 200
    }
}
