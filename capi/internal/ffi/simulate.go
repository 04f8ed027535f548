package ffi

import (
	"context"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
)

// coreScenario converts the schema's scenario (false: unspecified or unknown).
func coreScenario(s ffipb.SimulateScenario) (room.Scenario, bool) {
	switch s {
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_SIGNAL_RECONNECT:
		return room.ScenarioSignalReconnect, true
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_FULL_RECONNECT:
		return room.ScenarioFullReconnect, true
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_NODE_FAILURE:
		return room.ScenarioNodeFailure, true
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_MIGRATION:
		return room.ScenarioMigration, true
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_SERVER_LEAVE:
		return room.ScenarioServerLeave, true
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_DISCONNECT_SIGNAL_ON_RESUME:
		return room.ScenarioDisconnectSignalOnResume, true
	case ffipb.SimulateScenario_SIMULATE_SCENARIO_SPEAKER_UPDATE:
		return room.ScenarioSpeakerUpdate, true
	}
	return 0, false
}

// simulateScenario handles SimulateScenarioRequest (ASYNC, ABI 1.27).
func (c *Client) simulateScenario(k *call, m *ffipb.SimulateScenarioRequest) error {
	s, ok := coreScenario(m.GetScenario())
	if !ok {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "simulate_scenario: unknown scenario %d", int32(m.GetScenario()))
	}
	_, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		return nil, fromCore(rm.SimulateScenario(ctx, s))
	})
}
