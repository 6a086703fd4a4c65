// Package dovecottest starts a real Dovecot IMAP and POP3 server for tests.
//
// Start templates a dovecot.conf into a fresh directory, generates a CA and a
// server certificate for 127.0.0.1 and localhost, runs `dovecot -F` on free
// ports of 127.0.0.1 (IMAP with STARTTLS, IMAPS, POP3, POP3S) and stops it
// when the test ends. Mail is stored in Maildirs owned by the `dovecot`
// system user (or by the current user when not running as root).
//
// With Options.OAuth2 the logins are OAuth2 bearer tokens (SASL XOAUTH2 and
// OAUTHBEARER) checked by Dovecot's oauth2 passdb against a test identity
// provider (see OAuth2) that also plays the Microsoft identity platform's
// client-credentials token endpoint.
//
// If dovecot is not installed the test is skipped, unless the environment has
// CI=true, where it fails.
package dovecottest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"jarchive/certgen"
	"jarchive/config"
)

// Options configure Start. The zero value gives one user, "journal".
type Options struct {
	// Users maps more user names to their passwords.
	Users map[string]string
	// ExtraConfig is appended to dovecot.conf, e.g.
	// "imap_capability = IMAP4rev1 IDLE" to hide UIDPLUS.
	ExtraConfig string
	// CertHosts are the names and addresses the server certificate is for;
	// default localhost, 127.0.0.1 and ::1. Set another name to test that
	// a certificate for another host is refused.
	CertHosts []string
	// OAuth2 replaces password logins with OAuth2 tokens of Server.OAuth2.
	OAuth2 bool
}

// Server is a running Dovecot.
type Server struct {
	Host      string // "127.0.0.1"
	IMAPPort  int    // plain text, STARTTLS offered
	IMAPSPort int    // implicit TLS
	POP3Port  int    // plain text, STLS offered
	POP3SPort int    // implicit TLS
	CAFile    string // PEM of the CA that signed the server certificate
	Dir       string // the server's directory: dovecot.conf, dovecot.log, mail/
	Maildir   string // Maildir of User
	User      string // "journal"
	Password  string
	OAuth2    *OAuth2 // with Options.OAuth2: the identity provider

	conf     string
	opts     Options
	uid, gid int
	cmd      *exec.Cmd
	exited   chan struct{}
	users    map[string]string
}

// Start starts Dovecot for the test and stops it in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("dovecot"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dovecot is not installed (CI=true): %v", err)
		}
		t.Skipf("dovecot is not installed: %v", err)
	}

	s := &Server{
		Host:     "127.0.0.1",
		User:     "journal",
		Password: "journal-secret",
		users:    map[string]string{},
	}
	s.opts = opts
	s.users[s.User] = s.Password
	for u, pw := range opts.Users {
		s.users[u] = pw
	}

	// A short directory of our own, not t.TempDir(): Dovecot's unix socket
	// paths must stay under 108 bytes.
	// The parent must be traversable by the mail user, as /tmp is.
	parent := os.TempDir()
	if st, err := os.Stat(parent); err != nil || st.Mode().Perm()&0o001 == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "dovecottest-")
	if err != nil {
		t.Fatal(err)
	}
	s.Dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Dovecot's auth and mail processes run as the mail user and need to
	// reach the passwd file and the Maildirs.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	s.uid, s.gid, err = mailOwner()
	if err != nil {
		t.Fatal(err)
	}
	s.writeCerts(t, opts.CertHosts)
	if opts.OAuth2 {
		s.OAuth2 = startOAuth2(t, s.User)
		conf := fmt.Sprintf("introspection_mode = post\nintrospection_url = %s/introspect\n"+
			"username_attribute = username\nactive_attribute = active\nactive_value = true\n", s.OAuth2.URL)
		writeFile(t, filepath.Join(dir, "oauth2.conf"), []byte(conf), 0o644)
	}
	var passwd bytes.Buffer
	for u, pw := range s.users {
		if strings.ContainsAny(u+pw, ":\n") {
			t.Fatalf("dovecottest: user %q or its password holds ':' or a newline", u)
		}
		home := filepath.Join(dir, "mail", u)
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s:%d:%d::%s\n", u, pw, s.uid, s.gid, home)
		for _, sub := range []string{"", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"} {
			p := filepath.Join(home, sub)
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(p, s.uid, s.gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeFile(t, filepath.Join(dir, "passwd"), passwd.Bytes(), 0o644)
	s.Maildir = s.maildir(s.User)
	s.conf = filepath.Join(dir, "dovecot.conf")

	// Free ports can be taken by someone else before Dovecot binds them:
	// try a few times.
	var startErr error
	for range 3 {
		if startErr = s.start(opts); startErr == nil {
			break
		}
	}
	if startErr != nil {
		t.Fatalf("dovecottest: %v\n%s", startErr, s.log())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot.log:\n%s", s.log())
		}
		s.stop(t)
	})
	return s
}

