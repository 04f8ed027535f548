package devsfu

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// FaultConfig describes what happens to data-track packets on their way to
// a subscriber.
type FaultConfig struct {
	// DropEvery drops every n-th packet (n > 0); 0 drops nothing.
	DropEvery int
	// Reorder swaps every pair of consecutive packets (the first is held
	// until the second arrives, or for up to 50 ms).
	Reorder bool
	// Duplicate sends every packet twice.
	Duplicate bool
	// Delay holds every packet this long before sending (order kept).
	Delay time.Duration
}

// PublishFault makes the server answer data-track publish requests of a
// participant with a chosen outcome.
type PublishFault struct {
	// NoAnswer: never answer (like a server without data tracks).
	NoAnswer bool
	// Hold: keep the requests unanswered until ReleaseHeldPublishes, which handles them as
	// without a fault (a slow server: a test decides when the answer comes).
	Hold bool
	// Reason and Message are sent in the RequestResponse otherwise.
	Reason  lkpb.RequestResponse_Reason
	Message string
}

// Stats are counters of what devsfu did; see Server.Stats.
type Stats struct {
	// DataTrackFaultDrops counts packets dropped by FaultConfig.DropEvery.
	DataTrackFaultDrops uint64
	// DataTrackCongestionDrops counts packets dropped because the
	// subscriber's channel was backed up.
	DataTrackCongestionDrops uint64
	// TransportKilledDrops counts messages ignored because of KillICE.
	TransportKilledDrops uint64
	// PathCutDrops counts UDP datagrams dropped, both ways, because of CutPath.
	PathCutDrops uint64
	// DataTrackPacketsIn counts well-formed data-track packets received from
	// publishers; DataTrackPacketsOut counts packets written to subscribers'
	// `_data_track` channels (what happens to them after that is up to the
	// transport).
	DataTrackPacketsIn, DataTrackPacketsOut uint64
}

// faultState holds the active fault switches of a Server.
type faultState struct {
	mu            sync.Mutex
	killed        map[string]bool
	paused        map[string]bool
	fullReconnect map[string]bool
	publish       map[string]PublishFault // "" = everyone
	heldPublishes []func()                // requests held by PublishFault.Hold, in order
	noHandles     map[string]bool
	dt            map[string]*dtFault // "" = every subscriber
	faultDrops    atomic.Uint64
	congestDrops  atomic.Uint64
	killedDrops   atomic.Uint64
	dtIn, dtOut   atomic.Uint64
	wg            sync.WaitGroup // delayed deliveries
	closed        bool
	stall         chan struct{} // non-nil while stalled (Stall); closed when it ends
}

type dtFault struct {
	cfg   FaultConfig
	n     int
	held  []byte
	timer *time.Timer
}

func newFaultState() *faultState {
	return &faultState{
		killed:        map[string]bool{},
		paused:        map[string]bool{},
		fullReconnect: map[string]bool{},
		publish:       map[string]PublishFault{},
		noHandles:     map[string]bool{},
		dt:            map[string]*dtFault{},
	}
}

func (f *faultState) flag(m map[string]bool, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m[id] || m[""]
}

func (f *faultState) transportKilled(id string) bool {
	if f.flag(f.killed, id) {
		f.killedDrops.Add(1)
		return true
	}
	return false
}

func (f *faultState) signalPaused(id string) bool       { return f.flag(f.paused, id) }
func (f *faultState) forceFullReconnect(id string) bool { return f.flag(f.fullReconnect, id) }
func (f *faultState) dropHandles(id string) bool        { return f.flag(f.noHandles, id) }
func (f *faultState) countCongestionDrop()              { f.congestDrops.Add(1) }

func (f *faultState) publishFault(id string) (PublishFault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pf, ok := f.publish[id]; ok {
		return pf, true
	}
	pf, ok := f.publish[""]
	return pf, ok
}

