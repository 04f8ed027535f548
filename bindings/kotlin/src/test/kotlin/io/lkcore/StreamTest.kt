package io.lkcore

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import java.nio.file.Files
import java.security.MessageDigest
import kotlin.random.Random
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** Text and byte data streams against lkcore-devsfu. */
class StreamTest : LkTestBase() {
    private class Got(val identity: String, val info: Any, val content: Any?, val error: Throwable?, val trailer: Map<String, String>, val progress: Double?)

    private fun sha256(b: ByteArray) = MessageDigest.getInstance("SHA-256").digest(b)

    @Test
    fun `text and byte streams with SHA-256 checks`() = lkTest {
        val inbox = Channel<Got>(Channel.UNLIMITED)
        Room().use { bob ->
            bob.registerTextStreamHandler("chat") { r, who ->
                val res = runCatching { r.readAll() }
                inbox.send(Got(who, r.info, res.getOrNull(), res.exceptionOrNull(), r.trailer, r.progress))
            }
            bob.registerByteStreamHandler("files") { r, who ->
                val res = runCatching { r.readAll() }
                inbox.send(Got(who, r.info, res.getOrNull(), res.exceptionOrNull(), r.trailer, r.progress))
            }
            assertFailsWith<AlreadyExistsException> { bob.registerTextStreamHandler("chat") { _, _ -> } }
            bob.connect(DevSfu.url, token("bob"))
            connect("alice").use { alice ->
                suspend fun next() = withTimeout(GUARD) { inbox.receive() }

                val info = alice.sendText("héllo wörld ✓", TextStreamOptions(topic = "chat", attributes = mapOf("k" to "v")))
                var g = next()
                assertEquals("alice", g.identity)
                assertEquals("héllo wörld ✓", g.content)
                val ti = assertIs<TextStreamInfo>(g.info)
                assertEquals(info.streamId, ti.streamId)
                assertEquals(mapOf("k" to "v"), ti.attributes)

                val w = alice.streamText(TextStreamOptions(topic = "chat"))
                for (part in listOf("one ", "two ", "three")) w.write(part)
                w.close(mapOf("done" to "yes"))
                g = next()
                assertEquals("one two three", g.content)
                assertEquals(mapOf("done" to "yes"), g.trailer)

                // 1 MiB of random bytes, in one call and incrementally
                val data = Random(7).nextBytes(1 shl 20)
                alice.sendBytes(data, ByteStreamOptions(topic = "files", name = "blob.bin", mimeType = "application/x-test"))
                g = next()
                val bi = assertIs<ByteStreamInfo>(g.info)
                assertEquals("blob.bin", bi.name)
                assertEquals("application/x-test", bi.mimeType)
                assertContentEquals(sha256(data), sha256(g.content as ByteArray))
                assertEquals(1.0, g.progress)

                val bw = alice.streamBytes(ByteStreamOptions(topic = "files"))
                for (i in 0 until 64) bw.write(data.copyOfRange(i * 16384, (i + 1) * 16384))
                bw.close()
                assertContentEquals(sha256(data), sha256(next().content as ByteArray))

                val file = Files.createTempFile("lkcore-kt", ".bin")
                try {
                    Files.write(file, data.copyOf(300_000))
                    val fi = alice.sendFile(file, ByteStreamOptions(topic = "files"))
                    assertEquals(file.fileName.toString(), fi.name)
                    assertEquals(300_000L, fi.totalLength)
                    assertContentEquals(sha256(data.copyOf(300_000)), sha256(next().content as ByteArray))
                } finally {
                    Files.delete(file)
                }
                assertFailsWith<IoException> { alice.sendFile(file, ByteStreamOptions(topic = "files")) }

                // an aborted stream ends with AbortedException at the reader
                val aw = alice.streamText(TextStreamOptions(topic = "chat"))
                aw.write("partial")
                aw.abort("changed my mind")
                g = next()
                assertIs<AbortedException>(g.error)
                assertFailsWith<InvalidHandleException> { aw.write("late") } // the writer was released
            }
        }
    }

    @Test
    fun `a stream nobody handles releases the reader its event hands over`() = lkTest {
        // The library forwards a topic the binding has no handler for (as when a handler is
        // unregistered while a stream arrives): the stream_opened event lists its reader
        // (RoomEvent.owned_handles, ABI 1.11), which the binding releases.
        val inbox = Channel<Pair<String, Int>>(Channel.UNLIMITED)
        Room().use { bob ->
            bob.registerTextStreamHandler("chat") { r, _ -> inbox.send(r.readAll() to bob.liveHandles) }
            bob.client.request(
                lkcore.ffi.v1.Request.newBuilder().setRegisterStreamHandler(
                    lkcore.ffi.v1.RegisterStreamHandlerRequest.newBuilder().setRoomHandle(bob.handle).setKind(lkcore.ffi.v1.StreamKind.STREAM_KIND_TEXT)
                        .setTopic("orphan").setDelivery(lkcore.ffi.v1.DeliveryMode.DELIVERY_MODE_CREDITS).setInitialCredits(StreamReaderBase.CREDITS),
                ),
            )
            bob.connect(DevSfu.url, token("bob"))
            connect("alice").use { alice ->
                alice.sendText("lost", TextStreamOptions(topic = "orphan"))
                // Sent after it, so bob's room handled the orphan stream's event before this one's.
                alice.sendText("kept", TextStreamOptions(topic = "chat"))
                val (text, handles) = withTimeout(GUARD) { inbox.receive() }
                assertEquals("kept", text)
                assertEquals(2, handles, "the room and the handled stream's reader; the orphan stream's reader was released")
            }
            withTimeout(GUARD) { while (bob.liveHandles != 1) delay(10) } // the handler's reader went when it returned
        }
    }

    @Test
    fun `a slow reader gets everything in order`() = lkTest {
        val done = Channel<List<String>>(1)
        Room().use { bob ->
            bob.registerTextStreamHandler("slow") { r, _ ->
                val parts = mutableListOf<String>()
                r.chunks.collect {
                    parts.add(it)
                    delay(5)
                }
                done.send(parts)
            }
            bob.connect(DevSfu.url, token("bob"))
            connect("alice").use { alice ->
                val w = alice.streamText(TextStreamOptions(topic = "slow"))
                val sent = (0 until 100).map { "part-$it;" }
                sent.forEach { w.write(it) }
                w.close()
                val got = withTimeout(GUARD) { done.receive() }
                assertEquals(sent.joinToString(""), got.joinToString(""))
                assertTrue(got.size >= 1)
            }
        }
    }
}
