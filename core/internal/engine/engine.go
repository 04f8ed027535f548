package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/lkpb"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// Data channel labels
// (docs/protocol.md, Peer connection and data channels). No other label
// may be created: the SFU fans unknown labels out as raw "unlabeled"
// traffic.
const (
	LabelReliable  = "_reliable"
	LabelLossy     = "_lossy"
	LabelDataTrack = "_data_track"
)

// Config configures an Engine. Callbacks are invoked from pion goroutines.
type Config struct {
	// Logger receives engine logs (never payloads); nil discards.
	Logger *slog.Logger

	// ICEServers, when non-empty, are used instead of the servers from the
	// JoinResponse (like JS's rtcConfig.iceServers).
	ICEServers []webrtc.ICEServer

	// SCTPReceiveBufferSize overrides DefaultSCTPReceiveBufferSize (0 = default).
	SCTPReceiveBufferSize uint32

	// ExcludeLoopbackCandidates disables gathering of 127.0.0.1/::1 host candidates.
	ExcludeLoopbackCandidates bool

	// DisableUDPBatching sends and receives every UDP datagram with its own
	// system call instead of in batches where the system supports it
	// (core/udpbatch).
	DisableUDPBatching bool

	// SettingEngineHook may adjust the pion SettingEngine after the engine's
	// own settings (tests, exotic networks). Optional.
	SettingEngineHook func(*webrtc.SettingEngine)

	// OnLocalCandidate receives each gathered local candidate, to be sent as a
	// trickle (target PUBLISHER). Never called with nil (end of gathering).
	OnLocalCandidate func(webrtc.ICECandidateInit)

	// OnConnectionState receives PeerConnection state changes.
	OnConnectionState func(webrtc.PeerConnectionState)

	// OnPacket receives every DataPacket that arrives on `_reliable` or
	// `_lossy` and survives duplicate suppression. It runs on that channel's
	// read goroutine: while it blocks, that channel is not read, SCTP flow
	// control stops the sender, and nothing is buffered here — this is the
	// receive backpressure. It must return when the engine's owner shuts down.
	OnPacket func(pkt *lkpb.DataPacket, reliable bool)

	// OnDataTrackPacket receives every raw `_data_track` message (not a
	// DataPacket). The slice is owned by the callee. Same threading as OnPacket.
	OnDataTrackPacket func([]byte)

	// OnDataChannelClosed is called when `_reliable` or `_lossy` closes
	// while the engine is open (the SCTP association or the channel was
	// closed by the peer): the session cannot carry data any more and must
	// be re-established. Never called after Close.
	OnDataChannelClosed func(label string)

	// RelayOnly is the user's ICE transport policy "relay": every gathering
	// of this engine uses TURN relay candidates only, whatever the server's
	// force_relay says (see SetICEServers and policy.go).
	RelayOnly bool

	// OnRelayUnavailable is called when an ICE gathering under the
	// relay-only policy ended without a single relay candidate (the TURN
	// server refused the credentials or could not be reached, or no TURN
	// server was given): ICE cannot connect with this configuration.
	// Optional; never called after Close.
	OnRelayUnavailable func()

	// DataTrackHighWater is the backstop of `_data_track`: while the channel
	// holds more unacknowledged bytes, SendDataTrackPacket refuses packets
	// with ErrDataTrackBackedUp. 0 means no backstop. The limit is the
	// caller's policy (the room gives core/datatrack's
	// DefaultChannelHighWater, which its scheduler never reaches normally).
	DataTrackHighWater uint64
}

