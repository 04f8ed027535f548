package io.lkcore

import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds

/** A room's connection state. */
enum class ConnectionState { DISCONNECTED, CONNECTING, CONNECTED, RECONNECTING, UNKNOWN }

/** How a reconnection restores the room (resume: same session; full: new session). */
enum class ReconnectKind { UNSPECIFIED, RESUME, FULL }

/**
 * A connection fault [Room.simulateScenario] simulates (ABI 1.27), as the official SDKs'
 * `simulateScenario` does. The library does the work: the local ones close the signalling
 * connection and the room does what it does when a real connection breaks; the server's ones ask
 * the server. What follows is reported by the room's usual events ([RoomEvent.Reconnecting],
 * [RoomEvent.Reconnected], [RoomEvent.Disconnected]). [SPEAKER_UPDATE] (ABI 1.29) is no fault:
 * a simulated speaker.
 */
enum class SimulateScenario {
    /**
     * Local: the signalling connection breaks and the room resumes its session
     * ([RoomEvent.Reconnecting] then [RoomEvent.Reconnected], both [ReconnectKind.RESUME]; the
     * local participant keeps its sid).
     */
    SIGNAL_RECONNECT,

    /**
     * Local: a full reconnect, a new session ([RoomEvent.Reconnecting] then
     * [RoomEvent.Reconnected], both [ReconnectKind.FULL]; the local participant gets a new sid
     * and its data tracks are published again, [RoomEvent.LocalDataTrackSidChanged]).
     */
    FULL_RECONNECT,

    /**
     * Server: drops the participant without a leave, as a failed media node would; the resume is
     * refused and a full reconnect follows ([ReconnectKind.RESUME], then [ReconnectKind.FULL]
     * reconnecting, then [RoomEvent.Reconnected] [ReconnectKind.FULL]).
     */
    NODE_FAILURE,

    /**
     * Server: drops the participant as a migration to another node does (livekit-server 1.13
     * handles it as [NODE_FAILURE]).
     */
    MIGRATION,

    /** Server: removes the participant with a leave; the room ends ([RoomEvent.Disconnected], [DisconnectReason.SERVER_SHUTDOWN]). */
    SERVER_LEAVE,

    /**
     * Both: the server drops the signalling connection of the next resume after answering it,
     * then the local loss of [SIGNAL_RECONNECT]; the first resume fails and the room resumes
     * again ([RoomEvent.Reconnecting] ... [RoomEvent.Reconnected], [ReconnectKind.RESUME]).
     */
    DISCONNECT_SIGNAL_ON_RESUME,

    /**
     * Server, ABI 1.29 (no fault: no connection breaks, no reconnection): the server reports the
     * local participant speaking at level 0.9 for 3 s, then stopped, to this participant and to
     * those subscribed to its tracks (livekit-client JS's "speaker" scenario), for testing how an
     * application shows speakers. Each sees a [RoomEvent.ParticipantUpdated] with
     * [RoomEvent.ParticipantUpdated.speakingChanged] and a [RoomEvent.ActiveSpeakersChanged] when
     * it starts and again when it ends.
     */
    SPEAKER_UPDATE,
}

/** Why a participant or the room disconnected (LiveKit's DisconnectReason). */
enum class DisconnectReason {
    UNKNOWN, CLIENT_INITIATED, DUPLICATE_IDENTITY, SERVER_SHUTDOWN, PARTICIPANT_REMOVED, ROOM_DELETED,
    STATE_MISMATCH, JOIN_FAILURE, MIGRATION, SIGNAL_CLOSE, ROOM_CLOSED, USER_UNAVAILABLE, USER_REJECTED,
    SIP_TRUNK_FAILURE, CONNECTION_TIMEOUT, MEDIA_FAILURE, AGENT_ERROR,
}

/** A participant's kind. */
enum class ParticipantKind { UNSPECIFIED, STANDARD, INGRESS, EGRESS, SIP, AGENT, CONNECTOR, BRIDGE }

/**
 * A detail refining a participant's kind (ABI 1.19): a Cloud agent, a participant forwarded from
 * another room, a connector's service, ... UNSPECIFIED stands for a detail newer than the library.
 */
enum class ParticipantKindDetail { UNSPECIFIED, CLOUD_AGENT, FORWARDED, CONNECTOR_WHATSAPP, CONNECTOR_TWILIO, BRIDGE_RTSP, SIMULATION }

/**
 * The server's rating of a participant's connection (ABI 1.22), from the loss, jitter and bitrate
 * of its media tracks: one without any, as every lkcore client, is EXCELLENT. UNKNOWN: not rated
 * yet, or a rating newer than the library. LOST: the participant's media stopped arriving.
 */
enum class ConnectionQuality { UNKNOWN, POOR, GOOD, EXCELLENT, LOST }

