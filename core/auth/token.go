// Package auth mints and verifies LiveKit access tokens: HS256 JWTs signed
// with an API secret, carrying the participant identity and a room grant
// (the access_token of docs/protocol.md, Signalling: Connecting).
//
// Verification follows livekit-server v1.13 (protocol auth/verifier.go):
// only HS256, the secret is looked up by the "iss" claim (the API key),
// "exp" is required and nbf/exp are checked with 60 s leeway. Errors are
// typed sentinels usable with errors.Is; they never contain the token or the
// secret.
package auth

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated on nbf/exp, as livekit-server.
const Leeway = 60 * time.Second

// DefaultTTL is the validity the official server SDKs give a token (6 h).
const DefaultTTL = 6 * time.Hour

// Typed errors returned by NewToken and Verify.
var (
	// ErrMissingKey: empty API key or secret when minting.
	ErrMissingKey = errors.New("auth: api key and secret are required")
	// ErrMalformed: the token is not a well-formed JWT.
	ErrMalformed = errors.New("auth: malformed token")
	// ErrUnsupportedAlgorithm: the token is not signed with HS256.
	ErrUnsupportedAlgorithm = errors.New("auth: unsupported signing algorithm")
	// ErrInvalidAPIKey: the issuer (API key) is unknown to the verifier.
	ErrInvalidAPIKey = errors.New("auth: invalid API key")
	// ErrInvalidSignature: the signature does not match the key's secret.
	ErrInvalidSignature = errors.New("auth: invalid token signature")
	// ErrExpired: exp is in the past (beyond the leeway).
	ErrExpired = errors.New("auth: token is expired")
	// ErrNotYetValid: nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("auth: token is not valid yet")
	// ErrMissingExpiry: the token has no exp claim.
	ErrMissingExpiry = errors.New("auth: token has no expiry")
	// ErrPermissionDenied: no video grant, or roomJoin is false.
	ErrPermissionDenied = errors.New("auth: permissions denied")
	// ErrNoIdentity: the token carries no identity (sub or jti).
	ErrNoIdentity = errors.New("auth: identity cannot be empty")
	// ErrNoRoom: the grant names no room.
	ErrNoRoom = errors.New("auth: no room name")
)

// Claims is the content of a LiveKit access token.
type Claims struct {
	// Identity is the participant identity ("sub"; on verify falls back to "jti").
	Identity string
	// Name is the display name ("name").
	Name string
	// Metadata is the initial participant metadata ("metadata").
	Metadata string
	// Attributes are the initial participant attributes ("attributes").
	Attributes map[string]string
	// Kind is the participant kind ("kind"): "standard", "agent", ...
	Kind string
	// KindDetails refine the kind ("kindDetails"): "cloud_agent", "forwarded",
	// "connector_whatsapp", ... (the server's KindDetail names in lower case).
	KindDetails []string
	// Video is the room grant ("video"); nil = no grant.
	Video *VideoGrant
	// SHA256 is the optional "sha256" claim (webhook body hash).
	SHA256 string
	// RoomPreset is the optional "roomPreset" claim.
	RoomPreset string

	// Issuer is the API key ("iss"); set by Verify, ignored by NewToken.
	Issuer string
	// ID is the "jti" claim.
	ID string
	// NotBefore, ExpiresAt and IssuedAt are set by Verify (zero if absent).
	NotBefore, ExpiresAt, IssuedAt time.Time
}

// Clone returns a deep copy of c.
func (c *Claims) Clone() *Claims {
	if c == nil {
		return nil
	}
	n := *c
	n.Attributes = maps.Clone(c.Attributes)
	n.KindDetails = slices.Clone(c.KindDetails)
	n.Video = c.Video.Clone()
	return &n
}

// CheckJoin applies the join-time checks of livekit-server in its order:
// a video grant with roomJoin (ErrPermissionDenied), a non-empty identity
// (ErrNoIdentity) and a room name (ErrNoRoom).
func (c *Claims) CheckJoin() error {
	if c.Video == nil || !c.Video.RoomJoin {
		return ErrPermissionDenied
	}
	if c.Identity == "" {
		return ErrNoIdentity
	}
	if c.Video.Room == "" {
		return ErrNoRoom
	}
	return nil
}

