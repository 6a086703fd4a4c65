package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"jarchive/fetch/dovecottest"
	"jarchive/mailgen"
)

// daemon is a "jarchive serve" process started by a test with a fake
// $NOTIFY_SOCKET: a unixgram socket whose datagrams arrive on notes.
type daemon struct {
	t       *testing.T
	cmd     *exec.Cmd
	logPath string
	notes   chan string
	exited  chan struct{}
	err     error // of Wait, once exited is closed
	started time.Time
}

// startDaemon runs bin serve -config cfg with JSON logs to a file (which
// the daemon finds by $JOURNAL_STREAM, as under systemd) and env added.
func startDaemon(t *testing.T, bin, cfg string, env ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, logPath: filepath.Join(dir, "serve.log"), notes: make(chan string, 10000), exited: make(chan struct{})}
	go func() {
		defer conn.Close()
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			d.notes <- string(buf[:n])
		}
	}()
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := logFile.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	d.cmd = exec.Command(bin, "serve", "-config", cfg)
	d.cmd.Stderr = logFile // stdout ("jarchive stopped") is discarded
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	d.cmd.Env = append(d.cmd.Env, env...)
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		logFile.Close()
		// The daemon's last datagrams (STOPPING=1 a moment before it
		// ends) may still wait in the socket, which closing it would
		// drop: the reader takes them until the deadline, then closes it.
		conn.SetReadDeadline(time.Now().Add(notesAfterExit))
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", tail(d.log(), 6000))
		}
	})
	return d
}

func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// notesAfterExit is how long the notes of a daemon that has exited are
// still read: long enough for a reader goroutine kept waiting on a loaded
// machine.
const notesAfterExit = 5 * time.Second

// note waits for a datagram holding state (e.g. "READY=1") and returns it.
// Datagrams before it are dropped.
func (d *daemon) note(state string, timeout time.Duration) string {
	d.t.Helper()
	deadline := time.After(timeout)
	has := func(n string) bool { return slices.Contains(strings.Split(n, "\n"), state) }
	for {
		select {
		case n := <-d.notes:
			if has(n) {
				return n
			}
		case <-deadline:
			d.t.Fatalf("no %s on the notify socket within %s", state, timeout)
		case <-d.exited:
			// A datagram sent before the exit may still wait in the
			// socket or in the reader (and select picks at random
			// between ready cases).
			for {
				select {
				case n := <-d.notes:
					if has(n) {
						return n
					}
				case <-time.After(notesAfterExit):
					d.t.Fatalf("serve exited (%v) before sending %s", d.err, state)
				}
			}
		}
	}
}

func (d *daemon) signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// stop sends SIGTERM and returns how long the daemon took to exit; it
// fails the test unless the daemon sent STOPPING=1 and exited 0 within
// bound.
func (d *daemon) stop(bound time.Duration) time.Duration {
	d.t.Helper()
	start := time.Now()
	d.signal(syscall.SIGTERM)
	d.note("STOPPING=1", bound)
	select {
	case <-d.exited:
	case <-time.After(bound):
		d.t.Fatalf("serve did not exit within %s of SIGTERM", bound)
	}
	took := time.Since(start)
	if d.err != nil {
		d.t.Fatalf("serve after SIGTERM: %v", d.err)
	}
	return took
}

// logLines returns the JSON log records whose msg is msg.
func (d *daemon) logLines(msg string) []map[string]any {
	d.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.log()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			d.t.Fatalf("log line is not JSON (JOURNAL_STREAM names stderr): %q", sc.Text())
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitLog waits for a log record with message msg beyond the first skip.
func (d *daemon) waitLog(msg string, skip int, timeout time.Duration) map[string]any {
	d.t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if recs := d.logLines(msg); len(recs) > skip {
			return recs[skip]
		}
		if time.Now().After(end) {
			d.t.Fatalf("no log record %q (after %d) within %s", msg, skip, timeout)
		}
	}
}

// httpAddr is the address the daemon's HTTP listener is bound to.
func (d *daemon) httpAddr() string {
	d.t.Helper()
	rec := d.waitLog("http listening", 0, 10*time.Second)
	return rec["addr"].(string)
}

