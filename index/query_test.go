package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQueryErrors is the table of bad queries: each gives exactly this
// error, with the column of the problem.
func TestQueryErrors(t *testing.T) {
	tests := []struct{ query, err string }{
		{`subject:`, `column 1: subject: needs a value, as in subject:word`},
		{`budget from: anna`, `column 8: from: needs a value, as in from:anna@contoso.com`},
		{`"unterminated`, `column 1: phrase is never closed: a " is missing`},
		{`budget subject:"open`, `column 16: phrase is never closed: a " is missing`},
		{`(budget OR plan`, `column 1: ( is never closed: a ) is missing`},
		{`budget)`, `column 7: unexpected ) without a matching (`},
		{`()`, `column 1: empty parentheses`},
		{`a ( ) b`, `column 3: empty parentheses`},
		{`OR budget`, `column 1: OR needs a term before it`},
		{`budget OR`, `column 8: OR needs a term after it`},
		{`budget OR OR plan`, `column 8: OR needs a term after it`},
		{`(OR x)`, `column 2: OR needs a term before it`},
		{`AND budget`, `column 1: AND needs a term before it`},
		{`budget AND`, `column 8: AND needs a term after it`},
		{`budget -`, `column 8: "-" needs a term right after it, as in -word`},
		{`- budget`, `column 1: "-" needs a term right after it, as in -word`},
		{`--budget`, `column 1: "--": one "-" excludes`},
		{`+budget`, `column 1: "+" is not needed: all words must match unless joined by OR`},
		{`xyzzy:1`, `column 1: unknown operator "xyzzy:" (operators: from to cc bcc rcpt sender subject body attachment filename id msgid owner account has after before larger smaller; to search for text with a colon, quote it: "xyzzy:1")`},
		{`Müller subjet:plan`, `column 8: unknown operator "subjet:"; did you mean "subject:"? (to search for text with a colon, quote it: "subjet:plan")`},
		{`https://contoso.com`, `column 1: unknown operator "https:" (operators: from to cc bcc rcpt sender subject body attachment filename id msgid owner account has after before larger smaller; to search for text with a colon, quote it: "https://contoso.com")`},
		{`in*voice`, `column 3: "*" works only at the end of a word, as in invoic*`},
		{`i*`, `column 1: "i*": a word with * needs at least 2 characters before it`},
		{`budget ---`, `column 8: "--": one "-" excludes`},
		{`!!!`, `column 1: !!! has no letters or digits to search for`},
		{`subject:"..."`, `column 9: subject:"..." has no letters or digits to search for`},
		{`has:pdf`, `column 5: has: "pdf" is not one of attachment`},
		{`after:2024-13-01`, `column 7: after: "2024-13-01" is not a date: use YYYY-MM-DD, YYYY-MM or YYYY`},
		{`before:yesterday`, `column 8: before: "yesterday" is not a date: use YYYY-MM-DD, YYYY-MM or YYYY`},
		{`after:1899-12-31`, `column 7: after: "1899-12-31" is not a date: out of range 1900 to 2190`},
		{`larger:5XB`, `column 8: larger: "5XB" is not a size such as 5MB, 200KB or 1MiB`},
		{`smaller:-1`, `column 9: smaller: "-1" is not a size such as 5MB, 200KB or 1MiB`},
		{`after:"2024-01-01"`, `column 7: after: takes no quoted phrase`},
		{`larger:5MB*`, `column 8: larger: takes no *`},
		{`after:(2024 OR 2023)`, `column 7: after: takes one value, not a group`},
		{`id:xyz`, `column 4: id: "xyz" is not a message ID (8 to 64 hex digits)`},
		{`id:abc`, `column 4: id: "abc" is not a message ID (8 to 64 hex digits)`},
		{`owner:`, `column 1: owner: needs a value, as in owner:anna@contoso.com`},
		{`from:(anna OR`, `column 12: OR needs a term after it`},
		{strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40), `column 33: nested deeper than 32`},
		{strings.Repeat("a ", 300), `column 513: more than 256 terms`},
		{strings.Repeat("a", 5000), `column 4097: query is longer than 4096 bytes`},
		{"caf\xe9", `column 4: query is not valid UTF-8`},
	}
	for _, tt := range tests {
		_, err := parseQuery(tt.query, nil)
		var qe *QueryError
		if !errors.As(err, &qe) || !errors.Is(err, ErrQuery) {
			t.Errorf("parseQuery(%q) = %v; want a *QueryError", tt.query, err)
			continue
		}
		if got := fmt.Sprintf("column %d: %s", qe.Column, qe.Msg); got != tt.err {
			t.Errorf("parseQuery(%q) error:\n got: %s\nwant: %s", tt.query, got, tt.err)
		}
		if want := "bad query: " + tt.err; err.Error() != want {
			t.Errorf("parseQuery(%q).Error() = %q; want %q", tt.query, err.Error(), want)
		}
	}
}

