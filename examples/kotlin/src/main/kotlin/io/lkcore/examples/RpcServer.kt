package io.lkcore.examples

import io.lkcore.Room
import io.lkcore.RpcException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.runBlocking
import java.util.concurrent.atomic.AtomicInteger

/**
 * Answers RPC methods `echo`, `reverse`, `uppercase` and `divide` ("a/b"; an application error
 * 4000 on division by zero), until --calls calls were answered (0 = until interrupted).
 *
 *   java -cp lkcore-examples.jar io.lkcore.examples.RpcServerKt --url URL --token T [--calls 0]
 */
fun main(argv: Array<String>) = runBlocking {
    val a = Args(argv, "RpcServerKt --url URL --token TOKEN [--calls N] [--e2ee-key KEY] [-v]")
    val url = a.str("url", env = "LIVEKIT_URL")
    val token = a.str("token", env = "LIVEKIT_TOKEN")
    val calls = a.int("calls", 0)
    val count = AtomicInteger()
    val done = CompletableDeferred<Unit>()
    fun counted(f: (String) -> String): suspend (io.lkcore.RpcInvocation) -> String = { inv ->
        try {
            f(inv.payload).also { println("${inv.method}(${inv.payload.take(40)}) from ${inv.callerIdentity} -> ${it.take(40)}") }
        } finally {
            if (count.incrementAndGet() == calls) done.complete(Unit)
        }
    }
    Room(a.roomOptions()).use { room ->
        // Registered before connecting: no early call is missed.
        room.registerRpcMethod("echo", counted { it })
        room.registerRpcMethod("reverse", counted { it.reversed() })
        room.registerRpcMethod("uppercase", counted { it.uppercase() })
        room.registerRpcMethod(
            "divide",
            counted {
                val (x, y) = it.split("/").map(String::trim).map(String::toDouble)
                if (y == 0.0) throw RpcException(4000, "division by zero", it)
                (x / y).toString()
            },
        )
        val snap = room.connect(url, token)
        println("RPC server ${snap.localParticipant.identity} ready in ${snap.room.name}")
        done.await()
        println("answered ${count.get()} calls")
        room.disconnect()
    }
}
