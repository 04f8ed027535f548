package wsconn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 10 * time.Second

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

// echoServer echoes every message; a message "frag" is answered with three fragments.
func echoServer(t *testing.T, tlsServer bool) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 24)
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if string(data) == "frag" {
				wr, err := c.Writer(r.Context(), websocket.MessageBinary)
				if err != nil {
					return
				}
				for _, p := range []string{"a", "bb", "ccc"} {
					if _, err := wr.Write([]byte(p)); err != nil {
						return
					}
				}
				if wr.Close() != nil {
					return
				}
				continue
			}
			if err := c.Write(r.Context(), typ, data); err != nil {
				return
			}
		}
	})
	var s *httptest.Server
	if tlsServer {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func TestEchoSizesAndFragments(t *testing.T) {
	s := echoServer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, wsURL(s)+"/path?access_token=x", Options{MaxMessageSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// 7-bit, 16-bit and 64-bit payload lengths, and an empty message.
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 300000} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		if err := c.Write(ctx, OpBinary, msg); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		op, got, err := c.Read(ctx)
		if err != nil || op != OpBinary || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: op %v, %d bytes, %v", n, op, len(got), err)
		}
	}
	if err := c.Write(ctx, OpText, []byte("hé")); err != nil {
		t.Fatal(err)
	}
	if op, got, err := c.Read(ctx); err != nil || op != OpText || string(got) != "hé" {
		t.Fatalf("text echo: %v %q %v", op, got, err)
	}
	if err := c.Write(ctx, OpBinary, []byte("frag")); err != nil {
		t.Fatal(err)
	}
	if op, got, err := c.Read(ctx); err != nil || op != OpBinary || string(got) != "abbccc" {
		t.Fatalf("fragmented message: %v %q %v", op, got, err)
	}
	if err := c.Write(ctx, OpPing, nil); err == nil {
		t.Fatal("Write accepted a control opcode")
	}
	c.CloseNow()
	if err := c.Write(ctx, OpBinary, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after CloseNow: %v", err)
	}
	if _, _, err := c.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after CloseNow: %v", err)
	}
}

func TestTLSRoots(t *testing.T) {
	s := echoServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	u := "wss" + strings.TrimPrefix(s.URL, "https")
	if _, err := Dial(ctx, u, Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate accepted: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	cfg := s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.RootCAs = pool
	c, err := Dial(ctx, u, Options{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	wantEcho(t, ctx, c, "tls", "echo over TLS")
}

func TestRefusedUpgrade(t *testing.T) {
	long := strings.Repeat("z", 5000)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/401":
			http.Error(w, "invalid authorization token", http.StatusUnauthorized)
		case "/chunked":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "requested room ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "does not exist")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, long)
		}
	}))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/401", 401, "invalid authorization token\n"},
		{"/chunked", 404, "requested room does not exist"},
		{"/long", 503, long[:MaxErrorBody]},
	} {
		_, err := Dial(ctx, wsURL(s)+c.path+"?access_token=secret-token-value", Options{})
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != c.status || se.Body != c.body {
			t.Fatalf("%s: %v (%+v)", c.path, err, se)
		}
		if strings.Contains(err.Error(), "secret-token-value") {
			t.Fatalf("%s: the token is in the error: %v", c.path, err)
		}
	}
}

// rawServer runs script on each TCP connection accepted (the tests make one), after reading
// the upgrade request, whose head it passes along, and returns the ws:// URL.
func rawServer(t *testing.T, script func(c net.Conn, br *bufio.Reader, key string)) string {
	t.Helper()
	return "ws://" + serveEach(t, func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		br := bufio.NewReader(c)
		key := ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if k, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
				key = strings.TrimSpace(k)
			}
			if line == "\r\n" {
				break
			}
		}
		script(c, br, key)
	}) + "/rtc"
}

func accept(c net.Conn, key string) {
	_, _ = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(key))
}

