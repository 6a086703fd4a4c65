package index

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// ErrScope is returned by Search for a query without a scope: neither all
// messages (an auditor) nor the messages of some owners.
var ErrScope = errors.New("search without a scope: set Scope.All or Scope.Owners")

// Search limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Sort is the order of search results.
type Sort int

const (
	// SortDate is newest first; messages without a date last.
	SortDate Sort = iota
	// SortRelevance is best match first (BM25 as bleve scores it), then
	// newest first.
	SortRelevance
)

// Scope says whose messages a search may return. It is applied by Search,
// outside the query text, so no query can widen it.
type Scope struct {
	// All: every message, for auditors.
	All bool
	// Owners: only the messages of these owners (as in Document.Owners,
	// normalised by Search as the indexed ones are).
	Owners []string
}

// Query is one search request.
type Query struct {
	// Text in the query language of doc.go; "" matches every message.
	Text  string
	Scope Scope
	Sort  Sort
	// Limit is the number of hits of a page: DefaultLimit for 0, at most
	// MaxLimit.
	Limit int
	// After is the Next of the previous page's Result; "" for the first
	// page. A page after costs what the first costs, however deep.
	After string
	// Location is the time zone of after: and before: dates; nil is UTC.
	Location *time.Location
}

// Hit is one matching message.
type Hit struct {
	ID    string  // hex SHA-256, the archive key
	Score float64 // for SortRelevance; 0 otherwise
}

// Result of a search.
type Result struct {
	Total uint64 // number of matching messages; Hits holds at most Limit of them
	Hits  []Hit
	// Next is the cursor of the next page (for Query.After), "" when this
	// page is the last.
	Next string
	Took time.Duration
}

// Search runs q. Errors of the query text are *QueryError (wrapping
// ErrQuery) with the position of the problem.
func (ix *Index) Search(ctx context.Context, q Query) (res *Result, err error) {
	defer func() {
		// A query must never take the daemon down.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("search %q: panic: %v", q.Text, p)
		}
	}()
	if !q.Scope.All && len(q.Scope.Owners) == 0 {
		return nil, ErrScope
	}
	bq, err := parseQuery(q.Text, q.Location)
	if err != nil {
		return nil, err
	}
	if !q.Scope.All {
		owners := sortedOwners(q.Scope.Owners)
		if len(owners) == 0 {
			return nil, ErrScope
		}
		qs := make([]query.Query, len(owners))
		for i, o := range owners {
			qs[i] = keywordQuery(fieldOwner, o, false)
		}
		b := query.NewBooleanQuery([]query.Query{bq}, nil, nil)
		b.AddFilter(query.NewDisjunctionQuery(qs))
		bq = b
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	// One more than asked tells whether there is a next page.
	req := bleve.NewSearchRequestOptions(bq, limit+1, 0, false)
	byDate := &search.SortField{Field: fieldOrder, Desc: true, Type: search.SortFieldAsString, Missing: search.SortFieldMissingLast}
	switch q.Sort {
	case SortDate:
		req.SortByCustom(search.SortOrder{byDate})
		req.Score = bleve.ScoreNone
	case SortRelevance:
		req.SortByCustom(search.SortOrder{&search.SortScore{Desc: true}, byDate})
	default:
		return nil, fmt.Errorf("search: unknown sort %d", q.Sort)
	}
	if q.After != "" {
		after, err := decodeCursor(q.After, q.Sort)
		if err != nil {
			return nil, err
		}
		req.SearchAfter = after
	}

	g, release := ix.current()
	defer release()
	sr, err := g.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q.Text, err)
	}
	r := &Result{Total: sr.Total, Took: sr.Took, Hits: make([]Hit, 0, min(len(sr.Hits), limit))}
	for i, h := range sr.Hits {
		if i == limit {
			r.Next = encodeCursor(q.Sort, sr.Hits[i-1])
			break
		}
		hit := Hit{ID: h.ID}
		if q.Sort == SortRelevance {
			hit.Score = h.Score
		}
		r.Hits = append(r.Hits, hit)
	}
	return r, nil
}

// A cursor is the sort values of the last hit of a page, which bleve's
// SearchAfter starts after, with the sort they belong to:
// base64url(JSON ["d", order]) or ["r", score, order], order being the
// value of the order field.
func encodeCursor(s Sort, h *search.DocumentMatch) string {
	var v []string
	switch s {
	case SortDate:
		v = []string{"d", h.DecodedSort[0]}
	case SortRelevance:
		v = []string{"r", strconv.FormatFloat(h.Score, 'g', -1, 64), h.DecodedSort[1]}
	}
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = fmt.Errorf("%w: the page cursor is not one of this search's (use the next cursor printed by the search before, with the same -sort)", ErrQuery)

func decodeCursor(c string, s Sort) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, errCursor
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil || len(v) == 0 {
		return nil, errCursor
	}
	date := func(s string) bool {
		_, err := strconv.ParseUint(s, 16, 64)
		return err == nil && len(s) == 16
	}
	switch {
	case s == SortDate && v[0] == "d" && len(v) == 2 && date(v[1]):
		return v[1:], nil
	case s == SortRelevance && v[0] == "r" && len(v) == 3 && date(v[2]):
		if _, err := strconv.ParseFloat(v[1], 64); err == nil {
			return v[1:], nil
		}
	}
	return nil, errCursor
}
