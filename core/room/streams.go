package room

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/lkcore/lkcore/core/datastream"
	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/lkcore/lkcore/core/rpc"
)

// dataAPI owns the room's data-stream and RPC managers (core/datastream,
// core/rpc). It is created by New and closed when the room ends. Both managers are sans-room: they see the room only through
// streamTransport.
type dataAPI struct {
	ds  *datastream.Manager
	rpc *rpc.Manager
	t   *streamTransport
}

// newDataAPI creates the managers of r (New).
func newDataAPI(r *Room) (*dataAPI, error) {
	t := &streamTransport{r: r, maxProtocol: r.advertisedClientProtocol()}
	ds := datastream.NewManager(t, datastream.Options{Logger: r.log})
	m, err := rpc.New(t, ds, rpc.Options{Logger: r.log})
	if err != nil {
		_ = ds.Close()
		return nil, err
	}
	d := &dataAPI{ds: ds, rpc: m, t: t}
	if err := d.registerInitial(&r.opts); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// registerInitial installs the handlers given in Options (before the room can
// receive anything).
func (d *dataAPI) registerInitial(o *Options) error {
	for method, h := range o.RPCMethods {
		if err := d.rpc.RegisterMethod(method, h); err != nil {
			return fmt.Errorf("room: Options.RPCMethods[%q]: %w", method, err)
		}
	}
	for topic, h := range o.TextStreamHandlers {
		if err := d.ds.RegisterTextStreamHandler(topic, h); err != nil {
			return fmt.Errorf("room: Options.TextStreamHandlers[%q]: %w", topic, err)
		}
	}
	for topic, h := range o.ByteStreamHandlers {
		if err := d.ds.RegisterByteStreamHandler(topic, h); err != nil {
			return fmt.Errorf("room: Options.ByteStreamHandlers[%q]: %w", topic, err)
		}
	}
	return nil
}

// close stops RPC first (pending calls fail with 1503, handler contexts are
// cancelled), then data streams (open readers fail, handlers are awaited).
// It waits for every handler goroutine: handlers must return once their ctx
// is cancelled or their reader fails.
func (d *dataAPI) close() {
	if d == nil {
		return
	}
	_ = d.rpc.Close()
	_ = d.ds.Close()
}

// sessionsEnded fails, for every ParticipantDisconnected in evs, the RPCs
// pending to that participant (1503) and the streams it was sending
// (ErrAbnormalEnd); for every ParticipantInfoChanged that gave a participant
// a new session, the streams its old session was sending and the RPCs that
// session acknowledged (1503; an RPC not acknowledged yet ends by its own
// timeout: whether the old or the new session got it cannot be told). Room
// loop.
func (d *dataAPI) sessionsEnded(evs []Event) {
	if d == nil {
		return
	}
	for _, ev := range evs {
		switch e := ev.(type) {
		case ParticipantDisconnected:
			id := e.Participant.Identity()
			d.rpc.HandleParticipantDisconnected(id)
			d.ds.HandleParticipantDisconnected(id, e.Participant.SID())
		case ParticipantInfoChanged:
			if e.OldSID != e.Info.SID {
				d.ds.HandleParticipantSessionEnded(e.Info.Identity, e.OldSID)
				d.rpc.HandleParticipantSessionEnded(e.Info.Identity, e.OldSID)
			}
		}
	}
}

// unannouncedSessionsEnded ends what the sessions in gone (reported DISCONNECTED without the
// table holding them: participantTable.applyUpdate) left open. An identity the room still does
// not know after the update is gone altogether: the RPCs pending to it
// fail (1503) and the streams it was sending fail (ErrAbnormalEnd), as when a participant
// leaves. An identity the room knows with another session loses only what the departed
// session is known to have held: the streams its headers were stamped with, and the RPCs it
// acknowledged. Room loop.
func (d *dataAPI) unannouncedSessionsEnded(gone []endedSession) {
	if d == nil {
		return
	}
	for _, g := range gone {
		if !g.stillKnown {
			d.rpc.HandleParticipantDisconnected(g.identity)
			d.ds.HandleParticipantDisconnected(g.identity, g.sid)
		} else {
			d.ds.HandleParticipantSessionEnded(g.identity, g.sid)
			d.rpc.HandleParticipantSessionEnded(g.identity, g.sid)
		}
	}
}

// legacyDataProtocol makes a client advertise ClientProtocol and
// Capabilities instead of clientProtocol/advertisedCapabilities, and treat
// every peer as having at most ClientProtocol: with 0 it behaves on the wire
// like a pre-2.19 JS client (RPC v1 packets, v1 chunked streams); with 2 and
// no capability like a runtime without deflate-raw. Only tests set it (via
// export_*_test.go), to emulate older SDKs end to end.
type legacyDataProtocol struct {
	ClientProtocol int32
	Capabilities   []lkpb.ClientInfo_Capability
}

func (r *Room) advertisedClientProtocol() int32 {
	if l := r.opts.legacyData; l != nil {
		return l.ClientProtocol
	}
	return clientProtocol
}

func (r *Room) advertisedCaps() []lkpb.ClientInfo_Capability {
	if l := r.opts.legacyData; l != nil {
		return l.Capabilities
	}
	return advertisedCapabilities()
}

// handleStreamOrRPCPacket routes a received RPC or data-stream DataPacket to
// its manager. enc is the encryption_type of the EncryptedPacket wrapper the
// value arrived in (NONE for a packet that was not E2EE-wrapped), as the
// protocol requires (docs/protocol.md, End-to-end encryption). Called from
// dispatchPacket (data channel read goroutine, arrival order); it never
// blocks.
func (r *Room) handleStreamOrRPCPacket(pkt *lkpb.DataPacket, enc lkpb.Encryption_Type) {
	d := r.dapi
	if d == nil {
		return
	}
	switch pkt.GetValue().(type) {
	case *lkpb.DataPacket_RpcRequest, *lkpb.DataPacket_RpcAck, *lkpb.DataPacket_RpcResponse:
		d.rpc.HandlePacket(pkt)
	case *lkpb.DataPacket_StreamHeader, *lkpb.DataPacket_StreamChunk, *lkpb.DataPacket_StreamTrailer:
		d.ds.HandlePacketWithEncryption(pkt, enc)
	}
}

// streamTransport is the room as seen by core/datastream and core/rpc
// (datastream.Transport + rpc.ServerVersioner).
type streamTransport struct {
	r *Room
	// maxProtocol caps the client protocol assumed for peers: a client never
	// sends formats newer than it advertises itself (only lower than
	// clientProtocol when a test emulates a legacy client).
	maxProtocol int32
}

var (
	_ datastream.Transport = (*streamTransport)(nil)
	_ rpc.ServerVersioner  = (*streamTransport)(nil)
)

// SendPacket implements datastream.Transport: reliable channel, sequence
// stamped by the room (and E2EE applied there once configured).
func (t *streamTransport) SendPacket(ctx context.Context, pkt *lkpb.DataPacket) error {
	return t.r.sendPacket(ctx, pkt, true)
}

func (t *streamTransport) peer(rp *RemoteParticipant) datastream.PeerInfo {
	info := rp.load() // never mutated once stored: the slice can be shared
	return datastream.PeerInfo{
		Identity:       info.GetIdentity(),
		ClientProtocol: min(info.GetClientProtocol(), t.maxProtocol),
		Capabilities:   info.GetCapabilities(),
	}
}

// RemotePeer implements datastream.Transport from the participant table
// (latest ParticipantInfo: client_protocol and capabilities).
func (t *streamTransport) RemotePeer(identity string) (datastream.PeerInfo, bool) {
	rp := t.r.parts.remote(identity)
	if rp == nil {
		return datastream.PeerInfo{}, false
	}
	return t.peer(rp), true
}

// RemotePeers implements datastream.Transport.
func (t *streamTransport) RemotePeers() []datastream.PeerInfo {
	rps := t.r.parts.list()
	out := make([]datastream.PeerInfo, len(rps))
	for i, rp := range rps {
		out[i] = t.peer(rp)
	}
	return out
}

// LocalIdentity implements datastream.Transport.
func (t *streamTransport) LocalIdentity() string { return t.r.local.Identity() }

// ServerVersion implements rpc.ServerVersioner: the version in the session's
// join (RoomInfo.Server; enables the 1403 check of core/rpc).
func (t *streamTransport) ServerVersion() string {
	t.r.infoMu.RLock()
	defer t.r.infoMu.RUnlock()
	return t.r.serverInfo.GetVersion()
}

// closedErr maps an error of the RPC or data-stream layer that was caused by
// the room going away onto ErrDisconnected, keeping the original error in
// the chain: errors.Is(err, ErrDisconnected) holds, and errors.As still
// finds the *rpc.RpcError (1503) or *datastream.StreamError.
func (r *Room) closedErr(err error) error {
	if err == nil || errors.Is(err, ErrDisconnected) {
		return err
	}
	if errors.Is(err, rpc.ErrClosed) || errors.Is(err, datastream.ErrClosed) ||
		(r.isClosing() && errors.Is(err, datastream.ErrSendFailed)) {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return err
}

// Data streams (docs/protocol.md, Data streams). Errors of the sending
// methods are *datastream.StreamError values (errors.Is with the datastream
// sentinels, e.g. datastream.ErrHeaderTooLarge); once the room has
// disconnected, or when it disconnects during the call, they also match
// ErrDisconnected.

// SendText sends text as one text stream (JS sendText): inline and
// deflate-raw compressed when every recipient supports it, else chunked. It
// returns when the last packet has been handed to the reliable channel.
// opts.SenderIdentity naming another participant is checked first (see
// checkOnBehalf: ErrPublishDataNotAllowed, ErrInvalidArgument).
func (lp *LocalParticipant) SendText(ctx context.Context, text string, opts datastream.SendTextOptions) (datastream.TextStreamInfo, error) {
	if err := lp.checkOnBehalf(opts.SenderIdentity); err != nil {
		return datastream.TextStreamInfo{}, err
	}
	info, err := lp.room.dapi.ds.SendText(ctx, text, opts)
	return info, lp.room.closedErr(err)
}

// SendBytes sends data as one byte stream (JS sendBytes), inline and
// compressed when every recipient supports it.
func (lp *LocalParticipant) SendBytes(ctx context.Context, data []byte, opts datastream.SendBytesOptions) (datastream.ByteStreamInfo, error) {
	info, err := lp.room.dapi.ds.SendBytes(ctx, data, opts)
	return info, lp.room.closedErr(err)
}

// SendFile sends size bytes read from r as one byte stream (JS sendFile):
// never inline, compressed when every recipient can inflate. Reading r is
// interleaved with sending, so r may be large.
func (lp *LocalParticipant) SendFile(ctx context.Context, r io.Reader, size uint64, opts datastream.SendFileOptions) (datastream.ByteStreamInfo, error) {
	info, err := lp.room.dapi.ds.SendFile(ctx, r, size, opts)
	return info, lp.room.closedErr(err)
}

// StreamText opens an incremental text stream and sends its header; write
// to the returned writer and Close it to send the trailer. ctx bounds the
// whole stream. The writer's errors come straight from core/datastream
// (datastream.ErrClosed once the room has disconnected). opts.SenderIdentity
// is checked as SendText's.
func (lp *LocalParticipant) StreamText(ctx context.Context, opts datastream.StreamTextOptions) (*datastream.TextStreamWriter, error) {
	if err := lp.checkOnBehalf(opts.SenderIdentity); err != nil {
		return nil, err
	}
	w, err := lp.room.dapi.ds.StreamText(ctx, opts)
	return w, lp.room.closedErr(err)
}

// checkOnBehalf checks a sender identity an agent gives a text stream or a
// chat message: livekit-server keeps an identity other than the sender's
// own only on a text stream's header or a chat message from an agent (and
// marks them generated), and stamps the sender's own everywhere else — on
// an end-to-end encrypted packet too, whose content it cannot read. So
// another participant's identity is refused with ErrPublishDataNotAllowed
// unless the local participant is an agent, and with ErrInvalidArgument in
// an encrypted room or when it is not UTF-8; "" or the local identity are
// fine.
func (lp *LocalParticipant) checkOnBehalf(sender string) error {
	switch {
	case sender == "" || sender == lp.Identity():
		return nil
	case !utf8.ValidString(sender):
		return fmt.Errorf("%w: sender identity is not UTF-8", ErrInvalidArgument)
	case lp.Kind() != ParticipantAgent:
		return fmt.Errorf("%w: only an agent may send on behalf of another participant (this participant is %v)", ErrPublishDataNotAllowed, lp.Kind())
	case lp.room.e2ee != nil:
		return fmt.Errorf("%w: sending on behalf of another participant is impossible in an end-to-end encrypted room (the server stamps the sender on the encrypted packet)", ErrInvalidArgument)
	}
	return nil
}

// StreamBytes opens an incremental byte stream and sends its header (see
// StreamText).
func (lp *LocalParticipant) StreamBytes(ctx context.Context, opts datastream.StreamBytesOptions) (*datastream.ByteStreamWriter, error) {
	w, err := lp.room.dapi.ds.StreamBytes(ctx, opts)
	return w, lp.room.closedErr(err)
}

// RegisterTextStreamHandler routes incoming text streams with topic to h,
// which runs on its own goroutine per stream with a reader and the sender's
// identity. Streams whose topic has no handler are dropped (JS behaviour),
// so register before peers send: a Room exists only once Connect returned,
// and streams arriving earlier than the registration are lost
// (Options.TextStreamHandlers / ByteStreamHandlers register while joining).
//
// The handler must return once its reader fails: on Disconnect open readers
// fail with datastream.ErrAbnormalEnd and Disconnect waits for the handlers.
// Errors: datastream.ErrHandlerAlreadyRegistered (duplicate or reserved RPC
// topic), ErrDisconnected after disconnect.
func (r *Room) RegisterTextStreamHandler(topic string, h datastream.TextStreamHandler) error {
	if r.isClosing() {
		return ErrDisconnected
	}
	return r.dapi.ds.RegisterTextStreamHandler(topic, h)
}

// UnregisterTextStreamHandler removes the text-stream handler of topic (no
// error if there is none). Streams already being received are unaffected.
func (r *Room) UnregisterTextStreamHandler(topic string) {
	r.dapi.ds.UnregisterTextStreamHandler(topic)
}

// RegisterByteStreamHandler routes incoming byte streams with topic to h
// (see RegisterTextStreamHandler).
func (r *Room) RegisterByteStreamHandler(topic string, h datastream.ByteStreamHandler) error {
	if r.isClosing() {
		return ErrDisconnected
	}
	return r.dapi.ds.RegisterByteStreamHandler(topic, h)
}

// UnregisterByteStreamHandler removes the byte-stream handler of topic.
func (r *Room) UnregisterByteStreamHandler(topic string) {
	r.dapi.ds.UnregisterByteStreamHandler(topic)
}
