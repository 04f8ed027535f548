package ffi

import "os"

// The Go runtime inside the shared library reads the environment the process started with,
// not the C library's current one: a variable a host sets or removes later (Python's
// os.environ, setenv, putenv, unsetenv) is invisible to os.Getenv. For the variables the
// library reads while it runs, that would silently ignore a proxy or a TLS root a host
// configured after start-up, so a client copies them from the host's environment before each
// ConnectRequest (Options.HostEnv). Proxies apply from that connection on; the TLS roots only
// until the first TLS handshake of the process, after which crypto/x509 keeps what it loaded.

// hostEnvNames are the variables copied: the signalling connection's proxies
// (core/internal/wsconn's ProxyFromEnvironment) and the TLS roots (crypto/x509).
func hostEnvNames() []string {
	return []string{
		"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
	}
}

// envChange sets name to value, or removes it when unset.
type envChange struct {
	name, value string
	unset       bool
}

// hostEnvChanges returns what makes the runtime's value (current) of each of hostEnvNames
// equal to the host's (host): the host's value where they differ, a removal where only the
// runtime has one.
func hostEnvChanges(host, current func(string) (string, bool)) []envChange {
	var out []envChange
	for _, name := range hostEnvNames() {
		hv, hok := host(name)
		cv, cok := current(name)
		switch {
		case hok && (!cok || hv != cv):
			out = append(out, envChange{name: name, value: hv})
		case !hok && cok:
			out = append(out, envChange{name: name, unset: true})
		}
	}
	return out
}

// syncHostEnv applies hostEnvChanges to this process's Go environment. With cgo, os.Setenv
// and os.Unsetenv also call the C library's setenv and unsetenv; here they only set a name
// the host's environment holds to the value it holds, or remove a name it does not hold, so
// the host's environment is left as it was (no entry is added, none moved).
func syncHostEnv(host func(string) (string, bool)) {
	for _, ch := range hostEnvChanges(host, os.LookupEnv) {
		if ch.unset {
			_ = os.Unsetenv(ch.name)
		} else {
			_ = os.Setenv(ch.name, ch.value)
		}
	}
}
