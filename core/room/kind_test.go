package room_test

import (
	"context"
	"slices"
	"testing"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/room"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// Participant kinds and kind details come from the participants' tokens through the server's
// ParticipantInfo, for remote participants and the local one; an unknown detail name in a
// token is skipped by the server (as livekit's), never reported.
func TestParticipantKindsAndDetails(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	obs := join(t, ctx, s, "kinds", "observer")
	cases := []struct {
		identity string
		opts     []auth.TokenOption
		kind     room.ParticipantKind
		details  []room.ParticipantKindDetail
	}{
		{"caller", []auth.TokenOption{auth.WithKind("sip")}, room.ParticipantSIP, nil},
		{"twilio", []auth.TokenOption{auth.WithKind("connector"), auth.WithKindDetails("connector_twilio")},
			room.ParticipantConnector, []room.ParticipantKindDetail{room.KindDetailConnectorTwilio}},
		{"rtsp", []auth.TokenOption{auth.WithKind("bridge"), auth.WithKindDetails("bridge_rtsp")},
			room.ParticipantBridge, []room.ParticipantKindDetail{room.KindDetailBridgeRTSP}},
		{"agent", []auth.TokenOption{auth.WithKind("agent"), auth.WithKindDetails("cloud_agent", "no_such_detail", "forwarded")},
			room.ParticipantAgent, []room.ParticipantKindDetail{room.KindDetailCloudAgent, room.KindDetailForwarded}},
	}
	for _, c := range cases {
		p := join(t, ctx, s, "kinds", c.identity, c.opts...)
		if li := p.r.LocalParticipant().Info(); li.Kind != c.kind || !slices.Equal(li.KindDetails, c.details) {
			t.Errorf("%s sees itself as %v %v, want %v %v", c.identity, li.Kind, li.KindDetails, c.kind, c.details)
		}
		ri := obs.waitParticipant(ctx, c.identity).Info()
		if ri.Kind != c.kind || !slices.Equal(ri.KindDetails, c.details) {
			t.Errorf("observer sees %s as %v %v, want %v %v", c.identity, ri.Kind, ri.KindDetails, c.kind, c.details)
		}
	}
	if got := room.KindDetailConnectorWhatsApp.String() + " " + room.ParticipantKindDetail(99).String(); got != "connector_whatsapp 99" {
		t.Errorf("names %q", got)
	}
}
