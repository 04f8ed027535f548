package io.lkcore

/**
 * An event of a [Room], delivered on [Room.events] in the order the room observed them. They
 * are deltas on the [RoomSnapshot] returned by [Room.connect]. RPC invocations and incoming
 * streams go to the registered handlers instead ([Room.registerRpcMethod],
 * [Room.registerTextStreamHandler], [Room.registerByteStreamHandler]).
 */
sealed class RoomEvent {
    /** The connection state changed. */
    data class ConnectionStateChanged(val state: ConnectionState) : RoomEvent()

    /** The connection was lost and the room is restoring it ([attempt] counts escalations). */
    data class Reconnecting(val kind: ReconnectKind, val attempt: Int) : RoomEvent()

    /**
     * The connection is restored. Before a [ReconnectKind.FULL] one, the events reported who
     * joined or left meanwhile; a participant that stayed is not reported gone and back, and
     * its tracks and subscriptions go on.
     *
     * @property discardedPackets reliable data packets (reliable `publishData`, and the chunks of
     *   streams, RPC, chat messages, DTMF, transcriptions) the library had accepted, that the
     *   server had not acknowledged when the connection broke, and that a FULL reconnect
     *   discarded: sending them on the new session could deliver them twice (the official SDKs
     *   discard them too, without telling). Always 0 after a RESUME. ABI 1.28.
     * @property replayedPackets reliable data packets sent again after a RESUME because the
     *   server had not acknowledged them; each is still delivered once. Always 0 after a FULL
     *   reconnect. ABI 1.28.
     */
    data class Reconnected(val kind: ReconnectKind, val discardedPackets: Long = 0, val replayedPackets: Long = 0) : RoomEvent()

    /** The last event of a connection; [error] is set when a failure caused it. */
    data class Disconnected(val reason: DisconnectReason, val error: LkException?) : RoomEvent()

    /**
     * Room metadata or counters changed (the participant count as the server counts it comes
     * about a second after a join or a leave): [info] holds the values after the change. When
     * [metadataChanged], [oldMetadata] is the metadata before it (`info.metadata` the new one);
     * otherwise it is empty.
     */
    data class RoomUpdated(val info: RoomInfo, val metadataChanged: Boolean = false, val oldMetadata: String = "") : RoomEvent()

    /**
     * The server moved this session to another room (LiveKit Cloud's MoveParticipant; ABI
     * 1.18): [info] is the new room, [oldRoomName] the room it left. The [Room], its
     * connection and its local data tracks stay. Before this event the participants who are not
     * in the new room left ([DataTrackUnpublished] for their tracks, then
     * [ParticipantDisconnected]); after it come the local participant's [ParticipantUpdated] and
     * [ParticipantConnected] for each participant of the new room, then their
     * [DataTrackPublished]. Later reconnections join the new room.
     */
    data class RoomMoved(val info: RoomInfo, val oldRoomName: String) : RoomEvent()

    /** A remote participant joined. */
    data class ParticipantConnected(val participant: Participant) : RoomEvent()

    /** A remote participant left; each of its data tracks was reported [DataTrackUnpublished] before. */
    data class ParticipantDisconnected(val identity: String, val reason: DisconnectReason) : RoomEvent()

