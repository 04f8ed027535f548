package room

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/datatrack"
	"github.com/lkcore/lkcore/core/internal/signal"
	"github.com/lkcore/lkcore/core/lkpb"
)

// Schema definitions (docs/protocol.md, Typed tracks): the publisher of a
// typed data track stores the definition of its schema on the server (a
// data blob keyed by the schema id: StoreDataBlobRequest), and a subscriber
// fetches it by the publisher's identity (GetDataBlobRequest). Both answer
// with their own message or, on failure, a request_response, matched by
// request_id. The server keeps the blobs with the publisher's session: after
// a full reconnect the room stores every definition it stored before again,
// before its tracks are published again. A request in flight when the
// connection breaks is sent again once the room has reconnected (storing
// and reading are idempotent).

// MaxSchemaDefinitionSize is the largest definition DefineSchema takes, in
// bytes: the protocol's limit for a data blob (50 KB). A LiveKit server
// also bounds the definitions of one participant together (64 000 bytes by
// default, keys included) and refuses more with RequestLimitExceeded.
const MaxSchemaDefinitionSize = 50_000

// maxDefinedSchemaBytes bounds the definitions a room keeps to store again
// after a full reconnect (names, encodings and definitions together).
const maxDefinedSchemaBytes = 1 << 20

// definedSchema is a definition the server confirmed (or one being stored).
type definedSchema struct {
	id         *lkpb.DataTrackSchemaId
	key        string // the schema's name and encoding, as the id reads back (normalised)
	definition string
}

// newDefinedSchema keeps definition under id. The key is what identifies a
// schema: its name and encoding (the same name with another encoding is
// another schema).
func newDefinedSchema(id *lkpb.DataTrackSchemaId, definition string) *definedSchema {
	s := schemaFrom(id)
	return &definedSchema{id: id, key: s.Name + "\x00" + s.Encoding, definition: definition}
}

// size counts the name, the encoding and the definition.
func (d *definedSchema) size() int { return len(d.key) - 1 + len(d.definition) }

// blobRequest is a StoreDataBlobRequest or GetDataBlobRequest waiting for
// its answer. Loop-owned.
type blobRequest struct {
	msg    *lkpb.SignalRequest
	define *definedSchema  // a DefineSchema's definition, kept once stored
	done   chan blobAnswer // buffered(1), receives exactly once
}

type blobAnswer struct {
	blob *lkpb.DataBlob
	err  error
}

// schemaState is the room's loop-owned state of schema definitions.
type schemaState struct {
	defined   map[string]*definedSchema // by key: stored, kept for a full reconnect
	bytes     int                       // size of defined
	requests  map[uint32]*blobRequest   // by request_id
	restoring map[uint32]string         // request_id → schema name of a definition stored again
}

// DefineSchema stores the definition of a data-track schema on the server,
// under the schema's name and encoding, so that subscribers of the local
// participant's typed tracks can fetch it with GetSchema; define it before
// publishing a track that names it. A definition stored again under the same
// schema replaces the previous one (as a LiveKit server does). The room
// keeps what it stored and stores it again after a full reconnect (the
// server forgets it with the old session). It returns once the server has
// stored it, bounded by ctx (5 s when ctx has no earlier deadline).
//
// Errors: ErrInvalidArgument (an empty, non-UTF-8 or longer than 256 bytes
// schema name, a non-UTF-8 encoding, an empty or non-UTF-8 definition, one
// larger than MaxSchemaDefinitionSize); datatrack.ErrLimitReached when the
// definitions the room keeps would exceed 1 MiB together; the server's
// refusal as *RequestError: RequestNotAllowed (a LiveKit server stores
// definitions only with enable_participant_data_blob), RequestInvalidRequest
// (e.g. a custom encoding longer than the server allows),
// RequestLimitExceeded (the participant's definitions together are too
// large for the server); ErrDisconnected; ctx's error.
func (lp *LocalParticipant) DefineSchema(ctx context.Context, schema DataTrackSchema, definition string) error {
	if err := checkSchemaID(schema); err != nil {
		return err
	}
	if err := checkText("schema definition", definition, MaxSchemaDefinitionSize); err != nil {
		return err
	}
	id := schemaProto(&schema)
	msg := &lkpb.SignalRequest{Message: &lkpb.SignalRequest_StoreDataBlobRequest{StoreDataBlobRequest: &lkpb.StoreDataBlobRequest{
		Blob: &lkpb.DataBlob{Key: schemaBlobKey(id), Contents: []byte(definition)}}}}
	_, err := lp.room.blobRequest(ctx, &blobRequest{msg: msg, define: newDefinedSchema(id, definition)})
	return err
}

