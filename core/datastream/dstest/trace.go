package dstest

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/lkcore/lkcore/core/lkpb"
)

// TraceMsg is one "dc-msg" line of a data-channel recording (the *.jsonl files in
// core/datastream/testdata and core/rpc/testdata).
type TraceMsg struct {
	// Who is the recording peer's role (caller, callee, sender, receiver).
	Who string `json:"who"`
	// Dir is "send" or "recv".
	Dir string `json:"dir"`
	// Label is the data channel label.
	Label string `json:"label"`
	// Len is the byte length of the captured message.
	Len int `json:"len"`
	// Type is the DataPacket value case.
	Type string `json:"type"`
	// Kind is the line kind ("dc-msg" for packets).
	Kind string `json:"kind"`
	// Msg is the DataPacket as protobuf JSON (binary fields abbreviated).
	Msg json.RawMessage `json:"msg"`

	// Packet is Msg decoded. Binary fields the recording truncated are
	// replaced by zero bytes of the recorded length (so proto.Size still
	// equals Len) and Truncated is set.
	Packet *lkpb.DataPacket `json:"-"`
	// Truncated reports that some binary field was abbreviated.
	Truncated bool `json:"-"`
}

// ReadTrace reads every dc-msg line of a jsonl recording.
func ReadTrace(path string) ([]TraceMsg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []TraceMsg
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m TraceMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, err
		}
		if m.Kind != "dc-msg" || len(m.Msg) == 0 {
			continue
		}
		var generic any
		if err := json.Unmarshal(m.Msg, &generic); err != nil {
			return nil, err
		}
		generic, m.Truncated, err = fixBinary(generic)
		if err != nil {
			return nil, err
		}
		fixed, _ := json.Marshal(generic)
		m.Packet = new(lkpb.DataPacket)
		if err := protojson.Unmarshal(fixed, m.Packet); err != nil {
			return nil, fmt.Errorf("dstest: decoding %s: %w", m.Type, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// fixBinary turns "hex(N):<hex>[…]" strings into base64 (zero-filled to N
// bytes when truncated).
func fixBinary(v any) (any, bool, error) {
	trunc := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			n, t, err := fixBinary(e)
			if err != nil {
				return nil, false, err
			}
			x[k], trunc = n, trunc || t
		}
	case []any:
		for i, e := range x {
			n, t, err := fixBinary(e)
			if err != nil {
				return nil, false, err
			}
			x[i], trunc = n, trunc || t
		}
	case string:
		if !strings.HasPrefix(x, "hex(") {
			return x, false, nil
		}
		end := strings.Index(x, "):")
		n, err := strconv.Atoi(x[4:end])
		if err != nil {
			return nil, false, err
		}
		h := x[end+2:]
		t := strings.HasSuffix(h, "…")
		h = strings.TrimSuffix(h, "…")
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, false, err
		}
		if t {
			b = make([]byte, n)
		}
		return base64.StdEncoding.EncodeToString(b), t, nil
	}
	return v, trunc, nil
}
