package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The pages of files the process maps (meta.db through bbolt, the index's
// segment files through zapx, and the binary) count in its RSS while they
// are mapped, although they are the kernel's page cache. Left alone, they
// grew with the archive: an import into a 200,000-message archive held
// 230 MB of them at its peak. The OOM killer counts them too. So while
// the archive is open, a mappedWatch keeps them within mappedBudget of what
// stayed mapped after the last release: it reads the process's file-backed
// RSS (the "shared" field of /proc/self/statm) and, over the budget, has
// the archive and the index drop their mapped pages (ReleaseMapped), which
// stay in the page cache. A page used again is mapped again by a minor
// fault, so a search right after a release takes up to a millisecond
// longer.
//
// Kernels that cache files in large folios map a whole folio on a fault
// (6.18 here), and they make large folios of what bbolt writes as well as
// of what they read ahead, so a few random lookups can map tens of
// megabytes. So the archive has the watch check after each of its
// operations on meta.db (check) and reads the changes to index a few at a
// time (archive.Changes); a poll covers the rest: every minPoll while the
// mapped part grows, backing off to maxPoll while it does not, so that an
// idle daemon wakes once a second.
const (
	mappedBudget = 32 << 20
	minPoll      = 10 * time.Millisecond
	maxPoll      = time.Second
	growthStep   = 1 << 20 // growth that keeps the polling fast
	checkEvery   = time.Millisecond
)

// mappedWatch keeps the mapped file pages within mappedBudget (see above).
// Its check runs on the archive's goroutines after each operation on
// meta.db (archive.Options.AfterRead), and its run loop polls for the
// rest (the index's segments, a search).
type mappedWatch struct {
	release   atomic.Pointer[func()] // set once the store is open
	start     time.Time              // with a monotonic reading, for lastCheck
	lastCheck atomic.Int64           // of check, in nanoseconds since start
	off       bool                   // no /proc/self/statm (not Linux)

	mu   sync.Mutex // held while measuring and releasing
	base int64      // what stayed mapped after the last release
}

func newMappedWatch() *mappedWatch {
	base, err := fileRSS()
	return &mappedWatch{base: base, start: time.Now(), off: err != nil}
}

// check releases the mapped pages if they grew over the budget. It returns
// at once when a check or a poll is under way, or a check ran less than
// checkEvery ago: it is called after every lookup.
//
// Polling alone did not keep up: one read of 250 changes or one commit maps
// a leaf page for every record it reads, and with large folios that was
// tens of megabytes between two polls 10 ms apart. Importing 20,000
// messages into a 200,000-message archive (meta.db read whole into the
// cache first) peaked at 289-310 MB of RSS with the poll alone, at
// 276-290 MB with the checks and Changes reading 25 entries a
// transaction, at the same speed.
func (w *mappedWatch) check() {
	now := int64(time.Since(w.start))
	if w.off || now-w.lastCheck.Load() < int64(checkEvery) || !w.mu.TryLock() {
		return
	}
	defer w.mu.Unlock()
	w.lastCheck.Store(now)
	w.measure()
}

// measure releases the mapped pages when they are over the budget, with
// mu held. It returns what is mapped after, and whether it released.
func (w *mappedWatch) measure() (mapped int64, released bool, err error) {
	if mapped, err = fileRSS(); err != nil {
		return 0, false, err
	}
	w.base = min(w.base, mapped)
	release := w.release.Load()
	if mapped <= w.base+mappedBudget || release == nil {
		return mapped, false, nil
	}
	(*release)()
	if after, err := fileRSS(); err == nil {
		mapped, w.base = after, after
	}
	return mapped, true, nil
}

// run polls until ctx ends. Without /proc/self/statm it returns at once.
func (w *mappedWatch) run(ctx context.Context, logger *slog.Logger) {
	if w.off {
		logger.Debug("not watching mapped file pages: no /proc/self/statm")
		return
	}
	last, poll := int64(0), minPoll
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		mapped, released, err := w.measure()
		w.mu.Unlock()
		if err != nil {
			logger.Debug("not watching mapped file pages", "err", err)
			return
		}
		switch {
		case released, mapped > last+growthStep:
			poll = minPoll
		default:
			poll = min(2*poll, maxPoll)
		}
		last = mapped
		t.Reset(poll)
	}
}

// fileRSS returns the bytes of files mapped and resident in the process
// (RssFile and RssShmem of /proc/self/status), from /proc/self/statm.
func fileRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	// size resident shared text lib data dt, in pages (proc(5)).
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, fmt.Errorf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
