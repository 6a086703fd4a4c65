package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"go.etcd.io/bbolt"
)

// ErrSchema is returned by Open for an index written with another mapping or
// extraction (see schemaVersion). The index is derived data: remove the
// directory and rebuild it from the archive.
var ErrSchema = errors.New("index schema changed, rebuild needed")

// ErrRebuilding is returned by StartRebuild while another rebuild runs.
var ErrRebuilding = errors.New("index rebuild already running")

// Internal (non-document) keys stored in the index.
var (
	keyWatermark = []byte("jarchive.watermark") // 8 bytes, big endian
	keySchema    = []byte("jarchive.schema")    // schemaVersion
)

// Files and directories of the index directory; see doc.go.
const (
	currentFile = "CURRENT"
	genPrefix   = "gen-"
)

// boltTimeout bounds the wait for the index lock, so a second process gets an
// error instead of hanging.
const boltTimeout = "2s"

// Document is what the archive knows about one message; Body is the original
// message bytes.
type Document struct {
	ID        string    // hex SHA-256 of the original message (64 chars); the bleve doc ID
	Date      time.Time // Date header; zero if missing (sorts last, see doc.go)
	From      []string  // "Display Name <addr>" or bare addresses, as in the headers
	To, Cc    []string
	Bcc       []string // envelope Bcc recipients (journal report), bare addresses
	Rcpt      []string // all envelope recipients, bare addresses
	Sender    string   // envelope sender
	Subject   string   // decoded
	MessageID string   // Message-ID, with or without angle brackets
	Size      int64
	Accounts  []string // account names the message came from
	// Owners are the users who may see the message (package directory:
	// user names, or addresses in normal form when no users are defined);
	// Search with a Scope of owners returns only theirs.
	Owners   []string
	Body     io.ReaderAt // original message; nil = headers only
	BodySize int64
}

// Index is the full-text index. Its methods are safe for concurrent use; a
// Batch is not.
type Index struct {
	dir    string
	logger *slog.Logger

	// mu guards cur. Searches hold it for reading while they run, so a
	// rebuilt generation is swapped in only between searches.
	mu      sync.RWMutex
	cur     *generation // after Close, the closed one: its methods fail
	rebuild *Rebuild    // running rebuild, or nil
	closed  bool
}

// generation is one bleve index in a gen-NNNNNN directory.
type generation struct {
	name string
	dir  string
	idx  bleve.Index
}

// Open opens the index in dir, creating it with the mapping of this package
// when dir does not exist or is empty. Leftovers of an interrupted rebuild
// are removed. A nil logger discards.
func Open(dir string, logger *slog.Logger) (*Index, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ix := &Index{dir: dir, logger: logger}
	if _, err := os.Stat(filepath.Join(dir, "index_meta.json")); err == nil {
		// The layout of schema jarchive-index-1: the bleve index
		// directly in dir.
		return nil, fmt.Errorf("open index %s: schema %q, want %q: %w", dir, "jarchive-index-1", schemaVersion, ErrSchema)
	}
	cur, err := os.ReadFile(filepath.Join(dir, currentFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ix, ix.create()
	case err != nil:
		return nil, fmt.Errorf("open index: %w", err)
	}
	name := strings.TrimSpace(string(cur))
	if _, ok := genNumber(name); !ok {
		return nil, fmt.Errorf("open index %s: %s names %q, not a generation", dir, currentFile, name)
	}
	if _, err := os.Stat(filepath.Join(dir, name, "index_meta.json")); err != nil {
		return nil, fmt.Errorf("open index %s: %s names %s, which is missing: %w", dir, currentFile, name, ErrSchema)
	}
	g, err := openGeneration(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	ix.cur = g
	ix.removeGenerations(name)
	n, _ := g.idx.DocCount()
	wm, _ := ix.Watermark()
	logger.Debug("index opened", "dir", g.dir, "docs", n, "watermark", wm)
	return ix, nil
}

// ReleaseMapped drops the pages of the index's segment files from the
// process (Linux; dropSegments; elsewhere it does nothing). zapx reads a
// segment through a shared mapping of the whole file, and every page a
// search or a merge touches stays mapped, and counted in the process's
// RSS, until the segment is closed. Merges read their segments whole, and
// the updates of each batch look up the new documents' ids in every
// segment, so the mapped part grew with the archive: at 200,000 messages
// it was 230 MB of the import's peak RSS of 408 MB. The pages stay in the
// page cache, which the kernel reclaims as it needs; a page used again is
// mapped again by a minor fault. jarchive calls it when the mapped part
// grew (cmd/jarchive/mapped.go), as it does archive.ReleaseMapped.
func (ix *Index) ReleaseMapped() error {
	// No generation reachable under ix.mu is closed while it is held:
	// Close closes under the lock, and Finish and Abort detach the
	// generation they close under it and close it after. When the lock is
	// taken or wanted for writing (a swap waiting for the searches to
	// end), this gives up rather than wait: jarchive calls it on the
	// archive's commit path, which must not wait for a search.
	if !ix.mu.TryRLock() {
		return nil
	}
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil
	}
	gens := []*generation{ix.cur}
	if ix.rebuild != nil {
		gens = append(gens, ix.rebuild.g)
	}
	var errs []error
	for _, g := range gens {
		if err := dropSegments(g.idx); err != nil {
			errs = append(errs, fmt.Errorf("index %s: release mapped pages: %w", g.dir, err))
		}
	}
	return errors.Join(errs...)
}

// create makes a new index in an empty (or missing) dir: generation 1, then
// CURRENT naming it. A crash before CURRENT leaves generations without
// CURRENT, which the next Open removes.
func (ix *Index) create() error {
	entries, err := os.ReadDir(ix.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("create index: %w", err)
	}
	for _, e := range entries {
		if _, ok := genNumber(e.Name()); !ok && e.Name() != currentFile+".tmp" {
			return fmt.Errorf("create index %s: directory is not empty and holds no index", ix.dir)
		}
	}
	ix.removeGenerations("")
	if err := os.MkdirAll(ix.dir, 0o750); err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	name := genName(1)
	g, err := createGeneration(filepath.Join(ix.dir, name))
	if err != nil {
		return err
	}
	if err := ix.setCurrent(name); err != nil {
		g.close()
		return err
	}
	ix.cur = g
	ix.logger.Info("index created", "dir", g.dir)
	return nil
}

func genName(n int) string { return fmt.Sprintf("%s%06d", genPrefix, n) }

func genNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, genPrefix)
	if !ok || len(s) != 6 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// removeGenerations removes every generation but keep, and a CURRENT.tmp.
