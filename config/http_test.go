package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestHTTP(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[http]\n"
	t.Setenv("JARCHIVE_TEST_TOKEN", "0123456789abcdef-env")
	for _, tc := range []struct {
		doc      string
		want     HTTP
		loopback bool
		warnings []string
	}{
		{doc: "", want: HTTP{}},
		{doc: "listen = '127.0.0.1:9587'\n", want: HTTP{Listen: "127.0.0.1:9587"}, loopback: true},
		{doc: "listen = '[::1]:0'\n", want: HTTP{Listen: "[::1]:0"}, loopback: true},
		{doc: "listen = 'localhost:9587'\n", want: HTTP{Listen: "localhost:9587"}, loopback: true},
		{doc: "listen = ':9587'\n", want: HTTP{Listen: ":9587"},
			warnings: []string{`[http] listen = ":9587" is reachable from other hosts and metrics_token is not set: /metrics answers only loopback clients`}},
		{doc: "listen = '0.0.0.0:9587'\nmetrics_token = '0123456789abcdef'\n",
			want: HTTP{Listen: "0.0.0.0:9587", MetricsToken: NewSecret("0123456789abcdef")}},
		{doc: "listen = 'archiver.example.com:9587'\nmetrics_token_env = 'JARCHIVE_TEST_TOKEN'\n",
			want: HTTP{Listen: "archiver.example.com:9587", MetricsToken: NewSecret("0123456789abcdef-env"), MetricsTokenEnv: "JARCHIVE_TEST_TOKEN"}},
	} {
		cfg, err := Parse("x.toml", []byte(head+tc.doc))
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		if !reflect.DeepEqual(cfg.HTTP, tc.want) {
			t.Errorf("%q: got %+v; want %+v", tc.doc, cfg.HTTP, tc.want)
		}
		if cfg.HTTP.MetricsToken.Reveal() != tc.want.MetricsToken.Reveal() {
			t.Errorf("%q: token %q; want %q", tc.doc, cfg.HTTP.MetricsToken.Reveal(), tc.want.MetricsToken.Reveal())
		}
		if got := cfg.HTTP.IsLoopback(); got != tc.loopback {
			t.Errorf("%q: IsLoopback() = %v; want %v", tc.doc, got, tc.loopback)
		}
		if got := cfg.Warnings(); !reflect.DeepEqual(got, tc.warnings) {
			t.Errorf("%q: warnings %q; want %q", tc.doc, got, tc.warnings)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[http]\n"
	setBadEnv(t)
	for _, tc := range []struct{ doc, want string }{
		{"listen = ''\n", `x.toml:4:10: http.listen: must not be empty (leave listen out for no HTTP listener)`},
		{"listen = '9587'\n", `x.toml:4:10: http.listen: "9587" is not host:port (e.g. "127.0.0.1:9587" or ":9587")`},
		{"listen = 'localhost:70000'\n", `x.toml:4:10: http.listen: "localhost:70000": port "70000" is not a number from 0 to 65535`},
		{"listen = 'web server:80'\n", `x.toml:4:10: http.listen: "web server:80": "web server" is not an IP address or host name`},
		{"listen = 9587\n", `x.toml:4:10: http.listen: expected a string, got an integer`},
		{"metrics_token = '0123456789abcdef'\n", `x.toml:4:17: http.metrics_token: not used without listen (the address of the HTTP listener)`},
		{"listen = ':1'\nmetrics_token = 'short'\n", `x.toml:5:17: http.metrics_token: the token is shorter than 16 characters (make one with "openssl rand -hex 32")`},
		{"listen = ':1'\nmetrics_token = ''\n", `x.toml:5:17: http.metrics_token: must not be empty`},
		{"listen = ':1'\nmetrics_token_file = 'testdata/password.txt'\n", `x.toml:5:22: http.metrics_token_file: the token is shorter than 16 characters (make one with "openssl rand -hex 32")`},
		{"listen = ':1'\nmetrics_token_file = 'nope.txt'\n", `x.toml:5:22: http.metrics_token_file: cannot read metrics token file "nope.txt": no such file or directory`},
		{"listen = ':1'\nmetrics_token_env = 'JARCHIVE_TEST_EMPTY'\n", `x.toml:5:21: http.metrics_token_env: environment variable JARCHIVE_TEST_EMPTY is empty`},
		{"[http]\nlisten = ':1'\n", `x.toml:4:1: http: table defined twice (first on line 3)`},
	} {
		_, err := Parse("x.toml", []byte(head+tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}

// writeKeyPair writes a self-signed certificate and its key to dir.
func writeKeyPair(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestHTTPWeb(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir)
	doc := "[archive]\ndir = \"/a\"\n[http]\nlisten = '127.0.0.1:8080'\n" +
		"tls_cert_file = '" + cert + "'\ntls_key_file = '" + key + "'\n" +
		"trusted_proxies = ['10.0.0.1', '192.168.0.0/16', '::1']\nsession_ttl = '2h'\n" +
		"[[users]]\nname = 'anna'\nrole = 'auditor+admin'\npassword_hash = '$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy'\n"
	cfg, err := Parse(filepath.Join(dir, "x.toml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP
	if !h.TLS() || h.TLSCertFile != cert || h.TLSKeyFile != key || h.SessionTTL != Duration(2*time.Hour) {
		t.Errorf("got %+v; want TLS with %s, %s and a session TTL of 2h", h, cert, key)
	}
	var nets []string
	for _, n := range h.Networks {
		nets = append(nets, n.String())
	}
	if want := []string{"10.0.0.1/32", "192.168.0.0/16", "::1/128"}; !reflect.DeepEqual(nets, want) {
		t.Errorf("networks %q; want %q", nets, want)
	}
	u := cfg.Users[0]
	if u.Role != RoleAuditor|RoleAdmin || !u.Role.SeesAll() || !u.Role.IsAdmin() || u.Role.String() != "auditor+admin" {
		t.Errorf("role %v (%d); want auditor+admin", u.Role, u.Role)
	}
}

func TestRole(t *testing.T) {
	for _, tc := range []struct {
		text    string
		want    Role
		seesAll bool
		admin   bool
	}{
		{"user", RoleUser, false, false},
		{"auditor", RoleAuditor, true, false},
		{"Admin", RoleAdmin, false, true},
		{"auditor+admin", RoleAuditor | RoleAdmin, true, true},
		{"admin + auditor", RoleAuditor | RoleAdmin, true, true},
	} {
		var r Role
		if err := r.UnmarshalText([]byte(tc.text)); err != nil || r != tc.want || r.SeesAll() != tc.seesAll || r.IsAdmin() != tc.admin {
			t.Errorf("UnmarshalText(%q) = %v, %v (sees all %v, admin %v); want %v", tc.text, r, err, r.SeesAll(), r.IsAdmin(), tc.want)
		}
		b, _ := r.MarshalText()
		var back Role
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("round trip of %v: %q -> %v, %v", r, b, back, err)
		}
	}
	var r Role
	if err := r.UnmarshalText([]byte("auditor+root")); err == nil || err.Error() != `"root" is not one of user, auditor, admin` {
		t.Errorf("UnmarshalText(auditor+root) = %v; want an error", err)
	}
}

func TestHTTPWebErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[http]\n"
	for _, tc := range []struct{ doc, want string }{
		{"session_ttl = '1h'\n", `x.toml:4:15: http.session_ttl: not used without listen (the address of the HTTP listener)`},
		{"listen = ':1'\nsession_ttl = '1s'\n", `x.toml:5:15: http.session_ttl: "1s" is too short: the minimum is 1m`},
		{"listen = ':1'\nsession_ttl = '1000h'\n", `x.toml:5:15: http.session_ttl: "1000h" is too long: the maximum is 720h`},
		{"listen = ':1'\ntls_cert_file = 'c.pem'\n", `x.toml:3:1: http.tls_key_file: required key is missing (tls_cert_file is set)`},
		{"listen = ':1'\ntls_key_file = 'k.pem'\n", `x.toml:3:1: http.tls_cert_file: required key is missing (tls_key_file is set)`},
		{"listen = ':1'\ntls_cert_file = 'nope.pem'\ntls_key_file = 'nope.pem'\n", `x.toml:5:17: http.tls_cert_file: cannot load the certificate "nope.pem" and key "nope.pem": no such file or directory`},
		{"listen = ':1'\ntrusted_proxies = ['10.0.0.1', 'proxy.example.com']\n", `x.toml:5:32: http.trusted_proxies[1]: "proxy.example.com" is not an IP address or a network ("10.0.0.0/8")`},
		{"[[users]]\nname = 'a'\npassword_hash = 'secret'\n", `x.toml:6:17: users[0].password_hash: is not a bcrypt hash (make one with "jarchive passwd")`},
	} {
		_, err := Parse("x.toml", []byte(head+tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}
