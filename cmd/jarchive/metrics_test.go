package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/fetch"
)

// testService opens a store in a temp dir and a service around it, with
// the [http] table given (without listen: no listener is started).
func testService(t *testing.T, httpTable string) *service {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "jarchive.toml"), []byte("[archive]\ndir = \"archive\"\n"+httpTable))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := &app{stdout: io.Discard, stderr: &logs, logger: newLogger(&logs)}
	st, err := openStore(cfg, a.logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := startService(ctx, a, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		s.close()
		st.Close()
	})
	return s
}

func get(t *testing.T, h http.Handler, path, remote, auth string) (int, string, http.Header) {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = remote
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String(), w.Result().Header
}

func TestMetricsAccess(t *testing.T) {
	const token = "0123456789abcdef-token"
	for _, tc := range []struct {
		name, table, path, remote, auth string
		want                            int
	}{
		{"loopback without token", "", "/metrics", "127.0.0.1:5000", "", 200},
		{"IPv6 loopback without token", "", "/metrics", "[::1]:5000", "", 200},
		{"remote without token", "", "/metrics", "192.0.2.7:5000", "", 403},
		{"remote health", "", "/healthz", "192.0.2.7:5000", "", 200},
		{"remote readiness", "", "/readyz", "192.0.2.7:5000", "", 200},
		{"token, none sent", "[http]\nlisten = ':0'\nmetrics_token = '" + token + "'\n", "/metrics", "127.0.0.1:5000", "", 401},
		{"token, wrong one", "[http]\nlisten = ':0'\nmetrics_token = '" + token + "'\n", "/metrics", "192.0.2.7:5000", "Bearer 0123456789abcdef-tokem", 401},
		{"token, basic auth", "[http]\nlisten = ':0'\nmetrics_token = '" + token + "'\n", "/metrics", "192.0.2.7:5000", "Basic " + token, 401},
		{"token, right one", "[http]\nlisten = ':0'\nmetrics_token = '" + token + "'\n", "/metrics", "192.0.2.7:5000", "Bearer " + token, 200},
		{"token, health", "[http]\nlisten = ':0'\nmetrics_token = '" + token + "'\n", "/healthz", "192.0.2.7:5000", "", 200},
		{"unknown path", "", "/debug/pprof/", "127.0.0.1:5000", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testService(t, tc.table)
			code, body, hdr := get(t, s.http.handler(), tc.path, tc.remote, tc.auth)
			if code != tc.want {
				t.Fatalf("GET %s from %s: %d %q; want %d", tc.path, tc.remote, code, body, tc.want)
			}
			if code == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if strings.Contains(body, token) {
				t.Errorf("the answer shows the token")
			}
			if code == 200 && tc.path == "/metrics" {
				p := expfmt.NewTextParser(model.UTF8Validation)
				if _, err := p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
					t.Errorf("parse /metrics: %v", err)
				}
			}
		})
	}
}

// TestReadiness: /readyz fails while storing is paused and once a
// shutdown began; /healthz fails when the archive does not answer.
func TestReadiness(t *testing.T) {
	s := testService(t, "")
	h := s.http.handler()
	in := newIngest(s.st, nil, s.logger)
	s.metrics.gate.Store(in.gate)
	if code, body, _ := get(t, h, "/readyz", "127.0.0.1:1", ""); code != 200 || !strings.Contains(body, "storage:  ok") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	in.gate.every = time.Hour // no probe in this test
	// The error opens the gate; the cancelled context returns at once.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	in.gate.wait(cancelled, fmt.Errorf("disk full: %w", archive.ErrStorage))
	code, body, _ := get(t, h, "/readyz", "127.0.0.1:1", "")
	if code != 503 || !strings.Contains(body, "storage:  paused") {
		t.Errorf("/readyz while storing is paused: %d %q; want 503, storage paused", code, body)
	}
	if !strings.Contains(scrapeHandler(t, h), "jarchive_storage_paused 1") {
		t.Errorf("jarchive_storage_paused is not 1")
	}
	in.gate.mu.Lock()
	in.gate.broken = nil
	in.gate.mu.Unlock()
	s.stopping.Store(true)
	if code, body, _ := get(t, h, "/readyz", "127.0.0.1:1", ""); code != 503 || !strings.Contains(body, "shutdown: under way") {
		t.Errorf("/readyz during shutdown: %d %q; want 503", code, body)
	}
	s.st.arc.Close()
	if code, body, _ := get(t, h, "/healthz", "127.0.0.1:1", ""); code != 503 || !strings.HasPrefix(body, "unhealthy: archive database") {
		t.Errorf("/healthz with the archive closed: %d %q; want 503", code, body)
	}
}

func scrapeHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	code, body, _ := get(t, h, "/metrics", "127.0.0.1:1", "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return body
}

