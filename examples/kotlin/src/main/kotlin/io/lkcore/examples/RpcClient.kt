package io.lkcore.examples

import io.lkcore.Room
import io.lkcore.RpcException
import kotlinx.coroutines.runBlocking
import kotlin.time.Duration.Companion.seconds

/**
 * Calls --method (default `reverse`) on --to --calls times and prints results and round trips;
 * then `divide` by zero to show an application error.
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.RpcClientKt --url URL --token T --to server [--calls 5]
 */
fun main(argv: Array<String>) = runBlocking {
    val a = Args(argv, "RpcClientKt --url URL --token TOKEN --to IDENTITY [--method M] [--calls N] [--e2ee-key KEY] [-v]")
    val url = a.str("url", env = "LIVEKIT_URL")
    val token = a.str("token", env = "LIVEKIT_TOKEN")
    val to = a.str("to")
    val method = a.str("method", "reverse")
    Room(a.roomOptions()).use { room ->
        room.connect(url, token)
        repeat(a.int("calls", 5)) { i ->
            val t = System.nanoTime()
            val r = room.performRpc(to, method, "hello from kotlin #$i", responseTimeout = 10.seconds)
            println("$method #$i -> $r (${fmt((System.nanoTime() - t) / 1e6)} ms)")
        }
        try {
            room.performRpc(to, "divide", "1/0")
        } catch (e: RpcException) {
            println("divide 1/0 -> RPC error ${e.rpcCode}: ${e.rpcMessage} (${e.data})")
        }
        room.disconnect()
    }
}
