package wsconn

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Conn is an open WebSocket connection. Read must be called from one goroutine at a time;
// Write and CloseNow may be called from any goroutine.
type Conn struct {
	nc    net.Conn
	br    *bufio.Reader
	limit int64

	// read side (one reader at a time)
	scratch [8]byte

	writeMu   sync.Mutex // one frame on the wire at a time
	closeSent bool       // SendClose wrote our close frame: no frame follows it; guarded by writeMu

	closeOnce sync.Once
	closed    chan struct{} // closed by CloseNow
}

func newConn(nc net.Conn, br *bufio.Reader, limit int64) *Conn {
	return &Conn{nc: nc, br: br, limit: limit, closed: make(chan struct{})}
}

// Read returns the next text or binary message, its fragments reassembled. Pings are
// answered with pongs and pongs are ignored on the way. A close frame from the server is
// answered with a close frame and returned as *CloseError; a message longer than the size
// limit is ErrMessageTooLarge and a framing violation ErrProtocol (both close the connection
// with the matching status). When ctx ends before a message is complete, Read returns ctx's
// error and the connection is closed (the frame stream position is lost). Once the connection
// is closed (any of these errors, or CloseNow), Read returns ErrClosed.
func (c *Conn) Read(ctx context.Context) (Opcode, []byte, error) {
	if c.isClosed() { // not even what is still buffered: after an error it is not a frame boundary
		return 0, nil, ErrClosed
	}
	stop, err := bindDeadline(ctx, c.nc.SetReadDeadline)
	if err != nil {
		return 0, nil, err
	}
	op, msg, err := c.readMessage()
	stop()
	if err != nil {
		wasClosed := c.isClosed()
		err = ctxError(ctx, err)
		c.failRead(err)
		if wasClosed {
			return 0, nil, ErrClosed
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return op, msg, nil
}

// readMessage reads frames until a message is complete.
func (c *Conn) readMessage() (Opcode, []byte, error) {
	var (
		op  Opcode
		msg []byte
		in  bool // inside a fragmented message
	)
	for {
		h, err := readFrameHeader(c.br, c.scratch[:])
		if err != nil {
			return 0, nil, err
		}
		if h.opcode.isControl() {
			payload := make([]byte, h.length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return 0, nil, err
			}
			if err := c.control(h.opcode, payload); err != nil {
				return 0, nil, err
			}
			continue
		}
		if h.opcode == OpContinuation && !in {
			return 0, nil, fmt.Errorf("%w: continuation frame outside a message", ErrProtocol)
		}
		if h.opcode != OpContinuation && in {
			return 0, nil, fmt.Errorf("%w: new message inside a fragmented one", ErrProtocol)
		}
		if h.opcode != OpContinuation {
			op, in = h.opcode, true
		}
		if h.length > c.limit-int64(len(msg)) { // len(msg) <= limit; a sum could wrap around
			return 0, nil, fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, c.limit)
		}
		start := len(msg)
		msg = append(msg, make([]byte, h.length)...)
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return 0, nil, err
		}
		if h.fin {
			if msg == nil {
				msg = []byte{}
			}
			return op, msg, nil
		}
	}
}

// control handles one control frame read in the middle of the stream.
func (c *Conn) control(op Opcode, payload []byte) error {
	switch op {
	case OpPing:
		if err := c.writeControl(OpPong, payload); err != nil {
			return err
		}
	case OpClose:
		ce := &CloseError{Code: 1005}
		switch {
		case len(payload) == 1:
			return fmt.Errorf("%w: one-byte close payload", ErrProtocol)
		case len(payload) >= 2:
			ce.Code = int(binary.BigEndian.Uint16(payload))
			ce.Reason = string(payload[2:])
		}
		// Echo the status (none when the peer sent none), then the peer closes TCP.
		echo := payload
		if len(echo) > 2 {
			echo = echo[:2]
		}
		c.tryWriteClose(echo)
		return ce
	}
	return nil
}

