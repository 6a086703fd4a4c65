package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/fetch"
	"jarchive/fetch/dovecottest"
	"jarchive/mailgen"
	"jarchive/testcorpus"
)

// runCmd runs a jarchive command line in this process, as main does.
func runCmd(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, logger: newLogger(&errOut)}
	code = run(context.Background(), a, args)
	if testing.Verbose() && errOut.Len() > 0 {
		t.Logf("jarchive %s: stderr:\n%s", strings.Join(args, " "), tail(errOut.String(), 2000))
	}
	if code != 0 {
		return out.String() + errOut.String(), code
	}
	return out.String(), code
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// corpusMessage is one message of ../shared/corpus/real as a mail server
// would deliver it: CRLF line ends.
type corpusMessage struct {
	name string
	data []byte
}

type collectSink struct {
	mu   sync.Mutex
	msgs []corpusMessage
}

func (s *collectSink) Archive(ctx context.Context, m *fetch.Message) error {
	b, err := io.ReadAll(io.NewSectionReader(m.Body, 0, m.Size))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, corpusMessage{name: m.Path, data: served(b)})
	s.mu.Unlock()
	return nil
}

// served is a message as an IMAP server hands it out: CRLF line ends, and
// no NUL bytes, which IMAP literals cannot carry (Dovecot sends 0x80).
func served(b []byte) []byte {
	return bytes.ReplaceAll(mailgen.CRLF(b), []byte{0}, []byte{0x80})
}

// loadCorpus reads every message of the real-world corpus, mbox members
// included, with fetch's own importer.
func loadCorpus(t *testing.T) []corpusMessage {
	t.Helper()
	corpusReal := testcorpus.Dir(t, "real")
	sink := &collectSink{}
	f := fetch.New(fetch.Options{Sink: sink, TempDir: t.TempDir()})
	if _, err := f.Import(context.Background(), []string{corpusReal}, fetch.ImportOptions{}); err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	return sink.msgs
}

type testAccount struct {
	name, security, caFile, user, password string
	port                                   int
	keep                                   bool
}

