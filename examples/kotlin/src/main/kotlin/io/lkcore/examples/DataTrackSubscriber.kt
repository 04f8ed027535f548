package io.lkcore.examples

import io.lkcore.RemoteDataTrack
import io.lkcore.Room
import io.lkcore.RoomEvent
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.runBlocking

/**
 * Subscribes to data track --track of --publisher (whichever comes first if not given) and prints
 * every frame with its one-way latency (from the publisher's wall-clock user timestamp), until
 * --frames frames (0 = until the track ends).
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.DataTrackSubscriberKt --url URL --token T [--publisher ID] [--track sensor] [--frames 0]
 */
fun main(argv: Array<String>) = runBlocking {
    val a = Args(argv, "DataTrackSubscriberKt --url URL --token TOKEN [--publisher ID] [--track NAME] [--frames N] [--e2ee-key KEY] [-v]")
    val url = a.str("url", env = "LIVEKIT_URL")
    val token = a.str("token", env = "LIVEKIT_TOKEN")
    val publisher = a.str("publisher", "")
    val name = a.str("track", "sensor")
    val frames = a.int("frames", 0)
    fun wanted(t: RemoteDataTrack) = t.info.name == name && (publisher.isEmpty() || t.publisherIdentity == publisher)
    Room(a.roomOptions()).use { room ->
        // Listen before connecting so a publication right after the snapshot is not missed.
        val published = async(start = CoroutineStart.UNDISPATCHED) {
            room.events.filterIsInstance<RoomEvent.DataTrackPublished>().first { wanted(it.track) }.track
        }
        val snap = room.connect(url, token)
        println("connected to ${snap.room.name} as ${snap.localParticipant.identity}; waiting for $name")
        val track = snap.remoteDataTracks.firstOrNull(::wanted)?.also { published.cancel() } ?: published.await()
        println("subscribing to $track")
        var n = 0
        val flow = track.subscribe(bufferSize = 64)
        (if (frames > 0) flow.take(frames) else flow).collect { f ->
            n++
            val lat = f.userTimestamp?.let { System.currentTimeMillis() - it }
            println("frame ${f.payload.decodeToString()} (${f.payload.size} B)${lat?.let { ", latency $it ms" } ?: ""}")
        }
        println("received $n frames")
        room.disconnect()
    }
}
