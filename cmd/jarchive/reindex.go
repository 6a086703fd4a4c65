package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

func runReindex(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "reindex", args)
}

// reindexCommand rebuilds the search index from the archive into a new
// generation and swaps it in (see index/doc.go). Searches and the daemon's
// indexer go on with the old index meanwhile; only the last catch-up and
// the swap hold the indexer back.
func reindexCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "reindex", "[-config FILE]")
	fs.String("config", "", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("reindex: unexpected arguments")
	}
	start := time.Now()
	n, err := st.reindex(ctx, a.stdout)
	if err != nil {
		return err
	}
	docs, err := st.idx.Count()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "reindexed %d messages (%d documents) in %v; the new index is live\n",
		n, docs, time.Since(start).Round(time.Millisecond))
	return nil
}

// reindex builds a new index generation from the whole archive and swaps it
// in. Progress goes to w.
func (s *store) reindex(ctx context.Context, w io.Writer) (int, error) {
	r, err := s.idx.StartRebuild()
	if err != nil {
		return 0, err
	}
	finished := false
	defer func() {
		if !finished {
			if err := r.Abort(); err != nil {
				s.logger.Warn("reindex: abort", "err", err)
			}
		}
	}()
	stats, err := s.arc.Stats()
	if err != nil {
		return 0, err
	}
	p := newReindexProgress(w, stats.LastSeq)
	defer p.done()

	// Everything archived so far, while the live index goes on.
	mark, n, err := s.indexChanges(ctx, r.Batch, nil, 0, p.set)
	if err != nil {
		return n, fmt.Errorf("reindex: %w", err)
	}
	// What arrived meanwhile, with the live indexer held back, and the swap.
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	_, m, err := s.indexChanges(ctx, r.Batch, nil, mark, p.set)
	n += m
	if err != nil {
		return n, fmt.Errorf("reindex: %w", err)
	}
	// The memo knew the documents of the index replaced (also when Finish
	// fails after the swap).
	s.indexed.reset()
	if err := r.Finish(); err != nil {
		return n, fmt.Errorf("reindex: %w", err)
	}
	finished = true
	return n, nil
}

// reindexProgress shows how far a reindex is in the archive's log: a bar
// redrawn in place on a terminal, else (a file, or the control socket) a
// line at every tenth.
type reindexProgress struct {
	w     io.Writer
	tty   bool
	total uint64 // log entries
	start time.Time

	mu    sync.Mutex
	n     uint64 // log position reached
	last  time.Time
	tenth uint64
}

func newReindexProgress(w io.Writer, total uint64) *reindexProgress {
	return &reindexProgress{w: w, tty: isTerminal(w), total: max(total, 1), start: time.Now()}
}

func (p *reindexProgress) set(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n = seq
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) >= 200*time.Millisecond {
			p.last = now
			p.draw(now)
		}
		return
	}
	if t := min(p.n, p.total) * 10 / p.total; t > p.tenth {
		p.tenth = t
		fmt.Fprintf(p.w, "reindex: %d%% (log entry %d of %d, %v)\n", t*10, p.n, p.total, now.Sub(p.start).Round(time.Second))
	}
}

func (p *reindexProgress) draw(now time.Time) {
	n := min(p.n, p.total)
	const width = 30
	fill := int(n * width / p.total)
	el := now.Sub(p.start)
	eta := "-"
	if n > 0 && n < p.total {
		eta = (time.Duration(float64(el) / float64(n) * float64(p.total-n))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\rreindex [%s%s] %3d%% %d/%d, %.0f/s, ETA %s   ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		n*100/p.total, n, p.total, rate(int(n), el), eta)
}

func (p *reindexProgress) done() {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}
