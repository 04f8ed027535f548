package devsfu

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/core/lkpb"
)

func schemaKey(name string, enc *lkpb.DataTrackSchemaEncoding) *lkpb.DataBlobKey {
	return &lkpb.DataBlobKey{Key: &lkpb.DataBlobKey_SchemaId{SchemaId: &lkpb.DataTrackSchemaId{Name: name, Encoding: enc}}}
}

func storeBlob(c *testClient, id uint32, key *lkpb.DataBlobKey, contents []byte) *lkpb.SignalResponse {
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_StoreDataBlobRequest{StoreDataBlobRequest: &lkpb.StoreDataBlobRequest{
		RequestId: id, Blob: &lkpb.DataBlob{Key: key, Contents: contents}}}})
	return c.wait("store answer", func(m *lkpb.SignalResponse) bool {
		return m.GetStoreDataBlobResponse().GetRequestId() == id || m.GetRequestResponse().GetRequestId() == id
	})
}

func getBlob(c *testClient, id uint32, identity string, key *lkpb.DataBlobKey) *lkpb.SignalResponse {
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_GetDataBlobRequest{GetDataBlobRequest: &lkpb.GetDataBlobRequest{
		RequestId: id, ParticipantIdentity: identity, Key: key}}})
	return c.wait("get answer", func(m *lkpb.SignalResponse) bool {
		return m.GetGetDataBlobResponse().GetRequestId() == id || m.GetRequestResponse().GetRequestId() == id
	})
}

func refused(t *testing.T, what string, m *lkpb.SignalResponse, reason lkpb.RequestResponse_Reason) {
	t.Helper()
	if m.GetRequestResponse() == nil || m.GetRequestResponse().GetReason() != reason {
		t.Fatalf("%s: want request_response %v, got %v", what, reason, m)
	}
}

// TestDataBlobs: as livekit-server with enable_participant_data_blob, a participant stores a
// schema definition and anyone in the room reads it back by the owner's identity; storing again
// replaces it; the server's checks refuse what it refuses, with the request's id; a new session
// of the owner starts without its blobs.
func TestDataBlobs(t *testing.T) {
	s := startServer(t, Options{EnableDataBlobs: true})
	pub, sub := dialPair(t, s, "blobs", "pub", "sub")

	json := &lkpb.DataTrackSchemaEncoding{Value: &lkpb.DataTrackSchemaEncoding_WellKnown{WellKnown: lkpb.DataTrackSchemaEncoding_WELL_KNOWN_SCHEMA_ENCODING_JSON_SCHEMA}}
	key := schemaKey("pose", json)
	m := storeBlob(pub, 7, key, []byte(`{"type":"object"}`))
	if r := m.GetStoreDataBlobResponse(); r == nil || r.GetKey().GetSchemaId().GetName() != "pose" {
		t.Fatalf("store: %v", m)
	}
	m = getBlob(sub, 3, "pub", schemaKey("pose", json))
	if b := m.GetGetDataBlobResponse().GetBlob(); !bytes.Equal(b.GetContents(), []byte(`{"type":"object"}`)) || b.GetKey().GetSchemaId().GetName() != "pose" {
		t.Fatalf("get: %v", m)
	}
	// The same name with another encoding is another key.
	refused(t, "other encoding", getBlob(sub, 4, "pub", schemaKey("pose", nil)), lkpb.RequestResponse_NOT_FOUND)
	refused(t, "unknown owner", getBlob(sub, 5, "nobody", key), lkpb.RequestResponse_NOT_FOUND)
	refused(t, "no key", getBlob(sub, 6, "pub", nil), lkpb.RequestResponse_INVALID_REQUEST)
	// Stored again: replaced.
	storeBlob(pub, 8, key, []byte("v2"))
	if b := getBlob(sub, 9, "pub", key).GetGetDataBlobResponse().GetBlob(); string(b.GetContents()) != "v2" {
		t.Fatalf("replaced blob reads %q", b.GetContents())
	}

	refused(t, "empty contents", storeBlob(pub, 10, schemaKey("e", nil), nil), lkpb.RequestResponse_INVALID_REQUEST)
	refused(t, "no key", storeBlob(pub, 11, nil, []byte("x")), lkpb.RequestResponse_INVALID_REQUEST)
	refused(t, "long key", storeBlob(pub, 12, schemaKey(strings.Repeat("n", 300), nil), []byte("x")), lkpb.RequestResponse_INVALID_REQUEST)
	custom := &lkpb.DataTrackSchemaEncoding{Value: &lkpb.DataTrackSchemaEncoding_Custom{Custom: strings.Repeat("c", 33)}}
	refused(t, "long custom encoding", storeBlob(pub, 13, schemaKey("c", custom), []byte("x")), lkpb.RequestResponse_INVALID_REQUEST)
	// The owner's blobs together: at most 64 000 bytes.
	if m := storeBlob(pub, 14, schemaKey("big", nil), make([]byte, 60000)); m.GetStoreDataBlobResponse() == nil {
		t.Fatalf("60 000 bytes refused: %v", m)
	}
	refused(t, "over the total", storeBlob(pub, 15, schemaKey("more", nil), make([]byte, 4000)), lkpb.RequestResponse_LIMIT_EXCEEDED)

	// A new session of the owner has no blobs.
	pub.close()
	pub2 := dial(t, s, "blobs", "pub", clientOpts{})
	defer pub2.close()
	pub2.waitServerReady(s)
	refused(t, "after a new session", getBlob(sub, 16, "pub", key), lkpb.RequestResponse_NOT_FOUND)
}

// TestDataBlobsDisabled: without EnableDataBlobs (livekit-server's default) a store is refused
// with NOT_ALLOWED.
func TestDataBlobsDisabled(t *testing.T) {
	s := startServer(t, Options{})
	pub := dial(t, s, "blobs", "pub", clientOpts{})
	defer pub.close()
	pub.waitServerReady(s)
	refused(t, "disabled", storeBlob(pub, 1, schemaKey("pose", nil), []byte("x")), lkpb.RequestResponse_NOT_ALLOWED)
}