// GetSchema fetches the definition that the participant with the given
// identity stored for a schema (DefineSchema, or another SDK's
// define_schema). It can be the local participant's own identity. Bounded by
// ctx (5 s when ctx has no earlier deadline).
//
// Errors: ErrInvalidArgument (an empty or non-UTF-8 identity, an invalid
// schema id as for DefineSchema); ErrSignalRequestTooLarge (an identity
// longer than the 2 MiB a LiveKit server reads); *RequestError with RequestNotFound (no
// participant of that identity in the room, or no definition for that
// schema: the name and the encoding must both match); datatrack.
// ErrInvalidResponse (the stored definition is not UTF-8, which lkcore and
// the official SDKs never store); ErrDisconnected; ctx's error.
func (lp *LocalParticipant) GetSchema(ctx context.Context, identity string, schema DataTrackSchema) (string, error) {
	if err := checkSchemaID(schema); err != nil {
		return "", err
	}
	if identity == "" || !utf8.ValidString(identity) {
		return "", fmt.Errorf("%w: the participant identity is empty or not UTF-8", ErrInvalidArgument)
	}
	msg := &lkpb.SignalRequest{Message: &lkpb.SignalRequest_GetDataBlobRequest{GetDataBlobRequest: &lkpb.GetDataBlobRequest{
		ParticipantIdentity: identity, Key: schemaBlobKey(schemaProto(&schema))}}}
	blob, err := lp.room.blobRequest(ctx, &blobRequest{msg: msg})
	if err != nil {
		return "", err
	}
	if !utf8.Valid(blob.GetContents()) {
		return "", fmt.Errorf("%w: the definition of schema %q stored by %q is not UTF-8", datatrack.ErrInvalidResponse, schema.Name, identity)
	}
	return string(blob.GetContents()), nil
}

func checkSchemaID(s DataTrackSchema) error {
	if err := checkText("schema name", s.Name, 256); err != nil {
		return err
	}
	if !utf8.ValidString(s.Encoding) {
		return fmt.Errorf("%w: the schema encoding is not UTF-8", ErrInvalidArgument)
	}
	return nil
}

func schemaBlobKey(id *lkpb.DataTrackSchemaId) *lkpb.DataBlobKey {
	return &lkpb.DataBlobKey{Key: &lkpb.DataBlobKey_SchemaId{SchemaId: id}}
}

// blobRequest sends a data-blob request with the next request id and waits
// for its answer.
func (r *Room) blobRequest(ctx context.Context, br *blobRequest) (*lkpb.DataBlob, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	br.done = make(chan blobAnswer, 1)
	var id uint32
	var startErr error
	if err := r.runOnLoop(ctx, func() { id, startErr = r.startBlobRequest(ctx, br) }); err != nil {
		return nil, err
	}
	if startErr != nil {
		return nil, startErr
	}
	select {
	case a := <-br.done:
		return a.blob, a.err
	case <-ctx.Done():
		_ = r.runOnLoop(context.Background(), func() { delete(r.schemas.requests, id) })
		return nil, ctx.Err()
	}
}

// startBlobRequest numbers br, sends it and keeps it until its answer. Loop only.
func (r *Room) startBlobRequest(ctx context.Context, br *blobRequest) (uint32, error) {
	s := &r.schemas
	if err := signal.CheckRequestSize(br.msg); err != nil {
		return 0, err // it could never be sent (a huge identity)
	}
	if d := br.define; d != nil && s.bytesWith(d) > maxDefinedSchemaBytes {
		return 0, fmt.Errorf("%w: the room's schema definitions would exceed %d bytes together", datatrack.ErrLimitReached, maxDefinedSchemaBytes)
	}
	r.nextRequestID++
	id := r.nextRequestID
	setBlobRequestID(br.msg, id)
	if s.requests == nil {
		s.requests = make(map[uint32]*blobRequest)
	}
	// While the room reconnects the request waits; it is sent once the room
	// has reconnected (blobRequestsAfterReconnect), as is one whose sending
	// fails because the connection is breaking.
	if !r.rc.m.active && r.signalLive() {
		// Bounded: the loop waits for the write (the caller's deadline may be far).
		sendCtx, cancel := context.WithTimeout(ctx, signal.DefaultWriteTimeout)
		defer cancel()
		if err := r.sess.sig.Send(sendCtx, br.msg); err != nil {
			r.log.Debug("room: sending a data-blob request failed", "err", err)
		}
	}
	s.requests[id] = br
	return id, nil
}

