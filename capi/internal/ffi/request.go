package ffi

import (
	"context"
	"fmt"
	"reflect"
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
	// One allocation for the response and the call that fills it.
	st := &struct {
		resp ffipb.Response
		k    call
	}{}
	resp = &st.resp
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
		msg := fmt.Sprintf("malformed request: %v", err)
		if c.failUndecodableRPCAnswer(b) {
			msg += "; the RPC caller was answered with an application error (1500)"
		}
		resp.Error = ToProto(Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "%s", msg))
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
	st.k = call{c: c, req: req, resp: resp}
	if err := c.route(&st.k); err != nil {
		resp.Message = nil
		resp.Error = ToProto(err)
	}
	return resp
}

// route dispatches a decoded request through the handler table. It enforces the request
// kind's declared mode (the (request_mode) option of its Request field): an ASYNC request needs
// a non-zero request_id, and its handler must start exactly one operation and set no
// synchronous result; a synchronous handler cannot start one.
func (c *Client) route(k *call) error {
	req := k.req
	if req.Message == nil {
		if hasUnknownKind(req) {
			return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "request kind unknown to this library (schema %s, ABI %d.%d)", Schema, ABIVersionMajor, ABIVersionMinor)
		}
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "request names no operation")
	}
	rt, ok := routes[reflect.TypeOf(req.Message)]
	if !ok {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_UNIMPLEMENTED, "request kind %T is not implemented", req.Message)
	}
	return c.runHandler(rt.kind, rt.h, k)
}

// route is one request kind as the router sees it: its Request field and its handler.
type route struct {
	kind protoreflect.FieldDescriptor
	h    handler
}

// routes maps the Go type of each Request.message member to its route (read-only; one type
// lookup per request instead of reflecting on the oneof). A kind without a handler has no
// route and is answered UNIMPLEMENTED (a test requires a handler for every kind).
var routes = func() map[reflect.Type]route {
	fields := requestKinds.Fields()
	out := make(map[reflect.Type]route, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		h, ok := requestHandlers[fd.Name()]
		if !ok {
			continue
		}
		req := &ffipb.Request{}
		m := req.ProtoReflect()
		m.Set(fd, m.NewField(fd))
		out[reflect.TypeOf(req.Message)] = route{kind: fd, h: h}
	}
	return out
}()

// runHandler runs h for k's request (of the kind fd) and enforces the kind's declared mode.
func (c *Client) runHandler(fd protoreflect.FieldDescriptor, h handler, k *call) error {
	req, resp := k.req, k.resp
	k.async = isAsync(fd, req)
	if k.async && req.RequestId == 0 {
		return errNeedRequestID
	}
	if err := h(k); err != nil {
		return err
	}
	switch {
	case k.async && !k.started:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "%s is declared ASYNC but started no operation", fd.Name())
	case k.async && resp.Message != nil:
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "%s is declared ASYNC but answered synchronously", fd.Name())
	}
	return nil
}

// errNeedRequestID answers an ASYNC request without a request_id.
var errNeedRequestID = Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "an asynchronous request needs a non-zero request_id")

// requestKinds is the Request.message oneof (read-only).
var requestKinds = (&ffipb.Request{}).ProtoReflect().Descriptor().Oneofs().ByName("message")

// requestModes holds the (request_mode) option of every Request field, read once from the
// schema's descriptors (read-only).
var requestModes = func() map[protoreflect.Name]ffipb.RequestMode {
	fields := requestKinds.Fields()
	out := make(map[protoreflect.Name]ffipb.RequestMode, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		out[fd.Name()] = proto.GetExtension(fd.Options(), ffipb.E_RequestMode).(ffipb.RequestMode)
	}
	return out
}()

// requestMode returns the mode a Request field declares with its (request_mode) option.
func requestMode(fd protoreflect.FieldDescriptor) ffipb.RequestMode {
	return requestModes[fd.Name()]
}

