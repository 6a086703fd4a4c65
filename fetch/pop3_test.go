package fetch

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// TestPOP3Poll fetches over POP3 with each security, checks the exact
// bytes, the deletion at QUIT and an empty second pass.
func TestPOP3Poll(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 24)
	for i, sec := range []config.Security{config.SecuritySTARTTLS, config.SecurityTLS, config.SecurityNone} {
		t.Run(sec.String(), func(t *testing.T) {
			batch := msgs[i*8 : i*8+8]
			for _, m := range batch {
				srv.Deliver(t, srv.User, m)
			}
			var logs syncBuf
			sink := &testSink{}
			f := New(Options{Sink: sink, Logger: testLogger(t, &logs), TempDir: t.TempDir()})
			acct := srv.POP3Account("pop", sec)
			checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 8, Archived: 8, Deleted: 8})
			if got, want := sink.sums("pop"), sortedSums(batch); !slices.Equal(got, want) {
				t.Fatalf("archived bodies differ from the delivered ones")
			}
			for _, r := range sink.records() {
				if r.UIDL == "" || r.Mailbox != "" || r.UID != 0 || r.Fetched.IsZero() {
					t.Fatalf("record %+v: want a UIDL, no mailbox or UID", r.Message)
				}
			}
			if got := srv.Count(t, srv.User); got != 0 {
				t.Fatalf("maildrop holds %d messages after the pass; want 0", got)
			}
			checkResult(t, poll(t, f, acct), Result{Account: "pop"})
			if left, _ := dirEntries(f.tempDir); len(left) != 0 {
				t.Fatalf("spool files left behind: %v", left)
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"connecting without TLS")
			if warned != (sec == config.SecurityNone) {
				t.Fatalf("security %s: WARN about clear text = %v", sec, warned)
			}
		})
	}
}

// TestPOP3UserPass logs in with USER and PASS, as with a server that
// offers no SASL PLAIN (Dovecot always offers it: the test hides it).
func TestPOP3UserPass(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	srv.Deliver(t, srv.User, corpusMessages(t, 1)[0])
	acct := srv.POP3Account("pop", config.SecurityTLS)
	for _, tc := range []struct {
		password string
		want     string
	}{
		{srv.Password, ""},
		{"wrong-secret", "PASS: server said: -ERR [AUTH]"},
	} {
		d, err := New(Options{Sink: &testSink{}}).dial(context.Background(), acct, testLogger(t, nil), "pop3")
		if err != nil {
			t.Fatal(err)
		}
		c := newPOP3Conn(d)
		defer c.Close()
		if _, _, err := c.status("", false); err != nil {
			t.Fatal(err)
		}
		if err := c.capa(); err != nil {
			t.Fatal(err)
		}
		if !c.hasSASL("PLAIN") || c.caps["USER"] != "" {
			t.Logf("CAPA %v", c.caps)
		}
		delete(c.caps, "SASL")
		err = c.login(srv.User, tc.password)
		if tc.want == "" {
			if err != nil {
				t.Fatalf("USER/PASS: %v", err)
			}
			if n, err := c.stat(); err != nil || n != 1 {
				t.Fatalf("STAT after USER/PASS = %d, %v; want 1", n, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.password) {
			t.Fatalf("USER/PASS with a wrong password = %v; want %q, without the password", err, tc.want)
		}
	}
}

// uidlSink is a testSink that also remembers UIDLs, as the archive does.
type uidlSink struct {
	testSink
	calls int
}

func (s *uidlSink) SeenUIDL(account, uidl string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for _, r := range s.recs {
		if r.Account == account && r.UIDL == uidl {
			return true, nil
		}
	}
	return false, nil
}

func TestPOP3KeepMails(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 6)
	for _, m := range msgs[:4] {
		srv.Deliver(t, srv.User, m)
	}
	acct := srv.POP3Account("pop", config.SecuritySTARTTLS)
	acct.KeepMails = true

	sink := &uidlSink{}
	f := New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, nil)})
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 4, Archived: 4})
	if got := srv.Count(t, srv.User); got != 4 {
		t.Fatalf("keep_mails: maildrop holds %d messages; want 4", got)
	}
	// This process remembers what it archived.
	checkResult(t, poll(t, f, acct), Result{Account: "pop"})

	// After a restart the archive (UIDLs) knows.
	f = New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, nil)})
	checkResult(t, poll(t, f, acct), Result{Account: "pop"})
	if sink.calls < 4 {
		t.Fatalf("SeenUIDL called %d times; want at least 4", sink.calls)
	}
	for _, m := range msgs[4:] {
		srv.Deliver(t, srv.User, m)
	}
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 2, Archived: 2})
	if got, want := sink.sums("pop"), sortedSums(msgs); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}

	// Without UIDLs in the archive a new process fetches everything once
	// (the archive deduplicates), then only what is new.
	plain := &testSink{}
	f = New(Options{Sink: plain, Checkpoints: plain, Logger: testLogger(t, nil)})
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 6, Archived: 6})
	checkResult(t, poll(t, f, acct), Result{Account: "pop"})
	if got := srv.Count(t, srv.User); got != 6 {
		t.Fatalf("keep_mails: maildrop holds %d messages; want 6", got)
	}
}

