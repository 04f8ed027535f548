package io.lkcore

import java.util.concurrent.TimeUnit
import kotlin.test.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration.Companion.seconds

/**
 * RoomOptions that shape the connection: ICE servers and the relay-only policy, the SCTP receive
 * window and UDP batching (the library applies and checks them; the binding passes them on).
 */
class RoomOptionsTest : LkTestBase() {
    @Test
    fun `every RoomOptions field of the schema can be set`() {
        val o = Convert.roomOptions(
            RoomOptions(
                e2ee = E2eeOptions("key".encodeToByteArray()),
                connectTimeout = 1.seconds,
                joinAttempts = 2,
                maxReconnectAttempts = 3,
                rpcResponseTimeout = 4.seconds,
                dataTrackBufferSize = 5,
                maxIncomingStreamBytes = 6,
                autoSubscribe = true,
                iceServers = listOf(IceServer(listOf("turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"), "u", "secret")),
                iceTransportPolicy = IceTransportPolicy.RELAY,
                sctpReceiveBufferSize = 1 shl 20,
                disableUdpBatching = true,
                dataTrackBufferBytes = 7,
                tlsRootCertificatesPem = "pem",
            ),
        )
        // Every field of the schema is either an option of RoomOptions (each set above, so a
        // new field fails here until the binding exposes it) or one the binding sets itself,
        // listed here with the value it always has.
        val setByBinding = setOf("auto_subscriptions_in_snapshot", "auto_subscription_delivery", "auto_subscription_credits")
        val schema = o.descriptorForType.fields.map { it.name }.toSet()
        assertTrue(schema.containsAll(setByBinding), "$setByBinding not all in $schema")
        assertEquals(schema - setByBinding, o.allFields.keys.map { it.name }.toSet() - setByBinding)
        for (b in listOf(o, Convert.roomOptions(RoomOptions()))) {
            assertTrue(b.autoSubscriptionsInSnapshot)
            // Auto-subscriptions are read like the caller's own: pull, from the library's buffer.
            assertEquals(lkcore.ffi.v1.DeliveryMode.DELIVERY_MODE_PULL, b.autoSubscriptionDelivery)
            assertEquals(0, b.autoSubscriptionCredits) // CREDITS delivery only
        }
        assertEquals(5, o.dataTrackBufferSize)
        assertEquals(7, o.dataTrackBufferBytes)
        assertEquals(listOf("turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"), o.getIceServers(0).urlsList)
        assertEquals("u" to "secret", o.getIceServers(0).username to o.getIceServers(0).credential)
        assertEquals(lkcore.ffi.v1.IceTransportPolicy.ICE_TRANSPORT_POLICY_RELAY, o.iceTransportPolicy)
        assertEquals(1 shl 20, o.sctpReceiveBufferBytes)
        assertTrue(o.disableUdpBatching)
        assertEquals("pem", o.tlsRootCertificatesPem.toStringUtf8()) // checked by the library, not here
        val d = Convert.roomOptions(RoomOptions())
        assertTrue(d.iceServersList.isEmpty() && d.sctpReceiveBufferBytes == 0 && !d.disableUdpBatching && d.dataTrackBufferBytes == 0)
        assertTrue(d.tlsRootCertificatesPem.isEmpty)
        assertEquals(lkcore.ffi.v1.IceTransportPolicy.ICE_TRANSPORT_POLICY_ALL, d.iceTransportPolicy)
        assertFalse("secret" in IceServer(listOf("turn:h:1"), "u", "secret").toString())
        // Value semantics, like RoomOptions itself.
        assertEquals(RoomOptions(iceServers = listOf(IceServer(listOf("stun:h:1")))), RoomOptions(iceServers = listOf(IceServer(listOf("stun:h:1")))))
    }

    @Test
    fun `relay only through the host's own TURN server carries data`() = lkTest {
        TurnSfu().use { sfu ->
            fun relayOnly(id: String) = RoomOptions(iceTransportPolicy = IceTransportPolicy.RELAY, iceServers = listOf(sfu.iceServer(id)))
            sfu.connect(roomName, "alice", relayOnly("alice")).use { alice ->
                sfu.connect(roomName, "bob", relayOnly("bob")).use { bob ->
                    val rec = record(bob)
                    alice.publishData("through the relay".encodeToByteArray(), topic = "relay")
                    val p = rec.await<RoomEvent.DataReceived> { it.packet.topic == "relay" }.packet
                    assertContentEquals("through the relay".encodeToByteArray(), p.payload)
                    // Relay-only candidates: each connection allocated on the TURN server.
                    assertTrue(sfu.turnAllocations() >= 2, "TURN allocations ${sfu.turnAllocations()}")
                    // The connection statistics name the relay (ABI 1.26): a local relay
                    // candidate, reached over UDP (the TURN server's URL above).
                    for (room in listOf(alice, bob)) {
                        val local = assertNotNull(room.connectionStats()).localCandidate
                        assertEquals(IceCandidateType.RELAY to "udp", local.type to local.relayProtocol, "$local")
                        assertTrue(local.ip.isNotEmpty() && local.port > 0, "$local")
                    }
                }
            }
        }
    }

