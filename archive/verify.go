package archive

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// ProblemType names a kind of integrity problem.
type ProblemType string

// The problems Verify finds (the index ones are found by the command that
// compares the archive with its search index).
const (
	ProblemMissing      ProblemType = "missing"       // a record's blob is gone, or a logged message has no record
	ProblemTruncated    ProblemType = "truncated"     // a blob's size differs from its record's
	ProblemCorrupt      ProblemType = "corrupt"       // a blob does not decode or hash to its id (ReadData), or a record does not decode or links wrongly
	ProblemOrphan       ProblemType = "orphan"        // a file under blobs/ that no record names
	ProblemChainBroken  ProblemType = "chain-broken"  // the log's hash chain is broken, or a record is not the state its log entry says
	ProblemIndexMissing ProblemType = "index-missing" // a shown message the search index lacks
	ProblemIndexExtra   ProblemType = "index-extra"   // an index document that is no shown message
)

// Problem is one integrity problem. It is an error carrying the id.
type Problem struct {
	Type   ProblemType `json:"type"`
	ID     string      `json:"id,omitempty"`  // message id (hex SHA-256), or the path under blobs/ of an orphan
	Seq    uint64      `json:"seq,omitempty"` // the log entry, for chain problems
	Detail string      `json:"detail"`
}

func (p *Problem) Error() string {
	s := string(p.Type)
	if p.ID != "" {
		s += " " + p.ID
	}
	if p.Seq != 0 {
		s += fmt.Sprintf(" (log entry %d)", p.Seq)
	}
	return s + ": " + p.Detail
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Records    int       `json:"records"`     // stored copies checked
	Shown      int       `json:"shown"`       // of which shown messages
	Blobs      int       `json:"blobs"`       // files found under blobs/
	LogEntries uint64    `json:"log_entries"` // log entries checked
	ChainHead  string    `json:"chain_head"`  // hex SHA-256 of the newest entry, as recomputed
	ReadData   bool      `json:"read_data"`
	BytesRead  int64     `json:"bytes_read"` // original bytes re-hashed
	Problems   []Problem `json:"problems"`
	// Tombstones are the log's delete entries: stored copies deleted by
	// retention (delete.go); PendingRemoval the blobs of deleted copies
	// still on disk (a crash interrupted their removal; the next Open or
	// Delete removes them), which are no orphans.
	Tombstones     int `json:"tombstones"`
	PendingRemoval int `json:"pending_removal"`

	mu   sync.Mutex
	seen map[string]bool
	tomb map[string]uint64 // id -> its last tombstone's entry
}

// Clean reports whether no problem was found.
func (r *VerifyReport) Clean() bool { return len(r.Problems) == 0 }

// Add records a problem. A chain problem is recorded once per id and once
// per log entry: one edit shows as one problem.
func (r *VerifyReport) Add(p Problem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	keys := []string{fmt.Sprintf("%s/%s/%d", p.Type, p.ID, p.Seq)}
	if p.Type == ProblemChainBroken {
		keys = keys[:0]
		if p.ID != "" {
			keys = append(keys, "chain/id/"+p.ID)
		}
		if p.Seq != 0 {
			keys = append(keys, fmt.Sprintf("chain/seq/%d", p.Seq))
		}
	}
	for _, k := range keys {
		if r.seen[k] {
			return
		}
	}
	for _, k := range keys {
		r.seen[k] = true
	}
	r.Problems = append(r.Problems, p)
}

// Sort orders the problems by type, then id and log entry.
func (r *VerifyReport) Sort() {
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i], r.Problems[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Seq < b.Seq
	})
}

// VerifyOptions for Verify.
type VerifyOptions struct {
	// ReadData decrypts and decompresses every blob and checks its SHA-256
	// and size against its id and record.
	ReadData bool
	// Progress, if set, is called now and then with the records checked
	// and their total.
	Progress func(done, total int)
}

// verifyChunk is how many records or log entries one read transaction
// visits: long read transactions would hold up commits that grow the
// database.
const verifyChunk = 5000

// Verify checks the archive's integrity, like restic check: every record
// has its blob with the recorded size (with ReadData: the right bytes), no
// blob lacks a record, the ingest log's hash chain is intact, and every
// record is the state its last log entry recorded. It returns an error
// only when it could not run; what it found is in the report. It may run
// while messages are stored.
func (a *Archive) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	rep := &VerifyReport{ReadData: opts.ReadData}
	if err := a.verifyLog(ctx, rep); err != nil {
		return nil, err
	}
	if err := a.verifyRecords(ctx, rep, opts); err != nil {
		return nil, err
	}
	if err := a.verifyOrphans(ctx, rep); err != nil {
		return nil, err
	}
	rep.Sort()
	return rep, nil
}

