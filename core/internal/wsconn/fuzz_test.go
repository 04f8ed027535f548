package wsconn

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// streamConn is a net.Conn whose peer sent stream and then closed; what is written is dropped.
// After Close, reads fail as a closed socket's do.
type streamConn struct {
	r      *bytes.Reader
	closed *bool
}

func (c streamConn) Read(p []byte) (int, error) {
	if *c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}
func (c streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c streamConn) Close() error                     { *c.closed = true; return nil }
func (c streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c streamConn) SetDeadline(time.Time) error      { return nil }
func (c streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c streamConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRead feeds whatever a server might send after the handshake to Read: it never panics,
// every message it returns is a text or binary message within the size limit, and the first
// error ends the connection (later reads fail too).
func FuzzRead(f *testing.F) {
	for _, s := range [][]byte{
		append([]byte{0x82, 2}, "hi"...),
		{0x01, 1, 'a', 0x89, 1, 'p', 0x80, 1, 'b'},                                // a ping between fragments
		{0x02, 1, 'a', 0x80, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, // length past int64 in sum
		{0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0},                                    // 1 GiB announced
		{0x88, 2, 0x03, 0xE8},
		{0xC2, 0, 0x82, 1, 'x'}, // a protocol error, then a frame already buffered
	} {
		f.Add(s)
	}
	const limit = 1024
	f.Fuzz(func(t *testing.T, stream []byte) {
		nc := streamConn{r: bytes.NewReader(stream), closed: new(bool)}
		c := newConn(nc, bufio.NewReader(nc), limit)
		ctx := context.Background()
		for {
			op, msg, err := c.Read(ctx)
			if err != nil {
				if _, _, err2 := c.Read(ctx); err2 == nil {
					t.Fatalf("a read after %v succeeded", err)
				}
				return
			}
			if op != OpText && op != OpBinary {
				t.Fatalf("opcode %#x returned", byte(op))
			}
			if len(msg) > limit {
				t.Fatalf("%d-byte message past the %d-byte limit", len(msg), limit)
			}
		}
	})
}

// FuzzResponse feeds whatever a server might answer to the upgrade request to the response
// parser and, for a refusal, to the error-body reader: no panic, the head within
// MaxHeaderBytes, the body within MaxErrorBody.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!",
		"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 403 Forbidden\r\n\r\nuntil the server closes",
		"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		resp, err := readResponseHead(br)
		if err != nil {
			return
		}
		n := 0
		for name, vs := range resp.header {
			n += len(name)
			for _, v := range vs {
				n += len(v)
			}
		}
		if n > MaxHeaderBytes {
			t.Fatalf("%d header bytes kept, at most %d read", n, MaxHeaderBytes)
		}
		if body := readErrorBody(br, resp); len(body) > MaxErrorBody {
			t.Fatalf("%d-byte error body, limit %d", len(body), MaxErrorBody)
		}
	})
}
