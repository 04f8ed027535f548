package io.lkcore

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.ExperimentalCoroutinesApi
import lkcore.ffi.v1.CancelRequest
import lkcore.ffi.v1.Completion
import lkcore.ffi.v1.Event
import lkcore.ffi.v1.GetClientStatsRequest
import lkcore.ffi.v1.GetVersionRequest
import lkcore.ffi.v1.LogLevel
import lkcore.ffi.v1.Request
import lkcore.ffi.v1.Response
import lkcore.ffi.v1.SetLogLevelRequest
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import lkcore.ffi.v1.Error as PbError

/** Receives the events of one native client, on its dispatcher thread: must only hand off. */
internal interface EventSink {
    /** One decoded event that is not a completion (room, frame, stream and log events). */
    fun onEvent(event: Event)

    /** A completion, on the dispatcher thread, before its caller resumes (events after it follow). */
    fun onCompletion(completion: Completion) {}

    /**
     * A completion passed to [onCompletion] whose caller was cancelled before it resumed: the
     * handles it hands over (`Completion.owned_handles`) were released; forget what was
     * registered under them. Any thread.
     */
    fun onAbandoned(completion: Completion) {}

    /** The client closed: no event follows. */
    fun onClosed() {}
}

/**
 * One `lk_client_new` client in pull mode, with its own dispatcher thread
 * (`lkcore-events-<id>`) that blocks in `lk_client_next_event` and hands every event on:
 * completions to the coroutine awaiting them, everything else to [sink]. No library thread
 * ever calls into the JVM.
 *
 * Asynchronous operations register a deferred under a fresh request id *before* calling
 * `lk_request`; cancelling the awaiting coroutine sends a `CancelRequest`. The library counts
 * the handles issued to the host and not released yet ([liveHandles]).
 */
