package signal

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// PathV1 is the v1 (single PeerConnection) signalling path appended to the server URL.
const PathV1 = "/rtc/v1"

// BuildURL returns the WebSocket URL for a v1 join or resume:
// `<base>/rtc/v1?access_token=<token>&join_request=<joinRequest>`, exactly the
// two parameters JS 2.23.0 sends, percent-encoded (the base64 padding `=`
// becomes %3D). http/https are mapped to ws/wss; ws/wss are kept; anything else
// is ErrInvalidURL. An existing path prefix is kept (`wss://h/prefix` →
// `wss://h/prefix/rtc/v1`). An empty token omits access_token.
//
// The result contains the token: never log it.
func BuildURL(base, token, joinRequest string) (string, error) {
	u, err := parseBase(base)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimRight(u.Path, "/") + PathV1
	u.RawPath = ""
	q := u.Query()
	if token != "" {
		q.Set("access_token", token)
	}
	q.Set("join_request", joinRequest)
	u.RawQuery = q.Encode() // keys sorted: access_token, join_request (JS order)
	return u.String(), nil
}

// ValidateURL returns the HTTP(S) URL of the validate endpoint that matches a
// URL built by BuildURL (same query, `/validate` appended to the path, ws→http,
// wss→https). JS calls it after a failed upgrade because browsers hide the
// status; Go reads the status directly, so this is only a diagnostic helper.
func ValidateURL(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("%w: scheme %q", ErrInvalidURL, u.Scheme)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/validate"
	u.RawPath = ""
	return u.String(), nil
}

// RegionsPath is where LiveKit Cloud lists a project's regions, on the project's host.
const RegionsPath = "/settings/regions"

// RegionsURL returns the URL of LiveKit Cloud's region list for a server URL: the same host
// (and port), http for ws and https for wss, the path RegionsPath, no query.
func RegionsURL(base string) (string, error) {
	u, err := parseBase(base)
	if err != nil {
		return "", err
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: u.Host, Path: RegionsPath}).String(), nil
}

func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		// url.Parse errors quote the input; the base URL carries no secret,
		// but keep the message short and stable anyway.
		return nil, fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("%w: unsupported scheme %q (want ws, wss, http or https)", ErrInvalidURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, errEmptyHost)
	}
	u.Fragment = ""
	u.RawFragment = ""
	return u, nil
}

var errEmptyHost = errors.New("missing host")