/**
 * Which LiveKit server a session is connected to (ABI 1.24): the open-source livekit-server
 * (STANDARD, also the reading of an edition newer than the library) or LiveKit Cloud (CLOUD).
 */
enum class ServerEdition { STANDARD, CLOUD }

/**
 * The kind of a media track ([TrackPublication.kind], ABI 1.25). AUDIO is also the reading of a
 * kind newer than the binding.
 */
enum class TrackKind { AUDIO, VIDEO }

/**
 * What a media track captures ([TrackPublication.source], ABI 1.25). UNKNOWN: the publisher did
 * not say, or a source newer than the library or the binding.
 */
enum class TrackSource { UNKNOWN, CAMERA, MICROPHONE, SCREEN_SHARE, SCREEN_SHARE_AUDIO }

/** End-to-end encryption state of a participant's data. */
enum class EncryptionState { UNSPECIFIED, OK, ENCRYPTION_FAILED, DECRYPTION_FAILED, MISSING_KEY, KEY_RATCHETED, INTERNAL_ERROR }

/** Why a data-track subscription ended. */
enum class SubscriptionEndReason { UNSPECIFIED, UNPUBLISHED, DISCONNECTED, FAILED }

/** Minimum level of the library log records forwarded to SLF4J / java.util.logging. */
enum class LogLevel { DEBUG, INFO, WARN, ERROR, OFF }

/** Unknown (newer) enum numbers map to the first constant, the unspecified/unknown case. */
private inline fun <reified E : Enum<E>> enumOf(n: Int): E {
    val all = enumValues<E>()
    return if (n in all.indices) all[n] else all[0]
}

/** Options of a [Room]. Unset values take the library's documented defaults. */
data class RoomOptions(
    /** End-to-end encryption with a shared key; null = off. */
    val e2ee: E2eeOptions? = null,
    /** Bound of one join attempt (null = the library's, 15 s). */
    val connectTimeout: Duration? = null,
    /** Join attempts before connect fails (0 = default, 1; at most 100; not negative). */
    val joinAttempts: Int = 0,
    /** Reconnect attempts after a connection loss (0 = default, 10; negative = never). */
    val maxReconnectAttempts: Int = 0,
    /** Default RPC response timeout (null = the library's, 15 s). */
    val rpcResponseTimeout: Duration? = null,
    /**
     * Default frames buffered per data-track subscription, in the library: an auto-subscription's
     * ([autoSubscribe]) and one opened with `bufferSize = 0` (at most 65 536, else the [Room]
     * constructor throws [InvalidArgumentException]; not negative). When the reader falls
     * behind, the oldest are dropped and counted in the next frame's
     * [DataTrackFrame.droppedBefore]. 0: the library's default, 256 frames and at most 1 MiB of
     * payloads (see [dataTrackBufferBytes]), a burst as large as a track accepts by default.
     */
    val dataTrackBufferSize: Int = 0,
    /**
     * Largest incoming data stream accepted, in bytes (0 = default); a negative value makes the
     * [Room] constructor throw [InvalidArgumentException].
     */
    val maxIncomingStreamBytes: Long = 0,
    /** Library log records at or above this level are forwarded (default WARN). */
    val logLevel: LogLevel = LogLevel.WARN,
    /**
     * Subscribe to every remote data track automatically (the library opens the subscriptions;
     * frames published before the server confirmed one are not delivered):
     * [RemoteDataTrack.subscribe] / [RemoteDataTrack.openSubscription] then hand out that
     * subscription (once) instead of opening a new one. Its frames wait in the library's buffer
     * ([dataTrackBufferSize] frames, [dataTrackBufferBytes] bytes; when it is full the oldest are
     * dropped and counted in the next frame's [DataTrackFrame.droppedBefore]) until read, also
     * before the subscription is taken; it is read like one the caller opened, with the
     * library's direct read function, and this binding keeps no buffer of its own. The
     * subscriptions of the tracks in the connect snapshot come with the connect result (no event
     * announces those tracks again); a track published later comes in
     * [RoomEvent.DataTrackPublished] with its subscription. A subscription never taken is
     * released with the room (or when its track is unpublished).
     */
    val autoSubscribe: Boolean = false,
    /**
     * STUN/TURN servers used instead of the ones the server sends (empty = the server's; at most
     * 16). A URL that is not a valid stun:/stuns:/turn:/turns: URL, or a TURN URL without
     * username and credential, makes the [Room] constructor throw [InvalidArgumentException].
     */
    val iceServers: List<IceServer> = emptyList(),
    /** [IceTransportPolicy.RELAY] connects through a TURN relay only (default [IceTransportPolicy.ALL]). */
    val iceTransportPolicy: IceTransportPolicy = IceTransportPolicy.ALL,
    /**
     * Receive window of the room's connection in bytes (0 = the library's 768 KiB; otherwise
     * 262 144..67 108 864, else the [Room] constructor throws [InvalidArgumentException]). It
     * caps what the server can send toward this client at window / round-trip time (7.5 MB/s at
     * 100 ms by default); a larger window helps on long paths but risks losing data-track frames
     * when the process stalls under a saturating flow.
     */
    val sctpReceiveBufferSize: Int = 0,
    /**
     * Send and receive every UDP datagram with its own system call (default false: batched where
     * the kernel supports it, for less CPU per byte).
     */
    val disableUdpBatching: Boolean = false,
    /**
     * Default payload bytes buffered per data-track subscription, in the library, besides
     * [dataTrackBufferSize] frames: an auto-subscription's ([autoSubscribe]) and one opened with
     * `bufferBytes = 0` (at most 64 MiB, else the [Room] constructor throws
     * [InvalidArgumentException]; not negative). When a frame would pass it, the oldest frames
     * are dropped and counted in the next frame's [DataTrackFrame.droppedBefore]; a frame larger
     * than it alone is still kept. 0: 1 MiB when no frame count is given either (neither
     * [dataTrackBufferSize] nor the subscription's `bufferSize`), else 64 MiB, so a buffer sized
     * in frames keeps that many whatever their size.
     */
    val dataTrackBufferBytes: Int = 0,
    /**
     * The roots the signalling connection to a `wss://` URL trusts (ABI 1.30): PEM text holding
     * one or more `-----BEGIN CERTIFICATE-----` blocks, e.g. `File("ca.pem").readText()`, for a
     * server whose certificate a private CA signed. Set, they replace the system's roots for this
     * room; null or empty: the system's roots. A JVM cannot set `SSL_CERT_FILE` for the library
     * once started: this is how a JVM host trusts a private CA. The binding passes the text on
     * (UTF-8) and the library checks it: more than 1 MiB, or text holding no certificate, makes
     * the [Room] constructor throw [InvalidArgumentException]; a server these roots do not
     * verify makes [Room.connect] throw [ConnectionFailedException]. TURN servers reached over
     * TLS (`turns:` URLs) are verified against the system's roots whatever this holds. A String
     * (not a ByteArray), so that [RoomOptions] keeps comparing by value.
     */
    val tlsRootCertificatesPem: String? = null,
)

