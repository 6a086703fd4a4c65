package index

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// phraseQuery finds words standing together, in order, in one text field:
// what bleve's MatchPhraseQuery finds, with the same scores, but checked by
// phraseSearcher. Bleve's phrase searcher builds maps of every location of
// every word for each message that holds all of them (about 1.5 µs a
// message, most of it allocation and garbage collection): a phrase of two
// common words in 100,000 messages took 60 ms, most of it there. Searches
// that ask for term locations or explanations (highlighting) still go to
// bleve's.
type phraseQuery struct {
	field string
	text  string   // as typed, for bleve's searcher
	words []string // analyzed, in order; "" where the analyzer left a gap
}

// newPhraseQuery is the phrase of the analyzed tokens ts of text (at least
// one).
func newPhraseQuery(field, text string, ts analysis.TokenStream) *phraseQuery {
	first, last := math.MaxInt, 0
	for _, t := range ts {
		first, last = min(first, t.Position), max(last, t.Position)
	}
	words := make([]string, last-first+1)
	for _, t := range ts {
		words[t.Position-first] = string(t.Term) // one token a position: no synonyms
	}
	return &phraseQuery{field: field, text: text, words: words}
}

// bleve is the same query for bleve's own phrase searcher.
func (q *phraseQuery) bleve() query.Query {
	mq := query.NewMatchPhraseQuery(q.text)
	mq.SetField(q.field)
	mq.Analyzer = analyzerText
	return mq
}

func (q *phraseQuery) Searcher(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	if options.IncludeTermVectors || options.Explain {
		return q.bleve().Searcher(ctx, r, m, options)
	}
	s := &phraseSearcher{}
	termOptions := options
	termOptions.IncludeTermVectors = true
	for i, w := range q.words {
		if w == "" {
			continue
		}
		ts, err := searcher.NewTermSearcher(ctx, r, w, q.field, 1, termOptions)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("phrase %q: %w", q.text, err)
		}
		s.terms = append(s.terms, ts)
		s.offsets = append(s.offsets, uint64(i))
	}
	switch len(s.terms) {
	case 0:
		return searcher.NewMatchNoneSearcher(r)
	case 1:
		return s.terms[0], nil
	}
	s.cur = make([]*search.DocumentMatch, len(s.terms))
	s.pos = make([][]phrasePos, len(s.terms))
	// As bleve's phrase searcher (a conjunction of the words) does.
	s.SetQueryNorm(1 / math.Sqrt(s.Weight()))
	return s, nil
}

// phraseSearcher walks the messages holding every word of a phrase (a
// conjunction of term searchers with term vectors) and returns those where
// the words stand at consecutive positions (offsets) in one value of the
// field. Its score is the conjunction's: the sum of the words' scores.
type phraseSearcher struct {
	terms   []search.Searcher
	offsets []uint64 // position of each word relative to the first's
	// cur is each word's current message; nil for cur[0] after a match was
	// handed out (next moves it on), or for all when a word has no more.
	cur     []*search.DocumentMatch
	started bool
	done    bool
	target  bindex.IndexInternalID
	pos     [][]phrasePos // scratch: each word's positions in the message
}

// phrasePos is a position in a field value. Values of an array field are
// told apart by their array position (array: 0 for none, else the index
// + 1); nested arrays, which jarchive's documents have none of, take the
// slow path in adjacent.
type phrasePos struct {
	array uint64
	pos   uint64
}

func (s *phraseSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	return s.Advance(ctx, nil)
}