// readClientFrame reads one (masked) client frame and returns its opcode and payload.
func readClientFrame(br *bufio.Reader) (Opcode, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 == 0 {
		return 0, nil, errors.New("unmasked client frame")
	}
	n := int(h[1] & 0x7F)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	var mask [4]byte
	if _, err := io.ReadFull(br, mask[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= mask[i&3]
	}
	return Opcode(h[0] & 0x0F), p, nil
}

func TestPingCloseAndProtocolErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// A ping is answered with a pong carrying its payload; a close frame ends Read with
	// *CloseError and is echoed.
	got := make(chan string, 2)
	u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) {
		accept(c, key)
		_, _ = c.Write([]byte{0x89, 3, 'p', 'i', 'n'})
		op, p, err := readClientFrame(br)
		got <- fmt.Sprintf("%x %s %v", byte(op), p, err)
		_, _ = c.Write(append([]byte{0x82, 2}, "hi"...))
		_, _ = c.Write(append([]byte{0x88, 5, 0x03, 0xE8}, "bye"...))
		op, p, err = readClientFrame(br)
		got <- fmt.Sprintf("%x %x %v", byte(op), p, err)
	})
	c, err := Dial(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if op, msg, err := c.Read(ctx); err != nil || op != OpBinary || string(msg) != "hi" {
		t.Fatalf("message after a ping: %v %q %v", op, msg, err)
	}
	if s := <-got; s != "a pin <nil>" {
		t.Fatalf("pong: %s", s)
	}
	_, _, err = c.Read(ctx)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 || ce.Reason != "bye" {
		t.Fatalf("close: %v", err)
	}
	if s := <-got; s != "8 03e8 <nil>" {
		t.Fatalf("close echo: %s", s)
	}

	bad := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"masked", []byte{0x82, 0x81, 1, 2, 3, 4, 5}, ErrProtocol},
		{"reserved bit", []byte{0xC2, 0}, ErrProtocol},
		{"unknown opcode", []byte{0x83, 0}, ErrProtocol},
		{"fragmented ping", []byte{0x09, 0}, ErrProtocol},
		{"long ping", append([]byte{0x89, 126, 0, 126}, make([]byte, 126)...), ErrProtocol},
		{"lone continuation", []byte{0x80, 0}, ErrProtocol},
		{"message in a message", []byte{0x02, 1, 'a', 0x82, 1, 'b'}, ErrProtocol},
		{"too large", append([]byte{0x82, 126, 0x04, 0x00}, make([]byte, 1024)...), ErrMessageTooLarge},
		{"too large in fragments", append(append([]byte{0x02, 126, 0x02, 0x00}, make([]byte, 512)...), append([]byte{0x80, 126, 0x02, 0x01}, make([]byte, 513)...)...), ErrMessageTooLarge},
		// 1 byte, then a continuation of 2^63-1 bytes: the sum must not wrap around the limit check.
		{"too large past int64", []byte{0x02, 1, 'a', 0x80, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, ErrMessageTooLarge},
		{"truncated", []byte{0x82, 10, 'a'}, io.ErrUnexpectedEOF},
	}
	for _, b := range bad {
		closeCode := make(chan string, 1)
		u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) {
			accept(c, key)
			_, _ = c.Write(b.frame)
			if b.want == io.ErrUnexpectedEOF {
				closeCode <- ""
				return // closes the connection mid-frame
			}
			op, p, err := readClientFrame(br)
			closeCode <- fmt.Sprintf("%x %x %v", byte(op), p, err)
		})
		c, err := Dial(ctx, u, Options{MaxMessageSize: 1023})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); !errors.Is(err, b.want) {
			t.Fatalf("%s: %v, want %v", b.name, err, b.want)
		}
		want := "8 03ea <nil>" // 1002
		switch b.want {
		case ErrMessageTooLarge:
			want = "8 03f1 <nil>" // 1009
		case io.ErrUnexpectedEOF:
			want = ""
		}
		if s := <-closeCode; s != want {
			t.Fatalf("%s: close frame sent %q, want %q", b.name, s, want)
		}
	}
}

