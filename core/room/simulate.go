package room

import (
	"context"
	"fmt"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Simulated connection faults (Room.SimulateScenario), for testing how an
// application behaves when the connection breaks, against any LiveKit server.
// The local scenarios close the signalling WebSocket from our side, with the
// closing handshake, and the room then does exactly what it does when a real
// connection breaks; the server scenarios ask the server (SignalRequest.simulate,
// as the official clients do) to do what it does when it fails a participant.

// Scenario is a connection fault Room.SimulateScenario simulates.
type Scenario int

const (
	// ScenarioSignalReconnect closes the signalling connection: the room
	// resumes its session (Reconnecting{Resume}, then Reconnected).
	ScenarioSignalReconnect Scenario = iota + 1
	// ScenarioFullReconnect closes the signalling connection and makes the
	// next attempt a full reconnect: a new session (Reconnecting{Full}, then
	// Reconnected; local data tracks are published again).
	ScenarioFullReconnect
	// ScenarioNodeFailure asks the server to drop the participant as a failed
	// media node would, without a leave: the room's resume is refused, and a
	// full reconnect follows (Reconnecting{Resume}, Reconnecting{Full},
	// Reconnected).
	ScenarioNodeFailure
	// ScenarioMigration asks the server to drop the participant as a
	// migration to another node does (livekit-server 1.13 handles it as a
	// node failure).
	ScenarioMigration
	// ScenarioServerLeave asks the server to remove the participant with a
	// leave: the room ends (Disconnected, reason SERVER_SHUTDOWN).
	ScenarioServerLeave
	// ScenarioDisconnectSignalOnResume asks the server to drop the
	// signalling connection of the next resume, then closes it as
	// ScenarioSignalReconnect does: the first resume fails after the server's
	// answer, and the room tries again (a resume; the server drops only one).
	ScenarioDisconnectSignalOnResume
	// ScenarioSpeakerUpdate asks the server to report the local participant
	// speaking, at level 0.9, for speakerUpdateSeconds, then stopped — to this
	// participant and to those subscribed to its tracks (livekit-client JS's
	// "speaker"): SpeakingChanged and ActiveSpeakersChanged when it starts and
	// when it ends, for testing how an application shows speakers. It breaks
	// no connection.
	ScenarioSpeakerUpdate
)

// speakerUpdateSeconds is how long ScenarioSpeakerUpdate reports the
// participant speaking (the official clients ask for 3 s).
const speakerUpdateSeconds = 3

// simulateCloseGrace bounds how long a local scenario waits for the server's
// answer to our close frame before the connection is cut.
const simulateCloseGrace = time.Second

// String returns the scenario's name ("signal-reconnect", ...; the names
// livekit-client JS uses).
func (s Scenario) String() string {
	switch s {
	case ScenarioSignalReconnect:
		return "signal-reconnect"
	case ScenarioFullReconnect:
		return "full-reconnect"
	case ScenarioNodeFailure:
		return "node-failure"
	case ScenarioMigration:
		return "migration"
	case ScenarioServerLeave:
		return "server-leave"
	case ScenarioDisconnectSignalOnResume:
		return "disconnect-signal-on-resume"
	case ScenarioSpeakerUpdate:
		return "speaker"
	}
	return fmt.Sprintf("Scenario(%d)", int(s))
}

// request is what the scenario asks of the server (nil: nothing).
func (s Scenario) request() *lkpb.SignalRequest {
	var sc lkpb.SimulateScenario
	switch s {
	case ScenarioNodeFailure:
		sc.Scenario = &lkpb.SimulateScenario_NodeFailure{NodeFailure: true}
	case ScenarioMigration:
		sc.Scenario = &lkpb.SimulateScenario_Migration{Migration: true}
	case ScenarioServerLeave:
		sc.Scenario = &lkpb.SimulateScenario_ServerLeave{ServerLeave: true}
	case ScenarioDisconnectSignalOnResume:
		sc.Scenario = &lkpb.SimulateScenario_DisconnectSignalOnResume{DisconnectSignalOnResume: true}
	case ScenarioSpeakerUpdate:
		sc.Scenario = &lkpb.SimulateScenario_SpeakerUpdate{SpeakerUpdate: speakerUpdateSeconds}
	default:
		return nil
	}
	return &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Simulate{Simulate: &sc}}
}

// closesSignal reports whether the scenario closes the signalling connection locally.
func (s Scenario) closesSignal() bool {
	return s == ScenarioSignalReconnect || s == ScenarioFullReconnect || s == ScenarioDisconnectSignalOnResume
}

// SimulateScenario simulates a connection fault (or, ScenarioSpeakerUpdate,
// the server's speaker reports), to test how the application handles one; it
// returns once the fault is under way, and the room's events tell the rest
// (see each Scenario). With reconnection off
// (Options.MaxReconnectAttempts < 0) a simulated loss ends the room as a real
// one would. Errors: ErrInvalidArgument (an unknown scenario), ErrReconnecting
// (the room is reconnecting, or a simulated loss is already under way),
// ErrDisconnected (not connected, or the room has ended), the signalling
// connection's error when the server's request could not be sent, or ctx's.
func (r *Room) SimulateScenario(ctx context.Context, s Scenario) error {
	if s < ScenarioSignalReconnect || s > ScenarioSpeakerUpdate {
		return fmt.Errorf("%w: unknown scenario %d", ErrInvalidArgument, int(s))
	}
	var err error
	if e := r.runOnLoop(ctx, func() { err = r.simulate(ctx, s) }); e != nil {
		return e
	}
	return err
}

// simulate starts scenario s. Loop only.
func (r *Room) simulate(ctx context.Context, s Scenario) error {
	if r.rc.m.active || r.rc.simulated != 0 {
		return fmt.Errorf("%w: a reconnection is under way", ErrReconnecting)
	}
	if !r.signalLive() {
		return ErrReconnecting
	}
	if req := s.request(); req != nil {
		if err := r.sess.sig.Send(ctx, req); err != nil {
			return fmt.Errorf("room: simulate %s: %w", s, err)
		}
	}
	if s.closesSignal() {
		if s == ScenarioFullReconnect {
			r.rc.m.requestFull()
		}
		// The close frame follows the request above, so the server reads
		// both; until the server's answer closes the connection, requests
		// are held as during a reconnection (signalLive is false).
		r.rc.simulated = s
		r.sess.sig.CloseGracefully(simulateCloseGrace)
	}
	return nil
}
