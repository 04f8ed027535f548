package ffi

import (
	"context"
	"fmt"
	"time"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/core/room"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Request decodes one encoded ffipb.Request, handles it and returns the encoded
// ffipb.Response with its error code (OK when Response.error is unset). It never panics:
// every failure (undecodable bytes, unknown kind, bad handle, closed client, a bug) becomes
// Response.error. req may point into host memory: it is decoded (copied) and not retained.
func (c *Client) Request(req []byte) ([]byte, ffipb.ErrorCode) {
	resp := c.handleRequest(req)
	out, err := proto.Marshal(resp)
	if err != nil {
		resp = &ffipb.Response{
			RequestId: resp.RequestId,
			Error:     &ffipb.Error{Code: ffipb.ErrorCode_ERROR_CODE_INTERNAL, Message: "cannot encode response"},
		}
		out, _ = proto.Marshal(resp)
	}
	return out, resp.GetError().GetCode()
}

// ErrorResponse returns an encoded Response carrying only err and its code (used by the cgo
// shell when it cannot reach a client, e.g. an unknown client id).
func ErrorResponse(err error) ([]byte, ffipb.ErrorCode) {
	e := ToProto(err)
	out, _ := proto.Marshal(&ffipb.Response{Error: e})
	return out, e.GetCode()
}

func (c *Client) handleRequest(b []byte) (resp *ffipb.Response) {
	resp = &ffipb.Response{}
	defer func() {
		if r := recover(); r != nil {
			c.recoverGoroutineValue("request handler", r)
			resp.Message = nil
			resp.Error = &ffipb.Error{Code: ffipb.ErrorCode_ERROR_CODE_INTERNAL, Message: "internal error (panic recovered)"}
		}
	}()
	if len(b) > MaxRequestSize {
		resp.Error = ToProto(Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "request of %d bytes exceeds the %d byte limit", len(b), MaxRequestSize))
		return resp
	}
	req := new(ffipb.Request)
	if err := proto.Unmarshal(b, req); err != nil {
		// The decoder's message describes the wire problem, never the content.
		resp.Error = ToProto(Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "malformed request: %v", err))
		return resp
	}
	if name, ok := wrongWireType(req.ProtoReflect()); ok {
		// proto.Unmarshal keeps a known field sent with another wire type as an unknown field;
		// the request is malformed all the same.
		resp.Error = ToProto(Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "malformed request: field %s has the wrong wire type", name))
		return resp
	}
	resp.RequestId = req.RequestId
	if c.closed.Load() {
		resp.Error = ToProto(ErrClientClosed)
		return resp
	}
	if c.testHookRequest != nil {
		c.testHookRequest(req)
	}
	if err := c.route(req, resp); err != nil {
		resp.Message = nil
		resp.Error = ToProto(err)
	}
	return resp
}

