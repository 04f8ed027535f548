package ffi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
	"github.com/lkcore/lkcore/tests/devsfu"
	"github.com/lkcore/lkcore/tests/testkit/sfu"
	"github.com/lkcore/lkcore/tests/testkit/testca"
)

// TestE2ETLSRootCertificates: RoomOptions.tls_root_certificates_pem (ABI 1.30) is the set of
// roots a room's wss:// signalling trusts. Against a server whose certificate a private CA
// signed, a room given that CA connects; one without it (the system's roots) fails with
// CONNECTION_FAILED, as does one given another CA. A value holding no certificate, or larger
// than MaxTLSRootsBytes, fails CreateRoomRequest with INVALID_ARGUMENT and issues no handle.
func TestE2ETLSRootCertificates(t *testing.T) {
	ca, cert, err := testca.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	other, err := testca.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	s := sfu.Start(t, devsfu.Options{TLSCertificate: &cert})
	if !strings.HasPrefix(s.URL(), "wss://") {
		t.Fatalf("server URL %q", s.URL())
	}
	h := newHost(t)

	for what, pem := range map[string][]byte{
		"no certificate": []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
		"too large":      append(bytes.Repeat([]byte("#"), MaxTLSRootsBytes), ca.PEM()...),
	} {
		resp := h.do(&ffipb.Request{Message: &ffipb.Request_CreateRoom{CreateRoom: &ffipb.CreateRoomRequest{
			Options: &ffipb.RoomOptions{TlsRootCertificatesPem: pem}}}})
		wantRespCode(t, resp, ffipb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT)
		if !strings.Contains(resp.GetError().GetMessage(), "tls_root_certificates_pem") {
			t.Fatalf("%s: %v", what, resp.GetError())
		}
	}
	if n := h.c.handles.Len(); n != 0 {
		t.Fatalf("%d handles after refused rooms", n)
	}

	connect := func(identity string, roots []byte) *ffipb.Completion {
		rh := h.createRoom(&ffipb.RoomOptions{TlsRootCertificatesPem: roots, ConnectTimeoutMs: 5000})
		token := mintToken(t, s, "tls", identity)
		h.logs.ForbidToken(token)
		return h.completion(h.async(&ffipb.Request{Message: &ffipb.Request_Connect{Connect: &ffipb.ConnectRequest{RoomHandle: rh, Url: s.URL(), Token: token}}}))
	}
	if comp := connect("alice", ca.PEM()); comp.GetError() != nil || comp.GetConnect().GetLocalParticipant().GetIdentity() != "alice" {
		t.Fatalf("with the server's CA: %v", comp)
	}
	for identity, roots := range map[string][]byte{"bob": nil, "carol": other.PEM()} {
		comp := connect(identity, roots)
		if comp.GetError().GetCode() != ffipb.ErrorCode_ERROR_CODE_CONNECTION_FAILED || !strings.Contains(comp.GetError().GetMessage(), "certificate") {
			t.Fatalf("%s, without the server's CA: %v", identity, comp)
		}
	}
}
