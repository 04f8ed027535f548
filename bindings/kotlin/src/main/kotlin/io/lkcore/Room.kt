package io.lkcore

import com.google.protobuf.ByteString
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.isActive
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import lkcore.ffi.v1.Event
import lkcore.ffi.v1.Request
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration

/**
 * A LiveKit room, backed by its own native client (and one dispatcher thread, started here).
 *
 * Create it, register RPC methods and stream handlers, then [connect]. [events] delivers the
 * room's events; [close] (or `use {}`) releases everything. A room is never closed by the
 * garbage collector (its dispatcher thread keeps it reachable, so a room still delivering
 * events to a collector is never released behind the caller's back): close it. Suspending functions never block
 * the caller's thread: they send a request (which never waits for the network) and suspend
 * until the library's completion arrives.
 *
 * ```
 * Room().use { room ->
 *     val snapshot = room.connect(url, token)
 *     room.publishData("hello".encodeToByteArray(), topic = "chat")
 * }
 * ```
 */
class Room(val options: RoomOptions = RoomOptions()) : AutoCloseable {
    /** Receives the client's events (internal: tests feed it completions the library would not produce on cue). */
    internal val sink: EventSink = Sink()
    internal val client = NativeClient(sink, Convert.logLevel(options.logLevel))
    internal val handle: Long
    private val closed = AtomicBoolean(false)

