package io.lkcore

import com.sun.jna.Platform
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail

/**
 * The libraries the jar bundles (pom.xml's resources): each lies in the folder JNA searches on the
 * machine it was built for, so a JVM there extracts the right one and no other. The suite
 * (tests/suites/kotlin.sh) bundles the x86-64 library and the ARM builds that exist, and names
 * the folders it filled in LKCORE_TEST_BUNDLED.
 */
class BundledLibrariesTest : LkTestBase() {
    /** What the ELF header of a bundled library says about the machine it runs on. */
    private data class Elf(val osArch: String, val hardFloat: Boolean)

    private fun readElf(bytes: ByteArray, name: String): Elf {
        assertTrue(bytes.size >= 52 && bytes[0] == 0x7f.toByte() && bytes[1] == 'E'.code.toByte() &&
            bytes[2] == 'L'.code.toByte() && bytes[3] == 'F'.code.toByte(), "$name is no ELF file")
        val is64 = when (bytes[4].toInt()) {
            1 -> false
            2 -> true
            else -> fail("$name: ELF class ${bytes[4]}")
        }
        assertEquals(1, bytes[5].toInt(), "$name: not little-endian")
        val b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
        assertEquals(3, b.getShort(16).toInt(), "$name: not a shared object (ET_DYN)")
        val machine = b.getShort(18).toInt() and 0xffff
        val flags = b.getInt(if (is64) 48 else 36)
        // os.arch as the JVM reports it on that machine.
        val arch = when (machine to is64) {
            62 to true -> "amd64"
            183 to true -> "aarch64"
            40 to false -> "arm"
            3 to false -> "x86"
            else -> fail("$name: ELF machine $machine (${if (is64) 64 else 32}-bit) has no JVM arch here")
        }
        // EF_ARM_ABI_FLOAT_HARD: the armhf calling convention.
        return Elf(arch, machine == 40 && flags and 0x400 != 0)
    }

    /** JNA's resource folder for a Linux JVM on [osArch] (Platform.getNativeLibraryResourcePrefix). */
    private fun jnaFolder(osArch: String): String {
        val m = Platform::class.java.getDeclaredMethod(
            "getNativeLibraryResourcePrefix", Int::class.javaPrimitiveType, String::class.java, String::class.java,
        )
        m.isAccessible = true
        return m.invoke(null, Platform.LINUX, osArch, "Linux") as String
    }

    @Test
    fun `each bundled library lies in the folder JNA searches on its machine`() {
        val expected = (System.getenv("LKCORE_TEST_BUNDLED") ?: fail("LKCORE_TEST_BUNDLED not set (run tests/suites/kotlin.sh)"))
            .split(',').filter { it.isNotEmpty() }.toSet()
        assertTrue("linux-x86-64" in expected, "the suite always bundles the x86-64 library: $expected")
        // Every Linux folder JNA may search (its canonical architectures), not only the expected ones.
        val folders = listOf("x86-64", "x86", "aarch64", "arm", "armel", "ppc64le", "s390x", "riscv64", "loongarch64", "mips64el")
            .map { "linux-$it" }
        val bundled = folders.filter { javaClass.classLoader.getResource("$it/liblkcore.so") != null }.toSet()
        assertEquals(expected, bundled, "folders holding liblkcore.so on the class path")
        for (folder in bundled) {
            val name = "$folder/liblkcore.so"
            val head = javaClass.classLoader.getResourceAsStream(name)!!.use { it.readNBytes(64) }
            val elf = readElf(head, name)
            if (elf.osArch == "arm") {
                // JNA picks linux-armel for a soft-float JVM; Debian's armhf JVM is hard-float,
                // and so must the library be (./build.sh lib linux-armv7).
                assertTrue(elf.hardFloat, "$name is not a hard-float (armhf) library")
                assertEquals("linux-arm", folder, "$name: a hard-float ARM library belongs in linux-arm")
            } else {
                assertEquals(jnaFolder(elf.osArch), folder, "$name is built for ${elf.osArch}")
            }
        }
    }
}
