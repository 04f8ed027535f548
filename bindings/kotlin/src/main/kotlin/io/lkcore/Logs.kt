package io.lkcore

import lkcore.ffi.v1.LogLevel
import lkcore.ffi.v1.LogRecord
import java.util.logging.Level

/**
 * Forwards the library's log records (and the binding's own errors) to SLF4J logger `lkcore`
 * when slf4j-api and an SLF4J provider are on the class path, else to java.util.logging logger
 * `lkcore` (slf4j-api alone, without a provider, would discard them).
 */
internal object Logs {
    // Slf4jOut is only loaded when slf4j-api is present (it references its classes).
    private val slf4j: ((LogLevel, String, Throwable?) -> Unit)? = try {
        Class.forName("org.slf4j.LoggerFactory")
        Slf4jOut.sink()
    } catch (_: Throwable) {
        null
    }
    private val jul = java.util.logging.Logger.getLogger("lkcore")

    /** Forwards one library record. */
    fun forward(r: LogRecord) {
        val attrs = if (r.attributesMap.isEmpty()) "" else " " + r.attributesMap.entries.joinToString(" ") { "${it.key}=${it.value}" }
        val dropped = if (r.droppedBefore > 0) " (${r.droppedBefore} records dropped before)" else ""
        log(r.level, r.message + attrs + dropped, null)
    }

    /** An error inside the binding itself (never thrown at the library's thread). */
    fun bindingError(msg: String, e: Throwable?) = log(LogLevel.LOG_LEVEL_ERROR, msg, e)

    private fun log(level: LogLevel, msg: String, e: Throwable?) {
        val s = slf4j
        if (s != null) {
            s(level, msg, e)
            return
        }
        val l = when (level) {
            LogLevel.LOG_LEVEL_DEBUG -> Level.FINE
            LogLevel.LOG_LEVEL_INFO -> Level.INFO
            LogLevel.LOG_LEVEL_WARN -> Level.WARNING
            else -> Level.SEVERE
        }
        jul.log(l, msg, e)
    }
}

/** The SLF4J side of [Logs]; loaded only when slf4j-api is on the class path. */
internal object Slf4jOut {
    fun sink(): ((LogLevel, String, Throwable?) -> Unit)? {
        if (org.slf4j.LoggerFactory.getILoggerFactory() is org.slf4j.helpers.NOPLoggerFactory) return null
        val logger = org.slf4j.LoggerFactory.getLogger("lkcore")
        return { level, msg, e ->
            when (level) {
                LogLevel.LOG_LEVEL_DEBUG -> logger.debug(msg, e)
                LogLevel.LOG_LEVEL_INFO -> logger.info(msg, e)
                LogLevel.LOG_LEVEL_WARN -> logger.warn(msg, e)
                else -> logger.error(msg, e)
            }
        }
    }
}
