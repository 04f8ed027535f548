package io.lkcore

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.runTest
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.extension.AfterEachCallback
import org.junit.jupiter.api.extension.ExtendWith
import org.junit.jupiter.api.extension.ExtensionContext
import java.net.HttpURLConnection
import java.net.URI
import java.net.URLEncoder
import java.util.UUID
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration.Companion.seconds

/** Hang guard for anything that waits on the network (never a performance assertion). */
val GUARD = 20.seconds

/** What a child process printed (stdout and stderr together) and its exit status. */
class ChildOutput(val exitCode: Int, val text: String) {
    /** The last non-blank line. */
    val lastLine: String get() = text.lines().lastOrNull { it.isNotBlank() } ?: ""
}

/**
 * Runs [command] with [env] changes (a null value removes the variable) and waits at most
 * [timeoutSeconds] for it: a child that hangs is killed and fails the test with what it printed.
 * The output is read while the child runs, so a talkative one never blocks on a full pipe.
 */
fun runChild(command: List<String>, env: Map<String, String?> = emptyMap(), timeoutSeconds: Long = 60): ChildOutput {
    val pb = ProcessBuilder(command).redirectErrorStream(true)
    env.forEach { (k, v) -> if (v == null) pb.environment().remove(k) else pb.environment()[k] = v }
    val p = pb.start()
    val out = StringBuffer()
    val reader = Thread { p.inputStream.bufferedReader().forEachLine { out.appendLine(it) } }.apply { start() }
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly()
        reader.join(5_000)
        fail("${command.first()} did not finish in $timeoutSeconds s:\n$out")
    }
    reader.join(5_000)
    return ChildOutput(p.exitValue(), out.toString())
}

/**
 * The devsfu the suite started (tests/suites/kotlin.sh). A server test without one fails: a
 * missing server must never turn the server tests off silently.
 */
object DevSfu {
    private fun env(name: String): String = System.getenv(name)?.takeIf { it.isNotEmpty() }
        ?: fail("$name not set: no lkcore-devsfu to test against (run tests/suites/kotlin.sh)")

    val url: String get() = env("LKCORE_DEVSFU_URL")

    /**
     * The same server's wss:// URL (`--tls-ca-out`): same rooms, key and secret; its certificate,
     * for 127.0.0.1, is signed by the CA of [caPem], which no system trusts.
     */
    val tlsUrl: String get() = env("LKCORE_DEVSFU_TLS_URL")

    /** The PEM of the CA that signed the certificate [tlsUrl] presents (the file `--tls-ca-out` wrote). */
    val caPem: String get() {
        val f = java.io.File(env("LKCORE_DEVSFU_TLS_CA"))
        if (!f.isFile || f.length() == 0L) fail("LKCORE_DEVSFU_TLS_CA: no CA file at $f")
        return f.readText()
    }

    /** Mints an access token with the devsfu CLI. */
    fun token(room: String, identity: String, vararg extra: String): String {
        val p = ProcessBuilder(
            env("LKCORE_DEVSFU_BIN"), "token", "--room", room, "--identity", identity,
            "--key", env("LKCORE_DEVSFU_KEY"), "--secret", env("LKCORE_DEVSFU_SECRET"), *extra,
        ).redirectErrorStream(false).start()
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly()
            fail("lkcore-devsfu token timed out")
        }
        val out = p.inputStream.readAllBytes().decodeToString().trim()
        if (p.exitValue() != 0 || out.isEmpty()) fail("lkcore-devsfu token failed: ${p.errorStream.readAllBytes().decodeToString()}")
        return out
    }

    /** POSTs to a fault-injection endpoint (`lkcore-devsfu --control`). */
    fun control(path: String, vararg params: Pair<String, String>) {
        val c = controlUri(url, path, *params).toURL().openConnection() as HttpURLConnection
        c.requestMethod = "POST"
        c.connectTimeout = 10_000
        c.readTimeout = 10_000
        c.doOutput = true
        c.outputStream.close()
        val code = c.responseCode
        c.disconnect()
        if (code != 200 && code != 204) fail("devsfu control $path: HTTP $code")
    }
}

/** The URI of control endpoint [path] of the devsfu at [wsUrl] (its ws:// URL). */
fun controlUri(wsUrl: String, path: String, vararg params: Pair<String, String>): URI {
    val q = params.joinToString("&") { "${it.first}=${URLEncoder.encode(it.second, Charsets.UTF_8)}" }
    val base = wsUrl.replaceFirst("ws://", "http://").replaceFirst("wss://", "https://").trimEnd('/')
    return URI("$base/devsfu/$path?$q")
}

/** Context of one test: a fresh room name and a background scope for event recorders. */
class TestCtx(scope: CoroutineScope) : CoroutineScope by scope {
    val roomName = "kt-" + UUID.randomUUID().toString().take(12)
    val bg = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    fun token(identity: String, vararg extra: String) = DevSfu.token(roomName, identity, *extra)

