package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"jarchive/journal"
)

var (
	bucketMessages    = []byte("messages")
	bucketLog         = []byte("log")
	bucketMsgID       = []byte("msgid")
	bucketContent     = []byte("content")
	bucketCheckpoints = []byte("checkpoints")
	bucketStats       = []byte("stats")
	bucketMeta        = []byte("meta")

	allBuckets = [][]byte{bucketMessages, bucketLog, bucketMsgID, bucketContent, bucketCheckpoints, bucketStats, bucketMeta, bucketHolds, bucketDeleting}
)

// Keys of the meta bucket.
var (
	metaFormat     = []byte("format")
	metaHead       = []byte("head")
	metaEncryption = []byte("encryption")
	metaProbe      = []byte("probe")
)

// formatVersion is the on-disk format that doc.go describes. Format 1
// is format 2 without packed values: Open reads it, and upgrades it by
// writing "2" (what it holds stays as it is).
const formatVersion = "2"

// ErrNotFound is returned for an id or prefix that names no message.
var ErrNotFound = errors.New("no such message")

// ErrLocked is returned by Open when another process holds the archive.
var ErrLocked = errors.New("archive is in use by another process")

// ErrReadOnly is returned by Put on an archive opened read-only.
var ErrReadOnly = errors.New("archive is open read-only")

// Link says why a stored copy is shown through another message.
const (
	// LinkFork: the copy differs from its primary only in transport
	// headers (the same ContentKey): a forked journal report.
	LinkFork = "fork"
	// LinkProtected: the copy is the protected (rights-managed) original
	// of a primary that is its decrypted copy (journal report decryption).
	LinkProtected = "protected"
)

// Record is the metadata of one stored copy: a blob and what is known of
// it. A record with Primary empty is a shown message (one search hit);
// a record with Primary set is a linked copy, shown through its primary.
type Record struct {
	ID         string              `json:"id,omitempty"` // hex SHA-256 of the original; the key, not stored in the value
	Seq        uint64              `json:"seq"`          // the log entry that last changed this record
	Size       int64               `json:"size"`         // bytes of the original
	StoredSize int64               `json:"stored_size"`  // bytes of the blob file
	Added      time.Time           `json:"added"`
	Status     string              `json:"status"` // journal.Status of the first copy
	Reason     string              `json:"reason,omitempty"`
	Problems   []string            `json:"problems,omitempty"` // the envelope parser's problems with the first copy
	Journal    bool                `json:"journal"`
	Sender     string              `json:"sender,omitempty"`
	OnBehalfOf string              `json:"on_behalf_of,omitempty"` // journal.Envelope.OnBehalfOf
	MessageID  string              `json:"message_id,omitempty"`
	ContentKey string              `json:"content_key,omitempty"` // journal.Envelope.ContentKey of the report's original
	Decrypted  bool                `json:"decrypted,omitempty"`   // the decrypted copy of journal report decryption
	Recipients []journal.Recipient `json:"recipients,omitempty"`  // union over all copies (for a primary: over its group)
	Header     journal.Summary     `json:"header"`
	Sources    []Source            `json:"sources"`
	// Owners are the names of the users who own the message (package
	// directory), sorted; none: no one does (the "unassigned" view). Put
	// sets them from Incoming.Owners, a group's are the union of its
	// copies', and Reassign recomputes them.
	Owners []string `json:"owners,omitempty"`

	// Primary is the id of the shown message a linked copy belongs to;
	// empty for a shown message.
	Primary string `json:"primary,omitempty"`
	// Link is why a linked copy is linked: LinkFork or LinkProtected.
	Link string `json:"link,omitempty"`
	// Copies are, on a shown message, the ids of its linked copies.
	Copies []string `json:"copies,omitempty"`
}

// Shown reports whether the record is a shown message rather than a
// linked copy.
func (r *Record) Shown() bool { return r.Primary == "" }

