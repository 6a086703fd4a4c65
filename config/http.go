package config

import (
	"fmt"
	"net"
	"strconv"
)

// HTTP is the [http] table: the HTTP listener of jarchive serve, which
// answers /metrics (Prometheus), /healthz and /readyz.
type HTTP struct {
	// Listen is the address to listen on, host:port: "127.0.0.1:9587",
	// "[::1]:9587", or ":9587" for every address of the host. Port 0 picks
	// a free port (the log names it). Not set by default: no HTTP listener.
	Listen string `toml:"listen"`
	// MetricsToken, if set, is required for /metrics from every client, as
	// the header "Authorization: Bearer TOKEN"; without it /metrics
	// answers loopback clients only. At least 16 characters (make one with
	// "openssl rand -hex 32"). Given inline, or read from MetricsTokenFile
	// (one trailing newline removed; relative paths are relative to the
	// configuration file's directory) or the environment variable named by
	// MetricsTokenEnv: at most one of the three. After Load, MetricsToken
	// holds the token whichever way it was given. /healthz and /readyz
	// need no token.
	MetricsToken     Secret `toml:"metrics_token"`
	MetricsTokenFile string `toml:"metrics_token_file"`
	MetricsTokenEnv  string `toml:"metrics_token_env"`
}

// MinMetricsToken is the shortest accepted metrics token.
const MinMetricsToken = 16

// http checks the [http] table and reads the metrics token.
func (v *validator) http() {
	h := &v.cfg.HTTP
	if kv := v.present("http.listen"); kv != nil {
		if msg := checkListen(h.Listen); msg != "" {
			v.err("http.listen", msg)
		}
	}
	var set string
	for _, k := range []string{"metrics_token", "metrics_token_file", "metrics_token_env"} {
		if v.present("http."+k) != nil {
			set = "http." + k
			break
		}
	}
	if set == "" {
		return
	}
	if h.Listen == "" && v.present("http.listen") == nil {
		v.err(set, "not used without listen (the address of the HTTP listener)")
		return
	}
	before := len(v.ps.errs)
	v.secret("http", "metrics_token", "metrics token", &h.MetricsToken, &h.MetricsTokenFile, h.MetricsTokenEnv)
	if len(v.ps.errs) == before && len(h.MetricsToken.Reveal()) < MinMetricsToken {
		v.errf(set, "the token is shorter than %d characters (make one with \"openssl rand -hex 32\")", MinMetricsToken)
	}
}

// checkListen returns what is wrong with a listen address, or "".
func checkListen(s string) string {
	if s == "" {
		return `must not be empty (leave listen out for no HTTP listener)`
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. \"127.0.0.1:9587\" or \":9587\")", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Sprintf("%q: %q is not an IP address or host name", s, host)
	}
	return ""
}

// IsLoopback reports whether Listen accepts only connections from this
// host: a loopback address or "localhost".
func (h *HTTP) IsLoopback() bool {
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnings are the problems of a valid [http] table.
func (h *HTTP) warnings() []string {
	if h.Listen == "" || h.IsLoopback() || !h.MetricsToken.IsZero() {
		return nil
	}
	return []string{fmt.Sprintf("[http] listen = %q is reachable from other hosts and metrics_token is not set: /metrics answers only loopback clients", h.Listen)}
}
