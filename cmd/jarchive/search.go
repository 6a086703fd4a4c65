package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	Recipients []journal.Recipient `json:"recipients,omitempty"`
}

func searchCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "search", "[-config FILE] [-json] [-limit N] QUERY")
	fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "print at most `n` hits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError("search: missing query")
	}
	query := strings.Join(fs.Args(), " ")
	res, err := st.idx.Search(ctx, query, *limit)
	if err != nil {
		return err
	}
	hits := make([]searchHit, 0, len(res.Hits))
	for _, h := range res.Hits {
		rec, err := st.arc.Get(h.ID)
		if err != nil {
			return fmt.Errorf("hit %s: %w", h.ID, err)
		}
		hits = append(hits, searchHit{ID: rec.ID, Date: rec.Header.Date, From: rec.Header.From, Subject: rec.Header.Subject, Size: rec.Size, Recipients: rec.Recipients})
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Query string      `json:"query"`
			Total uint64      `json:"total"`
			Hits  []searchHit `json:"hits"`
		}{query, res.Total, hits})
	}
	for _, h := range hits {
		date := "-"
		if !h.Date.IsZero() {
			date = h.Date.Format("2006-01-02 15:04")
		}
		from := "-"
		if len(h.From) > 0 {
			from = h.From[0]
		}
		fmt.Fprintf(a.stdout, "%s  %-32.32s  %-50.50s  %s\n", date, from, oneLine(h.Subject), h.ID[:16])
	}
	fmt.Fprintf(a.stdout, "%d of %d hits\n", len(hits), res.Total)
	return nil
}

// oneLine keeps a header value on one line for tabular output.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
