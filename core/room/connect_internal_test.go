package room

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/internal/engine"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err   error
		kind  ErrorKind
		retry bool
	}{
		{nil, KindInternal, false},
		{errors.New("other"), KindInternal, false},
		{&HTTPError{StatusCode: 401}, KindUnauthorized, false},
		{&HTTPError{StatusCode: 404, Body: "requested room does not exist"}, KindNotFound, false},
		{&HTTPError{StatusCode: 503}, KindConnectionFailed, true},
		{&LeaveError{Reason: DisconnectRoomDeleted}, KindConnectionFailed, false},
		{dialError(fmt.Errorf("x: %w", &signal.LeaveError{Reason: lkpb.DisconnectReason_ROOM_DELETED})), KindConnectionFailed, false},
		{fmt.Errorf("%w: x", ErrRelayUnavailable), KindConnectionFailed, false},
		{fmt.Errorf("%w: %w", ErrPeerConnectionFailed, ErrRelayUnavailable), KindConnectionFailed, false},
		{fmt.Errorf("%w: timeout", ErrPeerConnectionFailed), KindConnectionFailed, true},
		{ErrSignalLost, KindDisconnected, true},
		{&joinError{err: fmt.Errorf("%w: x", ErrSignalLost)}, KindConnectionFailed, true},
		{&joinError{err: ErrDisconnected}, KindConnectionFailed, true},
		{&joinError{err: &HTTPError{StatusCode: 403}}, KindUnauthorized, false},
		{&joinError{err: context.DeadlineExceeded}, KindTimeout, true},
		{ErrAlreadyConnected, KindFailedPrecondition, false},
		{ErrRoomEnded, KindFailedPrecondition, false},
		{engine.ErrDataTrackBackedUp, KindQueueFull, true},
		{engine.ErrClosed, KindDisconnected, false},
		{signal.ErrProtocol, KindProtocol, false},
		{&rpc.RpcError{Code: 1500}, KindRPC, false},
		{&RequestError{Reason: RequestLimitExceeded}, KindLimitReached, false},
		{&RequestError{Reason: RequestReason(99)}, KindInternal, false},
		{datatrack.ErrRepublishing, KindFailedPrecondition, true},
		{datastream.ErrSendFailed, KindDisconnected, true},
		{context.Canceled, KindCancelled, false},
	}
	for _, c := range cases {
		k, retry := Classify(c.err)
		if k != c.kind || retry != c.retry {
			t.Errorf("Classify(%v) = %v, %v; want %v, %v", c.err, k, retry, c.kind, c.retry)
		}
		if KindOf(c.err) != k || IsRetryable(c.err) != retry {
			t.Errorf("%v: KindOf / IsRetryable disagree with Classify", c.err)
		}
	}
	var le *LeaveError
	if err := dialError(&signal.LeaveError{Reason: lkpb.DisconnectReason_JOIN_FAILURE}); !errors.As(err, &le) || le.Reason != DisconnectJoinFailure || !errors.Is(err, ErrJoinRefused) {
		t.Errorf("dialError: %v", err)
	}
	for k := KindInternal; k <= KindAborted; k++ {
		if k.String() == "unknown" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

// dropState keeps what a Snapshot cannot contain (data, decryption failures), in order.
func TestEventQueueDropState(t *testing.T) {
	q := newEventQueue(8)
	stop := make(chan struct{})
	q.push(ConnectionStateChanged{State: StateConnected}, ParticipantConnected{})
	q.pushData(DataReceived{Topic: "1"}, stop)
	q.push(DataTrackPublished{}, RoomMetadataChanged{NewMetadata: "m"})
	q.tryPushData(DecryptionFailed{ParticipantIdentity: "x"})
	q.pushData(DataReceived{Topic: "2"}, stop)
	q.push(ParticipantNameChanged{})
	if ev, _ := q.next(context.Background()); ev != (ConnectionStateChanged{State: StateConnected}) {
		t.Fatalf("first event %#v", ev)
	}
	q.dropState()
	var got []Event
	for q.pending() > 0 {
		ev, _ := q.next(context.Background())
		got = append(got, ev)
	}
	if len(got) != 3 || got[0].(DataReceived).Topic != "1" || got[1].(DecryptionFailed).ParticipantIdentity != "x" || got[2].(DataReceived).Topic != "2" {
		t.Fatalf("after dropState: %#v", got)
	}
	// The data count still matches: the limit is not reduced by dropped events.
	if data, _ := q.dataBacklog(); data != 0 {
		t.Fatalf("data backlog %d", data)
	}
}
