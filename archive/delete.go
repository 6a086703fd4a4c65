package archive

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Deletion (retention) and legal holds.
//
// Delete removes shown messages with their linked copies: in one
// transaction their records, their msgid and content keys and their
// counters go, and each stored copy leaves a "delete" entry in the
// ingest log, its tombstone:
//
//	{"seq":N,"time":...,"op":"delete","id":<sha256>,"shown":<primary, for a linked copy>,
//	 "size":..,"stored":..,"record":<hex SHA-256 of the record's value before the delete>,
//	 "owners":[...],"policy":<the retention policy that deleted it>}
//
// The same transaction writes each id to the "deleting" bucket (key:
// 32-byte SHA-256, value: empty): blobs whose removal is pending. After
// the commit the blob files are removed, their directories fsynced, and
// then the keys cleared. A crash in between leaves blobs without records
// whose ids are in "deleting": Open and the next Delete remove them, and
// Verify accepts them (pending removal, not orphans). So after a crash a
// deleted message is gone from meta.db at once, from blobs/ at the next
// start, and from the search index at its next catch-up (Changes turns
// a tombstone into a removal).
//
// The same bytes archived again after their deletion are stored again: a
// new record, a new blob and an "add" entry after the tombstone. (A
// pending removal never touches a blob whose record exists.)
//
// A legal hold is a named search query (package index syntax, run as an
// auditor) that freezes every message it matches at the time retention
// runs, so mail archived after the hold was added is held too. Holds are
// kept in the "holds" bucket (key: the name, value: JSON Hold); adding
// and releasing one appends an "event" entry of kind "hold" in the same
// transaction: {"action":"add"|"release","name":..,"query":..,"reason":..}.

// opDelete is a log entry of a deleted stored copy: its tombstone.
const opDelete = "delete"

var (
	bucketHolds    = []byte("holds")
	bucketDeleting = []byte("deleting")
)

// DeleteItem names a shown message to delete with its linked copies.
type DeleteItem struct {
	ID string // full hex id of a shown message
	// Seq, if not 0, is the log entry the record was at when the deletion
	// was decided: a record changed since (a new copy, new owners) is
	// skipped, to be decided again.
	Seq uint64
	// Policy is the retention policy that deletes it, recorded in the
	// tombstones.
	Policy string
}

// DeleteResult is what Delete did.
type DeleteResult struct {
	Messages int      // shown messages deleted
	Copies   int      // stored copies deleted (blobs), the shown ones included
	Bytes    int64    // original bytes of the stored copies deleted
	Skipped  []string // ids not deleted: gone already, or changed since planned
}

// Tombstone is the log entry a deleted stored copy left behind.
type Tombstone struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	ID     string    `json:"id"`
	Shown  string    `json:"shown,omitempty"` // its primary, for a linked copy
	Size   int64     `json:"size"`
	Stored int64     `json:"stored"`
	Policy string    `json:"policy"`
}