// verifyLog walks the log: consecutive sequence numbers, each entry
// naming the hash of the one before, the head matching the last entry,
// and every logged message having a record at least as new as the entry.
func (a *Archive) verifyLog(ctx context.Context, rep *VerifyReport) error {
	// Entries of messages without a record: fine when a tombstone follows.
	noRecord := map[string]uint64{}
	rep.tomb = map[string]uint64{}
	var prevHash [32]byte
	var lastSeq uint64
	var after uint64
	var buf []byte // the JSON of a compressed record
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		err := a.db.View(func(tx *bolt.Tx) error {
			msgs := tx.Bucket(bucketMessages)
			c := tx.Bucket(bucketLog).Cursor()
			for k, v := c.Seek(u64(after + 1)); k != nil && n < verifyChunk; k, v = c.Next() {
				n++
				rep.LogEntries++
				if len(k) != 8 {
					rep.Add(Problem{Type: ProblemChainBroken, Detail: fmt.Sprintf("log key %x is not a sequence number", k)})
					continue
				}
				seq := binary.BigEndian.Uint64(k)
				after = seq
				if seq != lastSeq+1 {
					rep.Add(Problem{Type: ProblemChainBroken, Seq: lastSeq + 1, Detail: fmt.Sprintf("log entries %d to %d are missing", lastSeq+1, seq-1)})
				}
				lastSeq = seq
				prev, e, err := decodeEntry(v)
				hash := sha256.Sum256(v)
				if err != nil {
					rep.Add(Problem{Type: ProblemChainBroken, Seq: seq, Detail: fmt.Sprintf("log entry does not decode: %v", err)})
					prevHash = hash
					continue
				}
				if prev != prevHash {
					// Entry seq-1 was changed (or this link was).
					p := Problem{Type: ProblemChainBroken, Seq: seq - 1, Detail: fmt.Sprintf("log entry %d does not hash to the link in entry %d: one of them was changed", seq-1, seq)}
					if seq == 1 {
						p.Seq, p.Detail = 1, "the first log entry does not start the chain"
					}
					rep.Add(p)
				}
				prevHash = hash
				if e.Seq != seq {
					rep.Add(Problem{Type: ProblemChainBroken, ID: e.ID, Seq: seq, Detail: fmt.Sprintf("log entry %d says it is entry %d", seq, e.Seq)})
				}
				if e.Op == opEvent {
					continue // names no message (event.go)
				}
				if e.Op == opDelete {
					rep.Tombstones++
					rep.tomb[e.ID] = seq
					continue // its record is gone (delete.go)
				}
				k, ok := parseID(e.ID)
				if !ok {
					rep.Add(Problem{Type: ProblemChainBroken, Seq: seq, Detail: fmt.Sprintf("log entry names a bad id %q", e.ID)})
					continue
				}
				rv := msgs.Get(k[:])
				if rv == nil {
					noRecord[e.ID] = seq
					continue
				}
				var rs struct{ Seq uint64 }
				if js, err := recordJSON(rv, &buf); err == nil && json.Unmarshal(js, &rs) == nil && rs.Seq < seq {
					rep.Add(Problem{Type: ProblemChainBroken, ID: e.ID, Seq: seq, Detail: fmt.Sprintf("the record is older (entry %d) than its log entry %d", rs.Seq, seq)})
				}
			}
			if n < verifyChunk {
				h := readHead(tx.Bucket(bucketMeta))
				if h.seq != lastSeq || (lastSeq > 0 && h.hash != prevHash) {
					rep.Add(Problem{Type: ProblemChainBroken, Seq: max(h.seq, lastSeq), Detail: fmt.Sprintf("the recorded head (entry %d, %x) is not the last log entry (%d, %x)", h.seq, h.hash[:8], lastSeq, prevHash[:8])})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < verifyChunk {
			break
		}
	}
	if lastSeq > 0 {
		rep.ChainHead = hex.EncodeToString(prevHash[:])
	}
	for id, seq := range noRecord {
		if rep.tomb[id] < seq {
			rep.Add(Problem{Type: ProblemMissing, ID: id, Detail: fmt.Sprintf("the log records it (entry %d) but meta.db has no record", seq)})
		}
	}
	return nil
}

type blobJob struct {
	id           string
	size, stored int64
}

// verifyRecords checks every record against its log entry and its links,
// and its blob (in parallel).
func (a *Archive) verifyRecords(ctx context.Context, rep *VerifyReport, opts VerifyOptions) error {
	var total int
	if err := a.db.View(func(tx *bolt.Tx) error {
		total = tx.Bucket(bucketMessages).Stats().KeyN
		return nil
	}); err != nil {
		return err
	}
	jobs := make(chan blobJob, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	workers := runtime.GOMAXPROCS(0)
	if !opts.ReadData {
		workers = 4
	}
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				n := a.verifyBlob(ctx, rep, j, opts.ReadData)
				mu.Lock()
				done++
				rep.BytesRead += n
				d := done
				mu.Unlock()
				if opts.Progress != nil && (d%100 == 0 || d == total) {
					opts.Progress(d, total)
				}
			}
		})
	}
	var buf []byte // the JSON of a compressed record
	var chunk []blobJob
	err := a.eachRecordChunk(ctx, func(tx *bolt.Tx, k, v []byte) error {
		id := hex.EncodeToString(k)
		rep.Records++
		rec := &Record{}
		if len(k) != 32 {
			rep.Add(Problem{Type: ProblemCorrupt, ID: id, Detail: "record key is not a SHA-256"})
			return nil
		}
		js, err := recordJSON(v, &buf)
		if err == nil {
			err = json.Unmarshal(js, rec)
		}
		if err != nil {
			rep.Add(Problem{Type: ProblemCorrupt, ID: id, Detail: fmt.Sprintf("record does not decode: %v", err)})
			return nil
		}
		rec.ID = id
		if rec.Primary == "" {
			rep.Shown++
		}
		a.checkRecordLog(tx, rep, rec, js)
		a.checkLinks(tx, rep, rec)
		chunk = append(chunk, blobJob{id: id, size: rec.Size, stored: rec.StoredSize})
		return nil
	}, func() error {
		// Outside the read transaction: the workers' own reads wait
		// behind a writer that waits for it to end (bbolt's remap).
		for _, j := range chunk {
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		chunk = chunk[:0]
		return nil
	})
	close(jobs)
	wg.Wait()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// eachRecordChunk calls fn for every record, a chunk per read transaction,
// and done after each chunk's transaction has ended. Nothing in fn may wait
// for another transaction: a writer that has to grow the database's mmap
// waits for the read transaction, and new ones wait behind it.
func (a *Archive) eachRecordChunk(ctx context.Context, fn func(tx *bolt.Tx, k, v []byte) error, done func() error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		err := a.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketMessages).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else {
				k, v = c.Seek(after)
				if k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && n < verifyChunk; k, v = c.Next() {
				n++
				after = append(after[:0], k...)
				if err := fn(tx, k, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := done(); err != nil {
			return err
		}
		if n < verifyChunk {
			return nil
		}
	}
}

// checkRecordLog checks that the record, whose JSON is js, is exactly the
// state its last log entry recorded.
func (a *Archive) checkRecordLog(tx *bolt.Tx, rep *VerifyReport, rec *Record, js []byte) {
	ev := tx.Bucket(bucketLog).Get(u64(rec.Seq))
	if ev == nil {
		rep.Add(Problem{Type: ProblemChainBroken, ID: rec.ID, Seq: rec.Seq, Detail: fmt.Sprintf("the record names log entry %d, which does not exist", rec.Seq)})
		return
	}
	_, e, err := decodeEntry(ev)
	if err != nil {
		rep.Add(Problem{Type: ProblemChainBroken, ID: rec.ID, Seq: rec.Seq, Detail: fmt.Sprintf("log entry does not decode: %v", err)})
		return
	}
	d := recordDigest(js)
	switch {
	case e.ID != rec.ID:
		rep.Add(Problem{Type: ProblemChainBroken, ID: rec.ID, Seq: rec.Seq, Detail: fmt.Sprintf("the record names log entry %d, which is about %s", rec.Seq, e.ID)})
	case e.Record != hex.EncodeToString(d[:]):
		rep.Add(Problem{Type: ProblemChainBroken, ID: rec.ID, Seq: rec.Seq, Detail: "the record is not the state its log entry recorded: it was changed outside jarchive"})
	}
}

// checkLinks checks that a linked copy and its primary agree.
func (a *Archive) checkLinks(tx *bolt.Tx, rep *VerifyReport, rec *Record) {
	msgs := tx.Bucket(bucketMessages)
	bad := func(format string, args ...any) {
		rep.Add(Problem{Type: ProblemCorrupt, ID: rec.ID, Detail: "record: " + fmt.Sprintf(format, args...)})
	}
	if rec.Primary != "" {
		k, ok := parseID(rec.Primary)
		if !ok {
			bad("bad primary %q", rec.Primary)
			return
		}
		p, err := getRecord(msgs, k)
		switch {
		case err != nil:
			bad("primary %s: %v", rec.Primary, err)
		case p == nil:
			bad("its primary %s does not exist", rec.Primary)
		case p.Primary != "":
			bad("its primary %s is itself linked to %s", rec.Primary, p.Primary)
		case !containsString(p.Copies, rec.ID):
			bad("its primary %s does not list it as a copy", rec.Primary)
		}
		return
	}
	for _, id := range rec.Copies {
		k, ok := parseID(id)
		if !ok {
			bad("bad copy id %q", id)
			continue
		}
		c, err := getRecord(msgs, k)
		if err != nil || c == nil || c.Primary != rec.ID {
			bad("its copy %s does not link back to it", id)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// verifyBlob checks one blob and returns the original bytes it read.
func (a *Archive) verifyBlob(ctx context.Context, rep *VerifyReport, j blobJob, readData bool) int64 {
	path := a.BlobPath(j.id)
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if tmp := a.pendingTemp(j.id); tmp != "" {
			return 0 // committed a moment ago, being moved into place
		}
		if k, _ := parseID(j.id); !a.has(k) {
			return 0 // deleted meanwhile (delete.go)
		}
		rep.Add(Problem{Type: ProblemMissing, ID: j.id, Detail: "the blob file is missing"})
		return 0
	}
	if err != nil {
		rep.Add(Problem{Type: ProblemMissing, ID: j.id, Detail: fmt.Sprintf("the blob cannot be read: %v", err)})
		return 0
	}
	if st.Size() != j.stored {
		rep.Add(Problem{Type: ProblemTruncated, ID: j.id, Detail: fmt.Sprintf("the blob has %d bytes; its record says %d", st.Size(), j.stored)})
		return 0
	}
	if !readData || ctx.Err() != nil {
		return 0
	}
	rc, err := a.Open(j.id)
	if k, _ := parseID(j.id); err != nil && !a.has(k) {
		return 0 // deleted meanwhile (delete.go)
	}
	if err != nil {
		rep.Add(Problem{Type: ProblemCorrupt, ID: j.id, Detail: err.Error()})
		return 0
	}
	defer rc.Close()
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(h, rc, *buf)
	copyBufs.Put(buf)
	switch {
	case err != nil:
		rep.Add(Problem{Type: ProblemCorrupt, ID: j.id, Detail: fmt.Sprintf("the blob does not decode: %v", err)})
	case hex.EncodeToString(h.Sum(nil)) != j.id:
		rep.Add(Problem{Type: ProblemCorrupt, ID: j.id, Detail: fmt.Sprintf("the blob's content hashes to %x", h.Sum(nil))})
	case n != j.size:
		rep.Add(Problem{Type: ProblemCorrupt, ID: j.id, Detail: fmt.Sprintf("the blob holds %d bytes; its record says %d", n, j.size)})
	}
	return n
}

// verifyOrphans walks blobs/ for files no record names.
func (a *Archive) verifyOrphans(ctx context.Context, rep *VerifyReport) error {
	root := filepath.Join(a.dir, "blobs")
	var cands []string
	var batch []string
	check := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := a.db.View(func(tx *bolt.Tx) error {
			msgs := tx.Bucket(bucketMessages)
			for _, id := range batch {
				k, _ := parseID(id)
				if msgs.Get(k[:]) == nil {
					cands = append(cands, id)
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rep.Blobs++
		name := d.Name()
		if _, ok := parseID(name); !ok || p != a.BlobPath(name) {
			rel, _ := filepath.Rel(root, p)
			rep.Add(Problem{Type: ProblemOrphan, ID: filepath.ToSlash(rel), Detail: "a file under blobs/ that is not named like a blob"})
			return nil
		}
		batch = append(batch, name)
		if len(batch) >= 1000 {
			return check()
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	if err != nil {
		return fmt.Errorf("verify: walk blobs: %w", err)
	}
	if len(cands) == 0 {
		return nil
	}
	// A blob renamed into place by a commit in progress is no orphan.
	// Check the commit first, then the database: a blob that is neither
	// in flight nor recorded after its commit is an orphan.
	a.cmu.Lock()
	var settled []string
	for _, id := range cands {
		k, _ := parseID(id)
		if a.inflight[k] == "" {
			settled = append(settled, id)
		}
	}
	a.cmu.Unlock()
	return a.db.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		for _, id := range settled {
			k, _ := parseID(id)
			if msgs.Get(k[:]) == nil {
				if pendingRemoval(tx, k) || rep.tomb[id] != 0 {
					rep.PendingRemoval++ // deleted; its removal was interrupted (delete.go)
					continue
				}
				if _, err := os.Stat(a.BlobPath(id)); errors.Is(err, fs.ErrNotExist) {
					continue // removed by a Delete since the walk
				}
				rep.Add(Problem{Type: ProblemOrphan, ID: id, Detail: "no record names this blob"})
			}
		}
		return nil
	})
}
