// Command dtlatency measures the one-way latency of 256 B data-track frames sent at 500 Hz
// through a LiveKit server (e.g. the devsfu CLI), with the Go core on both ends in one process:
// the Go figure that bindings/python/benchmarks/data_track_bench.py (--only latency) is
// compared with, through the same server.
//
//	go run ./tests/bench/dtlatency -url ws://127.0.0.1:7880 -pub-token $T1 -sub-token $T2
//
// It prints JSON: frames received and pushed, p50/p99/max in milliseconds.
//
// -mode pub or -mode sub runs one end only, to split a latency tail between the two ends when
// the other end is another client (e.g. the Python binding): frames then carry the sender's
// wall clock in microseconds as their user timestamp (the convention of data_track_bench.py),
// the subscriber takes the track "latency" of the identity given by -publisher.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/lkcore/lkcore/core/room"
)

func main() {
	url := flag.String("url", "", "server URL (ws:// or wss://)")
	pubToken := flag.String("pub-token", "", "token of the publisher")
	subToken := flag.String("sub-token", "", "token of the subscriber")
	seconds := flag.Float64("seconds", 5, "duration of the run")
	rate := flag.Float64("rate", 500, "frames per second")
	mode := flag.String("mode", "both", "both, pub (publish only) or sub (subscribe only)")
	publisher := flag.String("publisher", "pub", "identity whose track is subscribed (-mode sub)")
	try := flag.Bool("try", false, "-mode pub: TryPush and count refusals (as the Python benchmark) instead of Push")
	flag.Parse()
	if *url == "" || *seconds <= 0 || *seconds > 600 || *rate <= 0 || *rate > 10000 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	switch *mode {
	case "both":
		err = run(*url, *pubToken, *subToken, *seconds, *rate)
	case "pub":
		err = runPub(*url, *pubToken, *seconds, *rate, *try)
	case "sub":
		err = runSub(*url, *subToken, *publisher, *seconds, *rate)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dtlatency:", err)
		os.Exit(1)
	}
}

func run(url, pubToken, subToken string, seconds, rate float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+time.Minute)
	defer cancel()
	sub, err := room.Connect(ctx, url, subToken, room.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = sub.Disconnect(context.Background()) }()
	pub, err := room.Connect(ctx, url, pubToken, room.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = pub.Disconnect(context.Background()) }()
	lt, err := pub.LocalParticipant().PublishDataTrack(ctx, "latency", room.DataTrackOptions{})
	if err != nil {
		return err
	}
	var rt *room.RemoteDataTrack
	for rt == nil {
		ev, err := sub.NextEvent(ctx)
		if err != nil {
			return err
		}
		if e, ok := ev.(room.DataTrackPublished); ok && e.Track.Name() == "latency" {
			rt = e.Track
		}
	}
	st, err := rt.Subscribe(ctx, room.SubscribeOptions{BufferSize: 64})
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	n := int(seconds * rate)
	base := time.Now()
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < n {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			f, err := st.Next(rctx)
			rcancel()
			if err != nil {
				return
			}
			lat = append(lat, time.Since(base)-time.Duration(binary.BigEndian.Uint64(f.Payload)))
		}
	}()
	payload := make([]byte, 256)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for range n {
		<-tick.C
		binary.BigEndian.PutUint64(payload, uint64(time.Since(base)))
		if err := lt.Push(ctx, room.Frame{Payload: payload}); err != nil {
			return err
		}
	}
	<-done
	if len(lat) == 0 {
		return fmt.Errorf("no frame received")
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return math.Round(float64(lat[int(p*float64(len(lat)-1))])/1e4) / 100
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"received": len(lat), "pushed": n, "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1),
	})
}

func nowMicros() uint64 { return uint64(time.Now().UnixMicro()) }

// runPub publishes "latency" and pushes frames stamped with the wall clock.
func runPub(url, token string, seconds, rate float64, try bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+time.Minute)
	defer cancel()
	pub, err := room.Connect(ctx, url, token, room.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = pub.Disconnect(context.Background()) }()
	lt, err := pub.LocalParticipant().PublishDataTrack(ctx, "latency", room.DataTrackOptions{})
	if err != nil {
		return err
	}
	payload := make([]byte, 256)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	n, full := int(seconds*rate), 0
	for range n {
		<-tick.C
		f := room.Frame{Payload: payload, UserTimestamp: nowMicros(), HasUserTimestamp: true}
		var err error
		if try {
			if err = lt.TryPush(f); errors.Is(err, room.ErrQueueFull) {
				full, err = full+1, nil
			}
		} else {
			err = lt.Push(ctx, f)
		}
		if err != nil {
			return err
		}
	}
	time.Sleep(time.Second)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"pushed": n, "full": full})
}

// runSub subscribes to publisher's "latency" track and measures wall-clock latency.
func runSub(url, token, publisher string, seconds, rate float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+time.Minute)
	defer cancel()
	sub, err := room.Connect(ctx, url, token, room.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = sub.Disconnect(context.Background()) }()
	var rt *room.RemoteDataTrack
	for rt == nil {
		if p := sub.RemoteParticipant(publisher); p != nil {
			rt = p.DataTrack("latency")
		}
		if rt == nil {
			if _, err := sub.NextEvent(ctx); err != nil {
				return err
			}
		}
	}
	st, err := rt.Subscribe(ctx, room.SubscribeOptions{BufferSize: 64})
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	var lat []time.Duration
	for len(lat) < int(seconds*rate) {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		f, err := st.Next(rctx)
		rcancel()
		if err != nil {
			break
		}
		lat = append(lat, time.Duration(int64(nowMicros())-int64(f.UserTimestamp))*time.Microsecond)
	}
	if len(lat) == 0 {
		return fmt.Errorf("no frame received")
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return math.Round(float64(lat[int(p*float64(len(lat)-1))])/1e4) / 100
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"received": len(lat), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1)})
}
