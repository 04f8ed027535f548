package io.lkcore

import com.google.protobuf.ByteString
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Test
import java.net.ServerSocket
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds

/** The binding's plumbing: loading, errors, async operations, closing (no server needed). */
class ClientTest : LkTestBase() {
    @Test
    fun `library loads with a compatible ABI`() {
        val (major, minor) = Lkcore.abiVersion()
        assertEquals(ABI_MAJOR, major)
        assertTrue(minor >= ABI_MINOR)
        assertTrue(Lkcore.libraryPath().isNotEmpty())
        assertEquals("LK_ERR_TIMEOUT", statusName(ErrorCode.TIMEOUT.value))
    }

    @Test
    fun `version reports the loaded library`() {
        val v = Lkcore.version()
        assertEquals(Lkcore.abiVersion(), v.abiMajor to v.abiMinor)
        assertEquals("lkcore.ffi.v1", v.schema)
        assertTrue(v.libraryVersion.isNotEmpty(), "a build version, or (devel)")
    }

    @Test
    fun `an unknown status code and QUEUE_FULL`() {
        val unknown = lkException(999, "")
        assertTrue(unknown is UnknownLkException && unknown.rawCode == 999)
        assertTrue(lkException(ErrorCode.QUEUE_FULL.value, "x", true).retryable)
    }

    @Test
    fun `every code of the schema maps to its own typed exception and keeps retryable`() {
        // The generated enum, so a code added to the schema fails here until it has a class.
        for (code in lkcore.ffi.v1.ErrorCode.entries) {
            if (code == lkcore.ffi.v1.ErrorCode.UNRECOGNIZED || code == lkcore.ffi.v1.ErrorCode.ERROR_CODE_OK) continue
            for (retryable in listOf(false, true)) {
                val e = lkException(code.number, "m", retryable)
                assertTrue(e !is UnknownLkException, "no exception class for $code")
                assertEquals(code.name.removePrefix("ERROR_CODE_"), e.code.name, "code of $code")
                assertEquals(code.number, e.rawCode)
                assertTrue(e.javaClass != LkException::class.java, "a subclass for $code")
                if (code != lkcore.ffi.v1.ErrorCode.ERROR_CODE_QUEUE_FULL) assertEquals(retryable, e.retryable, "retryable of $code")
            }
        }
        val rpc = NativeClient.toException(
            lkcore.ffi.v1.Error.newBuilder().setCode(lkcore.ffi.v1.ErrorCode.ERROR_CODE_RPC_ERROR).setRetryable(true)
                .setRpc(lkcore.ffi.v1.RpcError.newBuilder().setCode(1501).setMessage("t")).build(),
        )
        assertTrue(rpc is RpcException && rpc.rpcCode == 1501 && rpc.retryable)
    }

    @Test
    fun `room without connect is released by use`() {
        val room = Room()
        room.use {
            assertEquals(1, Lkcore.liveClients())
            assertEquals(1, it.liveHandles) // the room itself
        }
        assertTrue(room.isClosed)
        assertEquals(0, Lkcore.liveClients())
        room.close() // idempotent
    }