func writeConfig(t *testing.T, dir string, accounts ...testAccount) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[archive]\ndir = %q\n", filepath.Join(dir, "archive"))
	for _, a := range accounts {
		fmt.Fprintf(&b, "\n[[accounts]]\nname = %q\nserver = \"127.0.0.1:%d\"\nusername = %q\npassword_env = \"JARCHIVE_TEST_PASSWORD\"\nsecurity = %q\nkeep_mails = %v\ninterval = \"1s\"\n",
			a.name, a.port, a.user, a.security, a.keep)
		if a.caFile != "" {
			fmt.Fprintf(&b, "tls_ca_file = %q\n", a.caFile)
		}
		t.Setenv("JARCHIVE_TEST_PASSWORD", a.password)
	}
	path := filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func statsOf(t *testing.T, cfg string) statsOutput {
	t.Helper()
	out, code := runCmd(t, "stats", "-json", "-config", cfg)
	if code != 0 {
		t.Fatalf("stats: exit %d: %s", code, out)
	}
	var s statsOutput
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("stats output: %v\n%s", err, out)
	}
	return s
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestEndToEndDovecot delivers every corpus message to a real Dovecot twice,
// as plain mail and wrapped in a journal report, fetches over STARTTLS and
// checks that each is archived once, byte for byte, and deleted on the
// server.
func TestEndToEndDovecot(t *testing.T) {
	corpus := loadCorpus(t)
	srv := dovecottest.Start(t, dovecottest.Options{})
	distinct := map[string]bool{}
	date := time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)
	for i, m := range corpus {
		distinct[sha(m.data)] = true
		srv.Deliver(t, srv.User, m.data)
		env := mailgen.Envelope{
			Sender:     "sender@contoso.com",
			Subject:    "corpus " + m.name,
			MessageID:  fmt.Sprintf("<corpus-%d@contoso.com>", i),
			Recipients: []mailgen.Recipient{{Addr: fmt.Sprintf("bcc%d@contoso.com", i), Field: "bcc"}},
		}
		srv.Deliver(t, srv.User, mailgen.WrapJournal(m.data, env, date))
	}
	delivered := srv.Count(t, srv.User)
	if delivered != 2*len(corpus) {
		t.Fatalf("server holds %d messages; want %d", delivered, 2*len(corpus))
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, testAccount{name: "journal", security: "starttls", caFile: srv.CAFile, user: srv.User, password: srv.Password, port: srv.IMAPPort})

	start := time.Now()
	out, code := runCmd(t, "fetch", "-once", "-config", cfg)
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("fetch -once: exit %d:\n%s", code, out)
	}
	t.Logf("fetch -once: %s", out)
	t.Logf("%d corpus messages (%d distinct), %d delivered; ingest %.0f messages/s", len(corpus), len(distinct), delivered, float64(delivered)/elapsed.Seconds())

	if n := srv.Count(t, srv.User); n != 0 {
		t.Errorf("server still holds %d messages; want 0", n)
	}
	s := statsOf(t, cfg)
	// Every distinct original is one blob; originals that differ only in
	// transport headers show as one message.
	if s.Blobs != uint64(len(distinct)) {
		t.Errorf("archive holds %d blobs; want %d distinct originals", s.Blobs, len(distinct))
	}
	if s.Messages+s.Linked != s.Blobs {
		t.Errorf("%d shown messages + %d linked copies; want %d blobs", s.Messages, s.Linked, s.Blobs)
	}
	if s.Copies != uint64(delivered) {
		t.Errorf("archive received %d copies; want %d", s.Copies, delivered)
	}
	if s.IndexDocuments != s.Messages {
		t.Errorf("index holds %d documents; want %d", s.IndexDocuments, s.Messages)
	}
	t.Logf("stats: %+v", s)

	// Every original reads back exactly.
	for _, m := range corpus {
		id := sha(m.data)
		got, code := runCmd(t, "show", "-raw", "-config", cfg, id)
		if code != 0 {
			t.Errorf("%s: show -raw %s: exit %d: %s", m.name, id[:12], code, tail(got, 300))
			continue
		}
		if sha([]byte(got)) != id {
			t.Errorf("%s: show -raw returned %d bytes hashing to %s; want %s", m.name, len(got), sha([]byte(got))[:12], id[:12])
		}
	}
	// The journal copy's envelope (a Bcc only the report names) is merged
	// into the stored message.
	out, code = runCmd(t, "show", "-json", "-config", cfg, sha(corpus[0].data))
	if code != 0 || !strings.Contains(out, `"bcc0@contoso.com"`) {
		t.Errorf("show -json of %s lacks the envelope Bcc bcc0@contoso.com (exit %d):\n%s", corpus[0].name, code, tail(out, 1000))
	}

	// A second pass finds nothing and changes nothing.
	out, code = runCmd(t, "fetch", "-once", "-config", cfg)
	if code != 0 || !strings.Contains(out, "journal: 0 seen, 0 archived") {
		t.Errorf("second fetch: exit %d:\n%s", code, out)
	}
	if s2 := statsOf(t, cfg); s2.Messages != s.Messages || s2.Copies != s.Copies {
		t.Errorf("after second pass: %d messages, %d copies; want %d, %d", s2.Messages, s2.Copies, s.Messages, s.Copies)
	}
}

// TestKeepMails fetches with keep_mails = true over implicit TLS: the
// mailbox stays untouched and a second pass fetches nothing.
func TestKeepMails(t *testing.T) {
	corpus := loadCorpus(t)
	srv := dovecottest.Start(t, dovecottest.Options{})
	const n = 25
	for _, m := range corpus[:n] {
		srv.Deliver(t, srv.User, m.data)
	}
	cfg := writeConfig(t, t.TempDir(), testAccount{name: "keep", security: "tls", caFile: srv.CAFile, user: srv.User, password: srv.Password, port: srv.IMAPSPort, keep: true})
	out, code := runCmd(t, "fetch", "-once", "-config", cfg)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("keep: %d seen, %d archived", n, n)) {
		t.Fatalf("first fetch: exit %d:\n%s", code, out)
	}
	if got := srv.Count(t, srv.User); got != n {
		t.Errorf("server holds %d messages; want %d (keep_mails)", got, n)
	}
	out, code = runCmd(t, "fetch", "-once", "-config", cfg)
	if code != 0 || !strings.Contains(out, "keep: 0 seen, 0 archived") {
		t.Errorf("second fetch: exit %d; want nothing fetched:\n%s", code, out)
	}
	if s := statsOf(t, cfg); s.Copies != n {
		t.Errorf("archive received %d copies; want %d", s.Copies, n)
	}
}

