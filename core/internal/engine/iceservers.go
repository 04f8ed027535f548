package engine

import (
	"errors"
	"fmt"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// ICEServer is one STUN/TURN server in pion's form: the credential, when
// set, is a password (TURN REST credentials, as LiveKit hands out).
func ICEServer(urls []string, username, credential string) webrtc.ICEServer {
	is := webrtc.ICEServer{URLs: urls, Username: username}
	if credential != "" {
		is.Credential = credential
		is.CredentialType = webrtc.ICECredentialTypePassword
	}
	return is
}

// errTURNCredentials: a TURN URL given without a username and a credential.
var errTURNCredentials = errors.New("a turn: or turns: URL needs a username and a credential")

// CheckICEServer reports what pion would refuse in a server given by the
// application, when the PeerConnection is created: a URL it cannot parse
// (scheme other than stun:, stuns:, turn:, turns:; no host; a bad port or
// transport) or a TURN URL without a username and a credential. The error
// names the URL (URLs carry no secret; the credential is never shown).
func CheckICEServer(urls []string, username, credential string) error {
	for _, raw := range urls {
		u, err := stun.ParseURI(raw)
		if err != nil {
			return fmt.Errorf("URL %q: %w", raw, err)
		}
		if (u.Scheme == stun.SchemeTypeTURN || u.Scheme == stun.SchemeTypeTURNS) && (username == "" || credential == "") {
			return fmt.Errorf("URL %q: %w", raw, errTURNCredentials)
		}
	}
	return nil
}
