package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"jarchive/journal"
)

// blob is one stored copy on its way into the archive.
type blob struct {
	sum     [32]byte
	size    int64         // bytes of the original
	stored  int64         // bytes of the blob file (0 when none was written: the archive had it)
	tmp     string        // the temp file in tmp/, until it is renamed into place or removed
	install bool          // set by the commit: this blob is new and is renamed into place
	staging chan struct{} // set while this Put is the one storing these bytes (stage)
}

func (b *blob) id() string { return hex.EncodeToString(b.sum[:]) }

// request is one Put waiting for its group commit.
type request struct {
	env        *journal.Envelope
	ext        envExt
	src        Source
	owners     []string // sorted, no duplicates
	checkpoint uint32   // Incoming.Checkpoint
	o, d       *blob    // the original; the decrypted copy (journal report decryption) or nil
	decProblem string   // why a decrypted copy could not be stored

	wake  chan bool // true: lead the next commit; false: done
	id    string
	added bool
	err   error
}

func (r *request) blobs() []*blob {
	if r.d != nil {
		return []*blob{r.o, r.d}
	}
	return []*blob{r.o}
}

func (r *request) bytes() int64 {
	n := r.o.size
	if r.d != nil {
		n += r.d.size
	}
	return n
}

var errClosed = errors.New("archive is closed")

// beginWrite counts a write that Close must wait for (the caller calls
// a.puts.Done when it ends), or fails with errClosed.
func (a *Archive) beginWrite() error {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if a.closed {
		return errClosed
	}
	a.puts.Add(1)
	return nil
}

