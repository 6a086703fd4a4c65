package index

import (
	"bytes"
	"container/heap"
	"slices"

	"github.com/blevesearch/bleve/v2/search"
	bindex "github.com/blevesearch/bleve_index_api"
)

// keptHit is a hit that topHits keeps: its document number and order key
// (the value of fieldOrder, "" when it has none).
type keptHit struct {
	num   uint64
	order string
}

// topHits keeps the newest size of the hits it is given (after the order
// key after[0], when set), as bleve's search sorted by date (byDate) with
// SearchAfter orders them: by order key (unique but for rare ties, see
// sortDate), descending, then by document number; those without a key
// last. A month of a large archive holds tens of thousands of messages,
// and sorting them all, or reading their ids, costs more than reading
// their order keys: the hits kept are a heap of size, worst first, and only
// their ids are read (page).
type topHits struct {
	size  int
	after []byte
	seen  int // hits after the cursor given to add
	kept  []keptHit
}

func newTopHits(size int, after []string) *topHits {
	t := &topHits{size: size, kept: make([]keptHit, 0, size)}
	if after != nil {
		t.after = []byte(after[0])
	}
	return t
}

// before reports whether the hit (order, num) comes before h, newest
// first.
func before(order []byte, num uint64, h *keptHit) bool {
	switch c := bytes.Compare(order, []byte(h.order)); {
	case c == 0:
		return num < h.num
	case len(order) == 0:
		return false
	case h.order == "":
		return true
	default:
		return c > 0
	}
}

// add reads the order keys of the documents numbered nums and keeps those
// that are among the newest.
func (t *topHits) add(r bindex.IndexReader, nums []uint64) error {
	if t.size <= 0 {
		return nil
	}
	dvr, err := r.DocValueReader([]string{fieldOrder})
	if err != nil {
		return err
	}
	var iid bindex.IndexInternalID
	for _, n := range nums {
		iid = bindex.NewIndexInternalID(iid, n)
		var order []byte
		if err := dvr.VisitDocValues(iid, func(_ string, term []byte) { order = term }); err != nil {
			return err
		}
		if t.after != nil && len(order) > 0 && bytes.Compare(order, t.after) >= 0 {
			continue
		}
		t.seen++
		switch {
		case len(t.kept) < t.size:
			heap.Push(t, keptHit{num: n, order: string(order)})
		case before(order, n, &t.kept[0]):
			t.kept[0] = keptHit{num: n, order: string(order)}
			heap.Fix(t, 0)
		}
	}
	return nil
}

// The heap of kept hits, worst first (container/heap).
func (t *topHits) Len() int { return len(t.kept) }
func (t *topHits) Less(i, j int) bool {
	return before([]byte(t.kept[j].order), t.kept[j].num, &t.kept[i])
}
func (t *topHits) Swap(i, j int) { t.kept[i], t.kept[j] = t.kept[j], t.kept[i] }
func (t *topHits) Push(x any)    { t.kept = append(t.kept, x.(keptHit)) }
func (t *topHits) Pop() any {
	h := t.kept[len(t.kept)-1]
	t.kept = t.kept[:len(t.kept)-1]
	return h
}

// page returns the kept hits newest first, with their ids, as bleve's hits
// of a search sorted by date.
func (t *topHits) page(r bindex.IndexReader) (search.DocumentMatchCollection, error) {
	slices.SortFunc(t.kept, func(a, b keptHit) int {
		if before([]byte(a.order), a.num, &b) {
			return -1
		}
		return 1
	})
	hits := make(search.DocumentMatchCollection, len(t.kept))
	var iid bindex.IndexInternalID
	for i, h := range t.kept {
		iid = bindex.NewIndexInternalID(iid, h.num)
		id, err := r.ExternalID(iid)
		if err != nil {
			return nil, err
		}
		hits[i] = &search.DocumentMatch{ID: id, DecodedSort: []string{h.order}}
	}
	return hits, nil
}