// wireClaims is the JSON shape of the token payload.
type wireClaims struct {
	jwt.RegisteredClaims
	Name        string            `json:"name,omitempty"`
	Video       *VideoGrant       `json:"video,omitempty"`
	Metadata    string            `json:"metadata,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	KindDetails []string          `json:"kindDetails,omitempty"`
	SHA256      string            `json:"sha256,omitempty"`
	RoomPreset  string            `json:"roomPreset,omitempty"`
}

// TokenOption adjusts the claims of a token being minted.
type TokenOption func(*Claims)

// WithName sets the display name.
func WithName(name string) TokenOption { return func(c *Claims) { c.Name = name } }

// WithMetadata sets the initial metadata.
func WithMetadata(md string) TokenOption { return func(c *Claims) { c.Metadata = md } }

// WithAttributes sets the initial attributes (copied).
func WithAttributes(a map[string]string) TokenOption {
	return func(c *Claims) { c.Attributes = maps.Clone(a) }
}

// WithKind sets the participant kind claim.
func WithKind(kind string) TokenOption { return func(c *Claims) { c.Kind = kind } }

// WithKindDetails sets the kind details claim (copied).
func WithKindDetails(details ...string) TokenOption {
	return func(c *Claims) { c.KindDetails = slices.Clone(details) }
}

// WithGrant lets the caller edit the video grant (created if nil).
func WithGrant(f func(*VideoGrant)) TokenOption {
	return func(c *Claims) {
		if c.Video == nil {
			c.Video = &VideoGrant{}
		}
		f(c.Video)
	}
}

// Apply applies opts to c in order.
func (c *Claims) Apply(opts ...TokenOption) {
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
}

// NewToken mints an HS256 token for c, valid from now for ttl.
func NewToken(apiKey, apiSecret string, c Claims, ttl time.Duration) (string, error) {
	return NewTokenAt(apiKey, apiSecret, c, time.Now(), ttl)
}

// NewTokenAt is NewToken with an explicit issue time (nbf = iat = at,
// exp = at + ttl); useful for tests of expiry.
func NewTokenAt(apiKey, apiSecret string, c Claims, at time.Time, ttl time.Duration) (string, error) {
	if apiKey == "" || apiSecret == "" {
		return "", ErrMissingKey
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	w := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apiKey,
			Subject:   c.Identity,
			ID:        c.ID,
			NotBefore: jwt.NewNumericDate(at),
			IssuedAt:  jwt.NewNumericDate(at),
			ExpiresAt: jwt.NewNumericDate(at.Add(ttl)),
		},
		Name:        c.Name,
		Video:       c.Video,
		Metadata:    c.Metadata,
		Attributes:  c.Attributes,
		Kind:        c.Kind,
		KindDetails: c.KindDetails,
		SHA256:      c.SHA256,
		RoomPreset:  c.RoomPreset,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, w).SignedString([]byte(apiSecret))
	if err != nil {
		return "", fmt.Errorf("auth: signing token: %w", errors.Unwrap(err))
	}
	return s, nil
}

// Verify checks token and returns its claims. secretFor maps an API key
// (the "iss" claim) to its secret; now is the verification time.
func Verify(token string, secretFor func(apiKey string) (string, bool), now time.Time) (*Claims, error) {
	var w wireClaims
	unknownKey := false
	_, err := jwt.ParseWithClaims(token, &w, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, ErrUnsupportedAlgorithm
		}
		iss, _ := t.Claims.GetIssuer()
		secret, ok := "", false
		if iss != "" && secretFor != nil {
			secret, ok = secretFor(iss)
		}
		if !ok || secret == "" {
			unknownKey = true
			return nil, ErrInvalidAPIKey
		}
		return []byte(secret), nil
	},
		// No WithValidMethods: the key function above rejects every
		// method but HS256 itself, so the error can be told apart from a
		// bad signature.
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, classify(err, unknownKey)
	}
	c := &Claims{
		Identity:    w.Subject,
		Name:        w.Name,
		Metadata:    w.Metadata,
		Attributes:  w.Attributes,
		Kind:        w.Kind,
		KindDetails: w.KindDetails,
		Video:       w.Video,
		SHA256:      w.SHA256,
		RoomPreset:  w.RoomPreset,
		Issuer:      w.Issuer,
		ID:          w.ID,
	}
	if c.Identity == "" {
		c.Identity = w.ID
	}
	if w.NotBefore != nil {
		c.NotBefore = w.NotBefore.Time
	}
	if w.ExpiresAt != nil {
		c.ExpiresAt = w.ExpiresAt.Time
	}
	if w.IssuedAt != nil {
		c.IssuedAt = w.IssuedAt.Time
	}
	return c, nil
}

// classify maps jwt errors onto this package's sentinels (never echoing the
// token).
func classify(err error, unknownKey bool) error {
	switch {
	case unknownKey || errors.Is(err, ErrInvalidAPIKey):
		return ErrInvalidAPIKey
	case errors.Is(err, ErrUnsupportedAlgorithm):
		return ErrUnsupportedAlgorithm
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrInvalidSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Method not in the allowed list ends up here.
		return ErrUnsupportedAlgorithm
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrNotYetValid
	default:
		return ErrMalformed
	}
}
