package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"jarchive/archive"
)

const verifyHelp = `Verify checks the archive like restic check: every message record has its
blob with the recorded size, no blob lacks a record, the ingest log's hash
chain is intact and every record is the state the log recorded, and the
search index holds exactly the shown messages (changes the index has not
caught up with yet are not counted). -read-data also decrypts, decompresses
and re-hashes every blob. -repair-index indexes the missing messages and
deletes the extra documents.

Problems, one per line (or in -json): missing, truncated, corrupt, orphan,
chain-broken, index-missing, index-extra, each with the message id; and
of the web interface's audit log (audit.log, a hash chain): audit-edited,
audit-deleted, audit-reordered, audit-truncated, audit-malformed.

Exit status: 0 no problem, 1 problems found (after -repair-index: problems
left), 2 verify could not run (configuration, archive not openable, I/O).
`

func runVerify(ctx context.Context, a *app, args []string) error {
	// Flags first: -h and bad flags need no configuration.
	fs, _ := newVerifyFlags(a)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	err := withStore(ctx, a, "verify", args)
	var ee *exitError
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 2, err: err}
}

// verifyOutput is what -json prints.
type verifyOutput struct {
	*archive.VerifyReport
	IndexDocuments int          `json:"index_documents"`
	IndexWatermark uint64       `json:"index_watermark"`
	IndexPending   int          `json:"index_pending"` // messages the index has not caught up with
	AuditRecords   int          `json:"audit_records"` // records of the web interface's audit trail (web.go)
	Repaired       *repairCount `json:"repaired,omitempty"`
}

type repairCount struct {
	Indexed int `json:"indexed"` // index-missing messages indexed
	Deleted int `json:"deleted"` // index-extra documents deleted
}

type verifyFlags struct {
	readData, asJSON, repair *bool
}

func newVerifyFlags(a *app) (*flag.FlagSet, verifyFlags) {
	fs := newFlags(a, "verify", "[-config FILE] [-read-data] [-json] [-repair-index]")
	fs.String("config", "", "configuration `file`")
	var f verifyFlags
	f.readData = fs.Bool("read-data", false, "decrypt, decompress and re-hash every blob")
	f.asJSON = fs.Bool("json", false, "print the report as JSON")
	f.repair = fs.Bool("repair-index", false, "index missing messages and delete extra index documents")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(a.stderr, "\n%s", verifyHelp)
	}
	return fs, f
}

func verifyCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs, f := newVerifyFlags(a)
	readData, asJSON, repair := f.readData, f.asJSON, f.repair
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("verify: unexpected arguments")
	}
	start := time.Now()
	opts := archive.VerifyOptions{ReadData: *readData}
	if *readData && isTerminal(a.stderr) {
		var last time.Time
		opts.Progress = func(done, total int) {
			if now := time.Now(); now.Sub(last) > 200*time.Millisecond || done == total {
				last = now
				fmt.Fprintf(a.stderr, "\rverify: %d of %d blobs read", done, total)
				if done == total {
					fmt.Fprintln(a.stderr)
				}
			}
		}
	}
	rep, err := st.arc.Verify(ctx, opts)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify: %w", err)}
	}
	out := &verifyOutput{VerifyReport: rep}
	if err := st.verifyIndex(ctx, out, *repair); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify: index: %w", err)}
	}
	if err := st.verifyAudit(out); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify: audit log: %w", err)}
	}
	rep.Sort()
	if *asJSON {
		if rep.Problems == nil {
			rep.Problems = []archive.Problem{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printVerify(a.stdout, out, time.Since(start))
	}
	if n := len(rep.Problems); n > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d problem%s found", n, plural(n))}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func printVerify(w io.Writer, out *verifyOutput, took time.Duration) {
	rep := out.VerifyReport
	fmt.Fprintf(w, "archive: %d stored copies (%d shown messages), %d blob files, %d log entries\n", rep.Records, rep.Shown, rep.Blobs, rep.LogEntries)
	if rep.ChainHead != "" {
		fmt.Fprintf(w, "log chain head: %s\n", rep.ChainHead)
	}
	if rep.ReadData {
		fmt.Fprintf(w, "read data: %d blobs re-hashed, %s of messages\n", rep.Records, humanBytes(uint64(rep.BytesRead)))
	}
	fmt.Fprintf(w, "index: %d documents (watermark %d, %d messages pending)\n", out.IndexDocuments, out.IndexWatermark, out.IndexPending)
	if rep.Tombstones > 0 || rep.PendingRemoval > 0 {
		fmt.Fprintf(w, "tombstones: %d (deleted by retention), %d blobs pending removal\n", rep.Tombstones, rep.PendingRemoval)
	}
	fmt.Fprintf(w, "audit log: %d records\n", out.AuditRecords)
	if r := out.Repaired; r != nil {
		fmt.Fprintf(w, "repaired index: %d messages indexed, %d documents deleted\n", r.Indexed, r.Deleted)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "%s\n", p.Error())
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintf(w, "no problems found (%v)\n", took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "%d problem%s found (%v)\n", len(rep.Problems), plural(len(rep.Problems)), took.Round(time.Millisecond))
	}
}

