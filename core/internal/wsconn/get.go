package wsconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultGetTimeout bounds Get when Options.HandshakeTimeout is 0.
const DefaultGetTimeout = 10 * time.Second

// ErrBodyTooLarge: the body of a Get response is longer than its limit.
var ErrBodyTooLarge = errors.New("wsconn: response body too large")

// Response is the answer to Get.
type Response struct {
	// StatusCode is the HTTP status (any: Get does not treat a status as an error).
	StatusCode int
	// Body is the whole body (identity or chunked transfer coding).
	Body   []byte
	header map[string][]string
}

// Header returns the first value of the response header name (any case; "" when absent).
func (r *Response) Header(name string) string {
	if v := r.header[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Get sends one HTTP/1.1 GET for rawURL (http://, https://, or ws:// and wss:// taken as
// http:// and https://) over the same transport as Dial (Options.Dial, the environment's
// proxy, TLS with Options.TLSConfig), with "Authorization: Bearer <bearer>" when bearer is
// not empty, and reads the response: status, headers (at most MaxHeaderBytes) and a body of at
// most limit bytes (longer: ErrBodyTooLarge). The request asks the server to close the
// connection, which Get always does. Bounded by ctx and Options.HandshakeTimeout
// (0: DefaultGetTimeout). Failures: ErrInvalidURL, ErrBodyTooLarge, ErrHandshake (not an
// HTTP/1.x response, or a malformed one), ErrProxy, the dial or TLS error, or ctx's error. No
// error text contains the URL's query or the bearer token.
func Get(ctx context.Context, rawURL, bearer string, limit int64, opts Options) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	// The transport (ports, proxy choice) is Dial's for the matching ws scheme.
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme, secure = "wss", true
	default:
		return nil, fmt.Errorf("%w: scheme %q (want http, https, ws or wss)", ErrInvalidURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: missing host", ErrInvalidURL)
	}
	if strings.ContainsAny(bearer, "\r\n") {
		return nil, fmt.Errorf("%w: line break in the token", ErrInvalidURL)
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultGetTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := dialTransport(ctx, u, secure, opts)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	stop, err := bindDeadline(ctx, nc.SetDeadline)
	if err != nil {
		return nil, err
	}
	defer stop()
	b := startGet(u)
	b.WriteString("Accept: application/json\r\nConnection: close\r\n")
	if bearer != "" {
		b.WriteString("Authorization: Bearer " + bearer + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return nil, ctxError(ctx, fmt.Errorf("wsconn: write request: %w", err))
	}
	br := bufio.NewReaderSize(nc, 4096)
	head, err := readResponseHead(br)
	for err == nil && head.status >= 100 && head.status < 200 {
		head, err = readResponseHead(br) // interim responses (100 Continue, 103 Early Hints)
	}
	if err != nil {
		return nil, ctxError(ctx, err)
	}
	body, err := readBody(br, head, limit)
	if err != nil {
		return nil, ctxError(ctx, err)
	}
	return &Response{StatusCode: head.status, Body: body, header: head.header}, nil
}

// readBody reads a response body of at most limit bytes: chunked, Content-Length, or until
// the server closes the connection.
func readBody(br *bufio.Reader, head *responseHead, limit int64) ([]byte, error) {
	if head.status == 204 || head.status == 304 {
		return nil, nil
	}
	var r io.Reader = br
	var chunked *chunkedReader
	switch {
	case hasToken(head.get("Transfer-Encoding"), "chunked"):
		chunked = &chunkedReader{br: br}
		r = chunked
	case head.get("Content-Length") != "":
		n, err := strconv.ParseInt(head.get("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: bad Content-Length", ErrHandshake)
		}
		if n > limit {
			return nil, fmt.Errorf("%w: %d bytes announced, at most %d accepted", ErrBodyTooLarge, n, limit)
		}
		r = io.LimitReader(br, n)
		body, err := io.ReadAll(r)
		if err == nil && int64(len(body)) < n {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, fmt.Errorf("wsconn: reading the body: %w", err)
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("wsconn: reading the body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	if chunked != nil && !chunked.done {
		return nil, fmt.Errorf("wsconn: reading the body: %w", io.ErrUnexpectedEOF) // closed inside a chunk
	}
	return body, nil
}