/** Which ICE candidates a room's connection may use ([RoomOptions.iceTransportPolicy]). */
enum class IceTransportPolicy {
    /** Any candidate (relay only while the server asks for it with force_relay). */
    ALL,

    /**
     * TURN relay candidates only, always: a TURN server must be configured
     * ([RoomOptions.iceServers]) or sent by the server; without a relay candidate connect throws
     * [ConnectionFailedException].
     */
    RELAY,
}

/**
 * A STUN or TURN server for [RoomOptions.iceServers]: [urls] are `stun:host:port`,
 * `turn:host:port?transport=udp|tcp` or `turns:host:port?transport=tcp` (1 to 8); [credential]
 * is the TURN password (never logged, not shown by [toString]).
 */
data class IceServer(val urls: List<String>, val username: String = "", val credential: String = "") {
    override fun toString() = "IceServer(urls=$urls, username=$username, credential=<${credential.length} chars>)"
}

/**
 * The room's connection to the server now, as [Room.connectionStats] reads it from the library
 * (ABI 1.26), for diagnostics: which candidate pair ICE selected (whether it goes through a TURN
 * server, and how), how long a round trip takes, what the data channels carried. A value read
 * once: the binding keeps no copy and refreshes nothing; call [Room.connectionStats] again for
 * newer figures.
 */
data class ConnectionStats(
    /** This client's end of the selected candidate pair. */
    val localCandidate: IceCandidate,
    /** The server's end of the selected candidate pair. */
    val remoteCandidate: IceCandidate,
    /**
     * ICE's latest round trip on the pair (its connectivity checks, and keepalives while the
     * pair is idle); [Duration.ZERO] before the first.
     */
    val roundTripTime: Duration,
    /**
     * The data channels' (SCTP's) smoothed round trip, measured on acknowledged data, so the
     * peers' processing under load included; [Duration.ZERO] before any data was acknowledged.
     */
    val sctpRoundTripTime: Duration,
    /**
     * The data channels' message bytes sent (every channel; no SCTP, DTLS or UDP framing), as
     * SCTP sends them (a packet handed over by [Room.publishData] may still be on its way), on
     * this connection: a full reconnect starts a new one from zero, a resume keeps it.
     */
    val bytesSent: Long,
    /** The data channels' message bytes received, counted as [bytesSent]. */
    val bytesReceived: Long,
)