// Advance returns the first phrase match at or after the message id (nil:
// the next one).
func (s *phraseSearcher) Advance(ctx *search.SearchContext, id bindex.IndexInternalID) (*search.DocumentMatch, error) {
	if s.done {
		return nil, nil
	}
	var err error
	if !s.started {
		s.started = true
		for i, t := range s.terms {
			if s.cur[i], err = t.Next(ctx); err != nil || s.cur[i] == nil {
				return s.finish(ctx, err)
			}
		}
	} else if s.cur[0] == nil {
		if s.cur[0], err = s.terms[0].Next(ctx); err != nil || s.cur[0] == nil {
			return s.finish(ctx, err)
		}
	}
	s.target = append(s.target[:0], id...)
	for {
		// Bring every word to the same message, the greatest of theirs.
		for aligned := false; !aligned; {
			aligned = true
			for i, t := range s.terms {
				c := s.cur[i].IndexInternalID.Compare(s.target)
				if c < 0 {
					// Only forward: scorch's Advance to a message at or
					// before the current one starts the term over.
					ctx.DocumentMatchPool.Put(s.cur[i])
					if s.cur[i], err = t.Advance(ctx, s.target); err != nil || s.cur[i] == nil {
						return s.finish(ctx, err)
					}
					c = s.cur[i].IndexInternalID.Compare(s.target)
				}
				if c > 0 {
					s.target = append(s.target[:0], s.cur[i].IndexInternalID...)
					aligned = false
				}
			}
		}
		if s.adjacent() {
			rv := s.cur[0]
			for _, c := range s.cur[1:] {
				rv.Score += c.Score
			}
			rv.FieldTermLocations = rv.FieldTermLocations[:0]
			s.cur[0] = nil // the others are passed by the next alignment
			return rv, nil
		}
		ctx.DocumentMatchPool.Put(s.cur[0])
		if s.cur[0], err = s.terms[0].Next(ctx); err != nil || s.cur[0] == nil {
			return s.finish(ctx, err)
		}
	}
}

// finish returns the current messages to the pool after the last match or
// an error.
func (s *phraseSearcher) finish(ctx *search.SearchContext, err error) (*search.DocumentMatch, error) {
	s.done = true
	for i, c := range s.cur {
		if c != nil {
			ctx.DocumentMatchPool.Put(c)
			s.cur[i] = nil
		}
	}
	return nil, err
}

// adjacent reports whether the words of the current message (every cur at
// the same message) stand one after another somewhere in it.
func (s *phraseSearcher) adjacent() bool {
	for i, c := range s.cur {
		p := s.pos[i][:0]
		sorted := true
		for _, l := range c.FieldTermLocations {
			var a uint64
			switch len(l.Location.ArrayPositions) {
			case 0:
			case 1:
				a = l.Location.ArrayPositions[0] + 1
			default:
				return s.adjacentNested()
			}
			np := phrasePos{a, l.Location.Pos}
			if len(p) > 0 && comparePos(p[len(p)-1], np) > 0 {
				sorted = false
			}
			p = append(p, np)
		}
		if !sorted {
			slices.SortFunc(p, comparePos)
		}
		s.pos[i] = p
	}
next:
	for _, p0 := range s.pos[0] {
		for i := 1; i < len(s.pos); i++ {
			want := phrasePos{p0.array, p0.pos + s.offsets[i]}
			if _, ok := slices.BinarySearchFunc(s.pos[i], want, comparePos); !ok {
				continue next
			}
		}
		return true
	}
	return false
}

func comparePos(a, b phrasePos) int {
	if a.array != b.array {
		if a.array < b.array {
			return -1
		}
		return 1
	}
	switch {
	case a.pos < b.pos:
		return -1
	case a.pos > b.pos:
		return 1
	}
	return 0
}

// adjacentNested is adjacent for locations with nested array positions,
// by comparing every location of the first word with every other's.
func (s *phraseSearcher) adjacentNested() bool {
next:
	for _, l0 := range s.cur[0].FieldTermLocations {
		for i := 1; i < len(s.cur); i++ {
			found := false
			for _, l := range s.cur[i].FieldTermLocations {
				if l.Location.Pos == l0.Location.Pos+s.offsets[i] && slices.Equal(l.Location.ArrayPositions, l0.Location.ArrayPositions) {
					found = true
					break
				}
			}
			if !found {
				continue next
			}
		}
		return true
	}
	return false
}

func (s *phraseSearcher) Close() error {
	var first error
	for _, t := range s.terms {
		if err := t.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *phraseSearcher) Weight() float64 {
	var w float64
	for _, t := range s.terms {
		w += t.Weight()
	}
	return w
}

func (s *phraseSearcher) SetQueryNorm(norm float64) {
	for _, t := range s.terms {
		t.SetQueryNorm(norm)
	}
}

// Count is an upper bound: the rarest word's count.
func (s *phraseSearcher) Count() uint64 {
	n := uint64(math.MaxUint64)
	for _, t := range s.terms {
		n = min(n, t.Count())
	}
	return n
}

func (s *phraseSearcher) Min() int { return 0 }

func (s *phraseSearcher) Size() int {
	n := 64
	for _, t := range s.terms {
		n += t.Size()
	}
	return n
}

func (s *phraseSearcher) DocumentMatchPoolSize() int {
	n := 1
	for _, t := range s.terms {
		n += t.DocumentMatchPoolSize()
	}
	return n
}
