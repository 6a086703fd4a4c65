package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/directory"
	"jarchive/index"
)

// ErrNotConfigured is returned by Build for a configuration without a
// [retention] table: nothing is ever deleted.
var ErrNotConfigured = errors.New("retention is not configured (no [retention] table): nothing is deleted")

// ErrHoldsChanged is returned by Apply when the legal holds changed since
// the plan was built.
var ErrHoldsChanged = errors.New("the legal holds changed since the plan was made: run retention again")

// Options of Build.
type Options struct {
	Archive   *archive.Archive
	Index     *index.Index
	Directory *directory.Directory // for group policies; nil: no groups
	Config    config.Retention
	// Location is the time zone of after: and before: in queries.
	Location *time.Location
	// IndexedUpTo is the index's watermark (the log entry it has taken
	// in) when the queries run: a record changed after it cannot be judged
	// by a query and waits for the next run, when holds or query policies
	// exist.
	IndexedUpTo uint64
	Now         time.Time
	// Progress, if set, is called now and then with the messages looked
	// at.
	Progress func(checked int)
}

// Item is one message a plan deletes.
type Item struct {
	ID     string    `json:"id"`
	Seq    uint64    `json:"-"`    // the record's log entry when planned
	Bytes  int64     `json:"size"` // original bytes of it and its linked copies
	Copies int       `json:"copies"`
	Base   time.Time `json:"date"` // what its period counted from
	Policy string    `json:"policy"`
}

// Totals sum up messages to delete.
type Totals struct {
	Count  int       `json:"count"`
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
}

func (t *Totals) add(it *Item) {
	t.Count++
	t.Bytes += it.Bytes
	if t.Oldest.IsZero() || it.Base.Before(t.Oldest) {
		t.Oldest = it.Base
	}
	if it.Base.After(t.Newest) {
		t.Newest = it.Base
	}
}

// Plan is what a retention run deletes.
type Plan struct {
	Now     time.Time `json:"now"`
	Checked int       `json:"checked"` // shown messages looked at
	Totals
	PerPolicy map[string]*Totals `json:"per_policy"`
	// Held are the messages a hold keeps that would be deleted otherwise,
	// by hold (a message held by several counts for each).
	Held     map[string]int `json:"held"`
	Holds    []archive.Hold `json:"holds"`   // the active holds
	Skipped  int            `json:"skipped"` // not yet searchable: decided at the next run
	Items    []Item         `json:"items,omitempty"`
	NextDate time.Time      `json:"next_date,omitzero"` // when the next kept message's period ends
}