// failRead closes the connection after a read error, first telling the server why when the
// error is ours to report (1002 protocol error, 1009 message too big).
func (c *Conn) failRead(err error) {
	code := 0
	switch {
	case errors.Is(err, ErrProtocol):
		code = 1002
	case errors.Is(err, ErrMessageTooLarge):
		code = 1009
	}
	if code != 0 {
		c.tryWriteClose(binary.BigEndian.AppendUint16(nil, uint16(code)))
	}
	c.CloseNow()
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// ctxError is ctx's error when ctx has ended (or its deadline has passed: the connection's
// deadline may fire a moment before the context's timer), err otherwise.
func ctxError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return err
}

// Write sends data as one final text or binary frame (masked, as a client must). When ctx
// ends before the frame is written, Write returns ctx's error and closes the connection.
func (c *Conn) Write(ctx context.Context, op Opcode, data []byte) error {
	if op != OpText && op != OpBinary {
		return fmt.Errorf("wsconn: Write takes OpText or OpBinary, not %#x", byte(op))
	}
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.writeMu.Unlock()
	stop, err := bindDeadline(ctx, c.nc.SetWriteDeadline)
	if err != nil {
		return err
	}
	err = c.writeFrame(op, data)
	stop()
	if err != nil {
		err = ctxError(ctx, err)
		c.CloseNow()
	}
	return err
}

// lockWrite takes writeMu for one frame; ErrClosed (and not locked) once the connection is
// closed or our close frame is sent.
func (c *Conn) lockWrite() error {
	c.writeMu.Lock()
	if c.closeSent || c.isClosed() {
		c.writeMu.Unlock()
		return ErrClosed
	}
	return nil
}

// SendClose starts the closing handshake from our side: it writes a close frame with code
// (after a frame being written, within controlWriteTimeout) and leaves the connection open for
// reading. Every frame written before it reaches the server ahead of the close, and Read keeps
// returning what the server sent until the server's own close frame, which it returns as
// *CloseError (then the connection is closed). Writes after it fail with ErrClosed. The caller
// bounds the wait for the server's answer and calls CloseNow when it does not come.
func (c *Conn) SendClose(code uint16) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.writeMu.Unlock()
	c.closeSent = true
	_ = c.nc.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	err := c.writeFrame(OpClose, binary.BigEndian.AppendUint16(nil, code))
	_ = c.nc.SetWriteDeadline(time.Time{})
	return err
}

// writeControl writes a control frame within controlWriteTimeout (or the write deadline in
// force, whichever is first).
func (c *Conn) writeControl(op Opcode, payload []byte) error {
	if err := c.lockWrite(); err != nil {
		return err
	}
	defer c.writeMu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	err := c.writeFrame(op, payload)
	_ = c.nc.SetWriteDeadline(time.Time{})
	return err
}

// tryWriteClose writes a close frame unless a Write holds the connection (best effort: the
// connection is closed right after, and a reader must not wait for a stalled writer).
func (c *Conn) tryWriteClose(payload []byte) {
	if !c.writeMu.TryLock() {
		return
	}
	defer c.writeMu.Unlock()
	if c.closeSent || c.isClosed() { // one close frame per side
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	_ = c.writeFrame(OpClose, payload)
}

// writeFrame writes one masked frame; the caller holds writeMu.
func (c *Conn) writeFrame(op Opcode, payload []byte) error {
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return err
	}
	buf := appendFrame(make([]byte, 0, len(payload)+14), op, payload, mask)
	_, err := c.nc.Write(buf)
	return err
}

// bindDeadline applies ctx to the connection through set (a read or write deadline): its deadline,
// and an immediate deadline when it is cancelled. stop undoes it; when ctx ended meanwhile it
// waits until the immediate deadline has been set, so that it cannot land on a later call.
func bindDeadline(ctx context.Context, set func(time.Time) error) (stop func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, _ := ctx.Deadline() // zero: no deadline
	_ = set(d)
	fired := make(chan struct{})
	after := context.AfterFunc(ctx, func() {
		_ = set(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if after() {
			_ = set(time.Time{})
		} else {
			<-fired
		}
	}, nil
}

// CloseNow closes the TCP connection without a closing handshake (idempotent). A Read or
// Write in progress returns an error.
func (c *Conn) CloseNow() {
	c.closeOnce.Do(func() {
		close(c.closed)
		_ = c.nc.Close()
	})
}
