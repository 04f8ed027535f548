package io.lkcore

import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import com.sun.jna.Pointer
import java.io.File

/** The ABI major version this binding speaks (LK_ABI_VERSION_MAJOR of include/lkcore.h). */
internal const val ABI_MAJOR = 1

/**
 * The lowest ABI minor version this binding needs (lk_data_track_read_frame,
 * RemoteDataTrackSidChanged and Completion.owned_handles, 1.10; RoomEvent.owned_handles, 1.11;
 * RequestRoomSnapshotRequest and RoomSnapshotTaken, 1.12; SubscribeDataTrackRequest.buffer_bytes
 * and the default subscription buffer, 1.13; RoomOptions.auto_subscription_delivery, so that an
 * auto-subscription's frames wait in the library's buffer until read, and
 * RoomOptions.data_track_buffer_bytes, 1.14: an older library would ignore both and deliver an
 * auto-subscription's frames as events nothing here reads; LocalDataTrackSidChanged, 1.15, without
 * which a local track's info would keep the sid of its first publish after a full reconnect;
 * GetE2eeStatsResponse.participant_states, 1.17, which E2eeStats.encryptionStates reads; the
 * RoomMoved event, 1.18: an older library ignores a move to another room; DTMF, kind details and
 * the room's recording state, 1.19; subscription permissions,
 * DataTrackSubscriptionPermissionChanged and the legacy chat messages, 1.20; the legacy
 * transcriptions and sending on behalf of another participant, 1.21: an older library would
 * ignore a sender identity and send as the local participant; ParticipantInfo.connection_quality and
 * ParticipantUpdated.connection_quality_changed, 1.22; DefineDataTrackSchemaRequest and
 * GetDataTrackSchemaRequest, the data-track schema definitions, 1.23; RoomInfo.server, the
 * server of the session, 1.24: an older library leaves it unset, which would read as a standard
 * server of no version; ParticipantInfo.tracks and ParticipantUpdated.track_published /
 * track_unpublished / track_mute_changed, other participants' media tracks described, 1.25: an
 * older library would list no tracks and raise none of their events; GetConnectionStatsRequest,
 * the connection's selected ICE candidate pair, round trips and byte counts, 1.26, which
 * Room.connectionStats performs; SimulateScenarioRequest, the simulated connection faults, 1.27,
 * which Room.simulateScenario performs; Reconnected.discarded_packets and replayed_packets, 1.28:
 * an older library would report none; ParticipantInfo.is_speaking / audio_level,
 * ParticipantUpdated.speaking_changed, the ActiveSpeakersChanged event and
 * ConnectResult.active_speakers, and SimulateScenario SPEAKER_UPDATE, 1.29: an older library
 * would report no one speaking and refuse the scenario; RoomOptions.tls_root_certificates_pem,
 * 1.30: an older library would ignore the roots and verify a wss:// server against the system's).
 */
internal const val ABI_MINOR = 30

/**
 * The C functions of liblkcore (include/lkcore.h), bound with JNA direct mapping.
 *
 * Out-parameters are one-element primitive arrays (a pointer-sized `long` for `uint8_t **` and
 * `size_t *`, a byte for `bool *`): JNA passes primitive arrays without any per-call
 * reflection, which keeps the hot paths (push, read) cheap. Pointers handed out by the library
 * are plain addresses (unsigned, in a `Long`) released with [lk_free].
 *
 * `size_t` and pointers are 64 bits wide on x86-64 and aarch64 and 32 bits on armv7 (and x86):
 * a `long` where the C function takes a 32-bit `size_t` shifts every argument after it there. The
 * functions with such parameters are bound twice, [Direct] with 64-bit and [Direct32] with 32-bit
 * ones, and each call takes the one of this process ([narrow]); callers always see `Long`s.
 *
 * Loading happens on first use and never throws out of a class initializer: a library that
 * cannot be found, loaded or accepted is remembered, and every call then throws that
 * [LkAbiException] again (never an `ExceptionInInitializerError` followed by
 * `NoClassDefFoundError`s).
 */