// Put stores a message, or merges it into the stored copy with the same
// bytes, and links it with the copies it belongs with (see doc.go). It
// returns the id of the original (the hex SHA-256 of its bytes) and
// whether the message is new: a new shown message rather than a copy
// merged or linked into one already there. When Put returns nil the
// message is on stable storage; an error wraps ErrStorage when the storage
// failed. Put is safe for concurrent use: concurrent Puts share a group
// commit.
func (a *Archive) Put(ctx context.Context, in *Incoming) (id string, added bool, err error) {
	if a.readOnly {
		return "", false, ErrReadOnly
	}
	if in == nil || in.Envelope == nil || in.Body == nil {
		return "", false, errors.New("archive: put: incomplete message")
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if err := a.beginWrite(); err != nil {
		return "", false, err
	}
	defer a.puts.Done()

	env := in.Envelope
	r := &request{env: env, src: in.Source, owners: normOwners(in.Owners), checkpoint: in.Checkpoint}
	if in.ext != nil {
		r.ext = *in.ext
	} else {
		r.ext = extOf(env)
	}
	r.src.Status = env.Status.String()
	r.src.Envelope = env.Text
	r.src.Copy = ""
	r.o, err = a.stage(ctx, func() io.Reader { return env.Original(in.Body) }, true)
	if err != nil {
		return "", false, fmt.Errorf("archive: %w", err)
	}
	defer a.unstage(r.o)
	if r.ext.decrypted != nil && r.ext.decrypted(in.Body) != nil {
		// Not waiting for another Put storing the same copy: this one
		// already holds r.o, and the other might wait for it.
		d, err := a.stage(ctx, func() io.Reader { return r.ext.decrypted(in.Body) }, false)
		defer a.unstage(d)
		var re *readError
		switch {
		case err == nil && d.sum == r.o.sum:
			removeTemp(d)
		case err == nil:
			r.d = d
		case errors.As(err, &re):
			r.decProblem = "decrypted copy not stored: " + err.Error()
			a.logger.Warn("archive: decrypted copy unreadable; storing the protected original only", "sha256", r.o.id(), "err", err)
		default:
			removeTemp(r.o)
			return "", false, fmt.Errorf("archive: %w", err)
		}
	}
	a.submit(r)
	if r.err != nil {
		return "", false, fmt.Errorf("archive %s: %w", r.o.id(), r.err)
	}
	return r.id, r.added, nil
}

func removeTemp(b *blob) {
	if b != nil && b.tmp != "" {
		os.Remove(b.tmp)
		b.tmp = ""
	}
}

// readError is a failure to read the message, not to write the blob.
type readError struct{ err error }

func (e *readError) Error() string { return "read message: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// errReader remembers a read error, to tell it from a write error in
// io.Copy.
type errReader struct {
	r   io.Reader
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// stage reads a stored copy twice: once to hash it, and, when the archive
// does not have it yet, again to compress (and encrypt) it into a temp file
// in tmp/, named by its id, fsynced unless the commit syncs the file
// system. open returns a new reader of the bytes each time.
//
// When another Put is storing the same bytes (journal reports of one
// message to several recipients arrive together), stage waits for that
// Put to end if wait is set, and writes nothing when it stored them. Before,
// nine in ten duplicates of the benchmark import were compressed and
// written for nothing, and their removed temp files slowed every later
// file creation (ext4 skips inodes freed in the last minute). The caller
// calls unstage with the blob when its Put ends.
func (a *Archive) stage(ctx context.Context, open func() io.Reader, wait bool) (*blob, error) {
	b := &blob{}
	h := sha256.New()
	var err error
	if b.size, err = copyBuf(h, open()); err != nil {
		return nil, &readError{err}
	}
	copy(b.sum[:], h.Sum(nil))
	for {
		a.cmu.Lock()
		other, busy := a.staging[b.sum]
		if !busy {
			b.staging = make(chan struct{})
			a.staging[b.sum] = b.staging
		}
		a.cmu.Unlock()
		// Looked at after taking the lead, so that a Put that committed
		// the bytes and ended in between is not missed.
		if a.has(b.sum) {
			a.unstage(b)
			return b, nil
		}
		if !busy || !wait {
			break
		}
		select {
		case <-other:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// The encoder also bounds how many Puts write files at once: many
	// creators in one directory only contend for its lock.
	enc, err := a.encoder()
	if err != nil {
		a.unstage(b)
		return nil, err
	}
	err = a.writeTemp(enc, b, open())
	a.releaseEncoder(enc)
	if err != nil {
		a.unstage(b)
		return nil, err
	}
	if a.syncMode == syncPerFile || !haveSyncfs {
		if err := syncFile(b.tmp); err != nil {
			removeTemp(b)
			a.unstage(b)
			return nil, storage(fmt.Errorf("fsync blob: %w", err))
		}
	}
	return b, nil
}

// unstage ends what stage began for b, if anything: Puts waiting for the
// same bytes look again.
func (a *Archive) unstage(b *blob) {
	if b == nil || b.staging == nil {
		return
	}
	a.cmu.Lock()
	if a.staging[b.sum] == b.staging {
		delete(a.staging, b.sum)
	}
	a.cmu.Unlock()
	close(b.staging)
	b.staging = nil
}

func copyBuf(w io.Writer, r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(w, r, *buf)
}

// has reports whether the archive holds a record with this id.
func (a *Archive) has(sum [32]byte) bool {
	found := false
	defer a.afterRead()
	a.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketMessages).Get(sum[:]) != nil
		return nil
	})
	return found
}

var tmpSeq atomic.Uint64

// tmpName is the temp file of a blob: tmp/<id>.<pid>-<n>. Open rolls such
// a file forward into blobs/ when its record was committed and its rename
// was lost.
func (a *Archive) tmpName(id string) string {
	return filepath.Join(a.dir, "tmp", fmt.Sprintf("%s.%d-%d", id, os.Getpid(), tmpSeq.Add(1)))
}

func (a *Archive) writeTemp(enc *zstd.Encoder, b *blob, r io.Reader) error {
	name := a.tmpName(b.id())
	// Created read-only: blobs are write-once; the descriptor may write.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o440)
	if err != nil {
		return storage(fmt.Errorf("write blob: %w", err))
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(name)
		return err
	}
	cw := &countWriter{w: f}
	var sink io.Writer = cw
	var ew io.WriteCloser
	if a.crypt != nil {
		if ew, err = a.crypt.encrypt(cw); err != nil {
			return fail(fmt.Errorf("encrypt blob: %w", err))
		}
		sink = ew
	}
	enc.Reset(sink)
	h := sha256.New()
	er := &errReader{r: r}
	n, err := copyBuf(io.MultiWriter(enc, h), er)
	if err == nil {
		err = enc.Close()
	}
	if err == nil && ew != nil {
		err = ew.Close()
	}
	if er.err != nil {
		return fail(&readError{er.err})
	}
	if err != nil {
		return fail(storage(fmt.Errorf("write blob: %w", err)))
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return storage(fmt.Errorf("write blob: %w", err))
	}
	if n != b.size || [32]byte(h.Sum(nil)) != b.sum {
		os.Remove(name)
		return &readError{errors.New("the message changed while it was being stored")}
	}
	b.tmp, b.stored = name, cw.n
	return nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// encoders are shared by all archives of the process: an encoder costs
// a few MiB of tables to make. A free list, not a sync.Pool: a pool is
// emptied by the garbage collector, and an import made a new encoder
// about every other collection (0.5 GB of tables over 20,000 messages).
var encoders = make(chan *zstd.Encoder, max(runtime.GOMAXPROCS(0), 2))

// blobEncoderOptions: the fastest level, with the literals of blocks
// without matches entropy-coded too. Most stored bytes are base64
// attachments (already compressed files: nothing to match, but 6 bits of
// every 8 used), which zstd otherwise stores as they are. On the
// 20,000-message benchmark corpus (single thread, whole corpus) blobs were
// 0.600 of the originals in 1.63 s this way; 0.733 in 1.08 s without the
// literals; 0.597 in 1.97 s at the default level with them; 0.592 at the
// better level for 55% more time than the default (TestBlobCompression).
var blobEncoderOptions = []zstd.EOption{
	zstd.WithEncoderLevel(zstd.SpeedFastest),
	zstd.WithAllLitEntropyCompression(true),
	zstd.WithEncoderConcurrency(1),
	zstd.WithWindowSize(1 << 20),
}

// encoder waits for a compression slot, since compression is CPU-bound
// and more at once would not be faster, and returns an encoder.
func (a *Archive) encoder() (*zstd.Encoder, error) {
	a.compressors <- struct{}{}
	select {
	case e := <-encoders:
		return e, nil
	default:
	}
	e, err := zstd.NewWriter(nil, blobEncoderOptions...)
	if err != nil {
		<-a.compressors
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return e, nil
}

func (a *Archive) releaseEncoder(e *zstd.Encoder) {
	e.Reset(nil)
	select {
	case encoders <- e:
	default: // more archives than slots: let it go
	}
	<-a.compressors
}
