package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// The pages of files the process maps (meta.db through bbolt, the index's
// segment files through zapx, and the binary) count in its RSS while they
// are mapped, although they are the kernel's page cache. Left alone, they
// grew with the archive: an import into a 200,000-message archive held
// 230 MB of them at its peak. The OOM killer counts them too. So while
// the archive is open, watchMapped keeps them within mappedBudget of what
// stayed mapped after the last release: it polls the process's file-backed
// RSS (the "shared" field of /proc/self/statm) and, over the budget, has
// the archive and the index drop their mapped pages (ReleaseMapped), which
// stay in the page cache. A page used again is mapped again by a minor
// fault, so a search right after a release takes up to a millisecond
// longer.
//
// Kernels that cache files in large folios map a whole folio on a fault
// (6.18 here), so a few random lookups can map tens of megabytes: the
// watch polls every minPoll while the mapped part grows and backs off to
// maxPoll while it does not, so that an idle daemon wakes once a second.
// One commit can still go over the budget between two polls when meta.db
// was read whole into the cache just before (by a backup, say), which
// makes large folios of it: importing 20,000 messages into a
// 200,000-message archive peaked at 231 MB of RSS with meta.db read from
// the disk and at 294 MB after cat had read it (64 MiB of budget: 258 and
// 329 MB; timers that released every 250 ms: 260 and 353 MB).
const (
	mappedBudget = 32 << 20
	minPoll      = 10 * time.Millisecond
	maxPoll      = time.Second
	growthStep   = 1 << 20 // growth that keeps the polling fast
)

// watchMapped runs until ctx ends; release drops the mapped pages. Without
// /proc/self/statm (not Linux) it returns at once.
func watchMapped(ctx context.Context, release func(), logger *slog.Logger) {
	base, err := fileRSS()
	if err != nil {
		logger.Debug("not watching mapped file pages", "err", err)
		return
	}
	last, poll := base, minPoll
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mapped, err := fileRSS()
		if err != nil {
			logger.Debug("not watching mapped file pages", "err", err)
			return
		}
		base = min(base, mapped)
		switch {
		case mapped > base+mappedBudget:
			release()
			if after, err := fileRSS(); err == nil {
				mapped, base = after, after
			}
			poll = minPoll
		case mapped > last+growthStep:
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
