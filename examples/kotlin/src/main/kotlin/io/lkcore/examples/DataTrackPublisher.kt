package io.lkcore.examples

import io.lkcore.Room
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking

/**
 * Publishes a data track and pushes `frame N` at --rate Hz (user timestamp: wall clock in ms),
 * --frames times (0 = until interrupted).
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.DataTrackPublisherKt --url URL --token T [--track sensor] [--rate 50] [--frames 0]
 */
fun main(argv: Array<String>) = runBlocking {
    val a = Args(argv, "DataTrackPublisherKt --url URL --token TOKEN [--track NAME] [--rate HZ] [--frames N] [--e2ee-key KEY] [-v]")
    val url = a.str("url", env = "LIVEKIT_URL")
    val token = a.str("token", env = "LIVEKIT_TOKEN")
    val frames = a.int("frames", 0)
    val periodNs = (1e9 / a.double("rate", 50.0)).toLong()
    Room(a.roomOptions()).use { room ->
        val snap = room.connect(url, token)
        println("connected to ${snap.room.name} as ${snap.localParticipant.identity}")
        val track = room.publishDataTrack(a.str("track", "sensor"))
        println("published ${track.info.name} (${track.info.sid})")
        val t0 = System.nanoTime()
        var seq = 0
        while (frames == 0 || seq < frames) {
            track.push("frame $seq".encodeToByteArray(), userTimestamp = System.currentTimeMillis())
            seq++
            val wait = t0 + seq * periodNs - System.nanoTime()
            if (wait > 0) delay(wait / 1_000_000)
        }
        track.flush()
        println("pushed $seq frames; stats ${track.stats()}")
        room.disconnect()
    }
}
