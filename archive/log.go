package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Operations of log entries.
const (
	opAdd   = "add"   // a stored copy was added (its blob written)
	opMerge = "merge" // a stored copy gained a source: the same bytes arrived again
	opLink  = "link"  // a record changed because its group changed (union of recipients and sources, copies)
	opHide  = "hide"  // a shown message became a linked copy of another
)

// entry is one record of the ingest log. Its stored value is the SHA-256
// of the previous entry's value (zeros for the first) followed by the
// entry's JSON, compressed like a record's (packJSON).
type entry struct {
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	Op     string          `json:"op"`
	ID     string          `json:"id"`              // the stored copy whose record changed
	Shown  string          `json:"shown,omitempty"` // its primary, when it is a linked copy
	Size   int64           `json:"size,omitempty"`  // add: bytes of the original
	Stored int64           `json:"stored,omitempty"`
	Source *Source         `json:"source,omitempty"` // add, merge: where it came from (no envelope text)
	Record string          `json:"record"`           // hex SHA-256 of the record's value after the change; event: of Data
	Kind   string          `json:"kind,omitempty"`   // event: what happened (LogEvent, event.go)
	Data   json.RawMessage `json:"data,omitempty"`   // event: its evidence
	// Owners are the record's owners after the change (for op owners:
	// the new ones; none there means unassigned).
	Owners []string `json:"owners,omitempty"`
	// Policy is, for op delete (a tombstone, delete.go), the retention
	// policy that deleted the stored copy.
	Policy string `json:"policy,omitempty"`
}

// head is the newest log entry: its sequence number and the SHA-256 of its
// value. The meta bucket keeps it under "head" (8-byte big-endian seq,
// 32-byte hash).
type head struct {
	seq  uint64
	hash [32]byte
}

func readHead(meta *bolt.Bucket) head {
	var h head
	if v := meta.Get(metaHead); len(v) == 40 {
		h.seq = binary.BigEndian.Uint64(v[:8])
		copy(h.hash[:], v[8:])
	}
	return h
}

// logWriter appends entries in one write transaction.
type logWriter struct {
	log, meta *bolt.Bucket
	head      head
}

func newLogWriter(tx *bolt.Tx) *logWriter {
	meta := tx.Bucket(bucketMeta)
	log := tx.Bucket(bucketLog)
	// Keys only grow: fill the pages that appends split off (bbolt's
	// default of half leaves every log page half empty). bbolt does not
	// keep the setting; every transaction that appends sets it here.
	log.FillPercent = logFillPercent
	return &logWriter{log: log, meta: meta, head: readHead(meta)}
}

// logFillPercent is the log bucket's FillPercent: a node split by an
// append leaves full pages behind (entries are never inserted before
// others, so a full page is never split again).
const logFillPercent = 1.0

// next is the sequence number the next entry gets.
func (w *logWriter) next() uint64 { return w.head.seq + 1 }

func (w *logWriter) append(e *entry) error {
	e.Seq = w.next()
	js, err := json.Marshal(e)
	if err != nil {
		return err
	}
	body := packJSON(js)
	v := make([]byte, 32+len(body))
	copy(v, w.head.hash[:])
	copy(v[32:], body)
	if err := w.log.Put(u64(e.Seq), v); err != nil {
		return err
	}
	w.head = head{seq: e.Seq, hash: sha256.Sum256(v)}
	hv := make([]byte, 40)
	binary.BigEndian.PutUint64(hv, w.head.seq)
	copy(hv[8:], w.head.hash[:])
	return w.meta.Put(metaHead, hv)
}

// decodeEntry splits a stored entry value.
func decodeEntry(v []byte) (prev [32]byte, e *entry, err error) {
	if len(v) < 33 {
		return prev, nil, errors.New("entry too short")
	}
	copy(prev[:], v[:32])
	e = &entry{}
	if err := decodeValue(v[32:], e); err != nil { // copies out (Data too)
		return prev, nil, err
	}
	return prev, e, nil
}