// Delete removes the shown messages of items, each with its linked copies
// (see the top of this file for the protocol). An item that names no
// record is skipped, as is one whose record changed since item.Seq; an
// item naming a linked copy is an error. Delete waits for the group commit
// in progress and holds Puts back while it runs; a Put of bytes it deletes
// that was staged before fails with a "try again" error, and stores them
// again when retried.
func (a *Archive) Delete(ctx context.Context, items []DeleteItem) (DeleteResult, error) {
	var res DeleteResult
	if a.readOnly {
		return res, ErrReadOnly
	}
	if err := a.beginWrite(); err != nil {
		return res, err
	}
	defer a.puts.Done()

	release, err := a.exclusive(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	if err := a.finishDeletes(); err != nil {
		return res, err
	}
	var removed [][32]byte
	err = a.db.Update(func(tx *bolt.Tx) error {
		res = DeleteResult{}
		removed = removed[:0]
		msgs, deleting := tx.Bucket(bucketMessages), tx.Bucket(bucketDeleting)
		lw := newLogWriter(tx)
		now := time.Now().UTC()
		counts := map[string]int64{}
		for _, it := range items {
			k, ok := parseID(it.ID)
			if !ok {
				return fmt.Errorf("message %q: not a full id", it.ID)
			}
			rec, err := getRecord(msgs, k)
			if err != nil {
				return err
			}
			if rec == nil || (it.Seq != 0 && rec.Seq != it.Seq) {
				res.Skipped = append(res.Skipped, it.ID)
				continue
			}
			if rec.Primary != "" {
				return fmt.Errorf("message %s is a linked copy of %s: delete its shown message", rec.ID, rec.Primary)
			}
			group := []*Record{}
			for _, id := range rec.Copies {
				ck, ok := parseID(id)
				if !ok {
					return fmt.Errorf("message %s: bad copy id %q", rec.ID, id)
				}
				c, err := getRecord(msgs, ck)
				if err != nil {
					return err
				}
				if c != nil {
					group = append(group, c)
				}
			}
			group = append(group, rec) // the shown message last
			for _, g := range group {
				gk, _ := parseID(g.ID)
				js, err := unpackJSON(msgs.Get(gk[:]), nil)
				if err != nil {
					return fmt.Errorf("message %s: record: %w", g.ID, err)
				}
				d := recordDigest(js)
				if err := a.unlink(tx, g, k); err != nil {
					return err
				}
				if err := msgs.Delete(gk[:]); err != nil {
					return err
				}
				if err := deleting.Put(gk[:], []byte{}); err != nil {
					return err
				}
				e := &entry{Time: now, Op: opDelete, ID: g.ID, Shown: g.Primary, Size: g.Size, Stored: g.StoredSize,
					Record: hex.EncodeToString(d[:]), Owners: g.Owners, Policy: it.Policy}
				if err := lw.append(e); err != nil {
					return err
				}
				counts["blobs"]--
				counts["raw_bytes"] -= g.Size
				counts["stored_bytes"] -= g.StoredSize
				if g.Primary != "" {
					counts["linked"]--
				}
				if g.Decrypted {
					counts["decrypted"]--
				}
				counts["deleted"]++
				removed = append(removed, gk)
				res.Copies++
				res.Bytes += g.Size
			}
			res.Messages++
		}
		stats := tx.Bucket(bucketStats)
		for name, n := range counts {
			if err := incr(stats, name, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return DeleteResult{}, fmt.Errorf("delete: %w: %w", ErrStorage, err)
	}
	deleteHook("committed")
	if err := a.removeBlobs(removed); err != nil {
		return res, err
	}
	return res, nil
}

// unlink removes the msgid and content keys of the stored copy g of the
// group whose shown message has key primary.
func (a *Archive) unlink(tx *bolt.Tx, g *Record, primary [32]byte) error {
	gk, _ := parseID(g.ID)
	if mid := strings.TrimSpace(g.MessageID); mid != "" {
		if len(mid) > maxMsgIDKey {
			mid = mid[:maxMsgIDKey]
		}
		key := append(append([]byte(mid), 0), gk[:]...)
		if err := tx.Bucket(bucketMsgID).Delete(key); err != nil {
			return err
		}
	}
	if ck, ok := contentKey(g.ContentKey); ok {
		content := tx.Bucket(bucketContent)
		if v := content.Get(ck); bytes.Equal(v, primary[:]) || bytes.Equal(v, gk[:]) {
			if err := content.Delete(ck); err != nil {
				return err
			}
		}
	}
	return nil
}

// exclusive holds back group commits: it takes the lead of the commit
// queue, so no batch is synced, and waits for the commit in progress. The
// returned function hands the lead on to the oldest queued Put.
func (a *Archive) exclusive(ctx context.Context) (func(), error) {
	for {
		a.cmu.Lock()
		if !a.leading {
			a.leading = true
			a.cmu.Unlock()
			break
		}
		a.cmu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	a.commitMu.Lock()
	return func() {
		a.commitMu.Unlock()
		a.passLead()
	}, nil
}

// removeBlobs removes the blob files of deleted stored copies, makes the
// removals durable and then clears their pending keys. A blob whose
// record exists again (archived again) is left alone.
func (a *Archive) removeBlobs(keys [][32]byte) error {
	if len(keys) == 0 {
		return nil
	}
	dirs := map[string]bool{}
	var gone [][32]byte
	err := a.db.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		for _, k := range keys {
			if msgs.Get(k[:]) == nil {
				p := a.BlobPath(hex.EncodeToString(k[:]))
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("delete: remove blob: %w", err)
				}
				dirs[filepath.Dir(p)] = true
			}
			gone = append(gone, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for d := range dirs {
		if err := syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete: fsync %s: %w", d, err)
		}
	}
	deleteHook("removed")
	err = a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeleting)
		for _, k := range gone {
			if err := b.Delete(k[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete: clear pending removals: %w: %w", ErrStorage, err)
	}
	return nil
}

// deleteHook is called at the crash points of Delete (tests kill the
// process there): "committed" after the transaction, "removed" after the
// blob removals, before their pending keys are cleared.
var deleteHook = func(point string) {}

// finishDeletes removes the blobs whose removal a crash interrupted. It
// runs at Open and before each Delete.
func (a *Archive) finishDeletes() error {
	var keys [][32]byte
	err := a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeleting)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) == 32 {
				keys = append(keys, [32]byte(k))
			}
			return nil
		})
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	a.logger.Info("archive: removing the blobs of messages deleted before a crash", "blobs", len(keys))
	return a.removeBlobs(keys)
}

// pendingRemoval reports whether the blob of k awaits its removal after
// a delete.
func pendingRemoval(tx *bolt.Tx, k [32]byte) bool {
	b := tx.Bucket(bucketDeleting)
	return b != nil && b.Get(k[:]) != nil
}

// Tombstones returns the tombstones of the log, oldest first.
func (a *Archive) Tombstones() ([]Tombstone, error) {
	var out []Tombstone
	err := a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			if len(v) > 32 && v[32] == '{' && !bytes.Contains(v, []byte(`"op":"delete"`)) {
				return nil // JSON, not a tombstone: no need to decode it
			}
			_, e, err := decodeEntry(v)
			if err != nil || e.Op != opDelete {
				return nil
			}
			out = append(out, Tombstone{Seq: e.Seq, Time: e.Time, ID: e.ID, Shown: e.Shown, Size: e.Size, Stored: e.Stored, Policy: e.Policy})
			return nil
		})
	})
	return out, err
}