    /** Runs RPC and stream handlers; cancelled by [close]. */
    internal val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("lkcore-room"))

    private val eventFlow = MutableSharedFlow<RoomEvent>(extraBufferCapacity = EVENT_BUFFER)

    /**
     * The room's events (a hot flow: collect it before the actions whose events you need).
     * A collector that falls [EVENT_BUFFER] events behind holds back the room's event delivery
     * (nothing is dropped), so do not wait inside `collect` for room operations to complete:
     * launch them instead.
     */
    val events: SharedFlow<RoomEvent> = eventFlow.asSharedFlow()

    private val rpcHandlers = ConcurrentHashMap<String, suspend (RpcInvocation) -> String>()
    private val textHandlers = ConcurrentHashMap<String, suspend (TextStreamReader, String) -> Unit>()
    private val byteHandlers = ConcurrentHashMap<String, suspend (ByteStreamReader, String) -> Unit>()
    internal val readers = ConcurrentHashMap<Long, StreamReaderBase>()
    internal val subscriptions = ConcurrentHashMap<Long, DataTrackSubscription>()

    /**
     * [RoomOptions.autoSubscribe]: the subscriptions the library opened (those of the connect
     * snapshot's tracks and of tracks published later), until taken. Keyed by [trackKey]
     * (publisher identity, track name), not by SID: after its publisher's full reconnect a
     * remote track can go on under a new SID ([RoomEvent.DataTrackSidChanged]), its
     * subscription with it.
     */
    internal val autoSubscriptions = ConcurrentHashMap<Pair<String, String>, DataTrackSubscription>()

    /**
     * The remote data tracks this room handed out, keyed by [trackKey] (publisher identity,
     * track name), not by SID, which a publisher's full reconnect changes: one object per
     * track, so that a [RoomEvent.DataTrackSidChanged] updates the object every holder has
     * (snapshot, event, subscription) in place. An entry goes when its track is unpublished, so
     * a track published again under that name afterwards is a new object. Guarded by [trackLock].
     */
    internal val remoteTracks = HashMap<Pair<String, String>, RemoteDataTrack>()

    /**
     * Orders [snapshot] with the dispatcher's data-track events. The dispatcher holds it only
     * to change [remoteTracks] (never while emitting or blocking); [snapshot] holds it across
     * its synchronous request (which never waits for the dispatcher: the library's state is
     * read under its own short locks) and the mapping of the tracks to objects. So no track
     * event is applied between the two: a snapshot is never behind the events applied, only
     * ahead of those still queued, and a track it lists that an event already ended cannot
     * come back as a stale object under its name.
     */
    internal val trackLock = Any()

    /**
     * [activeSpeakers]: set by the dispatcher thread from the connect result and each
     * SnapshotTaken (the list at its place among the events) and changed by each
     * ActiveSpeakersChanged before it is delivered.
     */
    @Volatile
    private var speakers: List<String> = emptyList()

    /** The connect snapshot's tracks, registered by the dispatcher thread with the completion. */
    @Volatile
    private var connectTracks: List<RemoteDataTrack>? = null
    internal val localTracks = ConcurrentHashMap<Long, LocalDataTrack>()

    init {
        try {
            val resp = client.request(
                Request.newBuilder().setCreateRoom(lkcore.ffi.v1.CreateRoomRequest.newBuilder().setOptions(Convert.roomOptions(options))),
            )
            handle = resp.createRoom.room.handle
        } catch (e: Throwable) {
            runCatching { client.close() }
            throw e
        }
    }

    /** True once [close] or [disconnect] released the room. */
    val isClosed: Boolean get() = closed.get()

    /** Handles this room holds in the library (itself, tracks, subscriptions, readers, writers). */
    val liveHandles: Int get() = client.liveHandles

    /**
     * The identities of the participants speaking now (ABI 1.29; the local one included),
     * loudest first, as the library orders them (equal levels by identity); empty when nobody
     * speaks, and before [connect]. Set from the connect snapshot's
     * [RoomSnapshot.activeSpeakers] and changed by each [RoomEvent.ActiveSpeakersChanged] before
     * that event is delivered (so it can be ahead of a collector, never behind the events it
     * saw); after the room ended, the last list. The binding never sorts or recomputes it.
     */
    val activeSpeakers: List<String> get() = speakers

    /**
     * Joins the room at [url] (ws:// or wss://) with an access [token]; returns the
     * authoritative snapshot, on which [events] are deltas. A room connects at most once.
     * The library retries as [RoomOptions] says, and on LiveKit Cloud a join that fails in a
     * retryable way goes on in the project's other regions ([RoomInfo.server] names the one
     * that joined).
     */
    suspend fun connect(url: String, token: String): RoomSnapshot {
        val c = client.call(
            Request.newBuilder().setConnect(lkcore.ffi.v1.ConnectRequest.newBuilder().setRoomHandle(handle).setUrl(url).setToken(token)),
        )
        // The track objects the dispatcher registered (events since may have changed their sid).
        val tracks = connectTracks ?: synchronized(trackLock) { c.connect.remoteDataTracksList.map(::remoteTrack) }
        return Convert.snapshot(c.connect, tracks)
    }

    /**
     * The room's current state (same shape as the connect result). Its remote data tracks are
     * the objects the room hands out for them everywhere (the connect snapshot's,
     * [RoomEvent.DataTrackPublished]'s, earlier snapshots'): one per (publisher identity, track
     * name). The state can be ahead of [events] not delivered yet (a collector that applies
     * events to a model wants [requestSnapshot] instead): a track whose sid changed
     * meanwhile is the object the coming [RoomEvent.DataTrackSidChanged] updates (its `info`
     * shows the old sid until then; so too its [RemoteDataTrack.subscriptionRevoked], which
     * the coming [RoomEvent.DataTrackSubscriptionPermissionChanged] changes), and a track
     * unpublished and published again under its name meanwhile is still the old object, which
     * the coming [RoomEvent.DataTrackUnpublished] ends (the [RoomEvent.DataTrackPublished]
     * after it brings the new track's object).
     */
    fun snapshot(): RoomSnapshot = snapshotOf {
        client.request(Request.newBuilder().setGetRoomSnapshot(lkcore.ffi.v1.GetRoomSnapshotRequest.newBuilder().setRoomHandle(handle)))
            .getRoomSnapshot.snapshot
    }

    /**
     * Asks for a [RoomEvent.SnapshotTaken] on [events]: the room's state taken at that event's
     * place among the events, so that it agrees exactly with the events before and after it
     * (unlike [snapshot]). Returns at once; the event follows. While one is on its way, it
     * answers new requests too.
     *
     * @throws DisconnectedException before [connect] succeeded and once the room ended.
     */
    fun requestSnapshot() {
        client.request(Request.newBuilder().setRequestRoomSnapshot(lkcore.ffi.v1.RequestRoomSnapshotRequest.newBuilder().setRoomHandle(handle)))
    }

    /**
     * The room's connection to the server now (ABI 1.26), read from the library at each call
     * (nothing cached, nothing polled in the background): the selected ICE candidate pair, ICE's
     * and the data channels' round trips, the data channels' byte counts. For diagnostics, e.g.
     * whether the connection goes through a TURN server ([IceCandidateType.RELAY]) and how
     * ([IceCandidate.relayProtocol]).
     *
     * Null when the room is not connected: before [connect], while it reconnects (no candidate
     * pair selected) and after it ended ([RoomEvent.Disconnected]) — a nullable result rather
     * than a flag, so that the figures of a connected room never have to be read beside a
     * `connected = false` that leaves them meaningless. Like every call, it throws
     * [ClientClosedException] once the room is closed ([close], [disconnect]).
     */
    fun connectionStats(): ConnectionStats? = Convert.connectionStats(
        client.request(Request.newBuilder().setGetConnectionStats(lkcore.ffi.v1.GetConnectionStatsRequest.newBuilder().setRoomHandle(handle)))
            .getConnectionStats,
    )

    /**
     * Simulates the connection fault [scenario] (ABI 1.27), as the official SDKs'
     * `simulateScenario` does: for testing how an application copes with reconnections and a
     * room that ends. The library does the work (the binding breaks nothing itself); this
     * returns once the fault is under way, never waiting for the reconnection. What follows comes
     * as the room's usual [events], as for a real fault: [RoomEvent.Reconnecting] and
     * [RoomEvent.Reconnected] (their [ReconnectKind] as [SimulateScenario] describes for each),
     * or [RoomEvent.Disconnected] ([SimulateScenario.SERVER_LEAVE]; also any loss when
     * [RoomOptions.maxReconnectAttempts] is negative, as a real one would).
     * [SimulateScenario.SPEAKER_UPDATE] (ABI 1.29) breaks nothing: the server reports the local
     * participant speaking for 3 s ([RoomEvent.ParticipantUpdated] with `speakingChanged`,
     * [RoomEvent.ActiveSpeakersChanged]).
     *
     * @throws DisconnectedException before [connect] succeeded and once the room ended; a
     *   retryable one ([LkException.retryable]) while the room reconnects or a simulated loss is
     *   already under way.
     * @throws LkException the signalling connection's error when the server's part could not be
     *   sent; [ClientClosedException] once the room is closed.
     */
    suspend fun simulateScenario(scenario: SimulateScenario) {
        client.call(
            Request.newBuilder().setSimulateScenario(
                lkcore.ffi.v1.SimulateScenarioRequest.newBuilder().setRoomHandle(handle).setScenario(Convert.simulateScenario(scenario)),
            ),
        )
    }

    /**
     * [snapshot] of the state [fetch] reads (the library's; internal so that tests can stand in
     * for it): read, and its tracks mapped to the room's objects, under [trackLock].
     */
    internal fun snapshotOf(fetch: () -> lkcore.ffi.v1.ConnectResult): RoomSnapshot {
        val (snap, tracks) = synchronized(trackLock) {
            val s = fetch()
            s to s.remoteDataTracksList.map(::remoteTrack)
        }
        return Convert.snapshot(snap, tracks)
    }

    /**
     * The object of the remote data track [p] describes (under [trackLock]): the one handed out
     * before for its (publisher, name), as it is (events, not snapshots, change its sid), else
     * a new one, registered, with [p]'s `subscription_revoked`.
     */
    private fun remoteTrack(p: lkcore.ffi.v1.RemoteDataTrackInfo): RemoteDataTrack =
        remoteTracks.getOrPut(trackKey(p.publisherIdentity, p.info.name)) {
            RemoteDataTrack(this, p.publisherIdentity, Convert.trackInfo(p.info), p.subscriptionRevoked)
        }

    /**
     * [remoteTrack] of a snapshot at its place among the events (the connect result, a
     * RoomSnapshotTaken): the events before it are applied and none after it, so its
     * `subscription_revoked` is the track's state here and the object takes it (one a
     * [snapshot] ahead of the events registered included). A [snapshot] itself does not: the
     * events still queued change it, in order.
     */
    private fun snapshotTrack(p: lkcore.ffi.v1.RemoteDataTrackInfo): RemoteDataTrack =
        remoteTrack(p).also { it.subscriptionRevoked = p.subscriptionRevoked }

    /**
     * Leaves the room (waits for the library's Disconnected event), then releases it like
     * [close] — on [Dispatchers.IO], never blocking the caller's thread, and also when the
     * caller is cancelled meanwhile. Idempotent.
     */
    suspend fun disconnect() {
        if (closed.get()) return
        try {
            client.call(Request.newBuilder().setDisconnect(lkcore.ffi.v1.DisconnectRequest.newBuilder().setRoomHandle(handle)))
        } catch (_: DisconnectedException) {
        } catch (_: FailedPreconditionException) {
        } catch (_: ClientClosedException) {
        } finally {
            // close() waits for the library's bounded teardown and the dispatcher thread.
            withContext(NonCancellable + Dispatchers.IO) { close() }
        }
    }

    /**
     * Releases the room: disconnects it in the background, drops every handle, stops the
     * dispatcher thread and cancels running handlers. Usually returns within milliseconds;
     * blocks at most 20 s (twice the library's bounded 5 s close, then 10 s for the
     * dispatcher thread), and throws [TimeoutException] if the library's teardown still did
     * not finish (calling it again waits again). Idempotent.
     */
    override fun close() {
        if (closed.compareAndSet(false, true)) scope.cancel()
        client.close() // idempotent; retried by a second close() after a timeout
    }

    // ---- data packets -------------------------------------------------------------------

    /**
     * Sends a data packet to [destinations] (empty = everyone), reliably or lossy, on [topic].
     * Packets of one room are sent in call order; completes when handed to the data channel.
     * Throws [PayloadTooLargeException] (more than 64 000 bytes: use a stream),
     * [NotAllowedException] (the server does not let this participant publish data: it would
     * drop the packet), [DisconnectedException].
     */
    suspend fun publishData(
        data: ByteArray,
        reliable: Boolean = true,
        topic: String = "",
        destinations: List<String> = emptyList(),
    ) {
        client.call(
            Request.newBuilder().setPublishData(
                lkcore.ffi.v1.PublishDataRequest.newBuilder().setRoomHandle(handle).setPayload(ByteString.copyFrom(data))
                    .setReliable(reliable).setTopic(topic).addAllDestinationIdentities(destinations),
            ),
        )
    }

    /**
     * Sends a DTMF tone (a telephone keypad key) to [destinations] (empty = everyone): a SIP
     * participant plays [digit] to its caller, one tone per character; [code] is the
     * telephone-event code (0-9 the digits, 10 `*`, 11 `#`, 12-15 `A`-`D`). Sent reliably, in
     * call order with [publishData], and never end-to-end encrypted (a SIP participant has no
     * key). Throws [InvalidArgumentException] (a code outside 0..255; a digit that is empty or
     * longer than 256 bytes), [NotAllowedException], [DisconnectedException].
     */
    suspend fun publishDtmf(code: Int, digit: String, destinations: List<String> = emptyList()) {
        client.call(
            Request.newBuilder().setPublishSipDtmf(
                // A negative code reaches the library as a uint32 above 255: INVALID_ARGUMENT.
                lkcore.ffi.v1.PublishSipDtmfRequest.newBuilder().setRoomHandle(handle).setCode(code).setDigit(digit)
                    .addAllDestinationIdentities(destinations),
            ),
        )
    }

    /**
     * Sends [message] as a new legacy chat message (ABI 1.20) to [destinations] (empty =
     * everyone) and returns it as sent: a fresh [ChatMessage.id] (a UUID), stamped now. The
     * others receive it as [RoomEvent.ChatMessageReceived]; the official SDKs report it as their
     * chat-message event. Those SDKs deprecate `sendChatMessage` in favour of text streams on
     * the topic `"lk.chat"` ([sendText] with that topic); this is for peers that still use it.
     * Sent reliably, in call order with [publishData], end-to-end encrypted when the room is.
     * An agent can send it on behalf of another participant, [senderIdentity] (ABI 1.21; empty =
     * the local participant): the others see that identity as the sender and the server marks
     * the message [ChatMessage.generated], as [TextStreamOptions.senderIdentity].
     * Throws [PayloadTooLargeException] (a message over the 64 000-byte packet limit),
     * [NotAllowedException] (also another participant's [senderIdentity] when the local
     * participant is not of kind agent), [InvalidArgumentException] (another participant's
     * [senderIdentity] in an end-to-end encrypted room, where the server stamps the sender),
     * [DisconnectedException].
     */
    suspend fun sendChatMessage(message: String, destinations: List<String> = emptyList(), senderIdentity: String = ""): ChatMessage {
        val c = client.call(
            Request.newBuilder().setSendChatMessage(
                lkcore.ffi.v1.SendChatMessageRequest.newBuilder().setRoomHandle(handle).setMessage(message)
                    .addAllDestinationIdentities(destinations).setSenderIdentity(senderIdentity),
            ),
        )
        return Convert.chatMessage(c.sendChatMessage)
    }

    /**
     * Sends [message] as the new text of [original], a chat message sent before (ABI 1.20), to
     * [destinations] (empty = everyone), and returns the edit as sent: [original]'s id and
     * timestamp with the new text and [ChatMessage.editTimestampMs] set to now. The others
     * receive it as [RoomEvent.ChatMessageReceived]. Deprecated in the official SDKs like
     * [sendChatMessage] (text streams on the topic `"lk.chat"` replace both). Sent like
     * [sendChatMessage], on behalf of [senderIdentity] too (ABI 1.21; empty = the local
     * participant). Throws [InvalidArgumentException] (an [original] without id), then the
     * errors of [sendChatMessage].
     */
    suspend fun editChatMessage(
        message: String,
        original: ChatMessage,
        destinations: List<String> = emptyList(),
        senderIdentity: String = "",
    ): ChatMessage {
        val c = client.call(
            Request.newBuilder().setEditChatMessage(
                lkcore.ffi.v1.EditChatMessageRequest.newBuilder().setRoomHandle(handle).setMessage(message)
                    .setOriginal(Convert.chatMessage(original)).addAllDestinationIdentities(destinations)
                    .setSenderIdentity(senderIdentity),
            ),
        )
        return Convert.chatMessage(c.editChatMessage)
    }

    /**
     * Sends [transcription] to everyone else as a legacy transcription (ABI 1.21; the Rust and
     * Python SDKs' `publish_transcription`): the others receive it as
     * [RoomEvent.TranscriptionReceived], the official clients as their transcription event.
     * Sent reliably, in call order with [publishData]. Only an agent may (the server drops a
     * transcription from anyone else), and never in an end-to-end encrypted room (a
     * transcription has no encrypted form); the library checks, this binding passes it through.
     * Throws [NotAllowedException] (the local participant is not of kind agent, or may not
     * publish data), [InvalidArgumentException] (an encrypted room; no
     * [Transcription.participantIdentity]; no segment or more than 1024; a segment without id),
     * [PayloadTooLargeException] (over the 64 000-byte packet limit), [DisconnectedException].
     */
    suspend fun publishTranscription(transcription: Transcription) {
        client.call(
            Request.newBuilder().setPublishTranscription(
                lkcore.ffi.v1.PublishTranscriptionRequest.newBuilder().setRoomHandle(handle)
                    .setTranscription(Convert.transcription(transcription)),
            ),
        )
    }

    // ---- local participant ----------------------------------------------------------------

    /**
     * Sets who may subscribe to this participant's data tracks (ABI 1.20): everyone when
     * [allParticipants] is true (what the server assumes until the first call; [permissions]
     * are then ignored), otherwise only the participants [permissions] lists, each to all the
     * tracks or to the sids it names. Each call replaces the previous one. The server applies
     * it at once: a subscriber no longer allowed stops receiving (it gets
     * [RoomEvent.DataTrackSubscriptionPermissionChanged]; its subscription stays open) until
     * allowed again; recorders are exempt. The library keeps the permissions for the room and
     * sends them again after a full reconnect, with the new sid of each republished track they
     * name (this binding stores nothing). Completes once the request is written (or held while
     * the room reconnects); the server sends no answer. Throws [InvalidArgumentException] (a
     * permission with an empty [TrackPermission.participantIdentity] while [allParticipants] is
     * false), [PayloadTooLargeException] (more than the 2 MiB a LiveKit server reads in one
     * signalling message), [DisconnectedException].
     */
    suspend fun setTrackSubscriptionPermissions(allParticipants: Boolean, permissions: List<TrackPermission> = emptyList()) {
        client.call(
            Request.newBuilder().setSetTrackSubscriptionPermissions(
                lkcore.ffi.v1.SetTrackSubscriptionPermissionsRequest.newBuilder().setRoomHandle(handle).setAllParticipants(allParticipants)
                    .addAllPermissions(permissions.map(Convert::trackPermission)),
            ),
        )
    }

    /** Sets the local participant's metadata. */
    suspend fun setLocalMetadata(metadata: String) {
        client.call(Request.newBuilder().setSetLocalMetadata(lkcore.ffi.v1.SetLocalMetadataRequest.newBuilder().setRoomHandle(handle).setMetadata(metadata)))
    }

    /** Sets the local participant's name. */
    suspend fun setLocalName(name: String) {
        client.call(Request.newBuilder().setSetLocalName(lkcore.ffi.v1.SetLocalNameRequest.newBuilder().setRoomHandle(handle).setName(name)))
    }

    /** Sets local participant attributes (an empty value deletes the key). */
    suspend fun setLocalAttributes(attributes: Map<String, String>) {
        client.call(
            Request.newBuilder().setSetLocalAttributes(
                lkcore.ffi.v1.SetLocalAttributesRequest.newBuilder().setRoomHandle(handle).putAllAttributes(attributes),
            ),
        )
    }

    // ---- E2EE -------------------------------------------------------------------------

    /** Replaces the end-to-end encryption shared key at [keyIndex] (key rotation; not negative). */
    fun setSharedKey(key: ByteArray, keyIndex: Int = 0) {
        client.request(
            Request.newBuilder().setSetSharedKey(
                lkcore.ffi.v1.SetSharedKeyRequest.newBuilder().setRoomHandle(handle).setSharedKey(ByteString.copyFrom(key))
                    .setKeyIndex(Convert.unsigned("keyIndex", keyIndex)),
            ),
        )
    }

    /** End-to-end encryption state and counters of the room, and each remote participant's state. */
    fun e2eeStats(): E2eeStats {
        val r = client.request(Request.newBuilder().setGetE2EeStats(lkcore.ffi.v1.GetE2eeStatsRequest.newBuilder().setRoomHandle(handle))).getE2EeStats
        return E2eeStats(
            r.enabled, r.decryptionFailures, r.eventsSuppressed,
            r.participantStatesValueMap.mapValues { (_, v) -> Convert.encryptionState(v) },
        )
    }

    /**
     * A remote participant's end-to-end encryption state as the library holds it now:
     * [EncryptionState.DECRYPTION_FAILED] or [EncryptionState.MISSING_KEY] after a failure,
     * [EncryptionState.OK] once its data decrypts again, [EncryptionState.UNSPECIFIED] when nothing
     * of it failed or it left. It can be ahead of [RoomEvent.EncryptionStateChanged] events not
     * collected yet.
     */
    fun encryptionState(participantIdentity: String): EncryptionState =
        e2eeStats().encryptionStates[participantIdentity] ?: EncryptionState.UNSPECIFIED

    // ---- data tracks ---------------------------------------------------------------------

    /**
     * Publishes a local data track named [name] (unique per participant). A negative size in
     * [options] is refused with [InvalidArgumentException].
     */
    suspend fun publishDataTrack(name: String, options: DataTrackOptions = DataTrackOptions()): LocalDataTrack {
        val c = client.call(
            Request.newBuilder().setPublishDataTrack(
                lkcore.ffi.v1.PublishDataTrackRequest.newBuilder().setRoomHandle(handle).setName(name)
                    .setSchemaName(options.schemaName).setFrameEncoding(options.frameEncoding)
                    .setSchemaEncoding(options.schemaEncoding).setQueueSize(Convert.unsigned("queueSize", options.queueSize))
                    .setQueueBytes(Convert.unsigned("queueBytes", options.queueBytes)).setDropOldest(options.dropOldest),
            ),
        )
        // Registered by the sink on the dispatcher thread (a LocalDataTrackUnpublished may be
        // handled before this coroutine resumes); created here only if that failed.
        val owned = c.publishDataTrack.track
        return localTracks.computeIfAbsent(owned.handle) { LocalDataTrack(this, owned.handle, Convert.trackInfo(owned.info)) }
    }

    /**
     * Stores [definition] as the definition of the data-track schema [schemaName] (ABI 1.23) on
     * the server, so that subscribers of this participant's typed tracks can read it with
     * [getSchema]; define it before publishing a track that names it ([DataTrackOptions.schemaName]).
     * Name and [schemaEncoding] together identify a schema (the encoding as
     * [DataTrackOptions.schemaEncoding], e.g. `"protobuf"`; optional); defining the same schema
     * again replaces its definition. The library keeps what it stored and stores it again after
     * a full reconnect (the server forgets it with the old session); a request in flight when
     * the connection breaks is sent again once the room has reconnected. This binding stores
     * nothing. Completes once the server has stored it (within 5 s). A LiveKit server stores
     * definitions only with `enable_participant_data_blob` (off by default) and otherwise
     * refuses with [NotAllowedException]. Throws [InvalidArgumentException] ([schemaName] empty
     * or over 256 bytes, [definition] empty or over 50 000 bytes), [LimitReachedException] (the
     * definitions the library keeps would exceed 1 MiB together, or the server's bound for one
     * participant's definitions, 64 000 bytes by default), [NotAllowedException], the server's
     * other refusals, [TimeoutException], [DisconnectedException].
     */
    suspend fun defineSchema(schemaName: String, definition: String, schemaEncoding: String = "") {
        client.call(
            Request.newBuilder().setDefineDataTrackSchema(
                lkcore.ffi.v1.DefineDataTrackSchemaRequest.newBuilder().setRoomHandle(handle).setSchemaName(schemaName)
                    .setSchemaEncoding(schemaEncoding).setDefinition(definition),
            ),
        )
    }

    /**
     * The definition of the data-track schema [schemaName] that the participant
     * [participantIdentity] of the room (the local one included) stored with [defineSchema]
     * (ABI 1.23): name and [schemaEncoding] must both match, e.g. a [RemoteDataTrack]'s
     * `info.schemaName` and `info.schemaEncoding`. Asks the server each time (within 5 s; this
     * binding caches nothing). Throws [InvalidArgumentException] (an empty [participantIdentity]
     * or [schemaName]), [NotFoundException] (no participant of that identity in the room, or no
     * definition of that schema), [ProtocolErrorException] (the stored definition is not
     * UTF-8), [TimeoutException], [DisconnectedException].
     */
    suspend fun getSchema(participantIdentity: String, schemaName: String, schemaEncoding: String = ""): String {
        val c = client.call(
            Request.newBuilder().setGetDataTrackSchema(
                lkcore.ffi.v1.GetDataTrackSchemaRequest.newBuilder().setRoomHandle(handle).setParticipantIdentity(participantIdentity)
                    .setSchemaName(schemaName).setSchemaEncoding(schemaEncoding),
            ),
        )
        return c.getDataTrackSchema.definition
    }

    // ---- RPC ------------------------------------------------------------------------------

    /**
     * Answers RPC [method] with [handler] (also before connecting, so early calls are not
     * missed). The handler runs in the room's coroutine scope; its result is the response
     * payload, an [RpcException] it throws is sent as that error, any other exception as
     * APPLICATION_ERROR (1500) — a `CancellationException` too (e.g. the handler's own
     * `withTimeout`), unless the room is closing. Throws [AlreadyExistsException] if [method]
     * is registered.
     */
    fun registerRpcMethod(method: String, handler: suspend (RpcInvocation) -> String) {
        registerHandler(rpcHandlers, method, handler) {
            client.request(Request.newBuilder().setRegisterRpcMethod(lkcore.ffi.v1.RegisterRpcMethodRequest.newBuilder().setRoomHandle(handle).setMethod(method)))
        }
    }

    /**
     * Registers [handler] under [key] in [handlers] *before* [register] tells the library, so
     * an invocation or stream arriving as soon as the library accepts finds it (not
     * UNSUPPORTED_METHOD, not a discarded stream); removed again if the library refuses. A
     * handler already there (the library then refuses with [AlreadyExistsException]) stays.
     */
    private fun <H : Any> registerHandler(handlers: ConcurrentHashMap<String, H>, key: String, handler: H, register: () -> Unit) {
        val previous = handlers.putIfAbsent(key, handler)
        try {
            register()
        } catch (e: Throwable) {
            if (previous == null) handlers.remove(key, handler)
            throw e
        }
        if (previous != null) handlers[key] = handler // the library had none: the entry was stale
    }

    /** Stops answering [method] (callers then get UNSUPPORTED_METHOD). */
    fun unregisterRpcMethod(method: String) {
        client.request(Request.newBuilder().setUnregisterRpcMethod(lkcore.ffi.v1.UnregisterRpcMethodRequest.newBuilder().setRoomHandle(handle).setMethod(method)))
        rpcHandlers.remove(method)
    }

    /**
     * Calls [method] on participant [destinationIdentity] and returns its response payload.
     * Throws [RpcException] for every RPC failure (the callee's errors and LiveKit's built-in
     * codes, e.g. [RpcException.RESPONSE_TIMEOUT]); [responseTimeout] null = the room default.
     */
    suspend fun performRpc(destinationIdentity: String, method: String, payload: String, responseTimeout: Duration? = null): String {
        val b = lkcore.ffi.v1.PerformRpcRequest.newBuilder().setRoomHandle(handle).setDestinationIdentity(destinationIdentity)
            .setMethod(method).setPayload(payload)
        responseTimeout?.let { b.setResponseTimeoutMs(Convert.millis(it)) }
        return client.call(Request.newBuilder().setPerformRpc(b)).performRpc.payload
    }

    // ---- data streams -------------------------------------------------------------------------

    /** Sends [text] as one text stream. */
    suspend fun sendText(text: String, options: TextStreamOptions = TextStreamOptions()): TextStreamInfo {
        val c = client.call(
            Request.newBuilder().setSendText(lkcore.ffi.v1.SendTextRequest.newBuilder().setRoomHandle(handle).setText(text).setOptions(Streams.textOptions(options))),
        )
        return Streams.textInfo(c.sendText)
    }

    /** Sends [data] as one byte stream. */
    suspend fun sendBytes(data: ByteArray, options: ByteStreamOptions = ByteStreamOptions()): ByteStreamInfo {
        val c = client.call(
            Request.newBuilder().setSendBytes(
                lkcore.ffi.v1.SendBytesRequest.newBuilder().setRoomHandle(handle).setData(ByteString.copyFrom(data)).setOptions(Streams.byteOptions(options)),
            ),
        )
        return Streams.byteInfo(c.sendBytes)
    }

    /** Streams the local file at [path] (read by the library; [IoException] if it cannot). */
    suspend fun sendFile(path: java.nio.file.Path, options: ByteStreamOptions = ByteStreamOptions()): ByteStreamInfo {
        val c = client.call(
            Request.newBuilder().setSendFile(
                lkcore.ffi.v1.SendFileRequest.newBuilder().setRoomHandle(handle).setPath(path.toAbsolutePath().toString()).setOptions(Streams.byteOptions(options)),
            ),
        )
        return Streams.byteInfo(c.sendFile)
    }

    /** Opens an incremental text stream. */
    suspend fun streamText(options: TextStreamOptions = TextStreamOptions()): TextStreamWriter {
        val c = client.call(
            Request.newBuilder().setOpenTextWriter(lkcore.ffi.v1.OpenTextWriterRequest.newBuilder().setRoomHandle(handle).setOptions(Streams.textOptions(options))),
        )
        return TextStreamWriter(this, c.openTextWriter.handle, Streams.textInfo(c.openTextWriter.text))
    }

    /** Opens an incremental byte stream. */
    suspend fun streamBytes(options: ByteStreamOptions = ByteStreamOptions()): ByteStreamWriter {
        val c = client.call(
            Request.newBuilder().setOpenByteWriter(lkcore.ffi.v1.OpenByteWriterRequest.newBuilder().setRoomHandle(handle).setOptions(Streams.byteOptions(options))),
        )
        return ByteStreamWriter(this, c.openByteWriter.handle, Streams.byteInfo(c.openByteWriter.bytes))
    }

    /**
     * Accepts incoming text streams on [topic]: [handler] gets each stream's reader and the
     * sender's identity, in the room's scope; the reader is released when it returns.
     */
    fun registerTextStreamHandler(topic: String, handler: suspend (reader: TextStreamReader, participantIdentity: String) -> Unit) {
        registerHandler(textHandlers, topic, handler) { registerStreamHandler(lkcore.ffi.v1.StreamKind.STREAM_KIND_TEXT, topic) }
    }

    /** Accepts incoming byte streams on [topic] (see [registerTextStreamHandler]). */
    fun registerByteStreamHandler(topic: String, handler: suspend (reader: ByteStreamReader, participantIdentity: String) -> Unit) {
        registerHandler(byteHandlers, topic, handler) { registerStreamHandler(lkcore.ffi.v1.StreamKind.STREAM_KIND_BYTES, topic) }
    }

    /** Stops accepting text streams on [topic]. */
    fun unregisterTextStreamHandler(topic: String) = unregisterStreamHandler(lkcore.ffi.v1.StreamKind.STREAM_KIND_TEXT, topic).also { textHandlers.remove(topic) }

    /** Stops accepting byte streams on [topic]. */
    fun unregisterByteStreamHandler(topic: String) = unregisterStreamHandler(lkcore.ffi.v1.StreamKind.STREAM_KIND_BYTES, topic).also { byteHandlers.remove(topic) }

    private fun registerStreamHandler(kind: lkcore.ffi.v1.StreamKind, topic: String) {
        client.request(
            Request.newBuilder().setRegisterStreamHandler(
                lkcore.ffi.v1.RegisterStreamHandlerRequest.newBuilder().setRoomHandle(handle).setKind(kind).setTopic(topic)
                    .setDelivery(lkcore.ffi.v1.DeliveryMode.DELIVERY_MODE_CREDITS).setInitialCredits(StreamReaderBase.CREDITS),
            ),
        )
    }

    private fun unregisterStreamHandler(kind: lkcore.ffi.v1.StreamKind, topic: String) {
        client.request(
            Request.newBuilder().setUnregisterStreamHandler(
                lkcore.ffi.v1.UnregisterStreamHandlerRequest.newBuilder().setRoomHandle(handle).setKind(kind).setTopic(topic),
            ),
        )
    }

    // ---- event routing (dispatcher thread: hand off only) ------------------------------------

    private fun emit(e: RoomEvent) {
        if (eventFlow.tryEmit(e)) return
        // A collector is EVENT_BUFFER events behind: hold the dispatcher (the library's queue
        // then holds back the room) until it catches up, or until the room is closed.
        try {
            runBlocking(scope.coroutineContext) { eventFlow.emit(e) }
        } catch (_: kotlinx.coroutines.CancellationException) {
            // closing: the event is discarded, as the library discards undelivered events
        }
    }

    /**
     * Adopts an auto-subscription the library handed over (in the connect completion or in a
     * RemoteDataTrackPublished event): the first subscribe()/openSubscription() of its track
     * returns it. It is a pull subscription like one openSubscription() opens
     * (RoomOptions.auto_subscription_delivery, set by [Convert.roomOptions]): its frames wait in
     * the library's buffer until read, and its end event finds it from now on.
     */
    private fun adoptAutoSubscription(owned: lkcore.ffi.v1.OwnedDataTrackSubscription, track: RemoteDataTrack) {
        val h = owned.handle
        val sub = DataTrackSubscription(this, h, track)
        subscriptions[h] = sub
        autoSubscriptions.put(trackKey(track.publisherIdentity, track.info.name), sub)?.close() // a previous one was never taken
    }

    private inner class Sink : EventSink {
        override fun onCompletion(completion: lkcore.ffi.v1.Completion) {
            // The subscriptions of the snapshot's tracks (ConnectResult.auto_subscriptions).
            // Adopted here, on the dispatcher thread before the caller resumes: their end
            // events are posted after the completion, so they come through this thread later.
            if (completion.resultCase == lkcore.ffi.v1.Completion.ResultCase.CONNECT && !completion.hasError()) {
                // The snapshot's tracks are registered before any event about them.
                val auto = completion.connect.autoSubscriptionsList
                speakers = completion.connect.activeSpeakersList.toList() // before any event changes it
                val autoTracks = synchronized(trackLock) {
                    connectTracks = completion.connect.remoteDataTracksList.map(::snapshotTrack)
                    auto.map { remoteTrack(it.track) }
                }
                auto.zip(autoTracks).forEach { (owned, track) -> adoptAutoSubscription(owned, track) }
            }
            // A published track, registered before any event about it (a LocalDataTrackUnpublished
            // handled before publishDataTrack's caller resumes still names the track).
            if (completion.resultCase == lkcore.ffi.v1.Completion.ResultCase.PUBLISH_DATA_TRACK && !completion.hasError()) {
                val owned = completion.publishDataTrack.track
                localTracks[owned.handle] = LocalDataTrack(this@Room, owned.handle, Convert.trackInfo(owned.info))
            }
        }

        override fun onAbandoned(completion: lkcore.ffi.v1.Completion) {
            // An operation cancelled as it completed (a publish's track, a connect's
            // auto-subscriptions…): the handles it handed over were released; forget whatever
            // was registered under them.
            for (h in completion.ownedHandlesList) {
                localTracks.remove(h)
                subscriptions.remove(h)?.let { autoSubscriptions.values.remove(it) }
            }
        }

        override fun onEvent(event: Event) {
            when (event.messageCase) {
                Event.MessageCase.ROOM -> onRoomEvent(event.room)
                Event.MessageCase.LOG -> Logs.forward(event.log)
                Event.MessageCase.DATA_TRACK_SUBSCRIPTION_ENDED -> {
                    val e = event.dataTrackSubscriptionEnded
                    subscriptions[e.subscriptionHandle]?.onEnded(e)
                }
                Event.MessageCase.STREAM_CHUNK -> readers[event.streamChunk.readerHandle]?.onChunk(event.streamChunk)
                Event.MessageCase.STREAM_ENDED -> readers.remove(event.streamEnded.readerHandle)?.onEnded(event.streamEnded)
                else -> {}
            }
        }

        override fun onClosed() {
            readers.values.forEach { it.onEnded(null) }
            readers.clear()
        }
    }

    /**
     * Translates one room event into the binding's model and [events] (the dispatcher thread;
     * internal so that tests can feed an event the test server cannot produce on demand).
     * Whatever the event hands over (`RoomEvent.owned_handles`, ABI 1.11) and no object here
     * takes over is released: see [releaseOwned].
     */
    internal fun onRoomEvent(e: lkcore.ffi.v1.RoomEvent) {
        // The handle an object here took over (a stream handler's reader, a track's
        // auto-subscription), 0 if none; set as soon as it is, so that a failure later in the
        // translation does not release it under its object.
        var taken = 0L
        try {
            val ev: RoomEvent = when (e.messageCase) {
                lkcore.ffi.v1.RoomEvent.MessageCase.CONNECTION_STATE_CHANGED ->
                    RoomEvent.ConnectionStateChanged(Convert.connectionState(e.connectionStateChanged.stateValue))
                lkcore.ffi.v1.RoomEvent.MessageCase.RECONNECTING ->
                    RoomEvent.Reconnecting(Convert.reconnectKind(e.reconnecting.kindValue), e.reconnecting.attempt)
                lkcore.ffi.v1.RoomEvent.MessageCase.RECONNECTED -> Convert.reconnected(e.reconnected)
                lkcore.ffi.v1.RoomEvent.MessageCase.DISCONNECTED -> RoomEvent.Disconnected(
                    Convert.disconnectReason(e.disconnected.reasonValue),
                    if (e.disconnected.hasError()) NativeClient.toException(e.disconnected.error) else null,
                )
                lkcore.ffi.v1.RoomEvent.MessageCase.ROOM_UPDATED -> e.roomUpdated.let {
                    RoomEvent.RoomUpdated(Convert.roomInfo(it.info), it.metadataChanged, it.oldMetadata)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.ROOM_MOVED -> e.roomMoved.let {
                    RoomEvent.RoomMoved(Convert.roomInfo(it.info), it.oldRoomName)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.SNAPSHOT_TAKEN -> e.snapshotTaken.snapshot.let { s ->
                    // In event order: the objects of its tracks are as the events before it left them,
                    // its speakers the list the events before it set.
                    speakers = s.activeSpeakersList.toList()
                    RoomEvent.SnapshotTaken(Convert.snapshot(s, synchronized(trackLock) { s.remoteDataTracksList.map(::snapshotTrack) }))
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.PARTICIPANT_CONNECTED -> RoomEvent.ParticipantConnected(Convert.participant(e.participantConnected.info))
                lkcore.ffi.v1.RoomEvent.MessageCase.PARTICIPANT_DISCONNECTED -> RoomEvent.ParticipantDisconnected(
                    e.participantDisconnected.identity,
                    Convert.disconnectReason(e.participantDisconnected.reasonValue),
                )
                lkcore.ffi.v1.RoomEvent.MessageCase.PARTICIPANT_UPDATED -> e.participantUpdated.let {
                    RoomEvent.ParticipantUpdated(
                        Convert.participant(it.info), it.changedAttributesList.toList(), it.nameChanged, it.metadataChanged,
                        it.permissionChanged, it.oldName, it.oldMetadata, it.connectionQualityChanged,
                        Convert.connectionQuality(it.oldConnectionQualityValue),
                        if (it.hasTrackPublished()) Convert.trackPublication(it.trackPublished) else null,
                        if (it.hasTrackUnpublished()) Convert.trackPublication(it.trackUnpublished) else null,
                        if (it.hasTrackMuteChanged()) Convert.trackPublication(it.trackMuteChanged) else null,
                        it.speakingChanged,
                    )
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.ACTIVE_SPEAKERS_CHANGED -> e.activeSpeakersChanged.identitiesList.toList().let {
                    // The library's list in its order (BINDINGS.md: never sorted or recomputed here).
                    speakers = it
                    RoomEvent.ActiveSpeakersChanged(it)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.DATA_RECEIVED -> e.dataReceived.let {
                    RoomEvent.DataReceived(DataPacket(it.participantIdentity, it.payload.toByteArray(), it.topic, it.reliable, it.encrypted))
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.SIP_DTMF_RECEIVED -> e.sipDtmfReceived.let {
                    RoomEvent.SipDtmfReceived(it.participantIdentity, it.code, it.digit)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.CHAT_MESSAGE_RECEIVED -> e.chatMessageReceived.let {
                    RoomEvent.ChatMessageReceived(it.participantIdentity, Convert.chatMessage(it.message))
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.TRANSCRIPTION_RECEIVED -> e.transcriptionReceived.let {
                    RoomEvent.TranscriptionReceived(it.participantIdentity, Convert.transcription(it.transcription))
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.DATA_TRACK_PUBLISHED -> e.dataTrackPublished.let {
                    // A new track (or, when snapshot() saw it first, the object that one registered).
                    val track = synchronized(trackLock) { remoteTrack(it.track) }
                    if (it.hasAutoSubscription()) {
                        taken = it.autoSubscription.handle
                        adoptAutoSubscription(it.autoSubscription, track)
                    }
                    RoomEvent.DataTrackPublished(track)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.DATA_TRACK_UNPUBLISHED -> e.dataTrackUnpublished.let {
                    // The track ended: a track published under its name later is a new object.
                    synchronized(trackLock) { remoteTracks.remove(trackKey(it.publisherIdentity, it.name)) }
                    autoSubscriptions.remove(trackKey(it.publisherIdentity, it.name))?.close() // never taken: release it
                    RoomEvent.DataTrackUnpublished(it.publisherIdentity, it.sid, it.name)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.DATA_TRACK_SID_CHANGED -> e.dataTrackSidChanged.let {
                    // The same track under a new sid: its object (keyed by name, whoever registered
                    // it, a snapshot() that already saw the new sid included) shows it, its
                    // subscriptions go on (the auto-subscription, keyed by name, stays as it is).
                    val track = synchronized(trackLock) {
                        remoteTracks.getOrPut(trackKey(it.publisherIdentity, it.name)) {
                            // never handed out (not expected): a track known by its name and sid only
                            RemoteDataTrack(this, it.publisherIdentity, DataTrackInfo(it.oldSid, it.name, false, "", "", ""))
                        }.also { t -> t.sidChanged(it.sid) }
                    }
                    RoomEvent.DataTrackSidChanged(track, it.oldSid, it.sid)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.DATA_TRACK_SUBSCRIPTION_PERMISSION_CHANGED -> e.dataTrackSubscriptionPermissionChanged.let {
                    // The track's subscriptions stay open and resume by themselves (BINDINGS.md), so
                    // nothing here ends or reopens them; the track's object (keyed by name, as for a
                    // sid change) shows the new state before the event is delivered (ABI 1.23).
                    val track = synchronized(trackLock) {
                        remoteTracks.getOrPut(trackKey(it.publisherIdentity, it.name)) {
                            // never handed out (not expected): a track known by its name and sid only
                            RemoteDataTrack(this, it.publisherIdentity, DataTrackInfo(it.sid, it.name, false, "", "", ""))
                        }.also { t -> t.subscriptionRevoked = !it.allowed }
                    }
                    RoomEvent.DataTrackSubscriptionPermissionChanged(it.publisherIdentity, it.name, it.sid, it.allowed, track)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.LOCAL_DATA_TRACK_UNPUBLISHED -> e.localDataTrackUnpublished.let {
                    RoomEvent.LocalDataTrackUnpublished(localTracks[it.trackHandle], if (it.hasReason()) NativeClient.toException(it.reason) else null)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.LOCAL_DATA_TRACK_SID_CHANGED -> e.localDataTrackSidChanged.let {
                    val track = localTracks[it.trackHandle] ?: return
                    track.info = Convert.trackInfo(it.info)
                    RoomEvent.LocalDataTrackSidChanged(track, it.oldSid)
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.ENCRYPTION_STATE_CHANGED -> e.encryptionStateChanged.let {
                    RoomEvent.EncryptionStateChanged(it.participantIdentity, Convert.encryptionState(it.stateValue))
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.RPC_INVOCATION -> {
                    onRpcInvocation(e.rpcInvocation)
                    return
                }
                lkcore.ffi.v1.RoomEvent.MessageCase.STREAM_OPENED -> {
                    taken = onStreamOpened(e.streamOpened)
                    return
                }
                else -> RoomEvent.Unknown(e.messageCase.number)
            }
            emit(ev)
        } finally {
            releaseOwned(e, taken)
        }
    }

    /**
     * Releases every handle [e] hands over (`RoomEvent.owned_handles`, listed by the library)
     * but [taken]: all of them when the event reaches no one — a stream on a topic with no
     * handler (unregistered meanwhile), a kind this binding does not know — so the binding
     * keeps no list of which event kinds own handles (BINDINGS.md section 4).
     */
    private fun releaseOwned(e: lkcore.ffi.v1.RoomEvent, taken: Long) {
        for (h in e.ownedHandlesList) {
            if (h == taken) continue
            runCatching { client.drop(h) }.onFailure { Logs.bindingError("releasing what a room event handed over failed", it) }
        }
    }

    private fun onRpcInvocation(inv: lkcore.ffi.v1.RpcInvocation) {
        val handler = rpcHandlers[inv.method]
        val data = RpcInvocation(inv.invocationId, inv.method, inv.callerIdentity, inv.payload, inv.rpcRequestId, inv.responseTimeoutMs, inv.deadlineUnixMs)
        scope.launch {
            val b = lkcore.ffi.v1.RespondRpcRequest.newBuilder().setRoomHandle(handle).setInvocationId(inv.invocationId)
            try {
                if (handler == null) throw RpcException(RpcException.UNSUPPORTED_METHOD, "Method not supported at destination")
                b.setPayload(handler(data))
            } catch (e: RpcException) {
                b.setError(lkcore.ffi.v1.RpcError.newBuilder().setCode(e.rpcCode).setMessage(e.rpcMessage).setData(e.data ?: ""))
            } catch (e: Throwable) {
                // A CancellationException is the room closing only when this coroutine itself
                // was cancelled; one the handler threw on its own (its own withTimeout, a
                // cancelled job it awaited) is an application error like any other.
                if (e is kotlinx.coroutines.CancellationException && !isActive) throw e
                Logs.bindingError("RPC handler for ${inv.method} failed", e)
                b.setError(lkcore.ffi.v1.RpcError.newBuilder().setCode(RpcException.APPLICATION_ERROR).setMessage("Application error in method handler"))
            }
            try {
                client.request(Request.newBuilder().setRespondRpc(b))
            } catch (e: LkException) {
                // NOT_FOUND: the deadline passed and the library already answered RESPONSE_TIMEOUT.
                if (e !is NotFoundException && e !is ClientClosedException) Logs.bindingError("RPC response failed", e)
            }
        }
    }

    /**
     * Hands a new stream's reader to the handler registered for its topic; returns the reader's
     * handle, or 0 when no handler is (unregistered meanwhile): then no reader is made, and
     * [onRoomEvent] releases what the event hands over.
     */
    private fun onStreamOpened(o: lkcore.ffi.v1.StreamOpened): Long {
        val owned = o.reader
        val identity = o.participantIdentity
        if (owned.hasText()) {
            val info = Streams.textInfo(owned.text)
            val h = textHandlers[info.topic] ?: return 0
            val r = TextStreamReader(this, owned.handle, info)
            readers[owned.handle] = r
            scope.launch { r.use { h(it, identity) } }
        } else {
            val info = Streams.byteInfo(owned.bytes)
            val h = byteHandlers[info.topic] ?: return 0
            val r = ByteStreamReader(this, owned.handle, info)
            readers[owned.handle] = r
            scope.launch { r.use { h(it, identity) } }
        }
        return owned.handle
    }

    /** Limits of the binding. */
    companion object {
        /** Room events buffered per collector before delivery is held back. */
        const val EVENT_BUFFER = 1024

        /** The key of a remote data track: (publisher identity, name), stable across SID changes. */
        internal fun trackKey(publisherIdentity: String, name: String) = publisherIdentity to name
    }
}

/** An incoming RPC call handed to a handler registered with [Room.registerRpcMethod]. */
data class RpcInvocation(
    val invocationId: Long,
    val method: String,
    val callerIdentity: String,
    val payload: String,
    /** The caller's RPC request id (informational). */
    val requestId: String,
    val responseTimeoutMs: Int,
    val deadlineUnixMs: Long,
)

/**
 * End-to-end encryption state of a room.
 *
 * @property enabled the room was created with [RoomOptions.e2ee].
 * @property decryptionFailures packets and data-track frames that failed to decrypt (dropped).
 * @property eventsSuppressed failures not reported as [RoomEvent.EncryptionStateChanged] because
 *   the event queue was full.
 * @property encryptionStates the state of every remote participant whose data failed to decrypt
 *   since it joined, by identity ([EncryptionState.OK] once it decrypts again); a participant that
 *   left is not listed, nor one with nothing failed.
 */
data class E2eeStats(
    val enabled: Boolean,
    val decryptionFailures: Long,
    val eventsSuppressed: Long,
    val encryptionStates: Map<String, EncryptionState> = emptyMap(),
)
