package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"jarchive/archive"
	"jarchive/retention"
	"jarchive/web"
)

const retentionSynopsis = "run [-apply] [-json] [-list] | tombstones [-json]  [-config FILE]"

func runRetention(ctx context.Context, a *app, args []string) error {
	return withStoreSub(ctx, a, "retention", args)
}

// retentionCommand is "jarchive retention run" (a dry run unless -apply)
// and "jarchive retention tombstones".
func retentionCommand(ctx context.Context, a *app, st *store, args []string) error {
	return runSubcommand(a, "retention", retentionSynopsis, args,
		subcommand{"run", func(rest []string) error { return retentionRunCommand(ctx, a, st, rest) }},
		subcommand{"tombstones", func(rest []string) error { return tombstonesCommand(a, st, rest) }})
}

// retentionOutput is what "retention run -json" prints.
type retentionOutput struct {
	*retention.Plan
	Applied *retention.Applied `json:"applied,omitempty"`
}

func retentionRunCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "retention run", "[-apply] [-json] [-list] [-config FILE]")
	fs.String("config", "", "configuration `file`")
	apply := fs.Bool("apply", false, "delete the messages (without it: a dry run that only shows what would be deleted)")
	asJSON := fs.Bool("json", false, "print JSON")
	list := fs.Bool("list", false, "list every message to delete: id, date, size, policy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("retention run: unexpected arguments")
	}
	start := time.Now()
	p := newProgress(a.stderr, "retention")
	plan, err := st.retentionPlan(ctx, true, func(n int) { p.set(n, 0) })
	p.done()
	if err != nil {
		return err
	}
	out := retentionOutput{Plan: plan}
	if *apply {
		ap := newProgress(a.stderr, "retention: deleting")
		ap.total = len(plan.Items)
		res, err := st.applyRetention(ctx, plan, func(done int, bytes int64) { ap.set(done, bytes) })
		ap.done()
		out.Applied = &res
		if err != nil {
			return fmt.Errorf("retention: %d messages deleted before: %w", res.Messages, err)
		}
	}
	if !*list {
		plan.Items = nil
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printPlan(a.stdout, st, &out, time.Since(start))
	return nil
}

// retentionPlan builds the plan of a run at the present moment: with
// catchUp, after bringing the index up to date (query policies and holds
// search it). progress, if set, counts the messages looked at.
func (s *store) retentionPlan(ctx context.Context, catchUp bool, progress func(int)) (*retention.Plan, error) {
	if catchUp {
		if _, err := s.catchUp(ctx); err != nil {
			return nil, fmt.Errorf("retention: index: %w", err)
		}
	}
	mark, err := s.idx.Watermark()
	if err != nil {
		return nil, err
	}
	return retention.Build(ctx, retention.Options{
		Archive:     s.arc,
		Index:       s.idx,
		Directory:   s.dir.Directory(),
		Config:      s.config().Retention,
		Location:    s.location(),
		IndexedUpTo: mark,
		Progress:    progress,
	})
}

// retentionMu makes retention runs of one process take turns (the daemon's
// schedule and requests over the socket).
var retentionMu sync.Mutex

// applyRetention deletes the messages of plan and removes them from the
// index.
func (s *store) applyRetention(ctx context.Context, plan *retention.Plan, progress func(int, int64)) (retention.Applied, error) {
	retentionMu.Lock()
	defer retentionMu.Unlock()
	res, err := retention.Apply(ctx, s.arc, plan, progress)
	s.logger.Info("retention applied", "messages", res.Messages, "copies", res.Copies, "bytes", res.Bytes, "skipped", res.Skipped, "err", err)
	// The tombstones tell the index to drop the documents.
	if _, ierr := s.catchUp(ctx); ierr != nil {
		err = errors.Join(err, fmt.Errorf("index: %w", ierr))
	}
	return res, err
}