// holdPublish keeps a publish request's handling for ReleaseHeldPublishes (PublishFault.Hold).
func (f *faultState) holdPublish(handle func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heldPublishes = append(f.heldPublishes, handle)
}

// deliverDataTrack applies the data-track faults for sub, then write()s. pkt is only lent for
// the call (the caller reuses it): a packet held back (reorder, delay) is a copy.
func (f *faultState) deliverDataTrack(sub *Participant, pkt []byte, write func(*Participant, []byte)) {
	f.mu.Lock()
	st := f.dt[sub.identity]
	if st == nil {
		st = f.dt[""]
	}
	if st == nil || f.closed {
		f.mu.Unlock()
		write(sub, pkt)
		return
	}
	st.n++
	if st.cfg.DropEvery > 0 && st.n%st.cfg.DropEvery == 0 {
		f.mu.Unlock()
		f.faultDrops.Add(1)
		return
	}
	var batch [][]byte
	if st.cfg.Reorder {
		if st.held == nil {
			st.held = bytes.Clone(pkt) // pkt is only lent for this call
			held := st.held
			f.wg.Add(1)
			st.timer = time.AfterFunc(50*time.Millisecond, func() {
				defer f.wg.Done()
				f.mu.Lock()
				if st.held == nil || &st.held[0] != &held[0] || f.closed {
					f.mu.Unlock()
					return
				}
				st.held = nil
				f.mu.Unlock()
				write(sub, held)
			})
			f.mu.Unlock()
			return
		}
		batch = [][]byte{pkt, st.held}
		st.held = nil
		if st.timer != nil && st.timer.Stop() {
			f.wg.Done()
		}
	} else {
		batch = [][]byte{pkt}
	}
	if st.cfg.Duplicate {
		var d [][]byte
		for _, b := range batch {
			d = append(d, b, b)
		}
		batch = d
	}
	delay := st.cfg.Delay
	f.mu.Unlock()
	if delay > 0 { // the batch outlives this call: pkt is only lent for it
		for i, b := range batch {
			if len(b) > 0 && len(pkt) > 0 && &b[0] == &pkt[0] {
				batch[i] = bytes.Clone(b)
			}
		}
	}
	if delay <= 0 {
		for _, b := range batch {
			write(sub, b)
		}
		return
	}
	f.wg.Add(1)
	time.AfterFunc(delay, func() {
		defer f.wg.Done()
		f.mu.Lock()
		closed := f.closed
		f.mu.Unlock()
		if closed {
			return
		}
		for _, b := range batch {
			write(sub, b)
		}
	})
}