func TestQueryErrorCaret(t *testing.T) {
	_, err := parseQuery("Müller\tsubjet:plan", nil)
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("parseQuery = %v; want a *QueryError", err)
	}
	want := "Müller subjet:plan\n       ^"
	if got := qe.Caret(); got != want {
		t.Errorf("Caret() =\n%s\nwant\n%s", got, want)
	}
}

// TestQueryGood checks queries that must parse, whatever they find.
func TestQueryGood(t *testing.T) {
	for _, q := range []string{
		"", "   ", "a", "a b", "a OR b", "a AND b", "-a", "-(a b)", "(a)", "((a))", `"a b"`, `-"a b"`,
		"from:(a OR b) -to:c", "10:30", "re:", "or and", `"OR"`, "from:anna.berg@contoso.com", "e-mail",
		"a-b-c", "xy*", "from:ann*", "id:0123abcd*", "msgid:<a@b>", "owner:a@b.c", "larger:1", "smaller:1.5MiB",
		"after:2024 before:2025-06", "has:ATTACHMENT", "Subject:x", "FROM:x", "a -b OR c", "ünïcödé", "日本語",
		`from:"Anna Berg"`, "a:", ":a", "Re: plan", "RE:", "AW:(x)",
	} {
		if _, err := parseQuery(q, nil); err != nil {
			t.Errorf("parseQuery(%q) = %v; want no error", q, err)
		}
	}
}

// newTestIndex indexes n synthetic messages, one an hour back from a fixed
// time, several in the same second to exercise the tie-break.
func newTestIndex(t *testing.T, n int) (*Index, []string) {
	ix := openTest(t)
	b := ix.Batch()
	var ids []string
	base := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("%064x", i*7919+1)
		ids = append(ids, id)
		words := "common"
		if i%3 == 0 {
			words += " third"
		}
		d := &Document{
			ID:      id,
			Date:    base.Add(-time.Duration(i/4) * time.Hour), // four per second
			Subject: fmt.Sprintf("message %d %s", i, words),
			From:    []string{fmt.Sprintf("user%d@contoso.com", i%5)},
			Owners:  []string{fmt.Sprintf("user%d@contoso.com", i%5)},
			Size:    int64(1000 + i),
		}
		if i == n-1 {
			d.Date = time.Time{}
		}
		if err := b.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(uint64(n)); err != nil {
		t.Fatal(err)
	}
	return ix, ids
}

