package wsconn

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	var gotAuth, gotHost, gotPath string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotHost, gotPath = r.Header.Get("Authorization"), r.Host, r.URL.RequestURI()
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Cache-Control", "public, max-age=30")
			_, _ = io.WriteString(w, `{"regions":[]}`)
		case "/chunked":
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, "first ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "second")
		case "/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 200))
		case "/bigchunked":
			for range 4 {
				_, _ = io.WriteString(w, strings.Repeat("y", 60))
				w.(http.Flusher).Flush()
			}
		default:
			http.Error(w, "nope", http.StatusUnauthorized)
		}
	}))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	res, err := Get(ctx, s.URL+"/json?q=1", "tok.en", 100, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || string(res.Body) != `{"regions":[]}` || res.Header("cache-control") != "public, max-age=30" {
		t.Fatalf("%d %q %q", res.StatusCode, res.Body, res.Header("Cache-Control"))
	}
	if gotAuth != "Bearer tok.en" || gotHost != strings.TrimPrefix(s.URL, "http://") || gotPath != "/json?q=1" {
		t.Fatalf("request: auth %q host %q path %q", gotAuth, gotHost, gotPath)
	}
	// ws:// is the same transport as http://; no token, no Authorization header.
	res, err = Get(ctx, wsURL(s)+"/chunked", "", 100, Options{})
	if err != nil || res.StatusCode != 202 || string(res.Body) != "first second" || gotAuth != "" {
		t.Fatalf("chunked: %v %+v auth %q", err, res, gotAuth)
	}
	res, err = Get(ctx, s.URL+"/other", "t", 100, Options{})
	if err != nil || res.StatusCode != 401 || string(res.Body) != "nope\n" {
		t.Fatalf("401: %v %+v", err, res)
	}
	// Bodies beyond the limit, announced or not.
	for _, p := range []string{"/big", "/bigchunked"} {
		if _, err := Get(ctx, s.URL+p, "t", 199, Options{}); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("%s: %v", p, err)
		}
		if res, err := Get(ctx, s.URL+p, "t", 240, Options{}); err != nil || len(res.Body) < 200 {
			t.Fatalf("%s within the limit: %v", p, err)
		}
	}
	for _, bad := range []string{"ftp://h/x", "http:///x", "%zz"} {
		if _, err := Get(ctx, bad, "t", 10, Options{}); !errors.Is(err, ErrInvalidURL) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if _, err := Get(ctx, s.URL, "t\r\nX-Injected: 1", 10, Options{}); !errors.Is(err, ErrInvalidURL) {
		t.Fatalf("header injection: %v", err)
	}
}

func TestGetTLS(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := Get(ctx, s.URL, "t", 100, Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate accepted: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	cfg := s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.RootCAs = pool
	for _, u := range []string{s.URL, "wss" + strings.TrimPrefix(s.URL, "https")} {
		res, err := Get(ctx, u, "t", 100, Options{TLSConfig: cfg})
		if err != nil || string(res.Body) != "HTTP/1.1" {
			t.Fatalf("%s: %v %+v", u, err, res)
		}
	}
}

// A body cut short, a server that never answers, and interim responses.
func TestGetBrokenResponses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	serve := func(answer string, hold bool) string {
		return "http://" + serveEach(t, func(c net.Conn) {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(testTimeout))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			_, _ = io.WriteString(c, answer)
			if hold {
				_, _ = br.ReadByte() // until the client closes
			}
		})
	}
	for _, c := range []struct {
		name, answer string
		want         error
	}{
		{"short Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", io.ErrUnexpectedEOF},
		{"cut chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", io.ErrUnexpectedEOF},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", ErrHandshake},
	} {
		if _, err := Get(ctx, serve(c.answer, false), "t", 100, Options{}); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	res, err := Get(ctx, serve("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil close", false), "t", 100, Options{})
	if err != nil || res.StatusCode != 200 || string(res.Body) != "until close" {
		t.Fatalf("interim response: %v %+v", err, res)
	}
	// A server that sends half a header and waits: the timeout ends it.
	start := time.Now()
	_, err = Get(ctx, serve("HTTP/1.1 200 OK\r\n", true), "t", 100, Options{HandshakeTimeout: 200 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled server: %v after %v", err, time.Since(start))
	}
}
