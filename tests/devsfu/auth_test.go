package devsfu

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lkcore/lkcore/core/auth"
	"github.com/lkcore/lkcore/core/lkpb"
)

// upgradeStatus attempts a WebSocket upgrade and returns the HTTP status
// and body of the refusal (0 if it succeeded).
func upgradeStatus(t *testing.T, rawURL string, hdr http.Header) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{HTTPHeader: hdr})
	if err == nil {
		_ = ws.CloseNow()
		return 0, ""
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	// coder/websocket keeps up to 1 KiB of the body for errors.
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestUpgradeErrors(t *testing.T) {
	s := startServer(t, Options{})
	jr := encodeJR(t, &lkpb.JoinRequest{ClientInfo: &lkpb.ClientInfo{Protocol: 17}}, true)
	mint := func(key, secret string, c auth.Claims, at time.Time, ttl time.Duration) string {
		tok, err := auth.NewTokenAt(key, secret, c, at, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	grant := &auth.VideoGrant{RoomJoin: true, Room: "r"}
	now := time.Now()
	good := mint(s.APIKey(), s.APISecret(), auth.Claims{Identity: "a", Video: grant}, now, time.Hour)
	expired := mint(s.APIKey(), s.APISecret(), auth.Claims{Identity: "a", Video: grant}, now.Add(-3*time.Hour), time.Hour)
	wrongSecret := mint(s.APIKey(), "not-the-secret-not-the-secret-00", auth.Claims{Identity: "a", Video: grant}, now, time.Hour)
	wrongKey := mint("otherkey", s.APISecret(), auth.Claims{Identity: "a", Video: grant}, now, time.Hour)
	noGrant := mint(s.APIKey(), s.APISecret(), auth.Claims{Identity: "a"}, now, time.Hour)
	noJoin := mint(s.APIKey(), s.APISecret(), auth.Claims{Identity: "a", Video: &auth.VideoGrant{Room: "r"}}, now, time.Hour)
	noIdentity := mint(s.APIKey(), s.APISecret(), auth.Claims{Video: grant}, now, time.Hour)
	noRoom := mint(s.APIKey(), s.APISecret(), auth.Claims{Identity: "a", Video: &auth.VideoGrant{RoomJoin: true}}, now, time.Hour)
	mdNoGrant := encodeJR(t, &lkpb.JoinRequest{Metadata: "m"}, false)
	raw := base64.RawURLEncoding.EncodeToString([]byte{0x08, 0x01, 0x12, 0x00, 0x1a}) // not padded

	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return s.URL() + "/rtc/v1?" + v.Encode()
	}
	cases := []struct {
		name   string
		url    string
		hdr    http.Header
		status int
		body   string
	}{
		{"ok", q("access_token", good, "join_request", jr), nil, 0, ""},
		{"no token", q("join_request", jr), nil, 401, "permissions denied"},
		{"garbage token", q("access_token", "abc", "join_request", jr), nil, 401, "invalid authorization token"},
		{"expired", q("access_token", expired, "join_request", jr), nil, 401, "invalid token: <redacted>, error: token is expired"},
		{"bad signature", q("access_token", wrongSecret, "join_request", jr), nil, 401, "invalid token: <redacted>, error: invalid token signature"},
		{"unknown key", q("access_token", wrongKey, "join_request", jr), nil, 401, "invalid API key"},
		{"no video grant", q("access_token", noGrant, "join_request", jr), nil, 401, "permissions denied"},
		{"roomJoin false", q("access_token", noJoin, "join_request", jr), nil, 401, "permissions denied"},
		{"no identity", q("access_token", noIdentity, "join_request", jr), nil, 400, "identity cannot be empty"},
		{"no room", q("access_token", noRoom, "join_request", jr), nil, 400, "no room name"},
		{"no join_request", q("access_token", good), nil, 400, "join_request is required"},
		{"unpadded join_request", q("access_token", good, "join_request", raw), nil, 400, "cannot base64 decode wrapped join request"},
		{"metadata without grant", q("access_token", noJoinMetaTok(t, s), "join_request", mdNoGrant), nil, 401, "permissions denied"},
		{"bearer ok", q("join_request", jr), http.Header{"Authorization": {"Bearer " + good}}, 0, ""},
		{"bearer wins over query", q("access_token", good, "join_request", jr), http.Header{"Authorization": {"Bearer " + expired}}, 401, ""},
		{"bad authorization header", q("join_request", jr), http.Header{"Authorization": {"Token " + good}}, 401, "invalid authorization header. Must start with Bearer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := upgradeStatus(t, tc.url, tc.hdr)
			if st != tc.status {
				t.Fatalf("status %d (%q), want %d", st, body, tc.status)
			}
			if tc.body != "" && body != tc.body {
				t.Fatalf("body %q, want %q", body, tc.body)
			}
			if strings.Contains(body, good) || strings.Contains(body, expired) {
				t.Fatal("body echoes a token")
			}
		})
	}
	// Successful upgrades above joined as "a"; the server must stay usable.
	if p := s.Participants("r"); len(p) > 1 {
		t.Errorf("participants %v", p)
	}
}

func noJoinMetaTok(t *testing.T, s *Server) string {
	tok, err := s.Token("r", "md", auth.WithGrant(func(g *auth.VideoGrant) { g.CanUpdateOwnMetadata = nil }))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestNonUpgradeAndValidate(t *testing.T) {
	s := startServer(t, Options{})
	base := strings.Replace(s.URL(), "ws://", "http://", 1)
	get := func(u string, hdr http.Header) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
	}
	if st, _, _ := get(base+"/rtc/v1", nil); st != 404 {
		t.Errorf("non-upgrade GET: %d", st)
	}
	tok, _ := s.Token("r", "v")
	jr := encodeJR(t, &lkpb.JoinRequest{}, true)
	st, body, h := get(base+"/rtc/v1/validate?access_token="+url.QueryEscape(tok)+"&join_request="+url.QueryEscape(jr), nil)
	if st != 200 || body != "success" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("validate: %d %q", st, body)
	}
	st, body, _ = get(base+"/rtc/v1/validate?join_request="+url.QueryEscape(jr), http.Header{"Authorization": {"Bearer x.y.z"}})
	if st != 401 || body != "invalid authorization token" {
		t.Errorf("validate bad token: %d %q", st, body)
	}
	st, body, _ = get(base+"/rtc/validate?access_token="+url.QueryEscape(tok), nil)
	if st != 400 {
		t.Errorf("v0 validate without join_request: %d %q", st, body)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	if _, err := Start(Options{Addr: "0.0.0.0:0"}); err != ErrNotLoopback {
		t.Fatalf("got %v", err)
	}
}
