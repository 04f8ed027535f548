package ffi

import (
	"context"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
)

// Data-track schema definitions (ABI 1.23): DefineDataTrackSchemaRequest and
// GetDataTrackSchemaRequest map to LocalParticipant.DefineSchema and GetSchema; the core checks
// the arguments, keeps the definitions for a full reconnect and types the server's refusals.

// defineDataTrackSchema handles DefineDataTrackSchemaRequest (ASYNC, no result).
func (c *Client) defineDataTrackSchema(k *call, m *ffipb.DefineDataTrackSchemaRequest) error {
	schema := room.DataTrackSchema{Name: m.GetSchemaName(), Encoding: m.GetSchemaEncoding()}
	definition := m.GetDefinition()
	return c.setLocal(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
		return lp.DefineSchema(ctx, schema, definition)
	})
}

// getDataTrackSchema handles GetDataTrackSchemaRequest (ASYNC, GetDataTrackSchemaResult).
func (c *Client) getDataTrackSchema(k *call, m *ffipb.GetDataTrackSchemaRequest) error {
	_, rm, err := c.connectedRoom(m.GetRoomHandle())
	if err != nil {
		return err
	}
	schema := room.DataTrackSchema{Name: m.GetSchemaName(), Encoding: m.GetSchemaEncoding()}
	identity := m.GetParticipantIdentity()
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
		def, err := rm.LocalParticipant().GetSchema(ctx, identity, schema)
		if err != nil {
			return nil, fromCore(err)
		}
		return &ffipb.Completion{Result: &ffipb.Completion_GetDataTrackSchema{
			GetDataTrackSchema: &ffipb.GetDataTrackSchemaResult{Definition: def}}}, nil
	})
}
