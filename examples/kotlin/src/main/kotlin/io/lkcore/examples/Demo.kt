package io.lkcore.examples

import io.lkcore.Room
import io.lkcore.RoomEvent
import io.lkcore.RpcException
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds

/**
 * Two participants in one process, like the Go demo: A sends a data packet to B, publishes a
 * data track that B subscribes to, and calls an RPC method B registered.
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.DemoKt --url URL --token-a TOKEN_A --token-b TOKEN_B
 */
fun main(argv: Array<String>) = runBlocking {
    val a = Args(argv, "DemoKt --url URL --token-a TOKEN --token-b TOKEN [--frames N] [--e2ee-key KEY] [-v]")
    val url = a.str("url", env = "LIVEKIT_URL")
    val frames = a.int("frames", 20)
    withTimeout(60.seconds) {
        Room(a.roomOptions()).use { roomB ->
            roomB.registerRpcMethod("greet") { "hello ${it.callerIdentity}, you said '${it.payload}'" }
            val packet = async(start = CoroutineStart.UNDISPATCHED) { roomB.events.filterIsInstance<RoomEvent.DataReceived>().first() }
            val published = async(start = CoroutineStart.UNDISPATCHED) { roomB.events.filterIsInstance<RoomEvent.DataTrackPublished>().first() }
            val b = roomB.connect(url, a.str("token-b")).localParticipant.identity
            Room(a.roomOptions()).use { roomA ->
                val snap = roomA.connect(url, a.str("token-a"))
                val me = snap.localParticipant.identity
                println("kotlin demo: $me and $b in room ${snap.room.name}")

                roomA.publishData("hi $b".encodeToByteArray(), topic = "chat", destinations = listOf(b))
                val p = packet.await().packet
                println("$b got packet '${p.payload.decodeToString()}' on '${p.topic}' from ${p.participantIdentity}")

                val track = roomA.publishDataTrack("demo-track")
                val remote = published.await().track
                val sub = remote.openSubscription(bufferSize = frames)
                sub.use {
                    sub.awaitSubscribed()
                    val got = async { sub.frames().take(frames).toList() }
                    repeat(frames) { i -> track.push("frame $i".encodeToByteArray(), userTimestamp = System.nanoTime()) }
                    val lat = got.await().map { (System.nanoTime() - it.userTimestamp!!) / 1e6 }
                    println("$b received $frames frames of ${remote.info.name}; last arrived ${fmt(lat.last())} ms after its push")
                }
                println("$me called greet on $b: ${roomA.performRpc(b, "greet", "how are you?")}")
                try {
                    roomA.performRpc(b, "missing", "")
                } catch (e: RpcException) {
                    println("$me called missing on $b: RPC error ${e.rpcCode} (${e.rpcMessage})")
                }
                roomA.disconnect()
            }
            roomB.disconnect()
        }
    }
    println("kotlin demo done")
}
