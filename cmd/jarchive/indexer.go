package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"jarchive/archive"
	"jarchive/index"
)

// An index commit holds at most indexBatchSize documents and about
// indexBatchBytes of their text.
const (
	indexBatchSize  = index.BatchDocs
	indexBatchBytes = 64 << 20
	// indexCommitDelay: a batch that is neither full nor the last
	// waits at most about this long for more changes.
	indexCommitDelay = time.Second
)

// indexAhead bounds the memory of documents prepared ahead of the batch
// being filled or committed, estimated from the messages' sizes
// (prepareWeight), in units of indexAheadUnit.
const (
	indexAhead     = 32 << 20
	indexAheadUnit = 64 << 10
)

// catchUp indexes every archive change after the index's watermark and
// returns how many documents it indexed.
func (s *store) catchUp(ctx context.Context) (int, error) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	mark, err := s.idx.Watermark()
	if err != nil {
		return 0, err
	}
	_, n, err := s.indexChanges(ctx, s.idx.Batch, s.indexed, mark, func(uint64) {})
	if err != nil {
		// What the memo says was batched may not have been committed.
		s.indexed.reset()
		return n, fmt.Errorf("index: %w", err)
	}
	return n, nil
}

// indexedMemo remembers the documents last given to the index for the
// most recent messages (memoSize of them), by a hash of everything but the
// body, which the message's id fixes. A change that leaves a message's
// document as it was (the same bytes archived again, from the same account
// and with the same envelope: a journal report fetched twice, a file
// imported again) then only moves the watermark, instead of extracting
// and indexing the message again: a tenth of the benchmark corpus is such
// duplicates, a few messages apart. Only catchUp uses it, with indexMu
// held; nil (a rebuild) remembers nothing.
type indexedMemo struct {
	docs map[string][32]byte
	ring [memoSize]string // ids in the order remembered, to forget the oldest
	next int
}

const memoSize = 4096

func newIndexedMemo() *indexedMemo {
	return &indexedMemo{docs: make(map[string][32]byte, memoSize)}
}

// unchanged reports whether rec's document is the one last given to the
// index, and remembers it as given.
func (m *indexedMemo) unchanged(rec *archive.Record) bool {
	if m == nil {
		return false
	}
	b, err := json.Marshal(documentOf(rec, nil, 0))
	if err != nil {
		return false
	}
	sum := sha256.Sum256(b)
	old, ok := m.docs[rec.ID]
	if ok && old == sum {
		return true
	}
	if !ok {
		if drop := m.ring[m.next]; drop != "" {
			delete(m.docs, drop)
		}
		m.ring[m.next] = rec.ID
		m.next = (m.next + 1) % memoSize
	}
	m.docs[rec.ID] = sum
	return false
}

// forget drops what the memo knows of the document id (deleted from the
// index).
func (m *indexedMemo) forget(id string) {
	if m != nil {
		if _, ok := m.docs[id]; ok {
			m.docs[id] = [32]byte{} // no document hashes to zero; its ring slot stays
		}
	}
}

func (m *indexedMemo) reset() {
	if m != nil {
		*m = *newIndexedMemo()
	}
}