    /**
     * A participant's (local or remote) name, metadata, attributes, permission, connection
     * quality or media tracks changed: [participant] holds the values after the change, the
     * flags say what changed, and the event carries the previous values, so "old → new" needs no
     * copy of earlier state. With no flag set, another field changed: a new sid (the local
     * participant after a full reconnect, or a remote participant's new session that replaced
     * the one known), its kind or protocol, or a media track's description other than its mute
     * (its name, its dimensions). A connection quality change (ABI 1.22) is one with
     * [connectionQualityChanged]: the server rated the participant anew (it rates the local
     * participant and those whose tracks this one subscribes to, when one joins or a rating
     * changes). A speaking change (ABI 1.29) is one with [speakingChanged]: the server's speaker
     * update changed [Participant.isSpeaking] or [Participant.audioLevel] (it reports the local
     * participant and those whose tracks, data tracks included, this one subscribes to), and an
     * [ActiveSpeakersChanged] follows when the room's list changed with it. A media track
     * change (ABI 1.25) is one with [trackPublished], [trackUnpublished] or [trackMuteChanged]
     * set (at most one, and then nothing else changed); [Participant.tracks] is the list after it.
     */
    data class ParticipantUpdated(
        val participant: Participant,
        /** Attribute keys whose value changed (deleted keys included, absent from the new attributes). */
        val changedAttributes: List<String>,
        val nameChanged: Boolean,
        val metadataChanged: Boolean,
        val permissionChanged: Boolean,
        /** The name before the change when [nameChanged] (empty otherwise). */
        val oldName: String = "",
        /** The metadata before the change when [metadataChanged] (empty otherwise). */
        val oldMetadata: String = "",
        /** The server rated the participant anew (ABI 1.22): [Participant.connectionQuality] holds the rating. */
        val connectionQualityChanged: Boolean = false,
        /** The rating before the change when [connectionQualityChanged] (UNKNOWN when there was none, and when the flag is not set). */
        val oldConnectionQuality: ConnectionQuality = ConnectionQuality.UNKNOWN,
        /**
         * A media track the participant published (ABI 1.25), also in [Participant.tracks]. A
         * participant that joins with tracks has one such event for each, after its
         * [ParticipantConnected]; the participants already there at connect have theirs in the
         * snapshot only. Null when no track was published.
         */
        val trackPublished: TrackPublication? = null,
        /**
         * A media track the participant no longer publishes (ABI 1.25), as last described; no
         * longer in [Participant.tracks]. A participant that leaves has one such event for each
         * of its tracks, before its [ParticipantDisconnected]. Null when no track was unpublished.
         */
        val trackUnpublished: TrackPublication? = null,
        /**
         * A media track the participant muted or unmuted (ABI 1.25): its [TrackPublication.muted]
         * is the new state, as in [Participant.tracks]. Null when no mute changed.
         */
        val trackMuteChanged: TrackPublication? = null,
        /**
         * The server's speaker update changed the participant's speaking or audio level (ABI
         * 1.29): [Participant.isSpeaking] and [Participant.audioLevel] hold the new values. A
         * full reconnect or a move, which forget the speakers, has one for each that was speaking.
         */
        val speakingChanged: Boolean = false,
    ) : RoomEvent()

    /**
     * The room's list of active speakers changed (ABI 1.29): [speakers] are the identities of
     * the participants speaking (the local one included), loudest first, in the library's order
     * (equal levels by identity); empty when nobody speaks. It follows the [ParticipantUpdated]
     * events (`speakingChanged`) of the update that changed the list, also a speaker's
     * [ParticipantDisconnected], and comes empty when a full reconnect or a move forgets the
     * speakers (the new session's server reports them anew). A new level that keeps the order
     * changes no list. [Room.activeSpeakers] shows [speakers] before the event is delivered; the
     * snapshots' [RoomSnapshot.activeSpeakers] are the list at their point. The binding passes
     * the list on as the library orders it, never sorting or recomputing it.
     */
    data class ActiveSpeakersChanged(val speakers: List<String>) : RoomEvent()


    /** A data packet arrived. */
    data class DataReceived(val packet: DataPacket) : RoomEvent()

    /**
     * A DTMF tone arrived (ABI 1.19), typically a key a SIP participant's caller pressed:
     * [code] is the telephone-event code (0-9 the digits, 10 `*`, 11 `#`, 12-15 `A`-`D`),
     * [digit] the key as text (empty when the sender set only the code). [participantIdentity]
     * is empty when a server-side SDK sent it.
     */
    data class SipDtmfReceived(val participantIdentity: String, val code: Int, val digit: String) : RoomEvent()

    /**
     * A legacy chat message, or an edit of one (the same [ChatMessage.id] and
     * [ChatMessage.timestampMs], a new text and [ChatMessage.editTimestampMs]), arrived from
     * another participant (ABI 1.20; what the official SDKs' deprecated `sendChatMessage` /
     * `editChatMessage` and [Room.sendChatMessage] / [Room.editChatMessage] send). Like
     * [DataReceived] it keeps its place among the room's data. [participantIdentity] is empty
     * when a server-side SDK or a hidden participant sent it.
     */
    data class ChatMessageReceived(
        /** The sender's identity (empty when a server-side SDK or a hidden participant sent it). */
        val participantIdentity: String,
        /** The message as received. */
        val message: ChatMessage,
    ) : RoomEvent()

