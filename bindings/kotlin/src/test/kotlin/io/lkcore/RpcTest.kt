package io.lkcore

import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** RPC against lkcore-devsfu. */
class RpcTest : LkTestBase() {
    @Test
    fun `round trips and every error path`() = lkTest {
        val calls = java.util.concurrent.ConcurrentLinkedQueue<RpcInvocation>()
        Room().use { bob ->
            bob.registerRpcMethod("echo") { calls.add(it); it.payload }
            bob.registerRpcMethod("upper") { it.payload.uppercase() }
            bob.registerRpcMethod("fail") { throw RpcException(4001, "nope", "details") }
            bob.registerRpcMethod("crash") { error("boom") }
            bob.registerRpcMethod("slow") {
                delay(5_000)
                "too late"
            }
            assertFailsWith<AlreadyExistsException> { bob.registerRpcMethod("echo") { "" } }
            bob.connect(DevSfu.url, token("bob"))
            connect("alice").use { alice ->
                assertEquals("hi there", alice.performRpc("bob", "echo", "hi there"))
                val d = calls.single()
                assertEquals("alice", d.callerIdentity)
                assertEquals("echo", d.method)
                assertTrue(d.requestId.isNotEmpty() && d.responseTimeoutMs > 0)
                assertEquals("ABC", alice.performRpc("bob", "upper", "abc", responseTimeout = 5.seconds))

                val big = "x".repeat(1 shl 20) // 1 MiB
                assertEquals(big, alice.performRpc("bob", "echo", big))

                val e1 = assertFailsWith<RpcException> { alice.performRpc("bob", "fail", "") }
                assertEquals(4001, e1.rpcCode)
                assertEquals("nope", e1.rpcMessage)
                assertEquals("details", e1.data)
                assertEquals(ErrorCode.RPC_ERROR, e1.code)

                assertEquals(RpcException.APPLICATION_ERROR, assertFailsWith<RpcException> { alice.performRpc("bob", "crash", "") }.rpcCode)
                assertEquals(RpcException.UNSUPPORTED_METHOD, assertFailsWith<RpcException> { alice.performRpc("bob", "missing", "") }.rpcCode)
                val nobody = assertFailsWith<RpcException> { alice.performRpc("nobody", "echo", "") }.rpcCode
                assertTrue(nobody == RpcException.RECIPIENT_NOT_FOUND || nobody == RpcException.CONNECTION_TIMEOUT, "got $nobody")
                assertEquals(
                    RpcException.RESPONSE_TIMEOUT,
                    assertFailsWith<RpcException> { alice.performRpc("bob", "slow", "", responseTimeout = 300.milliseconds) }.rpcCode,
                )
                bob.unregisterRpcMethod("upper")
                assertEquals(RpcException.UNSUPPORTED_METHOD, assertFailsWith<RpcException> { alice.performRpc("bob", "upper", "abc") }.rpcCode)
            }
        }
    }

    @Test
    fun `methods registered before connect answer early calls`() = lkTest {
        Room().use { bob ->
            bob.registerRpcMethod("early") { "early:" + it.payload }
            bob.connect(DevSfu.url, token("bob"))
            connect("alice").use { alice ->
                assertEquals("early:x", alice.performRpc("bob", "early", "x"))
            }
        }
    }

    @Test
    fun `a handler that times out on its own answers APPLICATION_ERROR at once`() = lkTest {
        Room().use { bob ->
            // TimeoutCancellationException is a CancellationException, but the room is not
            // closing: the caller gets an answer instead of waiting for its response timeout.
            bob.registerRpcMethod("inner-timeout") { withTimeout(10.milliseconds) { awaitCancellation() } }
            bob.connect(DevSfu.url, token("bob"))
            connect("alice").use { alice ->
                val e = assertFailsWith<RpcException> { alice.performRpc("bob", "inner-timeout", "", responseTimeout = 30.seconds) }
                assertEquals(RpcException.APPLICATION_ERROR, e.rpcCode)
            }
        }
    }
}
