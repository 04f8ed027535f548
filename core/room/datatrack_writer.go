package room

import (
	"context"
	"errors"
	"time"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/internal/engine"
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
// and pacing; docs/architecture.md). It only does I/O; what may be written
// when is decided by datatrack.Scheduler, and it never polls: it sleeps until
// a frame is queued (kick), the send gate changes, the engine's state
// changes (Engine.StateChanged: the channel opened) or the channel's
// buffered amount falls to the level the scheduler asked for
// (Engine.DataTrackBelow).
//
//   - Once the current engine's channel is open it tells the LocalManager,
//     which completes publishes the server accepted only from then on (so the
//     first TryPush after PublishDataTrack is not lost).
//   - On each wake-up it reads the channel's buffered amount once and takes
//     whole frames from the tracks' send queues, round-robin between tracks
//     at frame boundaries, writing every packet of a frame before the next
//     frame (a frame is never cut and never interleaved with another frame
//     of the same track) for as long as the scheduler lets packets go; then
//     it waits for the buffered-amount-low level the scheduler chose.
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
	w := &trackWriter{d: d}
	var readyEng *engine.Engine // the engine whose `_data_track` was reported open
	var list []*LocalDataTrack
	gated := false // the last pass stopped because writing was not possible
	for {
		// Notifications are taken before the state is read: a change
		// after the read closes them, so no edge is lost.
		eng := d.r.eng.Load()
		engChanged := eng.StateChanged()
		open := eng.DataTrackReady()
		ok, gateChanged := d.r.send.dataTrackOK()
		// A new engine (first start, full reconnect) whose channel is
		// open: let the LocalManager complete publishes.
		if open && eng != readyEng {
			readyEng = eng
			_ = d.r.runOnLoop(context.Background(), d.checkTransport)
		}
		// After a pass held back, go on at once if writing is possible
		// again; otherwise sleep until something changes. A channel that
		// is not open wakes the writer when it opens (engChanged); a closed
		// engine never changes again and is replaced by a full reconnect,
		// which moves the send gate.
		if !gated || !ok || !open {
			if open {
				engChanged = nil
			}
			select {
			case <-d.stop:
				return
			case <-d.kick:
			case <-gateChanged: // e.g. a full reconnect ended: send what waited
			case <-engChanged:
			}
		}
		gated = false
		w.observe(d.r.eng.Load()) // one read of the channel per wake-up
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

// trackWriter is the writer goroutine's pacing state.
type trackWriter struct {
	d     *dataTracks
	eng   *engine.Engine       // the engine sched describes
	sched *datatrack.Scheduler // replaced with the engine: a new path is measured afresh
}

// observe feeds eng's buffered amount to the scheduler (starting a new
// scheduler for a new engine).
func (w *trackWriter) observe(eng *engine.Engine) {
	if eng != w.eng || w.sched == nil {
		w.eng = eng
		w.sched = datatrack.NewScheduler(datatrack.PacerConfig{})
	}
	w.sched.Observe(time.Now(), eng.DataTrackBufferedAmount())
}

// writeFrame writes all packets of f as the scheduler allows. It uses the
// room's current engine (replaced by a full reconnect); while the room is
// reconnecting the send fails and the frame is counted as failed (packets
// sent while the transport is down would be lost anyway).
func (w *trackWriter) writeFrame(f *datatrack.PacketizedFrame) error {
	eng := w.d.r.eng.Load()
	if eng != w.eng {
		w.observe(eng)
	}
	for i := 0; i < f.Len(); i++ {
		pkt := f.Packet(i)
		for {
			if err := w.waitRoom(eng, len(pkt)); err != nil {
				return err
			}
			err := w.d.r.sendDataTrackPacket(pkt)
			if err == nil {
				w.sched.Sent(len(pkt))
				break
			}
			if !errors.Is(err, engine.ErrDataTrackBackedUp) {
				return err
			}
			// The engine's backstop refused it (it holds more than
			// DefaultChannelHighWater): wait until it is below again.
			if err := w.wait(eng, datatrack.DefaultChannelHighWater); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitRoom returns once the scheduler lets a packet of n bytes go, waiting
// for the buffered-amount-low level it names meanwhile. When the channel
// closes during a wait it returns so that the send fails (the frame is
// counted as failed).
func (w *trackWriter) waitRoom(eng *engine.Engine, n int) error {
	for {
		d := w.sched.Decide(time.Now(), n)
		if uint64(n) <= d.Write {
			return nil
		}
		if err := w.wait(eng, d.Low); err != nil {
			return err
		}
		if !eng.DataTrackReady() {
			return nil
		}
	}
}

// wait sleeps until eng's `_data_track` holds at most level bytes (or closes,
// or the engine closes), then observes the channel.
func (w *trackWriter) wait(eng *engine.Engine, level uint64) error {
	low, release := eng.DataTrackBelow(level)
	defer release()
	select {
	case <-low:
	case <-w.d.stop:
		return errWriterStopped
	}
	w.sched.Observe(time.Now(), eng.DataTrackBufferedAmount())
	return nil
}
