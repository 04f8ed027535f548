package io.lkcore.examples

import io.lkcore.E2eeOptions
import io.lkcore.LogLevel
import io.lkcore.RoomOptions
import kotlin.system.exitProcess

/**
 * Command-line options of the examples: `--name value` pairs and `-v`. Every program takes
 * `--url` (or LIVEKIT_URL), its token(s) (`--token`, or LIVEKIT_TOKEN), `--e2ee-key KEY` for
 * end-to-end encryption with a shared key, and `-v` for the library's debug logs.
 */
class Args(argv: Array<String>, private val usage: String) {
    private val values = mutableMapOf<String, String>()
    val verbose: Boolean

    init {
        var v = false
        var i = 0
        while (i < argv.size) {
            val a = argv[i]
            when {
                a == "-v" || a == "--verbose" -> v = true
                a == "-h" || a == "--help" -> fail(null)
                a.startsWith("--") && i + 1 < argv.size -> values[a.removePrefix("--")] = argv[++i]
                else -> fail("unexpected argument $a")
            }
            i++
        }
        verbose = v
    }

    /** The value of `--name` (or of environment variable [env]), or [default]; fails if none. */
    fun str(name: String, default: String? = null, env: String? = null): String =
        values[name] ?: env?.let { System.getenv(it) }?.takeIf { it.isNotEmpty() } ?: default ?: fail("--$name is required")

    fun int(name: String, default: Int): Int = values[name]?.toIntOrNull() ?: if (name in values) fail("--$name: not a number") else default

    fun double(name: String, default: Double): Double = values[name]?.toDoubleOrNull() ?: if (name in values) fail("--$name: not a number") else default

    fun roomOptions(): RoomOptions = RoomOptions(
        e2ee = values["e2ee-key"]?.let { E2eeOptions(it.encodeToByteArray()) },
        logLevel = if (verbose) LogLevel.DEBUG else LogLevel.WARN,
    )

    private fun fail(msg: String?): Nothing {
        if (msg != null) System.err.println(msg)
        System.err.println("usage: $usage")
        exitProcess(2)
    }
}

/** Percentile of a sorted list (nearest rank). */
fun percentile(sorted: List<Double>, p: Double): Double =
    if (sorted.isEmpty()) Double.NaN else sorted[((p / 100.0) * sorted.size).toInt().coerceIn(0, sorted.size - 1)]

fun fmt(v: Double) = String.format(java.util.Locale.ROOT, "%.2f", v)
