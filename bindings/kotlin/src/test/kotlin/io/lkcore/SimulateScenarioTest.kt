package io.lkcore

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue

/**
 * Room.simulateScenario (ABI 1.27) against lkcore-devsfu: each scenario is the library's, and
 * what follows comes as the room's usual events.
 */
class SimulateScenarioTest : LkTestBase() {
    /** The reconnection and disconnection events [rec] recorded, in order. */
    private fun Recorder.connection(): List<RoomEvent> =
        seen.value.filter { it is RoomEvent.Reconnecting || it is RoomEvent.Reconnected || it is RoomEvent.Disconnected }

    private fun List<RoomEvent>.kinds(): List<String> = map {
        when (it) {
            is RoomEvent.Reconnecting -> "reconnecting ${it.kind}"
            is RoomEvent.Reconnected -> "reconnected ${it.kind}"
            is RoomEvent.Disconnected -> "disconnected ${it.reason}"
            else -> it.toString()
        }
    }

    @Test
    fun `every scenario maps to the schema's scenario of its name`() {
        for (s in SimulateScenario.entries) {
            val p = Convert.simulateScenario(s)
            assertEquals("SIMULATE_SCENARIO_${s.name}", p.name)
            assertEquals(s.ordinal + 1, p.number) // never UNSPECIFIED (0)
        }
        // Every scenario of the schema has its constant here.
        val schema = lkcore.ffi.v1.SimulateScenario.entries
            .filter { it != lkcore.ffi.v1.SimulateScenario.UNRECOGNIZED && it != lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_UNSPECIFIED }
        assertEquals(schema.toSet(), SimulateScenario.entries.map(Convert::simulateScenario).toSet())
    }

