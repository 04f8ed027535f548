package ffi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
)

func wantCode(t *testing.T, err error, code ffipb.ErrorCode) {
	t.Helper()
	if got := CodeOf(err); got != code {
		t.Fatalf("got %v (%v), want %v", got, err, code)
	}
}

// closeWakes closes c and checks that the call blocked in it (its error arrives on done) is
// woken with CLIENT_CLOSED.
func closeWakes(t *testing.T, c *Client, done <-chan error, who string) {
	t.Helper()
	if err := c.Close(hangGuard, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	case <-time.After(hangGuard):
		t.Fatalf("%s not woken by close", who)
	}
}

func TestHandleEncodingIsNonZeroAndTagged(t *testing.T) {
	h := makeHandle(KindStreamReader, 0xABCDEF, 7)
	if h == 0 {
		t.Fatal("handle must never be zero")
	}
	k, c, s := splitHandle(h)
	if k != KindStreamReader || c != 0xABCDEF || s != 7 {
		t.Fatalf("split = %v %x %d", k, c, s)
	}
}

func TestHandleTableLifecycle(t *testing.T) {
	tab := NewHandleTable(3)
	room, err := tab.Insert(KindRoom, "room", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := tab.Get(room, KindRoom)
	if err != nil || obj != "room" {
		t.Fatalf("Get = %v, %v", obj, err)
	}
	_, err = tab.Get(room, KindLocalDataTrack)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE)
	_, err = tab.Get(0, KindRoom)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	_, err = tab.Get(room+1, KindRoom) // never issued
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	_, err = tab.Get(0xFFFF_FFFF_FFFF_FFFF, KindRoom) // garbage
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)

	rels, err := tab.Drop(room)
	if err != nil || len(rels) != 0 {
		t.Fatalf("Drop = %v, %v", rels, err)
	}
	_, err = tab.Get(room, KindRoom)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	// Idempotent drop.
	if rels, err := tab.Drop(room); err != nil || len(rels) != 0 {
		t.Fatalf("second Drop = %v, %v", rels, err)
	}
	// Drop of zero / never issued is an error, not a silent success.
	_, err = tab.Drop(0)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	_, err = tab.Drop(room + 100)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	if tab.Len() != 0 {
		t.Fatalf("Len = %d", tab.Len())
	}
}

func TestHandleTableForeignHandle(t *testing.T) {
	a, b := NewHandleTable(1), NewHandleTable(2)
	ha, _ := a.Insert(KindRoom, "a", 0, nil)
	hb, _ := b.Insert(KindRoom, "b", 0, nil)
	if ha == hb {
		t.Fatal("handles of different clients must differ")
	}
	_, err := b.Get(ha, KindRoom)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	if err == nil || !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("errors.Is(ErrInvalidHandle) failed for %v", err)
	}
	_, err = b.Drop(ha)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	if _, err := a.Get(ha, KindRoom); err != nil {
		t.Fatalf("foreign drop affected the owner: %v", err)
	}
}

func TestHandleTableChildrenReleasedWithParent(t *testing.T) {
	tab := NewHandleTable(1)
	var order []string
	rel := func(name string) Release { return func(context.Context) { order = append(order, name) } }
	room, _ := tab.Insert(KindRoom, nil, 0, rel("room"))
	track, _ := tab.Insert(KindLocalDataTrack, nil, room, rel("track"))
	sub, _ := tab.Insert(KindDataTrackSubscription, nil, room, rel("sub"))
	other, _ := tab.Insert(KindRoom, nil, 0, rel("other"))
	if _, err := tab.Insert(KindStreamReader, nil, makeHandle(KindRoom, 1, 999), nil); CodeOf(err) != ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE {
		t.Fatalf("insert under a dead parent: %v", err)
	}

	// Dropping a child first detaches it from its parent.
	rels, err := tab.Drop(track)
	if err != nil || len(rels) != 1 {
		t.Fatalf("drop track: %v %v", rels, err)
	}
	rels[0](context.Background())

	rels, err = tab.Drop(room)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		r(context.Background())
	}
	want := []string{"track", "sub", "room"}
	if len(order) != len(want) {
		t.Fatalf("release order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("release order %v, want %v", order, want)
		}
	}
	// Children released with the parent: later drops succeed, uses fail.
	if _, err := tab.Drop(sub); err != nil {
		t.Fatalf("drop of released child: %v", err)
	}
	_, err = tab.Get(sub, KindDataTrackSubscription)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_INVALID_HANDLE)
	if _, err := tab.Get(other, KindRoom); err != nil {
		t.Fatalf("unrelated handle released: %v", err)
	}

	rels = tab.CloseAll()
	if len(rels) != 1 {
		t.Fatalf("CloseAll returned %d releases, want 1", len(rels))
	}
	_, err = tab.Get(other, KindRoom)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	_, err = tab.Insert(KindRoom, nil, 0, nil)
	wantCode(t, err, ffipb.ErrorCode_ERROR_CODE_CLIENT_CLOSED)
	if _, err := tab.Drop(other); err != nil {
		t.Fatalf("drop after close: %v", err)
	}
}

func TestHandleTableCloseAllReleasesChildrenFirst(t *testing.T) {
	tab := NewHandleTable(1)
	var order []Kind
	rel := func(k Kind) Release { return func(context.Context) { order = append(order, k) } }
	room, _ := tab.Insert(KindRoom, nil, 0, rel(KindRoom))
	w, _ := tab.Insert(KindStreamWriter, nil, room, rel(KindStreamWriter))
	_, _ = tab.Insert(KindStreamReader, nil, w, rel(KindStreamReader))
	for _, r := range tab.CloseAll() {
		r(context.Background())
	}
	if len(order) != 3 || order[0] != KindStreamReader || order[1] != KindStreamWriter || order[2] != KindRoom {
		t.Fatalf("order %v", order)
	}
}

func TestHandleTableConcurrent(t *testing.T) {
	tab := NewHandleTable(9)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				h, err := tab.Insert(KindRoom, i, 0, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if v, err := tab.Get(h, KindRoom); err != nil || v != i {
					t.Errorf("Get = %v %v", v, err)
					return
				}
				if _, err := tab.Drop(h); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if tab.Len() != 0 {
		t.Fatalf("Len = %d", tab.Len())
	}
}
