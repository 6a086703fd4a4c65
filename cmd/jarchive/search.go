package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"jarchive/archive"
	"jarchive/index"
	"jarchive/journal"
)

func runSearch(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "search", args)
}

// searchHit is one line of search output.
type searchHit struct {
	ID         string              `json:"id"`
	Date       time.Time           `json:"date,omitzero"`
	From       []string            `json:"from,omitempty"`
	Subject    string              `json:"subject"`
	Size       int64               `json:"size"`
	Score      float64             `json:"score,omitempty"`
	Recipients []journal.Recipient `json:"recipients,omitempty"`
	Owners     []string            `json:"owners,omitempty"` // the users who own it; none: unassigned
}

// stringsFlag is a flag that may be given several times.
type stringsFlag []string

func (f *stringsFlag) String() string { return strings.Join(*f, ",") }
func (f *stringsFlag) Set(s string) error {
	*f = append(*f, s)
	return nil
}

const searchSynopsis = "[-config FILE] [-json] [-limit N] [-sort date|relevance] [-after CURSOR] [-as USER] [-unassigned] QUERY"

func searchCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "search", searchSynopsis)
	fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", index.DefaultLimit, fmt.Sprintf("print at most `n` hits (at most %d)", index.MaxLimit))
	sortBy := fs.String("sort", "date", "order of the hits: date (newest first) or relevance")
	after := fs.String("after", "", "show the page after the one that printed this `cursor`")
	var as stringsFlag
	fs.Var(&as, "as", "search as this `user` (a name or any of their addresses): only the messages they own, all for an auditor; without -as, all messages (auditor)")
	unassigned := fs.Bool("unassigned", false, "only the messages no user owns (auditors)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scope, err := st.scopeFor(as, *unassigned)
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("search: missing query (a query of \"\" lists every message)")
	}
	q := index.Query{
		Text:     strings.Join(fs.Args(), " "),
		Limit:    *limit,
		After:    *after,
		Location: st.location(),
		Scope:    scope,
	}
	if q.Sort, err = parseSort(*sortBy); err != nil {
		return err
	}
	if *limit < 1 || *limit > index.MaxLimit {
		return usageError("search: -limit %d is not between 1 and %d", *limit, index.MaxLimit)
	}
	res, err := st.idx.Search(ctx, q)
	var qe *index.QueryError
	if errors.As(err, &qe) {
		return fmt.Errorf("%w\n  %s", err, strings.ReplaceAll(qe.Caret(), "\n", "\n  "))
	} else if err != nil {
		return err
	}
	hits := make([]searchHit, 0, len(res.Hits))
	for _, h := range res.Hits {
		rec, err := st.arc.Get(h.ID)
		if errors.Is(err, archive.ErrNotFound) {
			// The index is behind a removal; verify repairs it.
			hits = append(hits, searchHit{ID: h.ID, Subject: "(no longer in the archive; jarchive verify -repair-index drops it from the index)"})
			continue
		} else if err != nil {
			return fmt.Errorf("hit %s: %w", h.ID, err)
		}
		hits = append(hits, searchHit{ID: rec.ID, Date: rec.Header.Date, From: rec.Header.From, Subject: rec.Header.Subject,
			Size: rec.Size, Score: h.Score, Recipients: rec.Recipients, Owners: rec.Owners})
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Query string      `json:"query"`
			Total uint64      `json:"total"`
			Hits  []searchHit `json:"hits"`
			Next  string      `json:"next,omitempty"`
		}{q.Text, res.Total, hits, res.Next})
	}
	for _, h := range hits {
		date := "-"
		if !h.Date.IsZero() {
			date = h.Date.In(q.Location).Format("2006-01-02 15:04")
		}
		from := "-"
		if len(h.From) > 0 {
			from = h.From[0]
		}
		fmt.Fprintf(a.stdout, "%-16s  %-32.32s  %-50.50s  %s\n", date, oneLine(from), oneLine(h.Subject), h.ID[:16])
	}
	fmt.Fprintf(a.stdout, "%d of %d hits\n", len(hits), res.Total)
	if res.Next != "" {
		fmt.Fprintf(a.stdout, "next page: -after %s\n", res.Next)
	}
	return nil
}

// oneLine keeps a header value on one line for tabular output.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parseSort is the -sort flag of search and bench search.
func parseSort(v string) (index.Sort, error) {
	switch v {
	case "date":
		return index.SortDate, nil
	case "relevance":
		return index.SortRelevance, nil
	}
	return 0, usageError("-sort %q is not one of date, relevance", v)
}
