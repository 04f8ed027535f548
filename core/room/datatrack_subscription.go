package room

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
)

// DataTrackSubscription is one local stream of a remote track's frames. Read
// with Next, or with the channel from Frames (one or the other). When the
// stream ends (Close, unpublish, publisher left, disconnect) the buffered
// frames are still delivered, then Next returns an error matching
// ErrStreamEnded (and Frames' channel is closed); EndReason tells why.
type DataTrackSubscription struct {
	s      *datatrack.Subscription
	track  *RemoteDataTrack
	reason atomic.Int32

	established chan struct{} // closed (loop) once the server confirmed it and frames flow
	closeOnce   sync.Once
	closed      chan struct{} // closed by Close: stops the Frames pump
	pumpOnce    sync.Once
	frames      chan Frame
	pumpDone    chan struct{}
}

// newSubscription wraps a core subscription of track.
func newSubscription(s *datatrack.Subscription, track *RemoteDataTrack) *DataTrackSubscription {
	return &DataTrackSubscription{s: s, track: track, established: make(chan struct{}), closed: make(chan struct{})}
}

// markEstablished closes established once (loop).
func (s *DataTrackSubscription) markEstablished() {
	select {
	case <-s.established:
	default:
		close(s.established)
	}
}

// Established is closed once the server has confirmed the subscription and
// frames flow. A subscription returned by RemoteDataTrack.Subscribe is
// established already; one opened by Options.AutoSubscribe is handed over
// while the server may still be setting it up (frames published before are
// not delivered). If the subscription ends first, Established stays open and
// Done is closed: use WaitEstablished to wait for either.
func (s *DataTrackSubscription) Established() <-chan struct{} { return s.established }

// WaitEstablished waits, bounded by ctx, until the subscription is
// established (nil), has ended before that (the end error, e.g.
// datatrack.ErrSubscribeNotAllowed or ErrStreamEnded), or ctx is done (its
// error). An established subscription returns nil at once.
func (s *DataTrackSubscription) WaitEstablished(ctx context.Context) error {
	select {
	case <-s.established:
		return nil
	default:
	}
	select {
	case <-s.established:
		return nil
	case <-s.s.Done():
		select {
		case <-s.established: // established, then ended: it was established
			return nil
		default:
		}
		return mapDataTrackErr(s.s.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Track is the subscribed remote track.
func (s *DataTrackSubscription) Track() *RemoteDataTrack { return s.track }

// Next returns the next frame, waiting bounded by ctx. Frames come in arrival
// order, which around an ICE restart may differ from the order they were sent
// in (docs/protocol.md, Remote tracks and subscriptions). After the end it
// returns the remaining buffered frames, then an error matching ErrStreamEnded
// (errors.Is), or ctx's error.
func (s *DataTrackSubscription) Next(ctx context.Context) (Frame, error) { return s.s.Recv(ctx) }

// Frames returns a channel carrying the frames (started on first call, with
// a forwarding goroutine). It is closed after the stream has ended and its
// buffered frames were taken, after Close, or when the room has disconnected
// (frames not yet taken then may be discarded; use Next to drain them).
func (s *DataTrackSubscription) Frames() <-chan Frame {
	s.pumpOnce.Do(func() {
		s.frames = make(chan Frame)
		s.pumpDone = make(chan struct{})
		go s.pump()
	})
	return s.frames
}

func (s *DataTrackSubscription) pump() {
	defer close(s.pumpDone)
	defer close(s.frames)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with pump (cancel) at the latest
		select {
		case <-s.closed:
		case <-s.track.d.r.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	for {
		f, err := s.s.Recv(ctx)
		if err != nil {
			return
		}
		select {
		case s.frames <- f:
		case <-ctx.Done():
			return
		}
	}
}

// Dropped counts frames this subscription lost because its reader was
// slower than the track (buffer full).
func (s *DataTrackSubscription) Dropped() uint64 { return s.s.Dropped() }

// Lost counts every frame of the publisher this subscription will not deliver: Dropped plus
// the frames that never arrived whole between those it received (Frame.DroppedBefore sums
// them frame by frame).
func (s *DataTrackSubscription) Lost() uint64 { return s.s.Lost() }

// Done is closed when the stream has ended (buffered frames may remain).
func (s *DataTrackSubscription) Done() <-chan struct{} { return s.s.Done() }

// Err is nil while the stream runs, then the end error (matches ErrStreamEnded).
func (s *DataTrackSubscription) Err() error { return s.s.Err() }

// EndReason tells why the stream ended (EndReasonNone while it runs).
//
// The stream's end is visible (Next returns ErrStreamEnded) a moment before the room's loop
// records the reason, so a reader that asks first classifies the end itself, with the same
// rule and the same state (the participant table already reflects a departure when the
// departed publisher's streams end), and records it: every caller sees one reason, which never
// changes.
func (s *DataTrackSubscription) EndReason() DataTrackEndReason {
	err := s.Err()
	if err == nil {
		return EndReasonNone
	}
	if r := DataTrackEndReason(s.reason.Load()); r != EndReasonNone {
		return r
	}
	s.setEndReason(s.track.d.endReason(s, err))
	return DataTrackEndReason(s.reason.Load())
}

func (s *DataTrackSubscription) setEndReason(r DataTrackEndReason) {
	s.reason.CompareAndSwap(int32(EndReasonNone), int32(r))
}

// Close ends this stream (EndReasonClosed); the last stream of a track
// unsubscribes from the server. Idempotent; it waits for the Frames
// goroutine to stop.
func (s *DataTrackSubscription) Close() error {
	s.closeOnce.Do(func() {
		d := s.track.d
		s.setEndReason(EndReasonClosed)
		err := d.r.runOnLoop(context.Background(), func() {
			delete(d.subs, s.s)
			delete(d.subWaiters, s.s)
			outs, err := d.remote.Unsubscribe(s.s, time.Now())
			if err == nil {
				d.applyRemote(outs)
				d.rearm()
			}
		})
		if err != nil { // room gone: its close ended the stream
			d.r.log.Debug("room: data-track unsubscribe skipped", "err", err)
		}
		close(s.closed)
	})
	s.pumpOnce.Do(func() { // never started: Frames returns a closed channel
		s.frames = make(chan Frame)
		close(s.frames)
		s.pumpDone = s.closed
	})
	<-s.pumpDone
	return nil
}
