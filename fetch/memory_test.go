package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// hashSink hashes bodies through a small buffer, allocating next to nothing.
type hashSink struct {
	mu    sync.Mutex
	sizes []int64
}

func (s *hashSink) Archive(ctx context.Context, m *Message) error {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(m.Body, 0, m.Size)); err != nil {
		return err
	}
	s.mu.Lock()
	s.sizes = append(s.sizes, m.Size)
	s.mu.Unlock()
	return nil
}

// allocated returns the bytes allocated while fn runs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bigMessage is a message of about size bytes with one line of half of it.
func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("Subject: big\r\n\r\n")
	b.WriteString(strings.Repeat("y", size/2))
	b.WriteString("\r\n")
	line := strings.Repeat("x", 998) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

const (
	bigSize  = 24 << 20
	allocCap = 6 << 20 // far below one message
)

// TestImportBoundedMemory imports an mbox of big members without holding
// them in memory.
func TestImportBoundedMemory(t *testing.T) {
	msg := bigMessage(bigSize)
	path := filepath.Join(t.TempDir(), "big.mbox")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		file.WriteString("From a@example.com Mon Jan  1 00:00:00 2024\n")
		file.Write(msg)
		file.WriteString("\n")
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	sink := &hashSink{}
	f := New(Options{Sink: sink, TempDir: t.TempDir()})
	var res Result
	alloc := allocated(func() {
		res, err = f.Import(context.Background(), []string{path}, ImportOptions{})
	})
	if err != nil || res.Archived != 3 {
		t.Fatalf("Import = %+v, %v; want 3 archived", res, err)
	}
	for _, n := range sink.sizes {
		if n != int64(len(msg)) {
			t.Fatalf("member sizes %v; want %d each", sink.sizes, len(msg))
		}
	}
	t.Logf("imported 3 × %d bytes, allocated %d bytes", len(msg), alloc)
	if alloc > allocCap {
		t.Fatalf("Import allocated %d bytes for %d-byte members; want under %d", alloc, len(msg), allocCap)
	}
}

// TestPollBoundedMemory fetches a big message without holding it in memory.
func TestPollBoundedMemory(t *testing.T) {
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
		res, err = f.Poll(context.Background(), srv.Account("journal", config.SecurityTLS))
	})
	if err != nil || res.Archived != 1 || res.Bytes != int64(len(msg)) {
		t.Fatalf("Poll = %+v, %v; want 1 archived of %d bytes", res, err, len(msg))
	}
	t.Logf("fetched %d bytes, allocated %d bytes", len(msg), alloc)
	if alloc > allocCap {
		t.Fatalf("Poll allocated %d bytes for a %d-byte message; want under %d", alloc, len(msg), allocCap)
	}
}
