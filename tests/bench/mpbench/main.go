// Command mpbench is one participant of the multi-process data-track benchmark: a publisher
// and a subscriber, each in its own process, joined through an SFU (the devsfu CLI, or a real
// server) over loopback. tests/bench/mp.sh starts the SFU, a subscriber and a publisher per
// scenario and collects the JSON line each prints.
//
//	mpbench sub -url U -token T                         prints one JSON result line
//	mpbench pub -url U -token T -size 1000 -seconds 5   blocking Push, as fast as it goes
//	mpbench pub ... -rate 5000                          TryPush at a fixed offered rate
//	mpbench {pub|sub} ... -cpuprofile F                 CPU profile of the whole run to F
//	mpbench {pub|sub} ... -memprofile F                 allocation profile of the whole run to F
//
// Each frame carries its sequence number and the publisher's send time (Unix nanoseconds); both
// processes run on one machine, so the subscriber computes one-way latency from one clock.
// The handshake is two reliable data packets: the subscriber sends "ready" once its subscription
// is established (the publisher sends probe frames until then, which are not counted), and the
// publisher sends "done" with the number of frames it sent.
//
// Both results carry "proc": the process's CPU time and Go allocations over the measured
// interval (publisher: first measured frame to Flush returning; subscriber: "ready" sent to the
// last frame), so CPU per delivered megabyte can be compared between changes.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/bench/procstat"
)

const (
	trackName  = "mpbench"
	topicReady = "mpbench-ready"
	topicDone  = "mpbench-done"
	// headerLen: sequence number (u64) + send time in Unix nanoseconds (u64).
	headerLen = 16
	// probeSeq marks warm-up frames sent before the subscriber is ready.
	probeSeq = ^uint64(0)
)