func setBlobRequestID(msg *lkpb.SignalRequest, id uint32) {
	switch m := msg.GetMessage().(type) {
	case *lkpb.SignalRequest_StoreDataBlobRequest:
		m.StoreDataBlobRequest.RequestId = id
	case *lkpb.SignalRequest_GetDataBlobRequest:
		m.GetDataBlobRequest.RequestId = id
	}
}

// bytesWith is the size of the kept definitions with d added (replacing the
// one of the same schema) and with every definition being stored.
func (s *schemaState) bytesWith(d *definedSchema) int {
	n := s.bytes + d.size()
	if old := s.defined[d.key]; old != nil {
		n -= old.size()
	}
	for _, br := range s.requests {
		if br.define != nil {
			n += br.define.size()
		}
	}
	return n
}

func (s *schemaState) keep(d *definedSchema) {
	if s.defined == nil {
		s.defined = make(map[string]*definedSchema)
	}
	if old := s.defined[d.key]; old != nil {
		s.bytes -= old.size()
	}
	s.defined[d.key] = d
	s.bytes += d.size()
}

// blobAnswered handles a StoreDataBlobResponse or GetDataBlobResponse. Loop only.
func (r *Room) blobAnswered(id uint32, blob *lkpb.DataBlob) {
	s := &r.schemas
	if name, ok := s.restoring[id]; ok {
		delete(s.restoring, id)
		r.log.Debug("room: schema definition stored again", "schema", name)
		return
	}
	br := s.requests[id]
	if br == nil {
		return // given up on, or an answer to a request sent twice
	}
	delete(s.requests, id)
	switch {
	case br.define != nil:
		s.keep(br.define)
	case blob == nil: // a store's answer to a read
		br.done <- blobAnswer{err: fmt.Errorf("%w: a read of a schema definition answered without one", datatrack.ErrInvalidResponse)}
		return
	}
	br.done <- blobAnswer{blob: blob}
}

// blobRefused handles a request_response: the refusal of a data-blob
// request with its id, if it is one. Loop only.
func (r *Room) blobRefused(resp *lkpb.RequestResponse) {
	s := &r.schemas
	id := resp.GetRequestId()
	if name, ok := s.restoring[id]; ok {
		delete(s.restoring, id)
		if resp.GetReason() != lkpb.RequestResponse_OK {
			r.log.Warn("room: storing a schema definition again after a full reconnect failed",
				"schema", name, "reason", resp.GetReason().String(), "message", resp.GetMessage())
		}
		return
	}
	br := s.requests[id]
	if br == nil || resp.GetReason() == lkpb.RequestResponse_OK {
		return
	}
	delete(s.requests, id)
	br.done <- blobAnswer{err: &RequestError{Reason: RequestReason(resp.GetReason()), Message: resp.GetMessage()}}
}

// blobRequestsAfterReconnect runs once the room has reconnected: after a
// full reconnect it stores the kept definitions again (except those being
// stored anew), then it sends every request still waiting for its answer
// again — its answer may have been lost with the old connection. Loop only.
func (r *Room) blobRequestsAfterReconnect(full bool) {
	s := &r.schemas
	send := func(msg *lkpb.SignalRequest) {
		ctx, cancel := context.WithTimeout(context.Background(), signal.DefaultWriteTimeout)
		defer cancel()
		if err := r.sess.sig.Send(ctx, msg); err != nil {
			r.log.Debug("room: sending a data-blob request failed", "err", err)
		}
	}
	if full {
		clear(s.restoring)
		being := map[string]bool{}
		for _, br := range s.requests {
			if br.define != nil {
				being[br.define.key] = true
			}
		}
		for k, d := range s.defined {
			if being[k] {
				continue
			}
			r.nextRequestID++
			if s.restoring == nil {
				s.restoring = make(map[uint32]string)
			}
			s.restoring[r.nextRequestID] = d.id.GetName()
			send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_StoreDataBlobRequest{StoreDataBlobRequest: &lkpb.StoreDataBlobRequest{
				RequestId: r.nextRequestID, Blob: &lkpb.DataBlob{Key: schemaBlobKey(d.id), Contents: []byte(d.definition)}}}})
		}
	}
	for _, br := range s.requests {
		send(br.msg)
	}
}

// failBlobRequests fails the waiting requests when the room ends. Loop only.
func (r *Room) failBlobRequests() {
	for id, br := range r.schemas.requests {
		br.done <- blobAnswer{err: ErrDisconnected}
		delete(r.schemas.requests, id)
	}
}
