package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"jarchive/audit"
)

// webClient is a browser-like client that does not follow redirects.
func webClient(t *testing.T, insecure bool) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var webCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webLogin logs in at base and returns the response of the form post.
func webLogin(t *testing.T, c *http.Client, base, user, password string) *http.Response {
	t.Helper()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := webCSRF.FindSubmatch(body)
	if m == nil {
		t.Fatalf("login page without a csrf token:\n%s", body)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func testKeyPair(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(priv)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, key
}

// TestWebService: the daemon's HTTP listener serves the web interface
// beside /healthz and /metrics, over TLS with Secure cookies.
func TestWebService(t *testing.T) {
	cert, key := testKeyPair(t, t.TempDir())
	hash, _ := bcrypt.GenerateFromPassword([]byte("a fine password"), bcrypt.MinCost)
	s := testService(t, "[http]\nlisten = '127.0.0.1:0'\ntls_cert_file = '"+cert+"'\ntls_key_file = '"+key+"'\n"+
		"[[users]]\nname = 'kim'\naddresses = ['kim@contoso.com']\nrole = 'auditor'\npassword_hash = '"+string(hash)+"'\n")
	base := "https://" + s.http.boundAddr().String()
	c := webClient(t, true)
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/search": 303, "/api/v1/stats": 401} {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d; want %d", path, resp.StatusCode, want)
		}
	}
	resp := webLogin(t, c, base, "kim", "a fine password")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d; want 303", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "jarchive_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %+v; want Secure, HttpOnly, SameSite=Lax", sess)
	}
	resp, err := c.Get(base + "/api/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"index_documents": 0`) {
		t.Errorf("stats: %d %s", resp.StatusCode, body)
	}
	// The login is in the audit trail, which verify checks.
	recs, n, err := audit.Tail(filepath.Join(s.st.config().Archive.Dir, audit.File), 0)
	if err != nil || n != 2 || recs[1].Action != audit.ActionLogin || recs[1].Actor != "kim" || recs[0].Action != audit.ActionStats {
		t.Errorf("audit: %d records %+v, %v; want the login and the stats", n, recs, err)
	}
}