// Hold is a legal hold: the messages its query matches are never deleted
// by retention.
type Hold struct {
	Name   string    `json:"name"`
	Query  string    `json:"query"`
	Reason string    `json:"reason,omitempty"`
	Added  time.Time `json:"added"`
	Seq    uint64    `json:"seq"` // the log entry that added it
}

// ErrHoldExists is returned by AddHold for a name in use.
var ErrHoldExists = errors.New("a hold with this name exists")

// ErrNoHold is returned by ReleaseHold for a name that is no hold.
var ErrNoHold = errors.New("no such hold")

// holdEvent is the data of a "hold" event entry.
type holdEvent struct {
	Action string `json:"action"` // add, release
	Name   string `json:"name"`
	Query  string `json:"query,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// AddHold stores a legal hold and records it in the log. The caller checks
// the query.
func (a *Archive) AddHold(h Hold) (Hold, error) {
	if a.readOnly {
		return h, ErrReadOnly
	}
	if strings.TrimSpace(h.Name) == "" {
		return h, errors.New("hold: empty name")
	}
	h.Added = time.Now().UTC()
	err := a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHolds)
		if b.Get([]byte(h.Name)) != nil {
			return fmt.Errorf("hold %q: %w", h.Name, ErrHoldExists)
		}
		seq, err := holdLog(tx, h.Added, holdEvent{Action: "add", Name: h.Name, Query: h.Query, Reason: h.Reason})
		if err != nil {
			return err
		}
		h.Seq = seq
		v, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return b.Put([]byte(h.Name), v)
	})
	return h, err
}

// ReleaseHold removes the hold name and records it, with reason, in the
// log.
func (a *Archive) ReleaseHold(name, reason string) error {
	if a.readOnly {
		return ErrReadOnly
	}
	return a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHolds)
		v := b.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("hold %q: %w", name, ErrNoHold)
		}
		var h Hold
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("hold %q: %w", name, err)
		}
		if _, err := holdLog(tx, time.Now().UTC(), holdEvent{Action: "release", Name: name, Query: h.Query, Reason: reason}); err != nil {
			return err
		}
		return b.Delete([]byte(name))
	})
}

func holdLog(tx *bolt.Tx, now time.Time, ev holdEvent) (uint64, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	sum := recordDigest(data)
	e := &entry{Time: now, Op: opEvent, Kind: "hold", Data: data, Record: hex.EncodeToString(sum[:])}
	if err := newLogWriter(tx).append(e); err != nil {
		return 0, err
	}
	return e.Seq, nil
}

// Holds returns the active legal holds, by name.
func (a *Archive) Holds() ([]Hold, error) {
	var out []Hold
	err := a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHolds)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var h Hold
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("hold %q: %w", k, err)
			}
			out = append(out, h)
			return nil
		})
	})
	slices.SortFunc(out, func(x, y Hold) int { return strings.Compare(x.Name, y.Name) })
	return out, err
}