func (ix *Index) removeGenerations(keep string) {
	entries, _ := os.ReadDir(ix.dir)
	for _, e := range entries {
		name := e.Name()
		if _, ok := genNumber(name); (ok && name != keep) || name == currentFile+".tmp" {
			if err := os.RemoveAll(filepath.Join(ix.dir, name)); err != nil {
				ix.logger.Warn("index: remove old generation", "dir", name, "err", err)
			} else {
				ix.logger.Info("index: removed old generation", "dir", filepath.Join(ix.dir, name))
			}
		}
	}
}

// setCurrent points CURRENT at the generation name, atomically and durably:
// temp file, fsync, rename, fsync of the directory.
func (ix *Index) setCurrent(name string) error {
	tmp := filepath.Join(ix.dir, currentFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(ix.dir, currentFile))
	}
	if err == nil {
		err = syncDir(ix.dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("index: switch to %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func openGeneration(dir string) (*generation, error) {
	idx, err := bleve.OpenUsing(dir, scorchConfig())
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("open index %s: locked by another process: %w", dir, err)
	} else if err != nil {
		return nil, fmt.Errorf("open index %s: %w (the index is derived data: remove %s and it is rebuilt from the archive)", dir, err, filepath.Dir(dir))
	}
	g := &generation{name: filepath.Base(dir), dir: dir, idx: idx}
	schema, err := idx.GetInternal(keySchema)
	if err != nil {
		g.close()
		return nil, fmt.Errorf("open index %s: read schema: %w", dir, err)
	}
	if string(schema) != schemaVersion {
		g.close()
		return nil, fmt.Errorf("open index %s: schema %q, want %q: %w", dir, schema, schemaVersion, ErrSchema)
	}
	return g, nil
}

// maxSegmentDocs bounds the documents of a segment that scorch's merges
// make (its default: 5 million). A merge reads its segments whole, through
// memory mappings that count in the process's RSS while it runs: in the
// 200,000-message scale benchmark one merge read 761 MB, and the peak RSS
// of its chunk was 697 MB. About 15,000 documents are some 90 MB of index
// with positions; at 200,000 messages the index had 17 segments before and
// 19 after. The cost comes later: scorch merges only segments under half
// the limit, and with the floor below its merges make segments of 12,500
// documents (five of 2,500; a sixth would reach the limit), so an archive
// of N messages keeps about N/12,500 segments (80 at a million) and up to
// 19 smaller ones waiting to be merged, and every search visits each one.
const maxSegmentDocs = 15000

// BatchDocs is the number of documents per Batch the index is tuned for:
// callers commit batches of at most this many (fewer when the changes run
// out), and each makes a segment.
const BatchDocs = 250

// The merge planner counts a segment smaller than FloorSegmentSize as one
// of that size (its default: 2,000 documents). With segments of BatchDocs,
// it then allowed an index of 20,000 documents 9 or 10 segments and merged
// the new small ones again and again: the merges of the 20,000-message
// benchmark import wrote 330 MB for an index of 115 MB. With a floor of
// one batch, ten batch segments wait and are merged into one, and those
// later into segments too large to merge again: the merges wrote 110 MB,
// the import took 5% less CPU time, and searches were as fast with 11
// segments as with 8 (a common word: 0.74-0.79 ms either way).
const floorSegmentDocs = BatchDocs

// scorchConfig is the runtime configuration of every index opened or
// created.
func scorchConfig() map[string]any {
	return map[string]any{
		"bolt_timeout": boltTimeout,
		"scorchMergePlanOptions": map[string]any{
			"MaxSegmentSize":   maxSegmentDocs,
			"FloorSegmentSize": floorSegmentDocs,
		},
	}
}

func createGeneration(dir string) (*generation, error) {
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("create index %s: mapping: %w", dir, err)
	}
	idx, err := bleve.NewUsing(dir, m, scorch.Name, bleve.Config.DefaultKVStore, scorchConfig())
	if err != nil {
		return nil, fmt.Errorf("create index %s: %w", dir, err)
	}
	g := &generation{name: filepath.Base(dir), dir: dir, idx: idx}
	if err := idx.SetInternal(keySchema, []byte(schemaVersion)); err != nil {
		g.close()
		return nil, fmt.Errorf("create index %s: %w", dir, err)
	}
	return g, nil
}

