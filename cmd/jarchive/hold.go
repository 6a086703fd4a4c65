package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"jarchive/archive"
	"jarchive/index"
)

const holdSynopsis = "add -name NAME -query Q [-reason TEXT] | list [-json] | release [-reason TEXT] NAME  [-config FILE]"

func runHold(ctx context.Context, a *app, args []string) error {
	return withStoreSub(ctx, a, "hold", args)
}

// holdCommand is "jarchive hold add|list|release": legal holds, which
// retention never deletes (package retention). Each add and release is an
// event in the ingest log.
func holdCommand(ctx context.Context, a *app, st *store, args []string) error {
	return runSubcommand(a, "hold", holdSynopsis, args,
		subcommand{"add", func(rest []string) error { return holdAdd(ctx, a, st, rest) }},
		subcommand{"list", func(rest []string) error { return holdList(ctx, a, st, rest) }},
		subcommand{"release", func(rest []string) error { return holdRelease(a, st, rest) }})
}

func holdAdd(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "hold add", "-name NAME -query Q [-reason TEXT] [-config FILE]")
	fs.String("config", "", "configuration `file`")
	name := fs.String("name", "", "the hold's `name` (letters, digits, . _ -)")
	query := fs.String("query", "", "the messages to hold: a search `query` (as jarchive search), evaluated whenever retention runs")
	reason := fs.String("reason", "", "why (a case number, say); recorded in the ingest log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("hold add: unexpected arguments %q (quote the query)", fs.Args())
	}
	if !validHoldName(*name) {
		return usageError("hold add: -name %q: use letters, digits, '.', '_' and '-'", *name)
	}
	if strings.TrimSpace(*query) == "" {
		return usageError("hold add: -query is required: a search query that finds the messages to hold")
	}
	// The query must parse; its hits are counted for the user.
	if _, err := st.catchUp(ctx); err != nil {
		return err
	}
	ids, err := holdHits(ctx, st, *query)
	if err != nil {
		return err
	}
	h, err := st.arc.AddHold(archive.Hold{Name: *name, Query: *query, Reason: *reason})
	if errors.Is(err, archive.ErrHoldExists) {
		return fmt.Errorf("hold %q exists: release it first or choose another name", *name)
	} else if err != nil {
		return err
	}
	st.logger.Info("legal hold added", "hold", h.Name, "query", h.Query, "reason", h.Reason, "messages", ids, "log_seq", h.Seq)
	fmt.Fprintf(a.stdout, "hold %s added (log entry %d): it finds %d message%s now; mail it finds later is held too\n", h.Name, h.Seq, ids, plural(int(ids)))
	return nil
}

// holdHits counts the messages a hold query finds now, as an auditor.
func holdHits(ctx context.Context, st *store, query string) (uint64, error) {
	res, err := st.idx.Search(ctx, index.Query{Text: query, Scope: index.Scope{All: true}, Limit: 1, Location: st.location()})
	var qe *index.QueryError
	if errors.As(err, &qe) {
		return 0, usageError("hold: %w\n  %s", err, strings.ReplaceAll(qe.Caret(), "\n", "\n  "))
	} else if err != nil {
		return 0, err
	}
	return res.Total, nil
}

func validHoldName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// holdOutput is one hold of "hold list -json".
type holdOutput struct {
	archive.Hold
	Messages uint64 `json:"messages"` // messages its query finds now
}

func holdList(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "hold list", "[-json] [-config FILE]")
	fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("hold list: unexpected arguments")
	}
	holds, err := st.arc.Holds()
	if err != nil {
		return err
	}
	if _, err := st.catchUp(ctx); err != nil {
		return err
	}
	out := make([]holdOutput, 0, len(holds))
	for _, h := range holds {
		n, err := holdHits(ctx, st, h.Query)
		if err != nil {
			return fmt.Errorf("hold %s: %w", h.Name, err)
		}
		out = append(out, holdOutput{Hold: h, Messages: n})
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, h := range out {
		fmt.Fprintf(a.stdout, "%s\t%d message%s\tsince %s\tquery %s", h.Name, h.Messages, plural(int(h.Messages)), h.Added.In(st.location()).Format("2006-01-02 15:04"), h.Query)
		if h.Reason != "" {
			fmt.Fprintf(a.stdout, "\treason %s", h.Reason)
		}
		fmt.Fprintln(a.stdout)
	}
	fmt.Fprintf(a.stdout, "%d active hold%s\n", len(out), plural(len(out)))
	return nil
}

func holdRelease(a *app, st *store, args []string) error {
	fs := newFlags(a, "hold release", "[-reason TEXT] NAME [-config FILE]")
	fs.String("config", "", "configuration `file`")
	reason := fs.String("reason", "", "why; recorded in the ingest log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	name, extra := fs.Arg(0), 0
	if fs.NArg() > 1 { // flags after the name
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		extra = fs.NArg()
	}
	if name == "" || extra != 0 {
		fs.Usage()
		return usageError("hold release: give the name of one hold")
	}
	err := st.arc.ReleaseHold(name, *reason)
	if errors.Is(err, archive.ErrNoHold) {
		return fmt.Errorf("no hold named %q (jarchive hold list shows them)", name)
	} else if err != nil {
		return err
	}
	st.logger.Info("legal hold released", "hold", name, "reason", *reason)
	fmt.Fprintf(a.stdout, "hold %s released; retention may delete its messages at the next run\n", name)
	return nil
}
