package joinreq

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

func sampleJoinRequest() *lkpb.JoinRequest {
	return &lkpb.JoinRequest{
		ClientInfo: &lkpb.ClientInfo{
			Sdk: lkpb.ClientInfo_GO, Version: "0.1.0", Protocol: 17, Os: "linux",
			ClientProtocol: 2, Capabilities: []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW},
		},
		ConnectionSettings: &lkpb.ConnectionSettings{AutoSubscribe: false},
		PublisherOffer:     &lkpb.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 1},
	}
}

func TestJoinRequestRoundTrip(t *testing.T) {
	for _, c := range []lkpb.WrappedJoinRequest_Compression{lkpb.WrappedJoinRequest_NONE, lkpb.WrappedJoinRequest_GZIP} {
		jr := sampleJoinRequest()
		s, err := Encode(jr, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(s)%4 != 0 {
			t.Fatalf("%v: length %d is not padded to a multiple of 4", c, len(s))
		}
		if strings.ContainsAny(s, "+/") {
			t.Fatalf("%v: not the URL alphabet: %q", c, s)
		}
		got, gotC, err := Decode(s)
		if err != nil {
			t.Fatal(err)
		}
		if gotC != c || !proto.Equal(got, jr) {
			t.Fatalf("%v: round trip mismatch: %v %v", c, gotC, got)
		}
	}
}

func TestJoinRequestGzipHeader(t *testing.T) {
	s, err := Encode(sampleJoinRequest(), lkpb.WrappedJoinRequest_GZIP)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.URLEncoding.DecodeString(s)
	var w lkpb.WrappedJoinRequest
	if err := proto.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	// RFC 1952 magic bytes.
	if b := w.GetJoinRequest(); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("payload is not gzip: % x", w.GetJoinRequest()[:2])
	}
	if w.GetCompression() != lkpb.WrappedJoinRequest_GZIP {
		t.Fatal("compression field not GZIP")
	}
}

func TestDecodeRejectsUnpadded(t *testing.T) {
	// Find an encoding that actually has padding, then strip it.
	jr := sampleJoinRequest()
	for i := 0; i < 4; i++ {
		s, _ := Encode(jr, lkpb.WrappedJoinRequest_NONE)
		if strings.HasSuffix(s, "=") {
			_, _, err := Decode(strings.TrimRight(s, "="))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unpadded input accepted: %v", err)
			}
			return
		}
		jr.ClientInfo.Version += "x"
	}
	t.Fatal("no padded encoding found")
}

func TestDecodeLimit(t *testing.T) {
	jr := &lkpb.JoinRequest{Metadata: strings.Repeat("a", MaxSize+10)}
	s, err := Encode(jr, lkpb.WrappedJoinRequest_GZIP)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(s); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized request accepted: %v", err)
	}
}
