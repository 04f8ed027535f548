package wsconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// ProxyFromEnvironment picks the proxy for target the way net/http's ProxyFromEnvironment
// does: HTTPS_PROXY (or https_proxy) for wss://, HTTP_PROXY (or http_proxy) for ws:// (not
// when REQUEST_METHOD is set, as in a CGI program), none for localhost and loopback
// addresses or for a host NO_PROXY (or no_proxy) lists. NO_PROXY is a comma-separated list
// of "*", IP addresses, CIDR ranges and domain names with an optional port ("example.com"
// matches it and its subdomains, ".example.com" only its subdomains). A proxy value without
// a scheme is taken as http://; http, https, socks5 and socks5h proxies are supported. The
// environment is read on every call.
func ProxyFromEnvironment(target *url.URL) (*url.URL, error) {
	var value string
	switch target.Scheme {
	case "wss":
		value = getenvAny("HTTPS_PROXY", "https_proxy")
	case "ws":
		if os.Getenv("REQUEST_METHOD") == "" {
			value = getenvAny("HTTP_PROXY", "http_proxy")
		}
	}
	if value == "" {
		return nil, nil
	}
	host, port := strings.ToLower(target.Hostname()), target.Port()
	if port == "" {
		port = "80"
		if target.Scheme == "wss" {
			port = "443"
		}
	}
	if host == "localhost" {
		return nil, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil, nil
	}
	if noProxy(getenvAny("NO_PROXY", "no_proxy"), host, port) {
		return nil, nil
	}
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" || u.Host == "" || !strings.Contains(value, "://") {
		u, err = url.Parse("http://" + value)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: cannot parse the proxy address in the environment", ErrProxy)
		}
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
		return u, nil
	}
	return nil, fmt.Errorf("%w: unsupported proxy scheme %q", ErrProxy, u.Scheme)
}

func getenvAny(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// noProxy reports whether host:port matches an entry of a NO_PROXY list.
func noProxy(list, host, port string) bool {
	ip := net.ParseIP(host)
	for _, e := range strings.Split(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return true
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return true
			}
			continue
		}
		ehost, eport := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			ehost, eport = h, p
		}
		if eip := net.ParseIP(ehost); eip != nil {
			if ip != nil && eip.Equal(ip) && (eport == "" || eport == port) {
				return true
			}
			continue
		}
		ehost = strings.TrimPrefix(ehost, "*")
		matchSelf := !strings.HasPrefix(ehost, ".")
		if matchSelf {
			ehost = "." + ehost
		}
		if (strings.HasSuffix(host, ehost) || (matchSelf && host == ehost[1:])) && (eport == "" || eport == port) {
			return true
		}
	}
	return false
}

// dialProxy opens a tunnel to addr through the proxy p: an HTTP CONNECT (over TLS for an
// https:// proxy) or SOCKS5. The proxy's credentials (URL user info) never appear in errors.
func dialProxy(ctx context.Context, p *url.URL, addr string, dial DialFunc, tlsCfg *tls.Config) (net.Conn, error) {
	port := p.Port()
	switch p.Scheme {
	case "socks5", "socks5h":
		if port == "" {
			port = "1080"
		}
		var auth *proxy.Auth
		if p.User != nil {
			pass, _ := p.User.Password()
			auth = &proxy.Auth{User: p.User.Username(), Password: pass}
		}
		d, err := proxy.SOCKS5("tcp", net.JoinHostPort(p.Hostname(), port), auth, dialer(dial))
		if err != nil {
			return nil, fmt.Errorf("%w: socks5: %v", ErrProxy, err)
		}
		nc, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%w: socks5: %w", ErrProxy, err)
		}
		return nc, nil
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		if port == "" {
			port = "80"
		}
	}
	nc, err := dial(ctx, "tcp", net.JoinHostPort(p.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxy, err)
	}
	if p.Scheme == "https" {
		tc, err := tlsClient(ctx, nc, p.Hostname(), tlsCfgFor(tlsCfg))
		if err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("%w: %w", ErrProxy, err)
		}
		nc = tc
	}
	stop, err := bindDeadline(ctx, nc.SetDeadline)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	br, err := connect(nc, p, addr)
	stop()
	if err != nil {
		_ = nc.Close()
		return nil, ctxError(ctx, err)
	}
	_ = nc.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufConn{Conn: nc, br: br}, nil
	}
	return nc, nil
}

// tlsCfgFor is the TLS configuration for an https:// proxy: the caller's roots and
// certificates, never its ServerName (which names the server, not the proxy).
func tlsCfgFor(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	c := cfg.Clone()
	c.ServerName = ""
	c.NextProtos = nil
	return c
}

// connect sends CONNECT addr on nc and reads the proxy's answer; the reader may hold bytes
// the tunnel has already delivered.
func connect(nc net.Conn, p *url.URL, addr string) (*bufio.Reader, error) {
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if p.User != nil {
		pass, _ := p.User.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.User.Username()+":"+pass)) + "\r\n"
	}
	req += "\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return nil, fmt.Errorf("%w: write CONNECT: %w", ErrProxy, err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := readResponseHead(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxy, err)
	}
	if resp.status < 200 || resp.status > 299 {
		return nil, fmt.Errorf("%w: the proxy refused the tunnel with HTTP %d", ErrProxy, resp.status)
	}
	return br, nil
}

// dialer adapts a DialFunc to golang.org/x/net/proxy's Dialer and ContextDialer.
type dialer DialFunc

func (d dialer) Dial(network, addr string) (net.Conn, error) {
	return d(context.Background(), network, addr)
}

func (d dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}