var confTemplate = template.Must(template.New("dovecot.conf").Parse(`# written by jarchive/fetch/dovecottest
protocols = imap pop3
listen = 127.0.0.1
base_dir = {{.Dir}}/run
state_dir = {{.Dir}}/state
log_path = {{.Dir}}/dovecot.log
ssl = yes
ssl_cert = <{{.Dir}}/cert.pem
ssl_key = <{{.Dir}}/key.pem
disable_plaintext_auth = no
{{- if .OAuth2}}
auth_mechanisms = xoauth2 oauthbearer
{{- else}}
auth_mechanisms = plain login
{{- end}}
auth_failure_delay = 0
auth_verbose = yes
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
{{- if .User}}
default_internal_user = {{.User}}
default_internal_group = {{.Group}}
default_login_user = {{.User}}
{{- end}}
passdb {
{{- if .OAuth2}}
  driver = oauth2
  args = {{.Dir}}/oauth2.conf
{{- else}}
  driver = passwd-file
  args = scheme=PLAIN {{.Dir}}/passwd
{{- end}}
}
userdb {
  driver = passwd-file
  args = {{.Dir}}/passwd
}
service imap-login {
  inet_listener imap {
    port = {{.IMAPPort}}
  }
  inet_listener imaps {
    port = {{.IMAPSPort}}
    ssl = yes
  }
{{- if .User}}
  chroot =
{{- end}}
}
service pop3-login {
  inet_listener pop3 {
    port = {{.POP3Port}}
  }
  inet_listener pop3s {
    port = {{.POP3SPort}}
    ssl = yes
  }
{{- if .User}}
  chroot =
{{- end}}
}
service anvil {
  chroot =
  # No growing delay after failed logins from 127.0.0.1: tests fail logins
  # on purpose.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  chroot =
}
{{.Extra}}
`))

// start writes dovecot.conf with fresh ports and starts Dovecot.
func (s *Server) start(opts Options) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	s.IMAPPort, s.IMAPSPort, s.POP3Port, s.POP3SPort = ports[0], ports[1], ports[2], ports[3]

	data := map[string]any{
		"Dir":       s.Dir,
		"IMAPPort":  s.IMAPPort,
		"IMAPSPort": s.IMAPSPort,
		"POP3Port":  s.POP3Port,
		"POP3SPort": s.POP3SPort,
		"Extra":     opts.ExtraConfig,
		"OAuth2":    opts.OAuth2,
		"User":      "",
		"Group":     "",
	}
	if os.Geteuid() != 0 {
		// Unprivileged: every Dovecot process runs as us, without chroot.
		u, err := user.Current()
		if err != nil {
			return err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return err
		}
		data["User"], data["Group"] = u.Username, g.Name
	}
	var conf bytes.Buffer
	if err := confTemplate.Execute(&conf, data); err != nil {
		return err
	}
	if err := os.WriteFile(s.conf, conf.Bytes(), 0o644); err != nil {
		return err
	}
	os.Remove(filepath.Join(s.Dir, "dovecot.log"))
	return s.launch()
}

// launch runs Dovecot with the written dovecot.conf and waits until it
// listens.
func (s *Server) launch() error {
	var stderr syncBuffer
	cmd := exec.Command("dovecot", "-F", "-c", s.conf)
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dovecot: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.IMAPPort))
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("dovecot exited at start: %v\n%s", cmd.ProcessState, stderr.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("dovecot did not listen on %s within 15s: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops Dovecot as a crash would: every connection drops at once.
// Restart starts it again.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	s.kill()
	s.cmd = nil
}

// Restart starts a stopped Dovecot again, on the same ports with the same
// mail.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("dovecottest: Restart of a running server")
	}
	var err error
	for range 3 {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("dovecottest: restart: %v\n%s", err, s.log())
}