    /** A connected room (closed by the caller, usually with `use`). */
    suspend fun connect(identity: String, options: RoomOptions = RoomOptions()): Room {
        val room = Room(options)
        try {
            room.connect(DevSfu.url, token(identity))
        } catch (e: Throwable) {
            room.close()
            throw e
        }
        return room
    }

    /** Records [room]'s events from now on. */
    fun record(room: Room) = Recorder(room, bg)
}

/** Records a room's events from its creation, so an event that arrives before a wait is kept. */
class Recorder(room: Room, scope: CoroutineScope) {
    val seen = MutableStateFlow<List<RoomEvent>>(emptyList())

    init {
        // Undispatched: subscribed to the hot flow before the constructor returns.
        scope.launch(start = CoroutineStart.UNDISPATCHED) { room.events.collect { e -> seen.update { it + e } } }
    }

    /** Waits for the first recorded event of type [T] matching [pred]. */
    suspend inline fun <reified T : RoomEvent> await(crossinline pred: (T) -> Boolean = { true }): T =
        withTimeout(GUARD) { seen.first { l -> l.any { it is T && pred(it) } }.first { it is T && pred(it) } as T }

    inline fun <reified T : RoomEvent> all(): List<T> = seen.value.filterIsInstance<T>()

    /** Waits (bounded) for the [n]-th ActiveSpeakersChanged and returns every list so far, in order. */
    suspend fun speakerLists(n: Int): List<List<String>> = withTimeout(GUARD) {
        seen.first { l -> l.count { it is RoomEvent.ActiveSpeakersChanged } >= n }
            .filterIsInstance<RoomEvent.ActiveSpeakersChanged>().map { it.speakers }
    }

    /** Asserts that the ParticipantUpdated [u] came before the [n]-th ActiveSpeakersChanged. */
    fun assertBefore(u: RoomEvent.ParticipantUpdated, n: Int) {
        val l = seen.value
        val list = l.filterIsInstance<RoomEvent.ActiveSpeakersChanged>()[n - 1]
        assertTrue(l.indexOfFirst { it === u } in 0 until l.indexOfFirst { it === list }, "$u before $list")
    }
}

/**
 * Pushes [payload] on [track] (and flushes) every 200 ms until [got] receives a frame other than
 * [stale] (one pushed earlier, that may still come) and returns it. A subscription is
 * established at the server only once a frame arrives, and the server may route a track to a
 * subscriber again only as it tells it, so a frame pushed just before may be lost.
 */
suspend fun pushUntilReceived(track: LocalDataTrack, got: Channel<String>, payload: String, stale: String? = null): String {
    while (true) {
        track.push(payload.encodeToByteArray())
        track.flush()
        withTimeoutOrNull(200) {
            var f = got.receive()
            while (f == stale) f = got.receive()
            f
        }?.let { return it }
    }
}

/** Asserts that [u] reports a speaking change and nothing else. */
fun assertOnlySpeaking(u: RoomEvent.ParticipantUpdated) =
    assertEquals(RoomEvent.ParticipantUpdated(u.participant, emptyList(), false, false, false, speakingChanged = true), u)

/**
 * Runs a test body with kotlinx-coroutines-test, on real time ([Dispatchers.Default], since the
 * library's clocks are real) under a hang guard.
 */
fun lkTest(body: suspend TestCtx.() -> Unit) = runTest(timeout = 120.seconds) {
    withContext(Dispatchers.Default) {
        withTimeout(90.seconds) {
            val ctx = TestCtx(this)
            try {
                ctx.body()
            } finally {
                ctx.bg.cancel()
            }
        }
    }
}

/**
 * After every test: no open native client (hence no live handle) and no lkcore thread may
 * remain; leftovers are closed and the test fails.
 */
class LeakCheck : AfterEachCallback {
    override fun afterEach(context: ExtensionContext) {
        val deadline = System.nanoTime() + 5_000_000_000L
        while ((NativeClient.live.isNotEmpty() || lkThreads().isNotEmpty()) && System.nanoTime() < deadline) Thread.sleep(10)
        val clients = ArrayList(NativeClient.live.values) // a copy that tolerates concurrent removal
        val handles = clients.sumOf { it.liveHandles }
        clients.forEach { runCatching { it.close() } }
        if (clients.isNotEmpty()) fail("clients left open: ${clients.size} holding $handles handles")
        val threads = lkThreads()
        if (threads.isNotEmpty()) fail("threads left: $threads")
    }

    private fun lkThreads() = Thread.getAllStackTraces().keys.filter { it.isAlive && it.name.startsWith("lkcore-") }.map { it.name }
}

/** Base class of every test class: the leak check runs after each test. */
@ExtendWith(LeakCheck::class)
abstract class LkTestBase
