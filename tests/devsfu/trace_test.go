package devsfu

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

// tracesDir holds the recordings of official clients against a real
// livekit-server v1.13.5 that these tests compare devsfu with (see
// testdata/README.md). A missing recording fails the test.
const tracesDir = "testdata"

// camel converts a oneof field name to the trace's camelCase type.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// comparable keeps the server→client messages whose order devsfu
// reproduces: it drops transport noise (trickles, the answers to JS's
// extra second offer), telemetry devsfu does not send
// (connectionQuality), and keepalive answers.
func keepForCompare(typ string) bool {
	switch typ {
	case "trickle", "answer", "connectionQuality", "roomUpdate", "pong", "pongResp":
		return false
	}
	return true
}

// recordedS2C returns the comparable s2c message types of one connection.
func recordedS2C(t *testing.T, file, who string, conn int) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(tracesDir, file))
	if err != nil {
		t.Fatalf("recording missing (it belongs in tests/devsfu/testdata): %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l struct {
			Who  string `json:"who"`
			Conn int    `json:"conn"`
			Kind string `json:"kind"`
			Dir  string `json:"dir"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Who == who && l.Conn == conn && l.Kind == "ws-msg" && l.Dir == "s2c" && keepForCompare(l.Type) {
			out = append(out, l.Type)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", file, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no server→client messages for %s #%d", file, who, conn)
	}
	return out
}

// observed returns the comparable types devsfu sent, ignoring the batched
// JOINED/ACTIVE self announcements that the short recordings never reached.
func observed(c *testClient) []string {
	var out []string
	for _, m := range c.messages() {
		typ := camel(typeOf(m))
		if !keepForCompare(typ) {
			continue
		}
		if u := m.GetUpdate(); u != nil {
			onlyState := true
			for _, p := range u.GetParticipants() {
				if p.GetVersion() > 2 || p.GetState() == lkpb.ParticipantInfo_DISCONNECTED {
					onlyState = false
				}
			}
			if onlyState {
				continue
			}
		}
		out = append(out, typ)
	}
	return out
}

// TestTrace1aPublish replays 1a-publish-js (publish, unpublish, leave) and
// compares the server→client sequence with the recording.
func TestTrace1aPublish(t *testing.T) {
	want := recordedS2C(t, "1a-publish-js.signal.jsonl", "pub", 1)
	s := startServer(t, Options{UpdateBatchInterval: defaultUpdateBatchInterval})
	pub := dial(t, s, "trace-1a", "pub-js", clientOpts{media: true})
	defer pub.close()
	pub.waitServerReady(s)
	_ = pub.send(publishReq(1, "sensor"))
	pub.wait("update", func(m *lkpb.SignalResponse) bool { return len(m.GetUpdate().GetParticipants()) > 0 })
	_ = pub.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_UnpublishDataTrackRequest{
		UnpublishDataTrackRequest: &lkpb.UnpublishDataTrackRequest{PubHandle: 1}}})
	pub.wait("unpublished", func(m *lkpb.SignalResponse) bool { return m.GetUnpublishDataTrackResponse() != nil })
	pub.leave()
	if got := observed(pub); !slices.Equal(got, want) {
		t.Errorf("sequence differs from the recording\n got %v\nwant %v", got, want)
	}
}

// TestTrace1cErrors replays the publisher side of 1c-publish-errors-js.
func TestTrace1cErrors(t *testing.T) {
	want := recordedS2C(t, "1c-publish-errors-js.signal.jsonl", "pub", 1)
	wantNo := recordedS2C(t, "1c-publish-errors-js.signal.jsonl", "nodata", 2)
	s := startServer(t, Options{UpdateBatchInterval: defaultUpdateBatchInterval})
	pub := dial(t, s, "trace-1c", "pub-js", clientOpts{media: true})
	defer pub.close()
	pub.waitServerReady(s)
	_ = pub.send(publishReq(1, "sensor"))
	pub.wait("update", func(m *lkpb.SignalResponse) bool { return len(m.GetUpdate().GetParticipants()) > 0 })
	_ = pub.send(publishReq(2, "sensor"))
	pub.wait("dup", isRR)
	no := dial(t, s, "trace-1c", "nodata-js", clientOpts{media: true, tokenOpts: []auth.TokenOption{
		auth.WithGrant(func(g *auth.VideoGrant) { g.CanPublishData = auth.Bool(false) })}})
	defer no.close()
	_ = no.send(publishReq(1, "sensor"))
	no.wait("rr", isRR)
	no.leave()
	pub.leave()
	if got := observed(pub); !slices.Equal(got, want) {
		t.Errorf("pub sequence\n got %v\nwant %v", got, want)
	}
	if got := observed(no); !slices.Equal(got, wantNo) {
		t.Errorf("nodata sequence\n got %v\nwant %v", got, wantNo)
	}
}
