package io.lkcore

import org.junit.jupiter.api.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertSame
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull

/** Rooms, participants and data packets against lkcore-devsfu. */
class RoomTest : LkTestBase() {
    @Test
    fun `connect gives a snapshot and participants join and leave as deltas`() = lkTest {
        Room().use { alice ->
            val rec = record(alice)
            val snap = alice.connect(DevSfu.url, token("alice"))
            assertEquals(roomName, snap.room.name)
            assertTrue(snap.room.sid.isNotEmpty())
            assertEquals("alice", snap.localParticipant.identity)
            assertTrue(snap.remoteParticipants.isEmpty())
            assertEquals(1, alice.liveHandles)
            assertFailsWith<FailedPreconditionException> { alice.connect(DevSfu.url, token("alice")) }

            connect("bob").use { bob ->
                val joined = rec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "bob" }
                assertTrue(joined.participant.sid.isNotEmpty())
                assertEquals(listOf("bob"), alice.snapshot().remoteParticipants.map { it.identity })
                assertEquals(listOf("alice"), bob.snapshot().remoteParticipants.map { it.identity })
                bob.disconnect()
                assertTrue(bob.isClosed)
            }
            val left = rec.await<RoomEvent.ParticipantDisconnected> { it.identity == "bob" }
            assertEquals("bob", left.identity)
            alice.disconnect()
            alice.disconnect() // idempotent
        }
    }

    @Test
    fun `requested snapshots agree with the events before them`() = lkTest {
        Room().use { early -> assertFailsWith<DisconnectedException> { early.requestSnapshot() } }
        Room().use { alice ->
            val rec = record(alice)
            val first = alice.connect(DevSfu.url, token("alice"))
            // Churn: participants join, set their metadata and publish a track; every other one
            // takes it back and leaves. Meanwhile alice keeps asking for snapshots.
            val stay = mutableListOf<Room>()
            try {
                val churn = launch {
                    for (i in 1..4) {
                        val p = connect("p$i")
                        p.setLocalMetadata("m$i")
                        val t = p.publishDataTrack("t$i")
                        if (i % 2 == 0) {
                            t.unpublish()
                            p.disconnect()
                        } else {
                            stay += p
                        }
                    }
                }
                while (churn.isActive) {
                    alice.requestSnapshot()
                    delay(2)
                }
                churn.join()
                val left = rec.await<RoomEvent.ParticipantDisconnected> { it.identity == "p4" }
                alice.requestSnapshot()
                val events = withTimeout(GUARD) {
                    rec.seen.first { l -> l.indexOf(left).let { i -> l.drop(i + 1).any { it is RoomEvent.SnapshotTaken } } }
                }

                // Replay: the connect snapshot plus the events as deltas must equal every snapshot
                // event where it comes — the room's info, every participant's info (ABI 1.16: every
                // change of them has its event) — with the same track objects.
                val parts = first.remoteParticipants.associateBy { it.identity }.toMutableMap()
                var local = first.localParticipant
                var info = first.room
                var speakers = first.activeSpeakers
                val tracks = first.remoteDataTracks.associateBy { "${it.publisherIdentity}/${it.info.name}" }.toMutableMap()
                var snapshots = 0
                for (e in events) {
                    when (e) {
                        is RoomEvent.ParticipantConnected -> parts[e.participant.identity] = e.participant
                        is RoomEvent.ParticipantDisconnected -> parts.remove(e.identity)
                        is RoomEvent.ParticipantUpdated -> when (e.participant.identity) {
                            local.identity -> local = e.participant
                            in parts -> parts[e.participant.identity] = e.participant
                        }
                        is RoomEvent.RoomUpdated -> info = e.info
                        is RoomEvent.ActiveSpeakersChanged -> speakers = e.speakers
                        is RoomEvent.DataTrackPublished -> tracks["${e.track.publisherIdentity}/${e.track.info.name}"] = e.track
                        is RoomEvent.DataTrackUnpublished -> tracks.remove("${e.publisherIdentity}/${e.name}")
                        is RoomEvent.SnapshotTaken -> {
                            snapshots++
                            assertEquals(parts, e.snapshot.remoteParticipants.associateBy { it.identity }, "participants of snapshot $snapshots")
                            assertEquals(local, e.snapshot.localParticipant, "local participant of snapshot $snapshots")
                            assertEquals(info.copy(connectionState = e.snapshot.room.connectionState), e.snapshot.room, "room of snapshot $snapshots")
                            assertEquals(speakers, e.snapshot.activeSpeakers, "speakers of snapshot $snapshots")
                            assertEquals(tracks.keys, e.snapshot.remoteDataTracks.map { "${it.publisherIdentity}/${it.info.name}" }.toSet(), "tracks of snapshot $snapshots")
                            e.snapshot.remoteDataTracks.forEach { assertSame(tracks["${it.publisherIdentity}/${it.info.name}"], it, "one object per track") }
                            assertEquals(ConnectionState.CONNECTED, e.snapshot.room.connectionState)
                        }
                        else -> {}
                    }
                }
                assertTrue(snapshots >= 1)
                assertEquals(mapOf("p1" to "m1", "p3" to "m3"), parts.mapValues { it.value.metadata })
                assertEquals(setOf("p1/t1", "p3/t3"), tracks.keys)
            } finally {
                stay.forEach { it.close() }
            }
            alice.disconnect() // which also releases the room
            assertFailsWith<ClientClosedException> { alice.requestSnapshot() }
        }
    }

    @Test
    fun `a move to another room is reported as deltas around RoomMoved`() = lkTest {
        // LiveKit Cloud's MoveParticipant, played by devsfu (POST /devsfu/move).
        val a = roomName + "-a"
        val b = roomName + "-b"
        Room().use { alice ->
            Room().use { bob ->
                Room().use { m ->
                    alice.connect(DevSfu.url, DevSfu.token(a, "alice"))
                    bob.connect(DevSfu.url, DevSfu.token(b, "bob"))
                    alice.publishDataTrack("ta")
                    bob.publishDataTrack("tb")
                    val rec = record(m)
                    m.connect(DevSfu.url, DevSfu.token(a, "m"))
                    DevSfu.control("move", "room" to a, "identity" to "m", "destination" to b)
                    rec.await<RoomEvent.DataTrackPublished> { it.track.info.name == "tb" }
                    val order = rec.seen.value.mapNotNull { e ->
                        when (e) {
                            is RoomEvent.DataTrackUnpublished -> "unpublished ${e.name}"
                            is RoomEvent.ParticipantDisconnected -> "left ${e.identity}"
                            is RoomEvent.RoomMoved -> "moved ${e.oldRoomName}>${e.info.name}"
                            is RoomEvent.ParticipantConnected -> "joined ${e.participant.identity}"
                            is RoomEvent.DataTrackPublished -> "published ${e.track.info.name}"
                            else -> null
                        }
                    }
                    assertEquals(listOf("unpublished ta", "left alice", "moved $a>$b", "joined bob", "published tb"), order)
                    val snap = m.snapshot()
                    assertEquals(b, snap.room.name)
                    assertEquals(listOf("bob"), snap.remoteParticipants.map { it.identity })
                }
            }
        }
    }

    @Test
    fun `bad token is unauthorized`() = lkTest {
        Room().use { room ->
            assertFailsWith<UnauthorizedException> { room.connect(DevSfu.url, "not-a-token") }
        }
    }

    @Test
    fun `data packets reach their destinations only`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                connect("carol").use { carol ->
                    val bobRec = record(bob)
                    val carolRec = record(carol)
                    alice.publishData("to bob".encodeToByteArray(), topic = "t1", destinations = listOf("bob"))
                    alice.publishData("lossy all".encodeToByteArray(), reliable = false, topic = "t2")
                    alice.publishData("to all".encodeToByteArray(), topic = "t3")
                    val p1 = bobRec.await<RoomEvent.DataReceived> { it.packet.topic == "t1" }.packet
                    assertEquals("alice", p1.participantIdentity)
                    assertContentEquals("to bob".encodeToByteArray(), p1.payload)
                    assertTrue(p1.reliable && !p1.encrypted)
                    bobRec.await<RoomEvent.DataReceived> { it.packet.topic == "t3" }
                    carolRec.await<RoomEvent.DataReceived> { it.packet.topic == "t3" }
                    // reliable packets arrive in order: t3 after t1, so carol would have had t1 by now
                    assertTrue(carolRec.all<RoomEvent.DataReceived>().none { it.packet.topic == "t1" })
                    val big = ByteArray(15_000) { it.toByte() }
                    alice.publishData(big, topic = "big")
                    assertContentEquals(big, bobRec.await<RoomEvent.DataReceived> { it.packet.topic == "big" }.packet.payload)
                    assertFailsWith<PayloadTooLargeException> { alice.publishData(ByteArray(200_000), topic = "huge") }
                }
            }
        }
    }

    @Test
    fun `room info follows publishers and recording`() = lkTest {
        connect("alice").use { alice ->
            val rec = record(alice)
            val info = alice.snapshot().room
            assertEquals(300 to 20, info.emptyTimeoutSeconds to info.departureTimeoutSeconds)
            assertEquals(0 to false, info.numPublishers to info.activeRecording)
            connect("bob").use { bob ->
                bob.publishDataTrack("t")
                rec.await<RoomEvent.RoomUpdated> { it.info.numPublishers == 1 }
                DevSfu.control("recording", "room" to roomName, "on" to "true")
                val on = rec.await<RoomEvent.RoomUpdated> { it.info.activeRecording }.info
                assertEquals(1, on.numPublishers)
                assertTrue(alice.snapshot().room.activeRecording)
            }
        }
    }

    @Test
    fun `room info names the server, from connect, snapshots and room updates`() = lkTest {
        Room().use { alice ->
            val rec = record(alice)
            val server = alice.connect(DevSfu.url, token("alice")).room.server
            // devsfu's join response (tests/suites/kotlin.sh starts it with --region test-region).
            assertEquals(ServerEdition.STANDARD, server.edition)
            assertEquals("1.13.5" to 17, server.version to server.protocol)
            assertEquals("test-region", server.region)
            assertTrue(server.nodeId.startsWith("ND_") && server.nodeId.length > 3, server.nodeId)
            // One server process, one node: bob's session is on the same one.
            connect("bob").use { bob ->
                assertEquals(server, bob.snapshot().room.server)
                // The snapshot paths and room updates carry it too (a full reconnect could change it).
                assertEquals(server, alice.snapshot().room.server)
                alice.requestSnapshot()
                assertEquals(server, rec.await<RoomEvent.SnapshotTaken>().snapshot.room.server)
                bob.publishDataTrack("t")
                assertEquals(server, rec.await<RoomEvent.RoomUpdated> { it.info.numPublishers == 1 }.info.server)
            }
        }
    }

    @Test
    fun `server info converts every field, and an edition newer than the binding reads as STANDARD`() {
        fun server(edition: Int) = Convert.roomInfo(
            lkcore.ffi.v1.RoomInfo.newBuilder().setSid("RM_x").setServer(
                lkcore.ffi.v1.ServerInfo.newBuilder().setEditionValue(edition).setVersion("2.0.1").setProtocol(16)
                    .setRegion("eu-central").setNodeId("ND_abc"),
            ).build(),
        ).server
        assertEquals(ServerInfo(ServerEdition.CLOUD, "2.0.1", 16, "eu-central", "ND_abc"), server(1))
        assertEquals(ServerEdition.STANDARD, server(0).edition)
        assertEquals(ServerInfo(ServerEdition.STANDARD, "2.0.1", 16, "eu-central", "ND_abc"), server(7))
        // A room info without one (an unset message) reads as an empty server, never fails.
        assertEquals(ServerInfo(ServerEdition.STANDARD, "", 0, "", ""), Convert.roomInfo(lkcore.ffi.v1.RoomInfo.getDefaultInstance()).server)
    }

    @Test
    fun `participant kinds and kind details come from the tokens`() = lkTest {
        connect("observer").use { observer ->
            val rec = record(observer)
            Room().use { twilio ->
                val snap = twilio.connect(DevSfu.url, token("twilio", "--kind", "connector", "--kind-details", "connector_twilio,forwarded"))
                val want = listOf(ParticipantKindDetail.CONNECTOR_TWILIO, ParticipantKindDetail.FORWARDED)
                assertEquals(ParticipantKind.CONNECTOR, snap.localParticipant.kind)
                assertEquals(want, snap.localParticipant.kindDetails)
                val seen = rec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "twilio" }.participant
                assertEquals(ParticipantKind.CONNECTOR, seen.kind)
                assertEquals(want, seen.kindDetails)
                assertEquals(emptyList(), observer.snapshot().localParticipant.kindDetails)
            }
        }
    }

    @Test
    fun `DTMF reaches the others in order with data packets`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                connect("carol").use { carol ->
                    val bobRec = record(bob)
                    val carolRec = record(carol)
                    // Refused before sending: bob's first event below is the data packet.
                    for ((code, digit) in listOf(256 to "1", -1 to "1", 1 to "", 1 to "1".repeat(257))) {
                        assertFailsWith<InvalidArgumentException>("code $code digit ${digit.length}") { alice.publishDtmf(code, digit) }
                    }
                    alice.publishData("before".encodeToByteArray(), topic = "d")
                    alice.publishDtmf(11, "#")
                    alice.publishData("after".encodeToByteArray(), topic = "d")
                    bobRec.await<RoomEvent.DataReceived> { it.packet.payload.decodeToString() == "after" }
                    val order = bobRec.seen.value.mapNotNull {
                        when (it) {
                            is RoomEvent.DataReceived -> it.packet.payload.decodeToString()
                            is RoomEvent.SipDtmfReceived -> "${it.participantIdentity} ${it.code}:${it.digit}"
                            else -> null
                        }
                    }
                    assertEquals(listOf("before", "alice 11:#", "after"), order)
                    // Destinations: only carol gets the first; bob's next DTMF is the broadcast.
                    alice.publishDtmf(1, "1", destinations = listOf("carol"))
                    alice.publishDtmf(2, "2")
                    carolRec.await<RoomEvent.SipDtmfReceived> { it.code == 2 }
                    bobRec.await<RoomEvent.SipDtmfReceived> { it.code == 2 }
                    assertEquals(listOf(11, 1, 2), carolRec.all<RoomEvent.SipDtmfReceived>().map { it.code })
                    assertEquals(listOf(11, 2), bobRec.all<RoomEvent.SipDtmfReceived>().map { it.code })
                }
            }
        }
    }

    @Test
    fun `subscription permissions revoke and grant bob's data track subscription, which stays open and resumes`() = lkTest {
        Room().use { early -> assertFailsWith<DisconnectedException> { early.setTrackSubscriptionPermissions(true) } }
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val bobRec = record(bob)
                val track = alice.publishDataTrack("sensor")
                val sid = track.info.sid
                val remote = bobRec.await<RoomEvent.DataTrackPublished> { it.track.info.name == "sensor" }.track
                // What a collector of bob's events reads in each permission change: allowed, and the
                // track's subscriptionRevoked there (ABI 1.23), already the new state.
                val inFlow = Channel<Pair<Boolean, Boolean>>(Channel.UNLIMITED)
                bg.launch(start = CoroutineStart.UNDISPATCHED) {
                    bob.events.filterIsInstance<RoomEvent.DataTrackSubscriptionPermissionChanged>().collect { inFlow.send(it.allowed to it.track.subscriptionRevoked) }
                }
                // The track object's state is the library's (its snapshot, read directly).
                fun revokedIs(want: Boolean, what: String) {
                    assertEquals(want, remote.subscriptionRevoked, "subscriptionRevoked $what")
                    assertEquals(want, libraryRevoked(bob), "the library's subscription_revoked $what")
                }
                assertFalse(remote.subscriptionRevoked, "not subscribed")
                remote.openSubscription().use { sub ->
                    sub.awaitSubscribed(GUARD)
                    val got = Channel<String>(Channel.UNLIMITED)
                    val reader = launch { sub.frames().collect { got.send(it.payload.decodeToString()) } }
                    track.push("before".encodeToByteArray())
                    assertEquals("before", withTimeout(GUARD) { got.receive() })
                    revokedIs(false, "while subscribed and allowed")

                    // Refused before anything is sent: bob's first permission change is the revocation.
                    assertFailsWith<InvalidArgumentException> {
                        alice.setTrackSubscriptionPermissions(false, listOf(TrackPermission("carol", allTracks = true), TrackPermission("")))
                    }
                    // Only carol may subscribe: bob is told, his subscription stays open.
                    alice.setTrackSubscriptionPermissions(false, listOf(TrackPermission("carol", allTracks = true)))
                    val revoked = bobRec.await<RoomEvent.DataTrackSubscriptionPermissionChanged>()
                    assertEquals(RoomEvent.DataTrackSubscriptionPermissionChanged("alice", "sensor", sid, false, remote), revoked)
                    assertSame(remote, revoked.track, "the room's object for the track")
                    assertEquals(false to true, withTimeout(GUARD) { inFlow.receive() }, "revoked as the revocation is delivered")
                    revokedIs(true, "after the revocation")
                    // A snapshot at its place among the events says the same, on the same object.
                    bob.requestSnapshot()
                    val snap = bobRec.await<RoomEvent.SnapshotTaken>().snapshot.remoteDataTracks.single()
                    assertSame(remote, snap)
                    assertTrue(snap.subscriptionRevoked)
                    // Sent while revoked (the server took bob's handle before telling him): not
                    // delivered while he stays revoked.
                    track.push("during".encodeToByteArray())
                    track.flush()
                    assertEquals(null, withTimeoutOrNull(300) { got.receive() }, "a frame reached bob while revoked")

                    // Everyone again: the same subscription resumes by itself. ("during" is read
                    // past: had it still been on its way to the server at the grant, the server
                    // would rightly forward it.)
                    alice.setTrackSubscriptionPermissions(true)
                    val granted = bobRec.await<RoomEvent.DataTrackSubscriptionPermissionChanged> { it.allowed }
                    assertEquals(RoomEvent.DataTrackSubscriptionPermissionChanged("alice", "sensor", sid, true, remote), granted)
                    assertEquals(true to false, withTimeout(GUARD) { inFlow.receive() }, "allowed as the grant is delivered")
                    revokedIs(false, "after the grant")
                    assertEquals("after", withTimeout(GUARD) { pushUntilReceived(track, got, "after", stale = "during") })
                    assertEquals(null, sub.end, "the subscription never ended")

                    // By sid: another track's sid allows bob nothing, this track's sid allows him again.
                    alice.setTrackSubscriptionPermissions(false, listOf(TrackPermission("bob", trackSids = listOf("DTR_other"))))
                    withTimeout(GUARD) { bobRec.seen.first { l -> l.filterIsInstance<RoomEvent.DataTrackSubscriptionPermissionChanged>().size == 3 } }
                    assertEquals(false to true, withTimeout(GUARD) { inFlow.receive() })
                    revokedIs(true, "revoked by sid")
                    alice.setTrackSubscriptionPermissions(false, listOf(TrackPermission("bob", trackSids = listOf(sid))))
                    withTimeout(GUARD) { bobRec.seen.first { l -> l.filterIsInstance<RoomEvent.DataTrackSubscriptionPermissionChanged>().size == 4 } }
                    assertEquals(true to false, withTimeout(GUARD) { inFlow.receive() })
                    revokedIs(false, "allowed by sid")
                    assertEquals(listOf(false, true, false, true), bobRec.all<RoomEvent.DataTrackSubscriptionPermissionChanged>().map { it.allowed })
                    assertEquals("again", withTimeout(GUARD) { pushUntilReceived(track, got, "again", stale = "after") })
                    reader.cancel()
                }
                assertEquals(1, bob.liveHandles, "bob holds only the room")
            }
        }
    }

    @Test
    fun `connection quality ratings reach the participant rated and its subscribers, and the models follow`() = lkTest {
        // The server (every 200 ms in this suite) rates a participant to itself and to those
        // subscribed to one of its tracks, when one joins or a rating changes.
        Room().use { alice ->
            val rec = record(alice) // from before connecting
            alice.connect(DevSfu.url, token("alice"))
            connect("bob").use { bob ->
                val bobRec = record(bob)
                val track = alice.publishDataTrack("sensor")
                val remote = bobRec.await<RoomEvent.DataTrackPublished> { it.track.info.name == "sensor" }.track
                suspend fun Recorder.rated(identity: String, q: ConnectionQuality) = await<RoomEvent.ParticipantUpdated> {
                    it.connectionQualityChanged && it.participant.identity == identity && it.participant.connectionQuality == q
                }
                fun onlyQuality(u: RoomEvent.ParticipantUpdated, old: ConnectionQuality) = assertEquals(
                    RoomEvent.ParticipantUpdated(u.participant, emptyList(), false, false, false, connectionQualityChanged = true, oldConnectionQuality = old),
                    u,
                )

                // Alice's own first rating: a participant without media is EXCELLENT. One that came
                // before connect() returned is in its snapshot, not an event: wait for the state,
                // then check the event if there is one.
                withTimeout(GUARD) {
                    while (alice.snapshot().localParticipant.connectionQuality != ConnectionQuality.EXCELLENT) delay(10)
                }
                rec.all<RoomEvent.ParticipantUpdated>().filter { it.connectionQualityChanged }.forEach { onlyQuality(it, ConnectionQuality.UNKNOWN) }
                // Bob subscribes to nothing yet: not told alice's.
                assertEquals(ConnectionQuality.UNKNOWN, bob.snapshot().remoteParticipants.single { it.identity == "alice" }.connectionQuality)

                // Bob's own first rating came with the rating that followed his join: subscribed only
                // after it, he is not told alice's before it changes.
                withTimeout(GUARD) {
                    while (bob.snapshot().localParticipant.connectionQuality != ConnectionQuality.EXCELLENT) delay(10)
                }
                remote.openSubscription().use { sub ->
                    sub.awaitSubscribed(GUARD)
                    val got = Channel<String>(Channel.UNLIMITED)
                    val reader = launch { sub.frames().collect { got.send(it.payload.decodeToString()) } }
                    // A frame arrived: bob's subscription is established at the server.
                    assertEquals("warm-up", withTimeout(GUARD) { pushUntilReceived(track, got, "warm-up") })
                    try {
                        DevSfu.control("connection-quality", "room" to roomName, "identity" to "alice", "quality" to "POOR")
                        // Bob's first rating of alice (he had not been told one before).
                        onlyQuality(bobRec.rated("alice", ConnectionQuality.POOR), ConnectionQuality.UNKNOWN)
                        assertEquals(ConnectionQuality.POOR, bob.snapshot().remoteParticipants.single { it.identity == "alice" }.connectionQuality)
                        // Alice's own new rating, after EXCELLENT.
                        onlyQuality(rec.rated("alice", ConnectionQuality.POOR), ConnectionQuality.EXCELLENT)
                        assertEquals(ConnectionQuality.POOR, alice.snapshot().localParticipant.connectionQuality)
                        // Her first rating as an event or in her connect snapshot, then the change.
                        val ratings = rec.all<RoomEvent.ParticipantUpdated>().filter { it.connectionQualityChanged && it.participant.identity == "alice" }
                            .map { it.participant.connectionQuality to it.oldConnectionQuality }
                        assertEquals(
                            listOf(ConnectionQuality.EXCELLENT to ConnectionQuality.UNKNOWN, ConnectionQuality.POOR to ConnectionQuality.EXCELLENT).takeLast(ratings.size),
                            ratings,
                            "alice's ratings of herself",
                        )
                        assertTrue(ratings.size >= 1)
                    } finally {
                        DevSfu.control("connection-quality", "room" to roomName, "identity" to "alice")
                    }
                    reader.cancel()
                }
            }
        }
    }

    @Test
    fun `active speakers reach the speaker and its data tracks' subscribers, loudest first, and the models follow`() = lkTest {
        // devsfu sends speaker updates as livekit-server does (every 50 ms in this suite; levels
        // quantised up to eighths, only changes), each about the participant itself and about
        // those whose tracks it subscribes to, data tracks included. The levels are set through
        // its control API (POST /devsfu/audio-level; 0: silent).
        fun level(identity: String, l: String) = DevSfu.control("audio-level", "room" to roomName, "identity" to identity, "level" to l)
        suspend fun Recorder.speaking(identity: String, on: Boolean, l: Float) = await<RoomEvent.ParticipantUpdated> {
            it.speakingChanged && it.participant.identity == identity && it.participant.isSpeaking == on && it.participant.audioLevel == l
        }
        suspend fun Recorder.snapshotTaken(n: Int): RoomSnapshot = withTimeout(GUARD) {
            seen.first { l -> l.count { it is RoomEvent.SnapshotTaken } >= n }
                .filterIsInstance<RoomEvent.SnapshotTaken>()[n - 1].snapshot
        }

        Room().use { alice ->
            val rec = record(alice)
            val aliceFirst = alice.connect(DevSfu.url, token("alice"))
            assertEquals(emptyList(), aliceFirst.activeSpeakers)
            Room().use { bob ->
                val bobRec = record(bob) // from before connecting: the replay below needs every event
                val bobFirst = bob.connect(DevSfu.url, token("bob"))
                assertEquals(emptyList(), bobFirst.activeSpeakers)
                assertTrue(bobFirst.remoteParticipants.single { it.identity == "alice" }.let { !it.isSpeaking && it.audioLevel == 0f })
                val track = alice.publishDataTrack("voice")
                val remote = bobRec.await<RoomEvent.DataTrackPublished> { it.track.info.name == "voice" }.track
                remote.openSubscription().use { sub ->
                    sub.awaitSubscribed(GUARD)
                    val got = Channel<String>(Channel.UNLIMITED)
                    val reader = launch { sub.frames().collect { got.send(it.payload.decodeToString()) } }
                    // A frame arrived: bob's subscription is established at the server.
                    assertEquals("warm-up", withTimeout(GUARD) { pushUntilReceived(track, got, "warm-up") })
                    try {
                        // alice speaks at 0.4, sent as 0.5: bob (subscribed to her track) and alice hear of it.
                        level("alice", "0.4")
                        val aliceOn = bobRec.speaking("alice", true, 0.5f)
                        assertOnlySpeaking(aliceOn)
                        assertEquals(listOf(listOf("alice")), bobRec.speakerLists(1))
                        bobRec.assertBefore(aliceOn, 1)
                        assertEquals(listOf("alice"), bob.activeSpeakers)
                        bob.snapshot().let { s ->
                            assertEquals(listOf("alice"), s.activeSpeakers)
                            assertTrue(s.remoteParticipants.single { it.identity == "alice" }.let { it.isSpeaking && it.audioLevel == 0.5f })
                        }
                        val aliceSelf = rec.speaking("alice", true, 0.5f)
                        assertOnlySpeaking(aliceSelf)
                        assertEquals(listOf(listOf("alice")), rec.speakerLists(1))
                        rec.assertBefore(aliceSelf, 1)
                        assertEquals(listOf("alice"), alice.activeSpeakers)

                        // bob speaks at 0.9, sent as 1: louder, first. alice subscribes to nothing of his.
                        level("bob", "0.9")
                        val bobOn = bobRec.speaking("bob", true, 1f)
                        assertOnlySpeaking(bobOn)
                        assertEquals(listOf(listOf("alice"), listOf("bob", "alice")), bobRec.speakerLists(2))
                        bobRec.assertBefore(bobOn, 2)
                        assertEquals(listOf("bob", "alice"), bob.activeSpeakers)
                        bob.requestSnapshot()
                        bobRec.snapshotTaken(1).let { s ->
                            assertEquals(listOf("bob", "alice"), s.activeSpeakers)
                            assertTrue(s.localParticipant.isSpeaking && s.localParticipant.audioLevel == 1f, "${s.localParticipant}")
                            assertTrue(s.remoteParticipants.single { it.identity == "alice" }.let { it.isSpeaking && it.audioLevel == 0.5f })
                        }
                        assertEquals(listOf("bob", "alice"), bob.snapshot().activeSpeakers)

                        // alice stops: bob alone. Then bob stops: nobody.
                        level("alice", "0")
                        val aliceOff = bobRec.speaking("alice", false, 0f)
                        assertOnlySpeaking(aliceOff)
                        assertEquals(listOf(listOf("alice"), listOf("bob", "alice"), listOf("bob")), bobRec.speakerLists(3))
                        bobRec.assertBefore(aliceOff, 3)
                        assertEquals(listOf("bob"), bob.activeSpeakers)
                        assertEquals(listOf(listOf("alice"), emptyList()), rec.speakerLists(2))
                        assertEquals(emptyList(), alice.activeSpeakers)
                        level("bob", "0")
                        val bobOff = bobRec.speaking("bob", false, 0f)
                        assertOnlySpeaking(bobOff)
                        assertEquals(listOf(listOf("alice"), listOf("bob", "alice"), listOf("bob"), emptyList()), bobRec.speakerLists(4))
                        bobRec.assertBefore(bobOff, 4)
                        assertEquals(emptyList(), bob.activeSpeakers)
                        assertEquals(emptyList(), bob.snapshot().activeSpeakers)

                        // alice heard only of herself: bob was never in her list, nor did his speaking reach her.
                        assertEquals(listOf(listOf("alice"), emptyList()), rec.all<RoomEvent.ActiveSpeakersChanged>().map { it.speakers })
                        assertTrue(rec.all<RoomEvent.ParticipantUpdated>().none { it.speakingChanged && it.participant.identity == "bob" })
                        assertTrue(alice.snapshot().remoteParticipants.single { it.identity == "bob" }.let { !it.isSpeaking && it.audioLevel == 0f })

                        // bob's model (the connect snapshot, the events as deltas) equals each
                        // snapshot event where it comes: the speakers, every participant's info.
                        bob.requestSnapshot()
                        bobRec.snapshotTaken(2)
                        var speakers = bobFirst.activeSpeakers
                        var local = bobFirst.localParticipant
                        val parts = bobFirst.remoteParticipants.associateBy { it.identity }.toMutableMap()
                        var snapshots = 0
                        for (e in bobRec.seen.value) {
                            when (e) {
                                is RoomEvent.ParticipantConnected -> parts[e.participant.identity] = e.participant
                                is RoomEvent.ParticipantDisconnected -> parts.remove(e.identity)
                                is RoomEvent.ParticipantUpdated ->
                                    if (e.participant.identity == local.identity) local = e.participant else parts[e.participant.identity] = e.participant
                                is RoomEvent.ActiveSpeakersChanged -> speakers = e.speakers
                                is RoomEvent.SnapshotTaken -> {
                                    snapshots++
                                    assertEquals(speakers, e.snapshot.activeSpeakers, "speakers of snapshot $snapshots")
                                    assertEquals(local, e.snapshot.localParticipant, "local participant of snapshot $snapshots")
                                    assertEquals(parts, e.snapshot.remoteParticipants.associateBy { it.identity }, "participants of snapshot $snapshots")
                                }
                                else -> {}
                            }
                        }
                        assertEquals(2, snapshots)
                    } finally {
                        level("alice", "0")
                        level("bob", "0")
                    }
                    reader.cancel()
                }
            }
        }
    }

    @Test
    fun `the room's active speakers are the library's lists in its order, from connect, events and snapshots`() = lkTest {
        // Driven with the library's messages, no server: the binding passes each list on as the
        // library orders it (never sorted: "zoe" before "amy"), and Room.activeSpeakers follows
        // the connect result, each ActiveSpeakersChanged (before it is delivered) and each
        // SnapshotTaken.
        fun speakersEvent(vararg ids: String) = lkcore.ffi.v1.RoomEvent.newBuilder()
            .setActiveSpeakersChanged(lkcore.ffi.v1.ActiveSpeakersChanged.newBuilder().addAllIdentities(ids.toList())).build()
        fun result(vararg ids: String) = lkcore.ffi.v1.ConnectResult.newBuilder().addAllActiveSpeakers(ids.toList())
        Room().use { room ->
            val rec = record(room)
            assertEquals(emptyList(), room.activeSpeakers)
            room.sink.onCompletion(lkcore.ffi.v1.Completion.newBuilder().setRequestId(1).setConnect(result("zoe", "amy")).build())
            assertEquals(listOf("zoe", "amy"), room.activeSpeakers)
            room.onRoomEvent(speakersEvent("mia", "zoe", "amy"))
            assertEquals(listOf("mia", "zoe", "amy"), rec.await<RoomEvent.ActiveSpeakersChanged>().speakers)
            assertEquals(listOf("mia", "zoe", "amy"), room.activeSpeakers)
            room.onRoomEvent(speakersEvent())
            withTimeout(GUARD) { rec.seen.first { l -> l.size == 2 } }
            assertEquals(RoomEvent.ActiveSpeakersChanged(emptyList()), rec.seen.value[1])
            assertEquals(emptyList(), room.activeSpeakers)
            room.onRoomEvent(lkcore.ffi.v1.RoomEvent.newBuilder().setSnapshotTaken(lkcore.ffi.v1.RoomSnapshotTaken.newBuilder().setSnapshot(result("bo", "al"))).build())
            assertEquals(listOf("bo", "al"), rec.await<RoomEvent.SnapshotTaken>().snapshot.activeSpeakers)
            assertEquals(listOf("bo", "al"), room.activeSpeakers)
            assertEquals(listOf("al"), room.snapshotOf { result("al").build() }.activeSpeakers)
            assertEquals(listOf("bo", "al"), room.activeSpeakers, "a snapshot() (ahead of the events) leaves the room's list alone")
        }
        // A participant's speaking and level convert as the library reports them.
        val p = Convert.participant(lkcore.ffi.v1.ParticipantInfo.newBuilder().setIdentity("amy").setIsSpeaking(true).setAudioLevel(0.625f).build())
        assertTrue(p.isSpeaking)
        assertEquals(0.625f, p.audioLevel)
        Convert.participant(lkcore.ffi.v1.ParticipantInfo.getDefaultInstance()).let { assertFalse(it.isSpeaking); assertEquals(0f, it.audioLevel) }
    }

    @Test
    fun `other participants' media tracks are in their info, with an event for each publish, mute and unpublish`() = lkTest {
        // devsfu plays alice's browser publishing a microphone and a camera (POST /devsfu/media-track
        // publishes a track, or replaces the one with the same sid; &remove=1 unpublishes it).
        fun media(sid: String, vararg params: Pair<String, String>) =
            DevSfu.control("media-track", "room" to roomName, "identity" to "alice", "sid" to sid, *params)
        val mic = TrackPublication("TR_mic", "mic", TrackKind.AUDIO, TrackSource.MICROPHONE, false, "audio/opus", 0, 0, false, false)
        fun publishMic(muted: Boolean) =
            media("TR_mic", "kind" to "audio", "source" to "microphone", "name" to "mic", "mime" to "audio/opus", "muted" to "$muted")
        val cam = TrackPublication("TR_cam", "cam", TrackKind.VIDEO, TrackSource.CAMERA, false, "video/VP8", 1280, 720, true, true)
        fun publishCam(width: Int, height: Int) = media(
            "TR_cam", "kind" to "video", "source" to "camera", "name" to "cam", "mime" to "video/VP8",
            "width" to "$width", "height" to "$height", "simulcast" to "true", "encrypted" to "true",
        )
        suspend fun Recorder.alice(pred: (RoomEvent.ParticipantUpdated) -> Boolean) =
            await<RoomEvent.ParticipantUpdated> { it.participant.identity == "alice" && pred(it) }
        // A track event changes nothing else: every other flag unset, no old values.
        fun onlyTrack(u: RoomEvent.ParticipantUpdated, published: TrackPublication? = null, unpublished: TrackPublication? = null, muteChanged: TrackPublication? = null) =
            assertEquals(
                RoomEvent.ParticipantUpdated(
                    u.participant, emptyList(), false, false, false,
                    trackPublished = published, trackUnpublished = unpublished, trackMuteChanged = muteChanged,
                ),
                u,
            )
        fun Room.aliceTracks() = snapshot().remoteParticipants.single { it.identity == "alice" }.tracks

        Room().use { bob ->
            val rec = record(bob)
            bob.connect(DevSfu.url, token("bob"))
            val alice = connect("alice")
            try {
                val joined = rec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "alice" }
                assertEquals(emptyList(), joined.participant.tracks)

                // Published: the event carries every field, and alice's info lists it.
                publishMic(muted = false)
                val published = rec.alice { it.trackPublished != null }
                onlyTrack(published, published = mic)
                assertEquals(listOf(mic), published.participant.tracks)
                assertEquals(listOf(mic), bob.aliceTracks())

                // Muted, then unmuted: a mute change each, with the new state.
                publishMic(muted = true)
                val muted = rec.alice { it.trackMuteChanged != null }
                onlyTrack(muted, muteChanged = mic.copy(muted = true))
                assertEquals(listOf(mic.copy(muted = true)), muted.participant.tracks)
                assertEquals(listOf(mic.copy(muted = true)), bob.aliceTracks())
                publishMic(muted = false)
                val unmuted = rec.alice { it.trackMuteChanged?.muted == false }
                onlyTrack(unmuted, muteChanged = mic)
                assertEquals(listOf(mic), unmuted.participant.tracks)

                // A video track: kind, source, codec, dimensions, simulcast and encryption.
                publishCam(1280, 720)
                val camPublished = rec.alice { it.trackPublished?.sid == "TR_cam" }
                onlyTrack(camPublished, published = cam)
                assertEquals(listOf(mic, cam), camPublished.participant.tracks)
                // Its dimensions change: an update without any flag, the list replaced.
                publishCam(640, 360)
                val resized = rec.alice { u -> u.participant.tracks.any { it.sid == "TR_cam" && it.width == 640 } }
                onlyTrack(resized)
                assertEquals(listOf(mic, cam.copy(width = 640, height = 360)), resized.participant.tracks)
                // Three events of tracks in all so far (the resize is none of them).
                assertEquals(
                    listOf("published TR_mic", "muted TR_mic", "unmuted TR_mic", "published TR_cam"),
                    rec.all<RoomEvent.ParticipantUpdated>().mapNotNull { u ->
                        u.trackPublished?.let { "published ${it.sid}" } ?: u.trackUnpublished?.let { "unpublished ${it.sid}" }
                            ?: u.trackMuteChanged?.let { (if (it.muted) "muted " else "unmuted ") + it.sid }
                    },
                )
                val now = listOf(mic, cam.copy(width = 640, height = 360))

                // A participant joining afterwards finds alice's tracks in its connect snapshot
                // (no event for them) and in every later snapshot.
                Room().use { carol ->
                    val carolRec = record(carol)
                    val snap = carol.connect(DevSfu.url, token("carol"))
                    assertEquals(now, snap.remoteParticipants.single { it.identity == "alice" }.tracks)
                    carol.requestSnapshot()
                    assertEquals(now, carolRec.await<RoomEvent.SnapshotTaken>().snapshot.remoteParticipants.single { it.identity == "alice" }.tracks)

                    // Unpublished: the track as last described, and the list shrinks (for both).
                    media("TR_mic", "remove" to "1")
                    val gone = rec.alice { it.trackUnpublished != null }
                    onlyTrack(gone, unpublished = mic)
                    assertEquals(listOf(now[1]), gone.participant.tracks)
                    assertEquals(listOf(now[1]), bob.aliceTracks())
                    val carolGone = carolRec.alice { it.trackUnpublished != null }
                    onlyTrack(carolGone, unpublished = mic)
                    assertEquals(listOf(now[1]), carolGone.participant.tracks)
                    // Carol was told of no track published: alice's came in her snapshot.
                    assertEquals(emptyList(), carolRec.all<RoomEvent.ParticipantUpdated>().mapNotNull { it.trackPublished })
                }
            } finally {
                // Alice leaves with her camera published.
                alice.close()
            }
            rec.await<RoomEvent.ParticipantDisconnected> { it.identity == "alice" }
            val order = rec.seen.value.mapNotNull { e ->
                when (e) {
                    is RoomEvent.ParticipantUpdated -> e.trackUnpublished?.takeIf { e.participant.identity == "alice" }
                        ?.let { "unpublished ${it.sid} leaving ${e.participant.tracks.map { t -> t.sid }}" }
                    is RoomEvent.ParticipantDisconnected -> if (e.identity == "alice") "left alice" else null
                    else -> null
                }
            }
            // Her remaining track is unpublished before she is reported gone (as last described).
            assertEquals(listOf("unpublished TR_mic leaving [TR_cam]", "unpublished TR_cam leaving []", "left alice"), order)
            val last = rec.all<RoomEvent.ParticipantUpdated>().last { it.trackUnpublished != null }
            onlyTrack(last, unpublished = cam.copy(width = 640, height = 360))
        }
    }

    @Test
    fun `track publications convert every field, and a kind or source newer than the binding reads as AUDIO or UNKNOWN`() {
        fun track(sid: String, kind: Int, source: Int) = lkcore.ffi.v1.TrackPublicationInfo.newBuilder().setSid(sid).setName("n-$sid")
            .setKindValue(kind).setSourceValue(source).setMuted(true).setMimeType("video/H264").setWidth(1920).setHeight(1080)
            .setSimulcast(true).setEncrypted(true).build()
        val p = Convert.participant(
            lkcore.ffi.v1.ParticipantInfo.newBuilder().setIdentity("alice")
                .addTracks(track("TR_b", 1, 3)).addTracks(track("TR_a", 0, 4)).addTracks(track("TR_c", 9, 9))
                .addTracks(lkcore.ffi.v1.TrackPublicationInfo.newBuilder().setSid("TR_d").setSourceValue(2)).build(),
        )
        fun pub(sid: String, kind: TrackKind, source: TrackSource) =
            TrackPublication(sid, "n-$sid", kind, source, true, "video/H264", 1920, 1080, true, true)
        // Every field, in the library's order (not sorted).
        assertEquals(
            listOf(
                pub("TR_b", TrackKind.VIDEO, TrackSource.SCREEN_SHARE),
                pub("TR_a", TrackKind.AUDIO, TrackSource.SCREEN_SHARE_AUDIO),
                pub("TR_c", TrackKind.AUDIO, TrackSource.UNKNOWN),
                TrackPublication("TR_d", "", TrackKind.AUDIO, TrackSource.MICROPHONE, false, "", 0, 0, false, false),
            ),
            p.tracks,
        )
        assertEquals(TrackSource.CAMERA, Convert.trackPublication(track("TR_e", 1, 1)).source)
        // A participant info without any lists none.
        assertEquals(emptyList(), Convert.participant(lkcore.ffi.v1.ParticipantInfo.getDefaultInstance()).tracks)
    }

    @Test
    fun `connection stats name the selected candidate pair, round trips and the data channels' bytes while connected, null otherwise`() = lkTest {
        Room().use { alice ->
            val rec = record(alice)
            assertNull(alice.connectionStats()) // before connect
            alice.connect(DevSfu.url, token("alice"))
            val before = assertNotNull(alice.connectionStats())
            // devsfu on loopback: both ends host candidates over UDP, no TURN server.
            for (c in listOf(before.localCandidate, before.remoteCandidate)) {
                assertEquals(IceCandidateType.HOST to "udp", c.type to c.protocol, "$c")
                assertTrue(c.ip.isNotEmpty() && c.port in 1..65535, "$c")
                assertEquals("", c.relayProtocol, "$c")
            }
            assertTrue(before.roundTripTime > Duration.ZERO && before.roundTripTime < GUARD, "ICE round trip ${before.roundTripTime}")
            connect("bob").use { bob ->
                // SCTP counts a packet as it goes out, after publishData returned: poll (bounded).
                val payload = ByteArray(30_000) { it.toByte() }
                alice.publishData(payload, topic = "stats")
                val sent = statsUntil(alice, "alice's bytes sent to grow by ${payload.size} from ${before.bytesSent}") {
                    it.bytesSent >= before.bytesSent + payload.size
                }
                assertTrue(sent.bytesReceived < before.bytesReceived + payload.size, "nothing that large came to alice: $sent")
                // Acknowledged data gives SCTP its round trip.
                val acked = statsUntil(alice, "an SCTP round trip") { it.sctpRoundTripTime > Duration.ZERO }
                assertTrue(acked.sctpRoundTripTime < GUARD, "SCTP round trip ${acked.sctpRoundTripTime}")
                // The other way: bob's packet counts in alice's bytes received.
                bob.publishData(payload, topic = "back")
                rec.await<RoomEvent.DataReceived> { it.packet.topic == "back" }
                statsUntil(alice, "alice's bytes received to grow by ${payload.size} from ${acked.bytesReceived}") {
                    it.bytesReceived >= acked.bytesReceived + payload.size
                }
            }
            // The room ended (the server removed alice): not connected, the room still open.
            DevSfu.control("leave", "identity" to "alice", "action" to "DISCONNECT", "reason" to "PARTICIPANT_REMOVED")
            rec.await<RoomEvent.Disconnected>()
            assertNull(alice.connectionStats())
            alice.disconnect() // closes the room: like every call, then ClientClosedException
            assertFailsWith<ClientClosedException> { alice.connectionStats() }
        }
        // disconnect() itself: the library reports the room ended before the binding closes it.
        connect("carol").use { carol ->
            assertNotNull(carol.connectionStats())
            carol.client.call(lkcore.ffi.v1.Request.newBuilder().setDisconnect(lkcore.ffi.v1.DisconnectRequest.newBuilder().setRoomHandle(carol.handle)))
            assertNull(carol.connectionStats())
        }
    }

    /** Polls [room]'s [Room.connectionStats] (bounded by [GUARD]) until connected and [pred] holds. */
    private suspend fun statsUntil(room: Room, what: String, pred: (ConnectionStats) -> Boolean): ConnectionStats {
        var last: ConnectionStats? = null
        return withTimeoutOrNull(GUARD) {
            var s = room.connectionStats().also { last = it }
            while (s == null || !pred(s)) {
                delay(5)
                s = room.connectionStats().also { last = it }
            }
            s
        } ?: fail("waited for $what; last $last")
    }

    @Test
    fun `connection stats convert every field, every candidate type, a type newer than the binding as UNSPECIFIED, not connected as null`() {
        fun cand(type: Int, ip: String = "10.0.0.$type", port: Int = 50_000 + type) = lkcore.ffi.v1.IceCandidate.newBuilder()
            .setTypeValue(type).setProtocol("tcp").setIp(ip).setPort(port).setRelayProtocol("tls").build()
        val s = Convert.connectionStats(
            lkcore.ffi.v1.GetConnectionStatsResponse.newBuilder().setConnected(true)
                .setLocalCandidate(cand(4)).setRemoteCandidate(cand(1, "192.0.2.7", 65_535))
                .setRoundTripTimeUs(1_500).setSctpRoundTripTimeUs(2_000_123).setBytesSent(5_000_000_000).setBytesReceived(42).build(),
        )
        assertEquals(
            ConnectionStats(
                IceCandidate(IceCandidateType.RELAY, "tcp", "10.0.0.4", 50_004, "tls"),
                IceCandidate(IceCandidateType.HOST, "tcp", "192.0.2.7", 65_535, "tls"),
                1_500.microseconds, 2_000_123.microseconds, 5_000_000_000, 42,
            ),
            s,
        )
        // Every type the schema names, in its numbering; newer ones read as UNSPECIFIED.
        assertEquals(
            listOf(IceCandidateType.UNSPECIFIED, IceCandidateType.HOST, IceCandidateType.SRFLX, IceCandidateType.PRFLX, IceCandidateType.RELAY),
            (0..4).map { Convert.iceCandidate(cand(it)).type },
        )
        assertEquals(IceCandidateType.UNSPECIFIED, Convert.iceCandidate(cand(5)).type)
        assertEquals(IceCandidateType.UNSPECIFIED, Convert.iceCandidate(cand(99)).type)
        // Connected before any round trip: zero durations, empty candidates never fail.
        assertEquals(
            ConnectionStats(
                IceCandidate(IceCandidateType.UNSPECIFIED, "", "", 0, ""), IceCandidate(IceCandidateType.UNSPECIFIED, "", "", 0, ""),
                Duration.ZERO, Duration.ZERO, 0, 0,
            ),
            Convert.connectionStats(lkcore.ffi.v1.GetConnectionStatsResponse.newBuilder().setConnected(true).build()),
        )
        // Not connected: null, whatever else the message holds.
        assertNull(Convert.connectionStats(lkcore.ffi.v1.GetConnectionStatsResponse.getDefaultInstance()))
        assertNull(Convert.connectionStats(lkcore.ffi.v1.GetConnectionStatsResponse.newBuilder().setLocalCandidate(cand(1)).setBytesSent(7).build()))
    }

    @Test
    fun `a reconnected event carries the reliable packets discarded and replayed, read unsigned`() {
        fun ev(kind: Int, discarded: Int, replayed: Int) = Convert.reconnected(
            lkcore.ffi.v1.Reconnected.newBuilder().setKindValue(kind).setDiscardedPackets(discarded).setReplayedPackets(replayed).build(),
        )
        assertEquals(RoomEvent.Reconnected(ReconnectKind.FULL, discardedPackets = 7), ev(2, 7, 0))
        assertEquals(RoomEvent.Reconnected(ReconnectKind.RESUME, replayedPackets = 12), ev(1, 0, 12))
        // uint32's top half is not negative.
        assertEquals(RoomEvent.Reconnected(ReconnectKind.FULL, 4_294_967_295, 2_147_483_648), ev(2, -1, Int.MIN_VALUE))
    }

    /** The library's `subscription_revoked` of [room]'s only remote data track, from its snapshot (not through the binding's objects). */
    private fun libraryRevoked(room: Room): Boolean = room.client.request(
        lkcore.ffi.v1.Request.newBuilder().setGetRoomSnapshot(lkcore.ffi.v1.GetRoomSnapshotRequest.newBuilder().setRoomHandle(room.handle)),
    ).getRoomSnapshot.snapshot.remoteDataTracksList.single().subscriptionRevoked

    @Test
    fun `chat messages and their edits reach the others in order with data packets, to their destinations only`() = lkTest {
        Room().use { early -> assertFailsWith<DisconnectedException> { early.sendChatMessage("early") } }
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                connect("carol").use { carol ->
                    val bobRec = record(bob)
                    val carolRec = record(carol)
                    // Refused before sending: bob's first chat event below is the message.
                    assertFailsWith<PayloadTooLargeException> { alice.sendChatMessage("x".repeat(64_001)) }
                    assertFailsWith<InvalidArgumentException> { alice.editChatMessage("x", ChatMessage("", 1, "no id")) }

                    alice.publishData("before".encodeToByteArray(), topic = "d")
                    val sent = alice.sendChatMessage("hello")
                    assertEquals(36, sent.id.length, "a UUID: $sent")
                    assertTrue(sent.timestampMs > 0, "stamped: $sent")
                    assertEquals(ChatMessage(sent.id, sent.timestampMs, "hello", editTimestampMs = null), sent)
                    val edit = alice.editChatMessage("hello, bob ✓", sent)
                    val edited = edit.editTimestampMs
                    assertTrue(edited != null && edited >= sent.timestampMs, "edit time: $edit")
                    assertEquals(ChatMessage(sent.id, sent.timestampMs, "hello, bob ✓", edited), edit)
                    alice.publishData("after".encodeToByteArray(), topic = "d")
                    bobRec.await<RoomEvent.DataReceived> { it.packet.payload.decodeToString() == "after" }
                    val order = bobRec.seen.value.mapNotNull {
                        when (it) {
                            is RoomEvent.DataReceived -> it.packet.payload.decodeToString()
                            is RoomEvent.ChatMessageReceived -> it
                            else -> null
                        }
                    }
                    assertEquals(listOf("before", RoomEvent.ChatMessageReceived("alice", sent), RoomEvent.ChatMessageReceived("alice", edit), "after"), order)

                    // Destinations: only carol gets the first message and its edit; bob's next is the broadcast.
                    val toCarol = alice.sendChatMessage("only carol", destinations = listOf("carol"))
                    val toCarolEdit = alice.editChatMessage("only carol, edited", toCarol, destinations = listOf("carol"))
                    val broadcast = alice.sendChatMessage("everyone")
                    carolRec.await<RoomEvent.ChatMessageReceived> { it.message == broadcast }
                    bobRec.await<RoomEvent.ChatMessageReceived> { it.message == broadcast }
                    assertEquals(listOf(sent, edit, toCarol, toCarolEdit, broadcast), carolRec.all<RoomEvent.ChatMessageReceived>().map { it.message })
                    assertEquals(listOf(sent, edit, broadcast), bobRec.all<RoomEvent.ChatMessageReceived>().map { it.message })
                }
            }
        }
    }

    /** A room joined as [identity] of kind agent (closed by the caller). */
    private suspend fun TestCtx.connectAgent(identity: String): Room {
        val room = Room()
        try {
            room.connect(DevSfu.url, token(identity, "--kind", "agent"))
        } catch (e: Throwable) {
            room.close()
            throw e
        }
        return room
    }

    @Test
    fun `an agent's transcription reaches the others whole and in order with data packets, a standard participant's is refused`() = lkTest {
        connectAgent("agent").use { agent ->
            val agentRec = record(agent)
            connect("bob").use { bob ->
                val bobRec = record(bob)
                agentRec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "bob" }
                val sent = Transcription(
                    "bob", "TR_mic",
                    listOf(
                        TranscriptionSegment("s1", "hello", startTime = 10, endTime = 400, final = false, language = "en"),
                        // -1: 2^64-1 in the schema's uint64, passed unchanged both ways.
                        TranscriptionSegment("s2", "again ✓", startTime = 500, endTime = -1, final = true, language = "en-GB"),
                    ),
                )
                agent.publishTranscription(sent)
                agent.publishData("after".encodeToByteArray(), topic = "d")
                bobRec.await<RoomEvent.DataReceived> { it.packet.payload.decodeToString() == "after" }
                val order = bobRec.seen.value.mapNotNull {
                    when (it) {
                        is RoomEvent.DataReceived -> it.packet.payload.decodeToString()
                        is RoomEvent.TranscriptionReceived -> it
                        else -> null
                    }
                }
                assertEquals(listOf(RoomEvent.TranscriptionReceived("agent", sent), "after"), order)
                // The library's check (bob is a standard participant), passed through.
                assertFailsWith<NotAllowedException> { bob.publishTranscription(sent) }
            }
        }
    }

    @Test
    fun `an agent sends text streams and chat messages on behalf of another participant, a standard participant may not`() = lkTest {
        connectAgent("agent").use { agent ->
            val agentRec = record(agent)
            connect("bob").use { bob ->
                val bobRec = record(bob)
                agentRec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "bob" }
                // (sender identity, text, generated) of each text stream bob receives.
                val texts = Channel<Triple<String, String, Boolean>>(Channel.UNLIMITED)
                bob.registerTextStreamHandler("lk.transcription") { r, who -> texts.send(Triple(who, r.readAll(), r.info.generated)) }
                val asUser = TextStreamOptions(topic = "lk.transcription", senderIdentity = "user")
                agent.sendText("said by user", asUser)
                assertEquals(Triple("user", "said by user", true), withTimeout(GUARD) { texts.receive() })
                agent.streamText(asUser).run {
                    write("written for user")
                    close()
                }
                assertEquals(Triple("user", "written for user", true), withTimeout(GUARD) { texts.receive() })

                val sent = agent.sendChatMessage("hi from user", senderIdentity = "user")
                val edit = agent.editChatMessage("hi from user, edited", sent, senderIdentity = "user")
                val got = bobRec.await<RoomEvent.ChatMessageReceived> { it.message.id == sent.id && it.message.editTimestampMs != null }
                // The server marks them generated.
                assertEquals(
                    listOf(RoomEvent.ChatMessageReceived("user", sent.copy(generated = true)), RoomEvent.ChatMessageReceived("user", edit.copy(generated = true))),
                    bobRec.all<RoomEvent.ChatMessageReceived>(),
                    "last: $got",
                )

                // The library's check (bob is a standard participant), passed through.
                assertFailsWith<NotAllowedException> { bob.sendText("x", asUser) }
                assertFailsWith<NotAllowedException> { bob.streamText(asUser) }
                assertFailsWith<NotAllowedException> { bob.sendChatMessage("x", senderIdentity = "user") }
                assertFailsWith<NotAllowedException> { bob.editChatMessage("x", sent, senderIdentity = "user") }
            }
        }
    }

    @Test
    fun `metadata name and attributes updates`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                alice.setLocalMetadata("meta-1")
                alice.setLocalName("Alice")
                alice.setLocalAttributes(mapOf("k" to "v"))
                rec.await<RoomEvent.ParticipantUpdated> { it.participant.identity == "alice" && it.participant.metadata == "meta-1" }
                rec.await<RoomEvent.ParticipantUpdated> { it.participant.identity == "alice" && it.participant.name == "Alice" }
                val u = rec.await<RoomEvent.ParticipantUpdated> { it.participant.attributes["k"] == "v" }
                assertTrue("k" in u.changedAttributes)
                // old -> new from the event alone
                alice.setLocalMetadata("meta-2")
                alice.setLocalName("Alicia")
                val m = rec.await<RoomEvent.ParticipantUpdated> { it.participant.identity == "alice" && it.participant.metadata == "meta-2" }
                assertTrue(m.metadataChanged)
                assertEquals("meta-1", m.oldMetadata)
                val n = rec.await<RoomEvent.ParticipantUpdated> { it.participant.identity == "alice" && it.participant.name == "Alicia" }
                assertTrue(n.nameChanged)
                assertEquals("Alice", n.oldName)
            }
        }
    }

    @Test
    fun `a permission change through the server API is announced`() = lkTest {
        connect("alice").use { alice ->
            val rec = record(alice)
            connect("bob").use { bob ->
                val bobRec = record(bob)
                rec.await<RoomEvent.ParticipantConnected> { it.participant.identity == "bob" }
                DevSfu.control("permission", "room" to roomName, "identity" to "bob", "can_subscribe" to "true")
                val revoked = ParticipantPermission(canSubscribe = true, canPublish = false, canPublishData = false, hidden = false)
                for (r in listOf(rec, bobRec)) { // bob's, about himself; alice's, about bob
                    val u = r.await<RoomEvent.ParticipantUpdated> { it.participant.identity == "bob" && it.permissionChanged }
                    assertEquals(revoked, u.participant.permission)
                }
                assertFailsWith<NotAllowedException> { bob.publishDataTrack("not-allowed") }
            }
        }
    }

    @Test
    fun `reconnect after a signal drop`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(alice)
                DevSfu.control("drop-signal", "identity" to "alice")
                rec.await<RoomEvent.ConnectionStateChanged> { it.state == ConnectionState.RECONNECTING }
                rec.await<RoomEvent.ConnectionStateChanged> { it.state == ConnectionState.CONNECTED }
                val states = rec.all<RoomEvent.ConnectionStateChanged>().map { it.state }
                assertEquals(listOf(ConnectionState.RECONNECTING, ConnectionState.CONNECTED), states)
                // the room still works after the reconnect
                val bobRec = record(bob)
                alice.publishData("after resume".encodeToByteArray(), topic = "r")
                assertContentEquals("after resume".encodeToByteArray(), bobRec.await<RoomEvent.DataReceived>().packet.payload)
            }
        }
    }

    /**
     * devsfu drops alice's datagrams both ways, then alice publishes [n] reliable packets
     * (`cut 0`.. on topic `cut`): her data channel accepts them and the server acknowledges none
     * (she has sent nothing reliable before, so exactly these [n] are unacknowledged). Her
     * signalling connection is then dropped (with [refuseResume] the server refuses her resume,
     * so she reconnects fully); once she is back the path works again and she publishes `after`.
     * Returns her reconnected event and the payloads bob received up to `after`, in order.
     */
    private suspend fun TestCtx.reconnectAfterACutPath(n: Int, refuseResume: Boolean): Pair<RoomEvent.Reconnected, List<String>> =
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                try {
                    val rec = record(alice)
                    val bobRec = record(bob)
                    DevSfu.control("cut-path", "identity" to "alice", "on" to "true")
                    for (i in 0 until n) alice.publishData("cut $i".encodeToByteArray(), topic = "cut")
                    if (refuseResume) DevSfu.control("force-full-reconnect", "identity" to "alice", "on" to "true")
                    DevSfu.control("drop-signal", "identity" to "alice")
                    val reconnected = rec.await<RoomEvent.Reconnected>()
                    DevSfu.control("clear-faults")
                    alice.publishData("after".encodeToByteArray(), topic = "cut")
                    bobRec.await<RoomEvent.DataReceived> { it.packet.payload.decodeToString() == "after" }
                    reconnected to bobRec.all<RoomEvent.DataReceived>().map { it.packet.payload.decodeToString() }
                } finally {
                    DevSfu.control("clear-faults")
                }
            }
        }

    @Test
    fun `a full reconnect after a cut path reports the reliable packets it discards`() = lkTest {
        // The server refuses alice's resume, so the packets it never acknowledged cannot be sent
        // again (the new session has new sequence numbers; the official SDKs drop them too): the
        // reconnected event counts them, and none of them reaches bob.
        val n = 20
        val (reconnected, received) = reconnectAfterACutPath(n, refuseResume = true)
        assertEquals(RoomEvent.Reconnected(ReconnectKind.FULL, n.toLong(), 0), reconnected)
        assertEquals(listOf("after"), received)
    }

    @Test
    fun `a resume after a cut path replays the reliable packets the server missed`() = lkTest {
        // After a resume the server says which of alice's packets it has (last_message_seq); the
        // core sends the others again. SCTP may also deliver some of them on its own once the
        // path works (its retransmission timer is a second or more, so usually it does not get
        // there first); either way bob gets each packet exactly once, in order.
        val n = 20
        val (r, received) = reconnectAfterACutPath(n, refuseResume = false)
        assertEquals(ReconnectKind.RESUME, r.kind)
        assertEquals(0L, r.discardedPackets)
        assertTrue(r.replayedPackets in 1..n.toLong(), "replayed ${r.replayedPackets} of $n")
        assertEquals(List(n) { "cut $it" } + "after", received)
    }

    @Test
    fun `removed by the server`() = lkTest {
        connect("alice").use { alice ->
            val rec = record(alice)
            DevSfu.control("leave", "identity" to "alice", "action" to "DISCONNECT", "reason" to "PARTICIPANT_REMOVED")
            val d = rec.await<RoomEvent.Disconnected>()
            assertEquals(DisconnectReason.PARTICIPANT_REMOVED, d.reason)
            assertFailsWith<DisconnectedException> { alice.publishData(byteArrayOf(1)) }
            alice.disconnect()
            assertTrue(alice.isClosed)
            delay(1)
        }
    }

    @Test
    fun `dropped handle gives InvalidHandleException`() = lkTest {
        connect("alice").use { alice ->
            val t = alice.publishDataTrack("gone")
            assertEquals(2, alice.liveHandles)
            t.close()
            assertEquals(1, alice.liveHandles)
            t.close() // idempotent
            assertFailsWith<InvalidHandleException> { t.tryPush(byteArrayOf(1)) }
            assertFailsWith<InvalidHandleException> { t.stats() }
        }
    }

    @Test
    fun `library logs reach java util logging`() = lkTest {
        val records = java.util.Collections.synchronizedList(mutableListOf<java.util.logging.LogRecord>())
        val logger = java.util.logging.Logger.getLogger("lkcore")
        val h = object : java.util.logging.Handler() {
            override fun publish(r: java.util.logging.LogRecord) {
                records.add(r)
            }

            override fun flush() {}

            override fun close() {}
        }
        val oldLevel = logger.level
        logger.level = java.util.logging.Level.ALL
        logger.addHandler(h)
        try {
            val tok = token("logger")
            connect("logger", RoomOptions(logLevel = LogLevel.DEBUG)).use { it.disconnect() }
            assertTrue(records.isNotEmpty(), "no library log record forwarded")
            assertTrue(records.none { it.message.contains(tok) }, "a token was logged")
        } finally {
            logger.removeHandler(h)
            logger.level = oldLevel
        }
    }

    @Test
    fun `a slow collector holds back delivery without losing events`() = lkTest {
        val n = Room.EVENT_BUFFER + 300
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val gate = kotlinx.coroutines.CompletableDeferred<Unit>()
                val got = java.util.Collections.synchronizedList(mutableListOf<String>())
                val all = kotlinx.coroutines.CompletableDeferred<Unit>()
                bg.launch(start = kotlinx.coroutines.CoroutineStart.UNDISPATCHED) {
                    bob.events.collect { e ->
                        gate.await() // stalls until every packet was sent
                        if (e is RoomEvent.DataReceived && e.packet.topic == "n") {
                            got.add(e.packet.payload.decodeToString())
                            if (got.size == n) all.complete(Unit)
                        }
                    }
                }
                repeat(n) { alice.publishData(it.toString().encodeToByteArray(), topic = "n") }
                gate.complete(Unit)
                kotlinx.coroutines.withTimeout(GUARD) { all.await() }
                assertEquals((0 until n).map { it.toString() }, got.toList())
            }
        }
    }

    @Test
    fun `closing a room whose collector is stuck does not hang`() = lkTest {
        connect("alice").use { alice ->
            val bob = connect("bob")
            bg.launch(start = kotlinx.coroutines.CoroutineStart.UNDISPATCHED) {
                bob.events.collect { kotlinx.coroutines.awaitCancellation() }
            }
            repeat(Room.EVENT_BUFFER + 100) { alice.publishData(byteArrayOf(1), topic = "x") }
            delay(300) // the dispatcher is now held back by the stuck collector
            bob.close()
            assertTrue(bob.isClosed)
            // the dispatcher was released by the close itself (the collector is still stuck)
            val name = "lkcore-events-${bob.client.id}"
            assertTrue(Thread.getAllStackTraces().keys.none { it.name == name && it.isAlive }, "$name still running")
        }
    }
}
