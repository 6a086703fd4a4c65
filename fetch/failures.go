package fetch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
)

// maxArchiveFailures is how many passes in a row may fail to archive one
// message before fetch passes over it. A Sink error ends the pass, and the
// next pass, after the retry interval, fetches the message again: a
// temporary trouble passes. A message that fails every time (a bug that
// a particular message triggers, say) would otherwise stop its account
// for good: with keep_mails the checkpoint must not pass a message that
// is not archived (see uidProgress), so every later pass would fetch the
// same window again and archive nothing new.
//
// A message passed over stays on the server and is counted Failed on every
// pass that lists it; it is logged at ERROR once. With keep_mails over
// IMAP the checkpoint then passes it, so it is not fetched again; without
// keep_mails, and over POP3, the next process (after a restart or an
// upgrade that fixes the cause) tries it again.
const maxArchiveFailures = 3

// failureCounts counts, per message, the passes in a row whose Sink.Archive
// failed for it.
type failureCounts struct {
	mu sync.Mutex
	n  map[messageKey]int
}

// failed counts a failure of k's archiving with err, and logs at ERROR
// when that makes k passed over. Failures of a pass that was cancelled do
// not count.
func (c *failureCounts) failed(k messageKey, err error, log *slog.Logger) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	c.mu.Lock()
	if c.n == nil {
		c.n = map[messageKey]int{}
	}
	c.n[k]++
	n := c.n[k]
	c.mu.Unlock()
	if n == maxArchiveFailures {
		log.Error("archiving this message failed in passes in a row: it stays on the server and is passed over until jarchive restarts",
			"failures", n, "err", err)
	}
}

// passedOver reports whether k failed maxArchiveFailures times in a row.
func (c *failureCounts) passedOver(k messageKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k] >= maxArchiveFailures
}

// archived forgets the failures of k.
func (c *failureCounts) archived(k messageKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.n, k)
}
