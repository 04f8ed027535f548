package io.lkcore.examples

import io.lkcore.DataTrackOptions
import io.lkcore.QueueFullException
import io.lkcore.Room
import io.lkcore.RoomEvent
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.seconds

/**
 * Benchmark of the Kotlin binding, both rooms in one JVM (like the Python benchmark): 1 KB
 * data-track frames pushed flat out for --seconds (tryPush; a refused frame is counted, not
 * retried), the same with the suspending push (back-pressure, nothing refused), one-way latency of 256 B frames at 500 Hz (one clock: System.nanoTime as the user
 * timestamp), and RPC 100 B echo round trips. Prints one JSON line.
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.BenchKt --url URL --token-a T1 --token-b T2 [--seconds 5] [--calls 2000]
 */
fun main(argv: Array<String>) = runBlocking {
    val a = Args(argv, "BenchKt --url URL --token-a TOKEN --token-b TOKEN [--seconds S] [--calls N]")
    val url = a.str("url")
    val seconds = a.double("seconds", 5.0)
    val calls = a.int("calls", 2000)
    val out = StringBuilder("{")
    withTimeout((seconds * 2 + 120).seconds) {
        Room().use { sub ->
            sub.registerRpcMethod("echo") { it.payload }
            val published = async(start = CoroutineStart.UNDISPATCHED) {
                sub.events.filterIsInstance<RoomEvent.DataTrackPublished>().first { it.track.info.name == "flat" }.track
            }
            val published2 = async(start = CoroutineStart.UNDISPATCHED) {
                sub.events.filterIsInstance<RoomEvent.DataTrackPublished>().first { it.track.info.name == "lat" }.track
            }
            val subId = sub.connect(url, a.str("token-b")).localParticipant.identity
            Room().use { pub ->
                pub.connect(url, a.str("token-a"))

                // 1 KB flat out
                val flat = pub.publishDataTrack("flat", DataTrackOptions(queueSize = 1024))
                val remote = published.await()
                val received = AtomicLong()
                val lastRx = AtomicLong()
                val s = remote.openSubscription(bufferSize = 4096)
                s.awaitSubscribed()
                val reader = launch {
                    s.frames().collect {
                        received.incrementAndGet()
                        lastRx.set(System.nanoTime())
                    }
                }
                val frame = ByteArray(1024)
                var pushed = 0L
                var refused = 0L
                val t0 = System.nanoTime()
                val end = t0 + (seconds * 1e9).toLong()
                while (System.nanoTime() < end) {
                    try {
                        flat.tryPush(frame)
                        pushed++
                    } catch (_: QueueFullException) {
                        refused++
                        yield()
                    }
                }
                val pushSecs = (System.nanoTime() - t0) / 1e9
                flat.flush()
                // frames still in flight: wait until the count stops growing (bounded)
                var last = -1L
                while (received.get() != last) {
                    last = received.get()
                    delay(300)
                }
                val rxSecs = (lastRx.get() - t0).coerceAtLeast(1) / 1e9 // until the last frame arrived
                reader.cancel()
                s.close()
                flat.close()
                out.append(
                    "\"flat_1KB\": {\"seconds\": ${fmt(pushSecs)}, \"pushed\": $pushed, \"queue_full\": $refused, " +
                        "\"received\": ${received.get()}, \"pushed_per_s\": ${(pushed / pushSecs).toLong()}, " +
                        "\"received_per_s\": ${(received.get() / rxSecs).toLong()}}, ",
                )

                // 1 KB with the suspending push (waits while the queue is full: no refusal)
                val published3 = async(start = CoroutineStart.UNDISPATCHED) {
                    sub.events.filterIsInstance<RoomEvent.DataTrackPublished>().first { it.track.info.name == "flat-push" }.track
                }
                val flatPush = pub.publishDataTrack("flat-push", DataTrackOptions(queueSize = 1024))
                val s3 = published3.await().openSubscription(bufferSize = 4096)
                s3.awaitSubscribed()
                val received3 = AtomicLong()
                val lastRx3 = AtomicLong()
                val reader3 = launch {
                    s3.frames().collect {
                        received3.incrementAndGet()
                        lastRx3.set(System.nanoTime())
                    }
                }
                var pushed3 = 0L
                val p0 = System.nanoTime()
                val pEnd = p0 + (seconds * 1e9).toLong()
                while (System.nanoTime() < pEnd) {
                    flatPush.push(frame)
                    pushed3++
                }
                val push3Secs = (System.nanoTime() - p0) / 1e9
                flatPush.flush()
                var last3 = -1L
                while (received3.get() != last3) {
                    last3 = received3.get()
                    delay(300)
                }
                reader3.cancel()
                s3.close()
                flatPush.close()
                out.append(
                    "\"push_1KB\": {\"seconds\": ${fmt(push3Secs)}, \"pushed\": $pushed3, \"received\": ${received3.get()}, " +
                        "\"pushed_per_s\": ${(pushed3 / push3Secs).toLong()}, " +
                        "\"received_per_s\": ${(received3.get() / ((lastRx3.get() - p0).coerceAtLeast(1) / 1e9)).toLong()}}, ",
                )

                // 256 B at 500 Hz, one-way latency
                val lat = pub.publishDataTrack("lat")
                val remote2 = published2.await()
                val latencies = java.util.Collections.synchronizedList(mutableListOf<Double>())
                val s2 = remote2.openSubscription(bufferSize = 256)
                s2.awaitSubscribed()
                val reader2 = launch { s2.frames().collect { latencies.add((System.nanoTime() - it.userTimestamp!!) / 1e6) } }
                val n = (seconds * 500).toInt()
                val small = ByteArray(256)
                val l0 = System.nanoTime()
                for (i in 0 until n) {
                    lat.push(small, userTimestamp = System.nanoTime())
                    val wait = l0 + (i + 1) * 2_000_000L - System.nanoTime()
                    if (wait > 0) delay(wait / 1_000_000)
                }
                lat.flush()
                val deadline = System.nanoTime() + 5_000_000_000L
                while (latencies.size < n && System.nanoTime() < deadline) delay(20)
                reader2.cancel()
                s2.close()
                val sorted = synchronized(latencies) { latencies.sorted() }
                out.append(
                    "\"latency_256B_500Hz\": {\"frames\": $n, \"received\": ${sorted.size}, " +
                        "\"p50_ms\": ${fmt(percentile(sorted, 50.0))}, \"p99_ms\": ${fmt(percentile(sorted, 99.0))}}, ",
                )

                // RPC 100 B echo
                val payload = "x".repeat(100)
                repeat(20) { pub.performRpc(subId, "echo", payload) } // warm-up
                val rtts = ArrayList<Double>(calls)
                repeat(calls) {
                    val t = System.nanoTime()
                    check(pub.performRpc(subId, "echo", payload) == payload)
                    rtts.add((System.nanoTime() - t) / 1e6)
                }
                rtts.sort()
                out.append("\"rpc_100B_calls\": $calls, \"rpc_100B_p50_ms\": ${fmt(percentile(rtts, 50.0))}, \"rpc_100B_p99_ms\": ${fmt(percentile(rtts, 99.0))}")
                pub.disconnect()
            }
            sub.disconnect()
        }
    }
    println(out.append("}"))
}