// scrape reads /metrics with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// metricValue is the value of the series of name whose labels include
// labels (name=value pairs), summed over the matching series; for a
// histogram, its count.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
	sum := 0.0
	for _, m := range mf.Metric {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// svcAccount is an account of serviceConfig: an IMAP user of the test's
// Dovecot, with its password inline (so the test can check that the log
// never shows it).
type svcAccount struct {
	name, user, password string
	port                 int
	ca                   string
	extra                string // more keys
}

func serviceConfig(t *testing.T, path, archiveDir string, accounts ...svcAccount) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[archive]\ndir = %q\n\n[http]\nlisten = \"127.0.0.1:0\"\n", archiveDir)
	for _, a := range accounts {
		fmt.Fprintf(&b, "\n[[accounts]]\nname = %q\nserver = \"127.0.0.1:%d\"\nusername = %q\npassword = %q\nsecurity = \"tls\"\ntls_ca_file = %q\ninterval = \"1s\"\n%s",
			a.name, a.port, a.user, a.password, a.ca, a.extra)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// TestService runs the built binary as systemd would: notifications,
// watchdog, reload and shutdown, with /metrics checked against the
// archive.
func TestService(t *testing.T) {
	if testing.Short() {
		t.Skip("service test skipped in -short mode")
	}
	bin := buildBinary(t)
	t.Run("Notify", func(t *testing.T) { testNotify(t, bin) })
	t.Run("Reload", func(t *testing.T) { testReload(t, bin) })
	t.Run("Shutdown", func(t *testing.T) { testShutdown(t, bin) })
}

// testNotify: READY=1 once the archive is open, WATCHDOG=1 at half of
// $WATCHDOG_USEC, STOPPING=1 at SIGTERM, and JSON logs under the journal.
func testNotify(t *testing.T, bin string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	serviceConfig(t, cfg, filepath.Join(dir, "archive"))
	d := startDaemon(t, bin, cfg, "WATCHDOG_USEC=200000")

	ready := d.note("READY=1", 20*time.Second)
	if !strings.Contains(ready, "\nSTATUS=archiving from 0 accounts") {
		t.Errorf("READY datagram %q lacks the STATUS line", ready)
	}
	// The archive is open: the daemon answers on its control socket.
	if out, code := runCmd(t, "stats", "-json", "-config", cfg); code != 0 || !strings.Contains(out, `"index_lag": 0`) {
		t.Errorf("stats right after READY=1: exit %d: %s", code, out)
	}
	addr := d.httpAddr()
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != 200 || !strings.Contains(body, "archive:  ok") {
		t.Errorf("/readyz: %d %q; want 200 with archive ok", code, body)
	}
	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q; want 200 ok", code, body)
	}

	// Pings every 100ms.
	d.note("WATCHDOG=1", 5*time.Second)
	start := time.Now()
	const pings = 10
	for range pings {
		d.note("WATCHDOG=1", 2*time.Second)
	}
	every := time.Since(start) / pings
	if every < 70*time.Millisecond || every > 200*time.Millisecond {
		t.Errorf("a watchdog ping every %v; want every 100ms (half of WATCHDOG_USEC=200000)", every)
	}

	took := d.stop(20 * time.Second)
	t.Logf("READY=1 %v after start; watchdog every %v; exit %v after SIGTERM", time.Since(d.started)-took, every, took)
	if len(d.logLines("stopped")) != 1 {
		t.Errorf("no \"stopped\" record in the JSON log")
	}
}