// waitStall blocks while the server is stalled (see Server.Stall).
func (f *faultState) waitStall() {
	f.mu.Lock()
	ch := f.stall
	f.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// endStall ends a stall (f.mu held).
func (f *faultState) endStallLocked() {
	if f.stall != nil {
		close(f.stall)
		f.stall = nil
	}
}

func (f *faultState) close() {
	f.mu.Lock()
	f.closed = true
	f.endStallLocked()
	for _, st := range f.dt {
		if st.timer != nil && st.timer.Stop() {
			f.wg.Done()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// --- fault injection API --------------------------------------------------

// DropSignal closes identity's signalling WebSocket without a close frame
// (as a network failure); the session stays for a resume. It reports
// whether the participant was found.
func (s *Server) DropSignal(identity string) bool {
	p := s.findParticipant(identity)
	if p == nil {
		return false
	}
	if sc := p.currentSignal(); sc != nil {
		sc.drop()
	}
	return true
}

// Stall freezes the whole server while on, as a paused process would be: no
// signal request is handled (not even ping) and no data-channel message is
// read, for every participant. Nothing is dropped: the clients' TCP and
// SCTP connections back up and everything is handled, in order, once the
// stall ends (Stall(false), or Close).
func (s *Server) Stall(on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if !on {
		s.faults.endStallLocked()
		return
	}
	if s.faults.stall == nil && !s.faults.closed {
		s.faults.stall = make(chan struct{})
	}
}

// PauseSignal makes the server ignore identity's signal requests (except
// ping) while on, e.g. to let a publish time out.
func (s *Server) PauseSignal(identity string, on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.paused[identity] = on
}

// KillICE stops all data-channel traffic of identity: nothing it sends is
// forwarded and nothing is written to it (the PeerConnection itself stays;
// combine with DropSignal for a full outage). Its messages are dropped after
// SCTP received them, so SCTP still acknowledges what it sends, which a dead
// link would not: CutPath is that. RestoreICE undoes it.
func (s *Server) KillICE(identity string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.killed[identity] = true
}

// CutPath cuts (on) or restores identity's network path: every UDP datagram to or from the
// address its transport currently uses (the remote side of its selected ICE candidate pair)
// is dropped, in both directions, as on a dead link. Nothing reaches the server's SCTP, so
// nothing the client sends is acknowledged (KillICE, by contrast, drops messages after SCTP
// acknowledged them). The cut stays on that address: a transport that moves to another one
// (an ICE restart gathers new candidates, a full reconnect makes a new transport) is not cut.
// Restoring undoes every cut made for identity. It fails when identity is not in a room or
// its transport has no selected pair yet.
func (s *Server) CutPath(identity string, on bool) error {
	if !on {
		s.cut.set(identity, nil, false)
		return nil
	}
	p := s.findParticipant(identity)
	if p == nil {
		return fmt.Errorf("devsfu: participant %q not found", identity)
	}
	pair, err := p.tr.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return fmt.Errorf("devsfu: %q has no selected candidate pair (%v)", identity, err)
	}
	addr, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return fmt.Errorf("devsfu: %q's remote candidate address %q: %w", identity, pair.Remote.Address, err)
	}
	s.cut.set(identity, []netip.AddrPort{netip.AddrPortFrom(addr, pair.Remote.Port)}, true)
	return nil
}

// RestoreICE undoes KillICE.
func (s *Server) RestoreICE(identity string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	delete(s.faults.killed, identity)
}

// CloseTransport closes identity's PeerConnection on the server side (the
// client sees its PeerConnection fail/close); the session is kept for
// PCFailureGrace so the client can resume.
func (s *Server) CloseTransport(identity string) bool {
	p := s.findParticipant(identity)
	if p == nil {
		return false
	}
	_ = p.tr.pc.Close()
	p.armCloseTimer(s.opts.PCFailureGrace, lkpb.DisconnectReason_CONNECTION_TIMEOUT)
	return true
}

// SendLeave sends leave{action, reason} to identity. DISCONNECT also
// closes the session; RESUME and RECONNECT close the WebSocket and keep
// the session for PCFailureGrace (RESUME) or drop it (RECONNECT).
func (s *Server) SendLeave(identity string, action lkpb.LeaveRequest_Action, reason lkpb.DisconnectReason) bool {
	return s.SendLeaveRequest(identity, &lkpb.LeaveRequest{CanReconnect: true, Reason: reason, Action: action})
}

// SendLeaveRequest is SendLeave with the whole LeaveRequest given (e.g. the
// regions LiveKit Cloud lists in one); its action and reason act as there.
func (s *Server) SendLeaveRequest(identity string, leave *lkpb.LeaveRequest) bool {
	p := s.findParticipant(identity)
	if p == nil {
		return false
	}
	action, reason := leave.GetAction(), leave.GetReason()
	switch action {
	case lkpb.LeaveRequest_DISCONNECT:
		p.close(reason, true)
	default:
		sc := p.currentSignal()
		if sc != nil {
			_ = sc.send(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: leave}})
			p.sigMu.Lock()
			if p.sc == sc {
				p.sc = nil
			}
			p.sigMu.Unlock()
			sc.closeGraceful()
		}
		if action == lkpb.LeaveRequest_RECONNECT {
			p.close(reason, false)
		} else {
			p.armCloseTimer(s.opts.PCFailureGrace, lkpb.DisconnectReason_CONNECTION_TIMEOUT)
		}
	}
	return true
}

