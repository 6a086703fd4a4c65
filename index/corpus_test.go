package index

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"jarchive/testcorpus"
)

// corpusDir returns the real mail of the shared corpus, beside the
// repository (see ../../shared/corpus/README.md; JARCHIVE_CORPUS overrides the
// corpus directory), or skips the test when it is missing, except under CI.
func corpusDir(t testing.TB) string {
	t.Helper()
	return testcorpus.Dir(t, "real")
}

// corpusMessages returns every message of the corpus: each .eml file, and
// each message of the .mbox files, split simply at "From " lines.
func corpusMessages(t testing.TB) (files int, msgs [][]byte) {
	dir := corpusDir(t)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".eml":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			msgs = append(msgs, raw)
		case ".mbox":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			msgs = append(msgs, splitMbox(raw)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, msgs
}

func splitMbox(raw []byte) [][]byte {
	var msgs [][]byte
	var cur []byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("From ")) {
			if len(bytes.TrimSpace(cur)) > 0 {
				msgs = append(msgs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, line...)
		cur = append(cur, '\n')
	}
	if len(bytes.TrimSpace(cur)) > 0 {
		msgs = append(msgs, cur)
	}
	return msgs
}

// TestCorpus indexes every message of the corpus: no panic, no error, and one
// document per distinct message.
func TestCorpus(t *testing.T) {
	files, msgs := corpusMessages(t)
	ix := openTest(t)

	start := time.Now()
	ids := map[string]bool{}
	var bytesIn int64
	var partial int
	b := ix.Batch()
	for i, raw := range msgs {
		d := testDocument(raw)
		ids[d.ID] = true
		bytesIn += int64(len(raw))
		if err := b.Add(d); err != nil {
			t.Fatalf("Add(message %d) = %v", i, err)
		}
		if b.Len() >= 500 || b.Bytes() >= 64<<20 {
			if err := b.Commit(uint64(i + 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Commit(uint64(len(msgs))); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)

	for _, raw := range msgs {
		if _, err := extract(bytes.NewReader(raw)); err != nil {
			partial++
		}
	}

	n, err := ix.Count()
	if err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(ids)) {
		t.Errorf("Count() = %d; want %d (distinct messages)", n, len(ids))
	}
	if wm, _ := ix.Watermark(); wm != uint64(len(msgs)) {
		t.Errorf("Watermark() = %d; want %d", wm, len(msgs))
	}
	var diskSize int64
	filepath.WalkDir(ix.Dir(), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				diskSize += fi.Size()
			}
		}
		return nil
	})
	t.Logf("%d files, %d messages (%d distinct, %.1f MB), %d partly extracted; indexed in %v: %.0f docs/s; index %.1f MB",
		files, len(msgs), len(ids), float64(bytesIn)/1e6, partial, took.Round(time.Millisecond),
		float64(len(msgs))/took.Seconds(), float64(diskSize)/1e6)

	// A few searches over real mail must find something.
	for _, q := range []string{"subject:test", "from:example.com", "body:the", "attachment:pdf"} {
		res, err := ix.Search(context.Background(), Query{Text: q, Scope: all, Limit: 5})
		if err != nil {
			t.Errorf("Search(%q) = %v", q, err)
			continue
		}
		if res.Total == 0 {
			t.Errorf("Search(%q) found nothing", q)
		}
		t.Logf("Search(%q): %d hits in %v", q, res.Total, res.Took)
	}
	checkPhrases(t, ix, msgs)
}

// checkPhrases compares phrase search through the query language with
// bleve's phrase search, for phrases of 2 to 5 words taken from the text of
// real mail: the same messages must match, and every phrase at least the
// message it was taken from.
func checkPhrases(t *testing.T, ix *Index, msgs [][]byte) {
	g, release := ix.current()
	defer release()
	phrases := map[string]bool{"of the": true, "in the": true, "to the mailing list": true}
	for i := 0; i < len(msgs); i += 7 {
		ex, _ := extract(bytes.NewReader(msgs[i]))
		ts := analyzers()[analyzerText].Analyze([]byte(ex.Text))
		for n := 2; n <= 5; n++ {
			for _, start := range []int{0, len(ts) / 3, len(ts) / 2} {
				if start+n > len(ts) {
					continue
				}
				var words []string
				for _, tok := range ts[start : start+n] {
					words = append(words, string(tok.Term))
				}
				phrases[strings.Join(words, " ")] = true
			}
		}
	}
	matched := 0
	for p := range phrases {
		got, err := ix.Search(context.Background(), Query{Text: `body:"` + p + `"`, Scope: all, Limit: MaxLimit})
		if err != nil {
			t.Errorf("Search(body:%q) = %v", p, err)
			continue
		}
		q := query.NewMatchPhraseQuery(p)
		q.SetField(fieldBody)
		q.Analyzer = analyzerText
		req := bleve.NewSearchRequestOptions(q, MaxLimit+1, 0, false)
		want, err := g.idx.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		gotIDs, wantIDs := []string{}, []string{}
		for _, h := range got.Hits {
			gotIDs = append(gotIDs, h.ID)
		}
		for _, h := range want.Hits {
			wantIDs = append(wantIDs, h.ID)
		}
		slices.Sort(gotIDs)
		slices.Sort(wantIDs)
		if got.Total != want.Total || !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("body:%q: %d hits; bleve's phrase search finds %d", p, got.Total, want.Total)
		}
		if want.Total > 0 {
			matched++
		} else if !strings.Contains(p, "mailing") {
			t.Errorf("body:%q: no hit, but it was taken from a message", p)
		}
	}
	t.Logf("%d phrases from real mail (%d with hits): the same hits as bleve's phrase search", len(phrases), matched)
}

// BenchmarkExtract measures the extraction alone over the corpus.
func BenchmarkExtract(b *testing.B) {
	_, msgs := corpusMessages(b)
	var size int64
	for _, m := range msgs {
		size += int64(len(m))
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		for _, m := range msgs {
			extract(bytes.NewReader(m))
		}
	}
}
