package io.lkcore

import org.junit.jupiter.api.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout

/** End-to-end encryption with a shared key against lkcore-devsfu. */
class E2eeTest : LkTestBase() {
    private fun e2ee(key: String) = RoomOptions(e2ee = E2eeOptions(key.encodeToByteArray()))

    @Test
    fun `right key decrypts packets and data-track frames`() = lkTest {
        connect("alice", e2ee("shared")).use { alice ->
            connect("bob", e2ee("shared")).use { bob ->
                assertTrue(alice.e2eeStats().enabled)
                val rec = record(bob)
                alice.publishData("secret".encodeToByteArray(), topic = "s")
                val p = rec.await<RoomEvent.DataReceived>().packet
                assertContentEquals("secret".encodeToByteArray(), p.payload)
                assertTrue(p.encrypted)

                val track = alice.publishDataTrack("enc")
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                assertTrue(remote.info.usesE2ee)
                remote.openSubscription().use { sub ->
                    sub.awaitSubscribed()
                    val f = async { sub.frames().first() }
                    track.push("frame".encodeToByteArray(), userTimestamp = 5)
                    val got = withTimeout(GUARD) { f.await() }
                    assertContentEquals("frame".encodeToByteArray(), got.payload)
                    assertEquals(5L, got.userTimestamp)
                }
                assertEquals(0L, bob.e2eeStats().decryptionFailures)
            }
        }
    }

    @Test
    fun `wrong key is reported, not delivered, and key rotation recovers`() = lkTest {
        connect("bob", e2ee("bob's key")).use { bob ->
            val rec = record(bob)
            connect("alice", e2ee("alice's key")).use { alice ->
                alice.publishData("unreadable".encodeToByteArray(), topic = "s")
                val st = rec.await<RoomEvent.EncryptionStateChanged>()
                assertEquals("alice", st.participantIdentity)
                assertTrue(st.state == EncryptionState.DECRYPTION_FAILED || st.state == EncryptionState.MISSING_KEY, "got ${st.state}")
                assertTrue(bob.e2eeStats().decryptionFailures >= 1)
                alice.setSharedKey("rotated".encodeToByteArray(), keyIndex = 1)
                bob.setSharedKey("rotated".encodeToByteArray(), keyIndex = 1)
                alice.publishData("readable".encodeToByteArray(), topic = "s2")
                val p = rec.await<RoomEvent.DataReceived> { it.packet.topic == "s2" }.packet
                assertContentEquals("readable".encodeToByteArray(), p.payload)
                assertTrue(rec.all<RoomEvent.DataReceived>().none { it.packet.topic == "s" })
                // Decrypting again is reported, and the library holds alice's state (ABI 1.17).
                rec.await<RoomEvent.EncryptionStateChanged> { it.state == EncryptionState.OK }
                assertEquals(EncryptionState.OK, bob.encryptionState("alice"))
                assertEquals(mapOf("alice" to EncryptionState.OK), bob.e2eeStats().encryptionStates)
                // The server announces a participant that publishes nothing with its next batch of
                // updates, and one that joins and leaves within a batch is never announced, nor
                // its departure: alice must be known before her departure is awaited below.
                rec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "alice" }
            }
            // alice left: her state went with her.
            rec.await<RoomEvent.ParticipantDisconnected> { it.identity == "alice" }
            assertEquals(EncryptionState.UNSPECIFIED, bob.encryptionState("alice"))
            assertEquals(emptyMap(), bob.e2eeStats().encryptionStates)
        }
    }
}