// SetDataTrackFaults applies cfg to data-track packets sent to identity
// ("" = every subscriber without its own setting). A zero FaultConfig
// removes the setting.
func (s *Server) SetDataTrackFaults(identity string, cfg FaultConfig) {
	f := s.faults
	f.mu.Lock()
	if old := f.dt[identity]; old != nil && old.timer != nil && old.timer.Stop() {
		f.wg.Done()
	}
	if cfg == (FaultConfig{}) {
		delete(f.dt, identity)
	} else {
		f.dt[identity] = &dtFault{cfg: cfg}
	}
	f.mu.Unlock()
}

// SetPublishFault makes data-track publishes of identity ("" = everyone)
// fail with pf; nil removes it.
func (s *Server) SetPublishFault(identity string, pf *PublishFault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if pf == nil {
		delete(s.faults.publish, identity)
		return
	}
	s.faults.publish[identity] = *pf
}

// ReleaseHeldPublishes handles the data-track publish requests PublishFault.Hold kept, in
// their order, as without a fault; it returns how many there were.
func (s *Server) ReleaseHeldPublishes() int {
	s.faults.mu.Lock()
	held := s.faults.heldPublishes
	s.faults.heldPublishes = nil
	s.faults.mu.Unlock()
	for _, f := range held {
		f()
	}
	return len(held)
}

// DropSubscriberHandles suppresses data_track_subscriber_handles to
// identity ("" = everyone) after subscribes while on.
func (s *Server) DropSubscriberHandles(identity string, on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.noHandles[identity] = on
}

// ForceFullReconnect makes resumes of identity ("" = everyone) fail with
// leave{RECONNECT, STATE_MISMATCH} while on.
func (s *Server) ForceFullReconnect(identity string, on bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.fullReconnect[identity] = on
}

// ClearFaults removes every fault switch.
func (s *Server) ClearFaults() {
	f := s.faults
	f.mu.Lock()
	for _, st := range f.dt {
		if st.timer != nil && st.timer.Stop() {
			f.wg.Done()
		}
	}
	clear(f.killed)
	clear(f.paused)
	clear(f.fullReconnect)
	clear(f.publish)
	clear(f.noHandles)
	clear(f.dt)
	f.endStallLocked()
	f.mu.Unlock()
	s.cut.clear()
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		DataTrackFaultDrops:      s.faults.faultDrops.Load(),
		DataTrackCongestionDrops: s.faults.congestDrops.Load(),
		TransportKilledDrops:     s.faults.killedDrops.Load(),
		PathCutDrops:             s.cut.drops.Load(),
		DataTrackPacketsIn:       s.faults.dtIn.Load(),
		DataTrackPacketsOut:      s.faults.dtOut.Load(),
	}
}

// Restart simulates a server crash and restart: every WebSocket is dropped
// without a close frame, every PeerConnection closed, every session and
// room forgotten. Clients' resumes then get leave{RECONNECT} and must do a
// full reconnect.
func (s *Server) Restart() {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	clear(s.rooms)
	s.mu.Unlock()
	for _, r := range rooms {
		r.stop()
		for _, p := range r.list() {
			p.abort()
		}
	}
}

// Participants lists the identities currently in room (sorted by join).
func (s *Server) Participants(room string) []string {
	r := s.existingRoom(room)
	if r == nil {
		return nil
	}
	var out []string
	for _, p := range r.list() {
		out = append(out, p.identity)
	}
	return out
}

// FlushParticipantUpdates sends room's batched participant updates now, as the next tick of
// the batch interval would (Options.UpdateBatchInterval). With a long interval a test decides
// when a participant that publishes nothing is announced, or reported gone; it reports
// whether the room exists.
func (s *Server) FlushParticipantUpdates(room string) bool {
	r := s.existingRoom(room)
	if r == nil {
		return false
	}
	r.flushBatch()
	return true
}
