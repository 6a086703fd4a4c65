package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows a live count of a long job on a terminal: messages, bytes
// and rate, redrawn in place at most five times a second. On anything but
// a terminal it prints nothing; the job prints its counts at the end.
type progress struct {
	w     io.Writer // nil: not a terminal
	label string
	start time.Time

	total int // messages expected, for an ETA; 0 when unknown

	mu    sync.Mutex
	n     int
	bytes int64
	last  time.Time
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{label: label, start: time.Now()}
	if isTerminal(w) {
		p.w = w
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// add counts one message of size bytes.
func (p *progress) add(size int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.bytes += size
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw(now)
	}
}

// set sets the totals so far (n messages of bytes).
func (p *progress) set(n int, bytes int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n, p.bytes = n, bytes
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	el := now.Sub(p.start)
	eta := ""
	if p.total > 0 && p.n > 0 && p.n < p.total {
		eta = fmt.Sprintf(" of %d, ETA %s", p.total, (time.Duration(float64(el) / float64(p.n) * float64(p.total-p.n))).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r%s: %d messages%s, %s, %.0f messages/s, %.1f MB/s, %s   ", p.label, p.n, eta, humanBytes(uint64(p.bytes)), rate(p.n, el), float64(p.bytes)/(1<<20)/max(el.Seconds(), 1e-9), el.Round(time.Second))
}

// done clears the progress line.
func (p *progress) done() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}
