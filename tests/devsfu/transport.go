package devsfu

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/lkcore/lkcore/core/lkpb"
)

// Data channel labels used by LiveKit clients.
const (
	labelReliable  = "_reliable"
	labelLossy     = "_lossy"
	labelDataTrack = "_data_track"
)

const (
	// dataChannelReadBuffer is livekit-server's per-channel read buffer
	// (pkg/rtc/transport.go dataChannelBufferSize); larger messages are
	// dropped, as the SDP advertises a=max-message-size:65535.
	dataChannelReadBuffer = 65535
	// sctpMaxMessageSize is what livekit-server advertises in its answer
	// (mediatransportutil SetSCTPMaxMessageSize(65535)); clients clamp their
	// sends to min(this, 64000).
	sctpMaxMessageSize = 65535
	// sctpReceiveBuffer: pion's 1 MiB default receive window throttles a
	// reliable sender to a few thousand 1 KB messages/s on loopback
	// (measured pion to pion); 8 MiB lets a client burst (1 MiB RPC payloads, data
	// streams) at memory cost only while data is actually in flight.
	sctpReceiveBuffer = 8 << 20
)

// iceNetwork is where a Server's PeerConnections gather their candidates.
type iceNetwork struct {
	udp   ice.UDPMux
	tcp   ice.TCPMux // passive ICE/TCP candidates too, when set (Options.ICETCP)
	ipv6  bool       // IPv6 only, else IPv4 only
	noUDP bool       // no UDP candidates (Options.ICEUDPOff)
}

// newWebRTCAPI builds the pion API shared by every PeerConnection of one
// Server (one with and one without SCTP zero checksum, see
// supportsSCTPZeroChecksum) on network. Each setting is deliberate; see the
// comments.
func newWebRTCAPI(network iceNetwork, log *slog.Logger, zeroChecksum bool) (*webrtc.API, error) {
	se := webrtc.SettingEngine{}
	// pion logs go to our slog (debug), not stderr.
	se.LoggerFactory = pionLoggerFactory{log}
	// Detach data channels: we read each channel with one fixed 64 KiB
	// buffer (like livekit-server) instead of pion's per-message
	// allocations, and write without the OnMessage machinery.
	se.DetachDataChannels()
	// Advertise a=max-message-size:65535 exactly like livekit-server.
	se.SetSCTPMaxMessageSize(sctpMaxMessageSize)
	// Larger SCTP receive window: see sctpReceiveBuffer.
	se.SetSCTPMaxReceiveBufferSize(sctpReceiveBuffer)
	// SCTP zero checksum (RFC 9653) offered in the association's INIT for
	// the clients livekit-server offers it to (supportsSCTPZeroChecksum).
	se.EnableSCTPZeroChecksum(zeroChecksum)
	// One UDP port for every participant (livekit dev mode uses one UDP
	// mux port, 7882): fewer sockets and goroutines per participant.
	if !network.noUDP {
		se.SetICEUDPMux(network.udp) // pion gathers on a UDP mux whatever the network types
	}
	// Loopback only: UDP (and with a TCP mux, TCP) of the sockets' family,
	// loopback candidates included (pion skips them by default), everything
	// else filtered out.
	udp, tcp := webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4
	if network.ipv6 {
		udp, tcp = webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP6
	}
	var types []webrtc.NetworkType
	if !network.noUDP {
		types = append(types, udp)
	}
	if network.tcp != nil {
		se.SetICETCPMux(network.tcp)
		types = append(types, tcp)
	}
	se.SetNetworkTypes(types)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	// livekit-server disables mDNS; it would only add goroutines/sockets.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Server ICE timeouts (livekit-server's values): disconnected 10 s, failed 5 s
	// later, keepalive 2 s. A dead client is detected in ~15 s.
	se.SetICETimeouts(10*time.Second, 5*time.Second, 2*time.Second)
	// The recorded server answers a=setup:active (it is the DTLS client);
	// that is pion's default for answers, made explicit here.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
		return nil, err
	}
	// The default codecs, so that the audio/video m-lines the official
	// clients offer (recvonly, for media they might receive) are accepted,
	// not rejected: livekit-server answers them with port 9. A rejected
	// m-line (port 0) stops the client's transceiver, and livekit-client
	// then fails about one connect in ten with "Transceiver not found based on
	// m-line index" when its second offer was created before that answer was
	// applied. No media is ever sent: the answer leaves them inactive.
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)), nil
}

