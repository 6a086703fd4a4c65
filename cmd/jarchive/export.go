package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/user"
	"strings"
	"time"

	"jarchive/export"
	"jarchive/index"
)

const exportSynopsis = "[-config FILE] -query Q [-as ADDRESS] -format mbox|eml-zip|maildir -o DIR | verify DIR"

func runExport(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		// Reads only the export: no archive needed.
		return exportVerify(a, args[1:])
	}
	// Who ran it, as the client sees itself (a daemon would see itself).
	return withStore(ctx, a, "export", append([]string{"-by=" + whoAmI()}, args...))
}

func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

func exportCommand(ctx context.Context, a *app, st *store, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return exportVerify(a, args[1:])
	}
	fs := newFlags(a, "export", exportSynopsis)
	fs.String("config", "", "configuration `file`")
	query := fs.String("query", "", "the search `query` choosing the messages (\"\" for all)")
	format := fs.String("format", "mbox", "output `format`: mbox (mboxrd), eml-zip or maildir")
	out := fs.String("o", "", "output `directory` (must not exist)")
	by := fs.String("by", "", "who runs the export (set by the client)")
	var as stringsFlag
	fs.Var(&as, "as", "export as this `user` (a name or an address): only the messages the user owns; without -as, all messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return usageError("export: want -o DIR and no arguments")
	}
	if *by == "" {
		*by = whoAmI()
	}
	// -as takes a user name or any of the user's addresses, as search does.
	scope, err := st.scopeFor(as, false)
	if err != nil {
		return err
	}
	q := index.Query{Text: *query, Limit: index.MaxLimit, Location: st.location(), Sort: index.SortDate, Scope: scope}
	// Make the index current, so the export sees every archived message.
	if _, err := st.catchUp(ctx); err != nil {
		return err
	}
	first, err := st.idx.Search(ctx, q)
	var qe *index.QueryError
	if errors.As(err, &qe) {
		return fmt.Errorf("%w\n  %s", err, strings.ReplaceAll(qe.Caret(), "\n", "\n  "))
	} else if err != nil {
		return err
	}
	ids := func(yield func(string, error) bool) {
		res := first
		for {
			for _, h := range res.Hits {
				if !yield(h.ID, nil) {
					return
				}
			}
			if res.Next == "" {
				return
			}
			q.After = res.Next
			if res, err = st.idx.Search(ctx, q); err != nil {
				yield("", err)
				return
			}
		}
	}
	p := newProgress(a.stderr, "export")
	p.total = int(first.Total)
	sum, err := export.Export(ctx, st.arc, iter.Seq2[string, error](ids), a.abs(*out),
		export.Options{Format: *format, Query: *query, As: as, By: *by, Progress: p.set})
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "exported %d messages (%s) to %s in %s, %.1f MB/s\nfile set SHA-256 %s\nmanifest SHA-256 %s (archive log entry %d)\n",
		sum.Count, humanBytes(uint64(sum.Bytes)), sum.Path, sum.Elapsed.Round(time.Millisecond),
		float64(sum.Bytes)/(1<<20)/max(sum.Elapsed.Seconds(), 1e-9), sum.FilesetSHA256, sum.ManifestSHA256, sum.LogSeq)
	return nil
}

func exportVerify(a *app, args []string) error {
	fs := newFlags(a, "export verify", "DIR")
	fs.String("config", "", "configuration `file` (unused)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError("export verify: want one export directory")
	}
	rep, err := export.Verify(a.abs(fs.Arg(0)))
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(a.stdout, p)
	}
	if !rep.Clean() {
		return &exitError{code: 3, err: fmt.Errorf("export verify: %d problems", len(rep.Problems))}
	}
	fmt.Fprintf(a.stdout, "export verified: %d messages (%s), format %s, file set SHA-256 %s, manifest SHA-256 %s\n",
		rep.Count, humanBytes(uint64(rep.Bytes)), rep.Format, rep.FilesetSHA256, rep.ManifestSHA256)
	return nil
}