// TestMetricsCounters feeds results to the metrics as ingest and serve do.
func TestMetricsCounters(t *testing.T) {
	s := testService(t, "")
	m := s.metrics
	m.addAccount("j")
	m.stored("j", 100, true, false, 3*time.Millisecond)
	m.stored("j", 50, false, true, 40*time.Millisecond)
	m.passDone(fetch.Result{Account: "j", TooLarge: 2}, nil)
	m.passDone(fetch.Result{Account: "j", TooLarge: 1}, fmt.Errorf("fetch j: %w", syscall.ECONNRESET))
	m.setDirectorySync(time.Now().Add(-time.Minute))
	body := scrapeHandler(t, s.http.handler())
	for _, want := range []string{
		`jarchive_fetch_messages_total{account="j"} 2`,
		`jarchive_fetch_bytes_total{account="j"} 150`,
		`jarchive_ingest_archived_total 1`,
		`jarchive_ingest_duplicates_merged_total 1`,
		`jarchive_ingest_parse_failures_total 1`,
		`jarchive_ingest_commit_seconds_bucket{le="0.004"} 1`,
		`jarchive_ingest_commit_seconds_count 2`,
		`jarchive_fetch_passes_total{account="j"} 2`,
		`jarchive_fetch_oversize_messages{account="j"} 2`, // a failed pass only raises it
		`jarchive_fetch_errors_total{account="j",kind="network"} 1`,
		`jarchive_fetch_errors_total{account="j",kind="permanent"} 0`,
		`jarchive_directory_sync_age_seconds 60`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	m.removeAccount("j")
	if body := scrapeHandler(t, s.http.handler()); strings.Contains(body, `account="j"`) {
		t.Errorf("series of a removed account remain")
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("ingest: %w", archive.ErrStorage), "storage"},
		{fmt.Errorf("tls handshake: %w", x509.UnknownAuthorityError{}), "tls"},
		{fmt.Errorf("tls: %w", &tls.CertificateVerificationError{Err: errors.New("x")}), "tls"},
		{fmt.Errorf("login: %w: [AUTHENTICATIONFAILED]", fetch.ErrPermanent), "permanent"},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), "timeout"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "network"},
		{fmt.Errorf("fetch: %w", io.ErrUnexpectedEOF), "network"},
		{errors.New("fetch x: panic: boom"), "other"},
	} {
		if got := errorKind(tc.err); got != tc.want || !slices.Contains(errorKinds, got) {
			t.Errorf("errorKind(%v) = %s; want %s", tc.err, got, tc.want)
		}
	}
}

func TestLagClock(t *testing.T) {
	var c lagClock
	t0 := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	started := t0.Add(-time.Hour)
	if got := c.seconds(t0, true, started); got != 3600 {
		t.Errorf("lag before anything was archived: %v; want since the start (3600)", got)
	}
	c.archived(t0)
	c.archived(t0.Add(50 * time.Millisecond)) // within the resolution: not kept
	c.archived(t0.Add(2 * time.Second))
	if got := c.seconds(t0.Add(5*time.Second), true, started); got != 5 {
		t.Errorf("lag %v; want 5", got)
	}
	c.indexed(t0.Add(time.Second)) // the first commit is searchable
	if got := c.seconds(t0.Add(5*time.Second), true, started); got != 3 {
		t.Errorf("lag after a catch-up %v; want 3", got)
	}
	if got := c.seconds(t0.Add(5*time.Second), false, started); got != 0 {
		t.Errorf("lag without lagging messages %v; want 0", got)
	}
	c.indexed(t0.Add(3 * time.Second))
	if got := c.seconds(t0.Add(5*time.Second), true, started); got != 2 {
		t.Errorf("lag of commits the clock did not see: %v; want since the last catch-up began (2)", got)
	}
}