internal class NativeClient(
    private val sink: EventSink,
    logLevel: LogLevel,
    /** `lk_client_next_event` (replaced only by tests, to make the event loop fail). */
    private val nextEvent: (client: Long, timeoutMs: Int, event: LongArray, eventLen: LongArray) -> Int = LkNative::lk_client_next_event,
) : AutoCloseable {
    val id: Long = LkNative.lk_client_new(null, null)
    private val nextRequestId = AtomicLong()
    private val pending = ConcurrentHashMap<Long, CompletableDeferred<Completion>>()

    /** [close] was called: no new operation starts. */
    private val closing = AtomicBoolean(false)

    /** The dispatcher ended (client closed, or the event loop failed): no completion follows. */
    private val ended = AtomicBoolean(false)

    /** `lk_client_close` returned OK: nothing of this client is left in the library. */
    @Volatile
    private var released = false
    private val closeLock = Any()
    private val thread: Thread

    init {
        if (id == 0L) throw clientNewFailure()
        live[id] = this
        try {
            if (logLevel != LogLevel.LOG_LEVEL_UNSPECIFIED) {
                request(Request.newBuilder().setSetLogLevel(SetLogLevelRequest.newBuilder().setLevel(logLevel)))
            }
        } catch (e: Throwable) {
            live.remove(id)
            LkNative.lk_client_close(id, 0)
            throw e
        }
        thread = Thread(::dispatch, "lkcore-events-$id").apply {
            isDaemon = true
            start()
        }
    }

    /**
     * True once [close] was called or the dispatcher ended (the library reported the client
     * closed, or its event loop failed): no operation can complete any more.
     */
    val isClosed: Boolean get() = closing.get() || ended.get()

    /** Handles issued to the host and not yet released, as the library counts them (0 once closed). */
    val liveHandles: Int
        get() {
            if (released) return 0
            return try {
                request(Request.newBuilder().setGetClientStats(GetClientStatsRequest.getDefaultInstance())).getClientStats.liveHandles
            } catch (_: ClientClosedException) {
                0
            }
        }

    /** Handles one synchronous request; throws the typed exception of `Response.error`. */
    fun request(req: Request.Builder): Response = requestOn(id, req)

    /**
     * Starts an asynchronous operation and suspends until its completion; throws the typed
     * exception of a failed completion. [timeoutMs] bounds it in the library (0 = default).
     */
    suspend fun call(req: Request.Builder, timeoutMs: Int = 0): Completion {
        val rid = nextRequestId.incrementAndGet()
        val done = CompletableDeferred<Completion>()
        pending[rid] = done
        try {
            request(req.setRequestId(rid).setTimeoutMs(timeoutMs))
        } catch (e: Throwable) {
            pending.remove(rid)
            throw e
        }
        if (isClosed && pending.remove(rid) != null) throw ClientClosedException("the room was closed")
        val c = try {
            done.await()
        } catch (e: CancellationException) {
            if (pending.remove(rid) != null) {
                // Still pending: the library cancels it, and its completion (no waiter any
                // more) releases whatever it would have owned.
                if (!isClosed) runCatching { request(Request.newBuilder().setCancel(CancelRequest.newBuilder().setTargetRequestId(rid))) }
            } else {
                // The dispatcher had already taken the completion out of the map and was about
                // to (or did) complete it: nobody will take its result, so release it here.
                done.invokeOnCompletion { cause -> if (cause == null) abandon(completed(done), adopted = true) }
            }
            throw e
        }
        if (c.hasError()) throw toException(c.error)
        return c
    }

    /** Releases a handle (idempotent; its children go with it). */
    fun drop(handle: Long) {
        if (handle == 0L || released) return
        val st = LkNative.lk_handle_drop(id, handle)
        if (st != 0 && st != ErrorCode.CLIENT_CLOSED.value) throw lkException(st, "lk_handle_drop failed")
    }

    /**
     * Closes the client: pending operations fail with [ClientClosedException], every handle is
     * released, the dispatcher thread ends (joined unless called from it). Always closes the
     * library's client, also after the dispatcher ended on its own. A teardown that does not
     * finish in time is waited for again (at most [CLOSE_ATTEMPTS] × [CLOSE_TIMEOUT_MS], then
     * [TimeoutException]; calling [close] again waits again). Blocks at most
     * [CLOSE_ATTEMPTS] × [CLOSE_TIMEOUT_MS] + [JOIN_TIMEOUT_MS]. Idempotent once it succeeded.
     */
    override fun close() {
        closing.set(true)
        synchronized(closeLock) {
            if (released) return
            var st = LkNative.lk_client_close(id, CLOSE_TIMEOUT_MS)
            var attempts = 1
            while (st == ErrorCode.TIMEOUT.value && attempts < CLOSE_ATTEMPTS) {
                st = LkNative.lk_client_close(id, CLOSE_TIMEOUT_MS)
                attempts++
            }
            failPending()
            if (st != 0) throw lkException(st, "lk_client_close failed after $attempts attempt(s)")
            released = true
            live.remove(id)
        }
        if (Thread.currentThread() !== thread) thread.join(JOIN_TIMEOUT_MS)
    }

    private fun failPending() {
        // The map's own iterator, which is weakly consistent: the dispatcher may complete (and
        // remove) an operation meanwhile. Kotlin's toList() on the key set read its size, then
        // its first element, and threw NoSuchElementException when that one had just gone.
        for (rid in pending.keys) pending.remove(rid)?.completeExceptionally(ClientClosedException("the room was closed"))
    }

    private fun dispatch() {
        val ev = LongArray(1)
        val len = LongArray(1)
        while (true) {
            val st = nextEvent(id, -1, ev, len)
            if (st == ErrorCode.TIMEOUT.value) continue
            if (st != 0) {
                if (st != ErrorCode.CLIENT_CLOSED.value || !closing.get()) {
                    Logs.bindingError("the event loop of client $id ended: ${runCatching { statusName(st) }.getOrDefault(st.toString())}", null)
                }
                break
            }
            val event = try {
                Event.parseFrom(LkNative.takeBuffer(ev[0], len[0]))
            } catch (e: Exception) {
                // Never expected (the library only adds fields, which decoding ignores). Its
                // request id is unreadable: were it a completion, that caller would wait until
                // cancelled or the room closed — hence an error, never a silent skip.
                Logs.bindingError("undecodable event of client $id skipped (${len[0]} bytes); an operation may never complete", e)
                continue
            }
            try {
                if (event.hasCompletion()) complete(event.completion) else sink.onEvent(event)
            } catch (e: Throwable) {
                Logs.bindingError("event handling failed", e)
            }
        }
        ended.set(true)
        failPending()
        runCatching { sink.onClosed() }
    }

    /**
     * Hands completion [c] to its waiting caller, or releases what it hands over when nobody
     * waits for it any more. The dispatcher's; internal so that tests can feed completions the
     * library would not produce on cue.
     */
    internal fun complete(c: Completion) {
        val waiter = pending.remove(c.requestId)
        if (waiter == null) {
            // Abandoned (the caller was cancelled): release what it would have owned.
            abandon(c, adopted = false)
            return
        }
        runCatching { sink.onCompletion(c) }.onFailure { Logs.bindingError("completion handling failed", it) }
        waiter.complete(c)
    }

    /**
     * Releases every handle completion [c] hands over (`Completion.owned_handles`, filled by the
     * library, ABI 1.10) when its caller is gone; [adopted]: the sink saw it
     * ([EventSink.onCompletion]) and is told to forget what it took from it.
     */
    private fun abandon(c: Completion, adopted: Boolean) {
        for (h in c.ownedHandlesList) {
            runCatching { drop(h) }.onFailure { Logs.bindingError("releasing an abandoned result failed", it) }
        }
        if (adopted) runCatching { sink.onAbandoned(c) }.onFailure { Logs.bindingError("abandoned completion handling failed", it) }
    }

    companion object {
        /** Bound of one `lk_client_close` wait. */
        const val CLOSE_TIMEOUT_MS = 5_000

        /** `lk_client_close` calls before [close] gives up with [TimeoutException]. */
        const val CLOSE_ATTEMPTS = 2

        /** Bound of the wait for the dispatcher thread after the client closed. */
        const val JOIN_TIMEOUT_MS = 10_000L

        /** The value of a deferred known to have completed successfully. */
        @OptIn(ExperimentalCoroutinesApi::class)
        private fun <T> completed(d: CompletableDeferred<T>): T = d.getCompleted()

        /** Open clients of this process (diagnostics and leak checks). */
        val live = ConcurrentHashMap<Long, NativeClient>()

        /** One synchronous request on client [id]; throws the typed exception of `Response.error`. */
        fun requestOn(id: Long, req: Request.Builder): Response {
            val bytes = req.build().toByteArray()
            val out = LongArray(1)
            val outLen = LongArray(1)
            val st = LkNative.lk_request(id, bytes, bytes.size.toLong(), out, outLen)
            if (out[0] == 0L) throw lkException(st, "lk_request failed")
            val resp = Response.parseFrom(LkNative.takeBuffer(out[0], outLen[0]))
            if (resp.hasError()) throw toException(resp.error)
            return resp
        }

        /** The typed exception of an `Error` message. */
        fun toException(e: PbError): LkException =
            if (e.code == lkcore.ffi.v1.ErrorCode.ERROR_CODE_RPC_ERROR && e.hasRpc()) {
                RpcException(e.rpc.code, e.rpc.message, e.rpc.data.ifEmpty { null }, e.retryable)
            } else {
                lkException(e.codeValue, e.message, e.retryable)
            }
    }
}

