package signal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lkcore/lkcore/core/joinreq"
	"github.com/lkcore/lkcore/core/lkpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sampleJoinRequest() *lkpb.JoinRequest {
	return &lkpb.JoinRequest{
		ClientInfo: &lkpb.ClientInfo{
			Sdk: lkpb.ClientInfo_GO, Version: "0.1.0", Protocol: 17, Os: "linux",
			ClientProtocol: 2, Capabilities: []lkpb.ClientInfo_Capability{lkpb.ClientInfo_CAP_COMPRESSION_DEFLATE_RAW},
		},
		ConnectionSettings: &lkpb.ConnectionSettings{AutoSubscribe: false},
		PublisherOffer:     &lkpb.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 1},
	}
}

func TestRegionsURL(t *testing.T) {
	for in, want := range map[string]string{
		"wss://p.livekit.cloud":                   "https://p.livekit.cloud/settings/regions",
		"ws://127.0.0.1:7880":                     "http://127.0.0.1:7880/settings/regions",
		"https://p.livekit.cloud/prefix?x=1#frag": "https://p.livekit.cloud/settings/regions",
		" http://h:80/ ":                          "http://h:80/settings/regions",
	} {
		if got, err := RegionsURL(in); err != nil || got != want {
			t.Errorf("RegionsURL(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"ftp://h", "wss://", "%zz", ""} {
		if _, err := RegionsURL(bad); err == nil {
			t.Errorf("RegionsURL(%q) accepted", bad)
		}
	}
}

func TestBuildURL(t *testing.T) {
	cases := []struct{ in, wantPrefix string }{
		{"ws://127.0.0.1:7880", "ws://127.0.0.1:7880/rtc/v1?"},
		{"http://h:1/", "ws://h:1/rtc/v1?"},
		{"https://h/prefix", "wss://h/prefix/rtc/v1?"},
		{"wss://h/prefix/", "wss://h/prefix/rtc/v1?"},
	}
	for _, c := range cases {
		got, err := BuildURL(c.in, "tok.en", "YWJj")
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if !strings.HasPrefix(got, c.wantPrefix) {
			t.Errorf("%s: got %s", c.in, got)
		}
		if !strings.HasSuffix(got, "?access_token=tok.en&join_request=YWJj") {
			t.Errorf("%s: query %s", c.in, got)
		}
	}
	got, _ := BuildURL("ws://h", "t", "YQ==")
	if !strings.HasSuffix(got, "join_request=YQ%3D%3D") {
		t.Errorf("padding not percent-encoded: %s", got)
	}
	for _, bad := range []string{"ftp://h", "h:7880", "ws://", "::"} {
		if _, err := BuildURL(bad, "t", "x"); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("%q: want ErrInvalidURL, got %v", bad, err)
		}
	}
	v, err := ValidateURL("wss://h/p/rtc/v1?access_token=t&join_request=x")
	if err != nil || v != "https://h/p/rtc/v1/validate?access_token=t&join_request=x" {
		t.Errorf("validate URL %q %v", v, err)
	}
}

func TestHTTPErrorClassification(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   error
	}{
		{401, "invalid authorization token: bad", ErrUnauthorized},
		{403, "", ErrUnauthorized},
		{404, "requested room does not exist", ErrRoomNotFound},
		{404, "404 page not found", ErrServiceNotFound},
		{400, "no room name", ErrBadRequest},
		{503, "", ErrServerError},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, c.body, c.status)
		}))
		_, _, err := Dial(context.Background(), srv.URL, "secret-token", sampleJoinRequest(), DialOptions{})
		srv.Close()
		if !errors.Is(err, c.want) {
			t.Errorf("%d %q: got %v, want %v", c.status, c.body, err, c.want)
		}
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != c.status || he.Body != c.body {
			t.Errorf("%d: HTTPError %+v", c.status, he)
		}
		if strings.Contains(err.Error(), "secret-token") {
			t.Errorf("token leaked into error: %v", err)
		}
	}
}

func TestDialUnreachableDoesNotLeakToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	_, _, err := Dial(context.Background(), addr, "secret-token", sampleJoinRequest(), DialOptions{})
	if !errors.Is(err, ErrServerUnreachable) {
		t.Fatalf("want ErrServerUnreachable, got %v", err)
	}
	if strings.Contains(err.Error(), "secret-token") || strings.Contains(err.Error(), "join_request") {
		t.Fatalf("secret in error: %v", err)
	}
}

// fakeServer accepts one WebSocket, checks the query, sends first, then runs script.
func fakeServer(t *testing.T, first *lkpb.SignalResponse, script func(ctx context.Context, c *websocket.Conn)) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rtc/v1" || r.URL.Query().Get("access_token") != "tok" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if _, _, err := joinreq.Decode(r.URL.Query().Get("join_request")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		b, _ := proto.Marshal(first)
		if err := c.Write(r.Context(), websocket.MessageBinary, b); err != nil {
			return
		}
		script(r.Context(), c)
	}))
}

func joinResponse() *lkpb.SignalResponse {
	return &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Join{Join: &lkpb.JoinResponse{
		Participant: &lkpb.ParticipantInfo{Sid: "PA_1", Identity: "me"}, PingInterval: 5, PingTimeout: 15}}}
}

func readReq(ctx context.Context, c *websocket.Conn) (*lkpb.SignalRequest, error) {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("text frame")
	}
	req := &lkpb.SignalRequest{}
	return req, proto.Unmarshal(b, req)
}

func TestDialJoinPingLeave(t *testing.T) {
	got := make(chan *lkpb.SignalRequest, 16)
	srv := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) {
		for {
			req, err := readReq(ctx, c)
			if err != nil {
				return
			}
			got <- req
			switch m := req.GetMessage().(type) {
			case *lkpb.SignalRequest_PingReq:
				b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_PongResp{
					PongResp: &lkpb.Pong{LastPingTimestamp: m.PingReq.GetTimestamp(), Timestamp: time.Now().UnixMilli()}}})
				_ = c.Write(ctx, websocket.MessageBinary, b)
			case *lkpb.SignalRequest_Leave:
				b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: m.Leave}})
				_ = c.Write(ctx, websocket.MessageBinary, b)
				_ = c.Close(websocket.StatusNormalClosure, "")
				return
			}
		}
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, first, err := Dial(ctx, srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetJoin().GetParticipant().GetSid() != "PA_1" {
		t.Fatalf("first = %v", first)
	}
	c.StartKeepalive(20*time.Millisecond, time.Second)
	var sawPing, sawPingReq bool
	for !(sawPing && sawPingReq) {
		select {
		case req := <-got:
			switch m := req.GetMessage().(type) {
			case *lkpb.SignalRequest_Ping:
				sawPing = m.Ping > 1e12 && m.Ping < 1e13 // Unix milliseconds, not nanoseconds
			case *lkpb.SignalRequest_PingReq:
				sawPingReq = true
			}
		case <-ctx.Done():
			t.Fatal("no pings")
		}
	}
	// pong_resp must be delivered in order on Messages.
	select {
	case m := <-c.Messages():
		if m.GetPongResp() == nil {
			t.Fatalf("unexpected %v", m)
		}
	case <-ctx.Done():
		t.Fatal("no pong")
	}
	go func() {
		for range c.Messages() { //nolint:revive // drain
		}
	}()
	c.Leave(ctx, lkpb.DisconnectReason_CLIENT_INITIATED)
	for req := range drain(got) {
		if l := req.GetLeave(); l != nil {
			if l.GetReason() != lkpb.DisconnectReason_CLIENT_INITIATED || l.GetAction() != lkpb.LeaveRequest_DISCONNECT {
				t.Fatalf("leave = %v", l)
			}
			b, _ := proto.Marshal(req)
			// Recorded JS leave: {"leave":{"reason":"CLIENT_INITIATED"}} = 4 bytes.
			if len(b) != 4 {
				t.Fatalf("leave frame is %d bytes, recorded 4", len(b))
			}
			return
		}
	}
	t.Fatal("no leave sent")
}