// TestPOP3Corpus fetches every message of the shared corpus that a
// maildrop can hold (mbox members included) over POP3 and compares the
// bytes.
func TestPOP3Corpus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := wholeCorpus(t)
	var total int64
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
		total += int64(len(m))
	}
	sums := &sumSink{}
	f := New(Options{Sink: sums, TempDir: t.TempDir()})
	acct := srv.POP3Account("pop", config.SecurityTLS)
	start := time.Now()
	res := poll(t, f, acct)
	d := time.Since(start)
	n := len(msgs)
	checkResult(t, res, Result{Account: "pop", Seen: n, Archived: n, Deleted: n})
	if res.Bytes != total {
		t.Errorf("Bytes = %d; want %d", res.Bytes, total)
	}
	if got, want := sums.sorted(), sortedSums(msgs); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
	t.Logf("POP3: %d messages, %d bytes in %v (%.0f messages/s)", n, total, d.Round(time.Millisecond), float64(n)/d.Seconds())
	if got := srv.Count(t, srv.User); got != 0 {
		t.Fatalf("maildrop holds %d messages; want 0", got)
	}
}

// sumSink keeps only the hashes of the bodies.
type sumSink struct {
	mu   sync.Mutex
	sums []string
}

func (s *sumSink) Archive(ctx context.Context, m *Message) error {
	b := make([]byte, m.Size)
	if _, err := m.Body.ReadAt(b, 0); err != nil {
		return err
	}
	s.mu.Lock()
	s.sums = append(s.sums, sum(b))
	s.mu.Unlock()
	return nil
}

func (s *sumSink) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := slices.Clone(s.sums)
	slices.Sort(l)
	return l
}

// wholeCorpus returns every message of the corpus (files and mbox
// members, read with Import) as a maildrop serves it: CRLF line ends and a
// final line end. Messages with a bare CR (served differently) are left
// out.
func wholeCorpus(t testing.TB) [][]byte {
	t.Helper()
	var mu sync.Mutex
	var msgs [][]byte
	skipped := 0
	collect := sinkFunc(func(ctx context.Context, m *Message) error {
		b := make([]byte, m.Size)
		if _, err := m.Body.ReadAt(b, 0); err != nil {
			return err
		}
		if len(b) == 0 || bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\r")) {
			mu.Lock()
			skipped++
			mu.Unlock()
			return nil
		}
		b = pop3Served(crlf(b))
		mu.Lock()
		msgs = append(msgs, b)
		mu.Unlock()
		return nil
	})
	f := New(Options{Sink: collect, TempDir: t.TempDir()})
	dir := corpusDir(t)
	if _, err := f.Import(context.Background(), []string{filepath.Join(dir, "real"), filepath.Join(dir, "journal")}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("corpus: %d messages, %d left out (empty, or with a bare CR)", len(msgs), skipped)
	return msgs
}

// pop3Served is msg (with CRLF line ends) as a POP3 server sends it: RFC
// 1939 ends the last line with CRLF before the terminating ".".
func pop3Served(msg []byte) []byte {
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		return append(slices.Clip(msg), '\r', '\n')
	}
	return msg
}

type sinkFunc func(ctx context.Context, m *Message) error

func (fn sinkFunc) Archive(ctx context.Context, m *Message) error { return fn(ctx, m) }

