package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"jarchive/testcorpus"
)

// corpusDir is the shared test mail (package testcorpus).
func corpusDir(t testing.TB) string {
	t.Helper()
	return testcorpus.Dir(t)
}

// crlf normalises line ends to CRLF, as Dovecot serves a Maildir file.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// corpusMessages returns n messages from the corpus (journal reports first,
// then real/ in sorted order), normalised to CRLF, skipping files with a bare
// CR (served differently) and mbox files.
func corpusMessages(t testing.TB, n int) [][]byte {
	t.Helper()
	dir := corpusDir(t)
	var files []string
	journal, _ := filepath.Glob(filepath.Join(dir, "journal", "*.eml"))
	files = append(files, journal...)
	filepath.WalkDir(filepath.Join(dir, "real"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".eml" {
			files = append(files, p)
		}
		return nil
	})
	var msgs [][]byte
	for _, f := range files {
		if len(msgs) == n {
			break
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte("From ")) || len(b) > 200<<10 ||
			bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\r")) {
			continue
		}
		msgs = append(msgs, crlf(b))
	}
	if len(msgs) < n {
		t.Fatalf("corpus has only %d usable messages; want %d", len(msgs), n)
	}
	return msgs
}

type record struct {
	Message
	Sum string
}

// testSink records every archived message with the sha256 of its body. It
// is also a Checkpoints, as the real archive is.
type testSink struct {
	mu   sync.Mutex
	recs []record
	fail func(m *Message) error // called first; a non-nil error is returned
	// checkpoints: account/mailbox -> uidvalidity, last uid
	cps map[[2]string][2]uint32
}

func (s *testSink) Archive(ctx context.Context, m *Message) error {
	if s.fail != nil {
		if err := s.fail(m); err != nil {
			return err
		}
	}
	b, err := io.ReadAll(io.NewSectionReader(m.Body, 0, m.Size))
	if err != nil {
		return err
	}
	if n, _ := m.Body.ReadAt(make([]byte, 1), m.Size); n != 0 {
		return errors.New("the body holds more than Size bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := record{Message: *m, Sum: sum(b)}
	r.Body = nil
	s.recs = append(s.recs, r)
	if m.Checkpoint != 0 {
		s.raise(m.Account, m.Mailbox, m.UIDValidity, m.Checkpoint)
	}
	return nil
}

// raise does what the archive's checkpoint update does; s.mu is held.
func (s *testSink) raise(account, mailbox string, validity, uid uint32) {
	if s.cps == nil {
		s.cps = map[[2]string][2]uint32{}
	}
	k := [2]string{account, mailbox}
	if cp := s.cps[k]; cp[0] != validity || cp[1] < uid {
		s.cps[k] = [2]uint32{validity, uid}
	}
}

func (s *testSink) SetCheckpoint(account, mailbox string, validity, uid uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raise(account, mailbox, validity, uid)
	return nil
}

func (s *testSink) Checkpoint(account, mailbox string) (uint32, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.cps[[2]string{account, mailbox}]
	return cp[0], cp[1], nil
}

func (s *testSink) records() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.recs...)
}

// sums returns the sorted body hashes of the records of account.
func (s *testSink) sums(account string) []string {
	var l []string
	for _, r := range s.records() {
		if r.Account == account {
			l = append(l, r.Sum)
		}
	}
	sort.Strings(l)
	return l
}

func sortedSums(msgs [][]byte) []string {
	var l []string
	for _, m := range msgs {
		l = append(l, sum(m))
	}
	sort.Strings(l)
	return l
}

// testLogger logs to t, and to buf if not nil.
func testLogger(t testing.TB, buf *syncBuf) *slog.Logger {
	var w io.Writer = tWriter{t}
	if buf != nil {
		w = io.MultiWriter(w, buf)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