/**
 * One end of an ICE candidate pair ([ConnectionStats.localCandidate],
 * [ConnectionStats.remoteCandidate], ABI 1.26).
 */
data class IceCandidate(
    /** How the address was found (HOST, SRFLX, PRFLX, RELAY). */
    val type: IceCandidateType,
    /** The candidate's transport: `"udp"` or `"tcp"`. */
    val protocol: String,
    /** The candidate's address; for a local RELAY candidate, the address the TURN server relays from. */
    val ip: String,
    /** The candidate's port. */
    val port: Int,
    /**
     * For a local RELAY candidate, the transport between this client and the TURN server:
     * `"udp"`, `"tcp"` or `"tls"`; empty otherwise.
     */
    val relayProtocol: String,
)

/** How an ICE candidate's address was found ([IceCandidate.type], ABI 1.26). */
enum class IceCandidateType {
    /** Not said, or a type newer than the binding. */
    UNSPECIFIED,

    /** An address of the machine itself. */
    HOST,

    /** Server reflexive: the address a STUN server saw (the machine is behind a NAT). */
    SRFLX,

    /** Peer reflexive: an address learnt from a connectivity check. */
    PRFLX,

    /** A TURN server's relayed address. */
    RELAY,
}

/** End-to-end encryption with a shared key (key derivation as in the official SDKs). */
class E2eeOptions(
    /** The shared key (never logged). */
    val sharedKey: ByteArray,
    /** Ratchet salt (null = the SDK default). */
    val ratchetSalt: ByteArray? = null,
    /** Ratchet window size (0 = default; not negative). */
    val ratchetWindowSize: Int = 0,
    /** Key ring size (0 = default, 16; not negative). */
    val keyRingSize: Int = 0,
)

/** A snapshot of the room. */
data class RoomInfo(
    val sid: String,
    val name: String,
    val metadata: String,
    val numParticipants: Int,
    val maxParticipants: Int,
    val creationTimeMs: Long,
    val connectionState: ConnectionState,
    /** Participants publishing something (data tracks included), as the server counts them (ABI 1.19). */
    val numPublishers: Int = 0,
    /** An egress (recording) of the room is running (ABI 1.19). */
    val activeRecording: Boolean = false,
    /** Seconds the server keeps the room open when no one joins it (0: not said; ABI 1.19). */
    val emptyTimeoutSeconds: Int = 0,
    /** Seconds the server keeps the room open after the last participant left (0: not said; ABI 1.19). */
    val departureTimeoutSeconds: Int = 0,
    /**
     * The server the session is connected to, as its join response described it (ABI 1.24). It
     * changes only with a full reconnect, reported as [RoomEvent.RoomUpdated] (e.g. another
     * LiveKit Cloud region after a failover).
     */
    val server: ServerInfo = ServerInfo(ServerEdition.STANDARD, "", 0, "", ""),
)

/** The server of a session ([RoomInfo.server], ABI 1.24). */
data class ServerInfo(
    /** Open-source livekit-server or LiveKit Cloud. */
    val edition: ServerEdition,
    /** The server's version, e.g. "1.13.5". */
    val version: String,
    /** The signalling protocol version the server speaks. */
    val protocol: Int,
    /** LiveKit Cloud's region of the session; empty for a self-hosted server that names none. */
    val region: String,
    /** The node of the deployment the session is on ("ND_..."). */
    val nodeId: String,
)

/** A participant's permissions. */
data class ParticipantPermission(val canSubscribe: Boolean, val canPublish: Boolean, val canPublishData: Boolean, val hidden: Boolean)

/** A participant (local or remote) by value. */
data class Participant(
    val sid: String,
    val identity: String,
    val name: String,
    val metadata: String,
    val attributes: Map<String, String>,
    val kind: ParticipantKind,
    val joinedAtMs: Long,
    /** LiveKit client protocol version the participant advertises. */
    val clientProtocol: Int,
    val permission: ParticipantPermission,
    /** Details refining [kind], in the server's order (empty when none). */
    val kindDetails: List<ParticipantKindDetail> = emptyList(),
    /**
     * The latest rating the server sent (ABI 1.22): it rates the local participant and those
     * whose tracks this participant subscribes to, when one joins or a rating changes; UNKNOWN
     * until then. [RoomEvent.ParticipantUpdated] with `connectionQualityChanged` reports each change.
     */
    val connectionQuality: ConnectionQuality = ConnectionQuality.UNKNOWN,
    /**
     * The participant's media tracks (audio, video) as the server describes them (ABI 1.25), in
     * the library's (the server's) order; empty when it publishes none. Descriptions only: lkcore
     * sends and receives no audio or video. Data tracks are not among them. Each change comes as
     * a [RoomEvent.ParticipantUpdated] with `trackPublished`, `trackUnpublished` or
     * `trackMuteChanged` (another change of a track, e.g. its dimensions, with no flag); a
     * joining participant's tracks are each published after its [RoomEvent.ParticipantConnected],
     * a leaving one's each unpublished before its [RoomEvent.ParticipantDisconnected].
     */
    val tracks: List<TrackPublication> = emptyList(),
    /**
     * The server's latest speaker update about the participant (ABI 1.29): it speaks now. The
     * server sends them about the local participant and those whose tracks, data tracks
     * included, this participant subscribes to (livekit-server every 400 ms, only changes);
     * false until it sends one. [RoomEvent.ParticipantUpdated] with `speakingChanged` reports
     * each change of it or of [audioLevel]; [RoomEvent.ActiveSpeakersChanged] the room's list.
     */
    val isSpeaking: Boolean = false,
    /**
     * The participant's audio level in the same update (ABI 1.29), from 0 (silent) to 1, as the
     * server quantises it (livekit-server: up to eighths); 0 when not speaking.
     */
    val audioLevel: Float = 0f,
)