// Engine is one PeerConnection with its data channels. Create with New; all
// methods are safe for concurrent use; Close is idempotent and waits.
type Engine struct {
	cfg Config
	log *slog.Logger
	pc  *webrtc.PeerConnection

	reliable  *channel
	lossy     *channel
	dataTrack *channel

	closed    chan struct{}
	closeOnce sync.Once
	dataReady chan struct{} // closed when _reliable and _lossy are both open
	changed   broadcast     // StateChanged (notify.go)

	mu            sync.Mutex // guards the fields below
	openCount     int
	offerID       uint32
	pendingOffer  *webrtc.SessionDescription // created, not yet applied (offer-with-join)
	awaitingID    uint32                     // id of the outstanding offer; 0 = none
	remoteSet     bool
	queuedRemote  []webrtc.ICECandidateInit
	maxPacketSize int
	userICE       bool

	// ICE transport policy (policy.go): relayOnly is the policy of the next
	// gathering (read by the network wrapper while gathering); relayGathered
	// counts the relay candidates of the current gathering.
	relayOnly     atomic.Bool
	relayGathered atomic.Int32

	// Reliable sending state, guarded by reliable.sendMu.
	seq    uint32
	resend ResendBuffer

	dedup ReceiveDedup
}

// channel is one data channel with its backpressure signal.
type channel struct {
	dc       *webrtc.DataChannel
	sendMu   sync.Mutex   // serialises senders (FIFO-ish) and guards the seq/resend state for _reliable
	low      *bufferedLow // buffered-amount-low waits (notify.go)
	lowWater uint64       // a blocked send waits for the amount to fall to this
	high     uint64       // sends wait (or, on _data_track, are refused) above this; 0 = no limit
}

// New creates the PeerConnection and the three in-band data channels, so the
// first offer contains m=application (docs/protocol.md, Peer connection and
// data channels).
func New(cfg Config) (*Engine, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:           cfg,
		log:           log,
		closed:        make(chan struct{}),
		dataReady:     make(chan struct{}),
		maxPacketSize: MaxDataPacketSize,
		userICE:       len(cfg.ICEServers) > 0,
	}
	e.relayOnly.Store(cfg.RelayOnly)
	api, err := newAPI(&cfg, &e.relayOnly)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         cfg.ICEServers,
		ICETransportPolicy: transportPolicy(cfg.RelayOnly),
		BundlePolicy:       webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy:      webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: new peer connection: %w", err)
	}
	e.pc = pc

	// JS creation order: _lossy, _reliable, _data_track (order is irrelevant on the wire).
	zero := uint16(0)
	unordered := false
	ordered := true
	if e.lossy, err = e.newChannel(LabelLossy, &webrtc.DataChannelInit{Ordered: &unordered, MaxRetransmits: &zero}, LossyLowWater, LossyHighWater); err == nil {
		if e.reliable, err = e.newChannel(LabelReliable, &webrtc.DataChannelInit{Ordered: &ordered}, ReliableLowWater, ReliableHighWater); err == nil {
			e.dataTrack, err = e.newChannel(LabelDataTrack, &webrtc.DataChannelInit{Ordered: &unordered, MaxRetransmits: &zero}, 0, cfg.DataTrackHighWater)
		}
	}
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("engine: create data channel: %w", err)
	}

	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if e.isClosed() {
			return
		}
		if c == nil { // end of gathering: never trickled (no end-of-candidates trickle)
			e.gatheringComplete()
			return
		}
		if !e.admitCandidate(c) {
			return
		}
		if cfg.OnLocalCandidate != nil {
			cfg.OnLocalCandidate(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("engine: peer connection state", "state", s.String())
		e.changed.fire()
		if cfg.OnConnectionState != nil && !e.isClosed() {
			cfg.OnConnectionState(s)
		}
	})
	// StateChanged also covers what TransportConnected reads: the ICE
	// connection state and the selected pair (an ICE restart replaces the
	// pair while the PeerConnection may stay "connected"). pion stores the
	// state before it calls either handler.
	pc.OnICEConnectionStateChange(func(webrtc.ICEConnectionState) { e.changed.fire() })
	if sctp := pc.SCTP(); sctp != nil && sctp.Transport() != nil && sctp.Transport().ICETransport() != nil {
		sctp.Transport().ICETransport().OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { e.changed.fire() })
	}
	// Single-PC: the server adopts our channels and announces none; register
	// anyway (dual-PC, future servers) and read known labels.
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		switch dc.Label() {
		case LabelReliable, LabelLossy, LabelDataTrack:
			log.Debug("engine: adopting server data channel", "label", dc.Label())
			e.attachReceive(dc)
		default:
			log.Debug("engine: ignoring server data channel", "label", dc.Label())
		}
	})
	return e, nil
}

