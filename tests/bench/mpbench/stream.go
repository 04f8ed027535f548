package main

// Data streams of large payloads between two processes (see rpc.go for the roles and the
// measuring protocol). Streams go one at a time: the sender sends one, the receiver reads it
// to the end and acknowledges it with a reliable data packet, then the next one goes. The
// receiver's figure is the one-way latency, from the sender's call to the last byte read (one
// clock: both processes run on one machine); the sender's is the round trip to the ack.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/core/rpc"
)

const (
	streamTopic = "mpbench-stream"
	topicAck    = "mpbench-ack"
	// attrT0: the sender's call time in Unix nanoseconds; attrMeasured marks measured streams.
	attrT0       = "mpbench-t0"
	attrMeasured = "mpbench-measured"
)

// recvResult is what stream-recv prints.
type recvResult struct {
	Role    string `json:"role"`
	Streams int    `json:"streams"` // measured streams read
	latencies
	usage
}

// streamRecv reads every stream on streamTopic to the end and acknowledges it, until the
// sender's "done" mark.
func streamRecv(ctx context.Context, f *largeFlags) (*recvResult, error) {
	k := newMarked(f)
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errc = make(chan error, 1)
		r    *room.Room
	)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	// done is called by a handler once a stream was read completely.
	done := func(id, sender string, attrs map[string]string, n int, size *uint64) {
		end := time.Now()
		if size == nil || uint64(n) != *size {
			fail(fmt.Errorf("stream %s: read %d bytes, header announced %v", id, n, size))
			return
		}
		t0, err := strconv.ParseInt(attrs[attrT0], 10, 64)
		if err != nil {
			fail(fmt.Errorf("stream %s: no %s attribute", id, attrT0))
			return
		}
		if attrs[attrMeasured] == "1" {
			k.count()
			mu.Lock()
			lat = append(lat, end.Sub(time.Unix(0, t0)))
			mu.Unlock()
		}
		if err := r.LocalParticipant().PublishData(ctx, []byte(id), room.DataPublishOptions{
			Reliable: true, Topic: topicAck, DestinationIdentities: []string{sender},
		}); err != nil {
			fail(fmt.Errorf("ack: %w", err))
		}
	}
	var err error
	r, err = room.New(clientOptions(room.Options{
		RPCMethods: map[string]rpc.Handler{methodMark: k.handler},
		ByteStreamHandlers: map[string]datastream.ByteStreamHandler{streamTopic: func(rd *datastream.ByteStreamReader, from string) {
			b, err := rd.ReadAll(ctx)
			if err != nil {
				fail(fmt.Errorf("read: %w", err))
				return
			}
			info := rd.Info()
			done(info.ID, from, info.Attributes, len(b), info.Size)
		}},
		TextStreamHandlers: map[string]datastream.TextStreamHandler{streamTopic: func(rd *datastream.TextStreamReader, from string) {
			s, err := rd.ReadAll(ctx)
			if err != nil {
				fail(fmt.Errorf("read: %w", err))
				return
			}
			info := rd.Info()
			done(info.ID, from, info.Attributes, len(s), info.Size)
		}},
	}))
	if err != nil {
		return nil, err
	}
	defer r.Disconnect(context.Background()) //nolint:errcheck
	if _, err := r.Connect(ctx, f.url, f.token); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	go func() {
		for range r.Events() { // drain: nothing to handle here
		}
	}()
	type out struct {
		u   usage
		n   int
		err error
	}
	res := make(chan out, 1)
	go func() {
		u, n, err := k.wait(ctx, r)
		res <- out{u, n, err}
	}()
	select {
	case err := <-errc:
		return nil, err
	case o := <-res:
		if o.err != nil {
			return nil, o.err
		}
		mu.Lock()
		defer mu.Unlock()
		return &recvResult{Role: "stream-recv", Streams: o.n, latencies: summarize(lat), usage: o.u}, nil
	}
}

// sendResult is what stream-send prints.
type sendResult struct {
	Role    string `json:"role"`
	Kind    string `json:"kind"`
	Size    int    `json:"size"`
	Payload string `json:"payload"`
	N       int    `json:"n"`
	// Round trip: from the send call to the receiver's ack.
	RoundTrip latencies `json:"round_trip"`
	usage
}

// streamSend sends f.n streams of f.size bytes to f.peer, one at a time (each waits for its
// ack), and measures them.
func streamSend(ctx context.Context, f *largeFlags) (*sendResult, error) {
	if f.peer == "" || f.n <= 0 || f.size <= 0 {
		return nil, errors.New("stream-send needs -peer, -n > 0 and -size > 0")
	}
	if f.kind != "bytes" && f.kind != "text" {
		return nil, fmt.Errorf("unknown -kind %q (bytes or text)", f.kind)
	}
	payload, err := makePayload(f.payload, f.size, f.kind == "bytes")
	if err != nil {
		return nil, err
	}
	text := string(payload)
	r, err := room.Connect(ctx, f.url, f.token, clientOptions(room.Options{}))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer r.Disconnect(context.Background()) //nolint:errcheck
	acks := make(chan string, 1)
	go func() {
		for ev := range r.Events() {
			if dr, ok := ev.(room.DataReceived); ok && dr.Topic == topicAck {
				select {
				case acks <- string(dr.Payload):
				default:
				}
			}
		}
	}()
	if err := waitPeer(ctx, r, f.peer); err != nil {
		return nil, err
	}
	lp := r.LocalParticipant()
	dests := []string{f.peer}
	// one sends a stream and waits for its ack.
	one := func(measured bool) error {
		attrs := map[string]string{attrT0: strconv.FormatInt(time.Now().UnixNano(), 10)}
		if measured {
			attrs[attrMeasured] = "1"
		}
		var id string
		if f.kind == "bytes" {
			info, err := lp.SendBytes(ctx, payload, datastream.SendBytesOptions{Topic: streamTopic, DestinationIdentities: dests, Attributes: attrs})
			if err != nil {
				return err
			}
			id = info.ID
		} else {
			info, err := lp.SendText(ctx, text, datastream.SendTextOptions{Topic: streamTopic, DestinationIdentities: dests, Attributes: attrs})
			if err != nil {
				return err
			}
			id = info.ID
		}
		select {
		case got := <-acks:
			if got != id {
				return fmt.Errorf("ack for stream %s, expected %s", got, id)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("no ack for stream %s", id)
		}
	}
	lat, u, err := measureOps(ctx, lp, f, "stream", one)
	if err != nil {
		return nil, err
	}
	return &sendResult{Role: "stream-send", Kind: f.kind, Size: f.size, Payload: f.payload, N: f.n, RoundTrip: summarize(lat), usage: u}, nil
}
