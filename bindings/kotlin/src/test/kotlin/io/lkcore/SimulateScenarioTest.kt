package io.lkcore

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
