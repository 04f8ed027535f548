package ffi

import (
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestWrongWireTypeNamedKind: a request that names a kind but carries a known field with the
// wrong wire type (top level or nested) is INVALID_REQUEST, not run with the field ignored.
func TestWrongWireTypeNamedKind(t *testing.T) {
	c := newTestClient(t, nextClientID.Add(1), nil)
	echo := func(inner []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 10, protowire.BytesType), inner)
	}
	okEcho := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("x"))
	idVarint := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7)
	idBytes := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("not a varint"))
	payloadVarint := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5)
	for name, c2 := range map[string]struct {
		b    []byte
		want ffipb.ErrorCode
	}{
		"valid":                    {append(append([]byte{}, idVarint...), echo(okEcho)...), ffipb.ErrorCode_ERROR_CODE_OK},
		"request_id as bytes":      {append(append([]byte{}, idBytes...), echo(okEcho)...), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		"echo.payload as a varint": {append(append([]byte{}, idVarint...), echo(payloadVarint)...), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		"kind as a varint":         {protowire.AppendVarint(protowire.AppendTag(nil, 10, protowire.VarintType), 1), ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST},
	} {
		out, code := c.Request(c2.b)
		if resp := decodeResp(t, out); code != c2.want || resp.GetError().GetCode() != c2.want {
			t.Errorf("%s: %v (%v), want %v", name, code, resp.GetError(), c2.want)
		}
	}
}