func (g *generation) close() error {
	if err := g.idx.Close(); err != nil {
		return fmt.Errorf("close index %s: %w", g.dir, err)
	}
	return nil
}

func (g *generation) watermark() (uint64, error) {
	v, err := g.idx.GetInternal(keyWatermark)
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

// current returns the live generation and a function to release it. Swap
// waits for every release.
func (ix *Index) current() (*generation, func()) {
	ix.mu.RLock()
	return ix.cur, ix.mu.RUnlock
}

// Close closes the index, and a rebuild that was neither finished nor
// aborted (its directory is removed at the next Open).
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	if r := ix.rebuild; r != nil {
		ix.rebuild = nil
		r.g.close()
	}
	return ix.cur.close()
}

// Dir returns the directory of the live generation.
func (ix *Index) Dir() string {
	g, release := ix.current()
	defer release()
	return g.dir
}

// Watermark returns the watermark of the last committed batch, 0 for a new
// index.
func (ix *Index) Watermark() (uint64, error) {
	g, release := ix.current()
	defer release()
	return g.watermark()
}

// Count returns the number of documents in the index.
func (ix *Index) Count() (uint64, error) {
	g, release := ix.current()
	defer release()
	n, err := g.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("index count: %w", err)
	}
	return n, nil
}

// Batch is a set of documents added to the index in one Commit. A batch is
// not safe for concurrent use.
type Batch struct {
	g      *generation
	logger *slog.Logger
	b      *bleve.Batch
	bytes  int64 // of the documents added since the last Commit
}

// Batch returns an empty batch for the live index. Callers commit it every
// few hundred documents or when Bytes passes a few tens of MiB, whichever
// comes first. A batch must not be in use while a rebuild is finished (the
// caller serialises the two).
func (ix *Index) Batch() *Batch {
	g, release := ix.current()
	defer release()
	return &Batch{g: g, logger: ix.logger, b: g.idx.NewBatch()}
}

// Add extracts the text of d and adds it to the batch, replacing an earlier
// document with the same ID: Prepare, then AddPrepared.
func (b *Batch) Add(d *Document) error {
	p, err := prepare(b.g.idx, d, b.logger)
	if err != nil {
		return err
	}
	b.AddPrepared(p)
	return nil
}

// Prepared is a document ready to be added to a batch: its text extracted
// and its fields mapped. Preparing is most of the cost of indexing a message
// (reading attachments, running pdftotext), and unlike adding to a batch it
// is safe for concurrent use: callers prepare in parallel and add in order.
type Prepared struct {
	doc  *document.Document
	size int64 // memory estimate, for Batch.Bytes
}

// Bytes returns an estimate of the memory p holds.
func (p *Prepared) Bytes() int64 { return p.size }

