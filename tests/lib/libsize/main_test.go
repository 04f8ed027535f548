package main

import "testing"

func TestPkgOf(t *testing.T) {
	cases := map[string]string{
		"github.com/pion/ice/v4.(*Agent).gatherCandidatesRelay.func1": "github.com/pion/ice/v4",
		"runtime.mallocgc": "runtime",
		"type:.eq.github.com/lkcore/lkcore/core/room.DataReceived":              "github.com/lkcore/lkcore/core/room",
		"go:itab.*github.com/lkcore/lkcore/core/room.Room,io.Closer":            "github.com/lkcore/lkcore/core/room",
		"slices.pdqsortCmpFunc[go.shape.struct { github.com/pion/sctp.x int }]": "slices",
		"sync/atomic.(*Pointer[github.com/pion/webrtc/v4.DataChannel]).Load":    "sync/atomic",
		"vendor/golang.org/x/net/idna.idnaValues":                               "vendor/golang.org/x/net/idna",
		"go:func.*": "(other)",
		"crypto/internal/fips140/nistec.p256PrecomputedEmbed":                          "crypto/internal/fips140/nistec",
		"google.golang.org/protobuf/internal/impl.(*MessageInfo).unmarshalPointerLazy": "google.golang.org/protobuf/internal/impl",
	}
	for name, want := range cases {
		if got := pkgOf(name); got != want {
			t.Errorf("pkgOf(%q) = %q, want %q", name, got, want)
		}
	}
}
