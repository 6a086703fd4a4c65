package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"go.etcd.io/bbolt"
)

// ErrSchema is returned by Open for an index written with another mapping or
// extraction (see schemaVersion). The index is derived data: remove the
// directory and rebuild it from the archive.
var ErrSchema = errors.New("index schema changed, rebuild needed")

// Internal (non-document) keys stored in the index.
var (
	keyWatermark = []byte("jarchive.watermark") // 8 bytes, big endian
	keySchema    = []byte("jarchive.schema")    // schemaVersion
)

// boltTimeout bounds the wait for the index lock, so a second process gets an
// error instead of hanging.
const boltTimeout = "2s"

// Document is what the archive knows about one message; Body is the original
// message bytes.
type Document struct {
	ID       string    // hex SHA-256 of the original message (64 chars); the bleve doc ID
	Date     time.Time // Date header (zero if missing/unparseable)
	From     []string  // "Display Name <addr>" or bare addresses, as in the headers
	To, Cc   []string
	Rcpt     []string // envelope recipients (journal report), bare addresses
	Sender   string   // envelope sender
	Subject  string   // decoded
	Size     int64
	Accounts []string    // account names the message came from
	Body     io.ReaderAt // original message; nil = headers only
	BodySize int64
}

// Index is the full-text index. Its methods are safe for concurrent use; a
// Batch is not.
type Index struct {
	idx    bleve.Index
	dir    string
	logger *slog.Logger
}

// Open opens the index in dir, creating it with the mapping of this package
// when dir does not exist or is empty. A nil logger discards.
func Open(dir string, logger *slog.Logger) (*Index, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	_, err := os.Stat(filepath.Join(dir, "index_meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return create(dir, logger)
	} else if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	idx, err := bleve.OpenUsing(dir, map[string]any{"bolt_timeout": boltTimeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("open index %s: locked by another process: %w", dir, err)
	} else if err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	ix := &Index{idx: idx, dir: dir, logger: logger}
	schema, err := idx.GetInternal(keySchema)
	if err != nil {
		ix.Close()
		return nil, fmt.Errorf("open index %s: read schema: %w", dir, err)
	}
	if string(schema) != schemaVersion {
		ix.Close()
		return nil, fmt.Errorf("open index %s: schema %q, want %q: %w", dir, schema, schemaVersion, ErrSchema)
	}
	n, _ := idx.DocCount()
	wm, _ := ix.Watermark()
	logger.Debug("index opened", "dir", dir, "docs", n, "watermark", wm)
	return ix, nil
}

func create(dir string, logger *slog.Logger) (*Index, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("create index: %w", err)
	case len(entries) > 0:
		return nil, fmt.Errorf("create index %s: directory is not empty and holds no index", dir)
	}
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("create index %s: mapping: %w", dir, err)
	}
	idx, err := bleve.NewUsing(dir, m, scorch.Name, bleve.Config.DefaultKVStore, map[string]any{"bolt_timeout": boltTimeout})
	if err != nil {
		return nil, fmt.Errorf("create index %s: %w", dir, err)
	}
	ix := &Index{idx: idx, dir: dir, logger: logger}
	// A crash before this leaves an index without schema, which the next
	// Open rejects with ErrSchema: a rebuild of nothing.
	if err := idx.SetInternal(keySchema, []byte(schemaVersion)); err != nil {
		ix.Close()
		return nil, fmt.Errorf("create index %s: %w", dir, err)
	}
	logger.Info("index created", "dir", dir)
	return ix, nil
}

// Close closes the index.
func (ix *Index) Close() error {
	if err := ix.idx.Close(); err != nil {
		return fmt.Errorf("close index %s: %w", ix.dir, err)
	}
	return nil
}

