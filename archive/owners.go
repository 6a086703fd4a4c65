package archive

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// opOwners is a log entry that changed only a record's owners (Reassign).
const opOwners = "owners"

// ReassignStats are the results of Reassign.
type ReassignStats struct {
	Checked int // stored copies looked at
	Changed int // stored copies whose owners changed: one "owners" log entry each
}

// Reassign recomputes the owners of every stored copy with owners (the
// directory's answer for its envelope sender and recipients) and records
// those that changed, each with an "owners" log entry, which also tells
// the index to update the message. Blobs are not touched. The owners of a
// shown message are the union of what owners says for it and for each of
// its linked copies, as Put makes them.
//
// It reads a chunk of records per read transaction and writes the changed
// ones of a chunk in one write transaction, in which it computes them
// again: so it may run beside Put, and a copy merged meanwhile is not
// lost. owners must be safe for concurrent use and quick (it runs inside
// transactions).
func (a *Archive) Reassign(ctx context.Context, owners func(rec *Record) []string) (ReassignStats, error) {
	var st ReassignStats
	if a.readOnly {
		return st, ErrReadOnly
	}
	if err := a.beginWrite(); err != nil {
		return st, err
	}
	defer a.puts.Done()

	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var changed [][32]byte
		n := 0
		err := a.db.View(func(tx *bolt.Tx) error {
			msgs := tx.Bucket(bucketMessages)
			c := msgs.Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && n < verifyChunk; k, v = c.Next() {
				after = append(after[:0], k...)
				n++
				rec, err := unmarshalRecord(k, v)
				if err != nil {
					return err
				}
				want, err := ownersIn(msgs, rec, owners)
				if err != nil {
					return err
				}
				if !slices.Equal(want, rec.Owners) {
					changed = append(changed, [32]byte(k))
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("reassign: %w", err)
		}
		st.Checked += n
		if len(changed) > 0 {
			done := 0
			err := a.db.Update(func(tx *bolt.Tx) error {
				msgs := tx.Bucket(bucketMessages)
				lw := newLogWriter(tx)
				now := time.Now().UTC()
				for _, k := range changed {
					rec, err := getRecord(msgs, k)
					if err != nil {
						return err
					}
					if rec == nil {
						continue
					}
					want, err := ownersIn(msgs, rec, owners)
					if err != nil {
						return err
					}
					if slices.Equal(want, rec.Owners) {
						continue
					}
					rec.Owners = want
					rec.Seq = lw.next()
					id := rec.ID
					rec.ID = ""
					v, d, err := marshalRecord(rec)
					if err != nil {
						return err
					}
					if err := msgs.Put(k[:], v); err != nil {
						return err
					}
					if err := lw.append(&entry{Time: now, Op: opOwners, ID: id, Shown: rec.Primary, Owners: want, Record: hex.EncodeToString(d[:])}); err != nil {
						return err
					}
					done++
				}
				return nil
			})
			if err != nil {
				return st, fmt.Errorf("reassign: %w: %w", ErrStorage, err)
			}
			st.Changed += done
		}
		if n < verifyChunk {
			return st, nil
		}
	}
}

// ownersIn returns what the owners of rec should be: owners(rec), and for
// a shown message the union with its linked copies'.
func ownersIn(msgs *bolt.Bucket, rec *Record, owners func(*Record) []string) ([]string, error) {
	own := normOwners(owners(rec))
	if rec.Primary != "" {
		return own, nil
	}
	for _, id := range rec.Copies {
		k, ok := parseID(id)
		if !ok {
			return nil, fmt.Errorf("message %s: bad copy id %q", rec.ID, id)
		}
		c, err := getRecord(msgs, k)
		if err != nil {
			return nil, err
		}
		if c != nil {
			own = unionOwners(own, normOwners(owners(c)))
		}
	}
	return own, nil
}

// normOwners returns owners sorted, without duplicates and empty names;
// nil for none.
func normOwners(owners []string) []string {
	out := slices.DeleteFunc(slices.Clone(owners), func(s string) bool { return s == "" })
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// unionOwners returns the union of two normalised owner lists.
func unionOwners(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	return normOwners(append(slices.Clone(a), b...))
}
