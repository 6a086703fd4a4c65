package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"jarchive/config"
	"jarchive/fetch"
)

func runImport(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "import", args)
}

func importCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "import", "[-config FILE] [-envelope MODE] PATH...")
	fs.String("config", "", "configuration `file`")
	envelope := fs.String("envelope", "journal", "envelope `mode`: journal, off, x-envelope-to, x-original-to, delivered-to or header:NAME")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("import: no paths")
	}
	var mode config.EnvelopeMode
	if err := mode.UnmarshalText([]byte(*envelope)); err != nil {
		return usageError("import: -envelope: %v", err)
	}
	paths := make([]string, fs.NArg())
	for i, p := range fs.Args() {
		paths[i] = a.abs(p)
	}
	in := newIngest(st, nil, a.logger)
	in.modes[importAccount] = mode
	in.progress = newProgress(a.stderr, "import")
	f := fetch.New(fetch.Options{Sink: in, Logger: a.logger, TempDir: filepath.Join(st.arc.Dir(), "tmp")})
	start := time.Now()
	res, err := f.Import(ctx, paths)
	in.progress.done()
	c := in.take(importAccount)
	indexed, ierr := st.catchUp(ctx)
	elapsed := time.Since(start)
	fmt.Fprintf(a.stdout, "imported %d messages (%d new, %d duplicates merged, %d archived raw after parse failures, %d failed) in %s, %.0f messages/s; indexed %d\n",
		res.Archived, c.Added, c.Merged, c.Failed, res.Failed, elapsed.Round(time.Millisecond), rate(res.Archived, elapsed), indexed)
	if err != nil {
		return err
	}
	return ierr
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// importAccount is the account name recorded for imported messages.
const importAccount = "import"