func drain(ch chan *lkpb.SignalRequest) chan *lkpb.SignalRequest {
	out := make(chan *lkpb.SignalRequest, cap(ch))
	for {
		select {
		case r := <-ch:
			out <- r
		default:
			close(out)
			return out
		}
	}
}

func TestPingTimeout(t *testing.T) {
	srv := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) {
		for { // read but never answer
			if _, err := readReq(ctx, c); err != nil {
				return
			}
		}
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.StartKeepalive(10*time.Millisecond, 50*time.Millisecond)
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("no timeout")
	}
	if !errors.Is(c.Err(), ErrPingTimeout) {
		t.Fatalf("err = %v", c.Err())
	}
	if err := c.Send(ctx, &lkpb.SignalRequest{}); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("send after end: %v", err)
	}
}

func TestFirstMessageLeaveAndUnexpected(t *testing.T) {
	leave := &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Leave{Leave: &lkpb.LeaveRequest{Reason: lkpb.DisconnectReason_JOIN_FAILURE}}}
	srv := fakeServer(t, leave, func(ctx context.Context, c *websocket.Conn) { _, _ = readReq(ctx, c) })
	_, _, err := Dial(context.Background(), srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	srv.Close()
	var le *LeaveError
	if !errors.Is(err, ErrJoinRefused) || !errors.As(err, &le) || le.Reason != lkpb.DisconnectReason_JOIN_FAILURE {
		t.Fatalf("got %v", err)
	}

	pong := &lkpb.SignalResponse{Message: &lkpb.SignalResponse_Pong{Pong: 1}}
	srv = fakeServer(t, pong, func(ctx context.Context, c *websocket.Conn) { _, _ = readReq(ctx, c) })
	_, _, err = Dial(context.Background(), srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	srv.Close()
	if !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("got %v", err)
	}

	// Resume: messages before `reconnect` are discarded.
	srv = fakeServer(t, pong, func(ctx context.Context, c *websocket.Conn) {
		b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_Reconnect{Reconnect: &lkpb.ReconnectResponse{LastMessageSeq: 7}}})
		_ = c.Write(ctx, websocket.MessageBinary, b)
		_, _ = readReq(ctx, c)
	})
	c, first, err := Dial(context.Background(), srv.URL, "tok", sampleJoinRequest(), DialOptions{Resume: true})
	if err != nil || first.GetReconnect().GetLastMessageSeq() != 7 {
		t.Fatalf("resume: %v %v", first, err)
	}
	c.Close()
	srv.Close()
}

func TestFirstMessageTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, _ = c.Read(r.Context())
	}))
	defer srv.Close()
	start := time.Now()
	_, _, err := Dial(context.Background(), srv.URL, "tok", sampleJoinRequest(), DialOptions{FirstMessageTimeout: 50 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestConnectionLost(t *testing.T) {
	srv := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) {
		_ = c.Close(websocket.StatusGoingAway, "bye")
	})
	defer srv.Close()
	c, _, err := Dial(context.Background(), srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range c.Messages() {
	}
	if !errors.Is(c.Err(), ErrConnectionLost) {
		t.Fatalf("err = %v", c.Err())
	}
	c.Close()
	c.Close() // idempotent
}

// A refused upgrade arrives as *HTTPError with the server's text (the token never in it); a
// wss:// server is trusted through DialOptions.TLSConfig only.
func TestDialRefusedAndTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) { _, _, _ = c.Read(ctx) })
	defer srv.Close()
	_, _, err := Dial(ctx, srv.URL, "not-the-expected-token", sampleJoinRequest(), DialOptions{})
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 400 || he.Body != "bad" || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("refused upgrade: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-expected-token") {
		t.Fatalf("token in the error: %v", err)
	}

	tlsSrv := httptest.NewUnstartedServer(srv.Config.Handler)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	wss := "wss" + strings.TrimPrefix(tlsSrv.URL, "https")
	if _, _, err := Dial(ctx, wss, "tok", sampleJoinRequest(), DialOptions{}); !errors.Is(err, ErrServerUnreachable) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	cfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c, first, err := Dial(ctx, wss, "tok", sampleJoinRequest(), DialOptions{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if first.GetJoin().GetParticipant().GetIdentity() != "me" {
		t.Fatalf("first response over TLS: %v", first)
	}
}

// A request larger than a LiveKit server reads (MaxRequestSize) is refused with
// ErrRequestTooLarge and never written (the server would drop the WebSocket); one of exactly
// MaxRequestSize bytes is sent, and the connection goes on.
func TestSendRefusesWhatTheServerCannotRead(t *testing.T) {
	got := make(chan *lkpb.SignalRequest, 4)
	srv := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) {
		c.SetReadLimit(MaxRequestSize) // what the server reads
		for {
			req, err := readReq(ctx, c)
			if err != nil {
				return
			}
			got <- req
		}
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	metadata := func(n int) *lkpb.SignalRequest {
		return &lkpb.SignalRequest{Message: &lkpb.SignalRequest_UpdateMetadata{UpdateMetadata: &lkpb.UpdateParticipantMetadata{
			Metadata: strings.Repeat("m", n)}}}
	}
	n := MaxRequestSize // the metadata length that makes a request of exactly MaxRequestSize
	for proto.Size(metadata(n)) != MaxRequestSize {
		n += MaxRequestSize - proto.Size(metadata(n))
	}
	if err := c.Send(ctx, metadata(n+1)); !errors.Is(err, ErrRequestTooLarge) {
		t.Fatalf("one byte too many: %v", err)
	}
	if err := c.Send(ctx, metadata(n)); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-got:
		if len(req.GetUpdateMetadata().GetMetadata()) != n {
			t.Fatalf("the server read a request of %d bytes first", proto.Size(req))
		}
	case <-ctx.Done():
		t.Fatal("the request that fits never arrived")
	}
}

// CloseGracefully: the server reads every request sent before it, the client still receives
// what the server sent before its close, and the connection ends as closed (ErrClosed); a
// server that never answers the close is cut after the grace.
func TestCloseGracefully(t *testing.T) {
	got := make(chan string, 4)
	srv := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) {
		req, err := readReq(ctx, c)
		if err != nil {
			return
		}
		got <- fmt.Sprintf("%T", req.GetMessage())
		b, _ := proto.Marshal(&lkpb.SignalResponse{Message: &lkpb.SignalResponse_RefreshToken{RefreshToken: "t2"}})
		_ = c.Write(ctx, websocket.MessageBinary, b)
		_, err = readReq(ctx, c) // the client's close: answered by the library
		got <- fmt.Sprint(websocket.CloseStatus(err))
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, srv.URL, "tok", sampleJoinRequest(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Simulate{Simulate: &lkpb.SimulateScenario{
		Scenario: &lkpb.SimulateScenario_NodeFailure{NodeFailure: true}}}}); err != nil {
		t.Fatal(err)
	}
	c.CloseGracefully(time.Minute)
	var msgs []*lkpb.SignalResponse
	for m := range c.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 1 || msgs[0].GetRefreshToken() != "t2" {
		t.Fatalf("messages after the close: %v", msgs)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", c.Err())
	}
	for _, want := range []string{"*lkpb.SignalRequest_Simulate", "StatusNormalClosure"} {
		if s := <-got; s != want {
			t.Fatalf("server: %s, want %s", s, want)
		}
	}
	if err := c.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Ping{Ping: 1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after the close: %v", err)
	}

	// A server that reads nothing more never answers: the grace ends the connection.
	hold := make(chan struct{})
	defer close(hold)
	mute := fakeServer(t, joinResponse(), func(ctx context.Context, c *websocket.Conn) {
		select {
		case <-hold:
		case <-ctx.Done():
		}
	})
	defer mute.Close()
	c2, _, err := Dial(ctx, mute.URL, "tok", sampleJoinRequest(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.CloseGracefully(50 * time.Millisecond)
	select {
	case <-c2.Done():
	case <-ctx.Done():
		t.Fatal("the grace did not end the connection")
	}
	if !errors.Is(c2.Err(), ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", c2.Err())
	}
}
