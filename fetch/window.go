package fetch

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// defaultWindow is how many messages of one pass may wait in Sink.Archive at
// once. Archiving them concurrently lets the archive commit many messages
// in one fsync round (group commit) while the next ones are fetched; each is
// still deleted on the server only after its own Archive returned nil.
//
// Most of a message's time in the window is spent waiting for its commit
// (a sync and a database transaction, a few milliseconds each), so the
// window, not the CPU, bounded an import at 16: the 20,000-message
// benchmark import ran at 770-840 messages/s with 16, 900-980 with 64 and
// 930-990 with 128, and its CPU time fell by 8% as commits grew fewer and
// larger. Its memory is bounded by spoolMemory per message (32 MiB).
const defaultWindow = 128

// window runs calls concurrently, at most n at a time, and remembers the
// first error, which stops the caller from submitting more.
type window struct {
	sem chan struct{}
	wg  sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newWindow(n int) *window {
	if n < 1 {
		n = 1
	}
	return &window{sem: make(chan struct{}, n)}
}

// acquire waits for a free slot, so that a message is fetched only when it
// can be handed over. It returns the first error of an earlier call instead,
// and ctx's error when ctx ends while waiting. After a nil return the caller
// must call either run or release.
func (w *window) acquire(ctx context.Context) error {
	if err := w.failed(); err != nil {
		return err
	}
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := w.failed(); err != nil {
		w.release()
		return err
	}
	return nil
}

// release gives back a slot taken by acquire without running anything.
func (w *window) release() { <-w.sem }

// do acquires a slot and runs fn in it.
func (w *window) do(ctx context.Context, fn func() error) error {
	if err := w.acquire(ctx); err != nil {
		return err
	}
	w.run(fn)
	return nil
}

// run runs fn in a goroutine in the slot taken by acquire.
func (w *window) run(fn func() error) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		if err := protect(fn); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	}()
}

// panicError is a panic recovered in a window call. Its text is one line;
// Run logs the stack.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// protect turns a panic in fn into an error.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return fn()
}

func (w *window) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait waits for every call and returns the first error.
func (w *window) wait() error {
	w.wg.Wait()
	return w.failed()
}
