package signal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lkcore/lkcore/core/internal/wsconn"
	"github.com/lkcore/lkcore/core/joinreq"
	"github.com/lkcore/lkcore/core/lkpb"
	"google.golang.org/protobuf/proto"
)

// Limits and timeouts (docs/protocol.md, Signalling).
const (
	// DefaultFirstMessageTimeout bounds the wait for join/reconnect after the upgrade.
	DefaultFirstMessageTimeout = 5 * time.Second
	// MaxMessageSize is the largest SignalResponse frame accepted (a JoinResponse of a
	// large room can be big; anything beyond this is treated as a protocol error).
	MaxMessageSize = 8 << 20
	// DefaultWriteTimeout guards writes whose context has no deadline.
	DefaultWriteTimeout = 10 * time.Second
	// MaxRequestSize is the largest SignalRequest a LiveKit server reads: its default
	// limit.signal_message_size_limit (2 MiB). A larger frame makes the server drop the
	// WebSocket, so it is refused here (ErrRequestTooLarge) instead of costing a reconnect.
	MaxRequestSize = 2 << 20
	// LeaveGrace is how long Leave waits for the server to close the WebSocket
	// after our LeaveRequest before closing it ourselves (JS waits ≤ 250 ms).
	LeaveGrace = 250 * time.Millisecond
	// messageBuffer is the capacity of the Messages channel.
	messageBuffer = 64
)

// DialOptions configures Dial. The zero value is usable.
type DialOptions struct {
	// Logger receives debug/warn records; nil discards. Tokens are never logged.
	Logger *slog.Logger
	// TLSConfig is used for wss:// URLs (cloned; nil: the system roots).
	TLSConfig *tls.Config
	// Dial opens the TCP connection to the server, or to the proxy the environment names
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY; see wsconn.ProxyFromEnvironment). nil: net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// FirstMessageTimeout bounds the wait for the first response (0: 5 s).
	FirstMessageTimeout time.Duration
	// Resume makes Dial wait for a ReconnectResponse instead of a JoinResponse,
	// discarding any other message that precedes it (as JS 2.23.0 does).
	Resume bool
}

// Client is one signalling WebSocket. Create it with Dial. Messages after the
// first are delivered in order on Messages(); Send may be called from any
// goroutine. Close is idempotent and waits for the client's goroutines.
type Client struct {
	conn *wsconn.Conn
	log  *slog.Logger

	msgs chan *lkpb.SignalResponse
	done chan struct{} // closed when the connection has ended (read loop exited)

	closeOnce sync.Once
	closing   chan struct{} // closed by Close/fail: stops the ping loop
	graceful  atomic.Bool   // CloseGracefully sent our close frame
	errMu     sync.Mutex
	err       error // why the connection ended; guarded by errMu

	wg       sync.WaitGroup
	lastRecv atomic.Int64 // unix nanos of the last received frame
	rtt      atomic.Int64 // last measured RTT in ms
	pingOnce sync.Once
}

// Dial opens the signalling WebSocket for a v1 join (or resume, with
// opts.Resume) and reads the first response. On success it returns the client
// and that first response (join, or reconnect when resuming); the read loop is
// running and later responses arrive on Messages(). Failures are typed:
// *HTTPError (ErrUnauthorized, ErrBadRequest, …), ErrServerUnreachable,
// *LeaveError (ErrJoinRefused), ErrUnexpectedMessage, or ctx's error.
func Dial(ctx context.Context, serverURL, token string, jr *lkpb.JoinRequest, opts DialOptions) (*Client, *lkpb.SignalResponse, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	param, err := joinreq.Encode(jr, lkpb.WrappedJoinRequest_GZIP)
	if err != nil {
		return nil, nil, err
	}
	wsURL, err := BuildURL(serverURL, token, param)
	if err != nil {
		return nil, nil, err
	}
	log.Debug("signal: dialing", "path", PathV1, "resume", opts.Resume, "join_request_len", len(param))

	conn, err := wsconn.Dial(ctx, wsURL, wsconn.Options{
		Dial:           opts.Dial,
		TLSConfig:      opts.TLSConfig,
		MaxMessageSize: MaxMessageSize,
	})
	if err != nil {
		return nil, nil, classifyDialError(ctx, err, token, param, url.QueryEscape(token), url.QueryEscape(param))
	}

	c := &Client{
		conn:    conn,
		log:     log,
		msgs:    make(chan *lkpb.SignalResponse, messageBuffer),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	c.lastRecv.Store(time.Now().UnixNano())

	first, err := c.readFirst(ctx, opts)
	if err != nil {
		conn.CloseNow()
		return nil, nil, err
	}
	c.wg.Add(1)
	go c.readLoop()
	return c, first, nil
}

func classifyDialError(ctx context.Context, err error, secrets ...string) error {
	var se *wsconn.StatusError
	if errors.As(err, &se) {
		body := strings.TrimSpace(sanitize(se.Body, secrets...))
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody]
		}
		return &HTTPError{StatusCode: se.StatusCode, Body: body}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &wrappedError{sentinel: ErrServerUnreachable, msg: "signal: dial: " + ctxErr.Error(), cause: ctxErr}
	}
	// wsconn never formats the URL into an error and a custom Dial only sees host:port;
	// sanitize anyway (the cause is kept for errors.Is/As, its text is not used).
	return &wrappedError{
		sentinel: ErrServerUnreachable,
		msg:      "signal: server unreachable: " + sanitize(err.Error(), secrets...),
		cause:    err,
	}
}