// indexChanges applies every archive change after mark to batches of
// newBatch, committing each with its watermark, and returns the last
// watermark committed and the number of documents added. each is called
// with the log position of every change. A change whose document memo
// holds (see indexedMemo) only moves the watermark.
//
// It is a pipeline: one goroutine reads the changes, workers (one more than
// the CPUs: pdftotext runs are partly waiting) read each message back and
// prepare its document (text extraction is most of the cost of indexing),
// and the caller's goroutine adds them to the batch in log order and
// commits, while the workers prepare the next batch. The documents prepared
// ahead are bounded by indexAhead, so memory stays bounded whatever the
// sizes of the messages.
func (s *store) indexChanges(ctx context.Context, newBatch func() *index.Batch, memo *indexedMemo, mark uint64, each func(seq uint64)) (uint64, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	type job struct {
		change archive.Change
		last   bool          // the last of a read: commit after it
		units  int           // of the ahead budget, released once it is in the batch
		done   chan struct{} // closed when p and err are set
		p      *index.Prepared
		err    error
	}
	ahead := make(chan struct{}, indexAhead/indexAheadUnit) // a counting semaphore
	ordered := make(chan *job, indexBatchSize)
	work := make(chan *job)
	var readErr error // set before ordered is closed

	wg.Add(1)
	go func() { // reader
		defer wg.Done()
		defer close(ordered)
		defer close(work)
		after := mark
		for {
			changes, err := s.arc.Changes(after, indexBatchSize)
			if err != nil {
				readErr = fmt.Errorf("read changes: %w", err)
				return
			}
			for i, c := range changes {
				for _, id := range c.Remove {
					memo.forget(id)
				}
				if c.Record != nil && memo.unchanged(c.Record) {
					c.Record = nil
				}
				j := &job{change: c, done: make(chan struct{}), last: i == len(changes)-1}
				if c.Record == nil {
					close(j.done)
				} else {
					j.units = min(prepareWeight(c.Record)/indexAheadUnit+1, cap(ahead))
					for range j.units {
						select {
						case ahead <- struct{}{}:
						case <-ctx.Done():
							return
						}
					}
				}
				select {
				case ordered <- j:
				case <-ctx.Done():
					return
				}
				if c.Record != nil {
					select {
					case work <- j:
					case <-ctx.Done():
						return
					}
				}
			}
			if len(changes) == 0 {
				return
			}
			after = changes[len(changes)-1].Seq
		}
	}()
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Add(1)
		go func() { // worker
			defer wg.Done()
			for j := range work {
				j.p, j.err = s.prepareDocument(j.change.Record)
				close(j.done)
			}
		}()
	}

	b := newBatch()
	total := 0
	seq := mark         // of the last change in b; mark while b is empty
	var first time.Time // when the first change of b was added
	for j := range ordered {
		select {
		case <-j.done:
		case <-ctx.Done():
			return mark, total, ctx.Err()
		}
		if j.err != nil {
			return mark, total, j.err
		}
		for _, id := range j.change.Remove {
			b.Delete(id)
		}
		if j.p != nil {
			b.AddPrepared(j.p)
			total++
		}
		for range j.units {
			<-ahead
		}
		if seq == mark {
			first = time.Now()
		}
		seq = j.change.Seq
		each(seq)
		// Large batches cost bleve less (fewer segments to write, persist
		// and merge); a bound on their memory and on the wait until a
		// message is searchable.
		if b.Len() >= indexBatchSize || b.Bytes() >= indexBatchBytes || j.last && time.Since(first) >= indexCommitDelay {
			if err := b.Commit(seq); err != nil {
				return mark, total, fmt.Errorf("commit: %w", err)
			}
			mark = seq
		}
		if err := ctx.Err(); err != nil {
			return mark, total, err
		}
	}
	if readErr != nil {
		return mark, total, readErr
	}
	if seq != mark {
		if err := b.Commit(seq); err != nil {
			return mark, total, fmt.Errorf("commit: %w", err)
		}
		mark = seq
	}
	// A reader stopped by ctx may have read changes, and put them in memo,
	// that it never handed over: the caller must know.
	return mark, total, ctx.Err()
}

// prepareWeight estimates the memory the prepared document of rec holds
// until it is committed: its text, a few times at most the message's size
// (decoded base64, converted charsets), within the extraction limits.
func prepareWeight(rec *archive.Record) int {
	return int(min(2*rec.Size, 8<<20)) + 4<<10
}

// prepareDocument reads the message of rec back from the archive and
// prepares its index document.
func (s *store) prepareDocument(rec *archive.Record) (*index.Prepared, error) {
	body, size, cleanup, err := s.readerAt(rec)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return s.idx.Prepare(documentOf(rec, body, size))
}