func TestBadHandshakes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cases := []struct {
		name  string
		reply func(c net.Conn, key string)
		want  error
	}{
		{"wrong accept", func(c net.Conn, key string) {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n")
		}, ErrHandshake},
		{"no upgrade header", func(c net.Conn, key string) {
			_, _ = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(key))
		}, ErrHandshake},
		{"extension not offered", func(c net.Conn, key string) {
			_, _ = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", acceptKey(key))
		}, ErrHandshake},
		{"not http", func(c net.Conn, key string) { _, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n") }, ErrHandshake},
		{"endless headers", func(c net.Conn, key string) {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n")
			for i := 0; i < 2000; i++ {
				if _, err := fmt.Fprintf(c, "X-Filler-%d: %s\r\n", i, strings.Repeat("f", 20)); err != nil {
					return
				}
			}
		}, ErrHandshake},
	}
	for _, tc := range cases {
		u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) { tc.reply(c, key) })
		if _, err := Dial(ctx, u, Options{}); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// A server that accepts TCP and never answers: the handshake timeout ends the wait.
	u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) { _, _ = br.ReadByte() })
	if _, err := Dial(ctx, u, Options{HandshakeTimeout: 200 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent server: %v", err)
	}
	for _, bad := range []string{"http://h/", "ws://", "::"} {
		if _, err := Dial(ctx, bad, Options{}); !errors.Is(err, ErrInvalidURL) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestReadAndWriteFollowTheContext(t *testing.T) {
	release := make(chan struct{})
	u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) {
		accept(c, key)
		<-release
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer rcancel()
	if _, _, err := c.Read(rctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	// The stream position is lost: the connection is closed.
	if err := c.Write(ctx, OpBinary, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after a failed read: %v", err)
	}

	c2, err := Dial(ctx, u2(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); ccancel() }()
	if _, _, err := c2.Read(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

// u2 is a server that completes the upgrade and then stays silent until the test ends.
func u2(t *testing.T) string {
	release := make(chan struct{})
	u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) {
		accept(c, key)
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before rawServer's cleanup waits
	return u
}

func TestProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "proxy.example:3128")
	t.Setenv("HTTPS_PROXY", "https://user:pw@secure.example")
	t.Setenv("NO_PROXY", "skip.example, .sub.example, 10.0.0.0/8, 192.168.1.2, port.example:8443")
	t.Setenv("REQUEST_METHOD", "")
	cases := []struct{ target, want string }{
		{"ws://h.example/rtc", "http://proxy.example:3128"},
		{"wss://h.example/rtc", "https://user:pw@secure.example"},
		{"ws://localhost:7880", ""},
		{"ws://127.0.0.1:7880", ""},
		{"ws://[::1]:7880", ""},
		{"wss://skip.example", ""},
		{"wss://a.skip.example", ""},
		{"wss://sub.example", "https://user:pw@secure.example"},
		{"wss://x.sub.example", ""},
		{"wss://10.1.2.3", ""},
		{"wss://192.168.1.2", ""},
		{"wss://192.168.1.3", "https://user:pw@secure.example"},
		{"wss://port.example:8443", ""},
		{"wss://port.example", "https://user:pw@secure.example"},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.target)
		p, err := ProxyFromEnvironment(u)
		got := ""
		if p != nil {
			got = p.String()
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.target, got, err, c.want)
		}
	}
	t.Setenv("NO_PROXY", "*")
	if p, _ := ProxyFromEnvironment(&url.URL{Scheme: "wss", Host: "any.example"}); p != nil {
		t.Errorf("NO_PROXY=*: %v", p)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("REQUEST_METHOD", "GET")
	if p, _ := ProxyFromEnvironment(&url.URL{Scheme: "ws", Host: "any.example"}); p != nil {
		t.Errorf("HTTP_PROXY used in a CGI program: %v", p)
	}
	t.Setenv("HTTPS_PROXY", "ftp://proxy.example")
	if _, err := ProxyFromEnvironment(&url.URL{Scheme: "wss", Host: "any.example"}); !errors.Is(err, ErrProxy) {
		t.Errorf("ftp proxy: %v", err)
	}
}

// connectProxy is an HTTP CONNECT proxy for one tunnel that requires the credentials
// user:pw (else 407).
func connectProxy(t *testing.T) *url.URL {
	return &url.URL{Scheme: "http", Host: serveEach(t, serveConnect)}
}

// serveEach serves every TCP connection accepted on a new loopback listener with serve, one
// at a time, until the test ends; it returns the listener's address.
func serveEach(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
		}
	}()
	return ln.Addr().String()
}

