package main

import (
	"context"
	"encoding/json"
	"fmt"

	"jarchive/archive"
)

func runStats(ctx context.Context, a *app, args []string) error {
	return withStore(ctx, a, "stats", args)
}

type statsOutput struct {
	archive.Stats
	IndexDocuments uint64 `json:"index_documents"`
	IndexWatermark uint64 `json:"index_watermark"`
	// IndexLag is the number of archive log entries (messages archived,
	// copies merged) the index has not taken in yet: not yet searchable.
	IndexLag uint64 `json:"index_lag"`
	// Retention is what the next retention run would delete, and the
	// holds (retention.go); absent without [retention].
	Retention *retentionStats `json:"retention,omitempty"`
}

func statsCommand(ctx context.Context, a *app, st *store, args []string) error {
	fs := newFlags(a, "stats", "[-config FILE] [-json]")
	fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := st.arc.Stats()
	if err != nil {
		return err
	}
	out := statsOutput{Stats: s}
	if out.IndexDocuments, err = st.idx.Count(); err != nil {
		return err
	}
	if out.IndexWatermark, err = st.idx.Watermark(); err != nil {
		return err
	}
	if s.LastSeq > out.IndexWatermark {
		out.IndexLag = s.LastSeq - out.IndexWatermark
	}
	if out.Retention, err = st.retentionSummary(ctx); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := a.stdout
	fmt.Fprintf(w, "messages:          %d\n", s.Messages)
	fmt.Fprintf(w, "blobs:             %d (%d linked copies, %d decrypted)\n", s.Blobs, s.Linked, s.Decrypted)
	fmt.Fprintf(w, "raw bytes:         %d (%s)\n", s.RawBytes, humanBytes(s.RawBytes))
	fmt.Fprintf(w, "stored bytes:      %d (%s)", s.StoredBytes, humanBytes(s.StoredBytes))
	if s.Encrypted {
		fmt.Fprintf(w, ", encrypted")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "copies received:   %d\n", s.Copies)
	fmt.Fprintf(w, "duplicates merged: %d\n", s.Merged)
	fmt.Fprintf(w, "journal reports:   %d\n", s.JournalReports)
	fmt.Fprintf(w, "parse failures:    %d (archived raw)\n", s.ParseFailures)
	fmt.Fprintf(w, "log chain head:    %s (change %d)\n", s.ChainHead, s.LastSeq)
	fmt.Fprintf(w, "index documents:   %d (watermark %d of %d)\n", out.IndexDocuments, out.IndexWatermark, s.LastSeq)
	fmt.Fprintf(w, "index lag:         %d (archived, not yet searchable)\n", out.IndexLag)
	if r := out.Retention; r != nil && r.Error != "" {
		fmt.Fprintf(w, "retention:         cannot plan the next run: %s\n", r.Error)
	} else if r != nil {
		fmt.Fprintf(w, "retention:         next run deletes %d messages (%s); %d held by %d legal hold%s; schedule %s; %d deleted so far\n",
			r.WouldDelete, humanBytes(uint64(r.Bytes)), r.Held, r.Holds, plural(r.Holds), r.Schedule, s.Deleted)
	}
	return nil
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
