package devsfu

// A minimal LiveKit test client (pion + WebSocket), test-only: just enough
// of the protocol to drive devsfu like JS/Rust clients do (single PC,
// offer in join, in-band _lossy/_reliable/_data_track, trickle).

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

const testTimeout = 10 * time.Second

type clientOpts struct {
	bearer      bool  // token in Authorization header (Rust) instead of query (JS)
	media       bool  // add recvonly audio+video transceivers to the offer (JS/Rust do)
	noGzip      bool  // WrappedJoinRequest compression NONE
	autoSubDT   *bool // connection_settings.auto_subscribe_data_track
	tokenOpts   []auth.TokenOption
	token       string      // overrides the minted token
	reconnectOf *testClient // resume this client's session (no offer)
	deferOffer  bool        // send the offer after the join instead of inside it
}

type dcMsg struct {
	label string
	data  []byte
}

type testClient struct {
	t        testing.TB
	identity string
	token    string
	ws       *websocket.Conn
	pc       *webrtc.PeerConnection
	ch       map[string]*webrtc.DataChannel
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	offerID  uint32

	mu        sync.Mutex
	cond      *sync.Cond
	log       []*lkpb.SignalResponse
	cursor    int
	dc        []dcMsg
	dcCursor  map[string]int
	wsClosed  bool
	closeCode websocket.StatusCode
	joined    bool
	candQ     []webrtc.ICECandidateInit
	remoteQ   []webrtc.ICECandidateInit
	remoteSet bool
}

func clientAPI(media bool) *webrtc.API {
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if media {
		_ = me.RegisterDefaultCodecs()
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

func encodeJR(t testing.TB, jr *lkpb.JoinRequest, gz bool) string {
	t.Helper()
	b, err := proto.Marshal(jr)
	if err != nil {
		t.Fatal(err)
	}
	w := &lkpb.WrappedJoinRequest{JoinRequest: b}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		w.Compression = lkpb.WrappedJoinRequest_GZIP
		w.JoinRequest = buf.Bytes()
	}
	wb, err := proto.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(wb)
}

func rtcURL(s *Server, token, jr string, withToken bool) string {
	q := url.Values{}
	if withToken {
		q.Set("access_token", token)
	}
	q.Set("join_request", jr)
	return s.URL() + "/rtc/v1?" + q.Encode()
}

// dial joins room as identity and waits for the JoinResponse.
func dial(t testing.TB, s *Server, room, identity string, o clientOpts) *testClient {
	t.Helper()
	c, err := tryDial(t, s, room, identity, o)
	if err != nil {
		t.Fatalf("dial %s: %v", identity, err)
	}
	return c
}

// dialPair joins room as identities a and b with default options, closes both when the test
// ends (b first, and before a server whose cleanup was registered earlier is closed), and
// waits until the server has adopted both: how most two-client tests begin.
func dialPair(t testing.TB, s *Server, room, a, b string) (*testClient, *testClient) {
	t.Helper()
	ca := dial(t, s, room, a, clientOpts{})
	t.Cleanup(ca.close)
	cb := dial(t, s, room, b, clientOpts{})
	t.Cleanup(cb.close)
	ca.waitServerReady(s)
	cb.waitServerReady(s)
	return ca, cb
}

func tryDial(t testing.TB, s *Server, room, identity string, o clientOpts) (*testClient, error) {
	t.Helper()
	tok := o.token
	if tok == "" {
		var err error
		tok, err = s.Token(room, identity, o.tokenOpts...)
		if err != nil {
			t.Fatal(err)
		}
	}
	c := &testClient{t: t, identity: identity, token: tok, ch: map[string]*webrtc.DataChannel{}, dcCursor: map[string]int{}}
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())

	jr := &lkpb.JoinRequest{
		ClientInfo:         &lkpb.ClientInfo{Sdk: lkpb.ClientInfo_GO, Version: "devsfu-test", Protocol: 17, ClientProtocol: 2},
		ConnectionSettings: &lkpb.ConnectionSettings{AutoSubscribe: false, AutoSubscribeDataTrack: o.autoSubDT},
	}
	if o.reconnectOf != nil {
		prev := o.reconnectOf
		c.pc, c.ch, c.offerID = prev.pc, prev.ch, prev.offerID
		jr.Reconnect = true
		jr.ParticipantSid = prev.sid()
		jr.ReconnectReason = lkpb.ReconnectReason_RR_SIGNAL_DISCONNECTED
		c.mu.Lock()
		c.dc = nil
		c.mu.Unlock()
		c.rewire()
	} else {
		pc, err := clientAPI(o.media).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		c.pc = pc
		if o.media {
			for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
				if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
					t.Fatal(err)
				}
			}
		}
		zero := uint16(0)
		unordered := false
		for _, l := range []string{labelLossy, labelReliable, labelDataTrack} {
			init := &webrtc.DataChannelInit{}
			if l != labelReliable {
				init.Ordered = &unordered
				init.MaxRetransmits = &zero
			}
			dc, err := pc.CreateDataChannel(l, init)
			if err != nil {
				t.Fatal(err)
			}
			c.ch[l] = dc
		}
		c.rewire()
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		c.offerID = 1
		if !o.deferOffer {
			jr.PublisherOffer = &lkpb.SessionDescription{Type: "offer", Sdp: offer.SDP, Id: 1}
		}
	}

	param := encodeJR(t, jr, !o.noGzip)
	hdr := http.Header{}
	if o.bearer {
		hdr.Set("Authorization", "Bearer "+tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, rtcURL(s, tok, param, !o.bearer), &websocket.DialOptions{HTTPHeader: hdr})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if o.reconnectOf == nil {
			_ = c.pc.Close()
		}
		c.cancel()
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	c.ws = ws
	c.wg.Add(1)
	go c.readLoop()
	if o.reconnectOf != nil {
		return c, nil
	}
	if _, err := c.waitErr(func(m *lkpb.SignalResponse) bool { return m.GetJoin() != nil || m.GetLeave() != nil }); err != nil {
		c.close()
		return nil, err
	}
	if o.deferOffer {
		ld := c.pc.LocalDescription()
		if err := c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Offer{Offer: &lkpb.SessionDescription{
			Type: "offer", Sdp: ld.SDP, Id: 1}}}); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// rewire (re)attaches PC and channel callbacks to this client object.
