package devsfu

import (
	"testing"

	"github.com/lkcore/lkcore/core/joinreq"
	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeJoinRequest feeds arbitrary join_request query values to the server's parser: it
// must never panic, every failure is one of the server's answer texts, and an accepted request
// re-encodes (uncompressed) to one that decodes to the same message.
func FuzzDecodeJoinRequest(f *testing.F) {
	jr := &lkpb.JoinRequest{
		ClientInfo:         &lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "0.1.0", Protocol: 16, Os: "linux", ClientProtocol: 1},
		ConnectionSettings: &lkpb.ConnectionSettings{AutoSubscribe: false},
		PublisherOffer:     &lkpb.SessionDescription{Type: "offer", Sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", Id: 1},
	}
	for _, c := range []lkpb.WrappedJoinRequest_Compression{lkpb.WrappedJoinRequest_NONE, lkpb.WrappedJoinRequest_GZIP} {
		s, err := joinreq.Encode(jr, c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	resume := &lkpb.JoinRequest{Reconnect: true, ParticipantSid: "PA_abc", ReconnectReason: lkpb.ReconnectReason_RR_SIGNAL_DISCONNECTED}
	if s, err := joinreq.Encode(resume, lkpb.WrappedJoinRequest_NONE); err == nil {
		f.Add(s)
	}
	f.Add("")
	f.Add("!!!")
	f.Add("H4sIAAAAAAAA")
	known := map[error]bool{errJoinRequestBase64: true, errJoinRequestProto: true, errJoinRequestGzip: true,
		errJoinRequestTooLarge: true, errJoinRequestInner: true}
	f.Fuzz(func(t *testing.T, param string) {
		got, err := decodeJoinRequest(param)
		if err != nil {
			if !known[err] || got != nil {
				t.Fatalf("unexpected failure %v (%v)", err, got)
			}
			return
		}
		s, err := joinreq.Encode(got, lkpb.WrappedJoinRequest_NONE)
		if err != nil {
			return // e.g. too large once re-encoded without compression
		}
		again, err := decodeJoinRequest(s)
		if err != nil || !proto.Equal(got, again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
