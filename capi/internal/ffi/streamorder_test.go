package ffi

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// Goroutines that reach streamOrder in any order take their turns in arrival order; a wait
// ends when its context does.
func TestStreamOrderTurns(t *testing.T) {
	var o streamOrder
	ctx := context.Background()
	var (
		mu    sync.Mutex
		turns []uint64
		wg    sync.WaitGroup
	)
	for _, a := range []uint64{5, 3, 1, 4, 2} { // started out of order
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !o.wait(ctx, a) {
				t.Errorf("arrival %d: wait failed", a)
				return
			}
			mu.Lock()
			turns = append(turns, a)
			mu.Unlock()
			o.finish(a)
		}()
	}
	wg.Wait()
	if !slices.Equal(turns, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("turns %v", turns)
	}

	// Arrival 7 waits for 6, which never comes: its context ends the wait.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if o.wait(cctx, 7) {
		t.Fatal("arrival 7 had its turn before arrival 6")
	}
	// Arrival 0 (no place in the order) never waits, and finishing it changes nothing.
	if !o.wait(cctx, 0) {
		t.Fatal("arrival 0 waited")
	}
	o.finish(0)
	if !o.wait(ctx, 6) {
		t.Fatal("arrival 6 did not get its turn")
	}
}
