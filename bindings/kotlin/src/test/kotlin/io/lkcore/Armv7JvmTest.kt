package io.lkcore

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.fail
import kotlin.time.Duration.Companion.seconds

/**
 * Two rooms in one JVM over every C function the binding calls: requests and their responses
 * (lk_request), events (lk_client_next_event), both pushes, frames read with
 * lk_data_track_read_frame, buffers freed. Run by [Armv7JvmTest] in a 32-bit ARM JVM.
 * Arguments: URL, alice's token, bob's token. Prints `ok <pointer size> <library path>`.
 */
object Armv7Probe {
    @JvmStatic
    fun main(args: Array<String>) = runBlocking {
        val (url, tokenA, tokenB) = args
        withTimeout(120.seconds) {
            Room().use { bob ->
                bob.registerRpcMethod("echo") { it.payload }
                val published = async(start = CoroutineStart.UNDISPATCHED) { bob.events.filterIsInstance<RoomEvent.DataTrackPublished>().first() }
                bob.connect(url, tokenB)
                Room().use { alice ->
                    alice.connect(url, tokenA)
                    val track = alice.publishDataTrack("probe")
                    val sub = published.await().track.openSubscription(bufferSize = 8)
                    sub.use {
                        sub.awaitSubscribed()
                        val got = async { sub.frames().take(3).toList() }
                        track.tryPush(ByteArray(1000) { 1 }, userTimestamp = 11)
                        track.push(ByteArray(70_000) { 2 }, userTimestamp = 0x1_0000_0002)
                        track.push(byteArrayOf(3))
                        val frames = got.await()
                        check(frames.map { it.payload.size } == listOf(1000, 70_000, 1)) { "frame sizes ${frames.map { it.payload.size }}" }
                        check(frames[0].payload.all { it == 1.toByte() } && frames[1].payload.all { it == 2.toByte() }) { "frame bytes" }
                        check(frames.map { it.userTimestamp } == listOf(11L, 0x1_0000_0002L, null)) { "timestamps ${frames.map { it.userTimestamp }}" }
                    }
                    val big = "x".repeat(200_000)
                    check(alice.performRpc("bob", "echo", big) == big) { "RPC echo" }
                }
            }
        }
        println("ok ${com.sun.jna.Native.POINTER_SIZE} ${Lkcore.libraryPath()}")
    }
}

/**
 * The binding in a 32-bit ARM JVM (armhf, under qemu's user-mode emulation), where `size_t` and
 * pointers are 32 bits: JNA loads the library bundled under linux-arm/, and
 * [Armv7Probe] runs against the devsfu CLI. tests/suites/kotlin.sh prepares the JVM
 * (tests/lib/armhf-root.sh): LKCORE_TEST_ARMHF_ROOT is the emulated root, LKCORE_TEST_ARMHF_JAVA its java.
 */
class Armv7JvmTest : LkTestBase() {
    @Test
    fun `the binding works in a 32-bit ARM JVM with the library bundled for linux-arm`() {
        val root = System.getenv("LKCORE_TEST_ARMHF_ROOT") ?: fail("LKCORE_TEST_ARMHF_ROOT not set (run tests/suites/kotlin.sh)")
        val java = System.getenv("LKCORE_TEST_ARMHF_JAVA") ?: fail("LKCORE_TEST_ARMHF_JAVA not set (run tests/suites/kotlin.sh)")
        val cmd = listOf("qemu-arm", "-L", root, java) +
            listOf("-cp", System.getProperty("java.class.path"), Armv7Probe::class.java.name,
                DevSfu.url, DevSfu.token("armv7", "alice"), DevSfu.token("armv7", "bob"))
        // LKCORE_LIB unset: the library must come from the class path.
        val out = runChild(cmd, mapOf("LKCORE_LIB" to null), timeoutSeconds = 300)
        assertEquals(0, out.exitCode, out.text)
        val last = out.lastLine
        val m = Regex("ok (\\d+) (.*)").matchEntire(last) ?: fail("no result line:\n${out.text}")
        assertEquals("4", m.groupValues[1], "pointer size in the ARM JVM")
        // Found by JNA in the class path's folder for this machine (the suite's target/classes;
        // from a jar it is extracted first, LoadingTest), not through LKCORE_LIB.
        assertEquals("linux-arm/liblkcore.so", File(m.groupValues[2]).let { "${it.parentFile.name}/${it.name}" }, "library loaded from ${m.groupValues[2]}")
    }
}
