package io.lkcore

import org.junit.jupiter.api.Test
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail

/** Prints how loading went (run in a child JVM by [LoadingTest]: the library loads once per JVM). */
object LoadProbe {
    @JvmStatic
    fun main(args: Array<String>) {
        try {
            val (major, minor) = Lkcore.abiVersion()
            println("loaded $major.$minor from ${Lkcore.libraryPath()}")
        } catch (e: LkAbiException) {
            // The typed exception itself (not an ExceptionInInitializerError around it), and the
            // same one again on the next call (not a NoClassDefFoundError).
            val again = runCatching { Room() }.exceptionOrNull()
            val same = again is LkAbiException && again.message == e.message
            println("failed ${e.javaClass.simpleName}: ${e.message}" + if (same) "" else " (then ${again?.javaClass?.simpleName}: ${again?.message})")
        } catch (e: Throwable) {
            println("failed ${e.javaClass.simpleName}: ${e.message}")
        }
    }
}

/** Where the library is loaded from, and the load-time ABI check, each in a fresh JVM. */
class LoadingTest : LkTestBase() {
    private fun probe(env: Map<String, String?>, vararg jvmArgs: String, classPathFirst: String? = null): String {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val cp = listOfNotNull(classPathFirst, System.getProperty("java.class.path")).joinToString(File.pathSeparator)
        val out = runChild(listOf(java, "-cp", cp, *jvmArgs, LoadProbe::class.java.name), env)
        return out.text.lines().last { it.startsWith("loaded") || it.startsWith("failed") }
    }

    private val realLib: String get() = System.getenv("LKCORE_LIB") ?: fail("LKCORE_LIB not set (run tests/suites/kotlin.sh)")

    @Test
    fun `LKCORE_LIB names the library`() {
        val out = probe(mapOf("LKCORE_LIB" to realLib))
        assertEquals("loaded $ABI_MAJOR.${Lkcore.abiVersion().second} from ${File(realLib).absolutePath}", out)
    }

    @Test
    fun `jna library path is searched`() {
        val dir = File(realLib).absoluteFile.parentFile
        val out = probe(mapOf("LKCORE_LIB" to null), "-Djna.library.path=${dir.path}")
        assertTrue(out.startsWith("loaded") && out.endsWith(File(dir, "liblkcore.so").path), out)
    }

    @Test
    fun `the copy bundled in the jar is extracted to a private temporary file`() {
        val res = javaClass.classLoader.getResourceAsStream("linux-x86-64/liblkcore.so") ?: fail("no bundled library on the class path")
        val tmp = File(System.getProperty("java.io.tmpdir"), "lkcore-jna-" + ProcessHandle.current().pid())
        tmp.mkdirs()
        try {
            // A jar holding the library as the binding's jar does, first on the class path.
            val jar = File(tmp, "bundle.jar")
            java.util.jar.JarOutputStream(jar.outputStream()).use { j ->
                j.putNextEntry(java.util.jar.JarEntry("linux-x86-64/liblkcore.so"))
                res.use { it.copyTo(j) }
                j.closeEntry()
            }
            val extractDir = File(tmp, "extract")
            val out = probe(mapOf("LKCORE_LIB" to null), "-Djna.tmpdir=${extractDir.path}", classPathFirst = jar.path)
            assertTrue(out.startsWith("loaded") && out.contains(extractDir.path), out)
        } finally {
            tmp.deleteRecursively()
        }
    }

    @Test
    fun `an incompatible ABI version is refused with a clear error`() {
        val fake = System.getenv("LKCORE_TEST_FAKE_ABI_LIB") ?: fail("LKCORE_TEST_FAKE_ABI_LIB not set (run tests/suites/kotlin.sh)")
        val out = probe(mapOf("LKCORE_LIB" to fake))
        assertTrue(out.startsWith("failed LkAbiException:") && out.contains("has ABI 2.0") && out.contains("needs 1.x"), out)
    }

    @Test
    fun `an older library is refused by its version, not by a missing function`() {
        // ABI 1.6 lacks lk_data_track_push_paced: binding the functions first failed with an
        // UnsatisfiedLinkError naming that symbol instead of saying which version is needed.
        val old = System.getenv("LKCORE_TEST_OLD_ABI_LIB") ?: fail("LKCORE_TEST_OLD_ABI_LIB not set (run tests/suites/kotlin.sh)")
        val out = probe(mapOf("LKCORE_LIB" to old))
        assertTrue(out.startsWith("failed LkAbiException:") && out.contains("has ABI 1.6") && out.contains("x >= $ABI_MINOR"), out)
    }

    @Test
    fun `a malformed GOMEMLIMIT is refused instead of aborting the JVM`() {
        // Without the check the Go runtime inside the library kills the probe JVM as it loads.
        val out = probe(mapOf("LKCORE_LIB" to realLib, "GOMEMLIMIT" to "64MB"))
        assertTrue(out.startsWith("failed LkAbiException:") && out.contains("GOMEMLIMIT=\"64MB\""), out)
        assertTrue(probe(mapOf("LKCORE_LIB" to realLib, "GOMEMLIMIT" to "64MiB")).startsWith("loaded"))
    }

    @Test
    fun `GOMEMLIMIT values as the Go runtime reads them`() {
        for (v in listOf("", "off", "0", "123", "123B", "+64MiB", "-0", "2KiB", "3GiB", "8388607TiB")) {
            assertTrue(validGoMemLimit(v), v)
        }
        for (v in listOf("64MB", "-1", "5 MiB", "KiB", "B", "5iB", "5kiB", "8388608TiB", "9223372036854775808", "1.5GiB")) {
            assertTrue(!validGoMemLimit(v), v)
        }
    }

    @Test
    fun `a missing LKCORE_LIB file is a clear error`() {
        val out = probe(mapOf("LKCORE_LIB" to "/nonexistent/liblkcore.so"))
        assertEquals("failed LkAbiException: LKCORE_LIB=/nonexistent/liblkcore.so is not a file", out)
    }
}
