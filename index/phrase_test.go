package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2"
)

// TestPhraseSearcher checks phraseSearcher's hits against a table and its
// hits and scores against bleve's phrase searcher (which a search asking
// for explanations still uses), for phrases in one field and in all, sorted
// by relevance and by date.
func TestPhraseSearcher(t *testing.T) {
	long := strings.Repeat("x", maxTextToken+1) // dropped by the analyzer: a gap
	bodies := []string{
		"the purchase order is attached",
		"order purchase",
		"purchase a order",
		"purchase order purchase order, a purchase order again",
		"purchase " + long + " order",
		"Purchase-Order 4711 from Müller",
		"nothing here but purchase and order",
	}
	raws := make([]string, len(bodies))
	for i, body := range bodies {
		raws[i] = fmt.Sprintf("From: anna@contoso.com\r\nTo: bob@contoso.com\r\nSubject: note %d\r\nDate: Mon, 2 Sep 2024 10:%02d:00 +0000\r\nMessage-ID: <%d@contoso.com>\r\n\r\n%s\r\n", i, i, i, body)
	}
	ix := indexNumbered(t, raws)
	g, release := ix.current()
	defer release()
	for _, tc := range []struct {
		query string
		want  []int // bodies, in any order
	}{
		{`"purchase order"`, []int{0, 3, 5}},
		{`body:"purchase order"`, []int{0, 3, 5}},
		{`"order purchase"`, []int{1, 3}},
		{`"purchase a order"`, []int{2}},
		{`"purchase order purchase order"`, []int{3}},
		// The dropped word is a gap any word fills, as in bleve.
		{`"purchase ` + long + ` order"`, []int{2, 4, 6}},
		{`"purchase order 4711 from muller"`, []int{5}},
		{`"order again"`, []int{3}},
		{`"purchase order again"`, []int{3}},
		{`"order purchase order a"`, []int{3}},
		{`"order again purchase"`, nil},
		{`"purchase order" -"order purchase"`, []int{0, 5}},
		{`"purchase order" OR "nothing here"`, []int{0, 3, 5, 6}},
		{`"order attached"`, nil},
		{`subject:"note 3"`, []int{3}},
		{`"note 4" "purchase order"`, nil},
	} {
		bq, err := parseQuery(tc.query, nil)
		if err != nil {
			t.Fatalf("parseQuery(%q) = %v", tc.query, err)
		}
		for _, explain := range []bool{false, true} {
			req := bleve.NewSearchRequestOptions(bq, 100, 0, explain)
			sr, err := g.idx.Search(req)
			if err != nil {
				t.Fatalf("%q (explain %v): %v", tc.query, explain, err)
			}
			var got []int
			for _, h := range sr.Hits {
				var n int
				fmt.Sscanf(h.ID, "%x", &n)
				got = append(got, n)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q (explain %v): got bodies %v; want %v", tc.query, explain, got, tc.want)
			}
		}
		// The same scores as bleve's searcher (used with Explain).
		fast, _ := g.idx.Search(bleve.NewSearchRequestOptions(bq, 100, 0, false))
		slow, _ := g.idx.Search(bleve.NewSearchRequestOptions(bq, 100, 0, true))
		for i := range min(len(fast.Hits), len(slow.Hits)) {
			f, s := fast.Hits[i], slow.Hits[i]
			if f.ID != s.ID || math.Abs(f.Score-s.Score) > 1e-9*s.Score {
				t.Errorf("%q hit %d: got %s score %g; bleve's phrase searcher %s score %g", tc.query, i, f.ID[60:], f.Score, s.ID[60:], s.Score)
			}
		}
		// Through Search, newest first: the same set.
		res := searchAll(t, ix, tc.query)
		if res.Total != uint64(len(tc.want)) {
			t.Errorf("Search(%q): total %d; want %d", tc.query, res.Total, len(tc.want))
		}
	}
}

// TestPhraseSearcherRandom compares phraseSearcher with bleve's phrase
// searcher on messages and phrases drawn from a vocabulary of five words,
// so that words repeat within messages and phrases match in many ways.
func TestPhraseSearcherRandom(t *testing.T) {
	vocab := []string{"alpha", "beta", "gamma", "delta", "eps"}
	rng := rand.New(rand.NewPCG(3, 4))
	words := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(ws, " ")
	}
	raws := make([]string, 300)
	for i := range raws {
		raws[i] = fmt.Sprintf("From: a@contoso.com\r\nSubject: %s\r\nMessage-ID: <%d@contoso.com>\r\n\r\n%s\r\n", words(1+rng.IntN(4)), i, words(2+rng.IntN(40)))
	}
	ix := indexNumbered(t, raws)
	g, release := ix.current()
	defer release()
	matched := 0
	for range 200 {
		text := `"` + words(2+rng.IntN(3)) + `"`
		if rng.IntN(3) == 0 {
			text = "body:" + text
		}
		bq, err := parseQuery(text, nil)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := g.idx.Search(bleve.NewSearchRequestOptions(bq, 300, 0, false))
		if err != nil {
			t.Fatal(err)
		}
		slow, err := g.idx.Search(bleve.NewSearchRequestOptions(bq, 300, 0, true))
		if err != nil {
			t.Fatal(err)
		}
		if fast.Total != slow.Total {
			t.Errorf("%s: %d hits; bleve's phrase searcher %d", text, fast.Total, slow.Total)
			continue
		}
		if slow.Total > 0 {
			matched++
		}
		for i := range fast.Hits {
			f, s := fast.Hits[i], slow.Hits[i]
			if f.ID != s.ID || math.Abs(f.Score-s.Score) > 1e-9*s.Score {
				t.Errorf("%s hit %d: got %s score %g; bleve's %s score %g", text, i, f.ID[60:], f.Score, s.ID[60:], s.Score)
				break
			}
		}
	}
	if matched < 100 {
		t.Errorf("only %d of 200 phrases matched anything; the test needs more", matched)
	}
}

// indexNumbered indexes the messages raws, each with its number in raws as
// its ID (in hex, 64 digits).
func indexNumbered(t *testing.T, raws []string) *Index {
	ix := openTest(t)
	b := ix.Batch()
	for i, raw := range raws {
		d := testDocument([]byte(raw))
		d.ID = fmt.Sprintf("%064x", i)
		if err := b.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(1); err != nil {
		t.Fatal(err)
	}
	return ix
}
