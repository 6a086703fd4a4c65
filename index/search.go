package index

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
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
		if bq = scoped(bq, q.Scope.Owners); bq == nil {
			return nil, ErrScope
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	// One more than asked tells whether there is a next page.
	var after []string
	if q.After != "" {
		if after, err = decodeCursor(q.After, q.Sort); err != nil {
			return nil, err
		}
	}
	g, release := ix.current()
	defer release()
	start := time.Now()
	var hits search.DocumentMatchCollection
	var total uint64
	switch q.Sort {
	case SortDate:
		hits, total, err = searchByDate(ctx, g.idx, bq, limit+1, after)
	case SortRelevance:
		req := bleve.NewSearchRequestOptions(bq, limit+1, 0, false)
		req.SortByCustom(search.SortOrder{&search.SortScore{Desc: true}, byDate()})
		req.SearchAfter = after
		var sr *bleve.SearchResult
		if sr, err = g.idx.SearchInContext(ctx, req); err == nil {
			hits, total = sr.Hits, sr.Total
		}
	default:
		return nil, fmt.Errorf("search: unknown sort %d", q.Sort)
	}
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q.Text, err)
	}
	r := &Result{Total: total, Took: time.Since(start), Hits: make([]Hit, 0, min(len(hits), limit))}
	for i, h := range hits {
		if i == limit {
			r.Next = encodeCursor(q.Sort, hits[i-1])
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

// scoped returns bq limited to the messages of owners; nil when owners
// name none.
func scoped(bq query.Query, owners []string) query.Query {
	terms := sortedOwners(owners)
	if len(terms) == 0 {
		return nil
	}
	qs := make([]query.Query, len(terms))
	for i, o := range terms {
		qs[i] = keywordQuery(fieldOwner, o, false)
	}
	b := query.NewBooleanQuery([]query.Query{bq}, nil, nil)
	b.AddFilter(query.NewDisjunctionQuery(qs))
	return b
}

// byDate is the sort newest first.
func byDate() *search.SortField {
	return &search.SortField{Field: fieldOrder, Desc: true, Type: search.SortFieldAsString, Missing: search.SortFieldMissingLast}
}

// byDateDirect is the number of hits up to which searchByDate sorts them
// all: those the count kept (countHits).
var byDateDirect uint64 = 4096 // a variable for tests

// useBitmaps is whether searchByDate finds the hits of queries that allow it
// with bitmaps (bitHits); a variable for tests, which compare the ways.
var useBitmaps = true

// searchByDate returns the first size hits of bq newest first (after the
// order key after[0], when after is set) and the number of all its hits.
//
// Sorting by a field makes bleve read the field of every hit (its doc
// values): about 200 ns a hit, 10 ms for a word in half of 100,000
// messages, however few hits are shown. Counting hits without sorting costs
// a fraction of that. So a search with many hits is counted, and then only
// the hits in the newest months are sorted: the month field partitions the
// messages in date order, so the newest hits of the newest months that
// hold enough of them are the newest of all. The months are taken in
// windows expected (from the share of all messages that match) to hold
// twice the hits wanted, each window twice the last, until the page is
// full. A search with few hits (byDateDirect) has them already: the count
// keeps them, and their order keys sort them. Most queries (words, word*,
// owners, OR and NOT: no phrase or range) need none of that: their hits
// are bitmaps, counted and cut to the newest months at once (bitHits).
func searchByDate(ctx context.Context, idx bleve.Index, bq query.Query, size int, after []string) (search.DocumentMatchCollection, uint64, error) {
	sorted := func(q query.Query, size int) (*bleve.SearchResult, error) {
		req := bleve.NewSearchRequestOptions(q, size, 0, false)
		req.SortByCustom(search.SortOrder{byDate()})
		req.Score = bleve.ScoreNone
		req.SearchAfter = after
		return idx.SearchInContext(ctx, req)
	}
	if useBitmaps {
		if hits, total, ok, err := searchByDateBitmaps(ctx, idx, bq, size, after); ok || err != nil {
			return hits, total, err
		}
	}
	total, kept, err := countHits(ctx, idx, bq, int(byDateDirect), size, after)
	if err != nil {
		return nil, 0, err
	}
	if total <= byDateDirect {
		return kept, total, nil
	}
	months, docs, err := monthCounts(idx)
	if err != nil {
		return nil, 0, err
	}
	if after != nil {
		// Months newer than the cursor's hold no hit after it.
		if t, ok := orderTime(after[0]); ok {
			m := monthKey(t)
			for len(months) > 0 && months[0].month > m {
				months = months[1:]
			}
		}
	}
	share := float64(total) / float64(max(docs, 1))
	want := 2 * float64(size)
	var hits search.DocumentMatchCollection
	for len(months) > 0 && len(hits) < size {
		var window []query.Query
		expected := 0.0
		for len(months) > 0 && (len(window) == 0 || expected < want) {
			tq := query.NewTermQuery(months[0].month)
			tq.SetField(fieldMonth)
			window = append(window, tq)
			expected += share * float64(months[0].docs)
			months = months[1:]
		}
		// A conjunction, not a filter: it skips to the window's
		// messages instead of testing every hit of bq.
		var wq query.Query = query.NewDisjunctionQuery(window)
		if len(window) == 1 {
			wq = window[0]
		}
		sr, err := sorted(query.NewConjunctionQuery([]query.Query{bq, wq}), size-len(hits))
		if err != nil {
			return nil, 0, err
		}
		hits = append(hits, sr.Hits...)
		want *= 2
	}
	return hits, total, nil
}

type monthCount struct {
	month string
	docs  uint64
}

// monthCounts returns the months of the index, newest first, with the
// number of their documents, and the sum of those (deleted documents not
// yet merged away may count: the numbers are estimates).
func monthCounts(idx interface {
	FieldDict(field string) (bindex.FieldDict, error)
}) ([]monthCount, uint64, error) {
	d, err := idx.FieldDict(fieldMonth)
	if err != nil {
		return nil, 0, err
	}
	defer d.Close()
	var out []monthCount
	var sum uint64
	for {
		e, err := d.Next()
		if err != nil {
			return nil, 0, err
		}
		if e == nil {
			break
		}
		out = append(out, monthCount{e.Term, e.Count})
		sum += e.Count
	}
	slices.Reverse(out) // the dictionary is in term order: oldest first
	return out, sum, nil
}

// orderTime is the time of an order key (orderKey); false when the key
// does not tell (not one, or beyond a time.Duration, which keys of dates
// up to maxDate never are).
func orderTime(key string) (time.Time, bool) {
	n, err := strconv.ParseUint(key, 16, 64)
	if err != nil || n >= math.MaxInt64 {
		return time.Time{}, false
	}
	return minDate.Add(time.Duration(n)), true
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