// Build walks the archive and decides on every shown message. The index
// should have caught up with the archive first (see IndexedUpTo).
func Build(ctx context.Context, opts Options) (*Plan, error) {
	if !opts.Config.Enabled {
		return nil, ErrNotConfigured
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var groupsOf func(string) []string
	if opts.Directory != nil {
		groupsOf = opts.Directory.GroupsOf
	}
	rules := NewRules(opts.Config, groupsOf)
	holds, err := opts.Archive.Holds()
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	plan := &Plan{Now: opts.Now, PerPolicy: map[string]*Totals{}, Held: map[string]int{}, Holds: holds}

	// The queries: each a set of ids.
	holdHits := make([]map[string]bool, len(holds))
	for i, h := range holds {
		if holdHits[i], err = queryIDs(ctx, opts.Index, h.Query, opts.Location); err != nil {
			return nil, fmt.Errorf("retention: hold %s: %w", h.Name, err)
		}
	}
	policyHits := map[string]map[string]bool{}
	for _, p := range opts.Config.Policies {
		if p.Query == "" {
			continue
		}
		if policyHits[p.Name], err = queryIDs(ctx, opts.Index, p.Query, opts.Location); err != nil {
			return nil, fmt.Errorf("retention: policy %s: %w", p.Name, err)
		}
	}
	byQuery := len(holds) > 0 || len(policyHits) > 0

	copyBytes := map[string]int64{}
	copies := map[string]int{}
	err = opts.Archive.Each(ctx, func(rec *archive.Record) error {
		if !rec.Shown() {
			copyBytes[rec.Primary] += rec.Size
			copies[rec.Primary]++
			return nil
		}
		plan.Checked++
		if opts.Progress != nil && plan.Checked%1000 == 0 {
			opts.Progress(plan.Checked)
		}
		if byQuery && rec.Seq > opts.IndexedUpTo {
			plan.Skipped++
			return nil
		}
		f := FactsOf(rec)
		for name, hits := range policyHits {
			if hits[rec.ID] {
				if f.Matches == nil {
					f.Matches = map[string]bool{}
				}
				f.Matches[name] = true
			}
		}
		for i, h := range holds {
			if holdHits[i][rec.ID] {
				f.Holds = append(f.Holds, h.Name)
			}
		}
		d := rules.Decide(f, opts.Now)
		if !d.Delete && len(f.Holds) > 0 {
			// Would it go but for the holds?
			nf := *f
			nf.Holds = nil
			if rules.Decide(&nf, opts.Now).Delete {
				for _, h := range f.Holds {
					plan.Held[h]++
				}
			}
			return nil
		}
		if !d.Delete {
			if !d.Until.IsZero() && (plan.NextDate.IsZero() || d.Until.Before(plan.NextDate)) {
				plan.NextDate = d.Until
			}
			return nil
		}
		plan.Items = append(plan.Items, Item{ID: rec.ID, Seq: rec.Seq, Bytes: rec.Size, Base: d.Base, Policy: d.Policy})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	for i := range plan.Items {
		it := &plan.Items[i]
		it.Bytes += copyBytes[it.ID]
		it.Copies = 1 + copies[it.ID]
		plan.Totals.add(it)
		t := plan.PerPolicy[it.Policy]
		if t == nil {
			t = &Totals{}
			plan.PerPolicy[it.Policy] = t
		}
		t.add(it)
	}
	return plan, nil
}

// FactsOf returns the facts of a shown message's record (without query
// matches and holds).
func FactsOf(rec *archive.Record) *Facts {
	f := &Facts{ID: rec.ID, Date: rec.Header.Date, Added: rec.Added, Owners: rec.Owners}
	for _, s := range rec.Sources {
		if !slices.Contains(f.Accounts, s.Account) {
			f.Accounts = append(f.Accounts, s.Account)
		}
	}
	return f
}

// queryIDs returns the ids of every message a query finds, as an
// auditor.
func queryIDs(ctx context.Context, idx *index.Index, text string, loc *time.Location) (map[string]bool, error) {
	ids := map[string]bool{}
	q := index.Query{Text: text, Scope: index.Scope{All: true}, Limit: index.MaxLimit, Location: loc}
	for {
		res, err := idx.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, h := range res.Hits {
			ids[h.ID] = true
		}
		if res.Next == "" {
			return ids, nil
		}
		q.After = res.Next
	}
}

// BatchSize is how many messages Apply deletes per transaction.
const BatchSize = 200

// Applied is what Apply did.
type Applied struct {
	Messages int   `json:"messages"` // shown messages deleted
	Copies   int   `json:"copies"`   // stored copies (blobs) deleted
	Bytes    int64 `json:"bytes"`
	Skipped  int   `json:"skipped"` // changed since planned, or gone: decided at the next run
}

// Apply deletes the messages of a plan in batches of BatchSize, each
// recorded with its policy, and calls progress after each batch. Before
// each batch it checks that the holds are those the plan was built with.
func Apply(ctx context.Context, arc *archive.Archive, plan *Plan, progress func(done int, bytes int64)) (Applied, error) {
	var out Applied
	for i := 0; i < len(plan.Items); i += BatchSize {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		holds, err := arc.Holds()
		if err != nil {
			return out, err
		}
		if !sameHolds(holds, plan.Holds) {
			return out, ErrHoldsChanged
		}
		batch := plan.Items[i:min(i+BatchSize, len(plan.Items))]
		items := make([]archive.DeleteItem, len(batch))
		for j, it := range batch {
			items[j] = archive.DeleteItem{ID: it.ID, Seq: it.Seq, Policy: it.Policy}
		}
		res, err := arc.Delete(ctx, items)
		if err != nil {
			return out, err
		}
		out.Messages += res.Messages
		out.Copies += res.Copies
		out.Bytes += res.Bytes
		out.Skipped += len(res.Skipped)
		if progress != nil {
			progress(i+len(batch), out.Bytes)
		}
	}
	return out, nil
}

func sameHolds(a, b []archive.Hold) bool {
	return slices.EqualFunc(a, b, func(x, y archive.Hold) bool { return x.Name == y.Name && x.Seq == y.Seq && x.Query == y.Query })
}