// route dispatches a decoded request to its handler. Handlers fill resp.Message or return
// an error.
func (c *Client) route(req *ffipb.Request, resp *ffipb.Response) error {
	switch m := req.Message.(type) {
	case nil:
		if hasUnknownKind(req) {
			return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "request kind unknown to this library (schema %s, ABI %d.%d)", Schema, ABIVersionMajor, ABIVersionMinor)
		}
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "request names no operation")

	case *ffipb.Request_Echo:
		return c.echo(req, m.Echo, resp)
	case *ffipb.Request_Cancel:
		if m.Cancel.GetTargetRequestId() == 0 {
			return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "cancel needs target_request_id")
		}
		if err := c.CancelOp(m.Cancel.GetTargetRequestId()); err != nil {
			return err
		}
		resp.Message = &ffipb.Response_Cancel{Cancel: &ffipb.CancelResponse{}}
		return nil
	case *ffipb.Request_SetLogLevel:
		if err := c.SetLogLevel(m.SetLogLevel.GetLevel()); err != nil {
			return err
		}
		resp.Message = &ffipb.Response_SetLogLevel{SetLogLevel: &ffipb.SetLogLevelResponse{}}
		return nil
	case *ffipb.Request_GetVersion:
		resp.Message = &ffipb.Response_GetVersion{GetVersion: &ffipb.GetVersionResponse{
			AbiVersion: ABIVersion, Schema: Schema, LibraryVersion: LibraryVersion(),
		}}
		return nil
	case *ffipb.Request_GrantCredits:
		return c.grantCredits(m.GrantCredits, resp)
	case *ffipb.Request_SetEventNotifyFd:
		return c.setEventNotifyFd(m.SetEventNotifyFd, resp)
	case *ffipb.Request_CreateRoom:
		return c.createRoom(m.CreateRoom, resp)
	case *ffipb.Request_PushDataTrackFrame:
		p := m.PushDataTrackFrame
		if err := c.PushFrame(p.GetTrackHandle(), p.GetPayload(), p.GetUserTimestamp(), p.UserTimestamp != nil); err != nil {
			return err
		}
		resp.Message = &ffipb.Response_PushDataTrackFrame{PushDataTrackFrame: &ffipb.PushDataTrackFrameResponse{}}
		return nil

	case *ffipb.Request_Connect:
		return c.connect(req, m.Connect)
	case *ffipb.Request_Disconnect:
		return c.disconnect(req, m.Disconnect)
	case *ffipb.Request_GetRoomSnapshot:
		return c.getRoomSnapshot(m.GetRoomSnapshot, resp)
	case *ffipb.Request_PublishData:
		return c.publishData(req, m.PublishData)
	case *ffipb.Request_SetLocalMetadata:
		md := m.SetLocalMetadata.GetMetadata()
		return c.setLocal(req, m.SetLocalMetadata.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetMetadata(ctx, md)
		})
	case *ffipb.Request_SetLocalName:
		name := m.SetLocalName.GetName()
		return c.setLocal(req, m.SetLocalName.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetName(ctx, name)
		})
	case *ffipb.Request_SetLocalAttributes:
		attrs := m.SetLocalAttributes.GetAttributes()
		return c.setLocal(req, m.SetLocalAttributes.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetAttributes(ctx, attrs)
		})

	// Not wired to the core yet: they validate what they can and answer UNIMPLEMENTED (a
	// typed error, never a crash).
	case *ffipb.Request_SetSharedKey:
		return c.setSharedKey(m.SetSharedKey, resp)
	case *ffipb.Request_PublishDataTrack:
		return c.publishDataTrack(req, m.PublishDataTrack)
	case *ffipb.Request_UnpublishDataTrack:
		return c.unpublishDataTrack(m.UnpublishDataTrack, resp)
	case *ffipb.Request_DataTrackIsPublished:
		return c.dataTrackIsPublished(m.DataTrackIsPublished, resp)
	case *ffipb.Request_SubscribeDataTrack:
		return c.subscribeDataTrack(m.SubscribeDataTrack, resp)
	case *ffipb.Request_FlushDataTrack:
		return c.flushDataTrack(req, m.FlushDataTrack)
	case *ffipb.Request_PushDataTrackFrameWait:
		return c.pushWait(req, m.PushDataTrackFrameWait)
	case *ffipb.Request_GetDataTrackStats:
		return c.dataTrackStats(m.GetDataTrackStats, resp)
	case *ffipb.Request_WaitDataTrackSubscribed:
		return c.waitSubscribed(req, m.WaitDataTrackSubscribed)
	case *ffipb.Request_GetE2EeStats:
		return c.e2eeStats(m.GetE2EeStats, resp)
	case *ffipb.Request_PerformRpc:
		return c.performRPC(req, m.PerformRpc)
	case *ffipb.Request_RegisterRpcMethod:
		return c.registerRPCMethod(m.RegisterRpcMethod, resp)
	case *ffipb.Request_UnregisterRpcMethod:
		return c.unregisterRPCMethod(m.UnregisterRpcMethod, resp)
	case *ffipb.Request_RespondRpc:
		return c.respondRPC(m.RespondRpc, resp)
	case *ffipb.Request_SendText:
		return c.sendText(req, m.SendText)
	case *ffipb.Request_SendBytes:
		return c.sendBytes(req, m.SendBytes)
	case *ffipb.Request_SendFile:
		return c.sendFile(req, m.SendFile)
	case *ffipb.Request_OpenTextWriter:
		return c.openWriter(req, m.OpenTextWriter.GetRoomHandle(), true, m.OpenTextWriter.GetOptions(), nil)
	case *ffipb.Request_OpenByteWriter:
		return c.openWriter(req, m.OpenByteWriter.GetRoomHandle(), false, nil, m.OpenByteWriter.GetOptions())
	case *ffipb.Request_WriteStream:
		return c.writeStream(req, m.WriteStream)
	case *ffipb.Request_CloseStreamWriter:
		return c.closeStreamWriter(req, m.CloseStreamWriter)
	case *ffipb.Request_RegisterStreamHandler:
		return c.registerStreamHandler(m.RegisterStreamHandler, resp)
	case *ffipb.Request_UnregisterStreamHandler:
		return c.unregisterStreamHandler(m.UnregisterStreamHandler, resp)
	}
	return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "request kind %T is not implemented", req.Message)
}

