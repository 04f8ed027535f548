package io.lkcore

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/**
 * A long-lived room whose peer comes and goes, as in a host that runs for days: after each of
 * bob's sessions (a data track auto-subscribed by the host and never taken, RPC both ways, a
 * text stream, a data packet) the host holds nothing of it — one handle (its room) and empty
 * track, subscription and reader tables.
 */
class ChurnTest : LkTestBase() {
    @Test
    fun `a peer's sessions leave nothing behind`() = lkTest {
        Room(RoomOptions(autoSubscribe = true)).use { host ->
            val published = Channel<RemoteDataTrack>(Channel.UNLIMITED)
            val unpublished = Channel<String>(Channel.UNLIMITED)
            val left = Channel<String>(Channel.UNLIMITED)
            val packets = Channel<String>(Channel.UNLIMITED)
            val texts = Channel<String>(Channel.UNLIMITED)
            bg.launch(start = CoroutineStart.UNDISPATCHED) {
                host.events.collect { e ->
                    when (e) {
                        is RoomEvent.DataTrackPublished -> published.send(e.track)
                        is RoomEvent.DataTrackUnpublished -> unpublished.send(e.sid)
                        is RoomEvent.ParticipantDisconnected -> left.send(e.identity)
                        is RoomEvent.DataReceived -> packets.send(e.packet.payload.decodeToString())
                        else -> {}
                    }
                }
            }
            host.registerRpcMethod("echo") { it.payload }
            // The reader is released before the text is handed over: once the test has the text,
            // its handle is gone (the binding's own close after the handler could still be pending).
            host.registerTextStreamHandler("chat") { r, _ -> texts.send(r.use { it.readAll() }) }
            host.connect(DevSfu.url, token("host"))
            val bobToken = token("bob")
            repeat(40) { i ->
                Room().use { bob ->
                    bob.registerRpcMethod("echo") { it.payload }
                    bob.connect(DevSfu.url, bobToken)
                    val track = bob.publishDataTrack("telemetry")
                    val remote = withTimeout(GUARD) { published.receive() }
                    assertEquals("bob" to "telemetry", remote.publisherIdentity to remote.info.name)
                    assertEquals(track.info.sid, remote.info.sid)
                    val big = "$i:" + "y".repeat(20_000) // above the RPC v1 limit: over data streams
                    assertEquals(big, bob.performRpc("host", "echo", big, GUARD))
                    assertEquals("$i", host.performRpc("bob", "echo", "$i", GUARD))
                    bob.sendText("$i:" + "z".repeat(50_000), TextStreamOptions(topic = "chat"))
                    assertTrue(withTimeout(GUARD) { texts.receive() }.startsWith("$i:"))
                    bob.publishData("$i".encodeToByteArray(), topic = "churn")
                    assertEquals("$i", withTimeout(GUARD) { packets.receive() })
                    bob.disconnect()
                    assertEquals("bob", withTimeout(GUARD) { left.receive() })
                    assertEquals(remote.info.sid, withTimeout(GUARD) { unpublished.receive() })
                }
                assertEquals(1, host.liveHandles, "cycle $i: the host holds only its room")
                assertTrue(host.autoSubscriptions.isEmpty(), "cycle $i: ${host.autoSubscriptions}")
                assertTrue(host.subscriptions.isEmpty(), "cycle $i: ${host.subscriptions}")
                assertTrue(host.readers.isEmpty(), "cycle $i: ${host.readers}")
                assertTrue(synchronized(host.trackLock) { host.remoteTracks.isEmpty() }, "cycle $i: ${host.remoteTracks}")
            }
        }
    }
}
