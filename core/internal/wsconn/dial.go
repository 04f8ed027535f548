package wsconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults and caps.
const (
	// DefaultHandshakeTimeout bounds the whole Dial when Options.HandshakeTimeout is 0.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxMessageSize is the largest message Read accepts when
	// Options.MaxMessageSize is 0.
	DefaultMaxMessageSize = 1 << 20
	// MaxHeaderBytes caps the status line and headers of the upgrade (or CONNECT) response.
	MaxHeaderBytes = 16 << 10
	// MaxErrorBody caps how much of a refused upgrade's body is read into StatusError.
	MaxErrorBody = 1024
	// controlWriteTimeout bounds the pong and close frames Read writes itself.
	controlWriteTimeout = 5 * time.Second
)

// DialFunc opens a network connection (the signature of net.Dialer.DialContext).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Options configures Dial. The zero value is usable.
type Options struct {
	// Dial opens the TCP connection to the server, or to the proxy when one applies
	// (nil: a net.Dialer).
	Dial DialFunc
	// TLSConfig is used for wss:// (cloned; ServerName defaults to the URL's host, nil:
	// the system roots). It is also used for an https:// proxy, with the proxy's name.
	TLSConfig *tls.Config
	// Proxy returns the proxy for a target URL (nil URL: none). nil: ProxyFromEnvironment.
	Proxy func(target *url.URL) (*url.URL, error)
	// HandshakeTimeout bounds Dial in addition to its context (0: DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// MaxMessageSize caps a message given to Read (0: DefaultMaxMessageSize).
	MaxMessageSize int64
}

// Dial opens a WebSocket connection to rawURL (ws:// or wss://). Failures: ErrInvalidURL,
// *StatusError for a refused upgrade, ErrHandshake, ErrProxy, the dial or TLS error, or the
// context's error. No error text contains the URL's query.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	secure := false
	switch u.Scheme {
	case "ws":
	case "wss":
		secure = true
	default:
		return nil, fmt.Errorf("%w: scheme %q (want ws or wss)", ErrInvalidURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: missing host", ErrInvalidURL)
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	nc, err := dialTransport(ctx, u, secure, opts)
	if err != nil {
		return nil, err
	}
	// The handshake's reads and writes are bounded by ctx.
	stop, err := bindDeadline(ctx, nc.SetDeadline)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	err = handshake(nc, br, u)
	stop()
	if err != nil {
		_ = nc.Close()
		var se *StatusError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, ctxError(ctx, err)
	}
	limit := opts.MaxMessageSize
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	return newConn(nc, br, limit), nil
}

// dialTransport returns the connection the handshake runs on: TCP to the server (directly or
// through a proxy), then TLS for wss://.
func dialTransport(ctx context.Context, u *url.URL, secure bool, opts Options) (net.Conn, error) {
	dial := opts.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	proxyFn := opts.Proxy
	if proxyFn == nil {
		proxyFn = ProxyFromEnvironment
	}
	proxyURL, err := proxyFn(u)
	if err != nil {
		return nil, err
	}
	var nc net.Conn
	if proxyURL != nil {
		nc, err = dialProxy(ctx, proxyURL, addr, dial, opts.TLSConfig)
	} else {
		nc, err = dial(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if !secure {
		return nc, nil
	}
	tc, err := tlsClient(ctx, nc, u.Hostname(), opts.TLSConfig)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return tc, nil
}

// tlsClient runs a TLS handshake over nc for serverName (HTTP/1.1 offered by ALPN unless
// cfg sets its own protocols).
func tlsClient(ctx context.Context, nc net.Conn, serverName string, cfg *tls.Config) (net.Conn, error) {
	var c *tls.Config
	if cfg != nil {
		c = cfg.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = serverName
	}
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"http/1.1"}
	}
	tc := tls.Client(nc, c)
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var rec tls.RecordHeaderError
		if errors.As(err, &rec) {
			return nil, fmt.Errorf("wsconn: tls handshake: the server does not speak TLS: %w", err)
		}
		return nil, fmt.Errorf("wsconn: tls handshake: %w", err)
	}
	return tc, nil
}
