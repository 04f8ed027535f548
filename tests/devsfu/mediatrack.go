package devsfu

import (
	"slices"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

// Media tracks. devsfu forwards no audio or video, but livekit-server lists
// every participant's media tracks in its ParticipantInfo (tracks), to
// everyone in the room whether or not they subscribe, and sends a
// participant update at once when one is published, muted, unmuted or
// unpublished. SetMediaTrack and RemoveMediaTrack stand in for a participant
// that publishes a microphone or a camera from a browser: they change that
// description and announce it as the server does.

// SetMediaTrack publishes t (a TrackInfo with a sid) for identity in room,
// or replaces the track with the same sid (a mute, an unmute, new
// dimensions), and announces the participant at once with a new version;
// false when the room or the participant does not exist or t has no sid.
func (s *Server) SetMediaTrack(room, identity string, t *lkpb.TrackInfo) bool {
	p := s.mediaPublisher(room, identity)
	if p == nil || t.GetSid() == "" {
		return false
	}
	t = proto.Clone(t).(*lkpb.TrackInfo)
	return p.bumpAndBroadcast(func() bool {
		if i := slices.IndexFunc(p.media, func(o *lkpb.TrackInfo) bool { return o.GetSid() == t.GetSid() }); i >= 0 {
			p.media[i] = t
		} else {
			p.media = append(p.media, t)
		}
		p.isPublisher = true
		return true
	})
}

// RemoveMediaTrack unpublishes identity's media track sid and announces the
// participant at once; false when there is no such track.
func (s *Server) RemoveMediaTrack(room, identity, sid string) bool {
	p := s.mediaPublisher(room, identity)
	if p == nil {
		return false
	}
	return p.bumpAndBroadcast(func() bool {
		n := len(p.media)
		p.media = slices.DeleteFunc(p.media, func(o *lkpb.TrackInfo) bool { return o.GetSid() == sid })
		return len(p.media) != n
	})
}

func (s *Server) mediaPublisher(room, identity string) *Participant {
	r := s.existingRoom(room)
	if r == nil {
		return nil
	}
	return r.participant(identity)
}

// mediaInfos copies the media tracks for a ParticipantInfo. p.mu held.
func (p *Participant) mediaInfos() []*lkpb.TrackInfo {
	out := make([]*lkpb.TrackInfo, 0, len(p.media))
	for _, t := range p.media {
		out = append(out, proto.Clone(t).(*lkpb.TrackInfo))
	}
	return out
}