/**
 * One media track a participant publishes, as the server describes it to everyone in the room
 * ([Participant.tracks], ABI 1.25). lkcore neither sends nor receives audio or video: the
 * description tells who has a microphone or a camera published, and whether it is muted.
 */
data class TrackPublication(
    /** The track's sid ("TR_..."). */
    val sid: String,
    /** The publisher's name for the track (empty when it gave none). */
    val name: String,
    /** Audio or video. */
    val kind: TrackKind,
    /** What the track captures (UNKNOWN when not said). */
    val source: TrackSource,
    /** The publisher muted the track (it sends nothing until unmuted). */
    val muted: Boolean,
    /** The codec, e.g. "audio/opus" or "video/VP8" (empty until the server knows it). */
    val mimeType: String,
    /** A video track's largest width in pixels (0 when not said, and for audio). */
    val width: Int,
    /** A video track's largest height in pixels (0 when not said, and for audio). */
    val height: Int,
    /** A video track sent in several qualities. */
    val simulcast: Boolean,
    /** The track is end-to-end encrypted. */
    val encrypted: Boolean,
)

/** A published data track's description. */
data class DataTrackInfo(
    val sid: String,
    val name: String,
    val usesE2ee: Boolean,
    val schemaName: String,
    val frameEncoding: String,
    val schemaEncoding: String,
)

/**
 * Allows one participant to subscribe to the local participant's data tracks
 * ([Room.setTrackSubscriptionPermissions], ABI 1.20).
 */
data class TrackPermission(
    /** The participant allowed (required: an empty identity is refused with [InvalidArgumentException]). */
    val participantIdentity: String,
    /** Every track, also those published later; when false only [trackSids]. */
    val allTracks: Boolean = false,
    /**
     * The tracks allowed when [allTracks] is false, by sid ([LocalDataTrack.info]; none allows
     * nothing). After a full reconnect the library names each republished track by its new sid.
     */
    val trackSids: List<String> = emptyList(),
)

/**
 * A chat message of the legacy kind (ABI 1.20): what the official SDKs' `sendChatMessage` /
 * `editChatMessage` send and their chat-message event reports ([Room.sendChatMessage],
 * [Room.editChatMessage], [RoomEvent.ChatMessageReceived]). Those SDKs deprecate it in favour of
 * text streams on the topic `"lk.chat"` ([Room.sendText], [Room.registerTextStreamHandler]).
 * An edit repeats the message's [id] and [timestampMs] with the new text and an [editTimestampMs].
 */
data class ChatMessage(
    /** Identifies the message (a UUID the sender made); an edit keeps it. */
    val id: String,
    /** When the message was first sent, in milliseconds since the Unix epoch. */
    val timestampMs: Long,
    /** The text. */
    val message: String,
    /** When the message was last edited, in milliseconds since the Unix epoch; null if never. */
    val editTimestampMs: Long? = null,
    /** Set by a sender that withdrew the message. */
    val deleted: Boolean = false,
    /** Set for a message an agent generated (e.g. from a transcription of speech). */
    val generated: Boolean = false,
)

/**
 * One piece of transcribed text in a [Transcription] (ABI 1.21). Updates of a segment (interim
 * text, then the final one) repeat its [id].
 */
data class TranscriptionSegment(
    /** Identifies the segment (required); its updates repeat it. */
    val id: String,
    /** The text so far. */
    val text: String,
    /**
     * Where the segment starts in the transcribed track's media, in the sender's unit, passed
     * unchanged (0 when the sender does not say). Unsigned 64-bit in the schema: a value above
     * [Long.MAX_VALUE] reads as negative here (the same 64 bits), as [DataTrackFrame.userTimestamp].
     */
    val startTime: Long = 0,
    /** Where the segment ends, as [startTime]. */
    val endTime: Long = 0,
    /** Set on the segment's last update. */
    val final: Boolean = false,
    /** The language of the text (e.g. `"en"`); empty if not known. */
    val language: String = "",
)