// Change is what the search index must do for one stretch of the log: index
// Record (a shown message: add or replace its document) and delete the
// documents of the ids in Remove (messages no longer shown).
type Change struct {
	Seq    uint64   // the log entry; the index's watermark after applying it
	Record *Record  // the shown message to index; nil when the change only removes
	Remove []string // ids to delete from the index
}

// Changes returns what the index must do for the log entries after seq, at
// most limit of them, oldest first. Each Record is the current state of a
// shown message (linked copies are never returned, their primary is), and
// a message changed several times in the stretch is returned once, at its
// last entry; so the index holds exactly one document per shown message.
//
// It reads the log in transactions of changesStep entries, calling
// AfterRead after each: the records it reads are spread over meta.db, and
// with large folios 250 of them mapped tens of megabytes in one go (see
// ReleaseMapped). A record is read in the transaction that reads its
// entry, so it is never older than the entry it is returned at.
func (a *Archive) Changes(after uint64, limit int) ([]Change, error) {
	var out []Change
	pos := map[string]int{} // of the change of each shown message in out
	for n := 0; n < limit; {
		step := min(limit-n, changesStep)
		read, last, err := a.changes(after, step, &out, pos)
		a.afterRead()
		if err != nil {
			return nil, err
		}
		if read < step {
			break
		}
		n += read
		after = last
	}
	live := out[:0]
	for _, ch := range out {
		if ch.Seq != 0 {
			live = append(live, ch)
		}
	}
	return live, nil
}

// changesStep is how many log entries Changes reads in one transaction.
const changesStep = 25

// changes appends the changes of at most limit log entries after seq to
// out, in one transaction (see Changes); a message's earlier change in out
// is zeroed. It returns how many entries it read and the last one's seq.
func (a *Archive) changes(after uint64, limit int, out *[]Change, pos map[string]int) (read int, last uint64, err error) {
	err = a.db.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		recs := map[string]*Record{}
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && read < limit; k, v = c.Next() {
			read++
			seq := binary.BigEndian.Uint64(k)
			last = seq
			_, e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("log entry %d: %w", seq, err)
			}
			ch := Change{Seq: seq}
			if e.Op == opEvent {
				*out = append(*out, ch) // names no message; only moves the watermark
				continue
			}
			if e.Op == opHide {
				ch.Remove = []string{e.ID}
			}
			if e.Op == opDelete {
				// A tombstone (delete.go): the document goes; the
				// record is gone, unless the bytes were archived again.
				if e.Shown == "" {
					ch.Remove = []string{e.ID}
				}
				*out = append(*out, ch)
				continue
			}
			shown := e.Shown
			if shown == "" {
				shown = e.ID
			}
			rec, err := shownRecord(msgs, recs, shown)
			if err != nil {
				return err
			}
			if rec != nil {
				if i, ok := pos[rec.ID]; ok {
					ch.Remove = append((*out)[i].Remove, ch.Remove...)
					(*out)[i] = Change{}
				}
				ch.Record = rec
				pos[rec.ID] = len(*out)
			}
			*out = append(*out, ch)
		}
		return nil
	})
	return read, last, err
}

// shownRecord returns the shown message of the stored copy id (itself or
// its primary), or nil when there is no such record.
func shownRecord(msgs *bolt.Bucket, cache map[string]*Record, id string) (*Record, error) {
	for range 2 {
		rec, ok := cache[id]
		if !ok {
			k, valid := parseID(id)
			if !valid {
				return nil, fmt.Errorf("log names a bad id %q", id)
			}
			var err error
			if rec, err = getRecord(msgs, k); err != nil {
				return nil, err
			}
			cache[id] = rec
		}
		if rec == nil || rec.Primary == "" {
			return rec, nil
		}
		id = rec.Primary
	}
	return nil, fmt.Errorf("message %s: its primary %s is itself linked", id, id)
}