internal object LkNative {
    /** Whether `size_t` and pointers are 32 bits wide in this process (see above). */
    private val narrow = Native.POINTER_SIZE == 4

    /** The path the library was loaded from, or why it could not be loaded. */
    private val loaded: Result<String> = runCatching { Direct.bind() }

    /** Throws the typed load failure (a fresh exception, so the trace shows this caller). */
    private fun ensureLoaded() {
        loaded.exceptionOrNull()?.let { throw LkAbiException(it.message ?: it.toString(), it) }
    }

    /** Where the library was loaded from (for diagnostics); throws [LkAbiException] if it was not. */
    val loadedFrom: String
        get() {
            ensureLoaded()
            return loaded.getOrThrow()
        }

    fun lk_abi_version(): Int {
        ensureLoaded()
        return Direct.lk_abi_version()
    }

    fun lk_client_new(callback: Pointer?, userData: Pointer?): Long {
        ensureLoaded()
        return Direct.lk_client_new(callback, userData)
    }

    fun lk_client_close(client: Long, timeoutMs: Int): Int {
        ensureLoaded()
        return Direct.lk_client_close(client, timeoutMs)
    }

    fun lk_request(client: Long, request: ByteArray, requestLen: Long, response: LongArray, responseLen: LongArray): Int {
        ensureLoaded()
        if (!narrow) return Direct.lk_request(client, request, requestLen, response, responseLen)
        return widened(response, responseLen) { p, n -> Direct32.lk_request(client, request, requestLen.toInt(), p, n) }
    }

    fun lk_client_next_event(client: Long, timeoutMs: Int, event: LongArray, eventLen: LongArray): Int {
        ensureLoaded()
        if (!narrow) return Direct.lk_client_next_event(client, timeoutMs, event, eventLen)
        return widened(event, eventLen) { p, n -> Direct32.lk_client_next_event(client, timeoutMs, p, n) }
    }

    fun lk_free(ptr: Pointer?) {
        ensureLoaded()
        Direct.lk_free(ptr)
    }

    fun lk_handle_drop(client: Long, handle: Long): Int {
        ensureLoaded()
        return Direct.lk_handle_drop(client, handle)
    }

    fun lk_data_track_push(client: Long, track: Long, data: ByteArray, len: Long, userTimestamp: Long, hasUserTimestamp: Boolean): Int {
        ensureLoaded()
        if (narrow) return Direct32.lk_data_track_push(client, track, data, len.toInt(), userTimestamp, hasUserTimestamp)
        return Direct.lk_data_track_push(client, track, data, len, userTimestamp, hasUserTimestamp)
    }

    fun lk_data_track_push_paced(client: Long, track: Long, data: ByteArray, len: Long, userTimestamp: Long, hasUserTimestamp: Boolean): Int {
        ensureLoaded()
        if (narrow) return Direct32.lk_data_track_push_paced(client, track, data, len.toInt(), userTimestamp, hasUserTimestamp)
        return Direct.lk_data_track_push_paced(client, track, data, len, userTimestamp, hasUserTimestamp)
    }

    /** `lk_data_track_read_frame` (ABI 1.10): a pull subscription's next frame and the frames lost before it. */
    fun lk_data_track_read_frame(
        client: Long,
        subscription: Long,
        timeoutMs: Int,
        frame: LongArray,
        frameLen: LongArray,
        userTimestamp: LongArray,
        hasUserTimestamp: ByteArray,
        droppedBefore: LongArray,
    ): Int {
        ensureLoaded()
        if (!narrow) return Direct.lk_data_track_read_frame(client, subscription, timeoutMs, frame, frameLen, userTimestamp, hasUserTimestamp, droppedBefore)
        return widened(frame, frameLen) { p, n ->
            Direct32.lk_data_track_read_frame(client, subscription, timeoutMs, p, n, userTimestamp, hasUserTimestamp, droppedBefore)
        }
    }