// isAsync reports whether req, of the kind fd, completes by an Event.completion:
// REQUEST_MODE_ASYNC, or REQUEST_MODE_ASYNC_IF_FLAGGED with the body's `async` field true.
func isAsync(fd protoreflect.FieldDescriptor, req *ffipb.Request) bool {
	switch requestMode(fd) {
	case ffipb.RequestMode_REQUEST_MODE_ASYNC:
		return true
	case ffipb.RequestMode_REQUEST_MODE_ASYNC_IF_FLAGGED:
		// The body's `async` field, read without reflection for the kinds that have one.
		if m, ok := req.Message.(*ffipb.Request_Echo); ok {
			return m.Echo.GetAsync()
		}
		body, ok := req.ProtoReflect().Get(fd).Message().Interface().(interface{ GetAsync() bool })
		return ok && body.GetAsync()
	}
	return false
}

// call is one request being handled: the decoded request, the response to fill and, for an
// ASYNC request, the one way to start its operation.
type call struct {
	c       *Client
	req     *ffipb.Request
	resp    *ffipb.Response
	async   bool // the kind's declared mode for this request
	started bool
}

// handler handles one request kind. A synchronous handler sets resp.Message (or leaves it
// unset when success carries no data); an ASYNC handler validates what it can synchronously
// and then calls start (or startThen) exactly once.
type handler func(k *call) error

// timeout is Request.timeout_ms (0 = none).
func (k *call) timeout() time.Duration { return time.Duration(k.req.TimeoutMs) * time.Millisecond }

// start starts the request's operation under its request_id, bounded by its timeout_ms (see
// Client.StartOp). Only an ASYNC request may start one, and only once.
func (k *call) start(run OpFunc) error { return k.startThen(run, nil) }

// startThen is start with a continuation (see Client.startOp).
func (k *call) startThen(run OpFunc, after func(delivered, ok bool)) error {
	if !k.async || k.started {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INTERNAL, "a request that is not ASYNC (or already started) tried to start an operation")
	}
	if err := k.c.startOp(k.req.RequestId, k.timeout(), run, after); err != nil {
		return err
	}
	k.started = true
	return nil
}

