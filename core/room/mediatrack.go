package room

import (
	"fmt"
	"slices"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Media track publications. lkcore neither sends nor receives audio or video,
// but the server describes every participant's media tracks in its
// ParticipantInfo (tracks), to everyone in the room and whether or not they
// subscribe: an application learns from them who has a microphone or a camera
// published and whether it is muted. Data tracks are not among them (they
// have their own list and events).

// TrackKind is the kind of a media track.
type TrackKind int

// Track kinds.
const (
	TrackAudio TrackKind = iota
	TrackVideo
)

// String returns "audio" or "video".
func (k TrackKind) String() string {
	switch k {
	case TrackAudio:
		return "audio"
	case TrackVideo:
		return "video"
	}
	return fmt.Sprintf("TrackKind(%d)", int(k))
}

// TrackSource is what a media track captures (the server's TrackSource).
type TrackSource int

// Track sources.
const (
	SourceUnknown          TrackSource = iota // not said, or newer than this library
	SourceCamera                              // a camera
	SourceMicrophone                          // a microphone
	SourceScreenShare                         // a screen share's video
	SourceScreenShareAudio                    // a screen share's audio
)

// String returns the source's name.
func (s TrackSource) String() string {
	switch s {
	case SourceCamera:
		return "camera"
	case SourceMicrophone:
		return "microphone"
	case SourceScreenShare:
		return "screen_share"
	case SourceScreenShareAudio:
		return "screen_share_audio"
	}
	return "unknown"
}

// TrackPublicationInfo is one media track a participant publishes, as the
// server last described it.
type TrackPublicationInfo struct {
	SID    string // TR_…
	Name   string // the publisher's name for it ("" when it gave none)
	Kind   TrackKind
	Source TrackSource
	// Muted: the publisher muted the track (it sends nothing until unmuted).
	Muted bool
	// MimeType is the codec, e.g. "audio/opus", "video/VP8" ("" until the
	// server knows it).
	MimeType string
	// Width and Height are a video track's largest dimensions (0 when not said).
	Width, Height uint32
	// Simulcast: a video track sent in several qualities.
	Simulcast bool
	// Encrypted: the track is end-to-end encrypted.
	Encrypted bool
}

// maxMediaTracks bounds the media tracks kept per participant (a peer's
// ParticipantInfo could list any number; real clients publish a handful).
const maxMediaTracks = 64

// mediaTracksFrom converts a ParticipantInfo's tracks: audio and video ones
// with a SID, in the server's order, a SID listed twice kept once, at most
// maxMediaTracks.
func mediaTracksFrom(in []*lkpb.TrackInfo) []TrackPublicationInfo {
	var out []TrackPublicationInfo
	for _, t := range in {
		if len(out) == maxMediaTracks {
			break
		}
		var kind TrackKind
		switch t.GetType() {
		case lkpb.TrackType_AUDIO:
			kind = TrackAudio
		case lkpb.TrackType_VIDEO:
			kind = TrackVideo
		default:
			continue
		}
		if t.GetSid() == "" || slices.ContainsFunc(out, func(o TrackPublicationInfo) bool { return o.SID == t.GetSid() }) {
			continue
		}
		out = append(out, TrackPublicationInfo{
			SID: t.GetSid(), Name: t.GetName(), Kind: kind, Source: trackSourceFrom(t.GetSource()),
			Muted: t.GetMuted(), MimeType: t.GetMimeType(), Width: t.GetWidth(), Height: t.GetHeight(),
			Simulcast: t.GetSimulcast(), Encrypted: t.GetEncryption() != lkpb.Encryption_NONE,
		})
	}
	return out
}

func trackSourceFrom(s lkpb.TrackSource) TrackSource {
	switch s {
	case lkpb.TrackSource_CAMERA:
		return SourceCamera
	case lkpb.TrackSource_MICROPHONE:
		return SourceMicrophone
	case lkpb.TrackSource_SCREEN_SHARE:
		return SourceScreenShare
	case lkpb.TrackSource_SCREEN_SHARE_AUDIO:
		return SourceScreenShareAudio
	}
	return SourceUnknown
}

// diffMediaTracks returns the track events between two infos of the same
// participant: TrackUnpublished for each track of old that cur lacks, then
// TrackPublished for each new one and TrackMuteChanged for each whose mute
// changed, in cur's order. info builds the participant's info after the
// change (each event owns its copy).
func diffMediaTracks(p Participant, old, cur *lkpb.ParticipantInfo, info func() ParticipantInfo) []Event {
	before, after := mediaTracksFrom(old.GetTracks()), mediaTracksFrom(cur.GetTracks())
	find := func(ts []TrackPublicationInfo, sid string) (TrackPublicationInfo, bool) {
		i := slices.IndexFunc(ts, func(t TrackPublicationInfo) bool { return t.SID == sid })
		if i < 0 {
			return TrackPublicationInfo{}, false
		}
		return ts[i], true
	}
	var evs []Event
	for _, t := range before {
		if _, ok := find(after, t.SID); !ok {
			evs = append(evs, TrackUnpublished{Participant: p, Track: t, Info: info()})
		}
	}
	for _, t := range after {
		prev, ok := find(before, t.SID)
		switch {
		case !ok:
			evs = append(evs, TrackPublished{Participant: p, Track: t, Info: info()})
		case prev.Muted != t.Muted:
			evs = append(evs, TrackMuteChanged{Participant: p, Track: t, Info: info()})
		}
	}
	return evs
}

// departedTracks returns a TrackUnpublished for each media track of a
// participant that left (before its ParticipantDisconnected): each event's
// Info lacks the tracks reported gone so far.
func departedTracks(p Participant, last *lkpb.ParticipantInfo) []Event {
	tracks := mediaTracksFrom(last.GetTracks())
	evs := make([]Event, 0, len(tracks))
	for i, t := range tracks {
		info := participantInfoFrom(last)
		info.Tracks = slices.Clone(tracks[i+1:])
		info.ConnectionQuality = p.ConnectionQuality()
		evs = append(evs, TrackUnpublished{Participant: p, Track: t, Info: info})
	}
	return evs
}
