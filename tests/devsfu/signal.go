package devsfu

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lkcore/lkcore/core/lkpb"
)

const (
	// signalQueueSize bounds the responses queued for one WebSocket. A
	// client that does not read this many messages is cut off (abrupt close)
	// rather than buffering without limit.
	signalQueueSize = 4096
	// signalMessageLimit is livekit-server's inbound frame limit (2 MiB).
	signalMessageLimit = 2 << 20
	// signalWriteTimeout bounds one WebSocket write.
	signalWriteTimeout = 5 * time.Second
	// closeHandshakeTimeout bounds the graceful close (JS waits 250 ms).
	closeHandshakeTimeout = time.Second
)

// errSignalClosed is returned when sending on a closed signal connection.
var errSignalClosed = errors.New("devsfu: signal connection closed")

// signalConn is one signalling WebSocket. Responses go through a bounded
// queue to a single writer goroutine, so they leave in enqueue order.
// Requests are read by the HTTP handler goroutine (readLoop).
type signalConn struct {
	ws     *websocket.Conn
	log    *slog.Logger
	out    chan *lkpb.SignalResponse
	ctx    context.Context // canceled when the connection ends
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closing  bool // no more enqueues
	graceful bool // after draining, close with 1000
	jsonMode bool // the client sent a text frame: answer in protojson text
	closed   chan struct{}
	once     sync.Once
}

func newSignalConn(ws *websocket.Conn, log *slog.Logger, wsPingInterval time.Duration) *signalConn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &signalConn{
		ws:     ws,
		log:    log,
		out:    make(chan *lkpb.SignalResponse, signalQueueSize),
		ctx:    ctx,
		cancel: cancel,
		closed: make(chan struct{}),
	}
	ws.SetReadLimit(signalMessageLimit)
	c.wg.Add(1)
	go c.writeLoop()
	if wsPingInterval > 0 {
		c.wg.Add(1)
		go c.pingLoop(wsPingInterval)
	}
	return c
}

// send enqueues msg without blocking. A full queue means the client is not
// reading: the connection is dropped.
func (c *signalConn) send(msg *lkpb.SignalResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return errSignalClosed
	}
	return c.enqueueLocked(msg)
}

func (c *signalConn) enqueueLocked(msg *lkpb.SignalResponse) error {
	select {
	case c.out <- msg:
		return nil
	default:
		c.log.Warn("signal queue full, dropping connection")
		c.closing = true
		c.cancel()
		return errSignalClosed
	}
}

// closeGraceful lets the queued responses drain, then closes with 1000
// (what livekit-server does after a leave).
func (c *signalConn) closeGraceful() {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.graceful = true
		close(c.out)
	}
	c.mu.Unlock()
}

// drop closes the TCP connection at once, without a close frame (a network
// failure as seen by the client).
func (c *signalConn) drop() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.cancel()
	_ = c.ws.CloseNow()
}

// dropUnlessGraceful drops c unless a graceful close (queued responses
// draining, then a close frame) is under way.
func (c *signalConn) dropUnlessGraceful() {
	c.mu.Lock()
	graceful := c.graceful
	c.mu.Unlock()
	if !graceful {
		c.drop()
	}
}

// wait blocks until the writer and pinger have stopped.
func (c *signalConn) wait() { c.wg.Wait() }

func (c *signalConn) writeLoop() {
	defer c.wg.Done()
	defer c.once.Do(func() { close(c.closed) })
	for {
		select {
		case <-c.ctx.Done():
			_ = c.ws.CloseNow()
			return
		case msg, ok := <-c.out:
			if !ok {
				// graceful: queue drained
				ctx, cancel := context.WithTimeout(context.Background(), closeHandshakeTimeout)
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = c.ws.Close(websocket.StatusNormalClosure, "")
				}()
				select {
				case <-done:
				case <-ctx.Done():
					_ = c.ws.CloseNow()
					<-done
				}
				cancel()
				c.cancel()
				return
			}
			if err := c.write(msg); err != nil {
				c.log.Debug("signal write failed", "err", err)
				c.cancel()
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}

func (c *signalConn) write(msg *lkpb.SignalResponse) error {
	c.mu.Lock()
	jsonMode := c.jsonMode
	c.mu.Unlock()
	typ := websocket.MessageBinary
	var b []byte
	var err error
	if jsonMode {
		typ = websocket.MessageText
		b, err = protojson.Marshal(msg)
	} else {
		b, err = proto.Marshal(msg)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, signalWriteTimeout)
	defer cancel()
	return c.ws.Write(ctx, typ, b)
}

// pingLoop sends WebSocket ping control frames like livekit-server (every
// 10 s by default). The server does not enforce the pong.
func (c *signalConn) pingLoop(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(c.ctx, every)
			_ = c.ws.Ping(ctx)
			cancel()
		}
	}
}

// read returns the next request. A text frame is parsed as protojson and
// switches replies to JSON text until the next binary frame, as
// livekit-server's wsprotocol.go does.
func (c *signalConn) read() (*lkpb.SignalRequest, error) {
	for {
		typ, b, err := c.ws.Read(c.ctx)
		if err != nil {
			return nil, err
		}
		req := &lkpb.SignalRequest{}
		switch typ {
		case websocket.MessageBinary:
			c.setJSON(false)
			err = proto.Unmarshal(b, req)
		default:
			c.setJSON(true)
			err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, req)
		}
		if err != nil {
			c.log.Debug("undecodable signal request", "err", err)
			continue
		}
		return req, nil
	}
}

func (c *signalConn) setJSON(on bool) {
	c.mu.Lock()
	c.jsonMode = on
	c.mu.Unlock()
}