    /**
     * Calls a [Direct32] function with 32-bit out-parameters for a pointer and a `size_t` and
     * stores them, unsigned, in the caller's [ptr] and [len]; returns its status.
     */
    private inline fun widened(ptr: LongArray, len: LongArray, call: (IntArray, IntArray) -> Int): Int {
        val p = IntArray(1)
        val n = IntArray(1)
        val st = call(p, n)
        ptr[0] = Integer.toUnsignedLong(p[0])
        len[0] = Integer.toUnsignedLong(n[0])
        return st
    }

    fun lk_status_name(status: Int): String {
        ensureLoaded()
        return Direct.lk_status_name(status)
    }

    /** Copies `len` bytes at native address `ptr` into a new array and frees the buffer. */
    fun takeBuffer(ptr: Long, len: Long): ByteArray {
        if (ptr == 0L) return ByteArray(0)
        val p = Pointer(ptr)
        try {
            require(len in 0..Int.MAX_VALUE) { "buffer of $len bytes" }
            return p.getByteArray(0, len.toInt())
        } finally {
            lk_free(p)
        }
    }

    /**
     * The natives themselves. Its initializer does nothing: [bind] loads, checks and registers
     * them (once, from [LkNative]'s initializer, which never throws).
     */
    private object Direct {
        /** Loads the library, checks its ABI version and binds the functions; returns its path. */
        fun bind(): String {
            val lib = NativeLoader.load()
            val from = lib.file?.path ?: lib.name
            // The version first: registering binds every function below, and an older library
            // lacks the newer ones (UnsatisfiedLinkError instead of a clear refusal).
            val v = lib.getFunction("lk_abi_version").invokeInt(arrayOf<Any>())
            val major = v ushr 16
            val minor = v and 0xFFFF
            if (major != ABI_MAJOR || minor < ABI_MINOR) {
                throw LkAbiException("liblkcore at $from has ABI $major.$minor; this binding needs $ABI_MAJOR.x with x >= $ABI_MINOR")
            }
            try {
                Native.register(Direct::class.java, lib)
                if (narrow) Native.register(Direct32::class.java, lib)
            } catch (e: UnsatisfiedLinkError) {
                throw LkAbiException("cannot bind the functions of liblkcore at $from: ${e.message}", e)
            }
            return from
        }

        @JvmStatic external fun lk_abi_version(): Int

        @JvmStatic external fun lk_client_new(callback: Pointer?, userData: Pointer?): Long

        @JvmStatic external fun lk_client_close(client: Long, timeoutMs: Int): Int

        @JvmStatic external fun lk_request(
            client: Long,
            request: ByteArray,
            requestLen: Long,
            response: LongArray,
            responseLen: LongArray,
        ): Int

        @JvmStatic external fun lk_client_next_event(client: Long, timeoutMs: Int, event: LongArray, eventLen: LongArray): Int

        @JvmStatic external fun lk_free(ptr: Pointer?)

        @JvmStatic external fun lk_handle_drop(client: Long, handle: Long): Int

        @JvmStatic external fun lk_data_track_push(
            client: Long,
            track: Long,
            data: ByteArray,
            len: Long,
            userTimestamp: Long,
            hasUserTimestamp: Boolean,
        ): Int

        @JvmStatic external fun lk_data_track_push_paced(
            client: Long,
            track: Long,
            data: ByteArray,
            len: Long,
            userTimestamp: Long,
            hasUserTimestamp: Boolean,
        ): Int

        @JvmStatic external fun lk_data_track_read_frame(
            client: Long,
            subscription: Long,
            timeoutMs: Int,
            frame: LongArray,
            frameLen: LongArray,
            userTimestamp: LongArray,
            hasUserTimestamp: ByteArray,
            droppedBefore: LongArray,
        ): Int

        @JvmStatic external fun lk_status_name(status: Int): String
    }

    /**
     * The functions that take a `size_t` or write a pointer or a `size_t`, with the 32-bit
     * types of armv7 and x86 (registered by [Direct.bind] in such a process only).
     */
    private object Direct32 {
        @JvmStatic external fun lk_request(client: Long, request: ByteArray, requestLen: Int, response: IntArray, responseLen: IntArray): Int