func TestPOP3MaxMessageSize(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	small := corpusMessages(t, 2)
	big := crlf([]byte("From: a@example.com\nSubject: big\n\n" + strings.Repeat(strings.Repeat("x", 76)+"\n", 2000)))
	srv.Deliver(t, srv.User, small[0])
	srv.Deliver(t, srv.User, big)
	srv.Deliver(t, srv.User, small[1])

	var logs syncBuf
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, &logs)})
	acct := srv.POP3Account("pop", config.SecurityTLS)
	acct.MaxMessageSize = config.ByteSize(len(big) - 1)
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 3, Archived: 2, Deleted: 2, TooLarge: 1})
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 1, TooLarge: 1})
	if n := strings.Count(logs.String(), "level=WARN msg=\"message larger than max_message_size"); n != 1 {
		t.Fatalf("%d WARN lines about the big message after two passes; want 1", n)
	}
	acct.MaxMessageSize = config.ByteSize(len(big))
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 1, Archived: 1, Deleted: 1})
	if got, want := sink.sums("pop"), sortedSums([][]byte{small[0], small[1], big}); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
}

// TestPOP3SinkError: a sink error ends the pass; what was archived before
// is deleted (DELE, QUIT), the rest stays.
func TestPOP3SinkError(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 3)
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
	}
	sinkErr := errors.New("disk full")
	sink := &testSink{}
	calls := 0
	sink.fail = func(m *Message) error {
		calls++
		if calls == 2 {
			return sinkErr
		}
		return nil
	}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir(), Window: 1})
	acct := srv.POP3Account("pop", config.SecuritySTARTTLS)
	res, err := f.Poll(context.Background(), acct)
	if !errors.Is(err, sinkErr) || errors.Is(err, ErrPermanent) || err.Error() != "fetch pop: msg 2: disk full" {
		t.Fatalf("Poll = %v; want the sink's error, not permanent", err)
	}
	checkResult(t, res, Result{Account: "pop", Seen: 2, Archived: 1, Deleted: 1, Failed: 1})
	if got := srv.Count(t, srv.User); got != 2 {
		t.Fatalf("maildrop holds %d messages; want 2", got)
	}
	checkResult(t, poll(t, f, acct), Result{Account: "pop", Seen: 2, Archived: 2, Deleted: 2})
	if got, want := sink.sums("pop"), sortedSums(msgs); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
	if left, _ := dirEntries(f.tempDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %v", left)
	}
}

func TestPOP3PermanentErrors(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	f := New(Options{Sink: &testSink{}, Logger: testLogger(t, nil)})
	for _, tc := range []struct {
		name   string
		modify func(a *config.Account)
		want   string
	}{
		{"wrong password", func(a *config.Account) { a.Password = config.NewSecret("wrong-secret") }, "AUTH PLAIN: server said: -ERR [AUTH]"},
		{"unknown user", func(a *config.Account) { a.Username = "nobody-here" }, "-ERR [AUTH]"},
		{"system roots", func(a *config.Account) { a.TLSCAFile = "" }, "certificate"},
		// POP3Account gives the plain-text port for starttls.
		{"tls on the plain port", func(a *config.Account) { a.Security = config.SecurityTLS }, "tls handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := srv.POP3Account("pop", config.SecuritySTARTTLS)
			tc.modify(acct)
			_, err := f.Poll(context.Background(), acct)
			if !errors.Is(err, ErrPermanent) || !strings.HasPrefix(err.Error(), "fetch pop: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Poll = %v; want a permanent error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), srv.Password) {
				t.Fatalf("error shows the password: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestPOP3BoundedMemory fetches a big message without holding it.
func TestPOP3BoundedMemory(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msg := bigMessage(bigSize)
	srv.Deliver(t, srv.User, msg)
	sink := &hashSink{}
	f := New(Options{Sink: sink, TempDir: t.TempDir()})
	var (
		res Result
		err error
	)
	alloc := allocated(func() {
		res, err = f.Poll(context.Background(), srv.POP3Account("pop", config.SecurityTLS))
	})
	if err != nil || res.Archived != 1 || res.Bytes != int64(len(msg)) {
		t.Fatalf("Poll = %+v, %v; want 1 archived of %d bytes", res, err, len(msg))
	}
	t.Logf("fetched %d bytes over POP3, allocated %d bytes", len(msg), alloc)
	if alloc > allocCap {
		t.Fatalf("Poll allocated %d bytes for a %d-byte message; want under %d", alloc, len(msg), allocCap)
	}
}
