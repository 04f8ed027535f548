package io.lkcore.examples

import io.lkcore.QueueFullException
import io.lkcore.Room
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlin.system.exitProcess
import kotlin.time.Duration.Companion.seconds

/**
 * Kotlin side of the cross-language demo (examples/kotlin/crosslang.sh): publishes a data track
 * that another participant (the C example dt_subscriber) subscribes to, then calls `reverse` on
 * --callee (the C example rpc_callee) and checks every answer.
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.CrossLangKt --url URL --token T --callee ID [--frames 200] [--rate 100] [--calls 20]
 */
fun main(argv: Array<String>) {
    val rc = runBlocking {
        val a = Args(argv, "CrossLangKt --url URL --token TOKEN --callee ID [--track NAME] [--frames N] [--rate HZ] [--calls N]")
        val frames = a.int("frames", 200)
        val rate = a.double("rate", 100.0)
        val calls = a.int("calls", 20)
        val callee = a.str("callee")
        Room(a.roomOptions()).use { room ->
            val me = room.connect(a.str("url", env = "LIVEKIT_URL"), a.str("token", env = "LIVEKIT_TOKEN")).localParticipant.identity
            println("kotlin: connected as '$me'")
            val track = room.publishDataTrack(a.str("track", "sensor"))
            println("kotlin: published data track '${track.info.name}'; pushing $frames frames at ${rate.toInt()} Hz")
            delay(1_000) // the subscriber sees the track through the server's participant update
            var pushed = 0
            var full = 0
            val t0 = System.nanoTime()
            for (seq in 0 until frames) {
                try {
                    track.tryPush("frame $seq".encodeToByteArray(), userTimestamp = System.currentTimeMillis())
                    pushed++
                } catch (_: QueueFullException) {
                    full++
                }
                val wait = t0 + ((seq + 1) * 1e9 / rate).toLong() - System.nanoTime()
                if (wait > 0) delay(wait / 1_000_000)
            }
            val secs = (System.nanoTime() - t0) / 1e9
            println("kotlin: pushed $pushed frames in ${fmt(secs)} s (${(pushed / secs).toInt()} frames/s), $full refused (queue full)")
            val rtts = mutableListOf<Double>()
            var last = ""
            for (i in 0 until calls) {
                val payload = "hello from kotlin #$i"
                val t = System.nanoTime()
                last = room.performRpc(callee, "reverse", payload, responseTimeout = 10.seconds)
                rtts.add((System.nanoTime() - t) / 1e6)
                if (last != payload.reversed()) {
                    println("kotlin: unexpected RPC answer '$last'")
                    return@runBlocking 1
                }
            }
            rtts.sort()
            println("kotlin: $calls RPC calls to '$callee' (C): round trip p50 ${fmt(percentile(rtts, 50.0))} ms, max ${fmt(rtts.last())} ms; last answer '$last'")
            track.unpublish()
            room.disconnect()
        }
        0
    }
    exitProcess(rc)
}