func (c *testClient) rewire() {
	c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		c.mu.Lock()
		if !c.joined {
			c.candQ = append(c.candQ, init)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.sendTrickle(init)
	})
	for l, dc := range c.ch {
		label := l
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			c.mu.Lock()
			c.dc = append(c.dc, dcMsg{label, append([]byte(nil), m.Data...)})
			c.cond.Broadcast()
			c.mu.Unlock()
		})
	}
}

func (c *testClient) sendTrickle(init webrtc.ICECandidateInit) {
	b, _ := json.Marshal(init)
	_ = c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Trickle{Trickle: &lkpb.TrickleRequest{
		CandidateInit: string(b), Target: lkpb.SignalTarget_PUBLISHER}}})
}

func (c *testClient) send(req *lkpb.SignalRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, testTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageBinary, b)
}

func (c *testClient) readLoop() {
	defer c.wg.Done()
	for {
		_, b, err := c.ws.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.wsClosed = true
			c.closeCode = websocket.CloseStatus(err)
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		var m lkpb.SignalResponse
		if err := proto.Unmarshal(b, &m); err != nil {
			c.t.Errorf("bad response: %v", err)
			continue
		}
		c.handle(&m)
		c.mu.Lock()
		c.log = append(c.log, &m)
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

func (c *testClient) handle(m *lkpb.SignalResponse) {
	switch v := m.Message.(type) {
	case *lkpb.SignalResponse_Join, *lkpb.SignalResponse_Reconnect:
		c.mu.Lock()
		c.joined = true
		q := c.candQ
		c.candQ = nil
		c.mu.Unlock()
		for _, ci := range q {
			c.sendTrickle(ci)
		}
	case *lkpb.SignalResponse_Answer:
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.Answer.GetSdp()}); err != nil {
			c.t.Errorf("%s: set answer: %v", c.identity, err)
			return
		}
		c.mu.Lock()
		c.remoteSet = true
		q := c.remoteQ
		c.remoteQ = nil
		c.mu.Unlock()
		for _, ci := range q {
			_ = c.pc.AddICECandidate(ci)
		}
	case *lkpb.SignalResponse_Trickle:
		var ci webrtc.ICECandidateInit
		if err := json.Unmarshal([]byte(v.Trickle.GetCandidateInit()), &ci); err != nil {
			c.t.Errorf("bad trickle: %v", err)
			return
		}
		c.mu.Lock()
		if !c.remoteSet {
			c.remoteQ = append(c.remoteQ, ci)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		_ = c.pc.AddICECandidate(ci)
	}
}

// waitErr returns the next message (after the cursor) matching pred and
// moves the cursor past it.
func (c *testClient) waitErr(pred func(*lkpb.SignalResponse) bool) (*lkpb.SignalResponse, error) {
	var found *lkpb.SignalResponse
	err := c.waitLocked(func() (bool, error) {
		for i := c.cursor; i < len(c.log); i++ {
			if pred(c.log[i]) {
				c.cursor = i + 1
				found = c.log[i]
				return true, nil
			}
		}
		if c.wsClosed {
			return false, errClosedForTest
		}
		return false, nil
	})
	return found, err
}

// waitLocked calls check with c.mu held, again after every change (c.cond), until it reports
// done or an error, or testTimeout passes (context.DeadlineExceeded).
func (c *testClient) waitLocked(check func() (done bool, err error)) error {
	deadline := time.Now().Add(testTimeout)
	stop := time.AfterFunc(testTimeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if done, err := check(); done || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		c.cond.Wait()
	}
}

var errClosedForTest = &net.OpError{Op: "read", Err: net.ErrClosed}

func (c *testClient) wait(what string, pred func(*lkpb.SignalResponse) bool) *lkpb.SignalResponse {
	c.t.Helper()
	m, err := c.waitErr(pred)
	if err != nil {
		c.t.Fatalf("%s: waiting for %s: %v", c.identity, what, err)
	}
	return m
}

// messages returns a copy of every response received so far.
func (c *testClient) messages() []*lkpb.SignalResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*lkpb.SignalResponse(nil), c.log...)
}

