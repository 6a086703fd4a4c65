package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/directory"
	"jarchive/fetch"
	"jarchive/index"
)

// store is an open archive with its search index: what the archive commands
// work on, in the daemon or in a CLI process.
type store struct {
	cfg    atomic.Pointer[config.Config] // config and setConfig; a reload replaces it
	arc    *archive.Archive
	idx    *index.Index
	logger *slog.Logger

	indexMu sync.Mutex   // one index catch-up at a time
	indexed *indexedMemo // the live index's recent documents (indexer.go), under indexMu

	// dir is the directory in force: who owns each message (owners.go).
	dir        *directory.Syncer
	reassignMu sync.Mutex // one reassignment at a time

	// fetcher is the daemon's Fetcher, set by serve, for "accounts".
	fetcher atomic.Pointer[fetch.Fetcher]

	stopWatch func() // ends the mappedWatch (mapped.go)
}

// config returns the configuration in force.
func (s *store) config() *config.Config { return s.cfg.Load() }

// setConfig puts a reloaded configuration in force for what reads it at
// each use: retention policies, the archive's time zone, users list and
// import's accounts. (The directory has its own: directory.Syncer.SetConfig.)
func (s *store) setConfig(cfg *config.Config) { s.cfg.Store(cfg) }

// loadStore loads the configuration file (loadConfig) and opens its
// archive and index; closeStore closes them, logging a failure.
func loadStore(a *app, cfgPath string) (st *store, closeStore func(), err error) {
	cfg, err := loadConfig(a, cfgPath)
	if err != nil {
		return nil, nil, err
	}
	st, err = openStore(cfg, a.logger)
	if err != nil {
		return nil, nil, err
	}
	return st, func() {
		if err := st.Close(); err != nil {
			a.logger.Error("close archive", "err", err)
		}
	}, nil
}

func openStore(cfg *config.Config, logger *slog.Logger) (*store, error) {
	watch := newMappedWatch()
	opts := archive.Options{Logger: logger, AfterRead: watch.check}
	if cfg.Archive.EncryptionKeyFile != "" {
		opts.Key = []byte(cfg.Archive.EncryptionKey.Reveal())
	}
	arc, err := archive.Open(cfg.Archive.Dir, opts)
	if err != nil {
		return nil, err
	}
	idxDir := filepath.Join(cfg.Archive.Dir, "index")
	idx, err := index.Open(idxDir, logger)
	if errors.Is(err, index.ErrSchema) {
		// The index is derived: rebuild it from the archive.
		logger.Warn("search index has an old schema: rebuilding it from the archive", "dir", idxDir)
		if err = os.RemoveAll(idxDir); err == nil {
			idx, err = index.Open(idxDir, logger)
		}
	}
	if err != nil {
		arc.Close()
		return nil, err
	}
	dir := directory.Open(cfg, filepath.Join(cfg.Archive.Dir, directory.StateFile), logger)
	st := &store{arc: arc, idx: idx, logger: logger, dir: dir, indexed: newIndexedMemo()}
	st.cfg.Store(cfg)
	release := st.releaseMapped
	watch.release.Store(&release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watch.run(ctx, logger)
	}()
	st.stopWatch = func() {
		watch.release.Store(nil)
		// A check releasing now ends first.
		watch.mu.Lock()
		watch.mu.Unlock()
		cancel()
		<-done
	}
	return st, nil
}

// releaseMapped drops the archive's and the index's mapped file pages
// (mapped.go).
func (s *store) releaseMapped() {
	if err := s.arc.ReleaseMapped(); err != nil {
		s.logger.Debug("release mapped pages", "err", err)
	}
	if err := s.idx.ReleaseMapped(); err != nil {
		s.logger.Debug("release mapped pages", "err", err)
	}
}

// location is the archive's time zone, for search dates.
func (s *store) location() *time.Location {
	if s.config().Archive.Location != nil {
		return s.config().Archive.Location
	}
	return time.Local
}

func (s *store) Close() error {
	s.stopWatch()
	err := s.idx.Close()
	if cerr := s.arc.Close(); err == nil {
		err = cerr
	}
	return err
}

// maxInMemoryBody is the size up to which a message body is decompressed
// into memory for indexing; larger ones go through a temp file.
const maxInMemoryBody = 8 << 20

func (s *store) addDocument(b *index.Batch, rec *archive.Record) error {
	p, err := s.prepareDocument(rec)
	if err != nil {
		return err
	}
	b.AddPrepared(p)
	return nil
}

// readerAt makes the original of rec randomly readable.
func (s *store) readerAt(rec *archive.Record) (io.ReaderAt, int64, func(), error) {
	rc, err := s.arc.Open(rec.ID)
	if err != nil {
		return nil, 0, nil, err
	}
	defer rc.Close()
	if rec.Size <= maxInMemoryBody {
		// Up to one byte more than the record says, as io.ReadAll of
		// io.LimitReader did: a blob longer than its record is indexed
		// whole, and any error but the end of the blob (a truncated zstd
		// frame reads as io.ErrUnexpectedEOF) fails.
		want := int(max(rec.Size, 0)) + 1
		buf, class := messageBuf(want)
		b := (*buf)[:want]
		n := 0
		for n < len(b) {
			m, err := rc.Read(b[n:])
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				messageBufs[class].Put(buf)
				return nil, 0, nil, fmt.Errorf("message %s: %w", rec.ID, err)
			}
		}
		return bytes.NewReader(b[:n]), int64(n), func() { messageBufs[class].Put(buf) }, nil
	}
	f, err := os.CreateTemp("", "jarchive-index-")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, rc)
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("message %s: %w", rec.ID, err)
	}
	return f, n, cleanup, nil
}

// messageBufs recycle the buffers messages are read back into for
// indexing, one pool per power of two from 64 KiB up to maxInMemoryBody
// and one more (a message read one byte beyond its size): reading every
// message into a new buffer was a fifth of all the bytes an import
// allocated. The index keeps no reference into a message once its document
// is prepared (its text is copied into strings).
var messageBufs [9]sync.Pool

// messageBuf returns a buffer of at least n bytes (n at most
// 2*maxInMemoryBody) and its pool.
func messageBuf(n int) (*[]byte, int) {
	class := 0
	for 64<<10<<class < n {
		class++
	}
	if b, ok := messageBufs[class].Get().(*[]byte); ok {
		return b, class
	}
	b := make([]byte, 64<<10<<class)
	return &b, class
}

func documentOf(rec *archive.Record, body io.ReaderAt, size int64) *index.Document {
	d := &index.Document{
		ID:       rec.ID,
		Date:     rec.Header.Date,
		From:     rec.Header.From,
		To:       rec.Header.To,
		Cc:       rec.Header.Cc,
		Sender:   rec.Sender,
		Subject:  rec.Header.Subject,
		Size:     rec.Size,
		Body:     body,
		BodySize: size,
	}
	if d.Date.IsZero() {
		// Undated mail sorts by when it was archived.
		d.Date = rec.Added
	}
	d.MessageID = rec.Header.MessageID
	if d.MessageID == "" {
		d.MessageID = rec.MessageID
	}
	for _, r := range rec.Recipients {
		d.Rcpt = append(d.Rcpt, r.Addr)
		if r.Field == "bcc" {
			d.Bcc = append(d.Bcc, r.Addr)
		}
	}
	d.Owners = documentOwners(rec)
	seen := map[string]bool{}
	for _, src := range rec.Sources {
		if !seen[src.Account] {
			seen[src.Account] = true
			d.Accounts = append(d.Accounts, src.Account)
		}
	}
	return d
}