    @Test
    fun `relay only without a TURN server fails naming the relay`() = lkTest {
        TurnSfu().use { sfu ->
            Room(RoomOptions(iceTransportPolicy = IceTransportPolicy.RELAY)).use { room ->
                val e = assertFailsWith<ConnectionFailedException> { room.connect(sfu.url, token("alice")) }
                assertTrue("relay" in e.message.orEmpty().lowercase(), e.message)
            }
            assertEquals(0, sfu.turnAllocations())
        }
    }

    @Test
    fun `an SCTP window out of range is InvalidArgumentException`() {
        for (size in listOf(1, 256 * 1024 - 1, 64 * 1024 * 1024 + 1, -1)) {
            // The room is created eagerly: its options are checked by the constructor.
            assertFailsWith<InvalidArgumentException> { Room(RoomOptions(sctpReceiveBufferSize = size)).close() }
        }
    }

    @Test
    fun `a malformed ICE server is InvalidArgumentException`() {
        for (s in listOf(IceServer(listOf("https://turn.example.com")), IceServer(listOf("turn:127.0.0.1:3478"), "user-only"))) {
            val e = assertFailsWith<InvalidArgumentException> { Room(RoomOptions(iceServers = listOf(s))).close() }
            assertTrue(s.urls[0] in e.message.orEmpty(), e.message)
        }
    }

    @Test
    fun `tuned transport options connect and carry data`() = lkTest {
        connect("alice", RoomOptions(sctpReceiveBufferSize = 4 shl 20, disableUdpBatching = true)).use { alice ->
            connect("bob").use { bob ->
                val toBob = record(bob)
                val toAlice = record(alice)
                val big = ByteArray(60_000) { (it * 7).toByte() }
                alice.publishData(big, topic = "a")
                bob.publishData(big.reversedArray(), topic = "b")
                assertContentEquals(big, toBob.await<RoomEvent.DataReceived> { it.packet.topic == "a" }.packet.payload)
                assertContentEquals(big.reversedArray(), toAlice.await<RoomEvent.DataReceived> { it.packet.topic == "b" }.packet.payload)
            }
        }
    }
}

/**
 * A second lkcore-devsfu with an embedded TURN server it does not announce (`--turn
 * --turn-withhold`): a client reaches it through TURN only with its own ice servers. It has the
 * suite's API key and secret, so [DevSfu.token] tokens are valid there.
 */
private class TurnSfu : AutoCloseable {
    private val bin = env("LKCORE_DEVSFU_BIN")
    private val key = env("LKCORE_DEVSFU_KEY")
    private val secret = env("LKCORE_DEVSFU_SECRET")
    private val proc = ProcessBuilder(bin, "--addr", "127.0.0.1:0", "--key", key, "--secret", secret, "--control", "--turn", "--turn-withhold")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    val url: String

    init {
        // Bounded wait for its first line (a server that never starts must not hang the test).
        val first = java.util.concurrent.CompletableFuture.supplyAsync { proc.inputStream.bufferedReader().readLine() }
        val line = runCatching { first.get(GUARD.inWholeSeconds, TimeUnit.SECONDS) }.getOrNull()
            ?: run { proc.destroyForcibly(); fail("lkcore-devsfu printed nothing") }
        url = Regex("\"url\":\"([^\"]+)\"").find(line)?.groupValues?.get(1) ?: fail("no url in $line")
    }

    private fun get(path: String, vararg params: Pair<String, String>): String =
        controlUri(url, path, *params).toURL().openStream().use { it.readAllBytes().decodeToString() }

    private fun field(json: String, name: String) = Regex("\"$name\":\"([^\"]*)\"").find(json)?.groupValues?.get(1) ?: fail("no $name in $json")

    /** This participant's own TURN configuration, from the control API. */
    fun iceServer(identity: String): IceServer {
        val j = get("turn-credentials", "identity" to identity)
        val urls = Regex("\"urls\":\\[([^]]*)]").find(j)?.groupValues?.get(1)?.split(',')?.map { it.trim('"') } ?: fail("no urls in $j")
        return IceServer(urls, field(j, "username"), field(j, "credential"))
    }

    fun turnAllocations(): Int = Regex("\"Allocations\":(\\d+)").find(get("turn-stats"))?.groupValues?.get(1)?.toInt() ?: fail("no Allocations")

    suspend fun connect(room: String, identity: String, options: RoomOptions): Room {
        val r = Room(options)
        try {
            r.connect(url, DevSfu.token(room, identity))
        } catch (e: Throwable) {
            r.close()
            throw e
        }
        return r
    }

    override fun close() {
        proc.destroy()
        if (!proc.waitFor(10, TimeUnit.SECONDS)) proc.destroyForcibly().waitFor()
    }

    private companion object {
        fun env(name: String): String = System.getenv(name)?.takeIf { it.isNotEmpty() } ?: fail("$name not set (run tests/suites/kotlin.sh)")
    }
}