    @Test
    fun `SIGNAL_RECONNECT resumes the session under the same sid, and a second fault meanwhile is refused as retryable`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(alice)
                val sid = alice.snapshot().localParticipant.sid
                alice.simulateScenario(SimulateScenario.SIGNAL_RECONNECT)
                // The simulated loss is under way (the call returned without waiting for the
                // reconnection): another one is refused, retryable, until the room resumed.
                val busy = assertFailsWith<DisconnectedException> { alice.simulateScenario(SimulateScenario.FULL_RECONNECT) }
                assertTrue(busy.retryable, "refused while a simulated loss is under way: $busy")
                rec.await<RoomEvent.Reconnected>()
                assertEquals(listOf("reconnecting RESUME", "reconnected RESUME"), rec.connection().kinds())
                assertEquals(sid, alice.snapshot().localParticipant.sid)
                // The room still works after the resume.
                val bobRec = record(bob)
                alice.publishData("after resume".encodeToByteArray(), topic = "sim")
                assertContentEquals("after resume".encodeToByteArray(), bobRec.await<RoomEvent.DataReceived>().packet.payload)
            }
        }
    }

    @Test
    fun `FULL_RECONNECT starts a new session with a new sid and publishes local data tracks again`() = lkTest {
        connect("alice").use { alice ->
            val track = alice.publishDataTrack("sim-track")
            val trackSid = track.info.sid
            val rec = record(alice)
            val sid = alice.snapshot().localParticipant.sid
            alice.simulateScenario(SimulateScenario.FULL_RECONNECT)
            rec.await<RoomEvent.Reconnected>()
            assertEquals(listOf("reconnecting FULL", "reconnected FULL"), rec.connection().kinds())
            val newSid = alice.snapshot().localParticipant.sid
            assertNotEquals(sid, newSid)
            assertTrue(newSid.isNotEmpty())
            val moved = rec.await<RoomEvent.LocalDataTrackSidChanged>()
            assertEquals(trackSid, moved.oldSid)
            assertNotEquals(trackSid, moved.track.info.sid)
            track.close()
        }
    }

    /** [scenario] (a server-side drop without a leave): a refused resume, then a full reconnect. */
    private fun serverDrop(scenario: SimulateScenario) = lkTest {
        connect("alice").use { alice ->
            val rec = record(alice)
            val sid = alice.snapshot().localParticipant.sid
            alice.simulateScenario(scenario)
            rec.await<RoomEvent.Reconnected>()
            assertEquals(listOf("reconnecting RESUME", "reconnecting FULL", "reconnected FULL"), rec.connection().kinds())
            assertNotEquals(sid, alice.snapshot().localParticipant.sid)
        }
    }

    @Test
    fun `NODE_FAILURE is a refused resume then a full reconnect`() = serverDrop(SimulateScenario.NODE_FAILURE)

    @Test
    fun `MIGRATION is handled as a node failure`() = serverDrop(SimulateScenario.MIGRATION)

    @Test
    fun `DISCONNECT_SIGNAL_ON_RESUME resumes again after the first resume is cut`() = lkTest {
        connect("alice").use { alice ->
            val rec = record(alice)
            val sid = alice.snapshot().localParticipant.sid
            alice.simulateScenario(SimulateScenario.DISCONNECT_SIGNAL_ON_RESUME)
            rec.await<RoomEvent.Reconnected>()
            val kinds = rec.connection().kinds()
            assertEquals("reconnecting RESUME", kinds.first(), "$kinds")
            assertEquals("reconnected RESUME", kinds.last(), "$kinds")
            assertFalse(kinds.any { it.endsWith("FULL") || it.startsWith("disconnected") }, "$kinds")
            assertEquals(sid, alice.snapshot().localParticipant.sid)
        }
    }

    @Test
    fun `SERVER_LEAVE ends the room with SERVER_SHUTDOWN, after which the room refuses`() = lkTest {
        connect("alice").use { alice ->
            val rec = record(alice)
            alice.simulateScenario(SimulateScenario.SERVER_LEAVE)
            val d = rec.await<RoomEvent.Disconnected>()
            assertEquals(DisconnectReason.SERVER_SHUTDOWN, d.reason)
            assertEquals(listOf("disconnected SERVER_SHUTDOWN"), rec.connection().kinds())
            val ended = assertFailsWith<DisconnectedException> { alice.simulateScenario(SimulateScenario.SIGNAL_RECONNECT) }
            assertFalse(ended.retryable, "an ended room: $ended")
        }
    }

    @Test
    fun `SPEAKER_UPDATE reports alice speaking at 0_9 for 3 s to herself and her data track's subscriber, and breaks nothing`() = lkTest {
        // devsfu does as livekit-server: one speaker entry about alice (0.9, unquantised) to her
        // and to those subscribed to her tracks, data tracks included; a stopped one 3 s later.
        suspend fun Recorder.speaking(on: Boolean, l: Float) = await<RoomEvent.ParticipantUpdated> {
            it.speakingChanged && it.participant.identity == "alice" && it.participant.isSpeaking == on && it.participant.audioLevel == l
        }

        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(alice)
                val bobRec = record(bob)
                val track = alice.publishDataTrack("voice")
                val remote = bobRec.await<RoomEvent.DataTrackPublished> { it.track.info.name == "voice" }.track
                remote.openSubscription().use { sub ->
                    sub.awaitSubscribed(GUARD)
                    val got = Channel<String>(Channel.UNLIMITED)
                    val reader = launch { sub.frames().collect { got.send(it.payload.decodeToString()) } }
                    // A frame arrived: bob's subscription is established at the server, which
                    // then sends him the speaker entries about alice.
                    assertEquals("warm-up", withTimeout(GUARD) { pushUntilReceived(track, got, "warm-up") })
                    val sid = alice.snapshot().localParticipant.sid
                    assertEquals(emptyList(), alice.activeSpeakers)
                    assertEquals(emptyList(), bob.activeSpeakers)

                    alice.simulateScenario(SimulateScenario.SPEAKER_UPDATE)
                    val asked = System.nanoTime()
                    for ((who, r, room) in listOf(Triple("bob", bobRec, bob), Triple("alice", rec, alice))) {
                        val on = r.speaking(true, 0.9f)
                        assertOnlySpeaking(on)
                        assertEquals(listOf(listOf("alice")), r.speakerLists(1), who)
                        r.assertBefore(on, 1)
                        assertEquals(listOf("alice"), room.activeSpeakers, who)
                    }
                    bob.snapshot().let { s ->
                        assertEquals(listOf("alice"), s.activeSpeakers)
                        assertTrue(s.remoteParticipants.single { it.identity == "alice" }.let { it.isSpeaking && it.audioLevel == 0.9f })
                    }
                    assertTrue(alice.snapshot().localParticipant.let { it.isSpeaking && it.audioLevel == 0.9f })

                    // About 3 s later, stopped (each wait bounded by GUARD, 20 s).
                    for ((who, r, room) in listOf(Triple("bob", bobRec, bob), Triple("alice", rec, alice))) {
                        val off = r.speaking(false, 0f)
                        assertOnlySpeaking(off)
                        assertEquals(listOf(listOf("alice"), emptyList()), r.speakerLists(2), who)
                        r.assertBefore(off, 2)
                        assertEquals(emptyList(), room.activeSpeakers, who)
                    }
                    val lasted = (System.nanoTime() - asked) / 1_000_000
                    assertTrue(lasted >= 2_000, "stopped after $lasted ms, not about 3 s")
                    assertEquals(emptyList(), bob.snapshot().activeSpeakers)
                    assertFalse(bob.snapshot().remoteParticipants.single { it.identity == "alice" }.isSpeaking)

                    // No fault: nothing reconnected, the same session, and it still carries data.
                    assertEquals(emptyList(), rec.connection().kinds())
                    assertEquals(emptyList(), bobRec.connection().kinds())
                    assertEquals(sid, alice.snapshot().localParticipant.sid)
                    // Only alice's two changes: nobody else was reported speaking.
                    assertEquals(2, bobRec.all<RoomEvent.ParticipantUpdated>().count { it.speakingChanged })
                    assertEquals(2, rec.all<RoomEvent.ParticipantUpdated>().count { it.speakingChanged })
                    val bobData = record(bob)
                    alice.publishData("after speaker".encodeToByteArray(), topic = "sim")
                    assertContentEquals("after speaker".encodeToByteArray(), bobData.await<RoomEvent.DataReceived>().packet.payload)
                    reader.cancel()
                }
                track.close()
            }
        }
    }

    @Test
    fun `a room that never connected, an unspecified scenario and a closed room are refused typed`() = lkTest {
        Room().use { room ->
            val e = assertFailsWith<DisconnectedException> { room.simulateScenario(SimulateScenario.SIGNAL_RECONNECT) }
            assertFalse(e.retryable, "never connected: $e")
            assertEquals(1, room.liveHandles)
        }
        // The enum cannot express UNSPECIFIED; the library's refusal of it, through the same call.
        connect("alice").use { alice ->
            fun raw(n: Int) = lkcore.ffi.v1.Request.newBuilder().setSimulateScenario(
                lkcore.ffi.v1.SimulateScenarioRequest.newBuilder().setRoomHandle(alice.handle).setScenarioValue(n),
            )
            assertFailsWith<InvalidArgumentException> { alice.client.call(raw(0)) }
            assertFailsWith<InvalidArgumentException> { alice.client.call(raw(99)) }
            alice.close()
            assertFailsWith<ClientClosedException> { alice.simulateScenario(SimulateScenario.SIGNAL_RECONNECT) }
        }
    }
}