// Source is one copy of a message reaching the archive.
type Source struct {
	Account     string    `json:"account"`
	Mailbox     string    `json:"mailbox,omitempty"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	Path        string    `json:"path,omitempty"`
	UIDL        string    `json:"uidl,omitempty"` // POP3 unique-id
	Fetched     time.Time `json:"fetched"`
	Status      string    `json:"status,omitempty"`
	Envelope    string    `json:"envelope,omitempty"` // journal envelope text, as evidence
	// Copy is, in a shown message's sources, the id of the linked copy
	// this source delivered ("" when it delivered the shown message
	// itself). Its envelope text is in that copy's record.
	Copy string `json:"copy,omitempty"`
	// MailFrom and RcptTo are the SMTP envelope of a message received
	// over SMTP or LMTP (MailFrom "" for the null sender <>).
	MailFrom string   `json:"mail_from,omitempty"`
	RcptTo   []string `json:"rcpt_to,omitempty"`
	// Delivery is, for SMTP, the hex SHA-256 of the bytes received: it
	// tells two deliveries with the same envelope apart.
	Delivery string `json:"delivery,omitempty"`
}

func (s *Source) same(o *Source) bool {
	return s.Account == o.Account && s.Mailbox == o.Mailbox && s.UIDValidity == o.UIDValidity && s.UID == o.UID && s.Path == o.Path && s.UIDL == o.UIDL &&
		s.MailFrom == o.MailFrom && slices.Equal(s.RcptTo, o.RcptTo) && s.Delivery == o.Delivery
}

// Incoming is a message handed to Put: the bytes as fetched, and what the
// journal stage read from them.
type Incoming struct {
	Body     io.ReaderAt
	Size     int64
	Envelope *journal.Envelope
	Source   Source
	// Owners are the names of the users who own the message, as the
	// directory says now (directory.Directory.Owners); nil for none.
	Owners []string
	// Checkpoint, for a message fetched over IMAP, is the UID to which the
	// checkpoint of Source's account and mailbox advances in the
	// transaction that stores the message (fetch.Message.Checkpoint); 0
	// leaves it.
	Checkpoint uint32

	// ext overrides what extOf reads from Envelope (tests, until the
	// journal package has the fields; see journal_shim.go).
	ext *envExt
}

// Stats are the archive's counters.
type Stats struct {
	Messages       uint64 `json:"messages"`        // shown messages (search hits): stored copies less linked ones
	Blobs          uint64 `json:"blobs"`           // stored copies (blob files)
	Linked         uint64 `json:"linked"`          // stored copies shown through another message
	Decrypted      uint64 `json:"decrypted"`       // decrypted copies from journal report decryption
	RawBytes       uint64 `json:"raw_bytes"`       // sum of original sizes
	StoredBytes    uint64 `json:"stored_bytes"`    // sum of blob file sizes
	Copies         uint64 `json:"copies"`          // messages received, duplicates included
	Merged         uint64 `json:"merged"`          // copies whose bytes were already stored
	ParseFailures  uint64 `json:"parse_failures"`  // messages archived raw
	JournalReports uint64 `json:"journal_reports"` // messages that came as journal reports
	LastSeq        uint64 `json:"last_seq"`        // newest log entry
	ChainHead      string `json:"chain_head"`      // hex SHA-256 of the newest log entry ("" for none)
	Encrypted      bool   `json:"encrypted"`       // new blobs are encrypted
	Deleted        uint64 `json:"deleted"`         // stored copies deleted by retention (a tombstone each)
}

// Archive is an open archive directory. Its methods are safe for
// concurrent use.
type Archive struct {
	dir      string
	db       *bolt.DB
	logger   *slog.Logger
	readOnly bool
	crypt    *blobCipher // nil: new blobs are not encrypted, encrypted ones cannot be read

	compressors chan struct{} // at most cap(compressors) Puts compress at once
	syncMode    syncMode

	maxBatch      int
	maxBatchBytes int64
	afterRead     func() // Options.AfterRead, or a no-op

	// Group commit (commit.go).
	commitMu sync.Mutex // the commit stage, one batch at a time
	cmu      sync.Mutex
	queue    []*request
	leading  bool
	inflight map[[32]byte]string        // temp files of the blobs of the commit in progress
	staging  map[[32]byte]chan struct{} // blobs a Put is writing and committing; closed when its Put ends
	stranded map[[32]byte]string        // temp files of failed commits, settled after the next one
	fsFile   *os.File                   // the archive directory, for syncfs
	closed   bool
	puts     sync.WaitGroup
	commits  atomic.Int64 // group commits done, for tests and benchmarks

	failCommit func() error // tests: fail the database commit
}

// Options for Open. The zero value is a read-write archive without
// encryption.
type Options struct {
	Logger   *slog.Logger
	ReadOnly bool
	// Timeout for acquiring the database lock; 0 means 1 second.
	Timeout time.Duration
	// Key is the content of the encryption key file
	// ([archive] encryption_key_file): exactly 32 bytes are a raw key,
	// anything else is a passphrase (one trailing newline removed). With
	// a key, new blobs are encrypted; without one, an archive that has
	// encrypted blobs does not open. See doc.go.
	Key []byte
	// BatchMessages and BatchBytes bound one group commit; 0 means 500
	// messages and 64 MiB.
	BatchMessages int
	BatchBytes    int64
	// AfterRead, if set, is called after each operation that reads
	// meta.db (a lookup, a commit, a step of Changes), outside its
	// transaction, on the goroutine that ran it: for the caller to check
	// how much of the file is mapped (see ReleaseMapped). It must be quick
	// and safe for concurrent use.
	AfterRead func()
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
	// bbolt grows the file by AllocSize (16 MiB) at a time once it is
	// larger: a tail that backups and `du -b` count. A grow costs a
	// truncate and an fsync; 4 MiB is one every 1,500 messages or so.
	db.AllocSize = 4 << 20
	a := &Archive{
		dir:           dir,
		db:            db,
		logger:        opts.Logger,
		readOnly:      opts.ReadOnly,
		syncMode:      defaultSyncMode,
		maxBatch:      opts.BatchMessages,
		maxBatchBytes: opts.BatchBytes,
		afterRead:     opts.AfterRead,
		inflight:      map[[32]byte]string{},
		staging:       map[[32]byte]chan struct{}{},
		stranded:      map[[32]byte]string{},
	}
	if a.afterRead == nil {
		a.afterRead = func() {}
	}
	if a.maxBatch <= 0 {
		a.maxBatch = 500
	}
	if a.maxBatchBytes <= 0 {
		a.maxBatchBytes = 64 << 20
	}
	if err := a.init(opts.Key); err != nil {
		db.Close()
		return nil, fmt.Errorf("open archive %s: %w", dir, err)
	}
	if !opts.ReadOnly {
		err := a.makeFanout()
		if err == nil {
			err = a.recoverTmp()
		}
		if err == nil {
			err = a.finishDeletes() // blob removals a crash interrupted (delete.go)
		}
		if err == nil && haveSyncfs {
			// Kept open: syncfs reports the write-back errors since the
			// last call on the same descriptor.
			a.fsFile, err = os.Open(dir)
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open archive %s: %w", dir, err)
		}
		n := max(runtime.GOMAXPROCS(0), 2)
		a.compressors = make(chan struct{}, n)
	}
	return a, nil
}

// ReleaseMapped drops meta.db's pages from the process (Linux; elsewhere it
// does nothing). bbolt reads the database through a shared mapping of the
// whole file, and every page a lookup touches stays mapped, and counted in
// the process's RSS, until the file is closed: a dedup check or a
// Message-ID lookup reads leaf pages at random keys, so an import into a
// 200,000-message archive (meta.db 416 MB) soon had most of the file
// mapped, and on kernels that cache files in large folios a fault maps the
// whole folio. The pages stay in the page cache, which the kernel reclaims
// as it needs, and a page used again is mapped again by a minor fault.
// jarchive calls it when the mapped part grew (cmd/jarchive/mapped.go), so
// that what the process holds mapped is what it recently touched, as if it
// read the file with pread, as notmuch and mu do. Safe for concurrent use
// with everything but Close.
func (a *Archive) ReleaseMapped() error {
	if err := dropMapped(a.db); err != nil {
		return fmt.Errorf("archive: release mapped pages: %w", err)
	}
	return nil
}

// init creates the buckets of a new archive, checks the format of an
// existing one and sets up encryption.
func (a *Archive) init(key []byte) error {
	if a.readOnly {
		return a.db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				if tx.Bucket(bucketMessages) != nil {
					return errOldFormat
				}
				return errors.New("not an archive (no meta bucket)")
			}
			if err := checkFormat(meta); err != nil {
				return err
			}
			var err error
			a.crypt, err = setupCipher(meta.Get(metaEncryption), key, nil)
			return err
		})
	}
	return a.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil && tx.Bucket(bucketMessages) != nil {
			return errOldFormat
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaFormat) == nil {
			if err := meta.Put(metaFormat, []byte(formatVersion)); err != nil {
				return err
			}
		}
		if err := checkFormat(meta); err != nil {
			return err
		}
		if v := string(meta.Get(metaFormat)); v != formatVersion {
			// Before values are packed: jarchive versions that read
			// format 1 only must refuse the archive, not misread it.
			if err := meta.Put(metaFormat, []byte(formatVersion)); err != nil {
				return err
			}
			a.logger.Info("archive: format upgraded; earlier jarchive versions no longer open it", "from", v, "to", formatVersion)
		}
		params := meta.Get(metaEncryption)
		var err error
		a.crypt, err = setupCipher(params, key, func(p []byte) error { return meta.Put(metaEncryption, p) })
		if err != nil {
			return err
		}
		if params == nil && a.crypt != nil {
			n := tx.Bucket(bucketMessages).Stats().KeyN
			a.logger.Info("archive: encryption at rest enabled; blobs written before stay unencrypted", "unencrypted_blobs", n)
		}
		return nil
	})
}

var errOldFormat = errors.New("meta.db is from a development build of jarchive (no format version): move the archive away and import its messages again")

func checkFormat(meta *bolt.Bucket) error {
	if v := string(meta.Get(metaFormat)); v != "1" && v != formatVersion {
		return fmt.Errorf("archive format %q: this jarchive reads formats 1 and %s", v, formatVersion)
	}
	return nil
}

// Dir is the archive directory.
func (a *Archive) Dir() string { return a.dir }

// Close waits for the Puts in progress and closes the database.
func (a *Archive) Close() error {
	a.cmu.Lock()
	if a.closed {
		a.cmu.Unlock()
		return nil
	}
	a.closed = true
	a.cmu.Unlock()
	a.puts.Wait()
	if a.commits.Load() > 0 {
		// The chain head in the log is a witness outside the archive.
		if s, err := a.Stats(); err == nil {
			a.logger.Info("archive closed", "last_seq", s.LastSeq, "chain_head", s.ChainHead)
		}
	}
	if a.fsFile != nil {
		a.fsFile.Close()
	}
	return a.db.Close()
}

// BlobPath is the path of the blob of the message with the hex id.
func (a *Archive) BlobPath(id string) string {
	if len(id) < 4 {
		return filepath.Join(a.dir, "blobs", id)
	}
	return filepath.Join(a.dir, "blobs", id[0:2], id)
}

// makeFanout creates the 256 directories of blobs/ of a new archive, so
// that no commit has to.
func (a *Archive) makeFanout() error {
	blobs := filepath.Join(a.dir, "blobs")
	if _, err := os.Stat(filepath.Join(blobs, "ff")); err == nil {
		return nil
	}
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(blobs, fmt.Sprintf("%02x", i)), 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return syncDir(blobs)
}

func parseID(id string) ([32]byte, bool) {
	var k [32]byte
	if len(id) != 64 {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(id)); err != nil {
		return k, false
	}
	return k, strings.ToLower(id) == id
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

// Get returns the record of the stored copy with the full hex id: a shown
// message or a linked copy (see Record.Primary).
func (a *Archive) Get(id string) (*Record, error) {
	key, ok := parseID(id)
	if !ok {
		return nil, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	var rec *Record
	err := a.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getRecord(tx.Bucket(bucketMessages), key)
		if err == nil && rec == nil {
			err = fmt.Errorf("message %s: %w", id, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// getRecord decodes the record with key k, or returns nil when there is
// none.
func getRecord(msgs *bolt.Bucket, k [32]byte) (*Record, error) {
	v := msgs.Get(k[:])
	if v == nil {
		return nil, nil
	}
	return unmarshalRecord(k[:], v)
}

// Open returns a reader of the original bytes of the stored copy with the
// full hex id, decrypted and decompressed. The caller closes it. The bytes
// are not checked against the id here; Verify with ReadData does that.
func (a *Archive) Open(id string) (io.ReadCloser, error) {
	if _, ok := parseID(id); !ok {
		return nil, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	f, err := os.Open(a.BlobPath(id))
	if errors.Is(err, os.ErrNotExist) {
		// Committed a moment ago and not yet moved into place? Or moved
		// since the first try: a commit renames its temp files before
		// it forgets them, so one more try at the blob path settles it.
		if tmp := a.pendingTemp(id); tmp != "" {
			f, err = os.Open(tmp)
		}
		if errors.Is(err, os.ErrNotExist) {
			f, err = os.Open(a.BlobPath(id))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("message %s: blob: %w", id, err)
	}
	r, err := a.decodeBlob(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("message %s: blob: %w", id, err)
	}
	return r, nil
}

// pendingTemp returns the temp file of a blob whose commit is in progress
// or whose move into place failed, or "".
func (a *Archive) pendingTemp(id string) string {
	k, _ := parseID(id)
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if tmp := a.inflight[k]; tmp != "" {
		return tmp
	}
	return a.stranded[k]
}

// decodeBlob returns a reader of the plaintext of the blob file f, which
// it closes on Close.
func (a *Archive) decodeBlob(f *os.File) (io.ReadCloser, error) {
	br := blobBufs.Get().(*bufio.Reader)
	br.Reset(f)
	r := &blobReader{f: f, br: br}
	var src io.Reader = br
	head, _ := br.Peek(len(ageMagic))
	if bytes.HasPrefix(head, []byte(ageMagic)) {
		if a.crypt == nil {
			r.release()
			return nil, errors.New("the blob is encrypted and no encryption key is configured")
		}
		var err error
		if src, err = a.crypt.decrypt(br); err != nil {
			r.release()
			return nil, err
		}
	}
	d, err := blobDecoder()
	if err == nil {
		err = d.Reset(src)
		r.d = d
	}
	if err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

// blobBufs and blobDecoders are the read buffers and zstd decoders of
// blob readers, reused from one Open to the next: the indexer reads every
// new blob back once, and a new decoder costs its window's buffers.
var (
	blobBufs     = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}
	blobDecoders sync.Pool
)

// blobDecoder returns a decoder of blobs from the pool or a new one. It
// decodes in the calling goroutine (concurrency 1: no goroutines to stop,
// so a pooled decoder needs no Close) and refuses windows above the 8 MiB
// that zstd decoders must support (ours are 1 MiB).
func blobDecoder() (*zstd.Decoder, error) {
	if d, ok := blobDecoders.Get().(*zstd.Decoder); ok {
		return d, nil
	}
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20))
}

type blobReader struct {
	d  *zstd.Decoder
	br *bufio.Reader
	f  *os.File
}

var errReaderClosed = errors.New("read of a closed blob reader")

func (r *blobReader) Read(p []byte) (int, error) {
	if r.d == nil {
		return 0, errReaderClosed
	}
	return r.d.Read(p)
}

// Close closes the blob file and returns the decoder and the buffer to
// their pools. A second Close does nothing.
func (r *blobReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.release()
	return err
}

// release returns the decoder and the buffer, reset so that they hold no
// reference to the file, to their pools.
func (r *blobReader) release() {
	if r.d != nil {
		if r.d.Reset(nil) == nil {
			blobDecoders.Put(r.d)
		}
		r.d = nil
	}
	if r.br != nil {
		r.br.Reset(nil)
		blobBufs.Put(r.br)
		r.br = nil
	}
	r.f = nil
}

// Each calls fn with the record of every stored copy, in id order, until fn
// returns an error (which Each returns). It reads a chunk of records per
// read transaction, so it may run for long while messages are stored.
func (a *Archive) Each(ctx context.Context, fn func(rec *Record) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var recs []*Record
		err := a.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketMessages).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && len(recs) < verifyChunk; k, v = c.Next() {
				after = append(after[:0], k...)
				rec, err := unmarshalRecord(k, v)
				if err != nil {
					return err
				}
				recs = append(recs, rec)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(recs) < verifyChunk {
			return nil
		}
	}
}

// ByMessageID returns the ids of the stored copies whose Message-ID is mid
// (as written, surrounding white space removed): distinct byte sequences
// of one message, linked by their Message-ID.
func (a *Archive) ByMessageID(mid string) ([]string, error) {
	mid = strings.TrimSpace(mid)
	if mid == "" {
		return nil, nil
	}
	if len(mid) > maxMsgIDKey {
		mid = mid[:maxMsgIDKey]
	}
	prefix := append([]byte(mid), 0)
	var ids []string
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMsgID).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) == len(prefix)+32 {
				ids = append(ids, hex.EncodeToString(k[len(prefix):]))
			}
		}
		return nil
	})
	return ids, err
}

func checkpointKey(account, mailbox string) []byte {
	return []byte(account + "\x00" + mailbox)
}

// updateCheckpoint raises the checkpoint of account's mailbox to lastUID,
// or replaces one of another UIDVALIDITY.
func updateCheckpoint(b *bolt.Bucket, account, mailbox string, uidValidity, lastUID uint32) error {
	key := checkpointKey(account, mailbox)
	if v := b.Get(key); len(v) == 8 {
		if binary.BigEndian.Uint32(v[0:4]) == uidValidity && binary.BigEndian.Uint32(v[4:8]) >= lastUID {
			return nil
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint32(v[0:4], uidValidity)
	binary.BigEndian.PutUint32(v[4:8], lastUID)
	return b.Put(key, v[:])
}

// uidlKey is the checkpoints key recording that a POP3 message with this
// unique-id was archived from the account: account, 0x01, uidl. The 0x01
// keeps it apart from the account, 0x00, mailbox keys of IMAP checkpoints.
func uidlKey(account, uidl string) []byte {
	return []byte(account + "\x01" + uidl)
}

// SeenUIDL reports whether a POP3 message with this unique-id was archived
// from the account (fetch.UIDLs): recorded in the same transaction as the
// message, so keep_mails accounts fetch nothing twice, also across restarts.
func (a *Archive) SeenUIDL(account, uidl string) (bool, error) {
	seen := false
	err := a.db.View(func(tx *bolt.Tx) error {
		seen = tx.Bucket(bucketCheckpoints).Get(uidlKey(account, uidl)) != nil
		return nil
	})
	return seen, err
}

// SetCheckpoint raises the checkpoint of an account's mailbox to lastUID
// (fetch.Checkpoints): every UID up to it is archived. A checkpoint of
// another UIDVALIDITY is replaced; one that is higher stays.
func (a *Archive) SetCheckpoint(account, mailbox string, uidValidity, lastUID uint32) error {
	if a.readOnly {
		return ErrReadOnly
	}
	err := a.db.Update(func(tx *bolt.Tx) error {
		return updateCheckpoint(tx.Bucket(bucketCheckpoints), account, mailbox, uidValidity, lastUID)
	})
	if err != nil {
		return fmt.Errorf("archive: checkpoint of %s %s: %w", account, mailbox, err)
	}
	return nil
}

// Checkpoint returns the UIDVALIDITY and the UID up to which every message
// of an account's mailbox is archived (0, 0 when none).
func (a *Archive) Checkpoint(account, mailbox string) (uidValidity, lastUID uint32, err error) {
	err = a.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCheckpoints).Get(checkpointKey(account, mailbox)); len(v) == 8 {
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

func incr(b *bolt.Bucket, name string, n int64) error {
	var cur uint64
	if v := b.Get([]byte(name)); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	}
	return b.Put([]byte(name), u64(cur+uint64(n)))
}

// Stats returns the archive's counters.
func (a *Archive) Stats() (Stats, error) {
	var s Stats
	err := a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStats)
		get := func(name string) uint64 {
			if v := b.Get([]byte(name)); len(v) == 8 {
				return binary.BigEndian.Uint64(v)
			}
			return 0
		}
		s = Stats{
			Blobs:          get("blobs"),
			Linked:         get("linked"),
			Decrypted:      get("decrypted"),
			RawBytes:       get("raw_bytes"),
			StoredBytes:    get("stored_bytes"),
			Copies:         get("copies"),
			Merged:         get("merged"),
			ParseFailures:  get("parse_failures"),
			JournalReports: get("journal_reports"),
			Encrypted:      a.crypt != nil,
			Deleted:        get("deleted"),
		}
		s.Messages = s.Blobs - s.Linked
		h := readHead(tx.Bucket(bucketMeta))
		s.LastSeq = h.seq
		if h.seq > 0 {
			s.ChainHead = hex.EncodeToString(h.hash[:])
		}
		return nil
	})
	return s, err
}

// recordDigest is the SHA-256 of a record's JSON (its stored value, or
// that decompressed: doc.go), as the log records it.
func recordDigest(v []byte) [32]byte { return sha256.Sum256(v) }
