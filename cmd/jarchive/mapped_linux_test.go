package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mappedSize is the size of the tests' mapped file: over the budget.
const mappedSize = mappedBudget + 32<<20

// watchedFile maps a file of mappedSize bytes of data, not a hole (the
// pages of a hole are not counted as mapped), and returns the mapping, a
// new watch, and a release function, not yet the watch's, that drops the
// mapping's pages and sends on released. Without /proc/self/statm it
// skips the test.
func watchedFile(t *testing.T) (b []byte, w *mappedWatch, release func(), released chan struct{}) {
	t.Helper()
	if _, err := fileRSS(); err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "mapped")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{1}, 1<<20)
	for range mappedSize / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	b, err = unix.Mmap(int(f.Fd()), 0, mappedSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	released = make(chan struct{}, 1)
	release = func() {
		if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
			t.Error(err)
		}
		select {
		case released <- struct{}{}:
		default:
		}
	}
	return b, newMappedWatch(), release, released
}

// touch reads the first n bytes of b, a byte a page.
func touch(b []byte, n int) {
	for i := 0; i < n; i += os.Getpagesize() {
		mappedSink += b[i]
	}
}

// TestWatchMapped maps a file and reads it: the watch's poll leaves the
// mapped pages alone while they stay under mappedBudget, and releases them
// once they grow over it.
func TestWatchMapped(t *testing.T) {
	b, w, release, released := watchedFile(t)
	w.release.Store(&release)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		<-done
	}()
	time.Sleep(3 * minPoll) // the watch has read its base

	touch(b, mappedBudget/2)
	select {
	case <-released:
		t.Fatalf("released with %d MiB mapped; want no release under the budget of %d MiB", mappedBudget/2>>20, mappedBudget>>20)
	case <-time.After(20 * minPoll):
	}
	before, _ := fileRSS()
	touch(b, mappedSize)
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatalf("no release after mapping %d MiB; want one over the budget of %d MiB", mappedSize>>20, mappedBudget>>20)
	}
	if after, _ := fileRSS(); after >= before {
		t.Errorf("file-backed RSS %d MiB after the release, %d MiB before the file was read to its end; want less", after>>20, before>>20)
	}
}

// TestMappedCheck: check, which the archive calls after its operations,
// releases at once when the mapped pages are over the budget, and not
// under it, nor again within checkEvery.
func TestMappedCheck(t *testing.T) {
	b, w, release, released := watchedFile(t)
	w.check() // no release function yet: nothing to do
	w.release.Store(&release)
	wait := func() { time.Sleep(2 * checkEvery) }

	wait()
	touch(b, mappedBudget/2)
	w.check()
	select {
	case <-released:
		t.Fatalf("released with %d MiB mapped; want no release under the budget of %d MiB", mappedBudget/2>>20, mappedBudget>>20)
	default:
	}
	wait()
	touch(b, mappedSize)
	before, _ := fileRSS()
	w.check()
	select {
	case <-released:
	default:
		t.Fatalf("no release right after mapping %d MiB; want one over the budget of %d MiB", mappedSize>>20, mappedBudget>>20)
	}
	if after, _ := fileRSS(); after >= before {
		t.Errorf("file-backed RSS %d MiB after the release, %d MiB before; want less", after>>20, before>>20)
	}
	// Within checkEvery of the last check, a check does nothing.
	touch(b, mappedSize)
	w.lastCheck.Store(int64(time.Since(w.start)))
	w.check()
	select {
	case <-released:
		t.Errorf("released within %v of the last check; want none", checkEvery)
	default:
	}
}

// mappedSink keeps the compiler from dropping the reads of the test.
var mappedSink byte