func (e *Engine) newChannel(label string, init *webrtc.DataChannelInit, low, high uint64) (*channel, error) {
	dc, err := e.pc.CreateDataChannel(label, init)
	if err != nil {
		return nil, err
	}
	ch := &channel{dc: dc, lowWater: low, high: high, low: newBufferedLow(dc, low)}
	dc.OnOpen(func() {
		e.log.Debug("engine: data channel open", "label", label)
		if label == LabelReliable || label == LabelLossy {
			e.mu.Lock()
			e.openCount++
			ready := e.openCount == 2
			e.mu.Unlock()
			if ready {
				close(e.dataReady)
			}
		}
		e.changed.fire()
	})
	dc.OnClose(func() {
		ch.low.close()
		e.changed.fire()
		if (label == LabelReliable || label == LabelLossy) && !e.isClosed() && e.cfg.OnDataChannelClosed != nil {
			e.log.Debug("engine: data channel closed by the peer", "label", label)
			e.cfg.OnDataChannelClosed(label)
		}
	})
	e.attachReceive(dc)
	return ch, nil
}

func (e *Engine) attachReceive(dc *webrtc.DataChannel) {
	label := dc.Label()
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if e.isClosed() {
			return
		}
		if msg.IsString {
			e.log.Debug("engine: dropping text data channel message", "label", label)
			return
		}
		if label == LabelDataTrack {
			if e.cfg.OnDataTrackPacket != nil {
				e.cfg.OnDataTrackPacket(msg.Data)
			}
			return
		}
		pkt, err := DecodeDataPacket(&e.dedup, msg.Data, time.Now())
		if err != nil {
			e.log.Debug("engine: dropping data packet", "label", label, "len", len(msg.Data), "err", err)
			return
		}
		if e.cfg.OnPacket != nil {
			e.cfg.OnPacket(pkt, label == LabelReliable)
		}
	})
}

func (e *Engine) isClosed() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

// CreateOffer creates the next offer (ids 1, 2, 3, … as in JS). The first
// offer is kept pending and only applied with SetLocalDescription when its
// answer arrives (offer-with-join: ICE gathering must not start before the
// JoinResponse's ICE servers are known). Later offers (ICE restart
// for resume, renegotiation) are applied immediately. Only one offer may be
// outstanding.
func (e *Engine) CreateOffer(iceRestart bool) (*lkpb.SessionDescription, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return nil, ErrClosed
	}
	if iceRestart {
		if err := e.abandonUnansweredOffer(); err != nil {
			return nil, err
		}
		e.relayGathered.Store(0) // pion gathers again inside CreateOffer
	}
	offer, err := e.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		return nil, fmt.Errorf("engine: create offer: %w", err)
	}
	e.offerID++
	if e.offerID == 1 {
		e.pendingOffer = &offer
	} else {
		if iceRestart {
			e.remoteSet = false // queue remote candidates until the restart answer
		}
		if err := e.pc.SetLocalDescription(offer); err != nil {
			return nil, fmt.Errorf("engine: set local offer: %w", err)
		}
	}
	e.awaitingID = e.offerID
	return &lkpb.SessionDescription{Type: "offer", Sdp: offer.SDP, Id: e.offerID}, nil
}