/**
 * A transcription of the legacy kind (ABI 1.21): an agent's segments of text for one
 * participant's track, what the official clients report as their transcription event and the
 * Rust and Python SDKs' `publish_transcription` send ([Room.publishTranscription],
 * [RoomEvent.TranscriptionReceived]). Newer agents also send the text as text streams on the
 * topic `"lk.transcription"` ([Room.sendText] with [TextStreamOptions.senderIdentity]).
 */
data class Transcription(
    /** Whose speech was transcribed (required; not the sender; may be the local participant). */
    val participantIdentity: String,
    /** The transcribed track's SID; empty if the sender names none. */
    val trackSid: String,
    /** The segments (at least one, at most 1024 to send). */
    val segments: List<TranscriptionSegment>,
)

/** The room as known right after connecting (or now, from [Room.snapshot]); events are deltas on it. */
data class RoomSnapshot(
    val room: RoomInfo,
    val localParticipant: Participant,
    val remoteParticipants: List<Participant>,
    val remoteDataTracks: List<RemoteDataTrack>,
    /**
     * The identities of the participants speaking (ABI 1.29; the local one included), loudest
     * first, in the library's order (equal levels by identity); empty when nobody speaks.
     * [RoomEvent.ActiveSpeakersChanged] reports the later lists; [Room.activeSpeakers] is the
     * current one.
     */
    val activeSpeakers: List<String> = emptyList(),
)

/** A received data packet. [participantIdentity] is empty when a server-side SDK sent it. */
class DataPacket(
    val participantIdentity: String,
    val payload: ByteArray,
    val topic: String,
    val reliable: Boolean,
    val encrypted: Boolean,
) {
    override fun toString() = "DataPacket(from=$participantIdentity, topic=$topic, ${payload.size} bytes, reliable=$reliable, encrypted=$encrypted)"
}

/** Conversions from (and to) the FFI messages (one place, so schema changes touch one file). */
internal object Convert {
    fun roomInfo(p: lkcore.ffi.v1.RoomInfo) = RoomInfo(
        p.sid, p.name, p.metadata, p.numParticipants, p.maxParticipants, p.creationTimeMs,
        connectionState(p.connectionStateValue), p.numPublishers, p.activeRecording, p.emptyTimeoutSeconds,
        p.departureTimeoutSeconds, serverInfo(p.server),
    )

    fun serverInfo(p: lkcore.ffi.v1.ServerInfo) = ServerInfo(enumOf(p.editionValue), p.version, p.protocol, p.region, p.nodeId)

    fun connectionState(n: Int): ConnectionState = if (n in 0..3) ConnectionState.entries[n] else ConnectionState.UNKNOWN

    fun participant(p: lkcore.ffi.v1.ParticipantInfo) = Participant(
        p.sid, p.identity, p.name, p.metadata, p.attributesMap.toMap(), enumOf(p.kindValue), p.joinedAtMs,
        p.clientProtocol,
        ParticipantPermission(p.permission.canSubscribe, p.permission.canPublish, p.permission.canPublishData, p.permission.hidden),
        p.kindDetailsValueList.map { enumOf<ParticipantKindDetail>(it) }, connectionQuality(p.connectionQualityValue),
        p.tracksList.map(::trackPublication), p.isSpeaking, p.audioLevel,
    )

    /** A media track's description (unknown kinds read as AUDIO, unknown sources as UNKNOWN). */
    fun trackPublication(p: lkcore.ffi.v1.TrackPublicationInfo) = TrackPublication(
        p.sid, p.name, enumOf(p.kindValue), enumOf(p.sourceValue), p.muted, p.mimeType, p.width, p.height, p.simulcast,
        p.encrypted,
    )

    fun connectionQuality(n: Int): ConnectionQuality = enumOf(n)

    /**
     * The library's connection statistics; null when it reports the room not connected (every
     * other field is then unset). The microsecond round trips as [Duration]s.
     */
    fun connectionStats(p: lkcore.ffi.v1.GetConnectionStatsResponse): ConnectionStats? =
        if (!p.connected) {
            null
        } else {
            ConnectionStats(
                iceCandidate(p.localCandidate), iceCandidate(p.remoteCandidate), p.roundTripTimeUs.microseconds,
                p.sctpRoundTripTimeUs.microseconds, p.bytesSent, p.bytesReceived,
            )
        }

    /** One end of a candidate pair (a type newer than the binding reads as UNSPECIFIED). */
    fun iceCandidate(p: lkcore.ffi.v1.IceCandidate) = IceCandidate(enumOf(p.typeValue), p.protocol, p.ip, p.port, p.relayProtocol)