// clientOptions applies the environment's choices to o: MP_UDP_BATCHING=off
// sends and receives every UDP datagram with its own system call
// (Options.DisableUDPBatching), to compare with the default batching.
func clientOptions(o room.Options) room.Options {
	o.DisableUDPBatching = os.Getenv("MP_UDP_BATCHING") == "off"
	return o
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mpbench {pub|sub} -url U -token T [flags]")
		os.Exit(2)
	}
	if runLarge(os.Args[1], os.Args[2:]) { // rpc-* and stream-* roles (rpc.go, stream.go)
		return
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	url := fs.String("url", "", "SFU URL")
	token := fs.String("token", "", "access token")
	size := fs.Int("size", 1000, "pub: frame size in bytes (≥ 16)")
	seconds := fs.Float64("seconds", 5, "pub: how long to send")
	rate := fs.Int("rate", 0, "pub: offered frames/s with TryPush (0: blocking Push as fast as it goes)")
	queue := fs.Int("queue", 0, "pub: DataTrackOptions.QueueFrames (0: default)")
	buffer := fs.Int("buffer", 1024, "sub: SubscribeOptions.BufferSize")
	timeout := fs.Duration("timeout", 60*time.Second, "bound on the whole run")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the whole run to this file at the end")
	_ = fs.Parse(os.Args[2:])
	if *url == "" || *token == "" {
		fmt.Fprintln(os.Stderr, "mpbench: -url and -token are required")
		os.Exit(2)
	}
	stopProfile, err := procstat.StartCPUProfile(*cpuprofile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mpbench:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var res any
	switch os.Args[1] {
	case "pub":
		if *size < headerLen {
			err = fmt.Errorf("-size must be at least %d", headerLen)
			break
		}
		res, err = publish(ctx, *url, *token, *size, time.Duration(*seconds*float64(time.Second)), *rate, *queue)
	case "sub":
		res, err = subscribe(ctx, *url, *token, *buffer)
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if merr := procstat.WriteHeapProfile(*memprofile); err == nil {
		err = merr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mpbench:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// pubResult is what the publisher prints.
type pubResult struct {
	Role        string  `json:"role"`
	Size        int     `json:"size"`
	Mode        string  `json:"mode"`
	OfferedRate int     `json:"offered_rate,omitempty"`
	Sent        uint64  `json:"sent"`    // frames accepted (Push returned nil / TryPush accepted)
	Refused     uint64  `json:"refused"` // TryPush calls refused with ErrQueueFull
	Seconds     float64 `json:"seconds"` // from the first accepted frame to Flush returning
	StatsSent   uint64  `json:"stats_sent"`
	StatsFailed uint64  `json:"stats_failed"`
	// Proc is this process's CPU time and allocations over Seconds.
	Proc procstat.Delta `json:"proc"`
}

func publish(ctx context.Context, url, token string, size int, d time.Duration, rate, queue int) (*pubResult, error) {
	r, err := room.Connect(ctx, url, token, clientOptions(room.Options{}))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer r.Disconnect(context.Background()) //nolint:errcheck
	ready := make(chan string, 1)
	go func() {
		for ev := range r.Events() {
			if dr, ok := ev.(room.DataReceived); ok && dr.Topic == topicReady {
				select {
				case ready <- dr.SenderIdentity:
				default:
				}
			}
		}
	}()
	track, err := r.LocalParticipant().PublishDataTrack(ctx, trackName, room.DataTrackOptions{QueueFrames: queue})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	payload := make([]byte, size)
	for i := headerLen; i < size; i++ {
		payload[i] = byte(i)
	}
	// Probe frames until the subscriber says it is receiving.
	var sub string
	probe := time.NewTicker(20 * time.Millisecond)
	defer probe.Stop()
	for sub == "" {
		binary.BigEndian.PutUint64(payload[0:8], probeSeq)
		_ = track.TryPush(room.Frame{Payload: append([]byte(nil), payload...)})
		select {
		case sub = <-ready:
		case <-probe.C:
		case <-ctx.Done():
			return nil, errors.New("no subscriber became ready")
		}
	}
	if err := track.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush after probes: %w", err)
	}
	res := &pubResult{Role: "pub", Size: size, Mode: "push", OfferedRate: rate}
	before, err := procstat.Now()
	if err != nil {
		return nil, err
	}
	// Push and TryPush copy the payload, so one buffer serves every frame (as a producer that
	// reuses its buffer would; the benchmark's own garbage stays out of the publisher's figures).
	frame := func(seq uint64) room.Frame {
		binary.BigEndian.PutUint64(payload[0:8], seq)
		binary.BigEndian.PutUint64(payload[8:16], uint64(time.Now().UnixNano()))
		return room.Frame{Payload: payload}
	}
	start := time.Now()
	end := start.Add(d)
	var seq uint64
	if rate <= 0 {
		for time.Now().Before(end) {
			if err := track.Push(ctx, frame(seq)); err != nil {
				return nil, fmt.Errorf("push %d: %w", seq, err)
			}
			seq++
		}
	} else {
		res.Mode = "trypush"
		interval := time.Second / time.Duration(rate)
		next := start
		for {
			now := time.Now()
			if !now.Before(end) {
				break
			}
			// Send every frame that is due by now (a late wake-up sends a small burst, as
			// a producer with a fixed clock would), then sleep until the next one is due.
			for !next.After(now) {
				if err := track.TryPush(frame(seq)); err == nil {
					seq++
				} else if errors.Is(err, room.ErrQueueFull) {
					res.Refused++
				} else {
					return nil, fmt.Errorf("trypush: %w", err)
				}
				next = next.Add(interval)
			}
			time.Sleep(time.Until(next))
		}
	}
	if err := track.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	res.Seconds = time.Since(start).Seconds()
	after, err := procstat.Now()
	if err != nil {
		return nil, err
	}
	res.Proc = after.Sub(before)
	res.Sent = seq
	st := track.Stats()
	res.StatsSent, res.StatsFailed = st.Sent, st.SendFailed
	done := []byte(strconv.FormatUint(seq, 10))
	if err := r.LocalParticipant().PublishData(ctx, done, room.DataPublishOptions{
		Reliable: true, Topic: topicDone, DestinationIdentities: []string{sub},
	}); err != nil {
		return nil, fmt.Errorf("done packet: %w", err)
	}
	// Stay until the subscriber has left, so nothing still in flight is cut by our leave.
	select {
	case <-waitLeft(r, sub):
	case <-ctx.Done():
	}
	return res, nil
}

// waitLeft closes its channel once identity is no longer a remote participant.
func waitLeft(r *room.Room, identity string) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for r.RemoteParticipant(identity) != nil {
			select {
			case <-r.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return ch
}

// subResult is what the subscriber prints.
type subResult struct {
	Role       string  `json:"role"`
	Expected   uint64  `json:"expected"` // frames the publisher says it sent
	Received   uint64  `json:"received"` // distinct sequence numbers received
	Duplicates uint64  `json:"duplicates"`
	Lost       uint64  `json:"lost"`
	Dropped    uint64  `json:"dropped"` // dropped by this subscription's own buffer (slow reader)
	Bytes      uint64  `json:"bytes"`
	Seconds    float64 `json:"seconds"` // first to last received frame
	FramesPerS float64 `json:"frames_per_s"`
	MBPerS     float64 `json:"mb_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// Proc is this process's CPU time and allocations from "ready" to the last frame.
	Proc procstat.Delta `json:"proc"`
	// RxPackets counts the `_data_track` packets this room received, probes included, and
	// RxDrops what its receive pipeline dropped, by reason (Room.DataTrackStats): with the
	// SFU's packets out they tell on which hop a lost frame went missing.
	RxPackets uint64            `json:"rx_packets"`
	RxDrops   map[string]uint64 `json:"rx_drops,omitempty"`
}

func subscribe(ctx context.Context, url, token string, buffer int) (*subResult, error) {
	r, err := room.New(clientOptions(room.Options{}))
	if err != nil {
		return nil, err
	}
	defer r.Disconnect(context.Background()) //nolint:errcheck
	snap, err := r.Connect(ctx, url, token)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	tracks := make(chan *room.RemoteDataTrack, 1)
	// A track published before we connected is in the snapshot (no event announces it).
	for _, t := range snap.RemoteDataTracks {
		if t.Info.Name == trackName {
			tracks <- t.Track
			break
		}
	}
	doneCh := make(chan uint64, 1)
	go func() {
		for ev := range r.Events() {
			switch e := ev.(type) {
			case room.DataTrackPublished:
				if e.Track.Name() == trackName {
					tracks <- e.Track
				}
			case room.DataReceived:
				if e.Topic == topicDone {
					n, _ := strconv.ParseUint(string(e.Payload), 10, 64)
					doneCh <- n
				}
			}
		}
	}()
	var track *room.RemoteDataTrack
	select {
	case track = <-tracks:
	case <-ctx.Done():
		return nil, errors.New("no track published")
	}
	sub, err := track.Subscribe(ctx, room.SubscribeOptions{BufferSize: buffer})
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	res := &subResult{Role: "sub"}
	seen := map[uint64]bool{}
	var lat []float64
	var first, last time.Time
	readySent := false
	expected := uint64(0)
	haveDone := false
	var before procstat.Sample
	for {
		// After "done", wait at most 2 s of silence for stragglers.
		wait := ctx
		var cancel context.CancelFunc = func() {}
		if haveDone {
			wait, cancel = context.WithTimeout(ctx, 2*time.Second)
		}
		f, err := nextOrDone(wait, sub, doneCh, &expected, &haveDone)
		cancel()
		if err != nil {
			if haveDone {
				break
			}
			return nil, fmt.Errorf("read: %w", err)
		}
		if f == nil { // "done" arrived
			if res.Received >= expected {
				break
			}
			continue
		}
		if len(f.Payload) < headerLen {
			continue
		}
		seq := binary.BigEndian.Uint64(f.Payload[0:8])
		if seq == probeSeq {
			if !readySent {
				readySent = true
				if before, err = procstat.Now(); err != nil {
					return nil, err
				}
				if err := r.LocalParticipant().PublishData(ctx, []byte("ready"), room.DataPublishOptions{
					Reliable: true, Topic: topicReady, DestinationIdentities: []string{track.PublisherIdentity()},
				}); err != nil {
					return nil, fmt.Errorf("ready packet: %w", err)
				}
			}
			continue
		}
		now := time.Now()
		sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(f.Payload[8:16])))
		if seen[seq] {
			res.Duplicates++
			continue
		}
		seen[seq] = true
		if first.IsZero() {
			first = now
		}
		last = now
		res.Received++
		res.Bytes += uint64(len(f.Payload))
		lat = append(lat, float64(now.Sub(sentAt).Microseconds())/1000)
		if haveDone && res.Received >= expected {
			break
		}
	}
	after, err := procstat.Now()
	if err != nil {
		return nil, err
	}
	res.Proc = after.Sub(before)
	res.Expected = expected
	if expected > res.Received {
		res.Lost = expected - res.Received
	}
	res.Dropped = sub.Dropped()
	st := r.DataTrackStats()
	res.RxPackets = st.Packets
	for reason, n := range st.Drops {
		if res.RxDrops == nil {
			res.RxDrops = map[string]uint64{}
		}
		res.RxDrops[reason.String()] = n
	}
	if res.Received > 1 {
		res.Seconds = last.Sub(first).Seconds()
		res.FramesPerS = float64(res.Received-1) / res.Seconds
		res.MBPerS = float64(res.Bytes) / res.Seconds / 1e6
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		res.P50Ms = lat[len(lat)/2]
		res.P99Ms = lat[len(lat)*99/100]
		res.MaxMs = lat[len(lat)-1]
	}
	_ = sub.Close()
	return res, nil
}

// nextOrDone returns the next frame, or nil once the publisher's "done" packet arrives (setting
// *expected and *haveDone).
func nextOrDone(ctx context.Context, sub *room.DataTrackSubscription, doneCh <-chan uint64, expected *uint64, haveDone *bool) (*room.Frame, error) {
	select {
	case n := <-doneCh:
		*expected, *haveDone = n, true
		return nil, nil
	case f, ok := <-sub.Frames():
		if !ok {
			return nil, sub.Err()
		}
		return &f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
