//go:build unix

package ffi

import (
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// pendingBytes reads what is in the pipe without waiting.
func pendingBytes(t *testing.T, r int) int {
	t.Helper()
	buf := make([]byte, 64)
	n, err := syscall.Read(r, buf)
	if errors.Is(err, syscall.EAGAIN) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// notifyPipe returns a non-blocking pipe (read end, write end), closed at the end of the test.
func notifyPipe(t *testing.T) (int, int) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { _ = syscall.Close(p[0]); _ = syscall.Close(p[1]) }) }
	t.Cleanup(closeBoth)
	for _, fd := range p {
		if err := syscall.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	return p[0], p[1]
}

func setNotifyFd(t *testing.T, c *Client, fd int) *ffipb.Response {
	t.Helper()
	return do(t, c, &ffipb.Request{Message: &ffipb.Request_SetEventNotifyFd{SetEventNotifyFd: &ffipb.SetEventNotifyFdRequest{Fd: int32(fd)}}})
}

func TestEventNotifyFd(t *testing.T) {
	c := newTestClient(t, 71, nil)
	r, w := notifyPipe(t)
	post := func(s string) {
		t.Helper()
		if err := c.Post(t.Context(), &ffipb.Event{Message: &ffipb.Event_Log{Log: &ffipb.LogRecord{Message: s}}}); err != nil {
			t.Fatal(err)
		}
	}
	post("queued before the fd was set")
	wantRespCode(t, setNotifyFd(t, c, w), ffipb.ErrorCode_ERROR_CODE_OK)
	if n := pendingBytes(t, r); n != 1 {
		t.Fatalf("setting the fd with a queued event wrote %d bytes, want 1", n)
	}
	post("second") // not re-armed yet: no byte
	if n := pendingBytes(t, r); n != 0 {
		t.Fatalf("wrote %d bytes while disarmed", n)
	}
	for range 2 {
		if _, err := c.NextEvent(0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.NextEvent(0); !errors.Is(err, ErrTimeout) { // empty: arms
		t.Fatal(err)
	}
	post("third")
	post("fourth")
	if n := pendingBytes(t, r); n != 1 {
		t.Fatalf("after re-arming wrote %d bytes, want 1", n)
	}

	// Many producers and one host draining the way the doc says: nothing is ever missed.
	for {
		if _, err := c.NextEvent(0); errors.Is(err, ErrTimeout) {
			break
		}
	}
	const producers, each = 4, 200
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for range each {
				if err := c.Post(t.Context(), &ffipb.Event{Message: &ffipb.Event_Log{Log: &ffipb.LogRecord{Message: "x"}}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	got := 0
	deadline := time.Now().Add(hangGuard)
	for got < producers*each {
		if time.Now().After(deadline) {
			t.Fatalf("host stalled after %d events: a wake-up was lost", got)
		}
		if pendingBytes(t, r) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		for {
			if _, err := c.NextEvent(0); errors.Is(err, ErrTimeout) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			got++
		}
	}
	wg.Wait()

	// fd = -1 stops it; a closed descriptor is refused; nothing is written after Close.
	wantRespCode(t, setNotifyFd(t, c, -1), ffipb.ErrorCode_ERROR_CODE_OK)
	post("unsignalled")
	if n := pendingBytes(t, r); n != 0 {
		t.Fatalf("wrote %d bytes after fd -1", n)
	}
	var p2 [2]int
	if err := syscall.Pipe(p2[:]); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Close(p2[0])
	_ = syscall.Close(p2[1])
	wantRespCode(t, setNotifyFd(t, c, p2[1]), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	wantRespCode(t, setNotifyFd(t, c, w), ffipb.ErrorCode_ERROR_CODE_OK)
	_ = pendingBytes(t, r)
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	_ = c.TryPost(&ffipb.Event{Message: &ffipb.Event_Log{Log: &ffipb.LogRecord{Message: "late"}}})
	if n := pendingBytes(t, r); n != 0 {
		t.Fatalf("wrote %d bytes after close", n)
	}

	cb := newTestClient(t, 72, func([]byte) {})
	wantRespCode(t, setNotifyFd(t, cb, w), ffipb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION)
}