    fun trackInfo(p: lkcore.ffi.v1.DataTrackInfo) = DataTrackInfo(p.sid, p.name, p.usesE2Ee, p.schemaName, p.frameEncoding, p.schemaEncoding)

    fun trackPermission(p: TrackPermission): lkcore.ffi.v1.TrackPermission = lkcore.ffi.v1.TrackPermission.newBuilder()
        .setParticipantIdentity(p.participantIdentity).setAllTracks(p.allTracks).addAllTrackSids(p.trackSids).build()

    /** A chat message (an edit time of 0, never edited, as null). */
    fun chatMessage(p: lkcore.ffi.v1.ChatMessage) = ChatMessage(
        p.id, p.timestampMs, p.message, p.editTimestampMs.takeIf { it != 0L }, p.deleted, p.generated,
    )

    /** [m] for the library (null edit time as 0). */
    fun chatMessage(m: ChatMessage): lkcore.ffi.v1.ChatMessage = lkcore.ffi.v1.ChatMessage.newBuilder()
        .setId(m.id).setTimestampMs(m.timestampMs).setMessage(m.message).setEditTimestampMs(m.editTimestampMs ?: 0)
        .setDeleted(m.deleted).setGenerated(m.generated).build()

    /** A transcription (the segments' times as the same 64 bits). */
    fun transcription(p: lkcore.ffi.v1.Transcription) = Transcription(
        p.participantIdentity, p.trackSid,
        p.segmentsList.map { TranscriptionSegment(it.id, it.text, it.startTime, it.endTime, it.final, it.language) },
    )

    /** [t] for the library (which checks it). */
    fun transcription(t: Transcription): lkcore.ffi.v1.Transcription = lkcore.ffi.v1.Transcription.newBuilder()
        .setParticipantIdentity(t.participantIdentity).setTrackSid(t.trackSid)
        .addAllSegments(
            t.segments.map {
                lkcore.ffi.v1.TranscriptionSegment.newBuilder().setId(it.id).setText(it.text).setStartTime(it.startTime)
                    .setEndTime(it.endTime).setFinal(it.final).setLanguage(it.language).build()
            },
        ).build()

    fun disconnectReason(n: Int): DisconnectReason = enumOf(n)

    fun reconnectKind(n: Int): ReconnectKind = enumOf(n)

    /** The counts are uint32 in the schema: read unsigned. */
    fun reconnected(p: lkcore.ffi.v1.Reconnected) = RoomEvent.Reconnected(
        reconnectKind(p.kindValue), Integer.toUnsignedLong(p.discardedPackets), Integer.toUnsignedLong(p.replayedPackets),
    )

    /** [s] for the library (by name, never by ordinal: the schema's UNSPECIFIED has no constant here). */
    fun simulateScenario(s: SimulateScenario): lkcore.ffi.v1.SimulateScenario = when (s) {
        SimulateScenario.SIGNAL_RECONNECT -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_SIGNAL_RECONNECT
        SimulateScenario.FULL_RECONNECT -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_FULL_RECONNECT
        SimulateScenario.NODE_FAILURE -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_NODE_FAILURE
        SimulateScenario.MIGRATION -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_MIGRATION
        SimulateScenario.SERVER_LEAVE -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_SERVER_LEAVE
        SimulateScenario.DISCONNECT_SIGNAL_ON_RESUME -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_DISCONNECT_SIGNAL_ON_RESUME
        SimulateScenario.SPEAKER_UPDATE -> lkcore.ffi.v1.SimulateScenario.SIMULATE_SCENARIO_SPEAKER_UPDATE
    }

    fun encryptionState(n: Int): EncryptionState = enumOf(n)

    fun endReason(n: Int): SubscriptionEndReason = enumOf(n)

    /** [p] with [tracks], the room's objects of `p.remote_data_tracks`. */
    fun snapshot(p: lkcore.ffi.v1.ConnectResult, tracks: List<RemoteDataTrack>) = RoomSnapshot(
        roomInfo(p.room),
        participant(p.localParticipant),
        p.remoteParticipantsList.map(::participant),
        tracks,
        p.activeSpeakersList.toList(),
    )

    fun logLevel(l: LogLevel): lkcore.ffi.v1.LogLevel = when (l) {
        LogLevel.DEBUG -> lkcore.ffi.v1.LogLevel.LOG_LEVEL_DEBUG
        LogLevel.INFO -> lkcore.ffi.v1.LogLevel.LOG_LEVEL_INFO
        LogLevel.WARN -> lkcore.ffi.v1.LogLevel.LOG_LEVEL_WARN
        LogLevel.ERROR -> lkcore.ffi.v1.LogLevel.LOG_LEVEL_ERROR
        LogLevel.OFF -> lkcore.ffi.v1.LogLevel.LOG_LEVEL_OFF
    }

