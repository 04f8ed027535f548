package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testKey    = "devkey"
	testSecret = "devsecret-devsecret-devsecret-00"
)

func secrets(key string) (string, bool) {
	if key == testKey {
		return testSecret, true
	}
	return "", false
}

func joinClaims() Claims {
	return Claims{Identity: "alice", Video: &VideoGrant{RoomJoin: true, Room: "r1"}}
}

func TestRoundTrip(t *testing.T) {
	c := joinClaims()
	c.Apply(WithName("Alice"), WithMetadata("md"), WithAttributes(map[string]string{"a": "1"}),
		WithKind("standard"), WithKindDetails("forwarded", "cloud_agent"), WithGrant(func(g *VideoGrant) { g.CanPublishData = Bool(false) }))
	at := time.Unix(1_800_000_000, 0)
	tok, err := NewTokenAt(testKey, testSecret, c, at, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, secrets, at.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity != "alice" || got.Name != "Alice" || got.Metadata != "md" || got.Attributes["a"] != "1" ||
		got.Kind != "standard" || !slices.Equal(got.KindDetails, []string{"forwarded", "cloud_agent"}) || got.Issuer != testKey {
		t.Fatalf("claims mismatch: %+v", got)
	}
	if !got.ExpiresAt.Equal(at.Add(time.Hour)) || !got.NotBefore.Equal(at) {
		t.Fatalf("times: nbf %v exp %v", got.NotBefore, got.ExpiresAt)
	}
	if got.Video.EffectiveCanPublishData() || !got.Video.EffectiveCanPublish() || !got.Video.EffectiveCanSubscribe() {
		t.Fatalf("grant defaults wrong: %+v", got.Video)
	}
	if err := got.CheckJoin(); err != nil {
		t.Fatal(err)
	}
}

// TestWireShape checks the JSON claim names against LiveKit's.
func TestWireShape(t *testing.T) {
	c := joinClaims()
	c.Video.CanPublish = Bool(true)
	tok, err := NewTokenAt(testKey, testSecret, c, time.Unix(1000, 0), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["alg"] != "HS256" {
		t.Fatalf("header %s", hdr)
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m["iss"] != testKey || m["sub"] != "alice" || m["exp"] != float64(4600) || m["nbf"] != float64(1000) {
		t.Fatalf("registered claims: %s", body)
	}
	v := m["video"].(map[string]any)
	if v["roomJoin"] != true || v["room"] != "r1" || v["canPublish"] != true {
		t.Fatalf("video: %s", body)
	}
	if _, ok := v["canSubscribe"]; ok {
		t.Fatalf("absent pointer grant must be omitted: %s", body)
	}
}

func TestVerifyErrors(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	good, err := NewTokenAt(testKey, testSecret, joinClaims(), at, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := NewTokenAt("otherkey", testSecret, joinClaims(), at, time.Hour)
	wrongSecret, _ := NewTokenAt(testKey, "another-secret-another-secret-00", joinClaims(), at, time.Hour)
	parts := strings.Split(good, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))

	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": testKey, "sub": "x",
		"video": map[string]any{"roomJoin": true, "room": "r"}}).SignedString([]byte(testSecret))
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"iss": testKey, "sub": "x",
		"exp": at.Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": testKey, "sub": "x",
		"exp": at.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := []struct {
		name string
		tok  string
		now  time.Time
		want error
	}{
		{"garbage", "not-a-token", at, ErrMalformed},
		{"empty", "", at, ErrMalformed},
		{"unknown key", wrongKey, at, ErrInvalidAPIKey},
		{"wrong secret", wrongSecret, at, ErrInvalidSignature},
		{"bad signature", badSig, at, ErrInvalidSignature},
		{"expired", good, at.Add(time.Hour + Leeway + time.Second), ErrExpired},
		{"expired within leeway", good, at.Add(time.Hour + Leeway - time.Second), nil},
		{"not yet valid", good, at.Add(-Leeway - time.Second), ErrNotYetValid},
		{"nbf within leeway", good, at.Add(-Leeway + time.Second), nil},
		{"no exp", noExp, at, ErrMissingExpiry},
		{"hs512", hs512, at, ErrUnsupportedAlgorithm},
		{"alg none", none, at, ErrUnsupportedAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.tok, secrets, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && tc.tok != "" && strings.Contains(err.Error(), tc.tok) {
				t.Fatal("error leaks the token")
			}
		})
	}
}

func TestCheckJoin(t *testing.T) {
	cases := []struct {
		c    Claims
		want error
	}{
		{Claims{Identity: "a"}, ErrPermissionDenied},
		{Claims{Identity: "a", Video: &VideoGrant{Room: "r"}}, ErrPermissionDenied},
		{Claims{Video: &VideoGrant{RoomJoin: true, Room: "r"}}, ErrNoIdentity},
		{Claims{Identity: "a", Video: &VideoGrant{RoomJoin: true}}, ErrNoRoom},
		{Claims{Identity: "a", Video: &VideoGrant{RoomJoin: true, Room: "r"}}, nil},
	}
	for i, tc := range cases {
		if err := tc.c.CheckJoin(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("case %d: got %v want %v", i, err, tc.want)
		}
	}
}

func TestIdentityFallsBackToJTI(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	c := Claims{ID: "from-jti", Video: &VideoGrant{RoomJoin: true, Room: "r"}}
	tok, err := NewTokenAt(testKey, testSecret, c, at, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, secrets, at)
	if err != nil || got.Identity != "from-jti" {
		t.Fatalf("%v %+v", err, got)
	}
}

func TestMissingKey(t *testing.T) {
	if _, err := NewToken("", "s", joinClaims(), time.Hour); !errors.Is(err, ErrMissingKey) {
		t.Fatal(err)
	}
	if _, err := NewToken("k", "", joinClaims(), time.Hour); !errors.Is(err, ErrMissingKey) {
		t.Fatal(err)
	}
}

func TestGrantDefaults(t *testing.T) {
	var g *VideoGrant
	if !g.EffectiveCanPublish() || !g.EffectiveCanSubscribe() || !g.EffectiveCanPublishData() || g.EffectiveCanUpdateOwnMetadata() {
		t.Fatal("nil grant defaults")
	}
	g = &VideoGrant{CanPublish: Bool(false)}
	if g.EffectiveCanPublishData() {
		t.Fatal("canPublishData must follow canPublish when absent")
	}
	g.CanPublishData = Bool(true)
	if !g.EffectiveCanPublishData() {
		t.Fatal("explicit canPublishData")
	}
	c := g.Clone()
	*c.CanPublishData = false
	if !*g.CanPublishData {
		t.Fatal("clone shares pointers")
	}
}
