package devsfu

import (
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
)

// TestSCTPZeroChecksumGate: the clients devsfu offers SCTP zero checksum to are livekit-server's
// (ClientInfo.SupportsSctpZeroChecksum): every known SDK but the Go SDK before 2.4.0.
func TestSCTPZeroChecksumGate(t *testing.T) {
	for _, c := range []struct {
		ci   *lkpb.ClientInfo
		want bool
	}{
		{nil, false},
		{&lkpb.ClientInfo{}, false}, // sdk UNKNOWN
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_JS, Version: "2.23.0"}, true},
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_RUST, Version: "0.7.0"}, true},
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_PYTHON}, true},
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "0.1.0"}, false}, // lkcore
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "2.3.9"}, false},
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "2.4.0"}, true},
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "2.10"}, true},
		{&lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "v2.5.0"}, false}, // "v2" is not a number: 0
	} {
		if got := supportsSCTPZeroChecksum(c.ci); got != c.want {
			t.Errorf("%v: %v, want %v", c.ci, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.4.0", "2.4.0", 0}, {"2.4", "2.4.0", 0}, {"2.4.1", "2.4.0", 1}, {"1.99.99", "2.4.0", -1},
		{"2.4.0.9", "2.4.0", 0}, {"", "0.0.0", 0}, {"x.y", "0.0.1", -1},
	} {
		if got := compareVersion(c.a, c.b); got != c.want {
			t.Errorf("compareVersion(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
