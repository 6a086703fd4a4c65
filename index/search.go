package index

import (
	"context"
	"errors"
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// ErrQuery is wrapped by the errors of Search for a query that cannot be
// parsed or does not fit the mapping: the user's mistake, not the index's.
var ErrQuery = errors.New("bad query")

// Search limits.
const (
	defaultLimit = 50
	maxLimit     = 10000
	maxFuzziness = 2 // bleve's limit
)

// Hit is one matching message.
type Hit struct {
	ID    string // hex SHA-256, the archive key
	Score float64
}

// Result of a search.
type Result struct {
	Total uint64 // number of matching messages; Hits holds at most limit of them
	Hits  []Hit
	Took  time.Duration
}

// Search runs a query in bleve's query-string syntax (see doc.go) and returns
// up to limit hits (default 50 for limit <= 0, at most 10000), newest first,
// then by score. Messages without a date come last. The empty query matches
// every message.
func (ix *Index) Search(ctx context.Context, q string, limit int) (res *Result, err error) {
	defer func() {
		// A query must never take the daemon down.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("search %q: panic: %v", q, p)
		}
	}()
	qq, err := parseQuery(q)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	req := bleve.NewSearchRequestOptions(qq, limit, 0, false)
	req.SortByCustom(search.SortOrder{
		&search.SortField{Field: fieldDate, Desc: true, Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast},
		&search.SortScore{Desc: true},
	})
	sr, err := ix.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q, err)
	}
	r := &Result{Total: sr.Total, Took: sr.Took, Hits: make([]Hit, 0, len(sr.Hits))}
	for _, h := range sr.Hits {
		r.Hits = append(r.Hits, Hit{ID: h.ID, Score: h.Score})
	}
	return r, nil
}

// parseQuery parses a query string and fits it to the mapping: terms without
// a field search all of defaultFields, a term that analyzes to several tokens
// needs all of them, phrases become "all these words" (the index keeps no
// positions), and unknown fields or ranges on the wrong field are errors.
func parseQuery(s string) (query.Query, error) {
	if strings.TrimSpace(s) == "" {
		return query.NewMatchAllQuery(), nil
	}
	q, err := query.NewQueryStringQuery(s).Parse()
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrQuery, s, oneLine(err.Error()))
	}
	if q, err = rewrite(q); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrQuery, s, err)
	}
	if v, ok := q.(query.ValidatableQuery); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrQuery, s, oneLine(err.Error()))
		}
	}
	return q, nil
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", "; ")
}

func rewrite(q query.Query) (query.Query, error) {
	var err error
	switch q := q.(type) {
	case *query.BooleanQuery:
		for _, sub := range []*query.Query{&q.Must, &q.Should, &q.MustNot, &q.Filter} {
			if *sub != nil {
				if *sub, err = rewrite(*sub); err != nil {
					return nil, err
				}
			}
		}
	case *query.ConjunctionQuery:
		for i := range q.Conjuncts {
			if q.Conjuncts[i], err = rewrite(q.Conjuncts[i]); err != nil {
				return nil, err
			}
		}
	case *query.DisjunctionQuery:
		for i := range q.Disjuncts {
			if q.Disjuncts[i], err = rewrite(q.Disjuncts[i]); err != nil {
				return nil, err
			}
		}

	case *query.MatchPhraseQuery:
		m := query.NewMatchQuery(q.MatchPhrase)
		m.FieldVal, m.BoostVal, m.Fuzziness = q.FieldVal, q.BoostVal, q.Fuzziness
		return rewrite(m)
	case *query.MatchQuery:
		if q.Fuzziness > maxFuzziness {
			return nil, fmt.Errorf("fuzziness %d is more than %d", q.Fuzziness, maxFuzziness)
		}
		q.Operator = query.MatchQueryOperatorAnd
		switch q.FieldVal {
		case "":
			return allFields(q.BoostVal, func(f string) query.Query {
				c := *q
				c.FieldVal, c.BoostVal = f, nil
				return &c
			}), nil
		case fieldSize:
			if _, err := strconv.ParseFloat(q.Match, 64); err == nil {
				// From "size:123", next to the numeric range
				// that does the work.
				return query.NewMatchNoneQuery(), nil
			}
		}
		return q, textField(q.FieldVal)
	case *query.WildcardQuery:
		q.Wildcard = strings.ToLower(q.Wildcard) // indexed terms are lower case
		if q.FieldVal == "" {
			return allFields(q.BoostVal, func(f string) query.Query {
				c := *q
				c.FieldVal, c.BoostVal = f, nil
				return &c
			}), nil
		}
		return q, textField(q.FieldVal)
	case *query.RegexpQuery:
		if _, err := syntax.Parse(q.Regexp, syntax.Perl); err != nil {
			return nil, err
		}
		if q.FieldVal == "" {
			return allFields(q.BoostVal, func(f string) query.Query {
				c := *q
				c.FieldVal, c.BoostVal = f, nil
				return &c
			}), nil
		}
		return q, textField(q.FieldVal)

	case *query.NumericRangeQuery:
		switch q.FieldVal {
		case "":
			// A bare number also searches the text as a word.
			return query.NewMatchNoneQuery(), nil
		case fieldSize:
			return q, nil
		case fieldDate:
			return nil, errors.New(`date needs a quoted date, e.g. date:>="2024-01-31"`)
		}
		if err := fieldErr(q.FieldVal); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s is not a number field; only size is", q.FieldVal)
	case *query.DateRangeQuery:
		if q.FieldVal == fieldDate {
			return q, nil
		}
		if err := fieldErr(q.FieldVal); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s is not a date field; only date is", q.FieldVal)
	}
	return q, nil
}

func allFields(boost *query.Boost, f func(field string) query.Query) query.Query {
	qs := make([]query.Query, len(defaultFields))
	for i, name := range defaultFields {
		qs[i] = f(name)
	}
	d := query.NewDisjunctionQuery(qs)
	d.BoostVal = boost
	return d
}

// textField checks that a word query names a text field.
func textField(f string) error {
	if err := fieldErr(f); err != nil {
		return err
	}
	switch f {
	case fieldDate:
		return errors.New(`date takes a range, e.g. date:>="2024-01-31"`)
	case fieldSize:
		return errors.New("size takes a number or a range, e.g. size:>1000000")
	}
	return nil
}

func fieldErr(f string) error {
	if knownFields[f] {
		return nil
	}
	return fmt.Errorf("unknown field %q (fields: from, to, cc, rcpt, sender, subject, body, attachment, account, date, size)", f)
}
