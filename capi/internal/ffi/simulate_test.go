package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
)

// TestE2ESimulateScenario (ABI 1.27): each scenario reaches the core as itself — a simulated
// signal loss resumes, a full reconnect and a node failure end in a full reconnect (the node
// failure after a refused resume), a server leave ends the room — and an unspecified or unknown
// scenario, an unknown room and a room that never connected are refused. The speaker scenario
// (ABI 1.29) reports the participant speaking.
func TestE2ESimulateScenario(t *testing.T) {
	s := sfu.Start(t, devsfu.Options{})
	h, rh, _ := joinHost(t, s, "simulate", "alice")
	simulate := func(room uint64, sc ffipb.SimulateScenario) *ffipb.Request {
		return &ffipb.Request{RequestId: 1, Message: &ffipb.Request_SimulateScenario{SimulateScenario: &ffipb.SimulateScenarioRequest{RoomHandle: room, Scenario: sc}}}
	}
	reconnect := func(sc ffipb.SimulateScenario, from int, kinds ...ffipb.ReconnectKind) int {
		t.Helper()
		h.call(simulate(rh, sc))
		var ev *ffipb.RoomEvent
		for _, k := range kinds {
			ev, from = h.roomEvent(sc.String()+" reconnecting "+k.String(), from+1, func(e *ffipb.RoomEvent) bool { return e.GetReconnecting() != nil })
			if got := ev.GetReconnecting().GetKind(); got != k {
				t.Fatalf("%s: reconnecting %s, want %s", sc, got, k)
			}
		}
		ev, from = h.roomEvent(sc.String()+" reconnected", from+1, func(e *ffipb.RoomEvent) bool { return e.GetReconnected() != nil })
		if got := ev.GetReconnected().GetKind(); got != kinds[len(kinds)-1] {
			t.Fatalf("%s: reconnected %s", sc, got)
		}
		return from
	}
	from := reconnect(ffipb.SimulateScenario_SIMULATE_SCENARIO_SIGNAL_RECONNECT, -1, ffipb.ReconnectKind_RECONNECT_KIND_RESUME)
	from = reconnect(ffipb.SimulateScenario_SIMULATE_SCENARIO_FULL_RECONNECT, from, ffipb.ReconnectKind_RECONNECT_KIND_FULL)
	from = reconnect(ffipb.SimulateScenario_SIMULATE_SCENARIO_NODE_FAILURE, from,
		ffipb.ReconnectKind_RECONNECT_KIND_RESUME, ffipb.ReconnectKind_RECONNECT_KIND_FULL)

	// The speaker scenario (ABI 1.29) breaks nothing: the server reports alice speaking at 0.9.
	h.call(simulate(rh, ffipb.SimulateScenario_SIMULATE_SCENARIO_SPEAKER_UPDATE))
	_, from = h.roomEvent("speaking", from+1, func(e *ffipb.RoomEvent) bool {
		u := e.GetParticipantUpdated()
		return u.GetSpeakingChanged() && u.GetInfo().GetIdentity() == "alice" && u.GetInfo().GetIsSpeaking() && u.GetInfo().GetAudioLevel() == 0.9
	})
	_, from = h.roomEvent("speakers [alice]", from+1, func(e *ffipb.RoomEvent) bool {
		ids := e.GetActiveSpeakersChanged().GetIdentities()
		return len(ids) == 1 && ids[0] == "alice"
	})

	for _, sc := range []ffipb.SimulateScenario{ffipb.SimulateScenario_SIMULATE_SCENARIO_UNSPECIFIED, 99} {
		wantRespCode(t, h.do(simulate(rh, sc)), ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
	}
	if resp := h.do(simulate(rh+1000, ffipb.SimulateScenario_SIMULATE_SCENARIO_SIGNAL_RECONNECT)); resp.GetError() == nil {
		t.Fatalf("unknown room: %v", resp)
	}
	idle := h.createRoom(nil)
	wantRespCode(t, h.do(simulate(idle, ffipb.SimulateScenario_SIMULATE_SCENARIO_SIGNAL_RECONNECT)), ffipb.ErrorCode_ERROR_CODE_DISCONNECTED)

	h.call(simulate(rh, ffipb.SimulateScenario_SIMULATE_SCENARIO_SERVER_LEAVE))
	ev, _ := h.roomEvent("disconnected", from+1, func(e *ffipb.RoomEvent) bool { return e.GetDisconnected() != nil })
	if d := ev.GetDisconnected(); d.GetReason() != ffipb.DisconnectReason_DISCONNECT_REASON_SERVER_SHUTDOWN {
		t.Fatalf("server leave: %v", d)
	}
}
