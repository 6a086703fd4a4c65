// Package postfixtest starts a real Postfix for tests, as a relay in front
// of jarchive's SMTP receiver.
//
// Start writes a main.cf and a master.cf into a fresh directory (the queue
// and data directories live there too), runs "postfix -c DIR start" with
// smtpd on a free port of 127.0.0.1, and relays every message to
// Options.RelayPort on 127.0.0.1 over SMTP (or LMTP), retrying deferred
// mail every second or two. The test delivers with Send, watches the queue
// with Queue and Flush, and Postfix is stopped ("postfix -c DIR stop") when
// the test ends. The relay is made faithful (no MIME processing or
// conversion, no dropped headers, no line or header length limits), so that
// a message arrives as it was sent plus Postfix's Received header, and
// tests can compare bytes. No system service, port 25 or /etc/postfix/main.cf is
// touched.
//
// Postfix's master must run as root (it drops to mail_owner, the
// Debian-created user "postfix"), so the tests are skipped when not root
// or when postfix is not installed, unless CI=true, where they fail.
package postfixtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"net/smtp"
)

// Options configure Start.
type Options struct {
	// RelayPort is the port on 127.0.0.1 that every message is relayed to.
	RelayPort int
	// LMTP relays with Postfix's lmtp client instead of smtp.
	LMTP bool
	// ExtraMain is appended to main.cf.
	ExtraMain string
}

// Server is a running Postfix.
type Server struct {
	Port int    // smtpd on 127.0.0.1, accepting relay from loopback
	Dir  string // main.cf, master.cf, maillog, queue/, data/
	Conf string // the configuration directory (Dir/etc)
}

// skip skips the test, or fails it when CI=true.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("postfixtest (CI=true): "+format, args...)
	}
	t.Skipf("postfixtest: "+format, args...)
}

// Start starts Postfix for the test and stops it in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	postfix, err := exec.LookPath("postfix")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/postfix"); serr != nil {
			skip(t, "postfix is not installed: %v", err)
		}
		postfix = "/usr/sbin/postfix"
	}
	if os.Geteuid() != 0 {
		skip(t, "postfix's master must be started as root (it drops to mail_owner)")
	}
	owner, err := user.Lookup("postfix")
	if err != nil {
		skip(t, "no mail_owner user \"postfix\": %v", err)
	}
	if _, err := user.LookupGroup("postdrop"); err != nil {
		skip(t, "no setgid_group \"postdrop\": %v", err)
	}
	// Our own directory, traversable by the postfix user (t.TempDir's
	// parents are not).
	dir, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, Conf: filepath.Join(dir, "etc")}
	for _, d := range []string{"etc", "queue", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(owner.Uid)
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		t.Fatal(err)
	}
	s.Port = freePort(t)

	transport := fmt.Sprintf("relayhost = [127.0.0.1]:%d\n", opts.RelayPort)
	if opts.LMTP {
		transport = fmt.Sprintf("default_transport = lmtp:inet:127.0.0.1:%d\nrelay_transport = lmtp:inet:127.0.0.1:%d\n", opts.RelayPort, opts.RelayPort)
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mta.postfixtest.invalid
mydomain = postfixtest.invalid
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_host_lookup = native
lmtp_host_lookup = native
smtp_tls_security_level = none
alias_maps =
alias_database =
local_header_rewrite_clients =
smtp_line_length_limit = 0
line_length_limit = 1048576
header_size_limit = 1048576
message_drop_headers =
disable_mime_input_processing = yes
disable_mime_output_conversion = yes
lmtp_line_length_limit = 0
message_size_limit = 104857600
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
smtp_data_done_timeout = 120s
default_destination_concurrency_limit = 10
default_process_limit = 50
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
%[2]s%[3]s
`, dir, transport, opts.ExtraMain)
	master := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, s.Port)
	for name, content := range map[string]string{"main.cf": main, "master.cf": master} {
		if err := os.WriteFile(filepath.Join(s.Conf, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(postfix, "-c", s.Conf, "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, s.Log())
	}
	t.Cleanup(func() {
		if out, err := exec.Command(postfix, "-c", s.Conf, "stop").CombinedOutput(); err != nil {
			t.Logf("postfix stop: %v\n%s", err, out)
		}
		// Wait for master to go, so that the directory can be removed.
		pidFile := filepath.Join(dir, "queue", "pid", "master.pid")
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			b, err := os.ReadFile(pidFile)
			if err != nil {
				break
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid <= 0 || !alive(pid) {
				break
			}
		}
	})
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(end) {
			t.Fatalf("postfix smtpd does not listen on port %d: %v\n%s", s.Port, err, s.Log())
		}
	}
	return s
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Log returns Postfix's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "maillog"))
	return string(b)
}

// Sender is an open SMTP connection to Postfix's smtpd, for many messages.
type Sender struct {
	c *smtp.Client
}

// Dial opens a connection to smtpd and says EHLO.
func (s *Server) Dial(t testing.TB) *Sender {
	t.Helper()
	c, err := smtp.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
	if err != nil {
		t.Fatalf("postfixtest: dial: %v", err)
	}
	if err := c.Hello("client.postfixtest.invalid"); err != nil {
		t.Fatalf("postfixtest: EHLO: %v", err)
	}
	return &Sender{c: c}
}

// Send hands one message to Postfix; it returns once Postfix queued it.
func (se *Sender) Send(from string, to []string, msg []byte) error {
	if err := se.c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range to {
		if err := se.c.Rcpt(r); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := se.c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	return nil
}

// Close ends the connection with QUIT.
func (se *Sender) Close() error { return se.c.Quit() }

// QueuedMessage is one entry of "postqueue -j".
type QueuedMessage struct {
	QueueName  string `json:"queue_name"`
	QueueID    string `json:"queue_id"`
	Sender     string `json:"sender"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// Queue lists the messages in Postfix's queue (postqueue -j).
func (s *Server) Queue(t testing.TB) []QueuedMessage {
	t.Helper()
	out, err := exec.Command("postqueue", "-c", s.Conf, "-j").Output()
	if err != nil {
		t.Fatalf("postqueue -j: %v\n%s", err, out)
	}
	var q []QueuedMessage
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m QueuedMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("postqueue -j: %v: %s", err, line)
		}
		q = append(q, m)
	}
	return q
}

// Flush asks Postfix to retry the deferred mail now (postqueue -f).
func (s *Server) Flush(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("postqueue", "-c", s.Conf, "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v\n%s", err, out)
	}
}

// WaitEmpty waits until the queue is empty, flushing it now and then; it
// fails the test after timeout with the queue and the log.
func (s *Server) WaitEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	end := time.Now().Add(timeout)
	last := time.Now()
	for {
		q := s.Queue(t)
		if len(q) == 0 {
			return
		}
		if time.Now().After(end) {
			reason := ""
			if len(q[0].Recipients) > 0 {
				reason = q[0].Recipients[0].DelayReason
			}
			t.Fatalf("postfix still holds %d messages after %s (first: %q)\n%s", len(q), timeout, reason, tail(s.Log(), 3000))
		}
		if time.Since(last) > 3*time.Second {
			s.Flush(t)
			last = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
