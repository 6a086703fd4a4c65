package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// HTTP is the [http] table: the HTTP listener of jarchive serve, which
// answers /metrics (Prometheus), /healthz and /readyz, and serves the web
// interface and its JSON API (package web) on every other path.
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

	// TLSCertFile and TLSKeyFile, both or neither, make the listener speak
	// HTTPS with this certificate chain and key (PEM). Relative paths are
	// relative to the configuration file's directory. Without them the
	// listener speaks plain HTTP: put it on loopback behind a reverse
	// proxy that terminates TLS (see TrustedProxies).
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// TrustedProxies are the addresses (an IP, or a network in CIDR
	// notation) of reverse proxies in front of the listener. From them,
	// X-Forwarded-For names the client (for the audit trail and login
	// rate limits) and X-Forwarded-Proto: https marks the connection as
	// secure (Secure cookies). From anyone else both headers are ignored.
	TrustedProxies []string `toml:"trusted_proxies"`
	// SessionTTL is how long a web login lasts without use; from "1m" to
	// "720h". Not set (0): DefaultSessionTTL. A session also ends at
	// logout.
	SessionTTL Duration `toml:"session_ttl"`
	// Networks are TrustedProxies parsed, filled by Load.
	Networks []*net.IPNet `toml:"-"`
}

// Defaults and bounds of the web keys.
const (
	DefaultSessionTTL = Duration(8 * time.Hour)
	MinSessionTTL     = Duration(time.Minute)
	MaxSessionTTL     = Duration(720 * time.Hour)
)

// TLS reports whether the listener speaks HTTPS.
func (h *HTTP) TLS() bool { return h.TLSCertFile != "" }

// checkPasswordHash returns what is wrong with a [[users]] password_hash,
// or "". Only the format is checked: a bcrypt hash is "$2a$", "$2b$" or
// "$2y$", a two-digit cost and 53 characters of salt and hash.
func checkPasswordHash(s string) string {
	ok := len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")) && s[6] == '$'
	if ok {
		cost, err := strconv.Atoi(s[4:6])
		ok = err == nil && cost >= 4 && cost <= 31
	}
	if !ok {
		return "is not a bcrypt hash (make one with \"jarchive passwd\")"
	}
	return ""
}

// web checks the keys of the web interface.
func (v *validator) web() {
	h := &v.cfg.HTTP
	web := []string{"tls_cert_file", "tls_key_file", "trusted_proxies", "session_ttl"}
	if h.Listen == "" && v.present("http.listen") == nil {
		for _, k := range web {
			if v.present("http."+k) != nil {
				v.err("http."+k, "not used without listen (the address of the HTTP listener)")
			}
		}
		return
	}
	switch {
	case h.TLSCertFile != "" && h.TLSKeyFile == "":
		v.err("http.tls_key_file", "required key is missing (tls_cert_file is set)")
	case h.TLSCertFile == "" && h.TLSKeyFile != "":
		v.err("http.tls_cert_file", "required key is missing (tls_key_file is set)")
	case h.TLSCertFile != "":
		cert, key := v.resolve(h.TLSCertFile), v.resolve(h.TLSKeyFile)
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			v.errf("http.tls_cert_file", "cannot load the certificate %q and key %q: %v", h.TLSCertFile, h.TLSKeyFile, pathReason(err))
		} else {
			h.TLSCertFile, h.TLSKeyFile = cert, key
		}
	}
	if v.present("http.tls_cert_file") != nil && h.TLSCertFile == "" {
		v.err("http.tls_cert_file", "must not be empty")
	}
	h.Networks = nil
	for i, p := range h.TrustedProxies {
		n, msg := parseNetwork(p)
		if msg != "" {
			v.errElem("http.trusted_proxies", i, fmt.Sprintf("http.trusted_proxies[%d]", i), msg)
			continue
		}
		h.Networks = append(h.Networks, n)
	}
	if kv := v.present("http.session_ttl"); kv != nil {
		switch {
		case h.SessionTTL < MinSessionTTL:
			v.errf("http.session_ttl", "%q is too short: the minimum is %s", kv.text, MinSessionTTL)
		case h.SessionTTL > MaxSessionTTL:
			v.errf("http.session_ttl", "%q is too long: the maximum is %s", kv.text, MaxSessionTTL)
		}
	}
}

// parseNetwork reads a trusted proxy: an IP address or a CIDR network.
func parseNetwork(s string) (*net.IPNet, string) {
	if ip := net.ParseIP(s); ip != nil {
		bits := 128
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, ""
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Sprintf("%q is not an IP address or a network (\"10.0.0.0/8\")", s)
	}
	return n, ""
}

// MinMetricsToken is the shortest accepted metrics token.
const MinMetricsToken = 16

// http checks the [http] table and reads the metrics token.
func (v *validator) http() {
	h := &v.cfg.HTTP
	v.web()
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
