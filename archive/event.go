package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// opEvent is a log entry about the archive as a whole rather than one
// stored copy (an export, say): it names no message, so Verify checks
// only its place in the chain and the index skips it.
const opEvent = "event"

// LogEvent appends an "event" entry to the ingest log: kind says what
// happened (e.g. "export") and data is its evidence, JSON, stored
// compacted in the entry (at most 64 KiB; log a digest of anything
// bigger). It returns the entry's sequence number. The entry is in the
// hash chain like any other, so the evidence cannot later be changed or
// removed without Verify noticing.
func (a *Archive) LogEvent(kind string, data []byte) (uint64, error) {
	if a.readOnly {
		return 0, ErrReadOnly
	}
	if kind == "" {
		return 0, errors.New("log event: empty kind")
	}
	if !json.Valid(data) {
		return 0, fmt.Errorf("log event %s: data is not JSON", kind)
	}
	if len(data) > 64<<10 {
		return 0, fmt.Errorf("log event %s: %d bytes of data, at most 64 KiB", kind, len(data))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return 0, fmt.Errorf("log event %s: %w", kind, err)
	}
	data = buf.Bytes()
	var seq uint64
	err := a.db.Update(func(tx *bolt.Tx) error {
		w := newLogWriter(tx)
		sum := sha256.Sum256(data)
		e := &entry{Time: time.Now().UTC(), Op: opEvent, Kind: kind, Data: json.RawMessage(data), Record: hex.EncodeToString(sum[:])}
		if err := w.append(e); err != nil {
			return err
		}
		seq = e.Seq
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("log event %s: %w", kind, err)
	}
	return seq, nil
}

// Event is an "event" entry of the ingest log.
type Event struct {
	Seq  uint64
	Time time.Time
	Kind string
	Data []byte
}

// Events returns the log's event entries of the given kind ("" for all),
// oldest first.
func (a *Archive) Events(kind string) ([]Event, error) {
	var out []Event
	err := a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			_, e, err := decodeEntry(v)
			if err != nil || e.Op != opEvent || (kind != "" && e.Kind != kind) {
				return nil
			}
			out = append(out, Event{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Data: append([]byte(nil), e.Data...)})
			return nil
		})
	})
	return out, err
}
