package ffi

import (
	"slices"
	"testing"
)

// TestHostEnvChanges: the runtime's copy of each proxy and TLS-root variable is made equal to
// the host's: set where only the host has it, replaced where the values differ, removed where
// the host removed it; other variables and equal values are left alone.
func TestHostEnvChanges(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
	}
	host := env(map[string]string{
		"HTTPS_PROXY":   "http://proxy.example:3128", // new
		"http_proxy":    "http://other:8080",         // changed
		"NO_PROXY":      "internal.example",          // unchanged
		"SSL_CERT_FILE": "",                          // set, empty
		"GOGC":          "400",                       // not one of ours
	})
	current := env(map[string]string{
		"http_proxy":   "http://old:8080",
		"NO_PROXY":     "internal.example",
		"SSL_CERT_DIR": "/etc/old-certs", // removed by the host
		"GOGC":         "100",
	})
	got := hostEnvChanges(host, current)
	want := []envChange{
		{name: "HTTPS_PROXY", value: "http://proxy.example:3128"},
		{name: "http_proxy", value: "http://other:8080"},
		{name: "SSL_CERT_FILE", value: ""},
		{name: "SSL_CERT_DIR", unset: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	if got := hostEnvChanges(current, current); len(got) != 0 {
		t.Fatalf("changes between equal environments: %+v", got)
	}
}