// TestPaging pages through results with cursors: every hit once, in the
// order of one big page, for both sorts and a scope, with hits kept by the
// count, with hits sorted by bleve in windows of months (byDateDirect 0)
// and with bitmaps, four messages a second.
func TestPaging(t *testing.T) {
	ix, _ := newTestIndex(t, 103)
	ctx := context.Background()
	defer func(d uint64, b bool) { byDateDirect, useBitmaps = d, b }(byDateDirect, useBitmaps)
	scope := Scope{Owners: []string{"user1@contoso.com", "User2@Contoso.com"}}
	for _, tc := range []struct {
		text    string
		sort    Sort
		scope   Scope
		direct  uint64
		bitmaps bool
	}{
		{"", SortDate, all, 4096, false},
		{"", SortDate, all, 0, false},
		{"", SortDate, all, 0, true},
		{"common", SortDate, all, 4096, false},
		{"common", SortDate, all, 0, false},
		{"common", SortDate, all, 0, true},
		{`"message 1"`, SortDate, all, 4096, true},
		{"third OR common", SortRelevance, all, 4096, true},
		{"common", SortDate, scope, 4096, false},
		{"common", SortDate, scope, 0, false},
		{"common", SortDate, scope, 0, true},
	} {
		byDateDirect, useBitmaps = 4096, false // the reference: one sort
		full, err := ix.Search(ctx, Query{Text: tc.text, Sort: tc.sort, Scope: tc.scope, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		byDateDirect, useBitmaps = tc.direct, tc.bitmaps
		if full.Next != "" {
			t.Errorf("%q: one page holds all, but Next = %q", tc.text, full.Next)
		}
		var paged []string
		after := ""
		for pages := 0; ; pages++ {
			res, err := ix.Search(ctx, Query{Text: tc.text, Sort: tc.sort, Scope: tc.scope, Limit: 10, After: after})
			if err != nil {
				t.Fatalf("%q page %d: %v", tc.text, pages, err)
			}
			if res.Total != full.Total {
				t.Errorf("%q page %d: total %d; want %d", tc.text, pages, res.Total, full.Total)
			}
			for _, h := range res.Hits {
				paged = append(paged, h.ID)
			}
			if res.Next == "" {
				break
			}
			if len(res.Hits) != 10 {
				t.Fatalf("%q page %d: %d hits with a next page", tc.text, pages, len(res.Hits))
			}
			if uint64(len(paged)) > full.Total {
				t.Fatalf("%q: the pages give more than the %d hits", tc.text, full.Total)
			}
			after = res.Next
		}
		var want []string
		for _, h := range full.Hits {
			want = append(want, h.ID)
		}
		if !slices.Equal(paged, want) {
			t.Errorf("%q %v (direct %d, bitmaps %v): pages give %d hits, one page %d; differ", tc.text, tc.sort, tc.direct, tc.bitmaps, len(paged), len(want))
		}
	}
	// Owners see only their own.
	res, err := ix.Search(ctx, Query{Scope: Scope{Owners: []string{"user1@contoso.com"}}, Limit: MaxLimit})
	if err != nil || res.Total != 21 {
		t.Errorf("scoped search = %v, %v; want 21 hits", res, err)
	}
	// The undated message is last.
	res, _ = ix.Search(ctx, Query{Scope: all, Limit: MaxLimit})
	if last := res.Hits[len(res.Hits)-1].ID; last != fmt.Sprintf("%064x", 102*7919+1) {
		t.Errorf("last hit %s; want the undated message", last)
	}
}

func TestSearchErrors(t *testing.T) {
	ix, _ := newTestIndex(t, 3)
	ctx := context.Background()
	if _, err := ix.Search(ctx, Query{Text: "common"}); !errors.Is(err, ErrScope) {
		t.Errorf("Search without scope = %v; want ErrScope", err)
	}
	if _, err := ix.Search(ctx, Query{Text: "common", Scope: Scope{Owners: []string{" "}}}); !errors.Is(err, ErrScope) {
		t.Errorf("Search with blank owner = %v; want ErrScope", err)
	}
	res, err := ix.Search(ctx, Query{Scope: all, Limit: 1})
	if err != nil || res.Next == "" {
		t.Fatalf("Search = %v, %v; want a next page", res, err)
	}
	for _, c := range []struct {
		after string
		sort  Sort
	}{{"!!", SortDate}, {"bm90IGpzb24", SortDate}, {res.Next, SortRelevance}, {"WyJkIiwieCJd", SortDate}} {
		if _, err := ix.Search(ctx, Query{Scope: all, After: c.after, Sort: c.sort}); !errors.Is(err, ErrQuery) {
			t.Errorf("Search(After %q, sort %d) = %v; want ErrQuery", c.after, c.sort, err)
		}
	}
}

func TestSortDate(t *testing.T) {
	id := strings.Repeat("f", 64)
	d := time.Date(2024, 1, 31, 23, 59, 59, 0, time.FixedZone("x", 3600))
	got := sortDate(d, id)
	if got.Truncate(time.Second) != d.UTC() || got.Sub(d) >= time.Second {
		t.Errorf("sortDate(%v) = %v; want within its second", d, got)
	}
	if got := sortDate(time.Time{}, id); got.Truncate(time.Second) != minDate {
		t.Errorf("sortDate(zero) = %v; want %v", got, minDate)
	}
	if got := sortDate(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), id); got.Truncate(time.Second) != maxDate {
		t.Errorf("sortDate(9999) = %v; want %v", got, maxDate)
	}
	if sortDate(d, id) == sortDate(d, strings.Repeat("e", 64)) {
		t.Errorf("sortDate gives two IDs the same value")
	}
	// Order keys stay unique at the clamp (paging relies on it).
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if a, b := orderKey(sortDate(far, id)), orderKey(sortDate(far, strings.Repeat("e", 64))); a == b {
		t.Errorf("orderKey of two messages dated 9999: both %s", a)
	}
}

// TestSearchByDateWindows checks searchByDate's month windows and its
// bitmaps against one sorted search: the same hits in the same order, page after page, for
// words of every share of the messages, scopes, and messages without a date
// or with one beyond orderKey's range.
func TestSearchByDateWindows(t *testing.T) {
	ix := openTest(t)
	b := ix.Batch()
	base := time.Date(2025, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 700 {
		words := []string{"all"}
		for _, k := range []int{2, 7, 50, 333} {
			if i%k == 0 {
				words = append(words, fmt.Sprintf("every%d", k))
			}
		}
		d := &Document{
			ID:      fmt.Sprintf("%064x", i*104729+3),
			Date:    base.Add(-time.Duration(i*i%997) * 29 * time.Hour), // months out of order
			Subject: strings.Join(words, " "),
			Owners:  []string{fmt.Sprintf("u%d", i%3)},
		}
		switch i {
		case 5, 6:
			d.Date = time.Time{}
		case 7:
			d.Date = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
		case 8:
			d.Date = time.Date(2190, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if err := b.Add(d); err != nil {
			t.Fatal(err)
		}
		if b.Len() == 100 {
			if err := b.Commit(uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Commit(700); err != nil {
		t.Fatal(err)
	}
	pages := func(text string, scope Scope, limit int) (uint64, []string) {
		t.Helper()
		var ids []string
		after := ""
		var total uint64
		for {
			res, err := ix.Search(context.Background(), Query{Text: text, Scope: scope, Limit: limit, After: after})
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			total = res.Total
			for _, h := range res.Hits {
				ids = append(ids, h.ID)
			}
			if res.Next == "" {
				return total, ids
			}
			if uint64(len(ids)) > total {
				t.Fatalf("%q %v limit %d: the pages give more than the %d hits", text, scope, limit, total)
			}
			after = res.Next
		}
	}
	defer func(v uint64, b bool) { byDateDirect, useBitmaps = v, b }(byDateDirect, useBitmaps)
	for _, text := range []string{"", "all", "every2", "every7", "every50", "every333", "every7 OR every50", "-every2", "every*", "every3* -every2"} {
		for _, scope := range []Scope{all, {Owners: []string{"u1"}}} {
			for _, limit := range []int{1, 7, 50, 1000} {
				byDateDirect, useBitmaps = math.MaxUint64, false
				wantTotal, want := pages(text, scope, limit)
				for _, way := range []struct {
					name    string
					direct  uint64
					bitmaps bool
				}{{"windows", 0, false}, {"bitmaps", 0, true}} {
					byDateDirect, useBitmaps = way.direct, way.bitmaps
					gotTotal, got := pages(text, scope, limit)
					if gotTotal != wantTotal || !slices.Equal(got, want) {
						t.Errorf("%q %v limit %d: %s give %d hits (total %d), one sort %d (total %d); differ",
							text, scope, limit, way.name, len(got), gotTotal, len(want), wantTotal)
					}
				}
			}
		}
	}
}
