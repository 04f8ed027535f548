package engine

import (
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// DedupTTL is how long the last reliable sequence of a sender is remembered
// after its last packet (JS RTCEngine keeps 30 s).
const DedupTTL = 30 * time.Second

// MaxDedupSenders caps the senders the duplicate filter remembers: their sids
// come from the packets, so without a cap a peer could make the table grow
// for DedupTTL. When it is full, the sender heard from least recently is
// forgotten (its next replayed duplicate would be accepted, as after DedupTTL).
const MaxDedupSenders = 4096

// ReceiveDedup suppresses duplicate reliable packets
// (docs/protocol.md, Data packets): a packet with sequence > 0 and a non-empty participant_sid
// is dropped when its sequence is <= the last one accepted from that sid.
// Duplicates appear when a sender replays its resend buffer after a resume.
// Safe for concurrent use.
type ReceiveDedup struct {
	mu        sync.Mutex
	last      map[string]dedupEntry
	lastPrune time.Time
}

type dedupEntry struct {
	seq uint32
	at  time.Time
}

// Accept reports whether the packet is new, and records it if so.
func (d *ReceiveDedup) Accept(sid string, seq uint32, now time.Time) bool {
	if seq == 0 || sid == "" {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = make(map[string]dedupEntry)
	}
	if now.Sub(d.lastPrune) > DedupTTL {
		for k, e := range d.last {
			if now.Sub(e.at) > DedupTTL {
				delete(d.last, k)
			}
		}
		d.lastPrune = now
	}
	e, ok := d.last[sid]
	if ok && now.Sub(e.at) <= DedupTTL && seq <= e.seq {
		return false
	}
	if !ok && len(d.last) >= MaxDedupSenders {
		oldest, at := "", now
		for k, v := range d.last {
			if oldest == "" || v.at.Before(at) {
				oldest, at = k, v.at
			}
		}
		delete(d.last, oldest)
	}
	d.last[sid] = dedupEntry{seq: seq, at: now}
	return true
}

// States returns the receive state per sender for SyncState.datachannel_receive_states.
func (d *ReceiveDedup) States() []*lkpb.DataChannelReceiveState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*lkpb.DataChannelReceiveState, 0, len(d.last))
	for sid, e := range d.last {
		out = append(out, &lkpb.DataChannelReceiveState{PublisherSid: sid, LastSeq: e.seq})
	}
	return out
}

// Reset forgets everything (full reconnect).
func (d *ReceiveDedup) Reset() {
	d.mu.Lock()
	d.last = nil
	d.mu.Unlock()
}
