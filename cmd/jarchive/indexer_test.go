package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"jarchive/archive"
)

// newTestStore opens a store on a new archive in a temp directory, closed
// at the end of the test.
func newTestStore(t *testing.T) *store {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, "[archive]\ndir = %q\n", filepath.Join(dir, "archive")), 0o600); err != nil {
		t.Fatal(err)
	}
	st := loadTestStore(t, cfgPath, discardWriter{})
	t.Cleanup(func() { st.Close() })
	return st
}

// TestIndexedMemo: a message archived again from the same account, whose
// document is unchanged, is not indexed again; from another account (its
// document changes) it is, and so it is after the memo was reset.
func TestIndexedMemo(t *testing.T) {
	st := newTestStore(t)
	msg := []byte("From: anna@contoso.com\r\nTo: ben@contoso.com\r\nSubject: plan\r\nMessage-ID: <m1@contoso.com>\r\n\r\nhello\r\n")
	steps := []struct {
		name    string
		src     archive.Source
		reset   bool
		indexed int
	}{
		{"first copy", archive.Source{Account: "import", Path: "a"}, false, 1},
		{"same account again", archive.Source{Account: "import", Path: "b"}, false, 0},
		{"another account", archive.Source{Account: "journal", Path: "c"}, false, 1},
		{"again, memo reset", archive.Source{Account: "journal", Path: "d"}, true, 1},
	}
	for _, s := range steps {
		archive.TestPut(t, st.arc, msg, s.src)
		if s.reset {
			st.indexed.reset()
		}
		n, err := st.catchUp(context.Background())
		if err != nil {
			t.Fatalf("%s: catchUp: %v", s.name, err)
		}
		if n != s.indexed {
			t.Errorf("%s: %d documents indexed; want %d", s.name, n, s.indexed)
		}
		stats, _ := st.arc.Stats()
		if mark, err := st.idx.Watermark(); err != nil || mark != stats.LastSeq {
			t.Errorf("%s: index watermark %d, %v; want the archive's last entry, %d", s.name, mark, err, stats.LastSeq)
		}
	}
}

// TestIndexedMemoBounds: the memo forgets a deleted document, and the oldest
// of more than memoSize.
func TestIndexedMemoBounds(t *testing.T) {
	m := newIndexedMemo()
	rec := func(i int) *archive.Record { return &archive.Record{ID: fmt.Sprint(i), Size: 1} }
	if m.unchanged(rec(0)) || !m.unchanged(rec(0)) {
		t.Fatal("unchanged: want false the first time, then true")
	}
	m.forget("0")
	if m.unchanged(rec(0)) {
		t.Error("unchanged after forget: true; want false")
	}
	for i := 1; i <= memoSize; i++ {
		m.unchanged(rec(i))
	}
	if len(m.docs) != memoSize {
		t.Errorf("%d documents remembered; want %d", len(m.docs), memoSize)
	}
	if m.unchanged(rec(0)) {
		t.Errorf("the oldest of %d documents still remembered", memoSize+1)
	}
	if !m.unchanged(rec(memoSize)) {
		t.Error("the newest document forgotten")
	}
	var none *indexedMemo
	if none.unchanged(rec(1)) || none.unchanged(rec(1)) {
		t.Error("a nil memo remembered a document")
	}
}

// TestIndexedMemoCanceled: a catch-up whose context ends fails, also when
// its reader stopped before handing over changes it had read (and put in
// the memo), so the memo is reset and the next catch-up indexes every
// message. Before, such a catch-up returned no error, and the next one
// skipped the messages the memo held: the index lacked them.
func TestIndexedMemoCanceled(t *testing.T) {
	st := newTestStore(t)
	const n = 2*indexBatchSize + 10
	for i := range n {
		msg := fmt.Appendf(nil, "From: a@contoso.com\r\nSubject: %d\r\nMessage-ID: <%d@contoso.com>\r\n\r\nbody %d\r\n", i, i, i)
		archive.TestPut(t, st.arc, msg, archive.Source{Account: "import", Path: fmt.Sprint(i)})
	}
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := st.catchUp(ctx); err == nil {
			mark, _ := st.idx.Watermark()
			if mark != n {
				t.Fatalf("catchUp with an ended context: no error, watermark %d of %d", mark, n)
			}
		}
	}
	if _, err := st.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if docs, err := st.idx.Count(); err != nil || docs != n {
		t.Errorf("index holds %d documents, %v; want all %d messages", docs, err, n)
	}
}