/**
 * Why `lk_client_new` returned 0: in a process forked after the library was loaded every
 * function fails with FORKED, which `lk_handle_drop(0, 0)` tells apart (BINDINGS §1):
 * [ForkedException]; otherwise [InternalException].
 */
internal fun clientNewFailure(): LkException =
    if (LkNative.lk_handle_drop(0, 0) == ErrorCode.FORKED.value) {
        ForkedException("liblkcore cannot be used in a process forked after it was loaded")
    } else {
        InternalException("lk_client_new failed")
    }

/**
 * The versions of the loaded library ([Lkcore.version]).
 *
 * @property abiMajor major version of the C ABI (as [Lkcore.abiVersion]).
 * @property abiMinor minor version of the C ABI.
 * @property schema protobuf package of the FFI messages, `lkcore.ffi.v1`.
 * @property libraryVersion the Go module version the library was built from, for bug reports
 *   (a pseudo-version with the commit for a build from a git checkout, `(devel)` when the
 *   build had no version information); informational, never parsed.
 */
data class VersionInfo(val abiMajor: Int, val abiMinor: Int, val schema: String, val libraryVersion: String)

/** Process-wide diagnostics of the binding. */
object Lkcore {
    /** The loaded library's ABI version as (major, minor). */
    fun abiVersion(): Pair<Int, Int> {
        val v = LkNative.lk_abi_version()
        return (v ushr 16) to (v and 0xFFFF)
    }

    /**
     * The versions the loaded library reports (`GetVersionRequest`), asked through a
     * short-lived native client of its own.
     */
    fun version(): VersionInfo {
        val id = LkNative.lk_client_new(null, null)
        if (id == 0L) throw clientNewFailure()
        try {
            val v = NativeClient.requestOn(id, Request.newBuilder().setGetVersion(GetVersionRequest.getDefaultInstance())).getVersion
            return VersionInfo(v.abiVersion ushr 16, v.abiVersion and 0xFFFF, v.schema, v.libraryVersion)
        } finally {
            LkNative.lk_client_close(id, 1000)
        }
    }

    /** Where liblkcore was loaded from. */
    fun libraryPath(): String = LkNative.loadedFrom

    /** Native clients (one per open [Room]) not closed yet. */
    fun liveClients(): Int = NativeClient.live.size

    /** Handles held by open clients and not released yet. */
    fun liveHandles(): Int = NativeClient.live.values.sumOf { it.liveHandles }
}