// TestPollers: apply starts, restarts and stops accounts and keeps the
// others; a removed account leaves the fetcher's Status once stopped.
func TestPollers(t *testing.T) {
	in := &ingest{}
	f := fetch.New(fetch.Options{Sink: in, Logger: slog.New(slog.DiscardHandler)})
	p := newPollers(f, slog.New(slog.DiscardHandler), nil)
	acct := func(name, server string) config.Account {
		return config.Account{Name: name, Server: server, Username: "u", Password: config.NewSecret("p"), Interval: config.Duration(time.Hour)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		p.wait()
	}()
	// Nothing listens on port 1: each account fails its first pass and
	// waits to retry.
	ch := p.apply(ctx, []config.Account{acct("a", "127.0.0.1:1"), acct("b", "127.0.0.1:1")})
	if fmt.Sprint(ch) != "{[a b] [] [] []}" {
		t.Errorf("first apply: %v; want a and b started", ch)
	}
	ch = p.apply(ctx, []config.Account{acct("b", "127.0.0.1:2"), acct("a", "127.0.0.1:1"), acct("c", "127.0.0.1:1")})
	if fmt.Sprint(ch) != "{[c] [b] [] [a]}" {
		t.Errorf("second apply: %v; want c started, b restarted, a unchanged", ch)
	}
	ch = p.apply(ctx, []config.Account{acct("a", "127.0.0.1:1")})
	slices.Sort(ch.stopped)
	if fmt.Sprint(ch) != "{[] [] [b c] [a]}" {
		t.Errorf("third apply: %v; want b and c stopped", ch)
	}
	waitUntil(t, "b and c to leave Status", 10*time.Second, func() bool {
		st := f.Status()
		return len(st) == 1 && st[0].Account == "a"
	})
	// A removed account comes back.
	ch = p.apply(ctx, []config.Account{acct("a", "127.0.0.1:1"), acct("b", "127.0.0.1:1")})
	if fmt.Sprint(ch) != "{[b] [] [] [a]}" {
		t.Errorf("fourth apply: %v; want b started", ch)
	}
}

func TestGlobalFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		rest    string
		json    bool
		debug   bool
		wantErr string
	}{
		{args: []string{"serve", "-config", "x"}, rest: "serve -config x"},
		{args: []string{"-log-format", "json", "serve"}, rest: "serve", json: true},
		{args: []string{"-log-format=text", "--log-level=debug", "stats", "-json"}, rest: "stats -json", debug: true},
		{args: []string{"-log-level", "warn", "-h"}, rest: "-h"},
		{args: []string{"-log-format", "xml", "serve"}, wantErr: `-log-format "xml" is not one of text, json`},
		{args: []string{"-log-level", "loud", "serve"}, wantErr: `-log-level "loud" is not one of debug, info, warn, error`},
		{args: []string{"-log-colour", "serve"}, wantErr: "flag provided but not defined: -log-colour"},
	} {
		var buf bytes.Buffer
		rest, logger, err := globalFlags(tc.args, &buf)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v; want %s", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(rest, " ") != tc.rest {
			t.Errorf("%q: rest %q, %v; want %q", tc.args, rest, err, tc.rest)
			continue
		}
		logger.Debug("dbg", "password", config.NewSecret("hunter2"))
		logger.Warn("w", "password", config.NewSecret("hunter2"))
		out := buf.String()
		if got := strings.HasPrefix(out, "{"); got != tc.json {
			t.Errorf("%q: JSON %v; want %v: %s", tc.args, got, tc.json, out)
		}
		if got := strings.Contains(out, "dbg"); got != tc.debug {
			t.Errorf("%q: debug record %v; want %v", tc.args, got, tc.debug)
		}
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "<redacted>") {
			t.Errorf("%q: secret in the log: %s", tc.args, out)
		}
	}
}

// TestRestartKeys: settings a reload cannot apply are named.
func TestRestartKeys(t *testing.T) {
	parse := func(doc string) *config.Config {
		cfg, err := config.Parse("/etc/jarchive/jarchive.toml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old := parse("[archive]\ndir = '/a'\n[http]\nlisten = ':1'\n")
	if got := restartKeys(old, parse("[archive]\ndir = '/a'\n[http]\nlisten = ':2'\n")); len(got) != 0 {
		t.Errorf("http changed: %v; want nothing (a reload applies it)", got)
	}
	if got := restartKeys(old, parse("[archive]\ndir = '/b'\ntime_zone = 'UTC'\n")); fmt.Sprint(got) != "[archive]" {
		t.Errorf("archive changed: %v; want [archive]", got)
	}
}

// TestReloadHTTP: a reload moves the listener; one whose new address
// cannot be bound fails as a whole and the old listener stays.
func TestReloadHTTP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jarchive.toml")
	write := func(listen string) {
		t.Helper()
		doc := fmt.Sprintf("[archive]\ndir = \"archive\"\n[http]\nlisten = %q\n", listen)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("127.0.0.1:0")
	s, logs := startTestService(t, path)
	healthz := func(addr string) error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	first := s.http.boundAddr().String()
	if err := healthz(first); err != nil {
		t.Fatal(err)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	write(busy.Addr().String())
	s.reload(t.Context())
	if !s.reloadFail || s.http.boundAddr().String() != first || healthz(first) != nil {
		t.Errorf("reload to a busy address: failed %v, listening on %v; want failed, still on %s", s.reloadFail, s.http.boundAddr(), first)
	}
	if !strings.Contains(logs.String(), "reload failed") || !strings.Contains(logs.String(), "address already in use") {
		t.Errorf("the log does not say why the reload failed:\n%s", logs.String())
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	second := free.Addr().String()
	free.Close()
	write(second)
	s.reload(t.Context())
	if s.reloadFail || s.http.boundAddr().String() != second || healthz(second) != nil {
		t.Errorf("reload to %s: failed %v, listening on %v", second, s.reloadFail, s.http.boundAddr())
	}
	if healthz(first) == nil {
		t.Errorf("the old address %s still answers", first)
	}
}

// startTestService loads the configuration file at path and starts what
// serve starts around the fetching (HTTP listener, web interface, reload)
// with no accounts; the log goes to the returned buffer. Everything is
// stopped at the end of the test.
func startTestService(t *testing.T, path string) (*service, *syncBuf) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	a := &app{stdout: io.Discard, stderr: logs, logger: newLogger(logs)}
	st, err := openStore(cfg, a.logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := startService(ctx, a, cfg, st)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		s.close()
	})
	s.in = newIngest(st, nil, a.logger)
	s.pollers = newPollers(fetch.New(fetch.Options{Sink: s.in}), a.logger, nil)
	return s, logs
}
