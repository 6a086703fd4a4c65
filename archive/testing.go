package archive

import (
	"bytes"
	"context"
	"testing"

	"jarchive/config"
	"jarchive/journal"
)

// TestArchive opens a new archive in a temporary directory for a test and
// closes it at the end of the test.
func TestArchive(t testing.TB) *Archive {
	t.Helper()
	return TestOpen(t, t.TempDir(), Options{})
}

// TestOpen opens the archive in dir with opts for a test and closes it at
// the end of the test (closing it earlier is fine).
func TestOpen(t testing.TB, dir string, opts Options) *Archive {
	t.Helper()
	a, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open archive: %v", err)
	}
	t.Cleanup(func() {
		if !a.isClosed() {
			if err := a.Close(); err != nil {
				t.Errorf("close archive: %v", err)
			}
		}
	})
	return a
}

// TestPut parses msg in the default (journal) envelope mode, stores it with
// src and returns its id; it ends the test on error.
func TestPut(t testing.TB, a *Archive, msg []byte, src Source) string {
	t.Helper()
	r := bytes.NewReader(msg)
	env := journal.Parse(r, int64(len(msg)), config.EnvelopeMode{})
	id, _, err := a.Put(context.Background(), &Incoming{Body: r, Size: int64(len(msg)), Envelope: env, Source: src})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return id
}

func (a *Archive) isClosed() bool {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	return a.closed
}
