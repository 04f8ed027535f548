package datatrack

import "time"

// DefaultChannelHighWater is the backstop the room gives the engine for the `_data_track`
// channel: while the channel holds more unacknowledged bytes the engine refuses a packet
// instead of sending it. It is the Pacer's largest in-flight target (the JS high-water mark);
// the Scheduler never lets the channel hold more than that target, or MinInFlight plus one
// packet, so the writer does not reach it normally.
const DefaultChannelHighWater = DefaultPacerMaxInFlight

// Scheduler is the data-track writer's whole sending policy, pure: the writer feeds it events
// — the channel's buffered amount as read on a wake-up (Observe), the bytes it handed to the
// channel (Sent), the time of each as a value — and asks it for a Decision before a packet.
// No I/O, no clock, no goroutine; not safe for concurrent use (the writer goroutine owns it).
//
// The rule is the Pacer's (DefaultPacerLatency of queueing at the measured drain rate, at
// least the official SDKs' 8 KiB, at most 256 KiB; a packet also goes whenever the channel
// holds at most the floor). Between two reads of the channel the scheduler counts what the
// writer sent on top of the last amount read, so a writer that woke up sends whole frames in
// one burst without reading the channel per packet; the estimate is never below the real
// amount (acknowledgements only lower it), so a burst never overshoots the target.
//
// When the next packet may not go, the Decision names the buffered amount to wait for
// (Decision.Low): the writer gives it to the engine's buffered-amount-low wait and observes
// the channel again when it fires. No timer is needed: without acknowledgements the target
// can only shrink as time passes (the measured rate falls), so time alone never lets a packet
// go, and an acknowledgement that does lets the amount reach Low, which the engine reports.
type Scheduler struct {
	pacer    *Pacer
	buffered uint64 // the amount last observed plus what was sent since
}

// Decision is what the writer may do now.
type Decision struct {
	// Write is how many bytes may be handed to the channel now: the next packet goes when it
	// is at most Write. (After sending, ask again: the floor rule may let one more go.)
	Write uint64
	// Low is the buffered amount to wait for when the next packet may not go: decide again
	// once the channel holds at most Low (the engine's buffered-amount-low level).
	Low uint64
}

// NewScheduler returns a scheduler for a new path (cfg as for NewPacer).
func NewScheduler(cfg PacerConfig) *Scheduler { return &Scheduler{pacer: NewPacer(cfg)} }

// Observe feeds the channel's buffered amount read at now: on every wake-up of the writer
// (a frame was queued, the buffered-amount-low wait ended).
func (s *Scheduler) Observe(now time.Time, buffered uint64) {
	s.pacer.Observe(now, buffered)
	s.buffered = buffered
}

// Sent feeds n bytes handed to the channel.
func (s *Scheduler) Sent(n int) {
	s.pacer.Sent(n)
	s.buffered += uint64(n)
}

// Decide tells whether a packet of next bytes may be handed to the channel at now, and how
// much may be written in all before the next decision.
func (s *Scheduler) Decide(now time.Time, next int) Decision {
	n := uint64(max(next, 0))
	b := s.buffered
	if t := s.pacer.Target(now); b+n <= t {
		return Decision{Write: t - b}
	}
	if b <= s.pacer.cfg.MinInFlight {
		return Decision{Write: n} // the floor rule: a packet larger than the target is never stuck
	}
	return Decision{Low: s.pacer.WakeAt(now, next)}
}