    /**
     * A legacy transcription arrived from another participant (ABI 1.21; what the Rust and
     * Python SDKs' `publish_transcription` and [Room.publishTranscription] send, the official
     * clients' transcription event): an agent's segments of text for
     * [Transcription.participantIdentity]'s speech. Like [DataReceived] it keeps its place among
     * the room's data.
     */
    data class TranscriptionReceived(
        /**
         * The sender's identity, an agent (the server forwards no one else's); empty when a
         * server-side SDK or a hidden participant sent it. Whose speech it is says
         * [Transcription.participantIdentity].
         */
        val participantIdentity: String,
        /** The transcription as received. */
        val transcription: Transcription,
    ) : RoomEvent()

    /** A remote participant published a data track. */
    data class DataTrackPublished(val track: RemoteDataTrack) : RoomEvent()

    /**
     * A remote participant unpublished a data track; its subscriptions end. A track published
     * again later under the same name comes as a new [DataTrackPublished].
     */
    data class DataTrackUnpublished(val publisherIdentity: String, val sid: String, val name: String) : RoomEvent()

    /**
     * A remote data track got a new sid: its publisher reconnected fully and published it
     * again. It is the same track: [track] (the object the room handed out in its snapshot or
     * [DataTrackPublished]) now shows [sid] in its `info`, and its subscriptions go on (frames
     * flow again once the server routes the new publication). Depending on the order of the
     * server's updates, a publisher's full reconnect can instead show as [DataTrackUnpublished]
     * then [DataTrackPublished] (a new track, whose subscriptions start afresh): handle both.
     */
    data class DataTrackSidChanged(
        /** The track, now under [sid]. */
        val track: RemoteDataTrack,
        /** The sid the track had before. */
        val oldSid: String,
        /** The sid the track got (its `info.sid` from now on, until it changes again). */
        val sid: String,
    ) : RoomEvent()

    /**
     * The publisher of a remote data track this participant subscribes to revoked ([allowed]
     * false) or granted again ([allowed] true) its permission to receive it (ABI 1.20; the
     * publisher's [Room.setTrackSubscriptionPermissions]). The track's subscriptions stay open:
     * they receive nothing while revoked and resume by themselves when allowed again (nothing
     * to do; what the publisher sent meanwhile is lost). [track]'s
     * [RemoteDataTrack.subscriptionRevoked] (ABI 1.23) already shows the change (`!allowed`)
     * when the event is delivered. A subscription refused before it was established ends
     * instead, failed with [NotAllowedException].
     */
    data class DataTrackSubscriptionPermissionChanged(
        /** The identity of the track's publisher. */
        val publisherIdentity: String,
        /** The track's name. */
        val name: String,
        /** The track's sid. */
        val sid: String,
        /** Whether this participant may receive the track now. */
        val allowed: Boolean,
        /** The track: the room's object for it, as in [DataTrackPublished] and the snapshots. */
        val track: RemoteDataTrack,
    ) : RoomEvent()

    /** The server (or a full reconnect) ended the publication of one of our data tracks. */
    data class LocalDataTrackUnpublished(val track: LocalDataTrack?, val reason: LkException?) : RoomEvent()

    /**
     * A full reconnect of the room published one of our data tracks again, under a new sid
     * ([track]'s info already shows it; [oldSid] is the previous one). The track stayed
     * published.
     */
    data class LocalDataTrackSidChanged(val track: LocalDataTrack, val oldSid: String) : RoomEvent()

    /**
     * A remote participant's end-to-end encryption state: every failure to decrypt its data
     * (DECRYPTION_FAILED, MISSING_KEY) and its return to OK. [Room.encryptionState] reads the
     * current state.
     */
    data class EncryptionStateChanged(val participantIdentity: String, val state: EncryptionState) : RoomEvent()

    /**
     * The room's state at this point of [Room.events], answering [Room.requestSnapshot]: every
     * event before it is in it and none after it, so a collector that starts (or starts over)
     * here replaces its model with [snapshot] and applies the events that follow as deltas, as
     * after [Room.connect]. Its tracks are the room's objects for them. Any collector may see
     * one that another asked for; it is just as consistent.
     */
    data class SnapshotTaken(val snapshot: RoomSnapshot) : RoomEvent()

    /** An event kind newer than this binding (its oneof field number). */
    data class Unknown(val kind: Int) : RoomEvent()
}
