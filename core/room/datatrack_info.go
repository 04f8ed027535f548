package room

import (
	"strings"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/lkpb"
)

// DataTrackInfo describes a data track.
type DataTrackInfo struct {
	// SID is the server-assigned track SID ("DTR_…"); it changes when the
	// track is republished after a full reconnect.
	SID string
	// Name is the publisher-chosen track name, unique per publisher.
	Name string
	// Handle is the publisher handle, stable across republish.
	Handle uint16
	// Encrypted reports end-to-end encryption.
	Encrypted bool
	// PublisherIdentity is the publishing participant's identity.
	PublisherIdentity string
	// FrameEncoding is the typed-track frame encoding (docs/protocol.md,
	// Typed tracks): a well-known name ("ros1", "cdr", "protobuf",
	// "flatbuffer", "cbor", "msgpack", "json") or a custom one; "" for an
	// untyped track.
	FrameEncoding string
	// Schema is the typed-track schema id; nil for none.
	Schema *DataTrackSchema
}

// DataTrackSchema names the schema of a typed track's frames.
type DataTrackSchema struct {
	// Name is the schema name (non-empty, at most 256 characters).
	Name string
	// Encoding is a well-known schema encoding ("protobuf", "flatbuffer",
	// "ros1_msg", "ros2_msg", "ros2_idl", "omg_idl", "json_schema"), a
	// custom one, or "" (sent as the well-known "unspecified", as the Rust
	// SDK sends its Other; a well-known encoding this version does not know
	// reads as "" too).
	Encoding string
}

// Well-known frame encodings by name (livekit's enum suffix, lower case).
var wellKnownFrameEncodings = map[string]lkpb.DataTrackFrameEncoding_WellKnownFrameEncoding{
	"ros1":       lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_ROS1,
	"cdr":        lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CDR,
	"protobuf":   lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_PROTOBUF,
	"flatbuffer": lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_FLATBUFFER,
	"cbor":       lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_CBOR,
	"msgpack":    lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_MSGPACK,
	"json":       lkpb.DataTrackFrameEncoding_WELL_KNOWN_FRAME_ENCODING_JSON,
}

// Well-known schema encodings by name.
var wellKnownSchemaEncodings = map[string]lkpb.DataTrackSchemaEncoding_WellKnownSchemaEncoding{
	"protobuf":    lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_PROTOBUF,
	"flatbuffer":  lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_FLATBUFFER,
	"ros1_msg":    lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS1_MSG,
	"ros2_msg":    lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS2_MSG,
	"ros2_idl":    lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_ROS2_IDL,
	"omg_idl":     lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_OMG_IDL,
	"json_schema": lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_JSON_SCHEMA,
}

// frameEncodingProto converts a frame encoding name (case-insensitive for
// the well-known ones); nil for "".
func frameEncodingProto(s string) *lkpb.DataTrackFrameEncoding {
	if s == "" {
		return nil
	}
	if wk, ok := wellKnownFrameEncodings[strings.ToLower(s)]; ok {
		return &lkpb.DataTrackFrameEncoding{Value: &lkpb.DataTrackFrameEncoding_WellKnown{WellKnown: wk}}
	}
	return &lkpb.DataTrackFrameEncoding{Value: &lkpb.DataTrackFrameEncoding_Custom{Custom: s}}
}

func schemaProto(s *DataTrackSchema) *lkpb.DataTrackSchemaId {
	if s == nil {
		return nil
	}
	// No encoding is sent as the well-known "unspecified" one, as the Rust SDK sends its Other:
	// a schema's definition is stored under the id's exact form, so a definition one of them
	// stores must be found under the id the other builds.
	wk := lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_UNSPECIFIED
	if s.Encoding != "" {
		var ok bool
		if wk, ok = wellKnownSchemaEncodings[strings.ToLower(s.Encoding)]; !ok {
			return &lkpb.DataTrackSchemaId{Name: s.Name, Encoding: &lkpb.DataTrackSchemaEncoding{
				Value: &lkpb.DataTrackSchemaEncoding_Custom{Custom: s.Encoding}}}
		}
	}
	return &lkpb.DataTrackSchemaId{Name: s.Name, Encoding: &lkpb.DataTrackSchemaEncoding{
		Value: &lkpb.DataTrackSchemaEncoding_WellKnown{WellKnown: wk}}}
}

func frameEncodingName(fe *lkpb.DataTrackFrameEncoding) string {
	switch v := fe.GetValue().(type) {
	case *lkpb.DataTrackFrameEncoding_Custom:
		return v.Custom
	case *lkpb.DataTrackFrameEncoding_WellKnown:
		for k, wk := range wellKnownFrameEncodings {
			if wk == v.WellKnown {
				return k
			}
		}
	}
	return ""
}

func schemaFrom(id *lkpb.DataTrackSchemaId) *DataTrackSchema {
	if id == nil {
		return nil
	}
	s := &DataTrackSchema{Name: id.GetName()}
	switch v := id.GetEncoding().GetValue().(type) {
	case *lkpb.DataTrackSchemaEncoding_Custom:
		s.Encoding = v.Custom
	case *lkpb.DataTrackSchemaEncoding_WellKnown:
		for k, wk := range wellKnownSchemaEncodings {
			if wk == v.WellKnown {
				s.Encoding = k
			}
		}
	}
	return s
}

func dataTrackInfoFrom(i datatrack.TrackInfo) DataTrackInfo {
	return DataTrackInfo{SID: i.Sid, Name: i.Name, Handle: i.Handle, Encrypted: i.Encrypted,
		PublisherIdentity: i.PublisherIdentity, FrameEncoding: frameEncodingName(i.FrameEncoding), Schema: schemaFrom(i.Schema)}
}
