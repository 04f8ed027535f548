package wsconn

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// acceptGUID is the fixed string RFC 6455 appends to the key to form Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// handshake writes the Upgrade request for u on w and checks the response read from br.
func handshake(w io.Writer, br *bufio.Reader, u *url.URL) error {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("wsconn: key: %w", err)
	}
	key := base64.StdEncoding.EncodeToString(raw[:])
	b := startGet(u)
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	b.WriteString("Sec-WebSocket-Version: 13\r\n\r\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("wsconn: write upgrade request: %w", err)
	}
	resp, err := readResponseHead(br)
	if err != nil {
		return err
	}
	if resp.status != 101 {
		return &StatusError{StatusCode: resp.status, Body: readErrorBody(br, resp)}
	}
	if !strings.EqualFold(resp.get("Upgrade"), "websocket") || !hasToken(resp.get("Connection"), "upgrade") {
		return fmt.Errorf("%w: 101 without Upgrade: websocket", ErrHandshake)
	}
	if resp.get("Sec-WebSocket-Accept") != acceptKey(key) {
		return fmt.Errorf("%w: wrong Sec-WebSocket-Accept", ErrHandshake)
	}
	if resp.get("Sec-WebSocket-Extensions") != "" || resp.get("Sec-WebSocket-Protocol") != "" {
		return fmt.Errorf("%w: the server chose an extension or subprotocol that was not offered", ErrHandshake)
	}
	return nil
}

// startGet begins an HTTP/1.1 GET request for u: the request line (path and query: the
// access token, never formatted into an error), Host and User-Agent. The caller adds its
// headers and the blank line.
func startGet(u *url.URL) *strings.Builder {
	target := u.EscapedPath()
	if target == "" {
		target = "/"
	}
	if u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	b := &strings.Builder{}
	b.WriteString("GET " + target + " HTTP/1.1\r\n")
	b.WriteString("Host: " + hostHeader(u) + "\r\n")
	b.WriteString("User-Agent: lkcore\r\n")
	return b
}

// acceptKey is the Sec-WebSocket-Accept value expected for key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// hostHeader is the Host header for u: its host, without the scheme's default port.
func hostHeader(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if (u.Scheme == "ws" && port == "80") || (u.Scheme == "wss" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if port != "" {
		return host + ":" + port
	}
	return host
}

// responseHead is the status and headers of an HTTP/1.x response.
type responseHead struct {
	status int
	header map[string][]string // canonical lower-case names
}

func (r *responseHead) get(name string) string {
	if v := r.header[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readResponseHead reads a status line and headers (at most MaxHeaderBytes in all).
func readResponseHead(br *bufio.Reader) (*responseHead, error) {
	budget := MaxHeaderBytes
	line, err := readLine(br, &budget)
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 {
		return nil, fmt.Errorf("%w: not an HTTP/1.x response", ErrHandshake)
	}
	status, err := strconv.Atoi(code)
	if err != nil || status < 100 {
		return nil, fmt.Errorf("%w: bad status code", ErrHandshake)
	}
	r := &responseHead{status: status, header: map[string][]string{}}
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, err
		}
		if line == "" {
			return r, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: malformed header line", ErrHandshake)
		}
		name = strings.ToLower(name)
		r.header[name] = append(r.header[name], strings.TrimSpace(value))
	}
}

// readLine reads one CRLF (or LF) terminated line, charging it to *budget.
func readLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return "", fmt.Errorf("%w: response headers longer than %d bytes", ErrHandshake, MaxHeaderBytes)
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("wsconn: reading the response: %w", err)
		}
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readErrorBody reads up to MaxErrorBody bytes of a refused upgrade's body: Content-Length
// bytes, the first chunks of a chunked body, or what arrives until the server closes. Read
// errors end it quietly (the status is what matters).
func readErrorBody(br *bufio.Reader, resp *responseHead) string {
	var r io.Reader = br
	switch {
	case hasToken(resp.get("Transfer-Encoding"), "chunked"):
		r = &chunkedReader{br: br}
	case resp.get("Content-Length") != "":
		n, err := strconv.ParseInt(resp.get("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return ""
		}
		r = io.LimitReader(br, n)
	}
	b, _ := io.ReadAll(io.LimitReader(r, MaxErrorBody))
	return string(b)
}

// chunkedReader decodes a chunked body (no trailers are read).
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		budget := MaxHeaderBytes
		line, err := readLine(c.br, &budget)
		if err != nil {
			return 0, err
		}
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: bad chunk size", ErrHandshake)
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		budget := 2
		_, err = readLine(c.br, &budget) // the CRLF after the chunk
	}
	return n, err
}

// hasToken reports whether a comma-separated header value contains token (any case).
func hasToken(value, token string) bool {
	for _, t := range strings.Split(value, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// bufConn is a net.Conn whose first reads come from a bufio.Reader that may hold bytes
// already received (after a proxy's CONNECT response).
type bufConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.br.Read(p) }
