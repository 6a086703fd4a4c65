package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"jarchive/config"
	"jarchive/fetch"
	"jarchive/systemd"
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
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(cfg, a.logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			a.logger.Error("close archive", "err", err)
		}
	}()
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
			if n, err := st.catchUp(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.logger.Error("index", "err", err)
			} else if n > 0 {
				a.logger.Info("indexed", "documents", n)
			}
		}
	}()

	in := newIngest(st, cfg.Accounts, a.logger)
	f := fetch.New(fetch.Options{Sink: in, Checkpoints: st.arc, Logger: a.logger, TempDir: filepath.Join(cfg.Archive.Dir, "tmp")})
	st.fetcher.Store(f) // for "jarchive accounts"
	accounts := make([]*config.Account, 0, len(cfg.Accounts))
	for i := range cfg.Accounts {
		accounts = append(accounts, &cfg.Accounts[i])
	}
	if err := systemd.Notify(systemd.Ready); err != nil {
		a.logger.Warn("systemd notify", "err", err)
	}
	a.logger.Info("serving", "archive", cfg.Archive.Dir, "accounts", len(accounts))
	f.Run(ctx, accounts, func(res fetch.Result, err error) {
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
	// Run returns once ctx is done and the message in flight is finished.
	if err := systemd.Notify(systemd.Stopping); err != nil {
		a.logger.Warn("systemd notify", "err", err)
	}
	<-indexerDone
	// Index what the last polls archived before shutting down, bounded.
	idxCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.catchUp(idxCtx); err != nil {
		a.logger.Warn("index at shutdown", "err", err)
	}
	a.logger.Info("stopped")
	fmt.Fprintln(a.stdout, "jarchive stopped")
	return nil
}
