package datatrack

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// traceSignal is one data-track related signalling message of the recordings, extracted
// into testdata/trace_signal.jsonl (join and syncState reduced to their data-track parts).
type traceSignal struct {
	Scenario string          `json:"scenario"`
	Who      string          `json:"who"`
	Dir      string          `json:"dir"`
	Bytes    int             `json:"bytes"`
	Type     string          `json:"type"`
	Full     bool            `json:"full"`
	Msg      json.RawMessage `json:"msg"`
	Req      *lkpb.SignalRequest
	Resp     *lkpb.SignalResponse
}

func loadTraceSignals(t testing.TB, scenario, who string) []traceSignal {
	t.Helper()
	f, err := os.Open("testdata/trace_signal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []traceSignal
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ts traceSignal
		if err := json.Unmarshal(sc.Bytes(), &ts); err != nil {
			t.Fatal(err)
		}
		if ts.Scenario != scenario || (who != "" && ts.Who != who) {
			continue
		}
		if ts.Dir == "c2s" {
			ts.Req = &lkpb.SignalRequest{}
			if err := protojson.Unmarshal(ts.Msg, ts.Req); err != nil {
				t.Fatalf("%s: %v", ts.Type, err)
			}
		} else {
			ts.Resp = &lkpb.SignalResponse{}
			if err := protojson.Unmarshal(ts.Msg, ts.Resp); err != nil {
				t.Fatalf("%s: %v", ts.Type, err)
			}
		}
		out = append(out, ts)
	}
	if len(out) == 0 {
		t.Fatalf("no signals for %s/%s", scenario, who)
	}
	return out
}

// expectRequest checks that the manager emitted exactly the recorded request, also in size.
func expectRequest(t testing.TB, got SendRequest, want traceSignal) {
	t.Helper()
	if !proto.Equal(got.Request, want.Req) {
		t.Fatalf("sent %v\nrecorded %v", got.Request, want.Req)
	}
	if b, err := proto.Marshal(got.Request); err != nil || (want.Full && len(b) != want.Bytes) {
		t.Fatalf("encoded %d bytes, recorded %d (%v)", len(b), want.Bytes, err)
	}
}

func outputsOf[T any, O any](outs []O) []T {
	var r []T
	for _, o := range outs {
		if v, ok := any(o).(T); ok {
			r = append(r, v)
		}
	}
	return r
}
