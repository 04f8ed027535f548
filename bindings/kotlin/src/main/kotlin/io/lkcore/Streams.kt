package io.lkcore

import com.google.protobuf.ByteString
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import lkcore.ffi.v1.Request
import java.io.ByteArrayOutputStream
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

/** Kind of change a text stream represents. */
enum class TextStreamOperation { CREATE, UPDATE, DELETE, REACTION }

/** Options of an outgoing text stream. */
data class TextStreamOptions(
    val topic: String = "",
    val attributes: Map<String, String> = emptyMap(),
    /** Empty = everyone in the room. */
    val destinationIdentities: List<String> = emptyList(),
    /** Empty = generated. */
    val streamId: String = "",
    /** Announced total length in bytes, if known (not negative). */
    val totalLength: Long? = null,
    val operation: TextStreamOperation = TextStreamOperation.CREATE,
    val version: Int = 0,
    val replyToStreamId: String = "",
    val attachedStreamIds: List<String> = emptyList(),
    val generated: Boolean = false,
    /**
     * The participant an agent sends the text on behalf of (ABI 1.21), e.g. the user whose
     * speech it transcribes on the topic `"lk.transcription"`: the receivers see that identity
     * as the sender, and the server marks the stream generated. Empty = the local participant.
     * The library refuses another participant's identity with [NotAllowedException] unless the
     * local participant is of kind agent, and with [InvalidArgumentException] in an end-to-end
     * encrypted room (where the server stamps the sender): [Room.sendText] and [Room.streamText]
     * throw them.
     */
    val senderIdentity: String = "",
)

/** Options of an outgoing byte stream. */
data class ByteStreamOptions(
    val topic: String = "",
    val attributes: Map<String, String> = emptyMap(),
    /** Empty = everyone in the room. */
    val destinationIdentities: List<String> = emptyList(),
    /** Empty = generated. */
    val streamId: String = "",
    /** Announced total length in bytes, if known (not negative). */
    val totalLength: Long? = null,
    /** File name shown to receivers. */
    val name: String = "",
    /** Default application/octet-stream. */
    val mimeType: String = "",
)

/** Header of a text stream. */
data class TextStreamInfo(
    val streamId: String,
    val topic: String,
    val timestampMs: Long,
    val totalLength: Long?,
    val attributes: Map<String, String>,
    val operation: TextStreamOperation,
    val version: Int,
    val replyToStreamId: String,
    val attachedStreamIds: List<String>,
    val generated: Boolean,
    val encrypted: Boolean,
)

/** Header of a byte stream. */
data class ByteStreamInfo(
    val streamId: String,
    val topic: String,
    val timestampMs: Long,
    val totalLength: Long?,
    val attributes: Map<String, String>,
    val name: String,
    val mimeType: String,
    val encrypted: Boolean,
)

internal object Streams {
    private fun common(topic: String, attrs: Map<String, String>, dest: List<String>, id: String, total: Long?): lkcore.ffi.v1.StreamOptions {
        val b = lkcore.ffi.v1.StreamOptions.newBuilder().setTopic(topic).putAllAttributes(attrs).addAllDestinationIdentities(dest).setStreamId(id)
        total?.let { b.setTotalLength(Convert.unsigned("totalLength", it)) }
        return b.build()
    }

    fun textOptions(o: TextStreamOptions): lkcore.ffi.v1.TextStreamOptions = lkcore.ffi.v1.TextStreamOptions.newBuilder()
        .setCommon(common(o.topic, o.attributes, o.destinationIdentities, o.streamId, o.totalLength))
        .setOperationTypeValue(o.operation.ordinal).setVersion(o.version).setReplyToStreamId(o.replyToStreamId)
        .addAllAttachedStreamIds(o.attachedStreamIds).setGenerated(o.generated).setSenderIdentity(o.senderIdentity).build()

    fun byteOptions(o: ByteStreamOptions): lkcore.ffi.v1.ByteStreamOptions = lkcore.ffi.v1.ByteStreamOptions.newBuilder()
        .setCommon(common(o.topic, o.attributes, o.destinationIdentities, o.streamId, o.totalLength))
        .setName(o.name).setMimeType(o.mimeType).build()

    fun textInfo(i: lkcore.ffi.v1.TextStreamInfo) = TextStreamInfo(
        i.streamId, i.topic, i.timestampMs, if (i.hasTotalLength()) i.totalLength else null, i.attributesMap.toMap(),
        TextStreamOperation.entries.getOrElse(i.operationTypeValue) { TextStreamOperation.CREATE }, i.version, i.replyToStreamId,
        i.attachedStreamIdsList.toList(), i.generated, i.encrypted,
    )

    fun byteInfo(i: lkcore.ffi.v1.ByteStreamInfo) = ByteStreamInfo(
        i.streamId, i.topic, i.timestampMs, if (i.hasTotalLength()) i.totalLength else null, i.attributesMap.toMap(),
        i.name, i.mimeType, i.encrypted,
    )
}

/**
 * An incremental outgoing stream. Writes are sent in call order. End it with [close] (or
 * [abort]); [release] frees the handle, aborting the stream if it was not closed.
 */
sealed class StreamWriter(internal val room: Room, internal val handle: Long) {
    private val released = AtomicBoolean(false)

    internal suspend fun write(b: lkcore.ffi.v1.WriteStreamRequest.Builder) {
        room.client.call(Request.newBuilder().setWriteStream(b.setWriterHandle(handle)))
    }

