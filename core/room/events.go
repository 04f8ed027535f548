package room

// Event is one room event. The concrete types are the structs in this file;
// switch on them with a type switch. Events are delivered in the order they
// happened (see Room.NextEvent for the delivery guarantees).
type Event interface{ isEvent() }

// ConnectionStateChanged reports a new connection state of the room.
type ConnectionStateChanged struct {
	State ConnectionState
}

// ParticipantConnected reports a remote participant that joined after us.
// Participants already in the room when we joined do not produce it; they
// are in Room.RemoteParticipants from the start (as in JS).
type ParticipantConnected struct {
	Participant *RemoteParticipant
	// Info is the participant as it joined (Participant's getters may
	// already show later changes).
	Info ParticipantInfo
}

// ParticipantDisconnected reports a remote participant that left. Reason is
// the server's DisconnectReason (e.g. CLIENT_INITIATED for a graceful leave;
// DisconnectUnknown when it left while we were rejoining after a full
// reconnect). The DataTrackUnpublished of each of its data tracks and the
// TrackUnpublished of each of its media tracks come before it, so the
// participant has none left.
type ParticipantDisconnected struct {
	Participant *RemoteParticipant
	Reason      DisconnectReason
}

// ParticipantMetadataChanged reports a metadata change of a participant
// (local or remote), as confirmed by the server.
type ParticipantMetadataChanged struct {
	Participant Participant
	OldMetadata string
	NewMetadata string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ParticipantNameChanged reports a name change of a participant (local or remote).
type ParticipantNameChanged struct {
	Participant Participant
	OldName     string
	NewName     string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ParticipantAttributesChanged reports changed attributes of a participant
// (local or remote). Changed holds the new value of every key that was added
// or modified, and "" for every key that was removed.
type ParticipantAttributesChanged struct {
	Participant Participant
	Changed     map[string]string
	// OldAttributes and Info.Attributes are the whole sets before and after.
	OldAttributes map[string]string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ParticipantPermissionsChanged reports a change of a participant's
// permission (local or remote), e.g. granted or revoked through the server
// API. OldPermission is nil when the server had sent none.
type ParticipantPermissionsChanged struct {
	Participant   Participant
	OldPermission *ParticipantPermission
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ConnectionQualityChanged reports a new connection quality of a participant
// (local or remote), as the server rated it. The server rates the local
// participant and those whose tracks it subscribes to; a participant's new
// session keeps the quality its previous one had until the server rates it.
type ConnectionQualityChanged struct {
	Participant Participant
	OldQuality  ConnectionQuality
	Quality     ConnectionQuality
	// Info is the participant after this change.
	Info ParticipantInfo
}

// SpeakingChanged reports that the server's speaker update changed whether a
// participant (local or remote) is speaking or its audio level (speakers.go).
// ActiveSpeakersChanged follows when the list of speakers changed with it.
type SpeakingChanged struct {
	Participant Participant
	Speaking    bool
	AudioLevel  float32 // 0 when not speaking
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ActiveSpeakersChanged reports a new list of active speakers: who speaks
// (or who is loudest) changed. It follows the SpeakingChanged events of a
// speaker update, a departure of a speaker (after its
// ParticipantDisconnected), and a full reconnect or a move, which forget
// every speaker until the server reports them again. A change of levels that
// keeps the order has SpeakingChanged events only.
type ActiveSpeakersChanged struct {
	// Speakers are the participants speaking, loudest first (equal levels by
	// identity); empty when nobody speaks.
	Speakers []Participant
}

// TrackPublished reports a media track (audio or video) a remote participant
// published. A participant that joins with tracks has one for each after its
// ParticipantConnected; the participants already in the room when we joined
// have none (their tracks are in Room.RemoteParticipants' infos from the
// start). lkcore receives no media: the event only describes the track.
type TrackPublished struct {
	Participant Participant
	Track       TrackPublicationInfo
	// Info is the participant after this change.
	Info ParticipantInfo
}

// TrackUnpublished reports a media track a remote participant no longer
// publishes. A participant that leaves has one for each of its tracks before
// its ParticipantDisconnected.
type TrackUnpublished struct {
	Participant Participant
	Track       TrackPublicationInfo // as last described
	// Info is the participant after this change.
	Info ParticipantInfo
}

// TrackMuteChanged reports that a participant muted or unmuted a media
// track: Track.Muted is the new state.
type TrackMuteChanged struct {
	Participant Participant
	Track       TrackPublicationInfo
	// Info is the participant after this change.
	Info ParticipantInfo
}

// ParticipantInfoChanged reports that a remote participant's new session
// replaced the one known without it being reported gone — it reconnected
// fully and the server announced the new session before (or instead of) the
// old one's departure, or the room's own full reconnect found it with a new
// SID: SID (OldSID before) and the join time changed. It comes before the
// events of the other changes the new session brings (name, metadata, …).
// The participant keeps its *RemoteParticipant and its data tracks, whose
// SIDs change too (DataTrackSidChanged); the streams the old session was
// sending fail (ErrAbnormalEnd). It also reports a change of a participant's
// kind, kind details or client protocol when nothing else changed (OldSID is
// then the current SID). The local participant's new session after the
// room's full reconnect is LocalParticipantRejoined instead.
type ParticipantInfoChanged struct {
	Participant Participant
	OldSID      string
	// Info is the participant after this change.
	Info ParticipantInfo
}

// RoomMetadataChanged reports a change of the room's metadata. The server's
// update may have changed other fields of the room's info too (its number of
// participants, …): Info holds every value after it.
type RoomMetadataChanged struct {
	OldMetadata string
	NewMetadata string
	// Info is the room after this change.
	Info RoomInfo
}

// RoomInfoChanged reports a change of the room's info other than its
// metadata (a metadata change is RoomMetadataChanged): the number of
// participants as the server counts them, the maximum, the room's SID
// and creation time after a full reconnect. Info is the room after the change.
// The server sends its counts some time after a join or a leave (about a
// second) and may send stale ones after a resume; they are the server's
// figures, not Room.RemoteParticipants'.
type RoomInfoChanged struct {
	Info RoomInfo
}

// LocalParticipantRejoined follows Reconnected{Kind: ReconnectFull}: the new
// session gave the local participant a new SID (and possibly other server
// state). Info is the local participant in the new session.
type LocalParticipantRejoined struct {
	OldSID string
	Info   ParticipantInfo
}

// DataReceived is a user data packet from another participant.
type DataReceived struct {
	// Payload is owned by the receiver of the event.
	Payload []byte
	// Topic is the packet's topic ("" when none was set).
	Topic string
	// SenderIdentity is the sender's identity as stamped by the SFU ("" for
	// packets sent by the server API or by hidden participants).
	SenderIdentity string
	// Participant is the sender if it is currently known, else nil: the SFU
	// announces a new participant to others up to ~3 s after it joined
	// (recorded), so its first packets can arrive before ParticipantConnected.
	Participant *RemoteParticipant
	// Reliable reports whether the packet arrived on the reliable channel.
	Reliable bool
	// Encrypted reports that the packet was end-to-end encrypted (and
	// decrypted with the room's E2EE keys).
	Encrypted bool
}

// Disconnected is always the last event of a room. Reason is the server's
// DisconnectReason when the server ended the session (or CLIENT_INITIATED
// after Disconnect); Err is non-nil when the session ended because of a
// failure (signal lost, PeerConnection failed, …).
type Disconnected struct {
	Reason DisconnectReason
	Err    error
}

// SnapshotTaken is the room's state at this point of the event stream, asked
// for with Room.RequestSnapshot: every event before it is reflected in it,
// none after it is, so a consumer that starts (or starts over) here builds
// its model from it and applies the events that follow as deltas, exactly as
// with Connect's Snapshot. Its RemoteDataTracks carry no Subscription
// (auto-subscriptions were handed over with their DataTrackPublished or
// Connect's Snapshot). Data events (DataReceived, …) are not state: they
// come before or after it as they arrived.
type SnapshotTaken struct {
	Snapshot Snapshot
}

func (SnapshotTaken) isEvent()                 {}
func (ConnectionStateChanged) isEvent()        {}
func (ParticipantConnected) isEvent()          {}
func (ParticipantDisconnected) isEvent()       {}
func (ParticipantMetadataChanged) isEvent()    {}
func (ParticipantNameChanged) isEvent()        {}
func (ParticipantAttributesChanged) isEvent()  {}
func (ParticipantPermissionsChanged) isEvent() {}
func (ConnectionQualityChanged) isEvent()      {}
func (SpeakingChanged) isEvent()               {}
func (ActiveSpeakersChanged) isEvent()         {}
func (TrackPublished) isEvent()                {}
func (TrackUnpublished) isEvent()              {}
func (TrackMuteChanged) isEvent()              {}
func (ParticipantInfoChanged) isEvent()        {}
func (RoomMetadataChanged) isEvent()           {}
func (RoomInfoChanged) isEvent()               {}
func (LocalParticipantRejoined) isEvent()      {}
func (DataReceived) isEvent()                  {}
func (Disconnected) isEvent()                  {}

// Reconnecting reports that the connection broke and is being re-established
// (the state is then StateReconnecting). It is emitted when an episode starts
// and again when it escalates from a resume to a full reconnect.
type Reconnecting struct {
	Kind ReconnectKind
	// Err is what broke the connection (nil when the server asked for it).
	Err error
	// Attempt numbers the Reconnecting events of one episode: 1 when it
	// starts, +1 when it escalates to a full reconnect.
	Attempt int
}

// Reconnected reports that the connection has been re-established (the state
// is StateConnected again). For ReconnectFull the local participant has a new
// SID, and the events before this one brought the room up to date with the
// new session: ParticipantConnected for who joined meanwhile,
// ParticipantDisconnected for who left (after their DataTrackUnpublished), the
// changes of who stayed. A remote participant in the room all along keeps its
// RemoteParticipant and its data tracks (and their subscriptions); it is not
// reported gone and back. (JS and Rust report every remote participant gone
// and announce them again.)
type Reconnected struct {
	Kind ReconnectKind
	// DiscardedPackets counts reliable packets that SendPacket had accepted
	// before the connection broke, that the SFU had not acknowledged, and
	// that a full reconnect had to discard (JS and Rust discard them too:
	// the old session and its sequence numbers are gone, and re-sending on
	// the new session could duplicate them). Always 0 after a resume, which
	// replays them instead.
	DiscardedPackets int
	// ReplayedPackets counts reliable packets sent again after a resume
	// because the SFU had not acknowledged them (docs/protocol.md, Data
	// packets); the SFU drops
	// any it already had, receivers suppress duplicates, so each is
	// delivered once. Always 0 after a full reconnect.
	ReplayedPackets int
}

func (Reconnecting) isEvent() {}
func (Reconnected) isEvent()  {}

// DataTrackPublished reports a data track published by a remote participant
// after Connect returned (tracks known before are in Connect's Snapshot, not
// announced again). It comes before any frame of the track can be received.
type DataTrackPublished struct {
	// Track is the new remote track.
	Track *RemoteDataTrack
	// Info is the track as it was published; Track.Info() may already show
	// the SID of a later DataTrackSidChanged still queued behind this event.
	Info DataTrackInfo
	// Subscription is the track's subscription with Options.AutoSubscribe
	// (nil without, or when it could not be requested; logged).
	Subscription *DataTrackSubscription
}

// DataTrackUnpublished reports that a remote data track went away
// (unpublished, its publisher left, or the room disconnected). Its
// subscriptions have ended.
type DataTrackUnpublished struct {
	// Track is the track that went away (IsPublished is false).
	Track *RemoteDataTrack
}

// DataTrackSidChanged reports that a remote data track got a new SID: its
// publisher reconnected fully and published it again with the same name and
// attributes. The track (the same *RemoteDataTrack, now with the new SID)
// and its subscriptions go on; frames keep flowing once the server routes
// the new publication. Depending on the order of the server's updates, a
// publisher's full reconnect can instead show as DataTrackUnpublished then
// DataTrackPublished (a new track, new subscriptions).
type DataTrackSidChanged struct {
	// Track is the track, whose SID is now the new one.
	Track *RemoteDataTrack
	// Info is the track with the new SID (as of this change).
	Info DataTrackInfo
	// OldSID is the SID the track had before.
	OldSID string
}

// LocalDataTrackPublished reports that one of our data tracks was published
// (PublishDataTrack is about to return it).
type LocalDataTrackPublished struct {
	// Track is the published local track.
	Track *LocalDataTrack
}

// LocalDataTrackUnpublished reports that one of our data tracks ended. Reason
// is nil after Unpublish, else why the track ended (e.g. the server
// unpublished it, canPublishData was revoked, the room disconnected).
type LocalDataTrackUnpublished struct {
	// Track is the local track that ended.
	Track *LocalDataTrack
	// Reason is nil after Unpublish, else why the track ended.
	Reason error
}

// LocalDataTrackSidChanged reports that one of our data tracks got a new SID:
// a full reconnect published it again on the new session (same handle, same
// object; LocalDataTrack.SID already returns the new one).
type LocalDataTrackSidChanged struct {
	// Track is the local track, whose SID is now the new one.
	Track *LocalDataTrack
	// Info is the track with the new SID (as of this change).
	Info DataTrackInfo
	// OldSID is the SID the track had before.
	OldSID string
}

// LocalDataTrackFramesLost reports frames that TryPush had accepted and that
// will never be sent: written while the channel failed under them
// (SendFailed: e.g. the frame in flight when a full reconnect replaced the
// transport) or thrown away while queued (Discarded: unpublish, a failed
// republish, DropOldest eviction). The counts are those since the previous
// report of the track; their running totals are in LocalDataTrack.Stats.
// Frames queued when a full reconnect starts are not lost: they wait and go
// out on the new session once the track is republished.
type LocalDataTrackFramesLost struct {
	// Track is the local track that lost the frames.
	Track *LocalDataTrack
	// SendFailed and Discarded are the frames lost since the previous report.
	SendFailed, Discarded uint64
}

func (DataTrackPublished) isEvent()        {}
func (DataTrackUnpublished) isEvent()      {}
func (DataTrackSidChanged) isEvent()       {}
func (LocalDataTrackPublished) isEvent()   {}
func (LocalDataTrackUnpublished) isEvent() {}
func (LocalDataTrackSidChanged) isEvent()  {}
func (LocalDataTrackFramesLost) isEvent()  {}