// abandonUnansweredOffer returns the connection to the stable state when an
// offer is still waiting for its answer: a resume whose signalling broke
// after its ICE-restart offer was sent, whose answer will never come. The
// last answer is applied again, as livekit-client JS does before an ICE
// restart; pion could not make a new offer otherwise, and the resume would
// have to become a full reconnect. e.mu held.
func (e *Engine) abandonUnansweredOffer() error {
	last := e.pc.CurrentRemoteDescription()
	if e.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer || last == nil {
		return nil // (without an answer yet, the join's offer is not set locally until it comes)
	}
	if err := e.pc.SetRemoteDescription(*last); err != nil {
		return fmt.Errorf("engine: abandon the unanswered offer: %w", err)
	}
	return nil
}

// SetICEServers applies the ICE servers and force_relay setting from a
// JoinResponse or ReconnectResponse (the servers are ignored when
// Config.ICEServers was given; the policy is relay-only when forceRelay or
// Config.RelayOnly). Both govern the next ICE gathering, as setConfiguration
// does in a browser: call it before HandleAnswer of the join offer (the
// first gathering starts there) and before CreateOffer(true) of a resume
// (the ICE restart gathers again inside it). See policy.go for how the
// relay-only policy is enforced on a PeerConnection created with "all".
func (e *Engine) SetICEServers(servers []*lkpb.ICEServer, forceRelay bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	conf := e.pc.GetConfiguration()
	if !e.userICE {
		conf.ICEServers = nil
		for _, s := range servers {
			conf.ICEServers = append(conf.ICEServers, ICEServer(s.GetUrls(), s.GetUsername(), s.GetCredential()))
		}
	}
	relay := forceRelay || e.cfg.RelayOnly
	conf.ICETransportPolicy = transportPolicy(relay)
	e.relayOnly.Store(relay)
	if err := e.pc.SetConfiguration(conf); err != nil {
		return fmt.Errorf("engine: set ICE servers: %w", err)
	}
	return nil
}

// HandleAnswer applies the server's answer to the outstanding offer. An
// answer whose non-zero id differs from the outstanding offer's is ignored
// with ErrStaleAnswer (JS behaviour). For the first offer, the pending offer
// is applied as local description first.
func (e *Engine) HandleAnswer(sd *lkpb.SessionDescription) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return ErrClosed
	}
	if e.awaitingID == 0 {
		return ErrNoPendingOffer
	}
	if sd.GetId() != 0 && sd.GetId() != e.awaitingID {
		return fmt.Errorf("%w: got id %d, outstanding %d", ErrStaleAnswer, sd.GetId(), e.awaitingID)
	}
	if e.pendingOffer != nil {
		// The first gathering starts here, after SetICEServers applied the
		// JoinResponse's servers and policy.
		e.relayGathered.Store(0)
		if err := e.pc.SetLocalDescription(*e.pendingOffer); err != nil {
			return fmt.Errorf("engine: set local offer: %w", err)
		}
		e.pendingOffer = nil
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sd.GetSdp()}
	if err := e.pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("engine: set remote answer: %w", err)
	}
	e.awaitingID = 0
	e.remoteSet = true
	e.maxPacketSize = effectiveMaxPacketSize(sd.GetSdp())
	queued := e.queuedRemote
	e.queuedRemote = nil
	for _, c := range queued {
		if err := e.pc.AddICECandidate(c); err != nil {
			e.log.Debug("engine: queued remote candidate rejected", "err", err)
		}
	}
	return nil
}

// effectiveMaxPacketSize is min(a=max-message-size of the answer, 64 000); a
// value of 0 means "no limit" and leaves 64 000 (docs/protocol.md, Data
// packets).
func effectiveMaxPacketSize(sdp string) int {
	limit := MaxDataPacketSize
	for line := range strings.SplitSeq(sdp, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=max-message-size:")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 && n < limit {
			limit = n
		}
	}
	return limit
}

