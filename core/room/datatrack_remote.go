package room

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
)

// RemoteDataTrack is a data track published by a remote participant. The
// same pointer is kept while the track exists (its SID is updated in place
// if the publisher republishes after a reconnect).
type RemoteDataTrack struct {
	d           *dataTracks
	info        atomic.Pointer[datatrack.TrackInfo]
	publisher   atomic.Pointer[RemoteParticipant] // nil if unknown when announced
	unpublished chan struct{}
	dropped     atomic.Uint64
	autoSub     *DataTrackSubscription // Options.AutoSubscribe's subscription (loop)
}

// Info returns the track's info (SID, name, handle, encryption, publisher identity, metadata).
func (t *RemoteDataTrack) Info() DataTrackInfo { return dataTrackInfoFrom(*t.info.Load()) }

// SID is the track SID (DTR_…).
func (t *RemoteDataTrack) SID() string { return t.info.Load().Sid }

// Name is the track name.
func (t *RemoteDataTrack) Name() string { return t.info.Load().Name }

// IsEncrypted reports whether the track is end-to-end encrypted.
func (t *RemoteDataTrack) IsEncrypted() bool { return t.info.Load().Encrypted }

// SubscriptionRevoked reports whether the publisher revoked this
// participant's permission to receive the track: the last
// DataTrackSubscriptionPermissionChanged for it said Allowed false. A revoked
// subscription stays open and receives again once the publisher allows it.
// It changes only with that event: it stays true when the revoked
// subscription is closed, until a later subscription of the track is allowed
// (reported with Allowed true). False for a track never revoked.
func (t *RemoteDataTrack) SubscriptionRevoked() bool { return t.d.remote.SubscriptionRevoked(t.SID()) }

// PublisherIdentity is the identity of the publishing participant.
func (t *RemoteDataTrack) PublisherIdentity() string { return t.info.Load().PublisherIdentity }

// Publisher is the publishing participant (nil if it was unknown when the
// track was announced).
func (t *RemoteDataTrack) Publisher() *RemoteParticipant { return t.publisher.Load() }

// IsPublished reports whether the track still exists.
func (t *RemoteDataTrack) IsPublished() bool {
	select {
	case <-t.unpublished:
		return false
	default:
		return true
	}
}

// Unpublished is closed when the track goes away.
func (t *RemoteDataTrack) Unpublished() <-chan struct{} { return t.unpublished }

// DroppedFrames counts frames of this track lost on the way in for any
// subscription (incomplete after packet loss, interrupted, failed
// decryption…); see Room.DataTrackStats for the reasons.
func (t *RemoteDataTrack) DroppedFrames() uint64 { return t.dropped.Load() }

// SetMaxPartialFrames sets how many frames may be reassembled at once
// (default 1; docs/protocol.md, Depacketizer). It applies from the next
// packet.
func (t *RemoteDataTrack) SetMaxPartialFrames(n int) error {
	return t.d.remote.SetMaxPartialFrames(t.SID(), n)
}

// Subscribe opens a local stream of this track's frames. The first
// subscription asks the server; later ones share it (fan-out) and see frames
// from then on; closing the last one unsubscribes. It returns once frames
// flow, bounded by ctx and by the server's answer (10 s, ErrDataTrackTimeout).
// Errors: ErrInvalidArgument (BufferSize or BufferBytes out of range), ErrE2EENoKeys (E2EE
// track, room without keys), ErrUnknownDataTrack
// (the track is gone), datatrack.ErrSubscribeNotAllowed (the publisher's
// subscription permissions refuse it, and still did datatrack.PermissionGrace
// after the server said so), ErrDisconnected.
func (t *RemoteDataTrack) Subscribe(ctx context.Context, opts SubscribeOptions) (*DataTrackSubscription, error) {
	if err := opts.check(""); err != nil {
		return nil, err
	}
	d := t.d
	r := d.r
	wait := make(chan error, 1)
	var sub *DataTrackSubscription
	var serr error
	if err := r.runOnLoop(ctx, func() {
		s, outs, err := d.remote.Subscribe(t.SID(), opts.core(), time.Now())
		if err != nil {
			serr = err
			return
		}
		sub = newSubscription(s, t)
		d.subs[s] = sub
		d.subWaiters[s] = wait
		d.applyRemote(outs)
		d.rearm()
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, mapDataTrackErr(serr)
	}
	select {
	case err := <-wait:
		if err != nil {
			return nil, mapDataTrackErr(err)
		}
		return sub, nil
	case <-ctx.Done():
		sub.Close()
		return nil, ctx.Err()
	case <-r.done:
		return nil, ErrDisconnected
	}
}

// remoteDataTrackSet is a remote participant's data tracks.
type remoteDataTrackSet struct {
	mu     sync.Mutex
	tracks []*RemoteDataTrack
}

func (s *remoteDataTrackSet) add(t *RemoteDataTrack) {
	s.mu.Lock()
	s.tracks = append(s.tracks, t)
	s.mu.Unlock()
}

func (s *remoteDataTrackSet) remove(t *RemoteDataTrack) {
	s.mu.Lock()
	if i := slices.Index(s.tracks, t); i >= 0 {
		s.tracks = slices.Delete(s.tracks, i, i+1)
	}
	s.mu.Unlock()
}

// DataTracks returns the participant's published data tracks, sorted by name.
func (p *RemoteParticipant) DataTracks() []*RemoteDataTrack {
	p.dataTracks.mu.Lock()
	out := slices.Clone(p.dataTracks.tracks)
	p.dataTracks.mu.Unlock()
	slices.SortFunc(out, func(a, b *RemoteDataTrack) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// DataTrack returns the participant's data track with that name, or nil.
func (p *RemoteParticipant) DataTrack(name string) *RemoteDataTrack {
	p.dataTracks.mu.Lock()
	defer p.dataTracks.mu.Unlock()
	for _, t := range p.dataTracks.tracks {
		if t.Name() == name {
			return t
		}
	}
	return nil
}

// DataTrackStats are the room's data-track receive counters.
type DataTrackStats struct {
	// Packets counts `_data_track` packets received.
	Packets uint64
	// Frames counts frames delivered (once per frame, not per subscription).
	Frames uint64
	// Drops counts dropped frames/packets by reason (Incomplete,
	// Interrupted, UnknownFrame, DecryptFailed, MalformedPacket,
	// UnknownHandle, …); only non-zero reasons are present.
	Drops map[datatrack.DropReason]uint64
}

// DataTrackStats returns the room's data-track receive counters.
func (r *Room) DataTrackStats() DataTrackStats {
	if !r.everConnected() {
		return DataTrackStats{Drops: map[datatrack.DropReason]uint64{}}
	}
	st := r.dt.remote.Stats()
	out := DataTrackStats{Packets: st.Packets, Frames: st.Frames, Drops: map[datatrack.DropReason]uint64{}}
	for i, n := range st.Drops {
		if n > 0 {
			out.Drops[datatrack.DropReason(i)] = n
		}
	}
	return out
}
