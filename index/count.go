package index

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bindex "github.com/blevesearch/bleve_index_api"
)

// countParallelMin is the number of documents from which countHits splits
// the count over the cores; countParts, when not 0, the number of parts
// (tests). Variables for tests.
var (
	countParallelMin uint64 = 20000
	countParts              = 0
)

// countHits returns the number of documents q matches, as a bleve search
// without hits would. On a large index it counts ranges of the document
// numbers (scorch numbers a snapshot's documents from 0, segment after
// segment) on separate cores, all on one snapshot: counting a phrase of
// common words in 200,000 messages compares the word positions of every
// message holding them, tens of milliseconds on one core.
//
// When q matches at most keep documents, countHits also returns the first
// size of them newest first (after the order key after[0], when set;
// topHits): a search with few hits needs nothing more, and walking them all
// again in a sorted search would double its cost.
func countHits(ctx context.Context, idx bleve.Index, q query.Query, keep, size int, after []string) (uint64, search.DocumentMatchCollection, error) {
	ai, err := idx.Advanced()
	if err != nil {
		return 0, nil, err
	}
	r, err := ai.Reader()
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	var docs uint64 // document numbers, deleted ones included
	snap, ok := r.(*scorch.IndexSnapshot)
	if ok {
		_, docs = docNumbers(snap)
	}
	parts := countParts
	if parts == 0 {
		parts = runtime.GOMAXPROCS(0)
		if !ok || docs < countParallelMin || !hasPhrase(q) {
			// Terms count in a few milliseconds: splitting costs more
			// than it saves (a second searcher and a wake-up).
			parts = 1
		}
	}
	counts := make([]uint64, parts)
	nums := make([][]uint64, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := docs*uint64(p)/uint64(parts), docs*uint64(p+1)/uint64(parts)
		if p == parts-1 {
			hi = ^uint64(0)
		}
		wg.Go(func() { counts[p], nums[p], errs[p] = countRange(ctx, r, idx.Mapping(), q, lo, hi, keep) })
	}
	wg.Wait()
	var total uint64
	for p := range parts {
		if errs[p] != nil {
			return 0, nil, errs[p]
		}
		total += counts[p]
	}
	if total == 0 || total > uint64(keep) {
		return total, nil, nil
	}
	top := newTopHits(size, after)
	if err := top.add(r, slices.Concat(nums...)); err != nil {
		return 0, nil, err
	}
	hits, err := top.page(r)
	return total, hits, err
}

// docNumbers returns the first document number of each segment of snap
// and the number of all: scorch numbers a snapshot's documents from 0,
// segment after segment, each segment counting its deleted documents too.
func docNumbers(snap *scorch.IndexSnapshot) (offsets []uint64, total uint64) {
	segs := snap.Segments()
	offsets = make([]uint64, len(segs))
	for i, seg := range segs {
		offsets[i] = total
		total += uint64(seg.FullSize())
	}
	return offsets, total
}

// countRange counts the documents numbered lo up to hi (excluded) that q
// matches, and returns their numbers while there are at most keep.
func countRange(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping, q query.Query, lo, hi uint64, keep int) (uint64, []uint64, error) {
	// The phrase searchers keep to lo..hi themselves: the walk below
	// stops only at a hit, and bleve's conjunctions and disjunctions
	// start their parts with Next, not Advance; comparing positions
	// outside the range is another part's work.
	s, err := q.Searcher(context.WithValue(ctx, countRangeKey{}, [2]uint64{lo, hi}), r, m, search.SearcherOptions{Score: "none"})
	if err != nil {
		return 0, nil, err
	}
	defer s.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize()+1, 0), IndexReader: r}
	var dm *search.DocumentMatch
	if lo == 0 {
		dm, err = s.Next(sctx)
	} else {
		dm, err = s.Advance(sctx, bindex.NewIndexInternalID(nil, lo))
	}
	var n uint64
	var nums []uint64
	for ; dm != nil && err == nil; dm, err = s.Next(sctx) {
		num := dm.IndexInternalID.Value()
		if num >= hi {
			break
		}
		n++
		switch {
		case n <= uint64(keep):
			nums = append(nums, num)
		case nums != nil:
			nums = nil // too many to keep
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		sctx.DocumentMatchPool.Put(dm)
	}
	return n, nums, err
}

// countRangeKey is the context key of the range of document numbers
// ([2]uint64: from, up to excluded) a phraseSearcher made for countRange
// keeps to.
type countRangeKey struct{}

// hasPhrase reports whether q holds a phrase, the kind of query that is
// worth counting in parts.
func hasPhrase(q query.Query) bool {
	switch q := q.(type) {
	case *phraseQuery:
		return true
	case *query.BooleanQuery:
		return hasPhrase(q.Must) || hasPhrase(q.Should) || hasPhrase(q.MustNot)
	case *query.ConjunctionQuery:
		return slices.ContainsFunc(q.Conjuncts, hasPhrase)
	case *query.DisjunctionQuery:
		return slices.ContainsFunc(q.Disjuncts, hasPhrase)
	}
	return false
}