func serveConnect(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pw"))
	if req.Header.Get("Proxy-Authorization") != want {
		_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	_ = up.SetDeadline(time.Now().Add(testTimeout))
	_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { _, _ = io.Copy(up, br); _ = up.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(c, up)
}

func TestConnectProxy(t *testing.T) {
	s := echoServer(t, false)
	p := connectProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	via := func(pu *url.URL) func(*url.URL) (*url.URL, error) {
		return func(*url.URL) (*url.URL, error) { return pu, nil }
	}
	wrong := *p
	wrong.User = url.UserPassword("user", "wrong-password")
	_, err := Dial(ctx, wsURL(s), Options{Proxy: via(&wrong)})
	if !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), "407") || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("refused tunnel: %v", err)
	}
	good := *p
	good.User = url.UserPassword("user", "pw")
	c, err := Dial(ctx, wsURL(s), Options{Proxy: via(&good)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	wantEcho(t, ctx, c, "tunnelled", "echo through the proxy")
}

// socksProxy is a SOCKS5 proxy (RFC 1928, username/password method only) that tunnels to the
// address asked for; it records the target it was asked for.
func socksProxy(t *testing.T, targets chan<- string) *url.URL {
	host := serveEach(t, func(c net.Conn) { serveSocks(c, targets) })
	return &url.URL{Scheme: "socks5", Host: host, User: url.UserPassword("u", "p")}
}

func serveSocks(c net.Conn, targets chan<- string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(c)
	read := func(n int) []byte {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil
		}
		return b
	}
	hello := read(2)
	if hello == nil || hello[0] != 5 || read(int(hello[1])) == nil {
		return
	}
	_, _ = c.Write([]byte{5, 2}) // username/password
	auth := read(2)
	if auth == nil {
		return
	}
	user := read(int(auth[1]))
	plen := read(1)
	if plen == nil {
		return
	}
	pass := read(int(plen[0]))
	if string(user) != "u" || string(pass) != "p" {
		_, _ = c.Write([]byte{1, 1})
		return
	}
	_, _ = c.Write([]byte{1, 0})
	req := read(4)
	if req == nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		host = net.IP(read(4)).String()
	case 3:
		l := read(1)
		if l == nil {
			return
		}
		host = string(read(int(l[0])))
	default:
		return
	}
	pb := read(2)
	if pb == nil {
		return
	}
	target := net.JoinHostPort(host, fmt.Sprint(binary.BigEndian.Uint16(pb)))
	targets <- target
	up, err := net.Dial("tcp", target)
	if err != nil {
		_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	_ = up.SetDeadline(time.Now().Add(testTimeout))
	_, _ = c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	go func() { _, _ = io.Copy(up, br); _ = up.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(c, up)
}

func TestSocks5Proxy(t *testing.T) {
	s := echoServer(t, false)
	targets := make(chan string, 1)
	p := socksProxy(t, targets)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, wsURL(s), Options{Proxy: func(*url.URL) (*url.URL, error) { return p, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := <-targets; got != strings.TrimPrefix(s.URL, "http://") {
		t.Fatalf("the proxy was asked for %q, want the server %q", got, s.URL)
	}
	wantEcho(t, ctx, c, "socks", "echo through the SOCKS5 proxy")
}

// wantEcho writes msg as a binary message on c and fails the test unless the echo server sends
// it back; what names the path in the failure.
func wantEcho(t *testing.T, ctx context.Context, c *Conn, msg, what string) {
	t.Helper()
	if err := c.Write(ctx, OpBinary, []byte(msg)); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
		t.Fatalf("%s: %q %v", what, got, err)
	}
}

// SendClose: the frames written before it reach the server ahead of the close frame, Read
// still returns what the server sends before its own close (then *CloseError, and no second
// close frame goes out), and nothing can be written after it.
func TestSendCloseIsAHandshake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	got := make(chan string, 4)
	u := rawServer(t, func(c net.Conn, br *bufio.Reader, key string) {
		accept(c, key)
		for range 2 {
			op, p, err := readClientFrame(br)
			got <- fmt.Sprintf("%x %x %v", byte(op), p, err)
		}
		_, _ = c.Write(append([]byte{0x82, 4}, "late"...)) // sent before the server's close
		_, _ = c.Write([]byte{0x88, 2, 0x03, 0xE8})
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		op, p, err := readClientFrame(br) // nothing more: no echo of the server's close
		got <- fmt.Sprintf("%x %x %v", byte(op), p, err != nil)
	})
	c, err := Dial(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, OpBinary, []byte("req")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendClose(1000); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, OpBinary, []byte("after")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after SendClose: %v, want ErrClosed", err)
	}
	if err := c.SendClose(1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("second SendClose: %v, want ErrClosed", err)
	}
	for _, want := range []string{"2 726571 <nil>", "8 03e8 <nil>"} {
		if s := <-got; s != want {
			t.Fatalf("server read %q, want %q", s, want)
		}
	}
	if op, msg, err := c.Read(ctx); err != nil || op != OpBinary || string(msg) != "late" {
		t.Fatalf("read after SendClose: %v %q %v", op, msg, err)
	}
	var ce *CloseError
	if _, _, err := c.Read(ctx); !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("server's close: %v", err)
	}
	if s := <-got; s != "0  true" {
		t.Fatalf("after the server's close the client wrote %q", s)
	}
}