func printPlan(w io.Writer, st *store, out *retentionOutput, took time.Duration) {
	plan := out.Plan
	loc := st.location()
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02")
	}
	cfg := st.config().Retention
	def := "none (kept for ever)"
	if !cfg.Default.IsZero() {
		def = cfg.Default.String()
	}
	fmt.Fprintf(w, "retention at %s: default %s, from %s, %d polic%s, %d hold%s\n", plan.Now.In(loc).Format("2006-01-02 15:04"),
		def, cfg.From, len(cfg.Policies), map[bool]string{true: "y", false: "ies"}[len(cfg.Policies) == 1], len(plan.Holds), plural(len(plan.Holds)))
	fmt.Fprintf(w, "checked:       %d messages\n", plan.Checked)
	verb := "would delete: "
	if out.Applied != nil {
		verb = "to delete:    "
	}
	fmt.Fprintf(w, "%s %d messages, %s, oldest %s, newest %s\n", verb, plan.Count, humanBytes(uint64(plan.Bytes)), day(plan.Oldest), day(plan.Newest))
	names := make([]string, 0, len(plan.PerPolicy))
	for n := range plan.PerPolicy {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := plan.PerPolicy[n]
		fmt.Fprintf(w, "  policy %-12s %d messages, %s, oldest %s, newest %s\n", n+":", t.Count, humanBytes(uint64(t.Bytes)), day(t.Oldest), day(t.Newest))
	}
	holds := make([]string, 0, len(plan.Held))
	for n := range plan.Held {
		holds = append(holds, n)
	}
	slices.Sort(holds)
	for _, n := range holds {
		fmt.Fprintf(w, "  held by %-11s %d messages that would be deleted otherwise\n", n+":", plan.Held[n])
	}
	if plan.Skipped > 0 {
		fmt.Fprintf(w, "skipped:       %d messages not yet searchable (decided at the next run)\n", plan.Skipped)
	}
	if !plan.NextDate.IsZero() {
		fmt.Fprintf(w, "next:          the next kept message's period ends %s\n", day(plan.NextDate))
	}
	for _, it := range plan.Items {
		fmt.Fprintf(w, "%s  %s  %10d  %s\n", it.ID, day(it.Base), it.Bytes, it.Policy)
	}
	if r := out.Applied; r != nil {
		fmt.Fprintf(w, "deleted %d messages (%d stored copies, %s) in %v; a tombstone each in the ingest log",
			r.Messages, r.Copies, humanBytes(uint64(r.Bytes)), took.Round(time.Millisecond))
		if r.Skipped > 0 {
			fmt.Fprintf(w, "; %d changed meanwhile, decided at the next run", r.Skipped)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "dry run: nothing deleted (-apply deletes) (%v)\n", took.Round(time.Millisecond))
	}
}

func tombstonesCommand(a *app, st *store, args []string) error {
	fs := newFlags(a, "retention tombstones", "[-json] [-config FILE]")
	fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("retention tombstones: unexpected arguments")
	}
	ts, err := st.arc.Tombstones()
	if err != nil {
		return err
	}
	if *asJSON {
		if ts == nil {
			ts = []archive.Tombstone{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ts)
	}
	for _, t := range ts {
		kind := "shown"
		if t.Shown != "" {
			kind = "copy of " + t.Shown[:16]
		}
		fmt.Fprintf(a.stdout, "%s  %s  %10d  %-12s  entry %d  %s\n", t.Time.In(st.location()).Format("2006-01-02 15:04"), t.ID, t.Size, t.Policy, t.Seq, kind)
	}
	fmt.Fprintf(a.stdout, "%d tombstone%s\n", len(ts), plural(len(ts)))
	return nil
}