    @Test
    fun `invalid options are refused with a typed exception and leave nothing behind`() {
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(dataTrackBufferSize = 100_000)) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(dataTrackBufferBytes = (64 shl 20) + 1)) } // the library's cap
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(joinAttempts = 101)) }
        // Negative values of unsigned fields: refused, never wrapped to 2^64-1 (no stream cap).
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(maxIncomingStreamBytes = -1)) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(joinAttempts = -1)) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(dataTrackBufferSize = -1)) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(dataTrackBufferBytes = -1)) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(sctpReceiveBufferSize = -1)) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(e2ee = E2eeOptions(ByteArray(16), keyRingSize = -1))) }
        assertFailsWith<InvalidArgumentException> { Room(RoomOptions(e2ee = E2eeOptions(ByteArray(16), ratchetWindowSize = -1))) }
        assertEquals(0, Lkcore.liveClients())
    }

    @Test
    fun `negative sizes and indexes of requests are refused with InvalidArgumentException`() = lkTest {
        Room().use { room ->
            assertFailsWith<InvalidArgumentException> { room.sendText("x", TextStreamOptions(totalLength = -1)) }
            assertFailsWith<InvalidArgumentException> { room.streamBytes(ByteStreamOptions(totalLength = -1)) }
            assertFailsWith<InvalidArgumentException> { room.setSharedKey(ByteArray(16), keyIndex = -1) }
            assertEquals(1, room.liveHandles)
        }
    }

    @Test
    fun `closed room gives ClientClosedException`() = lkTest {
        val room = Room()
        room.close()
        assertFailsWith<ClientClosedException> { room.publishData(byteArrayOf(1)) }
        assertFailsWith<ClientClosedException> { room.snapshot() }
        assertFailsWith<ClientClosedException> { room.registerRpcMethod("m") { "" } }
        assertFailsWith<ClientClosedException> { room.connect("ws://127.0.0.1:1", "t") }
    }

    @Test
    fun `operations on an unconnected room fail typed`() = lkTest {
        Room().use { room ->
            assertFailsWith<DisconnectedException> { room.publishData(byteArrayOf(1)) }
            assertFailsWith<LkException> { room.publishDataTrack("t") }
        }
    }

    @Test
    fun `unreachable server fails to connect`() = lkTest {
        val port = ServerSocket(0).use { it.localPort } // closed again: nothing listens there
        Room(RoomOptions(connectTimeout = 3_000.milliseconds)).use { room ->
            assertFailsWith<ConnectionFailedException> { room.connect("ws://127.0.0.1:$port", "token") }
        }
    }

    @Test
    fun `async echo completes, times out and is cancelled`() = lkTest {
        Room().use { room ->
            val c = room.client
            fun echo(delayMs: Int) = lkcore.ffi.v1.Request.newBuilder().setEcho(
                lkcore.ffi.v1.EchoRequest.newBuilder().setPayload(ByteString.copyFromUtf8("hi")).setAsync(true).setDelayMs(delayMs),
            )
            assertEquals("hi", c.call(echo(1)).echo.payload.toStringUtf8())
            // the library's deadline
            assertFailsWith<TimeoutException> { c.call(echo(5_000), timeoutMs = 50) }
            // cancelling the coroutine cancels the operation in the library
            assertNull(withTimeoutOrNull(50.milliseconds) { c.call(echo(10_000)) })
            // many in flight at once, each resolved by its own completion
            val all = (1..50).map { i ->
                async {
                    c.call(
                        lkcore.ffi.v1.Request.newBuilder().setEcho(
                            lkcore.ffi.v1.EchoRequest.newBuilder().setPayload(ByteString.copyFromUtf8("n$i")).setAsync(true).setDelayMs(i % 7),
                        ),
                    ).echo.payload.toStringUtf8()
                }
            }
            assertEquals((1..50).map { "n$it" }, all.map { it.await() })
        }
    }

    @Test
    fun `a completion nobody waits for releases exactly the handles it lists in owned_handles`() = lkTest {
        // The library lists what a completion hands over (Completion.owned_handles, ABI 1.10);
        // the binding must release those, whatever the result type, and nothing else. Fed
        // synthetic completions under request ids never issued (no caller waits for them), as
        // the dispatcher hands over one whose caller was cancelled.
        val sink = object : EventSink {
            override fun onEvent(event: lkcore.ffi.v1.Event) {}
        }
        NativeClient(sink, lkcore.ffi.v1.LogLevel.LOG_LEVEL_UNSPECIFIED).use { c ->
            fun newRoom() = c.request(
                lkcore.ffi.v1.Request.newBuilder().setCreateRoom(lkcore.ffi.v1.CreateRoomRequest.getDefaultInstance()),
            ).createRoom.room.handle

            fun alive(room: Long) = try {
                c.request(lkcore.ffi.v1.Request.newBuilder().setGetRoomSnapshot(lkcore.ffi.v1.GetRoomSnapshotRequest.newBuilder().setRoomHandle(room)))
                true
            } catch (_: InvalidHandleException) {
                false
            }
            val a = newRoom()
            val b = newRoom()
            val d = newRoom()
            assertEquals(3, c.liveHandles)
            assertTrue(alive(a) && alive(b) && alive(d))

            // A result type that owns nothing by itself: its listed handle is released all the same.
            c.complete(
                lkcore.ffi.v1.Completion.newBuilder().setRequestId(1L shl 40)
                    .setEcho(lkcore.ffi.v1.EchoResponse.newBuilder().setPayload(ByteString.copyFromUtf8("x")))
                    .addOwnedHandles(a).build(),
            )
            assertFalse(alive(a))
            assertTrue(alive(b) && alive(d))
            assertEquals(2, c.liveHandles)

            // A result naming a handle of its own: the listed one goes, not the one in the result.
            c.complete(
                lkcore.ffi.v1.Completion.newBuilder().setRequestId((1L shl 40) + 1)
                    .setOpenTextWriter(lkcore.ffi.v1.OwnedStreamWriter.newBuilder().setHandle(b))
                    .addOwnedHandles(d).build(),
            )
            assertTrue(alive(b))
            assertFalse(alive(d))
            assertEquals(1, c.liveHandles)

            // Nothing listed: nothing released.
            c.complete(
                lkcore.ffi.v1.Completion.newBuilder().setRequestId((1L shl 40) + 2)
                    .setPublishDataTrack(
                        lkcore.ffi.v1.PublishDataTrackResult.newBuilder().setTrack(lkcore.ffi.v1.OwnedLocalDataTrack.newBuilder().setHandle(b)),
                    ).build(),
            )
            assertTrue(alive(b))
            assertEquals(1, c.liveHandles)
        }
    }

    @Test
    fun `a room event nothing here takes releases exactly the handles it lists in owned_handles`() = lkTest {
        // The library lists what a room event hands over (RoomEvent.owned_handles, ABI 1.11);
        // what no object here takes over is released, whatever the event's kind, and nothing
        // else. Synthetic events fed to the room's event translation, handing over stand-in
        // handles (unconnected rooms of the room's own client, which the library can tell
        // apart from released ones).
        Room().use { room ->
            val c = room.client
            fun newHandle() = c.request(
                lkcore.ffi.v1.Request.newBuilder().setCreateRoom(lkcore.ffi.v1.CreateRoomRequest.getDefaultInstance()),
            ).createRoom.room.handle

            fun alive(h: Long) = try {
                c.request(lkcore.ffi.v1.Request.newBuilder().setGetRoomSnapshot(lkcore.ffi.v1.GetRoomSnapshotRequest.newBuilder().setRoomHandle(h)))
                true
            } catch (_: InvalidHandleException) {
                false
            }

            fun streamOpened(topic: String, reader: Long) = lkcore.ffi.v1.RoomEvent.newBuilder().setRoomHandle(room.handle).setStreamOpened(
                lkcore.ffi.v1.StreamOpened.newBuilder().setParticipantIdentity("alice").setReader(
                    lkcore.ffi.v1.OwnedStreamReader.newBuilder().setHandle(reader)
                        .setText(lkcore.ffi.v1.TextStreamInfo.newBuilder().setStreamId("s-$reader").setTopic(topic)),
                ),
            )
            val handled = CompletableDeferred<Long>()
            val finish = CompletableDeferred<Unit>()
            room.registerTextStreamHandler("chat") { r, _ ->
                handled.complete(r.handle)
                finish.await()
            }
            val (orphan, unknown, reconnecting, reader, unlisted) = List(5) { newHandle() }
            assertEquals(6, room.liveHandles)

            // A stream on a topic with no handler: no reader is made, its listed reader goes.
            room.onRoomEvent(streamOpened("nobody", orphan).addOwnedHandles(orphan).build())
            assertFalse(alive(orphan))
            assertTrue(room.readers.isEmpty())
            // A kind this binding does not know (as a newer library's kind decodes: no member set).
            room.onRoomEvent(lkcore.ffi.v1.RoomEvent.newBuilder().setRoomHandle(room.handle).addOwnedHandles(unknown).build())
            assertFalse(alive(unknown))
            // A known kind that hands nothing over by itself: its listed handle goes all the same.
            room.onRoomEvent(
                lkcore.ffi.v1.RoomEvent.newBuilder().setRoomHandle(room.handle)
                    .setReconnecting(lkcore.ffi.v1.Reconnecting.getDefaultInstance()).addOwnedHandles(reconnecting).build(),
            )
            assertFalse(alive(reconnecting))
            // A handle the event names but does not list is not the binding's: kept.
            room.onRoomEvent(streamOpened("nobody", unlisted).build())
            assertTrue(alive(unlisted))
            assertEquals(3, room.liveHandles) // the room and the stand-ins reader and unlisted

            // A stream the handler takes: its reader stays while the handler runs, and goes when it returns.
            room.onRoomEvent(streamOpened("chat", reader).addOwnedHandles(reader).build())
            assertEquals(reader, withTimeout(GUARD) { handled.await() })
            assertTrue(alive(reader))
            finish.complete(Unit)
            withTimeout(GUARD) { while (alive(reader)) delay(10) }
            assertTrue(alive(unlisted))
            assertEquals(2, room.liveHandles)
        }
    }

    @Test
    fun `closing the room fails pending operations`() = lkTest {
        val room = Room()
        val pending = bg.async {
            room.client.call(
                lkcore.ffi.v1.Request.newBuilder().setEcho(lkcore.ffi.v1.EchoRequest.newBuilder().setAsync(true).setDelayMs(10_000)),
            )
        }
        delay(50)
        room.close()
        val e = runCatching { withTimeout(GUARD) { pending.await() } }.exceptionOrNull()
        assertTrue(e is ClientClosedException, "got $e") // a ClientClosedException is never a CancellationException
    }

    @Test
    fun `a client whose event loop failed is still closed in the library`() = lkTest {
        val failNext = AtomicBoolean(true)
        val sink = object : EventSink {
            override fun onEvent(event: lkcore.ffi.v1.Event) {}
        }
        val c = NativeClient(sink, lkcore.ffi.v1.LogLevel.LOG_LEVEL_UNSPECIFIED) { id, timeoutMs, ev, len ->
            if (failNext.getAndSet(false)) ErrorCode.INTERNAL.value else LkNative.lk_client_next_event(id, timeoutMs, ev, len)
        }
        withTimeout(GUARD) { while (!c.isClosed) delay(5) } // the dispatcher ended on the failure
        // nothing would deliver a completion: an operation fails at once instead of waiting
        assertFailsWith<ClientClosedException> {
            c.call(lkcore.ffi.v1.Request.newBuilder().setEcho(lkcore.ffi.v1.EchoRequest.newBuilder().setAsync(true)))
        }
        c.close()
        assertFalse(NativeClient.live.containsKey(c.id))
        // closed in the library too (its connection and handles released)
        assertEquals(ErrorCode.CLIENT_CLOSED.value, LkNative.lk_handle_drop(c.id, 1))
        c.close() // idempotent
    }

    @Test
    fun `events flow is hot and typed`() = lkTest {
        Room().use { room ->
            assertNull(withTimeoutOrNull(20.milliseconds) { room.events.first() })
        }
    }
}