    /** Ends the stream normally (after every earlier write) with trailer [attributes], and releases it. */
    suspend fun close(attributes: Map<String, String> = emptyMap()) {
        try {
            room.client.call(
                Request.newBuilder().setCloseStreamWriter(lkcore.ffi.v1.CloseStreamWriterRequest.newBuilder().setWriterHandle(handle).putAllAttributes(attributes)),
            )
        } finally {
            release()
        }
    }

    /** Aborts the stream with [reason] (receivers see it end with [AbortedException]), and releases it. */
    suspend fun abort(reason: String) {
        try {
            room.client.call(
                Request.newBuilder().setCloseStreamWriter(
                    lkcore.ffi.v1.CloseStreamWriterRequest.newBuilder().setWriterHandle(handle).setReason(reason.ifEmpty { "aborted" }),
                ),
            )
        } finally {
            release()
        }
    }

    /** Releases the writer's handle; a stream not closed yet is aborted. Idempotent. */
    fun release() {
        if (released.compareAndSet(false, true)) room.client.drop(handle)
    }
}

/** An incremental text stream ([Room.streamText]). */
class TextStreamWriter internal constructor(room: Room, handle: Long, val info: TextStreamInfo) : StreamWriter(room, handle) {
    /** Appends [text]. */
    suspend fun write(text: String) = write(lkcore.ffi.v1.WriteStreamRequest.newBuilder().setText(text))
}

/** An incremental byte stream ([Room.streamBytes]). */
class ByteStreamWriter internal constructor(room: Room, handle: Long, val info: ByteStreamInfo) : StreamWriter(room, handle) {
    /** Appends [data]. */
    suspend fun write(data: ByteArray) = write(lkcore.ffi.v1.WriteStreamRequest.newBuilder().setData(ByteString.copyFrom(data)))
}

/**
 * The receiving side of an incoming stream, handed to a stream handler. Chunks arrive with
 * credit-based flow control: at most [CREDITS] chunks wait in the binding, more are granted as
 * the handler consumes them, so a slow handler slows the sender instead of buffering without
 * bound.
 */
sealed class StreamReaderBase(internal val room: Room, internal val handle: Long) : AutoCloseable {
    private val channel = Channel<Any>(Channel.UNLIMITED) // bounded by the credits in flight
    private val received = AtomicLong()
    private val released = AtomicBoolean(false)
    private var consumedSinceGrant = 0

    /** Trailer attributes, once the stream ended normally. */
    @Volatile
    var trailer: Map<String, String> = emptyMap()
        private set

    /** Bytes received so far (UTF-8 bytes for text). */
    val bytesReceived: Long get() = received.get()

    /** The announced total length in bytes, if the sender gave one. */
    abstract val totalLength: Long?

    /** Progress in 0..1 when the total length is known. */
    val progress: Double? get() = totalLength?.takeIf { it > 0 }?.let { bytesReceived.toDouble() / it }

    internal fun onChunk(c: lkcore.ffi.v1.StreamChunkEvent) {
        channel.trySend(if (c.hasText()) c.text else c.data.toByteArray())
    }

    internal fun onEnded(e: lkcore.ffi.v1.StreamEndedEvent?) {
        when {
            e == null -> channel.close(ClientClosedException("the room was closed"))
            e.hasError() -> channel.close(NativeClient.toException(e.error))
            else -> {
                trailer = e.attributesMap.toMap()
                channel.close()
            }
        }
    }

    internal fun <T> chunkFlow(size: (T) -> Int): Flow<T> = flow {
        for (item in channel) {
            @Suppress("UNCHECKED_CAST")
            val chunk = item as T
            received.addAndGet(size(chunk).toLong())
            emit(chunk)
            if (++consumedSinceGrant >= CREDITS / 2 && !released.get()) {
                val n = consumedSinceGrant
                consumedSinceGrant = 0
                room.client.request(Request.newBuilder().setGrantCredits(lkcore.ffi.v1.GrantCreditsRequest.newBuilder().setHandle(handle).setCredits(n)))
            }
        }
    }

    /** Releases the reader (the rest of an unfinished stream is discarded). Idempotent. */
    override fun close() {
        if (!released.compareAndSet(false, true)) return
        room.readers.remove(handle)
        channel.cancel()
        room.client.drop(handle)
    }

    internal companion object {
        /** Chunks a reader may have in flight (granted up front and replenished as consumed). */
        const val CREDITS = 16
    }
}

/** An incoming text stream. */
class TextStreamReader internal constructor(room: Room, handle: Long, val info: TextStreamInfo) : StreamReaderBase(room, handle) {
    override val totalLength: Long? get() = info.totalLength

    /** The chunks in order (whole UTF-8 characters each); throws if the stream failed. Collect once. */
    val chunks: Flow<String> = chunkFlow { s: String -> s.encodeToByteArray().size }

    /** Reads the whole stream. */
    suspend fun readAll(): String {
        val sb = StringBuilder()
        chunks.collect { sb.append(it) }
        return sb.toString()
    }
}

/** An incoming byte stream. */
class ByteStreamReader internal constructor(room: Room, handle: Long, val info: ByteStreamInfo) : StreamReaderBase(room, handle) {
    override val totalLength: Long? get() = info.totalLength

    /** The chunks in order; throws if the stream failed. Collect once. */
    val chunks: Flow<ByteArray> = chunkFlow { b: ByteArray -> b.size }

    /** Reads the whole stream. */
    suspend fun readAll(): ByteArray {
        val out = ByteArrayOutputStream()
        chunks.collect { out.write(it) }
        return out.toByteArray()
    }
}
