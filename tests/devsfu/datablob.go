package devsfu

import (
	"github.com/lkcore/lkcore/core/lkpb"
)

// Data blobs (livekit-server v1.13.5's participant data blobs, behind its
// enable_participant_data_blob setting, off by default): a participant
// stores small blobs under a key — in practice the definitions of its data
// tracks' schemas (DataBlobKey.schema_id) — and any participant of the room
// reads them back by the owner's identity. The blobs belong to the owner's
// session: a resume keeps them, a new session (a full reconnect, a leave)
// starts without any.
//
// The server's checks, in its order: disabled → NOT_ALLOWED; no key, an
// empty key or a key whose text form is longer than 256 bytes →
// INVALID_REQUEST; a custom schema encoding that is empty or longer than 32
// bytes → INVALID_REQUEST; empty contents → INVALID_REQUEST; the owner's
// blobs (text form of each key plus its contents, the stored ones and the
// new one, a replaced one counted twice as the server does) beyond 64 000
// bytes → LIMIT_EXCEEDED. Success: StoreDataBlobResponse{request_id, key}; a
// blob stored again under the same key replaces the previous one. A read:
// no key → INVALID_REQUEST; no participant of that identity in the room, or
// no blob under that key → NOT_FOUND; else GetDataBlobResponse{request_id,
// blob}. Errors are request_response with the request's id.

const (
	maxDataBlobKeyLength = 256
	maxDataBlobsSize     = 64000
)

// dataBlobKey is the map key of a blob: the key's text form, as the server
// keys its map (and measures keys).
func dataBlobKey(k *lkpb.DataBlobKey) string { return k.String() }

func (p *Participant) handleStoreDataBlob(req *lkpb.StoreDataBlobRequest) {
	if p.s.opts.DisableDataTracks {
		return
	}
	fail := func(reason lkpb.RequestResponse_Reason, msg string) { p.refuseRequest(req.GetRequestId(), reason, msg) }
	if !p.s.opts.EnableDataBlobs {
		fail(lkpb.RequestResponse_NOT_ALLOWED, "data blob not enabled")
		return
	}
	blob := req.GetBlob()
	if blob.GetKey() == nil || dataBlobKey(blob.GetKey()) == "" || len(dataBlobKey(blob.GetKey())) > maxDataBlobKeyLength {
		fail(lkpb.RequestResponse_INVALID_REQUEST, "data blob is invalid")
		return
	}
	if c, ok := blob.GetKey().GetSchemaId().GetEncoding().GetValue().(*lkpb.DataTrackSchemaEncoding_Custom); ok && customTooLong(c.Custom) {
		fail(lkpb.RequestResponse_INVALID_REQUEST, "encoding identifier is empty or exceeds the maximum length")
		return
	}
	if len(blob.GetContents()) == 0 {
		fail(lkpb.RequestResponse_INVALID_REQUEST, "data blob is empty")
		return
	}
	key := dataBlobKey(blob.GetKey())
	p.mu.Lock()
	total := len(key) + len(blob.GetContents())
	for k, b := range p.blobs {
		total += len(k) + len(b.GetContents())
	}
	if total > maxDataBlobsSize {
		p.mu.Unlock()
		fail(lkpb.RequestResponse_LIMIT_EXCEEDED, "async attribute definition exceeds limit")
		return
	}
	if p.blobs == nil {
		p.blobs = make(map[string]*lkpb.DataBlob)
	}
	p.blobs[key] = &lkpb.DataBlob{Key: blob.GetKey(), Contents: blob.GetContents()}
	p.mu.Unlock()
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_StoreDataBlobResponse{
		StoreDataBlobResponse: &lkpb.StoreDataBlobResponse{RequestId: req.GetRequestId(), Key: blob.GetKey()}}})
}

func (p *Participant) handleGetDataBlob(req *lkpb.GetDataBlobRequest) {
	if p.s.opts.DisableDataTracks {
		return
	}
	fail := func(reason lkpb.RequestResponse_Reason, msg string) { p.refuseRequest(req.GetRequestId(), reason, msg) }
	if req.GetKey() == nil {
		fail(lkpb.RequestResponse_INVALID_REQUEST, "data blob key is required")
		return
	}
	owner := p.rm().participant(req.GetParticipantIdentity())
	if owner == nil {
		fail(lkpb.RequestResponse_NOT_FOUND, "participant not found")
		return
	}
	owner.mu.Lock()
	blob := owner.blobs[dataBlobKey(req.GetKey())]
	owner.mu.Unlock()
	if blob == nil {
		fail(lkpb.RequestResponse_NOT_FOUND, "data blob not found")
		return
	}
	p.sendSignal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_GetDataBlobResponse{
		GetDataBlobResponse: &lkpb.GetDataBlobResponse{RequestId: req.GetRequestId(), Blob: blob}}})
}

// refuseRequest answers the request with id with a request_response.
func (p *Participant) refuseRequest(id uint32, reason lkpb.RequestResponse_Reason, msg string) {
	p.sendRequestResponse(&lkpb.RequestResponse{RequestId: id, Reason: reason, Message: msg})
}