// stop ends Dovecot: SIGTERM to its process group, then doveadm stop, then
// SIGKILL.
func (s *Server) stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		if out, err := exec.Command("doveadm", "-c", s.conf, "stop").CombinedOutput(); err != nil {
			t.Logf("doveadm stop: %v: %s", err, out)
		}
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.kill()
		}
	}
	// Children that outlived the master.
	syscall.Kill(-pgid, syscall.SIGKILL)
}

func (s *Server) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

func (s *Server) log() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
	if err != nil {
		return fmt.Sprintf("(no dovecot.log: %v)", err)
	}
	return string(b)
}

func (s *Server) maildir(user string) string {
	return filepath.Join(s.Dir, "mail", user, "Maildir")
}

var deliveries atomic.Uint64

// Deliver puts msg into user's INBOX as a delivery agent does: written to
// Maildir/tmp, then renamed into Maildir/new. The bytes are stored as given;
// Dovecot serves LF-only lines with CRLF.
func (s *Server) Deliver(t testing.TB, user string, msg []byte) {
	t.Helper()
	if _, ok := s.users[user]; !ok {
		t.Fatalf("dovecottest: Deliver to unknown user %q", user)
	}
	md := s.maildir(user)
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ%d.dovecottest", now.Unix(), now.Nanosecond()/1000, os.Getpid(), deliveries.Add(1))
	tmp := filepath.Join(md, "tmp", name)
	writeFile(t, tmp, msg, 0o600)
	if err := os.Chown(tmp, s.uid, s.gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
		t.Fatal(err)
	}
}

// Count returns the number of messages in user's INBOX (files in new/ and
// cur/).
func (s *Server) Count(t testing.TB, user string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(s.maildir(user), sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				n++
			}
		}
	}
	return n
}

// Account returns an IMAP account for User on this server, on the port that
// matches sec and trusting the test CA.
func (s *Server) Account(name string, sec config.Security) *config.Account {
	port := s.IMAPPort
	if sec == config.SecurityTLS {
		port = s.IMAPSPort
	}
	return &config.Account{
		Name:      name,
		Protocol:  config.ProtocolIMAP,
		Server:    net.JoinHostPort(s.Host, strconv.Itoa(port)),
		Username:  s.User,
		Password:  config.NewSecret(s.Password),
		Security:  sec,
		TLSCAFile: s.CAFile,
		Mailbox:   "INBOX",
	}
}

// POP3Account returns a POP3 account for User on this server, on the port
// that matches sec and trusting the test CA.
func (s *Server) POP3Account(name string, sec config.Security) *config.Account {
	port := s.POP3Port
	if sec == config.SecurityTLS {
		port = s.POP3SPort
	}
	return &config.Account{
		Name:      name,
		Protocol:  config.ProtocolPOP3,
		Server:    net.JoinHostPort(s.Host, strconv.Itoa(port)),
		Username:  s.User,
		Password:  config.NewSecret(s.Password),
		Security:  sec,
		TLSCAFile: s.CAFile,
	}
}

// OAuth2Account returns an account of protocol imap-oauth2 or pop3-oauth2
// for User on a server started with Options.OAuth2, with the identity
// provider's client credentials and token URL.
func (s *Server) OAuth2Account(name string, proto config.Protocol, sec config.Security) *config.Account {
	var a *config.Account
	if proto == config.ProtocolPOP3OAuth2 {
		a = s.POP3Account(name, sec)
	} else {
		a = s.Account(name, sec)
	}
	a.Protocol = proto
	a.Password = config.Secret{}
	if o := s.OAuth2; o != nil {
		a.TenantID, a.ClientID, a.ClientSecret = o.TenantID, o.ClientID, config.NewSecret(o.ClientSecret)
		a.TokenURL = o.TokenURL
	}
	return a
}

// mailOwner is the uid and gid mail is stored under: the dovecot system
// user when root (Dovecot refuses to run mail processes as root), else us.
func mailOwner() (uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("dovecot")
	if err != nil {
		return 0, 0, fmt.Errorf("dovecottest: the dovecot system user is missing: %w", err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, err
	}
	gid, err = strconv.Atoi(u.Gid)
	return uid, gid, err
}

// writeCerts generates a CA and a server certificate for hosts (default
// localhost, 127.0.0.1 and ::1).
func (s *Server) writeCerts(t testing.TB, hosts []string) {
	t.Helper()
	p, err := certgen.New("dovecottest CA", hosts)
	if err == nil {
		err = p.WriteFiles(s.Dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
}

// freePorts returns n distinct free TCP ports of 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	// WriteFile's perm is filtered by the umask.
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects Dovecot's output from its own goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
