package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"jarchive/archive"
)

// storageGate stops every account when the archive cannot store (disk
// full, I/O error, read-only file system): the sink call that met the error
// and every later one wait here, so nothing is acknowledged and nothing is
// deleted on any server, until a probe write works again. The error is
// logged once, and once more when storing resumes.
type storageGate struct {
	arc    *archive.Archive
	logger *slog.Logger
	every  time.Duration // between probes

	mu     sync.Mutex
	broken chan struct{} // closed when storing works again; nil while it works
}

// wait blocks while storage is broken; cause is the error that was met,
// which opens the gate when it is not open yet. It returns ctx's error when
// ctx ends first.
func (g *storageGate) wait(ctx context.Context, cause error) error {
	g.mu.Lock()
	if g.broken == nil && cause != nil {
		g.broken = make(chan struct{})
		g.logger.Error("archive cannot store messages: fetching is paused on every account, nothing is deleted on the servers; it resumes when storing works again",
			"err", cause)
		go g.probe(g.broken)
	}
	ch := g.broken
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probe tries a small durable write until it works, then lets everyone go.
func (g *storageGate) probe(done chan struct{}) {
	start := time.Now()
	for {
		time.Sleep(g.every)
		if err := g.arc.Probe(); err == nil {
			break
		}
	}
	g.logger.Info("archive stores messages again: fetching resumes", "paused", time.Since(start).Round(time.Second))
	g.mu.Lock()
	g.broken = nil
	g.mu.Unlock()
	close(done)
}

// isStorage reports whether err says the archive's storage failed.
func isStorage(err error) bool { return errors.Is(err, archive.ErrStorage) }
