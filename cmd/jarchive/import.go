package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"jarchive/config"
	"jarchive/fetch"
)

func runImport(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "import", args)
}

func importCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "import", importSynopsis)
	fs.String("config", "", "configuration `file`")
	account := fs.String("account", "", "record the messages as coming from account `NAME` (a configured account: its envelope mode applies; default \"import\")")
	envelope := fs.String("envelope", "journal", "envelope `mode`: journal, off, x-envelope-to, x-original-to, delivered-to or header:NAME")
	quoting := fs.String("mbox", "mboxrd", "how to read \">From \" lines of mbox files: mboxrd, mboxo or none (keep)")
	maxSize := fs.String("max-size", "0", "skip messages larger than `SIZE` (e.g. 50MB; 0: no limit)")
	restart := fs.Bool("restart", false, "ignore what an interrupted run of the same import saved, and read everything again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("import: no paths")
	}
	envelopeSet := false
	fs.Visit(func(f *flag.Flag) { envelopeSet = envelopeSet || f.Name == "envelope" })
	var mode config.EnvelopeMode
	if err := mode.UnmarshalText([]byte(*envelope)); err != nil {
		return usageError("import: -envelope: %v", err)
	}
	if mode.Kind == config.EnvelopeSMTP {
		return usageError("import: -envelope smtp: only for messages received by [smtp] (the envelope is the SMTP one)")
	}
	q, err := fetch.ParseQuoting(*quoting)
	if err != nil {
		return usageError("import: -mbox: %v", err)
	}
	var limit config.ByteSize
	if *maxSize != "0" {
		if err := limit.UnmarshalText([]byte(*maxSize)); err != nil {
			return usageError("import: -max-size: %v", err)
		}
	}
	name := importAccount
	if *account != "" {
		name = *account
		if !accountNameRE.MatchString(name) {
			return usageError("import: -account %q: use letters, digits, '.', '_' and '-'", name)
		}
		// A configured account's envelope mode applies unless -envelope
		// says otherwise.
		for _, acct := range st.config().Accounts {
			if acct.Name == name && !envelopeSet {
				mode = acct.Envelope
			}
		}
	}
	paths := make([]string, fs.NArg())
	for i, p := range fs.Args() {
		paths[i] = a.abs(p)
	}
	in := newIngest(st, nil, a.logger)
	in.modes[name] = mode
	in.progress = newProgress(a.stderr, "import")
	f := fetch.New(fetch.Options{Sink: in, Logger: a.logger, TempDir: filepath.Join(st.arc.Dir(), "tmp")})
	opts := fetch.ImportOptions{Account: name, Quoting: q, MaxSize: int64(limit), Restart: *restart,
		StateDir: filepath.Join(st.arc.Dir(), "import")}
	start := time.Now()
	follow := followArchive(ctx, a, st)
	res, err := f.Import(ctx, paths, opts)
	in.progress.done()
	c := in.take(name)
	indexed := follow()
	n, ierr := st.catchUp(ctx)
	indexed += n
	elapsed := time.Since(start)
	fmt.Fprintf(a.stdout, "imported %d messages, %s (%d new, %d duplicates merged, %d archived raw after parse failures, %d failed, %d too large, %d files skipped by name) in %s, %.0f messages/s, %.1f MB/s; indexed %d\n",
		res.Archived, humanBytes(uint64(res.Bytes)), c.Added, c.Merged, c.Failed, res.Failed, res.TooLarge, res.Skipped,
		elapsed.Round(time.Millisecond), rate(res.Archived, elapsed), float64(res.Bytes)/1e6/max(elapsed.Seconds(), 1e-9), indexed)
	if res.Resumed > 0 {
		fmt.Fprintf(a.stdout, "resumed: %d files and messages archived by the interrupted run were skipped\n", res.Resumed)
	}
	if err != nil {
		fmt.Fprintln(a.stdout, "interrupted: run the same import again to resume where it stopped")
		return err
	}
	return ierr
}

// followArchive indexes what the archive commits while an import or a fetch
// pass runs, as serve's indexer does, so that archiving and indexing overlap
// instead of following one another. stop ends it and returns the messages indexed.
func followArchive(ctx context.Context, a *app, st *store) (stop func() int) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		total := 0
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			n, err := st.catchUp(ctx)
			total += n
			if err != nil && ctx.Err() == nil {
				a.logger.Warn("index while importing", "err", err)
			}
			select {
			case <-ctx.Done():
				done <- total
				return
			case <-t.C:
			}
		}
	}()
	return func() int {
		cancel()
		return <-done
	}
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// importAccount is the account name recorded for imported messages.
const importAccount = fetch.ImportAccount

// importSynopsis is the usage line of jarchive import.
const importSynopsis = "[-config FILE] [-account NAME] [-envelope MODE] [-mbox mboxrd|mboxo|none] [-max-size SIZE] [-restart] PATH..."

// accountNameRE is what an account name may be (as config checks).
var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$`)