// Prepare extracts the text of d and maps its fields for AddPrepared.
// Malformed messages are indexed with what could be read (the problem is
// logged at debug level); Prepare fails only for a bad ID. It may be called
// from several goroutines at once, also while a batch commits.
func (ix *Index) Prepare(d *Document) (*Prepared, error) {
	g, release := ix.current()
	defer release()
	return prepare(g.idx, d, ix.logger)
}

func prepare(idx bleve.Index, d *Document, logger *slog.Logger) (*Prepared, error) {
	if d == nil {
		return nil, errors.New("index add: nil document")
	}
	if !validID(d.ID) {
		return nil, fmt.Errorf("index add: id %q is not a hex sha256", d.ID)
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
	addStrings(fieldBcc, d.Bcc)
	addStrings(fieldRcpt, d.Rcpt)
	addStrings(fieldSender, []string{d.Sender})
	addStrings(fieldSubject, []string{d.Subject})
	addStrings(fieldAccount, d.Accounts)
	addStrings(fieldOwner, d.Owners)
	if id := normMsgID(d.MessageID); id != "" {
		fields[fieldMsgID] = id
	}
	date := sortDate(d.Date, d.ID)
	fields[fieldDate] = quarterHours(date)
	fields[fieldOrder] = orderKey(date)
	fields[fieldMonth] = monthKey(date)
	fields[fieldSize] = sizeKB(d.Size)
	if d.Body != nil {
		size := d.BodySize
		if size <= 0 {
			size = math.MaxInt64 // unknown: read to EOF
		}
		ex, err := safeExtract(io.NewSectionReader(d.Body, 0, size))
		if err != nil {
			logger.Debug("index: message partly extracted", "sha256", d.ID, "err", err)
		}
		if ex.Text != "" {
			fields[fieldBody] = ex.Text
		}
		if ex.AttText != "" {
			fields[fieldAttText] = ex.AttText
		}
		if len(ex.Names) > 0 {
			fields[fieldFilename] = ex.Names
		}
		if ex.HasAttachment {
			fields[fieldHas] = hasAttachment
		}
	}
	doc := document.NewDocument(d.ID)
	if err := idx.Mapping().MapDocument(doc, fields); err != nil {
		return nil, fmt.Errorf("index add %s: %w", d.ID, err)
	}
	return &Prepared{doc: doc, size: int64(doc.Size() + len(d.ID))}, nil
}

// AddPrepared adds p to the batch, replacing an earlier document with the
// same ID.
func (b *Batch) AddPrepared(p *Prepared) {
	b.b.IndexAdvanced(p.doc) // fails only for an empty ID, which prepare refused
	b.bytes += p.size
}

// Dates outside [minDate, maxDate] are clamped; a missing date is minDate.
// maxDate stays below the time at which orderKey's nanoseconds since
// minDate would overflow a time.Duration (April 2192), where every key
// would be the same.
var (
	minDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2190, 1, 1, 0, 0, 0, 0, time.UTC)
)

// sortDate is the value of the date field: the date to the second, plus a
// fraction of a second taken from the ID. Dates of mail have whole seconds,
// so the fraction changes no day and no range, but it orders messages of the
// same second, which makes date the unique sort key that paging after a hit
// needs (a tie-break on the ID would load the ID of every hit). Two messages
// of the same second get the same value once in 10^9 pairs.
func sortDate(t time.Time, id string) time.Time {
	switch {
	case t.IsZero() || t.Before(minDate):
		t = minDate
	case t.After(maxDate):
		t = maxDate
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	frac := h.Sum64() % 1_000_000_000
	return t.Truncate(time.Second).Add(time.Duration(frac)).UTC()
}

// quarterHours is the value of the date field: t in quarter hours since
// 1970. Every time zone's midnight falls on a quarter hour, so after: and
// before: are exact, and the coarse values keep the numeric terms few.
func quarterHours(t time.Time) float64 {
	return math.Floor(float64(t.Unix()) / 900)
}

// sizeKB is the value of the size field: whole kB (1,000 bytes). Sizes in
// bytes are nearly unique, and each distinct number costs bleve 16 terms.
func sizeKB(n int64) float64 {
	return float64(max(n, 0) / 1000)
}

// orderKey is the value of the order field: t (a sortDate) in nanoseconds
// since minDate, as 16 hex digits, which sort as the times do.
func orderKey(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(t.Sub(minDate)))
}

// monthKey is the value of the month field: the UTC month of t (a
// sortDate), "YYYY-MM", which sorts as the order keys of its messages do.
func monthKey(t time.Time) string {
	return t.UTC().Format("2006-01")
}