    fun roomOptions(o: RoomOptions): lkcore.ffi.v1.RoomOptions {
        val b = lkcore.ffi.v1.RoomOptions.newBuilder()
            .setJoinAttempts(unsigned("joinAttempts", o.joinAttempts))
            .setMaxReconnectAttempts(o.maxReconnectAttempts) // signed: negative = never
            .setDataTrackBufferSize(unsigned("dataTrackBufferSize", o.dataTrackBufferSize))
            .setMaxIncomingStreamBytes(unsigned("maxIncomingStreamBytes", o.maxIncomingStreamBytes))
            // ABI 1.14; more than 64 MiB is refused by the library (INVALID_ARGUMENT).
            .setDataTrackBufferBytes(unsigned("dataTrackBufferBytes", o.dataTrackBufferBytes))
            .setAutoSubscribe(o.autoSubscribe)
            // Set by the binding, not options of its own (RoomOptionsTest lists them):
            // The snapshot tracks' auto-subscriptions come in the connect completion, so no
            // event repeats a snapshot track (the binding keeps no state to hide such events).
            .setAutoSubscriptionsInSnapshot(true)
            // An auto-subscription is read like one the caller opened (lk_data_track_read_frame):
            // its frames wait in the library's buffer until read, none in this binding (ABI 1.14).
            // auto_subscription_credits stays 0: it applies to CREDITS delivery only.
            .setAutoSubscriptionDelivery(lkcore.ffi.v1.DeliveryMode.DELIVERY_MODE_PULL)
        o.iceServers.forEach { s ->
            b.addIceServers(lkcore.ffi.v1.IceServer.newBuilder().addAllUrls(s.urls).setUsername(s.username).setCredential(s.credential))
        }
        b.setIceTransportPolicy(
            when (o.iceTransportPolicy) {
                IceTransportPolicy.ALL -> lkcore.ffi.v1.IceTransportPolicy.ICE_TRANSPORT_POLICY_ALL
                IceTransportPolicy.RELAY -> lkcore.ffi.v1.IceTransportPolicy.ICE_TRANSPORT_POLICY_RELAY
            },
        )
        // ABI 1.8; an out-of-range window is refused by the library (INVALID_ARGUMENT).
        b.setSctpReceiveBufferBytes(unsigned("sctpReceiveBufferSize", o.sctpReceiveBufferSize)).setDisableUdpBatching(o.disableUdpBatching)
        // ABI 1.30; the library parses the PEM and refuses more than 1 MiB or no certificate
        // (INVALID_ARGUMENT). Empty (null here) leaves the system's roots.
        o.tlsRootCertificatesPem?.let { b.setTlsRootCertificatesPem(com.google.protobuf.ByteString.copyFromUtf8(it)) }
        o.connectTimeout?.let { b.setConnectTimeoutMs(millis(it)) }
        o.rpcResponseTimeout?.let { b.setRpcResponseTimeoutMs(millis(it)) }
        o.e2ee?.let { e ->
            val eb = lkcore.ffi.v1.E2eeOptions.newBuilder()
                .setSharedKey(com.google.protobuf.ByteString.copyFrom(e.sharedKey))
                .setRatchetWindowSize(unsigned("ratchetWindowSize", e.ratchetWindowSize))
                .setKeyRingSize(unsigned("keyRingSize", e.keyRingSize))
            e.ratchetSalt?.let { eb.setRatchetSalt(com.google.protobuf.ByteString.copyFrom(it)) }
            b.setE2Ee(eb)
        }
        return b.build()
    }

    /**
     * [value] for an unsigned protobuf field: a negative value would wrap to a huge one (e.g.
     * -1 to 2^64-1, lifting a cap instead of failing), so it is refused with
     * [InvalidArgumentException] naming the option. The library checks the upper bounds.
     */
    fun unsigned(name: String, value: Int): Int {
        if (value < 0) throw InvalidArgumentException("$name must not be negative (got $value)")
        return value
    }

    /** [value] for an unsigned 64-bit field (see the Int overload). */
    fun unsigned(name: String, value: Long): Long {
        if (value < 0) throw InvalidArgumentException("$name must not be negative (got $value)")
        return value
    }

    /** A duration as whole milliseconds for a uint32 field (at least 1 for a positive duration). */
    fun millis(d: Duration): Int {
        if (d.isNegative()) throw InvalidArgumentException("negative duration $d")
        val ms = d.inWholeMilliseconds
        return when {
            ms > Int.MAX_VALUE -> Int.MAX_VALUE
            ms == 0L && d.isPositive() -> 1
            else -> ms.toInt()
        }
    }
}
