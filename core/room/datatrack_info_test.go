package room

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Frame and schema encodings cross the API as names; well-known names map onto livekit's
// enums (case-insensitive) and back in lower case, anything else is custom.
func TestDataTrackEncodingNames(t *testing.T) {
	for name := range wellKnownFrameEncodings {
		fe := frameEncodingProto(name)
		if _, ok := fe.GetValue().(*lkpb.DataTrackFrameEncoding_WellKnown); !ok || frameEncodingName(fe) != name {
			t.Errorf("frame encoding %q: %v -> %q", name, fe, frameEncodingName(fe))
		}
	}
	if fe := frameEncodingProto("JSON"); frameEncodingName(fe) != "json" {
		t.Errorf("well-known names are case-insensitive: %v", fe)
	}
	if fe := frameEncodingProto("my/enc"); fe.GetCustom() != "my/enc" || frameEncodingName(fe) != "my/enc" {
		t.Errorf("custom frame encoding: %v", fe)
	}
	if frameEncodingProto("") != nil || schemaProto(nil) != nil || schemaFrom(nil) != nil {
		t.Error("empty values must stay absent")
	}
	for name := range wellKnownSchemaEncodings {
		in := &DataTrackSchema{Name: "s", Encoding: name}
		if out := schemaFrom(schemaProto(in)); *out != *in {
			t.Errorf("schema %+v -> %+v", in, out)
		}
	}
	custom := &DataTrackSchema{Name: "s", Encoding: "x-enc"}
	if id := schemaProto(custom); id.GetEncoding().GetCustom() != "x-enc" || *schemaFrom(id) != *custom {
		t.Errorf("custom schema encoding: %v", id)
	}
	// No encoding: the well-known "unspecified" on the wire, byte for byte what the Rust SDK
	// sends for its Other (name = field 1; encoding = field 2 holding well_known = field 1,
	// value 0, present because it is a oneof member), so that a definition stored under one
	// form is found under the other; it reads back as "".
	none := schemaProto(&DataTrackSchema{Name: "x"})
	if b, _ := proto.Marshal(none); !bytes.Equal(b, []byte{0x0a, 0x01, 'x', 0x12, 0x02, 0x08, 0x00}) || schemaFrom(none).Encoding != "" {
		t.Errorf("schema without encoding: % x", b)
	}
	rustOther := &lkpb.DataTrackSchemaId{Name: "x", Encoding: &lkpb.DataTrackSchemaEncoding{Value: &lkpb.DataTrackSchemaEncoding_WellKnown{}}}
	if !proto.Equal(none, rustOther) {
		t.Errorf("%v is not the Rust SDK's %v", none, rustOther)
	}
	info := dataTrackInfoFrom(datatrack.TrackInfo{Sid: "DTR_1", Name: "n", Handle: 3, Encrypted: true, PublisherIdentity: "p",
		FrameEncoding: frameEncodingProto("cbor"), Schema: &lkpb.DataTrackSchemaId{Name: "s"}})
	want := DataTrackInfo{SID: "DTR_1", Name: "n", Handle: 3, Encrypted: true, PublisherIdentity: "p", FrameEncoding: "cbor", Schema: &DataTrackSchema{Name: "s"}}
	if info.Schema == nil || *info.Schema != *want.Schema {
		t.Fatalf("schema %+v", info.Schema)
	}
	info.Schema, want.Schema = nil, nil
	if info != want {
		t.Fatalf("info %+v", info)
	}
}
