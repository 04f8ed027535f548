package datatrack

import (
	"fmt"

	"github.com/lkcore/lkcore/core/lkpb"
)

// ValidateSchema checks typed-track metadata the way the Rust SDK does before publishing
// (docs/protocol.md, Typed tracks). Custom identifiers' lengths are left to the server, whose
// limit is configurable. The returned error wraps ErrInvalidSchema.
func ValidateSchema(fe *lkpb.DataTrackFrameEncoding, schema *lkpb.DataTrackSchemaId) error {
	if fe == nil {
		if schema != nil {
			return fmt.Errorf("%w: schema given without frame encoding", ErrInvalidSchema)
		}
		return nil
	}
	wk, ok := fe.GetValue().(*lkpb.DataTrackFrameEncoding_WellKnown)
	if !ok {
		return nil // custom ("other") frame encoding: cannot be judged
	}
	type F = lkpb.DataTrackFrameEncoding_WellKnownFrameEncoding
	type S = lkpb.DataTrackSchemaEncoding_WellKnownSchemaEncoding
	var described []S
	switch wk.WellKnown {
	case lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_ROS1:
		described = []S{lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS1_MSG}
	case lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CDR:
		described = []S{lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS2_MSG,
			lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS2_IDL,
			lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_OMG_IDL}
	case lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_PROTOBUF:
		described = []S{lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_PROTOBUF}
	case lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_FLATBUFFER:
		described = []S{lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_FLATBUFFER}
	case lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_JSON:
		described = []S{lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_JSON_SCHEMA}
	case lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CBOR,
		lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_MSGPACK:
		described = nil // self-describing
	default:
		return nil // unspecified or unknown value: "other", cannot be judged
	}
	selfDescribing := wk.WellKnown == F(lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CBOR) ||
		wk.WellKnown == lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_MSGPACK ||
		wk.WellKnown == lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_JSON
	if schema == nil {
		if selfDescribing {
			return nil
		}
		return fmt.Errorf("%w: frame encoding %v needs a schema id", ErrInvalidSchema, wk.WellKnown)
	}
	if swk, ok := schema.GetEncoding().GetValue().(*lkpb.DataTrackSchemaEncoding_WellKnown); ok {
		for _, d := range described {
			if swk.WellKnown == d {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: schema encoding does not describe frame encoding %v", ErrInvalidSchema, wk.WellKnown)
}