// verifyIndex compares the search index with the archive's shown messages
// and adds index-missing and index-extra problems to the report; with
// repair it fixes them first and reports only what is left. Messages whose
// changes the index has not caught up with are not compared.
func (s *store) verifyIndex(ctx context.Context, out *verifyOutput, repair bool) error {
	// No catch-up meanwhile: the watermark and the documents must agree.
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	mark, err := s.idx.Watermark()
	if err != nil {
		return err
	}
	out.IndexWatermark = mark
	pending := map[string]bool{}
	for after := mark; ; {
		chs, err := s.arc.Changes(after, 1000)
		if err != nil {
			return err
		}
		if len(chs) == 0 {
			break
		}
		for _, c := range chs {
			if c.Record != nil {
				pending[c.Record.ID] = true
			}
			for _, id := range c.Remove {
				pending[id] = true
			}
		}
		after = chs[len(chs)-1].Seq
	}
	out.IndexPending = len(pending)

	missing, extra, docs, err := s.compareIndex(ctx, pending)
	if err != nil {
		return err
	}
	out.IndexDocuments = docs
	if repair && len(missing)+len(extra) > 0 {
		n, err := s.repairIndex(ctx, mark, missing, extra)
		out.Repaired = &repairCount{Indexed: n, Deleted: len(extra)}
		if err != nil {
			return err
		}
		if missing, extra, docs, err = s.compareIndex(ctx, pending); err != nil {
			return err
		}
		out.IndexDocuments = docs
	} else if repair {
		out.Repaired = &repairCount{}
	}
	for _, id := range missing {
		out.Add(archive.Problem{Type: archive.ProblemIndexMissing, ID: id, Detail: "a shown message the search index lacks"})
	}
	for _, id := range extra {
		out.Add(archive.Problem{Type: archive.ProblemIndexExtra, ID: id, Detail: "an index document that is no shown message"})
	}
	return nil
}

// compareIndex returns the shown messages the index lacks and the index
// documents that are no shown message, both sorted, leaving out pending.
func (s *store) compareIndex(ctx context.Context, pending map[string]bool) (missing, extra []string, docs int, err error) {
	inIndex := map[string]bool{}
	if err := s.idx.IDs(func(id string) error {
		inIndex[id] = true
		return nil
	}); err != nil {
		return nil, nil, 0, err
	}
	docs = len(inIndex)
	err = s.arc.Each(ctx, func(rec *archive.Record) error {
		if !rec.Shown() {
			return nil
		}
		if inIndex[rec.ID] {
			delete(inIndex, rec.ID)
		} else if !pending[rec.ID] {
			missing = append(missing, rec.ID)
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	for id := range inIndex {
		if !pending[id] {
			extra = append(extra, id)
		}
	}
	slices.Sort(extra)
	return missing, extra, docs, nil
}

// repairIndex indexes the missing messages and deletes the extra documents,
// keeping the watermark. It returns how many messages it indexed.
func (s *store) repairIndex(ctx context.Context, mark uint64, missing, extra []string) (int, error) {
	// The memo of indexed documents described an index that was wrong.
	s.indexed.reset()
	b := s.idx.Batch()
	for _, id := range extra {
		b.Delete(id)
	}
	n := 0
	for _, id := range missing {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		rec, err := s.arc.Get(id)
		if err != nil {
			return n, err
		}
		if err := s.addDocument(b, rec); err != nil {
			return n, err
		}
		n++
		if b.Len() >= indexBatchSize || b.Bytes() >= indexBatchBytes {
			if err := b.Commit(mark); err != nil {
				return n, err
			}
		}
	}
	return n, b.Commit(mark)
}