// supportsSCTPZeroChecksum is livekit-server's rule (ClientInfo
// SupportsSctpZeroChecksum) for enabling SCTP zero checksum on a client's
// PeerConnection: every known SDK except the Go SDK before 2.4.0. lkcore
// reports sdk GO with its own version (0.x), so the real server does not offer
// it to lkcore; lkcore's own offer still makes the server's packets to it skip
// the checksum, here as there.
func supportsSCTPZeroChecksum(ci *lkpb.ClientInfo) bool {
	if ci.GetSdk() == lkpb.ClientInfo_UNKNOWN {
		return false
	}
	return ci.GetSdk() != lkpb.ClientInfo_GO || compareVersion(ci.GetVersion(), "2.4.0") >= 0
}

// compareVersion compares the first three dot-separated numbers of a and b
// (missing or non-numeric parts count as 0), as livekit-server does:
// -1, 0 or 1.
func compareVersion(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range 3 {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// transportEvents is what a transport reports to its participant.
type transportEvents interface {
	onTrickle(t *lkpb.TrickleRequest)
	onConnectionState(s webrtc.PeerConnectionState)
	onChannelOpen(label string)
	onChannelMessage(label string, msg []byte)
}

// dataChannel is one adopted client channel (detached).
type dataChannel struct {
	label string
	dc    *webrtc.DataChannel
	raw   datachannel.ReadWriteCloser
	// gateMu guards gate, the congestion gate of a subscriber's data-track channel
	// (created on first use by Server.writeDataTrack).
	gateMu sync.Mutex
	gate   *congestionGate
}

// write sends one binary message.
func (d *dataChannel) write(b []byte) error {
	_, err := d.raw.Write(b)
	return err
}

// transport is the single PeerConnection of a participant (single-PC
// mode: the client offers, the server answers).
type transport struct {
	pc  *webrtc.PeerConnection
	ev  transportEvents
	log *slog.Logger
	wg  sync.WaitGroup // channel readers

	mu        sync.Mutex
	channels  map[string]*dataChannel
	closed    bool
	everConn  bool
	remoteSet bool
	ufrag     string                    // current remote ICE ufrag
	pending   []webrtc.ICECandidateInit // remote candidates waiting for a description / their ufrag
	lastOffer uint32

	// Local candidates are sent "one step late" so the last one of a
	// gathering round can carry final=true (as livekit-server does), and
	// only after the answer that introduces them has been queued.
	candMu      sync.Mutex
	answerReady bool
	lastCand    *webrtc.ICECandidate
	candQueue   []*lkpb.TrickleRequest

	killed atomic.Bool // fault: stop reading/forwarding
}

func newTransport(api *webrtc.API, ev transportEvents, log *slog.Logger) (*transport, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	t := &transport{pc: pc, ev: ev, log: log, channels: map[string]*dataChannel{}}
	pc.OnICECandidate(t.onLocalCandidate)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			t.mu.Lock()
			t.everConn = true
			t.mu.Unlock()
		}
		ev.onConnectionState(s)
	})
	pc.OnDataChannel(t.adopt)
	return t, nil
}

// adopt takes over a channel the client created in-band. Unknown labels
// are livekit's "unlabeled" raw channels: read and discarded here.
func (t *transport) adopt(dc *webrtc.DataChannel) {
	dc.OnOpen(func() {
		raw, err := dc.Detach()
		if err != nil {
			t.log.Debug("detach failed", "label", dc.Label(), "err", err)
			return
		}
		d := &dataChannel{label: dc.Label(), dc: dc, raw: raw}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			_ = raw.Close()
			return
		}
		if old := t.channels[d.label]; old != nil {
			_ = old.raw.Close()
		}
		t.channels[d.label] = d
		t.wg.Add(1)
		t.mu.Unlock()
		go t.readLoop(d)
		t.ev.onChannelOpen(d.label)
	})
}

func (t *transport) readLoop(d *dataChannel) {
	defer t.wg.Done()
	buf := make([]byte, dataChannelReadBuffer)
	for {
		n, err := d.raw.Read(buf)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				t.log.Debug("oversized data channel message dropped", "label", d.label)
				continue
			}
			t.mu.Lock()
			if t.channels[d.label] == d {
				delete(t.channels, d.label)
			}
			t.mu.Unlock()
			return
		}
		if t.killed.Load() {
			continue
		}
		switch d.label {
		case labelReliable, labelLossy, labelDataTrack:
			t.ev.onChannelMessage(d.label, buf[:n])
		}
	}
}

// channel returns the open channel with label, or nil.
func (t *transport) channel(label string) *dataChannel {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.channels[label]
}

// dataReady reports livekit's "fully established": PC connected and both
// _reliable and _lossy open.
func (t *transport) dataReady() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pc.ConnectionState() == webrtc.PeerConnectionStateConnected &&
		t.channels[labelReliable] != nil && t.channels[labelLossy] != nil
}

