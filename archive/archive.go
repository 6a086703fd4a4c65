package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"jarchive/journal"
)

var (
	bucketMessages    = []byte("messages")
	bucketChanges     = []byte("changes")
	bucketMsgID       = []byte("msgid")
	bucketCheckpoints = []byte("checkpoints")
	bucketStats       = []byte("stats")
)

// ErrNotFound is returned for an id or prefix that names no message.
var ErrNotFound = errors.New("no such message")

// ErrLocked is returned by Open when another process holds the archive.
var ErrLocked = errors.New("archive is in use by another process")

// Record is the metadata of one stored message.
type Record struct {
	ID         string              `json:"id,omitempty"` // hex SHA-256; the key, not stored in the value
	Size       int64               `json:"size"`         // bytes of the original
	StoredSize int64               `json:"stored_size"`  // bytes of the compressed blob
	Added      time.Time           `json:"added"`
	Status     string              `json:"status"` // journal.Status of the first copy
	Reason     string              `json:"reason,omitempty"`
	Journal    bool                `json:"journal"`
	Sender     string              `json:"sender,omitempty"`
	MessageID  string              `json:"message_id,omitempty"`
	Recipients []journal.Recipient `json:"recipients,omitempty"` // union over all copies
	Header     journal.Summary     `json:"header"`
	Sources    []Source            `json:"sources"`
}

