package web

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"jarchive/archive"
	"jarchive/index"
	"jarchive/journal"
)

// hit is one line of a result list.
type hit struct {
	ID         string              `json:"id"`
	Date       time.Time           `json:"date,omitzero"`
	From       []string            `json:"from,omitempty"`
	To         []string            `json:"to,omitempty"`
	Subject    string              `json:"subject"`
	Size       int64               `json:"size"`
	Attachment bool                `json:"has_attachment"`
	Recipients []journal.Recipient `json:"-"`
}

// results is a page of a search.
type results struct {
	Query string `json:"query"`
	Total uint64 `json:"total"`
	Hits  []hit  `json:"hits"`
	Next  string `json:"next,omitempty"`
}

// errForbiddenScope is a search as another user by someone who may not.
var errForbiddenScope = errors.New("only auditors may search as another user")

// scope is what the caller may search: everything for auditors (or one
// user's mail when they ask for it with as), their own mail for everyone
// else.
func (s *Server) scope(p *principal, as string) (index.Scope, error) {
	if as != "" {
		u, ok := s.opts.Directory().Lookup(as)
		switch {
		case ok && strings.EqualFold(u.Name, p.Name):
		case !p.Role.SeesAll():
			return index.Scope{}, errForbiddenScope
		case !ok:
			return index.Scope{}, fmt.Errorf("no such user %q", as)
		case u.Role.SeesAll():
			return index.Scope{All: true}, nil
		default:
			return index.Scope{Owners: []string{u.Name}}, nil
		}
	}
	if p.Role.SeesAll() {
		return index.Scope{All: true}, nil
	}
	if p.Name == "" {
		// A token without a user and without the auditor role: no
		// mail. No owner is named this (names are letters, digits and
		// . _ - @ + ').
		return index.Scope{Owners: []string{"\x00nobody"}}, nil
	}
	return index.Scope{Owners: []string{p.Name}}, nil
}

// search runs one page of q for p.
func (s *Server) search(ctx context.Context, p *principal, q index.Query) (*results, error) {
	res, err := s.opts.Index.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &results{Query: q.Text, Total: res.Total, Next: res.Next, Hits: []hit{}}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		rec, err := s.opts.Archive.Get(h.ID)
		if errors.Is(err, archive.ErrNotFound) {
			continue // the index is behind a removal
		} else if err != nil {
			return nil, fmt.Errorf("hit %s: %w", h.ID, err)
		}
		if !canSee(p, rec) {
			continue // the index is behind a reassignment
		}
		out.Hits = append(out.Hits, hit{ID: rec.ID, Date: rec.Header.Date, From: rec.Header.From, To: rec.Header.To,
			Subject: rec.Header.Subject, Size: rec.Size, Recipients: rec.Recipients})
		ids = append(ids, rec.ID)
	}
	// The attachment marker: which of the page's messages has one.
	if len(ids) > 0 {
		withAtt, err := s.opts.Index.Search(ctx, index.Query{Text: "has:attachment (id:" + strings.Join(ids, " OR id:") + ")",
			Scope: q.Scope, Limit: len(ids)})
		if err == nil {
			has := map[string]bool{}
			for _, h := range withAtt.Hits {
				has[h.ID] = true
			}
			for i := range out.Hits {
				out.Hits[i].Attachment = has[out.Hits[i].ID]
			}
		}
	}
	return out, nil
}

// allIDs iterates over the ids of every hit of q, page by page.
func (s *Server) allIDs(ctx context.Context, q index.Query) (iter.Seq2[string, error], uint64, error) {
	q.Limit = index.MaxLimit
	q.After = ""
	first, err := s.opts.Index.Search(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	return func(yield func(string, error) bool) {
		res := first
		for {
			for _, h := range res.Hits {
				if !yield(h.ID, nil) {
					return
				}
			}
			if res.Next == "" {
				return
			}
			q.After = res.Next
			if res, err = s.opts.Index.Search(ctx, q); err != nil {
				yield("", err)
				return
			}
		}
	}, first.Total, nil
}

// parseSort reads the sort parameter.
func parseSort(v string) (index.Sort, error) {
	switch v {
	case "", "date":
		return index.SortDate, nil
	case "relevance":
		return index.SortRelevance, nil
	}
	return 0, fmt.Errorf("sort %q is not one of date, relevance", v)
}
