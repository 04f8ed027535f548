package room

import (
	"context"
	"errors"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/engine"
)

// Writer policy constants (docs/protocol.md, Sending and pacing).
const (
	// dataTrackRecheck bounds a wait for buffered-amount-low (robustness
	// against a missed edge; normally the edge comes first).
	dataTrackRecheck = 50 * time.Millisecond
	// dataTrackOpenPoll is how often the writer checks that `_data_track`
	// opened (the engine has no open notification for it).
	dataTrackOpenPoll = 5 * time.Millisecond
)

// kickWriter wakes the writer goroutine.
func (d *dataTracks) kickWriter() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// startWriter starts the writer goroutine once (loop).
func (d *dataTracks) startWriter() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	d.wg.Add(1)
	go d.writer()
}

// writer is the room's one `_data_track` writer (docs/protocol.md, Sending
// and pacing; docs/architecture.md). Policy:
//
//   - It first waits for the channel to open and then tells the LocalManager,
//     which completes publishes the server accepted only from then on (so the
//     first TryPush after PublishDataTrack is not lost).
//   - It takes whole frames from the tracks' send queues, round-robin between
//     tracks at frame boundaries, and writes every packet of a frame before
//     the next frame: a frame is never cut and never interleaved with another
//     frame of the same track.
//   - Before each packet it asks the pacer (datatrack.Pacer) whether the
//     packet fits under the in-flight target — the channel's measured drain
//     rate times a 5 ms latency budget, at least 8 KiB (the JS/Rust fixed
//     low-water mark) — and otherwise waits for buffered-amount-low armed at
//     that target. The SCTP queue so holds about 5 ms of data: newer frames
//     are not stuck behind a backlog, yet a fast path is not capped by a
//     constant window.
//   - The producer never blocks: frames wait in the per-track queue (TryPush
//     returns ErrQueueFull when it is full; nothing is dropped silently).
//     Queued frames are discarded only on unpublish or disconnect, and a
//     frame whose write fails (channel closed) is counted as SendFailed;
//     both are reported by LocalDataTrackFramesLost.
//   - While only the signalling session resumes, frames keep flowing on the
//     unchanged `_data_track`. While a full reconnect replaces the transport,
//     a resume restarts ICE, or the channel is not open, nothing is popped,
//     and a republishing track's frames wait: they go out once writing is
//     possible again (on the new session once the track is republished).
func (d *dataTracks) writer() {
	defer d.wg.Done()
	w := &trackWriter{d: d, timer: time.NewTimer(time.Hour), pacer: datatrack.NewPacer(datatrack.PacerConfig{})}
	w.timer.Stop()
	poll := time.NewTicker(dataTrackOpenPoll)
	defer poll.Stop()
	var readyEng *engine.Engine // the engine whose `_data_track` was reported open
	var list []*LocalDataTrack
	gated := false // the last pass stopped because writing was not possible
	for {
		// A new engine (first start, full reconnect): wait until its
		// channel is open, then let the LocalManager complete publishes.
		if eng := d.r.eng.Load(); eng != readyEng {
			for !eng.DataTrackReady() {
				select {
				case <-d.stop:
					return
				case <-poll.C:
				}
				if cur := d.r.eng.Load(); cur != eng {
					eng = cur
				}
			}
			readyEng = eng
			w.pacer = datatrack.NewPacer(datatrack.PacerConfig{}) // a new path: measure afresh
			_ = d.r.runOnLoop(context.Background(), d.checkTransport)
		}
		// After a pass held back, go on at once if writing is possible
		// again (ok and gateChanged come from one snapshot: no lost edge);
		// a channel that is not open has no notification: poll it.
		if ok, gateChanged := d.r.send.dataTrackOK(); !gated || !ok || !d.r.eng.Load().DataTrackReady() {
			var pollC <-chan time.Time
			if gated && ok {
				pollC = poll.C
			}
			select {
			case <-d.stop:
				return
			case <-d.kick:
			case <-gateChanged: // e.g. a full reconnect ended: send what waited
			case <-pollC:
			}
		}
		gated = false
		for {
			// During a full reconnect or a resume's ICE restart, or while
			// the channel is not open (e.g. closed by a server that went
			// away), nothing is popped: queued frames wait instead of
			// failing, and go out once it is possible again (on the new
			// session after a full reconnect).
			if ok, _ := d.r.send.dataTrackOK(); !ok || !d.r.eng.Load().DataTrackReady() {
				gated = true
				break
			}
			d.mu.Lock()
			list = append(list[:0], d.writeQ...)
			d.mu.Unlock()
			wrote, failed := false, false
			for _, lt := range list {
				if lt.t.State() != datatrack.LocalPublished {
					continue // republishing: its frames wait
				}
				q := lt.t.Queue()
				f, ok := q.Pop()
				if !ok {
					continue
				}
				wrote = true
				err := w.writeFrame(f)
				q.Done(f)
				if err != nil {
					lt.sendFailed.Add(1)
					failed = true
					if errors.Is(err, errWriterStopped) {
						lt.reportLosses()
						clear(list)
						return
					}
				} else {
					lt.sent.Add(1)
				}
			}
			if failed {
				for _, lt := range list {
					lt.reportLosses()
				}
			}
			if !wrote {
				break
			}
		}
		clear(list)
	}
}

// checkTransport tells the LocalManager whether the current engine's
// `_data_track` is open (loop).
func (d *dataTracks) checkTransport() {
	d.applyLocal(d.local.SetTransportReady(d.r.eng.Load().DataTrackReady(), time.Now()))
	d.rearm()
}

var errWriterStopped = errors.New("room: data-track writer stopped")

type trackWriter struct {
	d     *dataTracks
	timer *time.Timer
	pacer *datatrack.Pacer // owned by the writer goroutine; replaced with the engine
}

// writeFrame writes all packets of f, paced by w.pacer. It uses the room's
// current engine (replaced by a full reconnect); while the room is
// reconnecting the send fails and the frame is counted as failed (packets
// sent while the transport is down would be lost anyway).
func (w *trackWriter) writeFrame(f *datatrack.PacketizedFrame) error {
	eng := w.d.r.eng.Load()
	for i := 0; i < f.Len(); i++ {
		pkt := f.Packet(i)
		for {
			if err := w.waitRoom(eng, len(pkt)); err != nil {
				return err
			}
			err := w.d.r.sendDataTrackPacket(pkt)
			if err == nil {
				w.pacer.Sent(len(pkt))
				break
			}
			if !errors.Is(err, engine.ErrDataTrackBackedUp) {
				return err
			}
		}
	}
	return nil
}

// waitRoom waits until the pacer lets a packet of n bytes go: it fits under
// the in-flight target, or the channel is empty. While waiting it arms the
// channel's buffered-amount-low threshold at the level where it would fit.
func (w *trackWriter) waitRoom(eng *engine.Engine, n int) error {
	for {
		low := eng.DataTrackLow() // taken before the check: no lost edge
		now := time.Now()
		buffered := eng.DataTrackBufferedAmount()
		w.pacer.Observe(now, buffered)
		if w.pacer.MaySend(now, buffered, n) {
			return nil
		}
		eng.SetDataTrackLowThreshold(w.pacer.WakeAt(now, n))
		if eng.DataTrackBufferedAmount() <= w.pacer.WakeAt(now, n) {
			continue // drained while arming: the edge may have passed
		}
		w.timer.Reset(dataTrackRecheck)
		select {
		case <-low:
		case <-w.timer.C:
		case <-w.d.stop:
			w.timer.Stop()
			return errWriterStopped
		}
		w.timer.Stop()
	}
}
