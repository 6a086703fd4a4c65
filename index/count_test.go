package index

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
)

// TestCountHits compares countHits, split into 1 to 5 parts, with bleve's
// count of the same query, on an index of several segments with deleted
// and replaced documents.
func TestCountHits(t *testing.T) {
	ix := openTest(t)
	base := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	doc := func(i int, words string) *Document {
		return &Document{
			ID:      fmt.Sprintf("%064x", i),
			Date:    base.Add(-time.Duration(i) * time.Hour),
			Subject: fmt.Sprintf("message %d %s", i, words),
			From:    []string{fmt.Sprintf("user%d@contoso.com", i%5)},
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
			got, _, err := countHits(context.Background(), g.idx, bq, 0)
			if err != nil || got != want.Total {
				t.Errorf("%q in %d parts: %d, %v; want %d", text, parts, got, err, want.Total)
			}
		}
	}
}
