package room

import (
	"context"
	"sync"
)

// eventQueue is the room's single ordered event queue.
//
// Delivery policy (the documented choice for slow consumers):
//   - Signalling events (participants, metadata, state) are appended without
//     ever blocking, so a slow consumer can never stall the signalling loop
//     (pings, answers, trickles keep flowing). Their number is bounded by what
//     the server sends.
//   - Data events (DataReceived, SipDTMFReceived, ChatMessageReceived,
//     TranscriptionReceived) count against
//     dataLimit. When that many are pending, the data-channel reader that
//     wants to add one waits until the consumer catches up: the channel is
//     not read meanwhile, SCTP flow control pushes back on the SFU, and no
//     remote input is buffered without bound. Nothing is dropped.
//   - After close (the final Disconnected event was appended) pending events
//     stay readable; new data events are discarded.
type eventQueue struct {
	mu        sync.Mutex
	items     []queued
	head      int
	data      int           // pending data events
	dataLimit int           // max pending data events
	avail     chan struct{} // closed and replaced when items are added or the queue closes
	space     chan struct{} // closed and replaced when a data event is taken
	waiting   int           // data pushers waiting for space
	snapshots int           // pending SnapshotTaken events (0 or 1: pushSnapshot)
	closed    bool
}

type queued struct {
	ev   Event
	data bool
	snap bool // a SnapshotTaken
}

func newEventQueue(dataLimit int) *eventQueue {
	return &eventQueue{dataLimit: dataLimit, avail: make(chan struct{}), space: make(chan struct{})}
}

// push appends a signalling event; it never blocks. Events pushed after close are dropped.
func (q *eventQueue) push(evs ...Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	for _, ev := range evs {
		q.items = append(q.items, queued{ev: ev})
	}
	q.wakeLocked()
}

// pushSnapshot appends SnapshotTaken{take()} unless one is still pending: that one answers
// the request too (it is consistent with the events before it, and those after it are
// deltas on it), so a host that asks faster than it reads never grows the queue. Only the
// loop calls it (it takes the snapshot), so the check and the push need no common lock.
func (q *eventQueue) pushSnapshot(take func() Snapshot) {
	q.mu.Lock()
	pending := q.snapshots > 0 || q.closed
	q.mu.Unlock()
	if pending {
		return
	}
	ev := SnapshotTaken{Snapshot: take()}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.items = append(q.items, queued{ev: ev, snap: true})
	q.snapshots++
	q.wakeLocked()
}

// pushData appends a data event, waiting while dataLimit data events are
// pending. It returns false (event discarded) when stop is closed first or
// the queue is closed.
func (q *eventQueue) pushData(ev Event, stop <-chan struct{}) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return false
		}
		if q.data < q.dataLimit {
			q.items = append(q.items, queued{ev: ev, data: true})
			q.data++
			q.wakeLocked()
			return true
		}
		space := q.space
		q.waiting++
		q.mu.Unlock()
		select {
		case <-space:
		case <-stop:
			q.mu.Lock()
			q.waiting--
			return false
		}
		q.mu.Lock()
		q.waiting--
	}
}

func (q *eventQueue) wakeLocked() {
	close(q.avail)
	q.avail = make(chan struct{})
}

// closeQueue appends the final events and marks the queue closed.
func (q *eventQueue) closeQueue(final ...Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	for _, ev := range final {
		q.items = append(q.items, queued{ev: ev})
	}
	q.closed = true
	q.wakeLocked()
	close(q.space) // release any waiting data pusher
	q.space = make(chan struct{})
}

// next returns the oldest event, waiting for one; after close and once empty
// it returns ErrDisconnected.
func (q *eventQueue) next(ctx context.Context) (Event, error) {
	for {
		q.mu.Lock()
		if q.head < len(q.items) {
			it := q.items[q.head]
			q.items[q.head] = queued{}
			q.head++
			if q.head == len(q.items) {
				q.items = q.items[:0]
				q.head = 0
			} else if q.head > 256 && q.head*2 > len(q.items) {
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items = q.items[:n]
				q.head = 0
			}
			if it.snap {
				q.snapshots--
			}
			if it.data {
				q.data--
				close(q.space)
				q.space = make(chan struct{})
			}
			q.mu.Unlock()
			return it.ev, nil
		}
		if q.closed {
			q.mu.Unlock()
			return nil, ErrDisconnected
		}
		avail := q.avail
		q.mu.Unlock()
		select {
		case <-avail:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dropState removes the undelivered events that describe the room's state
// (connection state, participants, metadata, data tracks): what a Snapshot
// contains. Data events (DecryptionFailed and EncryptionRecovered among them) stay.
func (q *eventQueue) dropState() {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.items[:0]
	for _, it := range q.items[q.head:] {
		if _, df := it.ev.(DecryptionFailed); it.data || df {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	q.head = 0
	q.snapshots = 0
}

// tryPushData appends a data event if fewer than dataLimit data events are
// pending; it never waits.
func (q *eventQueue) tryPushData(ev Event) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.data >= q.dataLimit {
		return false
	}
	q.items = append(q.items, queued{ev: ev, data: true})
	q.data++
	q.wakeLocked()
	return true
}
