package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"jarchive/fetch"
)

func runServe(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "serve", "[-config FILE]")
	cfgPath := fs.String("config", "", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("serve: unexpected arguments")
	}
	st, closeStore, err := loadStore(a, *cfgPath)
	if err != nil {
		return err
	}
	defer closeStore()
	cfg := st.config()
	// The HTTP listener (metrics, health), the systemd watchdog, and
	// STOPPING=1 as soon as a signal comes (reload.go).
	svc, err := startService(ctx, a, cfg, st)
	if err != nil {
		return err
	}
	defer svc.close()
	ln, err := listenControl(cfg.Archive.Dir)
	if err != nil {
		return err
	}
	controlDone := make(chan struct{})
	go func() {
		defer close(controlDone)
		serveControl(ctx, a, st, ln)
	}()
	defer func() {
		ln.Close()
		<-controlDone
	}()

	// The indexer follows the archive in its own goroutine: a poll that
	// archived something wakes it, and so does the start, for what an
	// earlier run archived but did not index (a rebuild after a schema
	// change, say). Fetching never waits for it; stats shows the lag.
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	indexerDone := make(chan struct{})
	go func() {
		defer close(indexerDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			began := time.Now()
			n, err := st.catchUp(ctx)
			switch {
			case err == nil:
				svc.metrics.indexed(began) // for jarchive_index_lag_seconds
				if n > 0 {
					a.logger.Info("indexed", "documents", n)
				}
			case !errors.Is(err, context.Canceled):
				a.logger.Error("index", "err", err)
			}
		}
	}()

	// The directory: a sync now and every sync_interval, owners
	// reassigned after a change (owners.go).
	dirDone := make(chan struct{})
	go func() {
		defer close(dirDone)
		st.runDirectory(ctx, a.logger, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	}()
	defer st.startRetention(ctx, a.logger)() // [retention] schedule (retention.go): started now, waited for at the end

	in := newIngest(st, cfg.Accounts, a.logger)
	f := fetch.New(fetch.Options{Sink: in, Checkpoints: st.arc, Logger: a.logger, TempDir: filepath.Join(cfg.Archive.Dir, "tmp")})
	st.fetcher.Store(f) // for "jarchive accounts"
	// The [smtp] receiver (smtp.go): it stops accepting when ctx ends and
	// finishes the messages in flight; rcv.wait below waits for that.
	rcv, err := startSMTP(ctx, a, cfg, in, svc.metrics, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	// READY=1: the archive and the index are open.
	svc.ready()
	a.logger.Info("serving", "archive", cfg.Archive.Dir, "accounts", len(cfg.Accounts))
	// One poller per account until ctx ends; SIGHUP reloads the
	// configuration (reload.go).
	svc.run(ctx, f, in, func(res fetch.Result, err error) {
		c := in.take(res.Account)
		level := a.logger.Info
		if res.Archived == 0 && err == nil {
			level = a.logger.Debug
		}
		if err != nil {
			level = a.logger.Error
		}
		level("poll", "account", res.Account, "seen", res.Seen, "archived", res.Archived, "new", c.Added, "merged", c.Merged,
			"raw", c.Failed, "deleted", res.Deleted, "too_large", res.TooLarge, "failed", res.Failed, "err", err)
		if res.Archived > 0 {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	rcv.wait()
	// run returns once ctx is done and the messages in flight are
	// finished (STOPPING=1 went out when the signal came).
	<-indexerDone
	<-dirDone
	// Index what the last polls archived before shutting down, bounded
	// (the unit's TimeoutStopSec allows for it).
	idxCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := st.catchUp(idxCtx); err != nil {
		a.logger.Warn("index at shutdown", "err", err)
	}
	svc.stopNoted(ctx)
	a.logger.Info("stopped")
	fmt.Fprintln(a.stdout, "jarchive stopped")
	return nil
}