// requestHandlers maps every field of Request.message to its handler (read-only; a test
// checks that every request kind of the schema has one).
var requestHandlers = map[protoreflect.Name]handler{
	// Client and diagnostics.
	"echo":   func(k *call) error { return k.c.echo(k, k.req.GetEcho()) },
	"cancel": func(k *call) error { return k.c.cancelRequest(k.req.GetCancel(), k.resp) },
	"set_log_level": func(k *call) error {
		if err := k.c.SetLogLevel(k.req.GetSetLogLevel().GetLevel()); err != nil {
			return err
		}
		k.resp.Message = &ffipb.Response_SetLogLevel{SetLogLevel: &ffipb.SetLogLevelResponse{}}
		return nil
	},
	"get_version": func(k *call) error {
		k.resp.Message = &ffipb.Response_GetVersion{GetVersion: &ffipb.GetVersionResponse{
			AbiVersion: ABIVersion, Schema: Schema, LibraryVersion: LibraryVersion(),
		}}
		return nil
	},
	"get_client_stats": func(k *call) error {
		gc, limit := runtimeSettings()
		k.resp.Message = &ffipb.Response_GetClientStats{GetClientStats: &ffipb.GetClientStatsResponse{
			LiveHandles: clampUint32(k.c.handles.Len()),
			GcPercent:   gc, MemoryLimitBytes: limit,
		}}
		return nil
	},
	"grant_credits": func(k *call) error { return k.c.grantCredits(k.req.GetGrantCredits(), k.resp) },
	"set_data_track_delivery": func(k *call) error {
		return k.c.setDataTrackDelivery(k.req.GetSetDataTrackDelivery(), k.resp)
	},
	"set_event_notify_fd": func(k *call) error { return k.c.setEventNotifyFd(k.req.GetSetEventNotifyFd(), k.resp) },

	// Rooms and participants.
	"create_room":       func(k *call) error { return k.c.createRoom(k.req.GetCreateRoom(), k.resp) },
	"connect":           func(k *call) error { return k.c.connect(k, k.req.GetConnect()) },
	"disconnect":        func(k *call) error { return k.c.disconnect(k, k.req.GetDisconnect()) },
	"get_room_snapshot": func(k *call) error { return k.c.getRoomSnapshot(k.req.GetGetRoomSnapshot(), k.resp) },
	"request_room_snapshot": func(k *call) error {
		return k.c.requestRoomSnapshot(k.req.GetRequestRoomSnapshot())
	},
	"publish_data":      func(k *call) error { return k.c.publishData(k, k.req.GetPublishData()) },
	"publish_sip_dtmf":  func(k *call) error { return k.c.publishSipDtmf(k, k.req.GetPublishSipDtmf()) },
	"send_chat_message": func(k *call) error { return k.c.sendChatMessage(k, k.req.GetSendChatMessage()) },
	"edit_chat_message": func(k *call) error { return k.c.editChatMessage(k, k.req.GetEditChatMessage()) },
	"publish_transcription": func(k *call) error {
		return k.c.publishTranscription(k, k.req.GetPublishTranscription())
	},
	"set_local_metadata": func(k *call) error {
		md := k.req.GetSetLocalMetadata().GetMetadata()
		return k.c.setLocal(k, k.req.GetSetLocalMetadata().GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetMetadata(ctx, md)
		})
	},
	"set_local_name": func(k *call) error {
		name := k.req.GetSetLocalName().GetName()
		return k.c.setLocal(k, k.req.GetSetLocalName().GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetName(ctx, name)
		})
	},
	"set_local_attributes": func(k *call) error {
		attrs := k.req.GetSetLocalAttributes().GetAttributes()
		return k.c.setLocal(k, k.req.GetSetLocalAttributes().GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetAttributes(ctx, attrs)
		})
	},
	"set_track_subscription_permissions": func(k *call) error {
		m := k.req.GetSetTrackSubscriptionPermissions()
		all, perms := m.GetAllParticipants(), trackPermissions(m.GetPermissions())
		return k.c.setLocal(k, m.GetRoomHandle(), func(ctx context.Context, lp *room.LocalParticipant) error {
			return lp.SetTrackSubscriptionPermissions(ctx, all, perms)
		})
	},
	"set_shared_key": func(k *call) error { return k.c.setSharedKey(k.req.GetSetSharedKey(), k.resp) },
	"get_e2ee_stats": func(k *call) error { return k.c.e2eeStats(k.req.GetGetE2EeStats(), k.resp) },
	"get_connection_stats": func(k *call) error {
		return k.c.connectionStats(k.req.GetGetConnectionStats(), k.resp)
	},
	"simulate_scenario": func(k *call) error { return k.c.simulateScenario(k, k.req.GetSimulateScenario()) },

	// Data tracks.
	"publish_data_track":      func(k *call) error { return k.c.publishDataTrack(k, k.req.GetPublishDataTrack()) },
	"unpublish_data_track":    func(k *call) error { return k.c.unpublishDataTrack(k.req.GetUnpublishDataTrack(), k.resp) },
	"data_track_is_published": func(k *call) error { return k.c.dataTrackIsPublished(k.req.GetDataTrackIsPublished(), k.resp) },
	"push_data_track_frame": func(k *call) error {
		p := k.req.GetPushDataTrackFrame()
		if err := k.c.PushFrame(p.GetTrackHandle(), p.GetPayload(), p.GetUserTimestamp(), p.UserTimestamp != nil); err != nil {
			return err
		}
		k.resp.Message = &ffipb.Response_PushDataTrackFrame{PushDataTrackFrame: &ffipb.PushDataTrackFrameResponse{}}
		return nil
	},
	"subscribe_data_track":       func(k *call) error { return k.c.subscribeDataTrack(k.req.GetSubscribeDataTrack(), k.resp) },
	"flush_data_track":           func(k *call) error { return k.c.flushDataTrack(k, k.req.GetFlushDataTrack()) },
	"push_data_track_frame_wait": func(k *call) error { return k.c.pushWait(k, k.req.GetPushDataTrackFrameWait()) },
	"get_data_track_stats":       func(k *call) error { return k.c.dataTrackStats(k.req.GetGetDataTrackStats(), k.resp) },
	"wait_data_track_subscribed": func(k *call) error { return k.c.waitSubscribed(k, k.req.GetWaitDataTrackSubscribed()) },
	"get_data_track_subscription_end": func(k *call) error {
		return k.c.subscriptionEnd(k.req.GetGetDataTrackSubscriptionEnd(), k.resp)
	},
	"define_data_track_schema": func(k *call) error {
		return k.c.defineDataTrackSchema(k, k.req.GetDefineDataTrackSchema())
	},
	"get_data_track_schema": func(k *call) error { return k.c.getDataTrackSchema(k, k.req.GetGetDataTrackSchema()) },

	// RPC.
	"perform_rpc":           func(k *call) error { return k.c.performRPC(k, k.req.GetPerformRpc()) },
	"register_rpc_method":   func(k *call) error { return k.c.registerRPCMethod(k.req.GetRegisterRpcMethod(), k.resp) },
	"unregister_rpc_method": func(k *call) error { return k.c.unregisterRPCMethod(k.req.GetUnregisterRpcMethod(), k.resp) },
	"respond_rpc":           func(k *call) error { return k.c.respondRPC(k.req.GetRespondRpc(), k.resp) },

	// Data streams.
	"send_text":  func(k *call) error { return k.c.sendText(k, k.req.GetSendText()) },
	"send_bytes": func(k *call) error { return k.c.sendBytes(k, k.req.GetSendBytes()) },
	"send_file":  func(k *call) error { return k.c.sendFile(k, k.req.GetSendFile()) },
	"open_text_writer": func(k *call) error {
		m := k.req.GetOpenTextWriter()
		return k.c.openWriter(k, m.GetRoomHandle(), true, m.GetOptions(), nil)
	},
	"open_byte_writer": func(k *call) error {
		m := k.req.GetOpenByteWriter()
		return k.c.openWriter(k, m.GetRoomHandle(), false, nil, m.GetOptions())
	},
	"write_stream":              func(k *call) error { return k.c.writeStream(k, k.req.GetWriteStream()) },
	"close_stream_writer":       func(k *call) error { return k.c.closeStreamWriter(k, k.req.GetCloseStreamWriter()) },
	"register_stream_handler":   func(k *call) error { return k.c.registerStreamHandler(k.req.GetRegisterStreamHandler(), k.resp) },
	"unregister_stream_handler": func(k *call) error { return k.c.unregisterStreamHandler(k.req.GetUnregisterStreamHandler(), k.resp) },
}