// hasUnknownKind reports whether req carries a message-typed field this schema does not
// define: a request kind added by a newer schema version (as opposed to a known field sent
// with the wrong wire type, which is malformed).
func hasUnknownKind(req *ffipb.Request) bool {
	fields := req.ProtoReflect().Descriptor().Fields()
	b := req.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		if typ == protowire.BytesType && fields.ByNumber(num) == nil {
			return true
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
	}
	return false
}

// wrongWireType reports the first field of m (or of a message nested in it) that arrived with a
// wire type its declaration does not allow: proto.Unmarshal keeps such a field among the
// unknown fields, under a number the schema defines.
func wrongWireType(m protoreflect.Message) (protoreflect.FullName, bool) {
	fields := m.Descriptor().Fields()
	for b := m.GetUnknown(); len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		if fd := fields.ByNumber(num); fd != nil {
			return fd.FullName(), true
		}
		v := protowire.ConsumeFieldValue(num, typ, b[n:])
		if v < 0 {
			return "", false
		}
		b = b[n+v:]
	}
	var name protoreflect.FullName
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				name, found = wrongWireType(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				name, found = wrongWireType(mv.Message())
				return !found
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			name, found = wrongWireType(v.Message())
		}
		return !found
	})
	return name, found
}

// handleFieldKinds maps the handle-reference field names used by requests to the kind of
// handle they must name (read-only).
var handleFieldKinds = map[protoreflect.Name]Kind{
	"room_handle":   KindRoom,
	"track_handle":  KindLocalDataTrack,
	"writer_handle": KindStreamWriter,
}

// notYet validates the request_id of ASYNC requests and every handle field of m, then
// answers UNIMPLEMENTED.
func (c *Client) notYet(req *ffipb.Request, async bool, m proto.Message) error {
	if async && req.RequestId == 0 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "an asynchronous request needs a non-zero request_id")
	}
	if m == nil {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "request body missing")
	}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		kind, ok := handleFieldKinds[f.Name()]
		if !ok || f.Kind() != protoreflect.Uint64Kind {
			continue
		}
		if _, err := c.handles.Get(r.Get(f).Uint(), kind); err != nil {
			return err
		}
	}
	return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "%s is not implemented yet", r.Descriptor().Name())
}

func (c *Client) echo(req *ffipb.Request, m *ffipb.EchoRequest, resp *ffipb.Response) error {
	if !m.GetAsync() {
		resp.Message = &ffipb.Response_Echo{Echo: &ffipb.EchoResponse{Payload: m.GetPayload()}}
		return nil
	}
	payload := m.GetPayload()
	delay := time.Duration(m.GetDelayMs()) * time.Millisecond
	return c.StartOp(req.RequestId, time.Duration(req.TimeoutMs)*time.Millisecond, func(ctx context.Context) (*ffipb.Completion, error) {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &ffipb.Completion{Result: &ffipb.Completion_Echo{Echo: &ffipb.EchoResponse{Payload: payload}}}, nil
	})
}

func (c *Client) grantCredits(m *ffipb.GrantCreditsRequest, resp *ffipb.Response) error {
	kind, err := c.handles.Kind(m.GetHandle())
	if err != nil {
		return err
	}
	obj, err := c.handles.Get(m.GetHandle(), kind)
	if err != nil {
		return err
	}
	g, ok := obj.(CreditGranter)
	if !ok {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_WRONG_HANDLE_TYPE, "a %s does not take credits", kind)
	}
	avail, err := g.GrantCredits(m.GetCredits())
	if err != nil {
		return err
	}
	resp.Message = &ffipb.Response_GrantCredits{GrantCredits: &ffipb.GrantCreditsResponse{AvailableCredits: avail}}
	return nil
}

// String helps debugging; it never prints request contents.
func (c *Client) String() string { return fmt.Sprintf("ffi.Client(%d)", c.id) }