// AddRemoteCandidate adds a trickled server candidate (TrickleRequest.candidateInit
// JSON, parsed leniently). Candidates that arrive before a remote description
// (or during an ICE restart) are queued and added after the next answer.
func (e *Engine) AddRemoteCandidate(candidateInit string) error {
	c, err := ParseRemoteCandidate(candidateInit)
	if err != nil {
		return err
	}
	if c.Candidate == "" {
		return nil // end-of-candidates marker
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return ErrClosed
	}
	if !e.remoteSet {
		if len(e.queuedRemote) >= MaxQueuedRemoteCandidates {
			return fmt.Errorf("%w: more than %d remote candidates before the answer", ErrTooManyCandidates, MaxQueuedRemoteCandidates)
		}
		e.queuedRemote = append(e.queuedRemote, c)
		return nil
	}
	if err := e.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("engine: add remote candidate: %w", err)
	}
	return nil
}

// ConnectionState is the PeerConnection's current state.
func (e *Engine) ConnectionState() webrtc.PeerConnectionState { return e.pc.ConnectionState() }

// DataReady is closed once `_reliable` and `_lossy` are both open: from then
// on the server also delivers reliable data to us.
func (e *Engine) DataReady() <-chan struct{} { return e.dataReady }

// MaxPacketSize is the current cap on a serialised DataPacket.
func (e *Engine) MaxPacketSize() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxPacketSize
}

// SendPacket serialises pkt and sends it on `_reliable` (reliable) or
// `_lossy`. Reliable packets are stamped with the next sequence number
// (1, 2, 3, … per session; the stamp is written into pkt.Sequence) and kept in
// the resend buffer; lossy packets get sequence 0. A packet larger than
// MaxPacketSize after stamping fails with *PacketTooLargeError without using
// a sequence number. While the channel's bufferedAmount is above its
// high-water mark the call waits (FIFO per channel) for it to drain, bounded
// by ctx. pkt is not retained.
func (e *Engine) SendPacket(ctx context.Context, pkt *lkpb.DataPacket, reliable bool) error {
	ch := e.lossy
	if reliable {
		ch = e.reliable
	}
	ch.sendMu.Lock()
	defer ch.sendMu.Unlock()
	if err := e.waitBelowHigh(ctx, ch); err != nil {
		return err
	}
	max := e.MaxPacketSize()
	if reliable {
		pkt.Sequence = e.seq + 1
	} else {
		pkt.Sequence = 0
	}
	data, err := proto.Marshal(pkt)
	if err != nil {
		return fmt.Errorf("engine: marshal data packet: %w", err)
	}
	if len(data) > max {
		return &PacketTooLargeError{Size: len(data), Max: max}
	}
	if err := ch.dc.Send(data); err != nil {
		return e.sendError(err)
	}
	if reliable {
		e.seq++
		e.resend.Push(e.seq, data)
		e.resend.Align(ch.dc.BufferedAmount())
	}
	return nil
}

func (e *Engine) sendError(err error) error {
	if e.isClosed() {
		return ErrClosed
	}
	return fmt.Errorf("%w: %v", ErrChannelNotOpen, err)
}

func (e *Engine) waitBelowHigh(ctx context.Context, ch *channel) error {
	for {
		if e.isClosed() {
			return ErrClosed
		}
		if ch.dc.ReadyState() != webrtc.DataChannelStateOpen {
			return ErrChannelNotOpen
		}
		if ch.dc.BufferedAmount() <= ch.high {
			return nil
		}
		if err := e.waitBelow(ctx, ch, ch.lowWater); err != nil {
			return err
		}
	}
}

// waitBelow waits until ch's buffered amount is at most level, ch closes,
// or the engine closes (ErrClosed), bounded by ctx.
func (e *Engine) waitBelow(ctx context.Context, ch *channel, level uint64) error {
	low, release := ch.low.below(level)
	defer release()
	select {
	case <-low:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.closed:
		return ErrClosed
	}
}

