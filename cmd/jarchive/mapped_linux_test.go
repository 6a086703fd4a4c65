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

// TestWatchMapped maps a file and reads it: watchMapped leaves the mapped
// pages alone while they stay under mappedBudget, and releases them once
// they grow over it.
func TestWatchMapped(t *testing.T) {
	if _, err := fileRSS(); err != nil {
		t.Skip(err)
	}
	const size = mappedBudget + 32<<20
	path := filepath.Join(t.TempDir(), "mapped")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Data, not a hole: the pages of a hole are not counted as mapped.
	chunk := bytes.Repeat([]byte{1}, 1<<20)
	for range size / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	released := make(chan struct{}, 1)
	release := func() {
		if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
			t.Error(err)
		}
		select {
		case released <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchMapped(ctx, release, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		<-done
	}()
	time.Sleep(3 * minPoll) // the watch has read its base

	touch := func(n int) {
		for i := 0; i < n; i += os.Getpagesize() {
			mappedSink += b[i]
		}
	}
	touch(mappedBudget / 2)
	select {
	case <-released:
		t.Fatalf("released with %d MiB mapped; want no release under the budget of %d MiB", mappedBudget/2>>20, mappedBudget>>20)
	case <-time.After(20 * minPoll):
	}
	before, _ := fileRSS()
	touch(size)
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatalf("no release after mapping %d MiB; want one over the budget of %d MiB", size>>20, mappedBudget>>20)
	}
	if after, _ := fileRSS(); after >= before {
		t.Errorf("file-backed RSS %d MiB after the release, %d MiB before the file was read to its end; want less", after>>20, before>>20)
	}
}

// mappedSink keeps the compiler from dropping the reads of the test.
var mappedSink byte
