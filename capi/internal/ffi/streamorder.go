package ffi

import (
	"context"
	"sync"
)

// streamOrder makes a room's stream_opened events follow the order in which the streams'
// headers arrived (datastream.StreamInfo.Arrival: 1, 2, 3, … per room), although every
// incoming stream is served by a goroutine of its own (BINDINGS.md section 3: a room's events
// arrive in the order the room observed them). A stream's turn comes once every earlier one
// has had its turn: it was announced, or it gave up before (its handle released, the room
// going). The zero value is ready to use.
type streamOrder struct {
	mu   sync.Mutex
	done uint64        // arrivals 1..done have had their turn
	wake chan struct{} // closed and replaced when done grows; nil while nobody waits
}

// wait blocks until every arrival before arrival has had its turn, or ctx is done (false).
// Arrival 0 (a stream without a place in the order) does not wait.
func (o *streamOrder) wait(ctx context.Context, arrival uint64) bool {
	for {
		o.mu.Lock()
		if arrival <= o.done+1 {
			o.mu.Unlock()
			return true
		}
		if o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// finish ends arrival's turn, after wait returned true for it: the next arrival may go.
func (o *streamOrder) finish(arrival uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if arrival != o.done+1 {
		return // arrival 0, or arrivals restarted (a new core stream manager): no order to keep
	}
	o.done = arrival
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
}