// TestUnknownCA: a server certificate from a CA the config does not name
// is refused.
func TestUnknownCA(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	srv.Deliver(t, srv.User, []byte("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"))
	for _, sec := range []string{"starttls", "tls"} {
		port := srv.IMAPPort
		if sec == "tls" {
			port = srv.IMAPSPort
		}
		cfg := writeConfig(t, t.TempDir(), testAccount{name: "noca", security: sec, user: srv.User, password: srv.Password, port: port})
		out, code := runCmd(t, "fetch", "-once", "-config", cfg)
		if code == 0 || !strings.Contains(out, "certificate") {
			t.Errorf("%s without tls_ca_file: exit %d; want a certificate error:\n%s", sec, code, out)
		}
	}
	if got := srv.Count(t, srv.User); got != 1 {
		t.Errorf("server holds %d messages; want 1", got)
	}
}

// TestDaemonSocket runs serve and checks that search, show and stats give
// the same output through the daemon's socket as on the archive directly.
func TestDaemonSocket(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	gen := mailgen.New(mailgen.Options{Seed: 7})
	var first *mailgen.Message
	for i := range 20 {
		m := gen.Next()
		if i == 0 {
			first = m
		}
		srv.Deliver(t, srv.User, m.Report)
	}
	cfg := writeConfig(t, t.TempDir(), testAccount{name: "journal", security: "starttls", caFile: srv.CAFile, user: srv.User, password: srv.Password, port: srv.IMAPPort})

	ctx, cancel := context.WithCancel(context.Background())
	var serveOut bytes.Buffer
	var serveErr syncBuf
	done := make(chan int)
	go func() {
		a := &app{stdout: &serveOut, stderr: &serveErr, logger: newLogger(&serveErr)}
		done <- run(ctx, a, []string{"serve", "-config", cfg})
	}()
	query := "subject:" + longestWord(first.Envelope.Subject)
	commands := [][]string{
		{"search", "-json", "-config", cfg, query},
		{"show", "-json", "-config", cfg, sha(first.Original)[:12]},
		{"show", "-raw", "-config", cfg, sha(first.Original)},
	}
	// Wait until the daemon archived and indexed everything.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, code := runCmd(t, "stats", "-json", "-config", cfg)
		if code == 0 && strings.Contains(out, `"index_documents": 20`) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("daemon did not archive 20 messages in time; last stats: %s\nserve log:\n%s", out, tail(serveErr.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var viaDaemon []string
	for _, c := range commands {
		out, code := runCmd(t, c...)
		if code != 0 {
			t.Fatalf("%v through the daemon: exit %d: %s", c, code, out)
		}
		viaDaemon = append(viaDaemon, out)
	}
	if !strings.Contains(serveErr.String(), "control request") {
		t.Errorf("the daemon's log shows no control request: the commands did not go through the socket")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, tail(serveErr.String(), 3000))
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "archive", socketName)); err == nil {
		// A stale socket is harmless (nobody answers), but serve removes it.
		t.Logf("socket left behind after serve")
	}
	for i, c := range commands {
		out, code := runCmd(t, c...)
		if code != 0 {
			t.Fatalf("%v on the archive: exit %d: %s", c, code, out)
		}
		if out != viaDaemon[i] {
			t.Errorf("%v: output differs:\nthrough the daemon:\n%s\ndirectly:\n%s", c, tail(viaDaemon[i], 500), tail(out, 500))
		}
	}
	if !strings.Contains(viaDaemon[0], sha(first.Original)) {
		t.Errorf("search %q did not find %s:\n%s", query, sha(first.Original), viaDaemon[0])
	}
	if sha([]byte(viaDaemon[2])) != sha(first.Original) {
		t.Errorf("show -raw through the daemon is not the original")
	}
}

// syncBuf is a bytes.Buffer safe for a logger writing while a test reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