// Source is one copy of a message reaching the archive.
type Source struct {
	Account     string    `json:"account"`
	Mailbox     string    `json:"mailbox,omitempty"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	Path        string    `json:"path,omitempty"`
	Fetched     time.Time `json:"fetched"`
	Status      string    `json:"status"`
	Envelope    string    `json:"envelope,omitempty"` // journal envelope text, as evidence
}

func (s *Source) same(o *Source) bool {
	return s.Account == o.Account && s.Mailbox == o.Mailbox && s.UIDValidity == o.UIDValidity && s.UID == o.UID && s.Path == o.Path
}

// Incoming is a message handed to Put: the bytes as fetched, and what the
// journal stage read from them.
type Incoming struct {
	Body     io.ReaderAt
	Size     int64
	Envelope *journal.Envelope
	Source   Source
}

// Stats are the archive's counters.
type Stats struct {
	Messages       uint64 `json:"messages"`        // distinct stored originals
	Blobs          uint64 `json:"blobs"`           // blob files written
	RawBytes       uint64 `json:"raw_bytes"`       // sum of original sizes
	StoredBytes    uint64 `json:"stored_bytes"`    // sum of compressed blob sizes
	Copies         uint64 `json:"copies"`          // messages received, duplicates included
	Merged         uint64 `json:"merged"`          // copies merged into an existing message
	ParseFailures  uint64 `json:"parse_failures"`  // messages archived raw
	JournalReports uint64 `json:"journal_reports"` // messages that came as journal reports
	LastSeq        uint64 `json:"last_seq"`        // newest change number
}

// Archive is an open archive directory.
type Archive struct {
	dir    string
	db     *bolt.DB
	logger *slog.Logger

	mu  sync.Mutex // serialises blob writes through enc
	enc *zstd.Encoder
}

// Options for Open.
type Options struct {
	Logger   *slog.Logger
	ReadOnly bool
	// Timeout for acquiring the database lock; 0 means 1 second.
	Timeout time.Duration
}

// Open opens or creates the archive in dir.
func Open(dir string, opts Options) (*Archive, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if !opts.ReadOnly {
		for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
			if err := os.MkdirAll(d, 0o750); err != nil {
				return nil, fmt.Errorf("open archive: %w", err)
			}
		}
	}
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o640, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open archive %s: %w", dir, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open archive %s: %w", dir, err)
	}
	a := &Archive{dir: dir, db: db, logger: opts.Logger}
	if !opts.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketMessages, bucketChanges, bucketMsgID, bucketCheckpoints, bucketStats} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open archive %s: %w", dir, err)
		}
		a.cleanTmp()
		a.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open archive: zstd: %w", err)
		}
	}
	return a, nil
}

// Dir is the archive directory.
func (a *Archive) Dir() string { return a.dir }

// Close closes the database.
func (a *Archive) Close() error {
	if a.enc != nil {
		a.enc.Close()
	}
	return a.db.Close()
}

func (a *Archive) cleanTmp() {
	ents, err := os.ReadDir(filepath.Join(a.dir, "tmp"))
	if err != nil {
		return
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(a.dir, "tmp", e.Name())); err != nil {
			a.logger.Warn("remove leftover temp file", "file", e.Name(), "err", err)
		}
	}
}

// BlobPath is the path of the blob of the message with the hex id.
func (a *Archive) BlobPath(id string) string {
	return filepath.Join(a.dir, "blobs", id[0:2], id[2:4], id)
}

// Put stores a message, or merges it into the stored copy with the same
// bytes. It returns the message id and whether the message was new. When it
// returns nil the message is on stable storage.
func (a *Archive) Put(ctx context.Context, in *Incoming) (id string, added bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	env := in.Envelope
	sum, storedSize, origSize, tmp, err := a.writeTemp(env.Original(in.Body))
	if err != nil {
		return "", false, fmt.Errorf("archive: %w", err)
	}
	id = hex.EncodeToString(sum)
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	final := a.BlobPath(id)
	if st, err := os.Stat(final); err == nil {
		storedSize = st.Size()
	} else {
		if err := a.install(tmp, final); err != nil {
			return "", false, fmt.Errorf("archive %s: %w", id, err)
		}
		tmp = ""
	}
	src := in.Source
	src.Status = env.Status.String()
	src.Envelope = env.Text
	err = a.db.Update(func(tx *bolt.Tx) error {
		var err error
		added, err = a.commit(tx, sum, origSize, storedSize, env, &src)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("archive %s: commit: %w", id, err)
	}
	return id, added, nil
}

// writeTemp compresses r into a new file in tmp/, hashing the uncompressed
// bytes, and fsyncs it.
func (a *Archive) writeTemp(r io.Reader) (sum []byte, stored, size int64, path string, err error) {
	f, err := os.CreateTemp(filepath.Join(a.dir, "tmp"), "blob-")
	if err != nil {
		return nil, 0, 0, "", err
	}
	path = f.Name()
	fail := func(err error) ([]byte, int64, int64, string, error) {
		f.Close()
		os.Remove(path)
		return nil, 0, 0, "", err
	}
	h := sha256.New()
	a.mu.Lock()
	a.enc.Reset(f)
	size, err = io.Copy(io.MultiWriter(a.enc, h), r)
	if err == nil {
		err = a.enc.Close()
	}
	a.mu.Unlock()
	if err != nil {
		return fail(fmt.Errorf("write blob: %w", err))
	}
	if err := f.Chmod(0o440); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync blob: %w", err))
	}
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return h.Sum(nil), st.Size(), size, path, nil
}

// install renames a synced temp file to its blob path and fsyncs the
// directories it touched.
func (a *Archive) install(tmp, final string) error {
	dir := filepath.Dir(final)
	created, err := mkdirAllSynced(dir)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func (a *Archive) commit(tx *bolt.Tx, sum []byte, size, stored int64, env *journal.Envelope, src *Source) (added bool, err error) {
	msgs := tx.Bucket(bucketMessages)
	stats := tx.Bucket(bucketStats)
	var rec Record
	if v := msgs.Get(sum); v != nil {
		if err := json.Unmarshal(v, &rec); err != nil {
			return false, fmt.Errorf("record: %w", err)
		}
		for i := range rec.Sources {
			if rec.Sources[i].same(src) {
				// The same copy again (a refetch after a crash before
				// the server delete): nothing to record.
				return false, nil
			}
		}
		rec.Sources = append(rec.Sources, *src)
		rec.Recipients = mergeRecipients(rec.Recipients, env.Recipients)
		if rec.Status == journal.StatusFailed.String() && env.Status != journal.StatusFailed {
			rec.Status, rec.Reason = env.Status.String(), env.Reason
			rec.Header, rec.Sender = env.Header, env.Sender
		}
		incr(stats, "merged", 1)
	} else {
		added = true
		rec = Record{
			Size:       size,
			StoredSize: stored,
			Added:      time.Now().UTC(),
			Status:     env.Status.String(),
			Reason:     env.Reason,
			Journal:    env.Journal,
			Sender:     env.Sender,
			MessageID:  env.MessageID,
			Recipients: mergeRecipients(nil, env.Recipients),
			Header:     env.Header,
			Sources:    []Source{*src},
		}
		incr(stats, "messages", 1)
		incr(stats, "blobs", 1)
		incr(stats, "raw_bytes", uint64(size))
		incr(stats, "stored_bytes", uint64(stored))
		if env.Status == journal.StatusFailed {
			incr(stats, "parse_failures", 1)
		}
		if mid := strings.TrimSpace(rec.MessageID); mid != "" {
			key := append(append([]byte(mid), 0), sum...)
			if err := tx.Bucket(bucketMsgID).Put(key, nil); err != nil {
				return false, err
			}
		}
	}
	incr(stats, "copies", 1)
	if env.Journal {
		incr(stats, "journal_reports", 1)
	}
	v, err := json.Marshal(&rec)
	if err != nil {
		return false, err
	}
	if err := msgs.Put(sum, v); err != nil {
		return false, err
	}
	changes := tx.Bucket(bucketChanges)
	seq, err := changes.NextSequence()
	if err != nil {
		return false, err
	}
	if err := changes.Put(u64(seq), sum); err != nil {
		return false, err
	}
	if src.UID != 0 {
		if err := updateCheckpoint(tx.Bucket(bucketCheckpoints), src); err != nil {
			return false, err
		}
	}
	return added, nil
}

// mergeRecipients returns the union of a and b, in order of first
// appearance; b's entries are appended when not already present.
func mergeRecipients(a, b []journal.Recipient) []journal.Recipient {
	out := slices.Clone(a)
	for _, r := range b {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func checkpointKey(account, mailbox string) []byte {
	return []byte(account + "\x00" + mailbox)
}

func updateCheckpoint(b *bolt.Bucket, src *Source) error {
	key := checkpointKey(src.Account, src.Mailbox)
	if v := b.Get(key); len(v) == 8 {
		if binary.BigEndian.Uint32(v[0:4]) == src.UIDValidity && binary.BigEndian.Uint32(v[4:8]) >= src.UID {
			return nil
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint32(v[0:4], src.UIDValidity)
	binary.BigEndian.PutUint32(v[4:8], src.UID)
	return b.Put(key, v[:])
}

// Checkpoint returns the UIDVALIDITY and highest UID archived for an
// account's mailbox (0, 0 when none).
func (a *Archive) Checkpoint(account, mailbox string) (uidValidity, lastUID uint32, err error) {
	err = a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpoints)
		if b == nil {
			return nil
		}
		if v := b.Get(checkpointKey(account, mailbox)); len(v) == 8 {
			uidValidity, lastUID = binary.BigEndian.Uint32(v[0:4]), binary.BigEndian.Uint32(v[4:8])
		}
		return nil
	})
	return uidValidity, lastUID, err
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func incr(b *bolt.Bucket, name string, n uint64) {
	var cur uint64
	if v := b.Get([]byte(name)); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	}
	// Put on an open writable bucket fails only for programming errors
	// (empty or too long key), which the fixed names exclude.
	_ = b.Put([]byte(name), u64(cur+n))
}

// Resolve returns the full id of the message named by id or a unique prefix
// of at least 8 hex digits.
func (a *Archive) Resolve(prefix string) (string, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if len(prefix) < 8 || len(prefix) > 64 {
		return "", fmt.Errorf("message id %q: want 8 to 64 hex digits", prefix)
	}
	even := prefix[:len(prefix)&^1]
	seek, err := hex.DecodeString(even)
	if err != nil {
		return "", fmt.Errorf("message id %q: not hex", prefix)
	}
	if _, err := hex.DecodeString(prefix + prefix[len(prefix)-1:]); len(prefix)%2 == 1 && err != nil {
		return "", fmt.Errorf("message id %q: not hex", prefix)
	}
	var found []string
	err = a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMessages).Cursor()
		for k, _ := c.Seek(seek); k != nil && bytes.HasPrefix(k, seek); k, _ = c.Next() {
			h := hex.EncodeToString(k)
			if strings.HasPrefix(h, prefix) {
				found = append(found, h)
				if len(found) > 1 {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("message %s: %w", prefix, ErrNotFound)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("message id %s is ambiguous: give more digits", prefix)
	}
}

// Get returns the record of the message with the full hex id.
func (a *Archive) Get(id string) (*Record, error) {
	key, err := hex.DecodeString(id)
	if err != nil || len(key) != sha256.Size {
		return nil, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	var rec *Record
	err = a.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMessages).Get(key)
		if v == nil {
			return fmt.Errorf("message %s: %w", id, ErrNotFound)
		}
		rec = &Record{ID: id}
		return json.Unmarshal(v, rec)
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// Open returns a reader of the original bytes of the message with the full
// hex id. The caller closes it.
func (a *Archive) Open(id string) (io.ReadCloser, error) {
	if len(id) != 64 {
		return nil, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	f, err := os.Open(a.BlobPath(id))
	if err != nil {
		return nil, fmt.Errorf("message %s: blob: %w", id, err)
	}
	d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("message %s: blob: %w", id, err)
	}
	return &blobReader{d: d, f: f}, nil
}

type blobReader struct {
	d *zstd.Decoder
	f *os.File
}

func (r *blobReader) Read(p []byte) (int, error) { return r.d.Read(p) }

func (r *blobReader) Close() error {
	r.d.Close()
	return r.f.Close()
}

// Change is one entry of the change log: a message added or merged.
type Change struct {
	Seq    uint64
	Record *Record
}

// Changes returns up to limit changes after seq, oldest first.
func (a *Archive) Changes(after uint64, limit int) ([]Change, error) {
	var out []Change
	err := a.db.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		c := tx.Bucket(bucketChanges).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			rv := msgs.Get(v)
			if rv == nil {
				continue // removed since
			}
			rec := &Record{ID: hex.EncodeToString(v)}
			if err := json.Unmarshal(rv, rec); err != nil {
				return fmt.Errorf("message %s: record: %w", rec.ID, err)
			}
			out = append(out, Change{Seq: binary.BigEndian.Uint64(k), Record: rec})
		}
		return nil
	})
	return out, err
}

// Stats returns the archive's counters.
func (a *Archive) Stats() (Stats, error) {
	var s Stats
	err := a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStats)
		if b == nil {
			return nil
		}
		get := func(name string) uint64 {
			if v := b.Get([]byte(name)); len(v) == 8 {
				return binary.BigEndian.Uint64(v)
			}
			return 0
		}
		s = Stats{
			Messages:       get("messages"),
			Blobs:          get("blobs"),
			RawBytes:       get("raw_bytes"),
			StoredBytes:    get("stored_bytes"),
			Copies:         get("copies"),
			Merged:         get("merged"),
			ParseFailures:  get("parse_failures"),
			JournalReports: get("journal_reports"),
			LastSeq:        tx.Bucket(bucketChanges).Sequence(),
		}
		return nil
	})
	return s, err
}