func TestPasswd(t *testing.T) {
	defer func(r io.Reader) { passwdInput = r }(passwdInput)
	passwdInput = strings.NewReader("correct horse battery\n")
	out, code := runCmd(t, "passwd", "-cost", "4")
	hash := strings.TrimSpace(out)
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery")) != nil {
		t.Fatalf("passwd: exit %d, %q; want the password's hash", code, out)
	}
	passwdInput = strings.NewReader("short\n")
	if out, code := runCmd(t, "passwd"); code != 1 || !strings.Contains(out, "shorter than 10 characters") {
		t.Errorf("short password: exit %d, %q", code, out)
	}
}

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	os.WriteFile(cfg, []byte("[archive]\ndir = \"archive\"\n[[users]]\nname = \"bob\"\naddresses = [\"bob@contoso.com\"]\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "archive"), 0o700)
	out, code := runCmd(t, "token", "add", "-config", cfg, "-name", "backup", "-role", "auditor")
	if code != 0 || !strings.HasPrefix(out, "jat_") {
		t.Fatalf("token add: exit %d, %q", code, out)
	}
	if out, code := runCmd(t, "token", "add", "-config", cfg, "-name", "script", "-role", "user"); code != 1 || !strings.Contains(out, "needs the user") {
		t.Errorf("user token without a user: exit %d, %q", code, out)
	}
	if out, code := runCmd(t, "token", "add", "-config", cfg, "-name", "script", "-role", "user", "-user", "nobody"); code != 1 || !strings.Contains(out, "no such user") {
		t.Errorf("token for an unknown user: exit %d, %q", code, out)
	}
	if _, code := runCmd(t, "token", "add", "-config", cfg, "-name", "script", "-role", "user", "-user", "bob@contoso.com"); code != 0 {
		t.Errorf("token for bob: exit %d", code)
	}
	out, _ = runCmd(t, "token", "list", "-config", cfg)
	if !strings.Contains(out, "backup  auditor") || !strings.Contains(out, "script  user     bob") || strings.Contains(out, "jat_") {
		t.Errorf("token list:\n%s", out)
	}
	if out, code := runCmd(t, "token", "revoke", "-config", cfg, "backup"); code != 0 {
		t.Errorf("revoke: exit %d %s", code, out)
	}
	if out, _ := runCmd(t, "token", "list", "-config", cfg); strings.Contains(out, "backup") {
		t.Errorf("after revoke:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "archive", "web-tokens.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, %v; want mode 0600", fi, err)
	}
	// The admin actions are in the audit trail.
	recs, _, err := audit.Tail(filepath.Join(dir, "archive", audit.File), 0)
	var got []string
	for _, r := range recs {
		got = append(got, r.Action+" "+r.Target+" "+r.Detail)
	}
	if want := "token-revoke backup |token-create script role user, user bob|token-create backup role auditor"; err != nil || strings.Join(got, "|") != want {
		t.Errorf("audit trail %q, %v; want %q", got, err, want)
	}
}

// TestVerifyAudit: verify reports an edited or deleted audit record.
func TestVerifyAudit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	os.WriteFile(cfg, []byte("[archive]\ndir = \"archive\"\n"), 0o600)
	if _, code := runCmd(t, "stats", "-config", cfg); code != 0 {
		t.Fatal("stats failed")
	}
	path := filepath.Join(dir, "archive", audit.File)
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"anna", "bob", "kim"} {
		l.Append(audit.Entry{Actor: who, Action: audit.ActionLogin, Outcome: audit.Success, Remote: "10.0.0.1"})
	}
	l.Close()
	if out, code := runCmd(t, "verify", "-config", cfg); code != 0 || !strings.Contains(out, "audit log: 3 records") {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	good, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(good, []byte(`"actor":"bob"`), []byte(`"actor":"eve"`), 1), 0o600)
	if out, code := runCmd(t, "verify", "-config", cfg); code != 1 || !strings.Contains(out, "audit-edited") {
		t.Errorf("verify of an edited record: exit %d\n%s", code, out)
	}
	lines := bytes.SplitAfter(good, []byte("\n"))
	os.WriteFile(path, append(append([]byte{}, lines[0]...), lines[2]...), 0o600)
	if out, code := runCmd(t, "verify", "-config", cfg); code != 1 || !strings.Contains(out, "audit-deleted") {
		t.Errorf("verify of a deleted record: exit %d\n%s", code, out)
	}
}

// TestDemoWeb: "demo -web" serves the web interface with the login it
// prints until it is stopped.
func TestDemoWeb(t *testing.T) {
	var out syncBuf
	var errOut bytes.Buffer
	a := &app{stdout: &out, stderr: io.Discard, logger: newLogger(&errOut)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := demoRun(ctx, a, t.TempDir(), 20, true)
		done <- err
	}()
	re := regexp.MustCompile(`Web interface: (http://\S+)/\n  user:     (\S+) .*\n  password: (\S+)\n  serving until Ctrl-C`)
	var m []string
	for deadline := time.Now().Add(2 * time.Minute); m == nil; {
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no web interface line:\n%s", out.String())
		}
		m = re.FindStringSubmatch(out.String())
	}
	c := webClient(t, false)
	if resp := webLogin(t, c, m[1], m[2], m[3]); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("demo login: %d", resp.StatusCode)
	}
	resp, err := c.Get(m[1] + "/api/v1/search?q=&limit=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"total": `) || strings.Contains(string(body), `"total": 0`) {
		t.Errorf("demo search: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo -web did not stop")
	}
}

// TestWebTLSReload: a reload puts a renewed certificate (same files) in
// force without a restart.
func TestWebTLSReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := testKeyPair(t, dir)
	path := filepath.Join(dir, "jarchive.toml")
	os.WriteFile(path, []byte("[archive]\ndir = \"archive\"\n[http]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n"), 0o600)
	s, logs := startTestService(t, path)
	serial := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", s.http.boundAddr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	time.Sleep(time.Millisecond)
	if c, k := testKeyPair(t, dir); c != cert || k != key {
		t.Fatal("key pair written elsewhere")
	}
	s.reload(t.Context())
	if second := serial(); second == first {
		t.Errorf("after the reload the server still shows certificate %s\n%s", first, logs.String())
	}
}
