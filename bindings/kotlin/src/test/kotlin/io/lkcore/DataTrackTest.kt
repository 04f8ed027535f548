package io.lkcore

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withContext
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.flow.transformWhile
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotSame
import kotlin.test.assertSame
import kotlin.test.assertTrue

/** Data tracks against lkcore-devsfu. */
class DataTrackTest : LkTestBase() {
    private fun frame(i: Int, size: Int) = ByteArray(size) { ((it * 31 + i) and 0xFF).toByte() }

    /** Pushes with back-pressure and returns what the subscriber got. */
    private suspend fun TestCtx.roundTrip(size: Int, count: Int): List<DataTrackFrame> {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                val track = alice.publishDataTrack("t$size", DataTrackOptions(queueSize = 64))
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                remote.openSubscription(bufferSize = count).use { sub ->
                    sub.awaitSubscribed()
                    return coroutineScope {
                        // in the caller's context (a test may confine it to one thread)
                        val got = async { sub.frames().take(count).toList() }
                        for (i in 0 until count) track.push(frame(i, size), userTimestamp = 1000L + i)
                        track.flush()
                        withTimeout(GUARD) { got.await() }
                    }
                }
            }
        }
    }

    @Test
    fun `frames arrive in order with their timestamps, on a one-thread dispatcher`() = lkTest {
        // Publisher, subscriber and collector share one thread: nothing may block it (frames
        // are read on Dispatchers.IO, requests never wait for the network).
        val got = withContext(Dispatchers.Default.limitedParallelism(1)) { roundTrip(size = 1024, count = 50) }
        assertEquals((0 until 50).map { 1000L + it }, got.map { it.userTimestamp })
        got.forEachIndexed { i, f -> assertContentEquals(frame(i, 1024), f.payload) }
    }

    @Test
    fun `100 KB frames`() = lkTest {
        val got = roundTrip(size = 100 * 1024, count = 10)
        got.forEachIndexed { i, f -> assertContentEquals(frame(i, 100 * 1024), f.payload) }
    }

    @Test
    fun `publish, info, stats, unpublish ends the subscription`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                val track = alice.publishDataTrack("sensor", DataTrackOptions(schemaName = "s", frameEncoding = "json", schemaEncoding = "json_schema"))
                assertEquals("sensor", track.info.name)
                assertTrue(track.info.sid.isNotEmpty() && track.isPublished)
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                assertEquals("alice", remote.publisherIdentity)
                assertEquals(track.info.sid, remote.info.sid)
                assertEquals("s", remote.info.schemaName)
                assertEquals("json", remote.info.frameEncoding)
                assertFailsWith<AlreadyExistsException> { alice.publishDataTrack("sensor") }
                assertFailsWith<InvalidArgumentException> { alice.publishDataTrack("") }
                // the largest frame is 128 packets of 16 000 bytes
                assertFailsWith<PayloadTooLargeException> { track.tryPush(ByteArray(3_000_000)) }

                val sub = remote.openSubscription(8)
                sub.awaitSubscribed()
                val got = Channel<DataTrackFrame>(Channel.UNLIMITED)
                val collected = async { sub.frames().collect { got.send(it) } } // ends with the subscription
                track.push("one".encodeToByteArray())
                track.flush()
                val s = track.stats()
                assertEquals(1, s.pushed)
                assertEquals(s.pushed, s.sent + s.sendFailed + s.discarded + s.queued)
                // the frame has arrived before the unpublish (which would end the subscription
                // while a frame may still be on its way)
                assertContentEquals("one".encodeToByteArray(), withTimeout(GUARD) { got.receive() }.payload)
                track.unpublish()
                assertFalse(track.isPublished)
                assertFailsWith<TrackUnpublishedException> { track.tryPush(byteArrayOf(1)) }
                val gone = rec.await<RoomEvent.DataTrackUnpublished>()
                assertEquals(track.info.sid, gone.sid)
                withTimeout(GUARD) { collected.await() } // completes at the end
                assertTrue(got.tryReceive().isFailure, "only the one frame was delivered")
                assertEquals(SubscriptionEndReason.UNPUBLISHED, sub.end?.reason)
                sub.close()
                assertEquals(1, bob.liveHandles, "bob holds only the room")
            }
        }
    }

    @Test
    fun `a schema alice defines is read back by bob by name and encoding, and defining it again replaces it`() = lkTest {
        val pose = "syntax = \"proto3\";\n\nmessage Pose {\n  double x = 1;\n  double y = 2;\n  double z = 3;\n}\n"
        val pose2 = pose.replace("  double z = 3;\n", "  double z = 3;\n  string frame_id = 4;\n")
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                alice.defineSchema("Pose", pose, schemaEncoding = "protobuf")
                assertEquals(pose, bob.getSchema("alice", "Pose", "protobuf"))
                // Name and encoding both identify the schema.
                val other = assertFailsWith<NotFoundException> { bob.getSchema("alice", "Pose", "json_schema") }
                assertEquals(ErrorCode.NOT_FOUND, other.code)
                assertFailsWith<NotFoundException> { bob.getSchema("alice", "Pose") }
                assertFailsWith<NotFoundException> { bob.getSchema("carol", "Pose", "protobuf") }
                val unnamed = assertFailsWith<InvalidArgumentException> { alice.defineSchema("", pose, "protobuf") }
                assertEquals(ErrorCode.INVALID_ARGUMENT, unnamed.code)
                // Defined again: the new definition replaces the old one.
                alice.defineSchema("Pose", pose2, "protobuf")
                assertEquals(pose2, bob.getSchema("alice", "Pose", "protobuf"))
                assertEquals(pose2, alice.getSchema("alice", "Pose", "protobuf"), "the local participant reads its own")
                assertEquals(1, bob.liveHandles, "bob holds only the room")
            }
        }
    }

    @Test
    fun `a track held from before its publisher's full reconnect can still be subscribed`() = lkTest {
        // A full reconnect gives the publisher's tracks new sids; against the test server it
        // shows as DataTrackUnpublished then DataTrackPublished (not as DataTrackSidChanged),
        // so the RemoteDataTrack bob holds keeps the old sid. Subscribing works because the binding
        // names the track (SubscribeDataTrackRequest.trackName, ABI 1.9); with the sid alone
        // the library answers NOT_FOUND once the old track is gone.
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(alice)
                val bobRec = record(bob)
                val track = alice.publishDataTrack("sensor")
                val firstSid = track.info.sid
                val remote = bobRec.await<RoomEvent.DataTrackPublished>().track
                try {
                    DevSfu.control("force-full-reconnect", "identity" to "alice", "on" to "true")
                    DevSfu.control("drop-signal", "identity" to "alice")
                    rec.await<RoomEvent.Reconnected> { it.kind == ReconnectKind.FULL }
                    // Alice's track, published again, shows its new sid (ABI 1.15).
                    val changed = rec.await<RoomEvent.LocalDataTrackSidChanged>()
                    assertSame(track, changed.track)
                    assertEquals(firstSid, changed.oldSid)
                    assertNotEquals(firstSid, track.info.sid)
                    assertEquals("sensor", track.info.name)
                    // Until bob's library has seen the track again, subscribing finds no track
                    // of that name (the old one is gone, the new one not announced yet) or
                    // attaches to the old one, which carries nothing: retried within the guard
                    // (without the name it never succeeds).
                    val frame = withTimeout(GUARD) {
                        var got: DataTrackFrame? = null
                        while (got == null) {
                            val opened = try {
                                remote.openSubscription(8)
                            } catch (_: NotFoundException) {
                                delay(20)
                                continue
                            }
                            opened.use { sub ->
                                got = withTimeoutOrNull(1000) {
                                    coroutineScope {
                                        val pusher = launch {
                                            while (true) {
                                                runCatching { track.tryPush("after".encodeToByteArray()) }
                                                delay(20)
                                            }
                                        }
                                        try {
                                            sub.frames().first()
                                        } finally {
                                            pusher.cancel()
                                        }
                                    }
                                }
                            }
                        }
                        got
                    }
                    assertContentEquals("after".encodeToByteArray(), frame.payload)
                } finally {
                    DevSfu.control("force-full-reconnect", "identity" to "alice", "on" to "false")
                }
            }
        }
    }

    @Test
    fun `many tracks at once`() = lkTest {
        val n = 8
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                val tracks = (0 until n).map { alice.publishDataTrack("many-$it") }
                val remotes = (0 until n).map { i -> rec.await<RoomEvent.DataTrackPublished> { it.track.info.name == "many-$i" }.track }
                val subs = remotes.map { it.openSubscription(16) }
                subs.forEach { it.awaitSubscribed() }
                val got = subs.map { s -> async { s.frames().take(5).toList() } }
                for (round in 0 until 5) tracks.forEachIndexed { i, t -> t.push("t$i-f$round".encodeToByteArray()) }
                got.forEachIndexed { i, d ->
                    assertEquals((0 until 5).map { "t$i-f$it" }, withTimeout(GUARD) { d.await() }.map { it.payload.decodeToString() })
                }
                subs.forEach { it.close() }
                assertEquals(1, bob.liveHandles)
                assertEquals(1 + n, alice.liveHandles)
            }
        }
    }

    @Test
    fun `existing tracks are in the snapshot`() = lkTest {
        connect("alice").use { alice ->
            val t = alice.publishDataTrack("early")
            Room().use { bob ->
                val rec = record(bob)
                val snap = bob.connect(DevSfu.url, token("bob"))
                val remote = snap.remoteDataTracks.firstOrNull() ?: rec.await<RoomEvent.DataTrackPublished>().track
                assertEquals(t.info.sid, remote.info.sid)
                assertEquals("early", remote.info.name)
            }
        }
    }

    @Test
    fun `autoSubscribe hands out the library's subscriptions and announces no snapshot track again`() = lkTest {
        connect("alice").use { alice ->
            val early = alice.publishDataTrack("early")
            Room(RoomOptions(autoSubscribe = true, dataTrackBufferSize = 32)).use { bob ->
                val rec = record(bob)
                val snap = bob.connect(DevSfu.url, token("bob"))
                assertEquals(listOf("early"), snap.remoteDataTracks.map { it.info.name })
                // The snapshot track's subscription came with the connect result.
                assertEquals(2, bob.liveHandles) // room + the snapshot track's auto-subscription
                val late = alice.publishDataTrack("late")
                // The first DataTrackPublished is the new track: the snapshot's is not repeated.
                val lateRemote = rec.await<RoomEvent.DataTrackPublished>().track
                assertEquals("late", lateRemote.info.name)
                assertEquals(3, bob.liveHandles) // room + two auto-subscriptions
                for ((local, remote) in listOf(early to snap.remoteDataTracks[0], late to lateRemote)) {
                    val before = bob.liveHandles
                    remote.openSubscription().use { sub ->
                        assertEquals(before, bob.liveHandles) // the library's subscription, not a new one
                        assertEquals(local.info.sid, sub.track.info.sid)
                        sub.awaitSubscribed()
                        val payload = local.info.name.encodeToByteArray()
                        coroutineScope {
                            val got = async { sub.frames().first() }
                            withTimeout(GUARD) {
                                // the channel never retransmits: push again until one arrives
                                while (!got.isCompleted) {
                                    local.tryPush(payload)
                                    delay(20)
                                }
                            }
                            assertContentEquals(payload, got.await().payload)
                        }
                    }
                    assertEquals(before - 1, bob.liveHandles) // closing it released the library's handle
                }
                assertEquals(1, bob.liveHandles)
                // Handed out once: the next subscription of the snapshot track is a new one.
                snap.remoteDataTracks[0].openSubscription().use { assertEquals(2, bob.liveHandles) }
                // Every event up to now has been recorded (the late track's came after any
                // announcement of the snapshot track would have): only the late track was announced.
                assertEquals(listOf("late"), rec.all<RoomEvent.DataTrackPublished>().map { it.track.info.name })
            }
        }
    }

    @Test
    fun `a full queue refuses tryPush and push waits`() = lkTest {
        connect("alice").use { alice ->
            val track = alice.publishDataTrack("bp", DataTrackOptions(queueSize = 1))
            var refused = 0
            var pushed = 0
            val frame = ByteArray(60_000)
            // a tight loop outruns the paced writer of a one-frame queue (bounded, not timed)
            while (refused < 3 && pushed < 20_000) {
                try {
                    track.tryPush(frame)
                    pushed++
                } catch (e: QueueFullException) {
                    assertTrue(e.retryable)
                    refused++
                }
            }
            assertTrue(refused > 0, "a one-frame queue never filled in $pushed pushes")
            repeat(20) { track.push(ByteArray(60_000)) } // waits instead of failing
            track.flush()
            val s = track.stats()
            // refused pushes are counted (a waiting push's refused attempts too)
            assertTrue(s.rejected >= refused, "rejected ${s.rejected} < $refused")
            assertEquals(pushed + 20L, s.pushed)
            assertEquals(s.pushed, s.sent + s.sendFailed + s.discarded + s.queued)

            // push is paced like the core's Push: however fast the producer, its frames wait
            // behind at most 16 others (tryPush would let 1 024 pile up on a default track).
            val paced = alice.publishDataTrack("paced")
            repeat(2000) { i ->
                paced.push(ByteArray(1000))
                val q = paced.stats().queued
                assertTrue(q <= 16, "after push $i: $q frames queued")
            }
            assertEquals(0L, paced.stats().rejected)
        }
    }

    @Test
    fun `a burst is accepted with default options and dropOldest counts its evictions`() = lkTest {
        connect("alice").use { alice ->
            val burst = alice.publishDataTrack("burst")
            repeat(256) { burst.tryPush(ByteArray(1024) { b -> (it + b).toByte() }) } // never refused
            burst.flush()
            val b = burst.stats()
            assertEquals(DataTrackStats(256, 0, 256, 0, 0, 0, 0, 0), b)

            val fresh = alice.publishDataTrack("fresh", DataTrackOptions(queueSize = 2, queueBytes = 64_000, dropOldest = true))
            repeat(200) {
                fresh.tryPush(ByteArray(60_000))
                assertTrue(fresh.stats().queued <= 2)
            }
            fresh.flush()
            val s = fresh.stats()
            assertEquals(200L, s.pushed)
            assertEquals(0L, s.rejected)
            assertTrue(s.evicted > 0, "nothing evicted: $s")
            assertEquals(200L, s.sent + s.evicted)
        }
    }

    @Test
    fun `a publish cancelled while its completion is handed over releases the track`() = lkTest {
        // The dispatcher takes the waiter out of the pending map, then completes it; the caller
        // is cancelled in between (here: while the sink sees the completion, which happens in
        // that window). Its result must not be dropped on the floor with the track published.
        val caller = CompletableDeferred<Job>()
        val sink = object : EventSink {
            override fun onEvent(event: lkcore.ffi.v1.Event) {}

            override fun onCompletion(completion: lkcore.ffi.v1.Completion) {
                if (completion.resultCase != lkcore.ffi.v1.Completion.ResultCase.PUBLISH_DATA_TRACK) return
                runBlocking {
                    withTimeout(GUARD) {
                        val job = caller.await()
                        job.cancel()
                        job.join() // its cancellation handling has run before the waiter completes
                    }
                }
            }
        }
        NativeClient(sink, lkcore.ffi.v1.LogLevel.LOG_LEVEL_UNSPECIFIED).use { c ->
            val room = c.request(
                lkcore.ffi.v1.Request.newBuilder().setCreateRoom(lkcore.ffi.v1.CreateRoomRequest.getDefaultInstance()),
            ).createRoom.room.handle
            c.call(
                lkcore.ffi.v1.Request.newBuilder().setConnect(
                    lkcore.ffi.v1.ConnectRequest.newBuilder().setRoomHandle(room).setUrl(DevSfu.url).setToken(token("alice")),
                ),
            )
            assertEquals(1, c.liveHandles) // the room
            val job = launch {
                c.call(
                    lkcore.ffi.v1.Request.newBuilder().setPublishDataTrack(
                        lkcore.ffi.v1.PublishDataTrackRequest.newBuilder().setRoomHandle(room).setName("orphan"),
                    ),
                )
            }
            caller.complete(job)
            withTimeout(GUARD) { job.join() }
            assertTrue(job.isCancelled)
            // The published track's handle is released (the track unpublished), not leaked.
            withTimeout(GUARD) { while (c.liveHandles != 1) delay(10) }
        }
    }

    @Test
    fun `a room forgets exactly the objects registered under the handles an abandoned completion lists`() = lkTest {
        // When a caller was cancelled as its completion was handed over, the room's sink had
        // already registered the result's objects; the binding released the handles the library
        // listed (Completion.owned_handles) and the room must forget what it registered under
        // them — keyed by those handles, not by a list of result types. Synthetic completions
        // (handles never issued: only the room's registries are involved).
        Room(RoomOptions(autoSubscribe = true)).use { room ->
            fun remote(name: String) = lkcore.ffi.v1.RemoteDataTrackInfo.newBuilder().setPublisherIdentity("carol")
                .setInfo(lkcore.ffi.v1.DataTrackInfo.newBuilder().setSid("DTR_$name").setName(name)).build()
            val (s1, s2, t) = Triple(0x7000_0001L, 0x7000_0002L, 0x7000_0003L)
            room.sink.onCompletion(
                lkcore.ffi.v1.Completion.newBuilder().setRequestId(1).setConnect(
                    lkcore.ffi.v1.ConnectResult.newBuilder().addRemoteDataTracks(remote("a")).addRemoteDataTracks(remote("b"))
                        .addAutoSubscriptions(lkcore.ffi.v1.OwnedDataTrackSubscription.newBuilder().setHandle(s1).setTrack(remote("a")))
                        .addAutoSubscriptions(lkcore.ffi.v1.OwnedDataTrackSubscription.newBuilder().setHandle(s2).setTrack(remote("b"))),
                ).addOwnedHandles(s1).addOwnedHandles(s2).build(),
            )
            room.sink.onCompletion(
                lkcore.ffi.v1.Completion.newBuilder().setRequestId(2).setPublishDataTrack(
                    lkcore.ffi.v1.PublishDataTrackResult.newBuilder().setTrack(
                        lkcore.ffi.v1.OwnedLocalDataTrack.newBuilder().setHandle(t).setInfo(lkcore.ffi.v1.DataTrackInfo.newBuilder().setName("mine")),
                    ),
                ).addOwnedHandles(t).build(),
            )
            assertEquals(setOf(s1, s2), room.subscriptions.keys.toSet())
            assertEquals(setOf(s1, s2), room.autoSubscriptions.values.map { it.handle }.toSet())
            assertEquals(setOf(t), room.localTracks.keys.toSet())

            // Only the handles listed, whatever the result type (here: none).
            room.sink.onAbandoned(lkcore.ffi.v1.Completion.newBuilder().setRequestId(3).addOwnedHandles(s1).addOwnedHandles(t).build())
            assertEquals(setOf(s2), room.subscriptions.keys.toSet())
            assertEquals(listOf(s2), room.autoSubscriptions.values.map { it.handle })
            assertTrue(room.localTracks.isEmpty())
        }
    }

    @Test
    fun `a track's sid change shows on the objects the room handed out, and its subscriptions go on`() = lkTest {
        // The test server always shows a publisher's full reconnect as unpublished + published,
        // so the library's RemoteDataTrackSidChanged is fed to the room's event translation.
        connect("alice").use { alice ->
            alice.publishDataTrack("early", DataTrackOptions(schemaName = "s", frameEncoding = "json", schemaEncoding = "json_schema"))
            Room(RoomOptions(autoSubscribe = true)).use { bob ->
                val rec = record(bob)
                val snap = bob.connect(DevSfu.url, token("bob"))
                val early = snap.remoteDataTracks.single()
                alice.publishDataTrack("late")
                val late = rec.await<RoomEvent.DataTrackPublished>().track
                val lateSid = late.info.sid
                assertSame(early, bob.snapshot().remoteDataTracks.single { it.info.name == "early" }, "one object per track")
                assertSame(late, bob.snapshot().remoteDataTracks.single { it.info.name == "late" })
                val lateSub = late.openSubscription() // its auto-subscription
                val oldSid = early.info.sid
                val before = early.info

                bob.onRoomEvent(sidChanged("alice", "early", oldSid, "DTR_renewed"))
                val changed = rec.await<RoomEvent.DataTrackSidChanged>()
                assertSame(early, changed.track)
                assertEquals(oldSid, changed.oldSid)
                assertEquals("DTR_renewed", changed.sid)
                assertEquals(before.copy(sid = "DTR_renewed"), early.info, "the snapshot's object shows the new sid, the rest kept")
                assertEquals("DTR_renewed", snap.remoteDataTracks.single().info.sid)
                assertEquals(lateSid, late.info.sid, "another track is untouched")
                // The auto-subscription goes on: handed out by (publisher, name), with the object.
                val handles = bob.liveHandles
                early.openSubscription().use { sub ->
                    assertEquals(handles, bob.liveHandles, "the library's subscription, not a new one")
                    assertSame(early, sub.track)
                }

                // A subscription's track shows the change too, and a second change follows the first.
                bob.onRoomEvent(sidChanged("alice", "late", lateSid, "DTR_late2"))
                assertEquals("DTR_late2", rec.await<RoomEvent.DataTrackSidChanged> { it.oldSid == lateSid }.track.info.sid)
                assertSame(late, lateSub.track)
                assertEquals("DTR_late2", lateSub.track.info.sid)
                bob.onRoomEvent(sidChanged("alice", "late", "DTR_late2", "DTR_late3"))
                assertSame(late, rec.await<RoomEvent.DataTrackSidChanged> { it.sid == "DTR_late3" }.track)
                assertEquals("DTR_late3", late.info.sid)
                lateSub.close()
            }
        }
    }

    /** The library's RoomEvent for a remote track's sid change. */
    private fun sidChanged(publisher: String, name: String, oldSid: String, sid: String) = lkcore.ffi.v1.RoomEvent.newBuilder()
        .setDataTrackSidChanged(
            lkcore.ffi.v1.RemoteDataTrackSidChanged.newBuilder().setPublisherIdentity(publisher).setName(name).setOldSid(oldSid).setSid(sid),
        ).build()

    /** The library's description of a remote track. */
    private fun remote(publisher: String, name: String, sid: String, revoked: Boolean = false) = lkcore.ffi.v1.RemoteDataTrackInfo.newBuilder()
        .setPublisherIdentity(publisher).setInfo(lkcore.ffi.v1.DataTrackInfo.newBuilder().setSid(sid).setName(name)).setSubscriptionRevoked(revoked).build()

    /** The library's RoomEvent for a change of this participant's permission to receive a remote track. */
    private fun permissionChanged(publisher: String, name: String, sid: String, allowed: Boolean) = lkcore.ffi.v1.RoomEvent.newBuilder()
        .setDataTrackSubscriptionPermissionChanged(
            lkcore.ffi.v1.DataTrackSubscriptionPermissionChanged.newBuilder().setPublisherIdentity(publisher).setName(name).setSid(sid).setAllowed(allowed),
        ).build()

    /** The library's RoomSnapshotTaken listing [tracks]. */
    private fun snapshotTaken(vararg tracks: lkcore.ffi.v1.RemoteDataTrackInfo) = lkcore.ffi.v1.RoomEvent.newBuilder()
        .setSnapshotTaken(lkcore.ffi.v1.RoomSnapshotTaken.newBuilder().setSnapshot(snapshotWith(*tracks))).build()

    /** The library's RoomEvent for a remote track's publication. */
    private fun published(publisher: String, name: String, sid: String) = lkcore.ffi.v1.RoomEvent.newBuilder()
        .setDataTrackPublished(lkcore.ffi.v1.RemoteDataTrackPublished.newBuilder().setTrack(remote(publisher, name, sid))).build()

    /** The library's RoomEvent for a remote track's end. */
    private fun unpublished(publisher: String, name: String, sid: String) = lkcore.ffi.v1.RoomEvent.newBuilder()
        .setDataTrackUnpublished(lkcore.ffi.v1.RemoteDataTrackUnpublished.newBuilder().setPublisherIdentity(publisher).setName(name).setSid(sid)).build()

    /** A room snapshot of the library listing [tracks]. */
    private fun snapshotWith(vararg tracks: lkcore.ffi.v1.RemoteDataTrackInfo) =
        lkcore.ffi.v1.ConnectResult.newBuilder().addAllRemoteDataTracks(tracks.toList()).build()

    @Test
    fun `a snapshot ahead of the room's events hands out each track's one object, which the events then update`() = lkTest {
        // A snapshot reads the library's state, which is ahead of the events the room has not
        // applied yet. Driven with the library's messages (snapshot and events), no server.
        Room().use { room ->
            val rec = record(room)
            room.onRoomEvent(published("alice", "t", "DTR_1"))
            val track = rec.await<RoomEvent.DataTrackPublished>().track

            // The library changed the track's sid; its RemoteDataTrackSidChanged is still queued.
            val ahead = room.snapshotOf { snapshotWith(remote("alice", "t", "DTR_2")) }
            assertSame(track, ahead.remoteDataTracks.single(), "one object per track, not a second one under the new sid")
            assertEquals("DTR_1", track.info.sid, "the sid changes with the event, not with a snapshot")
            room.onRoomEvent(sidChanged("alice", "t", "DTR_1", "DTR_2"))
            assertSame(track, rec.await<RoomEvent.DataTrackSidChanged>().track)
            assertEquals("DTR_2", track.info.sid)
            assertSame(track, room.snapshotOf { snapshotWith(remote("alice", "t", "DTR_2")) }.remoteDataTracks.single())

            // subscription_revoked (ABI 1.23) likewise: the library revoked the subscription, its
            // DataTrackSubscriptionPermissionChanged is still queued. The event changes the object
            // (before it is delivered); a snapshot at its place among the events sets it too.
            assertSame(track, room.snapshotOf { snapshotWith(remote("alice", "t", "DTR_2", revoked = true)) }.remoteDataTracks.single())
            assertFalse(track.subscriptionRevoked, "subscriptionRevoked changes with the event, not with a snapshot ahead of it")
            room.onRoomEvent(permissionChanged("alice", "t", "DTR_2", allowed = false))
            assertSame(track, rec.await<RoomEvent.DataTrackSubscriptionPermissionChanged>().track)
            assertTrue(track.subscriptionRevoked)
            room.onRoomEvent(permissionChanged("alice", "t", "DTR_2", allowed = true))
            rec.await<RoomEvent.DataTrackSubscriptionPermissionChanged> { it.allowed }
            assertFalse(track.subscriptionRevoked)
            room.onRoomEvent(snapshotTaken(remote("alice", "t", "DTR_2", revoked = true)))
            assertSame(track, rec.await<RoomEvent.SnapshotTaken>().snapshot.remoteDataTracks.single())
            assertTrue(track.subscriptionRevoked, "a snapshot at its place among the events is the state there")
            room.onRoomEvent(snapshotTaken(remote("alice", "t", "DTR_2")))
            withTimeout(GUARD) { rec.seen.first { l -> l.count { it is RoomEvent.SnapshotTaken } == 2 } }
            assertFalse(track.subscriptionRevoked)

            // A track a snapshot lists before its RemoteDataTrackPublished (and a sid change) arrives:
            // the events are about the object the snapshot handed out.
            val early = room.snapshotOf { snapshotWith(remote("alice", "t", "DTR_2"), remote("bob", "u", "DTR_U2", revoked = true)) }
                .remoteDataTracks.single { it.publisherIdentity == "bob" }
            assertTrue(early.subscriptionRevoked, "a new object has its snapshot's state")
            room.onRoomEvent(published("bob", "u", "DTR_U1"))
            assertSame(early, rec.await<RoomEvent.DataTrackPublished> { it.track.publisherIdentity == "bob" }.track)
            room.onRoomEvent(sidChanged("bob", "u", "DTR_U1", "DTR_U2"))
            assertSame(early, rec.await<RoomEvent.DataTrackSidChanged> { it.sid == "DTR_U2" }.track)
            assertEquals("DTR_U2", early.info.sid)
            assertEquals(2, room.remoteTracks.size)

            // Unpublished, then published again under its name: a new object; the old one ended as it was.
            room.onRoomEvent(unpublished("alice", "t", "DTR_2"))
            room.onRoomEvent(published("alice", "t", "DTR_3"))
            val again = rec.await<RoomEvent.DataTrackPublished> { it.track.info.sid == "DTR_3" }.track
            assertNotSame(track, again)
            assertEquals("DTR_2", track.info.sid)
            assertSame(again, room.snapshotOf { snapshotWith(remote("alice", "t", "DTR_3")) }.remoteDataTracks.single())
        }
    }

    @Test
    fun `a track event the dispatcher applies while a snapshot is read waits for it, so an ended track never comes back`() = lkTest {
        // The snapshot's state is from before the track's unpublish, which the dispatcher thread
        // applies meanwhile. Ordered after the snapshot, the unpublish ends the object the
        // snapshot hands out; applied before its mapping, it would leave a stale object
        // registered under the name, which the next publication of that name would reuse.
        Room().use { room ->
            val rec = record(room)
            room.onRoomEvent(published("alice", "t", "DTR_1"))
            val old = rec.await<RoomEvent.DataTrackPublished>().track
            val dispatcher = Thread({ room.onRoomEvent(unpublished("alice", "t", "DTR_1")) }, "test-dispatcher")
            val snap = room.snapshotOf {
                dispatcher.start()
                // Until it waits for the snapshot (or, were the two not ordered, has applied the event); bounded.
                val deadline = System.nanoTime() + GUARD.inWholeNanoseconds
                while (dispatcher.isAlive && dispatcher.state != Thread.State.BLOCKED && System.nanoTime() < deadline) Thread.sleep(1)
                snapshotWith(remote("alice", "t", "DTR_1"))
            }
            dispatcher.join(GUARD.inWholeMilliseconds)
            assertFalse(dispatcher.isAlive)
            assertSame(old, snap.remoteDataTracks.single(), "the snapshot's state is from before the unpublish")
            assertTrue(room.remoteTracks.isEmpty(), "the unpublish ended it")

            room.onRoomEvent(published("alice", "t", "DTR_2"))
            val republished = withTimeout(GUARD) { rec.seen.first { l -> l.count { it is RoomEvent.DataTrackPublished } == 2 } }
                .filterIsInstance<RoomEvent.DataTrackPublished>().last().track
            assertNotSame(old, republished)
            assertEquals("DTR_2", republished.info.sid)
        }
    }

    @Test
    fun `a slow collector of a one-frame subscription sees no stale frames`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                val track = alice.publishDataTrack("latest")
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                remote.openSubscription(bufferSize = 1).use { sub ->
                    sub.awaitSubscribed()
                    val first = CompletableDeferred<Unit>()
                    val resume = CompletableDeferred<Unit>()
                    val got = async {
                        var n = 0
                        sub.frames().collect {
                            n++
                            if (n == 1) {
                                first.complete(Unit)
                                resume.await() // a slow consumer
                            }
                        }
                        n
                    }
                    withTimeout(GUARD) {
                        // the channel never retransmits: push until one arrives
                        while (!first.isCompleted) {
                            track.tryPush(byteArrayOf(0))
                            delay(20)
                        }
                    }
                    repeat(200) { track.push(byteArrayOf(1)) }
                    track.flush()
                    track.unpublish()
                    awaitEndedInLibrary(bob, sub) // nothing more arrives
                    resume.complete(Unit)
                    val n = withTimeout(GUARD) { got.await() }
                    // The first frame, then at most the one frame the library buffers and the one
                    // the reader holds: no hidden buffer of stale frames in between.
                    assertTrue(n <= 3, "the slow collector got $n frames")
                }
            }
        }
    }

    @Test
    fun `LocalDataTrackUnpublished names the track even before its publisher resumed`() = lkTest {
        val executor = Executors.newSingleThreadExecutor()
        val gate = CountDownLatch(1)
        try {
            val alice = connect("alice")
            val rec = record(alice)
            // The caller's only thread is held from its first suspension on: the completion is
            // handled, and events after it too, while the caller has not resumed.
            val published = async(executor.asCoroutineDispatcher()) { alice.publishDataTrack("held") }
            executor.execute { gate.await(GUARD.inWholeMilliseconds, TimeUnit.MILLISECONDS) }
            withTimeout(GUARD) { while (alice.liveHandles < 2) delay(10) } // published in the library
            alice.disconnect() // ends the track: LocalDataTrackUnpublished, then Disconnected
            val gone = rec.await<RoomEvent.LocalDataTrackUnpublished>()
            gate.countDown()
            val track = withTimeout(GUARD) { published.await() }
            assertSame(track, gone.track)
        } finally {
            gate.countDown()
            executor.shutdown()
        }
    }

    @Test
    fun `negative sizes are refused, not wrapped into huge unsigned values`() = lkTest {
        Room().use { room ->
            assertFailsWith<InvalidArgumentException> { room.publishDataTrack("t", DataTrackOptions(queueSize = -1)) }
            assertFailsWith<InvalidArgumentException> { room.publishDataTrack("t", DataTrackOptions(queueBytes = -1)) }
        }
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                alice.publishDataTrack("neg")
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                assertFailsWith<InvalidArgumentException> { remote.openSubscription(bufferSize = -1) }
                assertFailsWith<InvalidArgumentException> { remote.openSubscription(bufferBytes = -1) }
                // Beyond the library's cap (64 MiB): its refusal, no handle left behind.
                assertFailsWith<InvalidArgumentException> { remote.openSubscription(bufferBytes = (64 shl 20) + 1) }
                assertEquals(1, bob.liveHandles)
            }
        }
    }

    @Test
    fun `closing a pull subscription from another coroutine completes its frames normally`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                alice.publishDataTrack("closed-here")
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                val sub = remote.openSubscription()
                sub.awaitSubscribed()
                val reading = CompletableDeferred<Unit>()
                val collected = async {
                    sub.frames().onStart { reading.complete(Unit) }.collect {}
                }
                withTimeout(GUARD) { reading.await() }
                sub.close()
                withTimeout(GUARD) { collected.await() } // no InvalidHandleException
                assertEquals(1, bob.liveHandles)
            }
        }
    }

    @Test
    fun `a slow collector of a pull subscription is told exactly how many frames it lost before each frame`() = lkTest {
        connect("alice").use { alice ->
            connect("bob").use { bob ->
                val rec = record(bob)
                val track = alice.publishDataTrack("numbered")
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                // Read directly (lk_data_track_read_frame): the library's two-frame buffer drops
                // the oldest while the collector is held.
                remote.openSubscription(bufferSize = 2).use { sub ->
                    sub.awaitSubscribed()
                    assertLossesCounted(slowlyCollected(bob, track, sub), sub, buffered = 2)
                }
            }
        }
    }

    @Test
    fun `a slow collector of an auto-subscription is told exactly how many frames it lost before each frame`() = lkTest {
        connect("alice").use { alice ->
            // Read like an opened subscription (lk_data_track_read_frame): the library's buffer,
            // one frame (the room's dataTrackBufferSize), drops; the binding has none.
            Room(RoomOptions(autoSubscribe = true, dataTrackBufferSize = 1)).use { bob ->
                val rec = record(bob)
                bob.connect(DevSfu.url, token("bob"))
                val track = alice.publishDataTrack("lossy")
                val sub = rec.await<RoomEvent.DataTrackPublished>().track.openSubscription()
                sub.use {
                    sub.awaitSubscribed()
                    assertLossesCounted(slowlyCollected(bob, track, sub), sub, buffered = 1)
                }
            }
        }
    }

    @Test
    fun `a burst of 256 frames waits whole in the library until the auto-subscription is read`() = lkTest {
        connect("alice").use { alice ->
            Room(RoomOptions(autoSubscribe = true)).use { bob ->
                val rec = record(bob)
                bob.connect(DevSfu.url, token("bob"))
                val track = alice.publishDataTrack("burst")
                assertBurstWaitsWhole(track, rec.await<RoomEvent.DataTrackPublished>().track)
            }
        }
    }

    @Test
    fun `a burst of 256 frames waits whole in the library until a snapshot track's auto-subscription is read`() = lkTest {
        connect("alice").use { alice ->
            val track = alice.publishDataTrack("burst")
            Room(RoomOptions(autoSubscribe = true)).use { bob ->
                // Its auto-subscription came with the connect result (ConnectResult.auto_subscriptions).
                assertBurstWaitsWhole(track, bob.connect(DevSfu.url, token("bob")).remoteDataTracks.single())
            }
        }
    }

    /**
     * Takes [remote]'s auto-subscription, waits until it is established, and reads it only once
     * a burst of 256 frames pushed on [track] (the library's default subscription buffer, in
     * frames) has reached the room: it gets them all, in order, none reported dropped.
     */
    private suspend fun assertBurstWaitsWhole(track: LocalDataTrack, remote: RemoteDataTrack) {
        remote.openSubscription().use { sub ->
            sub.awaitSubscribed()
            remote.openSubscription(bufferSize = 1024).use { witness ->
                witness.awaitSubscribed()
                val n = 256
                repeat(n) { track.tryPush(numbered(it)) } // a default queue takes the burst
                track.flush()
                // One place in the library feeds both, the auto-subscription (opened first)
                // before the witness: once the witness has the last frame, so has the
                // auto-subscription's buffer.
                withTimeout(GUARD) { witness.frames().first { it.payload.decodeToString().toInt() == n - 1 } }
                // Read up to the last frame: what the subscription kept of the burst.
                val got = withTimeout(GUARD) { sub.frames().upTo(n - 1).toList() }
                assertEquals((0 until n).toList(), got.map { it.payload.decodeToString().toInt() }, "every frame, in order")
                assertEquals(List(n) { 0L }, got.map { it.droppedBefore }, "none dropped")
            }
        }
    }

    @Test
    fun `the room's dataTrackBufferBytes bounds an auto-subscription's frames in the library, taken or not`() = lkTest {
        connect("alice").use { alice ->
            // 32 bytes: the newest four 8-byte frames (the frame count, 0, is the library's 256).
            Room(RoomOptions(autoSubscribe = true, dataTrackBufferBytes = 32)).use { bob ->
                val rec = record(bob)
                bob.connect(DevSfu.url, token("bob"))
                val track = alice.publishDataTrack("bytes")
                val remote = rec.await<RoomEvent.DataTrackPublished>().track
                // The auto-subscription, established but not taken by anyone until the frames are in.
                val auto = bob.autoSubscriptions[Room.trackKey("alice", "bytes")] ?: error("no auto-subscription")
                auto.awaitSubscribed()
                val n = 20
                witness(bob, remote).use { witness ->
                    witness.awaitSubscribed()
                    repeat(n) { track.tryPush(numbered(it, width = 8)) }
                    track.flush()
                    withTimeout(GUARD) { witness.frames().first { it.payload.decodeToString().toInt() == n - 1 } }
                }
                val handles = bob.liveHandles
                remote.openSubscription().use { sub ->
                    assertSame(auto, sub)
                    assertEquals(handles, bob.liveHandles, "the library's subscription, not a new one")
                    val got = withTimeout(GUARD) { sub.frames().upTo(n - 1).toList() }
                    assertEquals(listOf(16, 17, 18, 19), got.map { it.payload.decodeToString().toInt() }, "the newest 32 bytes")
                    assertEquals(listOf(16L, 0L, 0L, 0L), got.map { it.droppedBefore }, "the 16 dropped, counted")
                }
            }
        }
    }

    /**
     * A subscription of [track] opened in [room]'s library directly, not through
     * [RemoteDataTrack.openSubscription] (which would take the track's auto-subscription):
     * 1 024 frames and 1 MiB, read like any. One place in the library feeds every subscription
     * of a track, in the order they were opened: once this one, opened last, has a frame, so
     * has every subscription opened before it.
     */
    private fun witness(room: Room, track: RemoteDataTrack): DataTrackSubscription {
        val h = room.client.request(
            lkcore.ffi.v1.Request.newBuilder().setSubscribeDataTrack(
                lkcore.ffi.v1.SubscribeDataTrackRequest.newBuilder().setRoomHandle(room.handle).setPublisherIdentity(track.publisherIdentity)
                    .setTrackName(track.info.name).setBufferSize(1024).setBufferBytes(1 shl 20)
                    .setDelivery(lkcore.ffi.v1.DeliveryMode.DELIVERY_MODE_PULL),
            ),
        ).subscribeDataTrack.subscription.handle
        return DataTrackSubscription(room, h, track)
    }

    /** Waits, within [GUARD], until the library of [room] reports [sub] ended. */
    private suspend fun awaitEndedInLibrary(room: Room, sub: DataTrackSubscription) {
        withTimeout(GUARD) {
            while (!room.client.request(
                    lkcore.ffi.v1.Request.newBuilder().setGetDataTrackSubscriptionEnd(
                        lkcore.ffi.v1.GetDataTrackSubscriptionEndRequest.newBuilder().setSubscriptionHandle(sub.handle),
                    ),
                ).getDataTrackSubscriptionEnd.ended
            ) {
                delay(20)
            }
        }
    }

    /** Frame [n]'s payload: its number, in decimal, zero-padded to [width] bytes. */
    private fun numbered(n: Int, width: Int = 0) = "$n".padStart(width, '0').encodeToByteArray()

    /** The frames of this flow up to and including the one numbered [last] ([numbered]). */
    private fun Flow<DataTrackFrame>.upTo(last: Int) = transformWhile {
        emit(it)
        it.payload.decodeToString().toInt() != last
    }

    /**
     * Collects [sub] (of [track], received by [room]) with a collector that holds on to its
     * first frame while 100 more are pushed, then ends the track and returns every frame
     * collected. Every frame is numbered in push order; the first is pushed again and again
     * (the channel never retransmits) until one arrives. The track ends only once frames pushed
     * after the 100 have reached the room (a second subscription sees them): the server forwards
     * nothing once it has processed the unpublish, so frames still on their way would vanish
     * and the held subscription could be left with nothing after its first frame.
     */
    private suspend fun TestCtx.slowlyCollected(room: Room, track: LocalDataTrack, sub: DataTrackSubscription): List<DataTrackFrame> {
        val watch = sub.track.openSubscription(bufferSize = 1024)
        watch.awaitSubscribed()
        val first = CompletableDeferred<Unit>()
        val resume = CompletableDeferred<Unit>()
        val got = async {
            val frames = mutableListOf<DataTrackFrame>()
            sub.frames().collect {
                frames += it
                if (frames.size == 1) {
                    first.complete(Unit)
                    resume.await() // a slow collector
                }
            }
            frames
        }
        var n = 0
        withTimeout(GUARD) {
            while (!first.isCompleted) {
                track.tryPush(numbered(n++))
                delay(20)
            }
        }
        repeat(100) { track.push(numbered(n++)) }
        val target = n
        coroutineScope {
            val more = launch {
                while (true) {
                    track.tryPush(numbered(n++))
                    delay(20)
                }
            }
            withTimeout(GUARD) { watch.frames().first { it.payload.decodeToString().toInt() >= target } }
            more.cancel()
            more.join()
        }
        watch.close()
        track.flush()
        track.unpublish()
        awaitEndedInLibrary(room, sub) // nothing more arrives: the collector sees everything left
        resume.complete(Unit)
        return withTimeout(GUARD) { got.await() }
    }

    /**
     * Each frame after the first reports as lost exactly the frames pushed between it and the
     * frame before (numbered payloads), so the frames plus the losses are every frame pushed
     * from the first collected to the last; and frames were lost. After the held first frame
     * the collector got no more than the frame the reader holds and the library's [buffered]
     * frames: no buffer of the binding's keeps more (nor loses what it should keep).
     */
    private fun assertLossesCounted(frames: List<DataTrackFrame>, sub: DataTrackSubscription, buffered: Int) {
        val nums = frames.map { it.payload.decodeToString().toInt() }
        assertEquals(nums.sorted().distinct(), nums, "frames in order, none twice")
        assertTrue(frames.size <= 2 + buffered, "the held collector got $nums")
        for (i in 1 until frames.size) {
            assertEquals((nums[i] - nums[i - 1] - 1).toLong(), frames[i].droppedBefore, "dropped before frame ${nums[i]} of $nums")
        }
        val lost = frames.drop(1).sumOf { it.droppedBefore }
        assertTrue(lost > 0, "100 frames pushed past a held collector and none lost: $nums")
        assertEquals((nums.last() - nums.first() + 1).toLong(), frames.size + lost)
        val end = sub.end ?: error("no end after the track was unpublished")
        assertTrue(lost <= end.framesDropped, "$lost reported lost, $end")
    }
}