// Watermark returns the watermark of the last committed batch, 0 for a new
// index.
func (ix *Index) Watermark() (uint64, error) {
	v, err := ix.idx.GetInternal(keyWatermark)
	if err != nil {
		return 0, fmt.Errorf("index watermark: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("index watermark: %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Count returns the number of documents in the index.
func (ix *Index) Count() (uint64, error) {
	n, err := ix.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("index count: %w", err)
	}
	return n, nil
}

// Batch is a set of documents added to the index in one Commit. A batch is
// not safe for concurrent use.
type Batch struct {
	ix *Index
	b  *bleve.Batch
}

// Batch returns an empty batch. Callers commit it every few hundred
// documents or when Bytes passes a few tens of MiB, whichever comes first.
func (ix *Index) Batch() *Batch {
	return &Batch{ix: ix, b: ix.idx.NewBatch()}
}

// Add extracts the text of d and adds it to the batch, replacing an earlier
// document with the same ID. Malformed messages are indexed with what could be
// read (the problem is logged at debug level); Add fails only for a bad ID.
func (b *Batch) Add(d *Document) error {
	if d == nil {
		return errors.New("index add: nil document")
	}
	if !validID(d.ID) {
		return fmt.Errorf("index add: id %q is not a hex sha256", d.ID)
	}
	fields := map[string]any{}
	addStrings := func(name string, vs []string) {
		var out []string
		for _, v := range vs {
			if name != fieldSubject {
				// Display names may still be RFC 2047 encoded.
				v = decodeWords(v)
			}
			if v = strings.TrimSpace(cleanText(v)); v != "" {
				out = append(out, v)
			}
		}
		if len(out) > 0 {
			fields[name] = out
		}
	}
	addStrings(fieldFrom, d.From)
	addStrings(fieldTo, d.To)
	addStrings(fieldCc, d.Cc)
	addStrings(fieldRcpt, d.Rcpt)
	addStrings(fieldSender, []string{d.Sender})
	addStrings(fieldSubject, []string{d.Subject})
	addStrings(fieldAccount, d.Accounts)
	if !d.Date.IsZero() {
		fields[fieldDate] = d.Date
	}
	fields[fieldSize] = float64(d.Size)
	if d.Body != nil {
		size := d.BodySize
		if size <= 0 {
			size = math.MaxInt64 // unknown: read to EOF
		}
		ex, err := safeExtract(io.NewSectionReader(d.Body, 0, size))
		if err != nil {
			b.ix.logger.Debug("index: message partly extracted", "sha256", d.ID, "err", err)
		}
		if ex.Text != "" {
			fields[fieldBody] = ex.Text
		}
		if len(ex.Names) > 0 {
			fields[fieldAttachment] = ex.Names
		}
	}
	if err := b.b.Index(d.ID, fields); err != nil {
		return fmt.Errorf("index add %s: %w", d.ID, err)
	}
	return nil
}

// safeExtract is extract with a last line of defence: a panic in a decoder
// costs the text of one message, not the daemon.
func safeExtract(r io.Reader) (ex extracted, err error) {
	defer func() {
		if p := recover(); p != nil {
			ex, err = extracted{}, fmt.Errorf("extract: panic: %v", p)
		}
	}()
	return extract(r)
}

func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Len returns the number of documents in the batch.
func (b *Batch) Len() int {
	return b.b.Size() // no internal ops before Commit
}

// Bytes returns an estimate of the memory the batch holds.
func (b *Batch) Bytes() int64 {
	return int64(b.b.TotalDocsSize())
}

// Commit adds the batch to the index together with watermark, atomically:
// after a crash the index holds either both or neither. It returns once the
// batch is persisted. The batch is empty afterwards, also on error, and can be
// reused.
func (b *Batch) Commit(watermark uint64) error {
	defer b.b.Reset()
	n := b.b.Size()
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], watermark)
	b.b.SetInternal(keyWatermark, v[:])
	start := time.Now()
	if err := b.ix.idx.Batch(b.b); err != nil {
		return fmt.Errorf("index commit of %d documents: %w", n, err)
	}
	b.ix.logger.Debug("index batch committed", "docs", n, "watermark", watermark, "took", time.Since(start))
	return nil
}