// hasUnknownKind reports whether req carries a message-typed field this schema does not
// define: a request kind added by a newer schema version (as opposed to a known field sent
// with the wrong wire type, which is malformed).
func hasUnknownKind(req *ffipb.Request) bool {
	fields := req.ProtoReflect().Descriptor().Fields()
	for f := range wireFields(req.ProtoReflect().GetUnknown()) {
		if f.typ == protowire.BytesType && fields.ByNumber(f.num) == nil {
			return true
		}
	}
	return false
}

// wrongWireType reports the first field of m (or of a message nested in it) that arrived with a
// wire type its declaration does not allow: proto.Unmarshal keeps such a field among the
// unknown fields, under a number the schema defines.
func wrongWireType(m protoreflect.Message) (protoreflect.FullName, bool) {
	fields := m.Descriptor().Fields()
	for f := range wireFields(m.GetUnknown()) {
		if fd := fields.ByNumber(f.num); fd != nil {
			return fd.FullName(), true
		}
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

// echo handles EchoRequest: synchronous, or ASYNC when echo.async is set (the router
// resolves the mode from the flag).
func (c *Client) echo(k *call, m *ffipb.EchoRequest) error {
	if !k.async {
		k.resp.Message = &ffipb.Response_Echo{Echo: &ffipb.EchoResponse{Payload: m.GetPayload()}}
		return nil
	}
	payload := m.GetPayload()
	delay := time.Duration(m.GetDelayMs()) * time.Millisecond
	return k.start(func(ctx context.Context) (*ffipb.Completion, error) {
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

// cancelRequest handles CancelRequest.
func (c *Client) cancelRequest(m *ffipb.CancelRequest, resp *ffipb.Response) error {
	if m.GetTargetRequestId() == 0 {
		return Errorf(ffipb.ErrorCode_ERROR_CODE_INVALID_REQUEST, "cancel needs target_request_id")
	}
	if err := c.CancelOp(m.GetTargetRequestId()); err != nil {
		return err
	}
	resp.Message = &ffipb.Response_Cancel{Cancel: &ffipb.CancelResponse{}}
	return nil
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