func (c *Client) readFirst(ctx context.Context, opts DialOptions) (*lkpb.SignalResponse, error) {
	timeout := opts.FirstMessageTimeout
	if timeout <= 0 {
		timeout = DefaultFirstMessageTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		res, err := c.readOne(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("signal: waiting for the first response: %w", ctx.Err())
			}
			return nil, err
		}
		switch m := res.GetMessage().(type) {
		case *lkpb.SignalResponse_Leave:
			return nil, &LeaveError{Reason: m.Leave.GetReason(), Action: m.Leave.GetAction()}
		case *lkpb.SignalResponse_Join:
			if !opts.Resume {
				return res, nil
			}
		case *lkpb.SignalResponse_Reconnect:
			if opts.Resume {
				return res, nil
			}
		}
		if !opts.Resume {
			return nil, fmt.Errorf("%w: %T", ErrUnexpectedMessage, res.GetMessage())
		}
		c.log.Debug("signal: discarding message before reconnect", "type", fmt.Sprintf("%T", res.GetMessage()))
	}
}

func (c *Client) readOne(ctx context.Context) (*lkpb.SignalResponse, error) {
	typ, data, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	c.lastRecv.Store(time.Now().UnixNano())
	if typ != wsconn.OpBinary {
		return nil, fmt.Errorf("%w: text frame received", ErrProtocol)
	}
	res := &lkpb.SignalResponse{}
	if err := proto.Unmarshal(data, res); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return res, nil
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.msgs)
	defer close(c.done)
	for {
		res, err := c.readOne(context.Background())
		if err != nil {
			select {
			case <-c.closing:
				c.setErr(ErrClosed)
			default:
				if c.graceful.Load() { // the server's answer to our close, or its end
					c.setErr(ErrClosed)
					break
				}
				if errors.Is(err, ErrProtocol) {
					c.setErr(err)
				} else {
					c.setErr(&wrappedError{sentinel: ErrConnectionLost, msg: "signal: connection lost: " + err.Error(), cause: err})
				}
			}
			c.shutdown()
			return
		}
		if pr, ok := res.GetMessage().(*lkpb.SignalResponse_PongResp); ok {
			if ts := pr.PongResp.GetLastPingTimestamp(); ts > 0 {
				if rtt := time.Now().UnixMilli() - ts; rtt >= 0 {
					c.rtt.Store(rtt)
				}
			}
		}
		select {
		case c.msgs <- res:
		case <-c.closing:
			c.setErr(ErrClosed)
			c.shutdown()
			return
		}
	}
}

// Messages delivers every SignalResponse after the first, in arrival order.
// It is closed when the connection ends; Err then tells why. The owner must
// keep receiving (the read loop waits for it, which is the backpressure).
func (c *Client) Messages() <-chan *lkpb.SignalResponse { return c.msgs }

// Done is closed when the connection has ended (closed locally, lost, or timed out).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err reports why the connection ended: ErrClosed after Close, ErrPingTimeout,
// ErrConnectionLost or ErrProtocol. It is nil while the connection is up.
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