func (c *testClient) joinResp() *lkpb.JoinResponse {
	for _, m := range c.messages() {
		if j := m.GetJoin(); j != nil {
			return j
		}
	}
	return nil
}

func (c *testClient) sid() string { return c.joinResp().GetParticipant().GetSid() }

// waitData returns the next data-channel message on label matching pred.
func (c *testClient) waitData(label string, pred func([]byte) bool) []byte {
	c.t.Helper()
	var found []byte
	err := c.waitLocked(func() (bool, error) {
		for i := c.dcCursor[label]; i < len(c.dc); i++ {
			if c.dc[i].label == label && (pred == nil || pred(c.dc[i].data)) {
				c.dcCursor[label] = i + 1
				found = c.dc[i].data
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		c.t.Fatalf("%s: timed out waiting for data on %s", c.identity, label)
	}
	return found
}

func (c *testClient) dataMessages(label string) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, m := range c.dc {
		if m.label == label {
			out = append(out, m.data)
		}
	}
	return out
}

// waitServer polls cond until it holds, and fails the test with what and the server's
// counters after testTimeout.
func waitServer(t testing.TB, s *Server, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (stats %+v)", what, s.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitReady waits until the PC is connected and the three channels open.
func (c *testClient) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for time.Now().Before(deadline) {
		ok := c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
		for _, dc := range c.ch {
			ok = ok && dc.ReadyState() == webrtc.DataChannelStateOpen
		}
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("%s: transport not ready (pc %s)", c.identity, c.pc.ConnectionState())
}

// waitServerReady waits until devsfu has adopted this client's channels.
func (c *testClient) waitServerReady(s *Server) {
	c.t.Helper()
	c.waitReady()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.WaitParticipantReady(ctx, c.identity, true); err != nil {
		c.t.Fatalf("%s: server side not ready: %v", c.identity, err)
	}
}

func (c *testClient) sendPacket(label string, dp *lkpb.DataPacket) {
	c.t.Helper()
	b, err := proto.Marshal(dp)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(label, b)
}

func (c *testClient) sendRaw(label string, b []byte) {
	c.t.Helper()
	if err := c.ch[label].Send(b); err != nil {
		c.t.Fatalf("send on %s: %v", label, err)
	}
}

// leave does the client side of the leave handshake and closes.
func (c *testClient) leave() {
	c.t.Helper()
	if err := c.send(&lkpb.SignalRequest{Message: &lkpb.SignalRequest_Leave{Leave: &lkpb.LeaveRequest{
		Reason: lkpb.DisconnectReason_CLIENT_INITIATED, Action: lkpb.LeaveRequest_DISCONNECT}}}); err != nil {
		c.t.Fatalf("send leave: %v", err)
	}
	c.wait("leave echo", func(m *lkpb.SignalResponse) bool { return m.GetLeave() != nil })
	c.waitClosed()
	c.close()
}

func (c *testClient) waitClosed() websocket.StatusCode {
	c.t.Helper()
	deadline := time.Now().Add(testTimeout)
	stop := time.AfterFunc(testTimeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.wsClosed {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: websocket not closed", c.identity)
		}
		c.cond.Wait()
	}
	return c.closeCode
}

// closeSignal closes only the WebSocket (keeps the PC, for resume tests).
func (c *testClient) closeSignal() {
	c.cancel()
	_ = c.ws.CloseNow()
	c.wg.Wait()
}

// close tears everything down (idempotent enough for tests).
func (c *testClient) close() {
	c.cancel()
	if c.ws != nil {
		_ = c.ws.CloseNow()
	}
	c.wg.Wait()
	_ = c.pc.Close()
}