// retentionStats are the next run's effect, for stats.
type retentionStats struct {
	Schedule    string `json:"schedule"`
	WouldDelete int    `json:"would_delete"` // messages the next run deletes, as things are now
	Bytes       int64  `json:"would_delete_bytes"`
	Held        int    `json:"held"`  // messages kept by a hold that would be deleted otherwise
	Holds       int    `json:"holds"` // active holds
	// Error is why the next run cannot be planned (a bad query in a
	// policy or hold, say).
	Error string `json:"error,omitempty"`
}

// retentionSummary returns the next run's effect, or nil when retention
// is not configured. It does not catch the index up: messages it has not
// taken in are left out.
//
// A plan walks the whole archive: the summary is kept for a minute while
// the archive and the index stay as they are, for monitoring that asks
// often.
func (s *store) retentionSummary(ctx context.Context) (*retentionStats, error) {
	if !s.config().Retention.Enabled {
		return nil, nil
	}
	as, err := s.arc.Stats()
	if err != nil {
		return nil, err
	}
	mark, err := s.idx.Watermark()
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s %d %d", s.arc.Dir(), as.LastSeq, mark)
	summaryCache.Lock()
	defer summaryCache.Unlock()
	if summaryCache.key == key && time.Since(summaryCache.at) < time.Minute {
		return summaryCache.val, nil
	}
	plan, err := s.retentionPlan(ctx, false, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return &retentionStats{Schedule: s.config().Retention.Schedule.String(), Error: err.Error()}, nil
	}
	out := &retentionStats{Schedule: s.config().Retention.Schedule.String(), WouldDelete: plan.Count, Bytes: plan.Bytes, Held: heldCount(plan), Holds: len(plan.Holds)}
	summaryCache.key, summaryCache.at, summaryCache.val = key, time.Now(), out
	return out, nil
}

// summaryCache is the last retentionSummary.
var summaryCache struct {
	sync.Mutex
	key string
	at  time.Time
	val *retentionStats
}

// heldCount is the number of holdings of a plan (a message held by two
// holds counts twice).
func heldCount(plan *retention.Plan) int {
	n := 0
	for _, c := range plan.Held {
		n += c
	}
	return n
}

// retentionFirstRun is how long after the start the daemon's schedule
// runs retention first (the indexer catches up meanwhile); a variable for
// tests.
var retentionFirstRun = 5 * time.Minute

// startRetention runs retention at [retention] schedule until ctx ends,
// and returns a function that waits for it to stop. With schedule off it
// does nothing.
func (s *store) startRetention(ctx context.Context, logger *slog.Logger) (wait func()) {
	interval := s.config().Retention.Schedule.Interval()
	if !s.config().Retention.Enabled || interval == 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		next := retentionFirstRun
		for {
			t := time.NewTimer(next)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			next = interval
			start := time.Now()
			plan, err := s.retentionPlan(ctx, true, nil)
			if err != nil {
				if ctx.Err() == nil {
					logger.Error("scheduled retention", "err", err)
				}
				continue
			}
			res, err := s.applyRetention(ctx, plan, nil)
			if err != nil && ctx.Err() == nil {
				logger.Error("scheduled retention", "deleted", res.Messages, "err", err)
				continue
			}
			logger.Info("scheduled retention", "checked", plan.Checked, "deleted", res.Messages, "copies", res.Copies, "bytes", res.Bytes,
				"held", heldCount(plan), "skipped", plan.Skipped+res.Skipped, "took", time.Since(start).Round(time.Millisecond), "next_run", time.Now().Add(interval).Format(time.RFC3339))
		}
	}()
	return func() { <-done }
}

// webRetention is the next run's effect for the web interface's admins
// (nil: retention is not configured).
func (s *store) webRetention(ctx context.Context) (*web.RetentionStatus, error) {
	rs, err := s.retentionSummary(ctx)
	if err != nil || rs == nil {
		return nil, err
	}
	return &web.RetentionStatus{Schedule: rs.Schedule, WouldDelete: rs.WouldDelete, Bytes: rs.Bytes, Held: rs.Held, Holds: rs.Holds, Error: rs.Error}, nil
}