func (c *Client) setErr(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// RTT is the last signalling round trip measured with ping_req/pong_resp (0 before the first).
func (c *Client) RTT() time.Duration { return time.Duration(c.rtt.Load()) * time.Millisecond }

// StartKeepalive starts the ping loop (only the first call has an effect):
// every interval it sends the legacy `ping` (Unix ms) and `ping_req{timestamp
// ms, rtt ms}` like JS 2.23.0, and it ends the connection with ErrPingTimeout
// when nothing at all has been received for timeout. Zero disables the
// corresponding timer (docs/protocol.md, Signalling: Framing and keepalive).
func (c *Client) StartKeepalive(interval, timeout time.Duration) {
	c.pingOnce.Do(func() {
		if interval <= 0 && timeout <= 0 {
			return
		}
		c.wg.Add(1)
		go c.pingLoop(interval, timeout)
	})
}

func (c *Client) pingLoop(interval, timeout time.Duration) {
	defer c.wg.Done()
	var pingC, checkC <-chan time.Time
	writeBound := timeout
	if writeBound <= 0 {
		writeBound = interval
	}
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		pingC = t.C
	}
	if timeout > 0 {
		// Check a few times per timeout so detection is at most timeout+timeout/4 late.
		t := time.NewTicker(max(timeout/4, 10*time.Millisecond))
		defer t.Stop()
		checkC = t.C
	}
	for {
		select {
		case <-c.closing:
			return
		case <-c.done:
			return
		case <-pingC:
			now := time.Now().UnixMilli()
			// A ping write that takes longer than the ping timeout is as good as a dead
			// connection (and a write cut by its context closes it); bounding it by the
			// interval instead would close a healthy connection on a short scheduling stall.
			ctx, cancel := context.WithTimeout(context.Background(), writeBound)
			err := c.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Ping{Ping: now}})
			if err == nil {
				err = c.Send(ctx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_PingReq{
					PingReq: &lkpb.Ping{Timestamp: now, Rtt: c.rtt.Load()}}})
			}
			cancel()
			if err != nil {
				c.log.Debug("signal: ping failed", "err", err)
			}
		case <-checkC:
			silent := time.Since(time.Unix(0, c.lastRecv.Load()))
			if silent > timeout {
				c.log.Warn("signal: ping timeout", "silent", silent.Round(time.Millisecond))
				c.setErr(ErrPingTimeout)
				c.shutdown()
				return
			}
		}
	}
}

// CheckRequestSize returns ErrRequestTooLarge (with the size) when req is larger than a
// LiveKit server reads (MaxRequestSize).
func CheckRequestSize(req *lkpb.SignalRequest) error {
	if n := proto.Size(req); n > MaxRequestSize {
		return tooLarge(n)
	}
	return nil
}

func tooLarge(n int) error {
	return fmt.Errorf("%w: %d bytes, more than the %d a LiveKit server reads", ErrRequestTooLarge, n, MaxRequestSize)
}

// Send writes one binary SignalRequest frame; ErrRequestTooLarge (nothing sent) when it is
// larger than MaxRequestSize. It is safe for concurrent use;
// frames are written whole, in the order the calls acquire the connection.
func (c *Client) Send(ctx context.Context, req *lkpb.SignalRequest) error {
	select {
	case <-c.done:
		if err := c.Err(); err != nil {
			return err
		}
		return ErrClosed
	default:
	}
	data, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("signal: marshal request: %w", err)
	}
	if len(data) > MaxRequestSize {
		return tooLarge(len(data))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWriteTimeout)
		defer cancel()
	}
	if err := c.conn.Write(ctx, wsconn.OpBinary, data); err != nil {
		if e := c.Err(); e != nil {
			return e
		}
		return &wrappedError{sentinel: ErrConnectionLost, msg: "signal: write: " + err.Error(), cause: err}
	}
	return nil
}

// Leave sends LeaveRequest{reason, action DISCONNECT} (encoded as recorded from
// JS: only `reason` on the wire since DISCONNECT is 0), waits up to LeaveGrace
// for the server to close the WebSocket, then closes it. Errors sending the
// leave are ignored: the connection is closed either way.
func (c *Client) Leave(ctx context.Context, reason lkpb.DisconnectReason) {
	sendCtx, cancel := context.WithTimeout(ctx, LeaveGrace)
	err := c.Send(sendCtx, &lkpb.SignalRequest{Message: &lkpb.SignalRequest_Leave{
		Leave: &lkpb.LeaveRequest{Reason: reason, Action: lkpb.LeaveRequest_DISCONNECT}}})
	cancel()
	if err == nil {
		t := time.NewTimer(LeaveGrace)
		select {
		case <-c.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	c.Close()
}

// CloseGracefully closes the connection with the WebSocket closing handshake and returns at
// once: the close frame (1000) follows every request already sent, so the server reads them
// all; Messages keeps delivering what the server sent before its own close frame, then closes,
// and Err reports ErrClosed. When the server has not closed within grace, the connection is
// closed as by Close. Close may still be called (and waits for the client's goroutines).
func (c *Client) CloseGracefully(grace time.Duration) {
	c.graceful.Store(true)
	if err := c.conn.SendClose(1000); err != nil {
		c.shutdown()
		return
	}
	time.AfterFunc(grace, c.shutdown) // a no-op once the connection has ended
}

// Close closes the connection (no close handshake wait beyond what the server
// already did) and waits for the read and ping loops to exit. Idempotent.
func (c *Client) Close() {
	c.shutdown()
	c.wg.Wait()
}

func (c *Client) shutdown() {
	c.closeOnce.Do(func() {
		close(c.closing)
		// CloseNow: the server closes with 1000 after our leave (recorded);
		// when it has not, a bounded local close is what JS does after 250 ms.
		c.conn.CloseNow()
	})
}