func (t *transport) everConnected() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.everConn
}

// handleOffer applies a client offer and returns the answer (id echoed).
func (t *transport) handleOffer(offer *lkpb.SessionDescription) (*lkpb.SessionDescription, error) {
	if offer.GetType() != "offer" {
		return nil, errors.New("devsfu: not an offer")
	}
	t.candMu.Lock()
	t.answerReady = false
	t.candMu.Unlock()

	if err := t.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.GetSdp()}); err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.remoteSet = true
	t.ufrag = sdpUfrag(offer.GetSdp())
	t.lastOffer = offer.GetId()
	pend := t.pending
	t.pending = nil
	t.mu.Unlock()

	ans, err := t.pc.CreateAnswer(nil)
	if err != nil {
		return nil, err
	}
	if err := t.pc.SetLocalDescription(ans); err != nil {
		return nil, err
	}
	for _, c := range pend {
		t.addCandidate(c)
	}
	ld := t.pc.LocalDescription()
	return &lkpb.SessionDescription{Type: "answer", Sdp: ld.SDP, Id: offer.GetId()}, nil
}

// answerQueued must be called once the answer has been enqueued on the
// signal connection: local candidates of this round may now go out.
func (t *transport) answerQueued() {
	t.candMu.Lock()
	defer t.candMu.Unlock()
	t.answerReady = true
	q := t.candQueue
	t.candQueue = nil
	for _, tr := range q {
		t.ev.onTrickle(tr)
	}
}

func (t *transport) onLocalCandidate(c *webrtc.ICECandidate) {
	t.candMu.Lock()
	defer t.candMu.Unlock()
	if c == nil {
		if t.lastCand != nil {
			t.emitCandidate(t.lastCand, true)
			t.lastCand = nil
		}
		return
	}
	if t.lastCand != nil {
		t.emitCandidate(t.lastCand, false)
	}
	t.lastCand = c
}

// emitCandidate is called with candMu held.
func (t *transport) emitCandidate(c *webrtc.ICECandidate, final bool) {
	init := c.ToJSON()
	b, err := json.Marshal(init) // pion's JSON: usernameFragment null, as recorded
	if err != nil {
		return
	}
	tr := &lkpb.TrickleRequest{CandidateInit: string(b), Target: lkpb.SignalTarget_PUBLISHER, Final: final}
	if !t.answerReady {
		t.candQueue = append(t.candQueue, tr)
		return
	}
	t.ev.onTrickle(tr)
}

// addRemote handles a client trickle. Candidates are queued until a remote
// description exists, and while their ufrag names an ICE generation whose
// offer has not arrived yet (the Rust client trickles before its restart
// offer, as recorded); they are retried after the next offer.
func (t *transport) addRemote(tr *lkpb.TrickleRequest) {
	var init webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(tr.GetCandidateInit()), &init); err != nil {
		t.log.Debug("bad trickle candidate", "err", err)
		return
	}
	if init.Candidate == "" {
		return
	}
	t.mu.Lock()
	uf := candidateUfrag(init)
	if !t.remoteSet || (uf != "" && t.ufrag != "" && uf != t.ufrag) {
		if len(t.pending) < 64 {
			t.pending = append(t.pending, init)
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.addCandidate(init)
}

func (t *transport) addCandidate(init webrtc.ICECandidateInit) {
	t.mu.Lock()
	uf, cur := candidateUfrag(init), t.ufrag
	if uf != "" && cur != "" && uf != cur {
		t.mu.Unlock()
		return // an older generation: stale
	}
	t.mu.Unlock()
	if err := t.pc.AddICECandidate(init); err != nil {
		t.log.Debug("add candidate failed", "err", err)
	}
}

// close closes the PeerConnection and waits for the channel readers.
func (t *transport) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return
	}
	t.closed = true
	chs := make([]*dataChannel, 0, len(t.channels))
	for _, d := range t.channels {
		chs = append(chs, d)
	}
	t.mu.Unlock()
	for _, d := range chs {
		_ = d.raw.Close()
	}
	_ = t.pc.Close()
	t.wg.Wait()
}

// sdpUfrag returns the first a=ice-ufrag of an SDP.
func sdpUfrag(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// candidateUfrag returns the ufrag a candidate names (usernameFragment or
// the "ufrag" extension in the candidate line), or "".
func candidateUfrag(c webrtc.ICECandidateInit) string {
	if c.UsernameFragment != nil && *c.UsernameFragment != "" {
		return *c.UsernameFragment
	}
	f := strings.Fields(c.Candidate)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}