// SendDataTrackPacket sends one raw data-track packet on `_data_track`
// without waiting: when more than Config.DataTrackHighWater bytes are
// unacknowledged it returns ErrDataTrackBackedUp and sends nothing (the
// caller paces with DataTrackBelow). The slice is not retained.
func (e *Engine) SendDataTrackPacket(b []byte) error {
	ch := e.dataTrack
	if e.isClosed() {
		return ErrClosed
	}
	if ch.dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrChannelNotOpen
	}
	if ch.high > 0 && ch.dc.BufferedAmount() > ch.high {
		return ErrDataTrackBackedUp
	}
	if err := ch.dc.Send(b); err != nil {
		return e.sendError(err)
	}
	return nil
}

// DataTrackBufferedAmount is the number of `_data_track` bytes not yet acknowledged.
func (e *Engine) DataTrackBufferedAmount() uint64 { return e.dataTrack.dc.BufferedAmount() }

// DataTrackReady reports whether `_data_track` is open.
func (e *Engine) DataTrackReady() bool {
	return e.dataTrack.dc.ReadyState() == webrtc.DataChannelStateOpen
}

// LastSentSequence is the sequence of the last reliable packet sent (0 if none).
func (e *Engine) LastSentSequence() uint32 {
	e.reliable.sendMu.Lock()
	defer e.reliable.sendMu.Unlock()
	return e.seq
}

// ReliableResendBuffer returns the reliable packets that may not have reached
// the server yet, oldest first (for the resume replay, docs/protocol.md,
// Data packets).
func (e *Engine) ReliableResendBuffer() []ResendEntry {
	e.reliable.sendMu.Lock()
	defer e.reliable.sendMu.Unlock()
	e.resend.Align(e.reliable.dc.BufferedAmount())
	return e.resend.Entries()
}

// ReceiveStates is the dedup state for SyncState.datachannel_receive_states.
func (e *Engine) ReceiveStates() []*lkpb.DataChannelReceiveState { return e.dedup.States() }

// DataChannelInfos lists `_lossy` and `_reliable` with their SCTP stream ids
// for SyncState.data_channels (channels without an id yet are omitted).
func (e *Engine) DataChannelInfos() []*lkpb.DataChannelInfo {
	var out []*lkpb.DataChannelInfo
	for _, ch := range []*channel{e.lossy, e.reliable} {
		if id := ch.dc.ID(); id != nil {
			out = append(out, &lkpb.DataChannelInfo{Label: ch.dc.Label(), Id: uint32(*id), Target: lkpb.SignalTarget_PUBLISHER})
		}
	}
	return out
}

// Flush waits until every byte sent on `_reliable` and `_lossy` has been
// acknowledged by the peer (bufferedAmount 0), bounded by ctx. Used before a
// graceful leave so that packets published just before Disconnect are not
// lost with the association. It fails with ErrChannelNotOpen when a channel
// that still holds bytes is closed (they will never be acknowledged).
func (e *Engine) Flush(ctx context.Context) error {
	for {
		if e.isClosed() {
			return ErrClosed
		}
		var pending *channel
		for _, ch := range []*channel{e.reliable, e.lossy} {
			if ch.dc.BufferedAmount() > 0 {
				pending = ch
				break
			}
		}
		if pending == nil {
			return nil
		}
		if pending.dc.ReadyState() != webrtc.DataChannelStateOpen {
			return ErrChannelNotOpen
		}
		if err := e.waitBelow(ctx, pending, 0); err != nil {
			return err
		}
	}
}

// Close closes the data channels and the PeerConnection and waits for pion's
// goroutines to finish. Idempotent.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.closed)
		for _, ch := range []*channel{e.reliable, e.lossy, e.dataTrack} {
			ch.low.close()
		}
		e.changed.fire()
		err = e.pc.GracefulClose()
		if errors.Is(err, webrtc.ErrConnectionClosed) {
			err = nil
		}
	})
	return err
}