        @JvmStatic external fun lk_client_next_event(client: Long, timeoutMs: Int, event: IntArray, eventLen: IntArray): Int

        @JvmStatic external fun lk_data_track_push(
            client: Long,
            track: Long,
            data: ByteArray,
            len: Int,
            userTimestamp: Long,
            hasUserTimestamp: Boolean,
        ): Int

        @JvmStatic external fun lk_data_track_push_paced(
            client: Long,
            track: Long,
            data: ByteArray,
            len: Int,
            userTimestamp: Long,
            hasUserTimestamp: Boolean,
        ): Int

        @JvmStatic external fun lk_data_track_read_frame(
            client: Long,
            subscription: Long,
            timeoutMs: Int,
            frame: IntArray,
            frameLen: IntArray,
            userTimestamp: LongArray,
            hasUserTimestamp: ByteArray,
            droppedBefore: LongArray,
        ): Int
    }
}

/**
 * Finds liblkcore, in this order:
 * 1. the `LKCORE_LIB` environment variable (or the `lkcore.lib` system property): a file path;
 * 2. `jna.library.path` and the system's library path (by the name `lkcore`);
 * 3. the copy bundled in the jar for this machine (linux-x86-64/, and linux-aarch64/ or
 *    linux-arm/ when the ARM builds existed as the jar was made), which JNA extracts to a
 *    private temporary file (`jna.tmpdir`) and deletes when the JVM exits.
 */
internal object NativeLoader {
    fun load(): NativeLibrary {
        // The Go runtime inside the library aborts the whole process as it loads on a GOMEMLIMIT
        // it cannot parse; the JVM's environment is the one the process started with.
        System.getenv("GOMEMLIMIT")?.let { v ->
            if (!validGoMemLimit(v)) {
                throw LkAbiException(
                    "the process started with GOMEMLIMIT=\"$v\", which the Go runtime inside liblkcore cannot " +
                        "parse and would abort the process on: use a number of bytes with an optional unit " +
                        "B, KiB, MiB, GiB or TiB (e.g. 64MiB), or off",
                )
            }
        }
        val explicit = System.getProperty("lkcore.lib") ?: System.getenv("LKCORE_LIB")
        if (!explicit.isNullOrEmpty()) {
            val f = File(explicit)
            if (!f.isFile) throw LkAbiException("LKCORE_LIB=$explicit is not a file")
            return try {
                NativeLibrary.getInstance(f.absolutePath)
            } catch (e: UnsatisfiedLinkError) {
                throw LkAbiException("cannot load LKCORE_LIB=$explicit: ${e.message}")
            }
        }
        return try {
            // JNA searches jna.library.path, the system paths, then the class path
            // (<JNA's folder for this machine>/liblkcore.so in this jar), extracting a bundled copy.
            NativeLibrary.getInstance("lkcore")
        } catch (e: UnsatisfiedLinkError) {
            throw LkAbiException(
                "liblkcore not found: set LKCORE_LIB to its path, put it on jna.library.path, " +
                    "or use a jar that bundles it (${e.message})",
            )
        }
    }
}

private val goMemLimit = Regex("([+-]?)([0-9]+)(B|KiB|MiB|GiB|TiB)?")

/**
 * Whether the Go runtime accepts [value] as GOMEMLIMIT: empty, "off", or a decimal number of
 * bytes with an optional unit (not negative, below 2^63 bytes).
 */
internal fun validGoMemLimit(value: String): Boolean {
    if (value.isEmpty() || value == "off") return true
    val m = goMemLimit.matchEntire(value) ?: return false
    val shift = when (m.groupValues[3]) {
        "KiB" -> 10
        "MiB" -> 20
        "GiB" -> 30
        "TiB" -> 40
        else -> 0
    }
    val n = m.groupValues[2].toBigInteger().shiftLeft(shift)
    if (m.groupValues[1] == "-" && n.signum() != 0) return false
    return n < java.math.BigInteger.ONE.shiftLeft(63)
}
