package io.lkcore

import kotlin.test.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds

/**
 * RoomOptions.tlsRootCertificatesPem (ABI 1.30): the roots a room's wss:// signalling trusts
 * instead of the system's. The suite's devsfu also serves wss:// ([DevSfu.tlsUrl]) with a
 * certificate signed by a CA of its own ([DevSfu.caPem]) that no system trusts. The library
 * parses, checks and applies the roots; the binding passes the text on.
 */
class TlsRootsTest : LkTestBase() {
    @Test
    fun `the roots reach the schema's tls_root_certificates_pem, unset by default`() {
        val pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        assertEquals(pem, Convert.roomOptions(RoomOptions(tlsRootCertificatesPem = pem)).tlsRootCertificatesPem.toStringUtf8())
        for (o in listOf(RoomOptions(), RoomOptions(tlsRootCertificatesPem = ""))) {
            assertTrue(Convert.roomOptions(o).tlsRootCertificatesPem.isEmpty, "$o")
        }
        // Value semantics (a String, not a ByteArray compared by identity).
        assertEquals(RoomOptions(tlsRootCertificatesPem = String(pem.toCharArray())), RoomOptions(tlsRootCertificatesPem = pem))
        assertEquals(RoomOptions(tlsRootCertificatesPem = String(pem.toCharArray())).hashCode(), RoomOptions(tlsRootCertificatesPem = pem).hashCode())
        assertNotEquals(RoomOptions(tlsRootCertificatesPem = pem), RoomOptions())
    }

    @Test
    fun `with the server's CA a room connects over wss and is in the room`() = lkTest {
        val tls = DevSfu.tlsUrl
        assertTrue(tls.startsWith("wss://"), tls)
        Room(RoomOptions(tlsRootCertificatesPem = DevSfu.caPem, connectTimeout = 10.seconds)).use { alice ->
            val snap = alice.connect(tls, token("alice"))
            assertEquals("alice", snap.localParticipant.identity)
            assertEquals(roomName, snap.room.name)
            // The same server over ws://: bob sees the session alice joined over wss://, and
            // data alice sends reaches him.
            Room().use { bob ->
                val bobSnap = bob.connect(DevSfu.url, token("bob"))
                assertEquals(listOf("alice" to snap.localParticipant.sid), bobSnap.remoteParticipants.map { it.identity to it.sid })
                val toBob = record(bob)
                val payload = "over wss".encodeToByteArray()
                alice.publishData(payload, topic = "tls")
                assertContentEquals(payload, toBob.await<RoomEvent.DataReceived> { it.packet.topic == "tls" }.packet.payload)
            }
        }
    }

    @Test
    fun `without the server's CA the connect to wss fails with ConnectionFailedException`() = lkTest {
        // The system's roots (no option, or an empty one) do not trust the devsfu's CA.
        for (o in listOf(RoomOptions(connectTimeout = 10.seconds), RoomOptions(tlsRootCertificatesPem = "", connectTimeout = 10.seconds))) {
            Room(o).use { room ->
                val e = assertFailsWith<ConnectionFailedException> { room.connect(DevSfu.tlsUrl, token("bob")) }
                assertTrue("certificate" in e.message.orEmpty(), e.message)
            }
        }
    }

    @Test
    fun `roots holding no certificate or larger than 1 MiB are InvalidArgumentException`() {
        val ca = DevSfu.caPem
        for (pem in listOf("not a certificate", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", "#".repeat(1 shl 20) + ca)) {
            // The room is created eagerly: the library checks its options in the constructor.
            val e = assertFailsWith<InvalidArgumentException> { Room(RoomOptions(tlsRootCertificatesPem = pem)).close() }
            assertTrue("tls_root_certificates_pem" in e.message.orEmpty(), e.message)
        }
        // The same CA, within the cap, is accepted.
        Room(RoomOptions(tlsRootCertificatesPem = ca)).close()
    }
}
