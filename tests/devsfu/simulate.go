package devsfu

import (
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Simulated faults a client asks for (SignalRequest.simulate), handled as
// livekit-server 1.13.5 does (rtc/room.go onSimulateScenario):
//
//   - node_failure, migration: the participant is closed without a leave
//     (its WebSocket and PeerConnection closed, the others told it left), so
//     the client's resume finds no session and is told to reconnect in full;
//   - server_leave: the participant is closed with leave{DISCONNECT,
//     SERVER_SHUTDOWN};
//   - disconnect_signal_on_resume: the participant's next resume within
//     simulateOnResumeWindow gets its answer, then the WebSocket is closed;
//   - speaker_update: the participant is reported speaking at 0.9 for the
//     seconds asked, then stopped (speakers.go).
//
// A candidate protocol switch, a subscriber bandwidth and the variants devsfu
// does not model are accepted and ignored.

// simulateOnResumeWindow is how long disconnect_signal_on_resume waits for the
// resume it cuts (the server's simulateDisconnectSignalTimeout).
const simulateOnResumeWindow = 5 * time.Second

func (p *Participant) handleSimulate(s *lkpb.SimulateScenario) {
	switch s.GetScenario().(type) {
	case *lkpb.SimulateScenario_NodeFailure:
		p.log.Info("simulating node failure")
		p.close(lkpb.DisconnectReason_SERVER_SHUTDOWN, false)
	case *lkpb.SimulateScenario_Migration:
		p.log.Info("simulating migration")
		p.close(lkpb.DisconnectReason_MIGRATION, false)
	case *lkpb.SimulateScenario_ServerLeave:
		p.log.Info("simulating server leave")
		p.close(lkpb.DisconnectReason_SERVER_SHUTDOWN, true)
	case *lkpb.SimulateScenario_DisconnectSignalOnResume:
		p.log.Info("simulating disconnect signal on resume")
		p.mu.Lock()
		p.dropResumeUntil = time.Now().Add(simulateOnResumeWindow)
		p.mu.Unlock()
	case *lkpb.SimulateScenario_SpeakerUpdate:
		p.log.Info("simulating speaker update", "seconds", s.GetSpeakerUpdate())
		if r := p.room.Load(); r != nil {
			r.simulateSpeaking(p, time.Duration(s.GetSpeakerUpdate())*time.Second)
		}
	}
}

// takeDropResume reports whether this resume's WebSocket is to be closed
// after its answer (disconnect_signal_on_resume); it clears the request.
func (p *Participant) takeDropResume() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := p.dropResumeUntil
	p.dropResumeUntil = time.Time{}
	return !until.IsZero() && time.Now().Before(until)
}