// normMsgID is the form of a Message-ID in the msgid field: without angle
// brackets and white space (the keyword analyzer lower-cases it).
func normMsgID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	return strings.TrimSpace(s)
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
	return b.bytes
}

// Commit adds the batch to the index together with watermark, atomically:
// after a crash the index holds either both or neither. It returns once the
// batch is persisted. The batch is empty afterwards, also on error, and can be
// reused.
func (b *Batch) Commit(watermark uint64) error {
	// A fresh batch, not Reset: scorch's analysis goroutines may still read
	// the committed batch after Batch returns (a race the detector found
	// with a batch of deletes).
	defer func() { b.b, b.bytes = b.g.idx.NewBatch(), 0 }()
	n := b.b.Size()
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], watermark)
	b.b.SetInternal(keyWatermark, v[:])
	start := time.Now()
	if err := protectedBatch(b.g.idx, b.b); err != nil {
		return fmt.Errorf("index commit of %d documents: %w", n, err)
	}
	b.logger.Debug("index batch committed", "generation", b.g.name, "docs", n, "watermark", watermark, "took", time.Since(start))
	return nil
}

// ErrPanicked matches (errors.Is) an index operation in which bleve
// panicked. Seen when the disk is full: scorch may close a segment whose
// caches a concurrent introduction still writes to ("assignment to entry
// in nil map" in zapx). The index is derived from the archive: the
// caller reports the error and tries again later, and a restart or
// "jarchive reindex" rebuilds what the watermark does not cover.
var ErrPanicked = errors.New("the search library panicked")

// protectedBatch runs idx.Batch, turning a panic into an error that
// matches ErrPanicked.
func protectedBatch(idx bleve.Index, b *bleve.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanicked, r)
		}
	}()
	return idx.Batch(b)
}

// Rebuild is a new generation of the index, built beside the live one
// while that one goes on answering searches and taking batches. Finish swaps
// it in; Abort drops it.
type Rebuild struct {
	ix *Index
	g  *generation
}

// StartRebuild creates an empty generation to rebuild the index into. Only
// one rebuild runs at a time.
func (ix *Index) StartRebuild() (*Rebuild, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil, errors.New("index rebuild: index is closed")
	}
	if ix.rebuild != nil {
		return nil, ErrRebuilding
	}
	n, _ := genNumber(ix.cur.name)
	g, err := createGeneration(filepath.Join(ix.dir, genName(n+1)))
	if err != nil {
		return nil, fmt.Errorf("index rebuild: %w", err)
	}
	r := &Rebuild{ix: ix, g: g}
	ix.rebuild = r
	ix.logger.Info("index rebuild started", "dir", g.dir)
	return r, nil
}

// Batch returns an empty batch for the new generation.
func (r *Rebuild) Batch() *Batch {
	return &Batch{g: r.g, logger: r.ix.logger, b: r.g.idx.NewBatch()}
}

// Watermark returns the watermark of the new generation.
func (r *Rebuild) Watermark() (uint64, error) { return r.g.watermark() }

// Abort closes and removes the new generation.
func (r *Rebuild) Abort() error {
	ix := r.ix
	ix.mu.Lock()
	if ix.rebuild != r {
		ix.mu.Unlock()
		return nil // finished, aborted or closed already
	}
	ix.rebuild = nil
	ix.mu.Unlock()
	err := r.g.close()
	if rerr := os.RemoveAll(r.g.dir); err == nil && rerr != nil {
		err = fmt.Errorf("index rebuild: %w", rerr)
	}
	ix.logger.Info("index rebuild aborted", "dir", r.g.dir)
	return err
}

// Finish makes the new generation the live index: CURRENT is switched
// atomically, searches that run go on with the old generation and later
// ones use the new, and the old generation is closed and removed. The
// caller must not fill or commit a batch of the live index meanwhile.
func (r *Rebuild) Finish() error {
	ix := r.ix
	ix.mu.Lock()
	if ix.rebuild != r {
		ix.mu.Unlock()
		return errors.New("index rebuild: finished, aborted or closed already")
	}
	if err := ix.setCurrent(r.g.name); err != nil {
		ix.mu.Unlock()
		return err
	}
	old := ix.cur
	ix.cur, ix.rebuild = r.g, nil
	ix.mu.Unlock()

	err := old.close()
	if rerr := os.RemoveAll(old.dir); err == nil && rerr != nil {
		err = fmt.Errorf("index: remove old generation: %w", rerr)
	}
	ix.logger.Info("index rebuild finished", "dir", r.g.dir, "removed", old.dir)
	return err
}