// testReload: SIGHUP with a broken file keeps the running configuration;
// with a changed account restarts that account only. /metrics matches
// what was archived.
func testReload(t *testing.T, bin string) {
	srv := dovecottest.Start(t, dovecottest.Options{Users: map[string]string{"other": "other-secret-pw"}})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	a := svcAccount{name: "a", user: srv.User, password: srv.Password, port: srv.IMAPSPort, ca: srv.CAFile}
	b := svcAccount{name: "b", user: "other", password: "other-secret-pw", port: srv.IMAPSPort, ca: srv.CAFile}
	serviceConfig(t, cfg, filepath.Join(dir, "archive"), a, b)

	// Journal reports (some originals twice), and one message whose
	// header line is too long to parse: archived raw.
	gen := mailgen.New(mailgen.Options{Seed: 12})
	var delivered, bytes int
	deliver := func(user string, msg []byte) {
		srv.Deliver(t, user, msg)
		delivered++
		bytes += len(msg)
	}
	for i := range 30 {
		user := srv.User
		if i%3 == 0 {
			user = "other"
		}
		m := gen.Next()
		deliver(user, m.Report)
		if i%10 == 5 {
			deliver("other", m.Report) // the same report again: merged
		}
	}
	deliver(srv.User, []byte("From: a@example.org\r\nSubject: unparsable\r\nX-Long: "+strings.Repeat("b", 300<<10)+"\r\n\r\nbody\r\n"))

	d := startDaemon(t, bin, cfg)
	d.note("READY=1", 20*time.Second)
	addr := d.httpAddr()
	empty := func() bool { return srv.Count(t, srv.User) == 0 && srv.Count(t, "other") == 0 }
	waitUntil(t, "both mailboxes to be archived", 30*time.Second, empty)
	var mfs map[string]*dto.MetricFamily
	waitUntil(t, "the index to catch up", 10*time.Second, func() bool {
		mfs = scrape(t, addr)
		return metricValue(mfs, "jarchive_index_lag_messages") == 0
	})
	s := statsOf(t, cfg)
	for _, c := range []struct {
		name   string
		labels []string
		want   uint64
	}{
		{"jarchive_fetch_messages_total", nil, uint64(delivered)},
		{"jarchive_fetch_messages_total", nil, s.Copies},
		{"jarchive_fetch_bytes_total", nil, uint64(bytes)},
		{"jarchive_ingest_archived_total", nil, s.Blobs},
		{"jarchive_ingest_duplicates_merged_total", nil, s.Merged},
		{"jarchive_ingest_parse_failures_total", nil, s.ParseFailures},
		{"jarchive_ingest_parse_failures_total", nil, 1},
		{"jarchive_ingest_commit_seconds", nil, s.Copies},
		{"jarchive_archive_messages", nil, s.Messages},
		{"jarchive_archive_blobs", nil, s.Blobs},
		{"jarchive_archive_raw_bytes", nil, s.RawBytes},
		{"jarchive_index_lag_seconds", nil, 0},
		{"jarchive_fetch_errors_total", nil, 0},
		{"jarchive_storage_paused", nil, 0},
		{"jarchive_config_last_reload_successful", nil, 1},
	} {
		if got := metricValue(mfs, c.name, c.labels...); got != float64(c.want) {
			t.Errorf("%s%v = %v; want %d", c.name, c.labels, got, c.want)
		}
	}
	if s.Merged == 0 {
		t.Errorf("no duplicates merged: the test's mail does not exercise the counter")
	}
	for _, acct := range []string{"a", "b"} {
		if metricValue(mfs, "jarchive_fetch_last_success_timestamp_seconds", "account", acct) < float64(d.started.Unix()) {
			t.Errorf("account %s: no last success time", acct)
		}
		if metricValue(mfs, "jarchive_fetch_messages_total", "account", acct) <= 0 {
			t.Errorf("account %s: no messages counted", acct)
		}
	}
	t.Logf("stats %+v", s)

	// A broken file: the old configuration runs on. (CLI commands need a
	// valid file too: "accounts" is asked first.)
	before := accountsOf(t, cfg)
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(good, "\n[[accounts]\nname = \"broken\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	reloading := d.note("RELOADING=1", 10*time.Second)
	if !strings.Contains(reloading, "\nMONOTONIC_USEC=") {
		t.Errorf("RELOADING datagram %q lacks MONOTONIC_USEC", reloading)
	}
	if n := d.note("READY=1", 10*time.Second); !strings.Contains(n, "failed") {
		t.Errorf("READY after a failed reload: %q; want a STATUS saying it failed", n)
	}
	rec := d.waitLog("reload failed: the previous configuration runs on", 0, 5*time.Second)
	if e, _ := rec["err"].(string); !strings.Contains(e, "jarchive.toml:") {
		t.Errorf("reload error %q does not name the file and line", e)
	}
	deliver(srv.User, gen.Next().Report)
	waitUntil(t, "account a to fetch after the failed reload", 20*time.Second, empty)
	if v := metricValue(scrape(t, addr), "jarchive_config_last_reload_successful"); v != 0 {
		t.Errorf("jarchive_config_last_reload_successful = %v after a failed reload; want 0", v)
	}

	// Account b changes (keep_mails): b restarts, a goes on. A new user
	// comes into force too.
	b.extra = "keep_mails = true\n"
	serviceConfig(t, cfg, filepath.Join(dir, "archive"), a, b)
	if out, _ := runCmd(t, "users", "list", "-config", cfg); strings.Contains(out, "reloaded-user") {
		t.Fatalf("users list before the reload shows the new user: %s", out)
	}
	conf, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf = append(conf, "\n[[users]]\nname = \"reloaded-user\"\naddresses = [\"reloaded@example.com\"]\n"...)
	if err := os.WriteFile(cfg, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	d.note("RELOADING=1", 10*time.Second)
	if n := d.note("READY=1", 10*time.Second); !strings.Contains(n, "reloaded") {
		t.Errorf("READY after a reload: %q; want a STATUS saying reloaded", n)
	}
	rec = d.waitLog("configuration reloaded", 0, 5*time.Second)
	// The daemon answers "users list": its directory has the new user.
	if out, code := runCmd(t, "users", "list", "-config", cfg); code != 0 || !strings.Contains(out, "reloaded-user") {
		t.Errorf("users list after the reload: exit %d: %s; want the new user", code, out)
	}
	if fmt.Sprint(rec["restarted"]) != "[b]" || fmt.Sprint(rec["started"]) != "<nil>" || fmt.Sprint(rec["stopped"]) != "<nil>" || rec["unchanged"] != 1.0 {
		t.Errorf("reload record %v; want b restarted, a unchanged", rec)
	}
	deliver("other", gen.Next().Report)
	waitUntil(t, "account b to archive with keep_mails", 20*time.Second, func() bool {
		return metricValue(scrape(t, addr), "jarchive_fetch_messages_total", "account", "b") >= 1
	})
	time.Sleep(200 * time.Millisecond)
	if n := srv.Count(t, "other"); n != 1 {
		t.Errorf("b's mailbox holds %d messages; want 1 (keep_mails after the reload)", n)
	}
	// The status counters of "jarchive accounts" start afresh when an
	// account (re)starts.
	after := accountsOf(t, cfg)
	if after["a"] < before["a"] || before["a"] == 0 {
		t.Errorf("account a restarted by the reload: %d messages archived before, %d after", before["a"], after["a"])
	}
	if after["b"] != 1 {
		t.Errorf("account b: %d messages archived since the reload (%d before); want 1: b was not restarted", after["b"], before["b"])
	}
	if v := metricValue(scrape(t, addr), "jarchive_config_reloads_total", "result", "success"); v != 1 {
		t.Errorf("jarchive_config_reloads_total{result=success} = %v; want 1", v)
	}

	took := d.stop(60 * time.Second)
	t.Logf("SIGTERM to exit: %v", took)
	for _, secret := range []string{srv.Password, "other-secret-pw"} {
		if strings.Contains(d.log(), secret) {
			t.Errorf("the log shows a password")
		}
	}
}

// accountsOf returns the messages archived by each account as "jarchive
// accounts" shows them: since the account's poller started.
func accountsOf(t *testing.T, cfg string) map[string]int64 {
	t.Helper()
	out, code := runCmd(t, "accounts", "-json", "-config", cfg)
	if code != 0 {
		t.Fatalf("accounts: exit %d: %s", code, out)
	}
	var got accountsOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, s := range got.Accounts {
		m[s.Account] = s.Messages
	}
	return m
}

// testShutdown: SIGTERM in the middle of a large pass ends the process
// within the bound with exit 0; after a restart nothing is lost and
// nothing is archived twice.
func testShutdown(t *testing.T, bin string) {
	n := envInt("JARCHIVE_SHUTDOWN_MESSAGES", 600)
	srv := dovecottest.Start(t, dovecottest.Options{})
	gen := mailgen.New(mailgen.Options{Seed: 5})
	originals := map[string]bool{}
	for range n {
		m := gen.Next()
		originals[sha(m.Original)] = true
		srv.Deliver(t, srv.User, m.Report)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jarchive.toml")
	serviceConfig(t, cfg, filepath.Join(dir, "archive"), svcAccount{name: "journal", user: srv.User, password: srv.Password, port: srv.IMAPSPort, ca: srv.CAFile})

	d := startDaemon(t, bin, cfg)
	d.note("READY=1", 20*time.Second)
	waitUntil(t, "a tenth of the mailbox to be archived", 30*time.Second, func() bool { return srv.Count(t, srv.User) <= n*9/10 })
	const bound = 50 * time.Second // Grace (30s) + index (20s)
	took := d.stop(bound)
	left := srv.Count(t, srv.User)
	t.Logf("SIGTERM during the pass: exit 0 after %v; %d of %d messages left on the server", took, left, n)
	if left == 0 {
		t.Logf("the pass ended before SIGTERM: the test did not stop it in the middle")
	}
	if took > 15*time.Second {
		t.Errorf("shutdown took %v; want the messages in flight finished in seconds", took)
	}

	d = startDaemon(t, bin, cfg)
	d.note("READY=1", 20*time.Second)
	waitUntil(t, "the rest of the mailbox to be archived", 60*time.Second, func() bool { return srv.Count(t, srv.User) == 0 })
	addr := d.httpAddr()
	waitUntil(t, "the index to catch up", 20*time.Second, func() bool {
		return metricValue(scrape(t, addr), "jarchive_index_lag_messages") == 0
	})
	d.stop(bound)

	s := statsOf(t, cfg)
	if s.Blobs != uint64(len(originals)) {
		t.Errorf("archive holds %d blobs; want %d distinct originals", s.Blobs, len(originals))
	}
	// A clean stop deletes on the server what it archived: no message is
	// fetched twice.
	if s.Copies != uint64(n) {
		t.Errorf("archive received %d copies; want %d (one per delivered report)", s.Copies, n)
	}
	if s.IndexDocuments != s.Messages {
		t.Errorf("index holds %d documents; want %d", s.IndexDocuments, s.Messages)
	}
	if out, code := runCmd(t, "verify", "-config", cfg); code != 0 {
		t.Errorf("verify: exit %d:\n%s", code, tail(out, 2000))
	}
}
