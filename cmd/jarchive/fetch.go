package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"jarchive/fetch"
)

func runFetch(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "fetch", "-once [-config FILE]")
	cfgPath := fs.String("config", "", "configuration `file`")
	once := fs.Bool("once", false, "one pass over all accounts (required; use serve to poll continuously)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*once || fs.NArg() != 0 {
		fs.Usage()
		return usageError("fetch: -once is required (jarchive serve polls continuously)")
	}
	st, closeStore, err := loadStore(a, *cfgPath)
	if err != nil {
		return err
	}
	defer closeStore()
	_, err = fetchOnce(ctx, a, st)
	return err
}

// accountSummary is the outcome of one pass over one account.
type accountSummary struct {
	fetch.Result
	ingestCounts
	Elapsed time.Duration
	Err     error
}

// fetchOnce polls every account once, indexes what arrived and prints a
// line per account. It fails when any account failed.
func fetchOnce(ctx context.Context, a *app, st *store) ([]accountSummary, error) {
	in := newIngest(st, st.config().Accounts, a.logger)
	f := fetch.New(fetch.Options{Sink: in, Checkpoints: st.arc, Logger: a.logger, TempDir: filepath.Join(st.arc.Dir(), "tmp")})
	var out []accountSummary
	var errs []error
	follow := followArchive(ctx, a, st) // index while fetching
	for i := range st.config().Accounts {
		acct := &st.config().Accounts[i]
		start := time.Now()
		res, err := f.Poll(ctx, acct)
		s := accountSummary{Result: res, ingestCounts: in.take(acct.Name), Elapsed: time.Since(start), Err: err}
		s.Account = acct.Name
		out = append(out, s)
		printSummary(a, &s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	indexed := follow()
	n, err := st.catchUp(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(a.stdout, "indexed %d\n", indexed+n)
	return out, errors.Join(errs...)
}

func printSummary(a *app, s *accountSummary) {
	fmt.Fprintf(a.stdout, "%s: %d seen, %d archived (%d new, %d duplicates merged, %d archived raw), %d deleted on server, %d too large, %d failed, %d bytes in %s (%.0f messages/s)",
		s.Account, s.Seen, s.Archived, s.Added, s.Merged, s.ingestCounts.Failed, s.Deleted, s.TooLarge, s.Result.Failed, s.Bytes,
		s.Elapsed.Round(time.Millisecond), rate(s.Archived, s.Elapsed))
	if s.Err != nil {
		fmt.Fprintf(a.stdout, ": error: %v", s.Err)
	}
	fmt.Fprintln(a.stdout)
}
