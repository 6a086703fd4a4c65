package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// countTestIndex returns an index of 200 messages in 4 segments, some
// deleted and some replaced. Message i has the subject "message i" and
// "common purchase order" (every third "common order purchase"), is from
// user(i%5) and belongs to user(i%3)@contoso.com.
func countTestIndex(t *testing.T) *Index {
	t.Helper()
	ix := openTest(t)
	base := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	doc := func(i int, words string) *Document {
		return &Document{
			ID:      fmt.Sprintf("%064x", i),
			Date:    base.Add(-time.Duration(i) * time.Hour),
			Subject: fmt.Sprintf("message %d %s", i, words),
			From:    []string{fmt.Sprintf("user%d@contoso.com", i%5)},
			Owners:  []string{fmt.Sprintf("user%d@contoso.com", i%3)},
			Size:    int64(1000 + i),
		}
	}
	n := 0
	for batch := range 4 { // a segment per batch
		b := ix.Batch()
		for range 50 {
			words := "common purchase order"
			if n%3 == 0 {
				words = "common order purchase"
			}
			if err := b.Add(doc(n, words)); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if batch > 0 {
			for i := batch; i < n; i += 7 {
				b.Delete(fmt.Sprintf("%064x", i))
			}
			if err := b.Add(doc(batch*10, "replaced purchase order")); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(uint64(n)); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

// TestCountHits compares countHits, split into 1 to 5 parts, with bleve's
// count of the same query, on an index of several segments with deleted
// and replaced documents.
func TestCountHits(t *testing.T) {
	ix := countTestIndex(t)
	defer func(m uint64, p int) { countParallelMin, countParts = m, p }(countParallelMin, countParts)
	g, release := ix.current()
	defer release()
	for _, text := range []string{"", "common", `"purchase order"`, `"order purchase"`, "-common",
		"from:user1@contoso.com", "replaced", `common -"purchase order"`, "after:2024-05-30", "nothing"} {
		bq, err := parseQuery(text, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := bleve.NewSearchRequestOptions(bq, 0, 0, false)
		req.Score = bleve.ScoreNone
		want, err := g.idx.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		for parts := 1; parts <= 5; parts++ {
			countParallelMin, countParts = 0, parts
			got, _, err := countHits(context.Background(), g.idx, bq, 0, 0, nil)
			if err != nil || got != want.Total {
				t.Errorf("%q in %d parts: %d, %v; want %d", text, parts, got, err, want.Total)
			}
		}
	}
}

// TestMatchBitmaps compares matchBitmaps with walking the hits (countRange)
// and with bleve's count, for queries with and without an owner scope, on
// an index of several segments with deleted and replaced documents: the
// same number and the same documents, and bitmaps used exactly for the
// queries of terms, conjunctions, disjunctions and negations.
func TestMatchBitmaps(t *testing.T) {
	ix := countTestIndex(t)
	g, release := ix.current()
	defer release()
	ai, err := g.idx.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ai.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		t.Fatalf("reader is a %T; want a scorch snapshot", r)
	}
	if n := len(snap.Segments()); n < 2 {
		t.Fatalf("%d segments; want several", n)
	}
	scopes := [][]string{nil, {"user1@contoso.com"}, {"user2@contoso.com", "user0@contoso.com"}}
	for _, c := range []struct {
		text      string
		countable bool
	}{
		{"", true},
		{"common", true},
		{"-common", true},
		{"common OR replaced", true},
		{"from:user1@contoso.com", true},
		{"replaced", true},
		{"nothing", true},
		{"common -replaced", true},
		{"(common OR nothing) -from:user2@contoso.com", true},
		{"message 7", true}, // a posting list of one document
		{"message 8", true}, // of one deleted document
		{"message -8 -9 -(10 OR 11)", true},
		{`"purchase order"`, false},
		{`common -"purchase order"`, false},
		{"after:2024-05-30", false},
		{"purch*", true},
		{"replac* OR nothing", true},
		{"common -replac*", true},
		{"zzz*", true}, // no term
		{"10*", true},  // 10, 100-109: several terms
		{"19* OR 20*", true},
		{"from:user1*", true}, // a prefix in an address field
		{"messag* -\"purchase order\"", false},
	} {
		for _, owners := range scopes {
			bq, err := parseQuery(c.text, nil)
			if err != nil {
				t.Fatal(err)
			}
			if owners != nil {
				bq = scoped(bq, owners)
			}
			req := bleve.NewSearchRequestOptions(bq, 0, 0, false)
			req.Score = bleve.ScoreNone
			sr, err := g.idx.Search(req)
			if err != nil {
				t.Fatal(err)
			}
			wantN, wantNums, err := countRange(context.Background(), r, g.idx.Mapping(), bq, 0, ^uint64(0), 1000)
			if err != nil {
				t.Fatal(err)
			}
			h, ok, err := matchBitmaps(context.Background(), snap, bq)
			if err != nil || ok != c.countable {
				t.Errorf("%q %v: counted with bitmaps %v, %v; want %v", c.text, owners, ok, err, c.countable)
				continue
			}
			if !ok {
				continue
			}
			gotNums, err := h.nums(nil)
			switch {
			case err != nil:
				t.Errorf("%q %v: nums: %v", c.text, owners, err)
			case h.total != wantN || h.total != sr.Total:
				t.Errorf("%q %v: %d hits; want %d (bleve: %d)", c.text, owners, h.total, wantN, sr.Total)
			case !slices.Equal(gotNums, wantNums):
				t.Errorf("%q %v: hits %v; want %v", c.text, owners, gotNums, wantNums)
			}
		}
	}
}

// TestSearchBitmapsCanceled: a search on bitmaps whose context has ended
// fails with the context's error instead of answering.
func TestSearchBitmapsCanceled(t *testing.T) {
	ix := countTestIndex(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, text := range []string{"", "common", "purch*", "common -replaced", "replaced", "message 7", "nothing"} {
		if res, err := ix.Search(ctx, Query{Text: text, Scope: all}); !errors.Is(err, context.Canceled) {
			t.Errorf("%q with a canceled context: %v, %v; want context.Canceled", text, res, err)
		}
	}
}
