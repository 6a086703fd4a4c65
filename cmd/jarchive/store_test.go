package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"testing"

	"jarchive/archive"
)

// TestReaderAt reads archived messages back as the indexer does: whole,
// also when empty, and a truncated blob is an error, not a shorter message.
func TestReaderAt(t *testing.T) {
	a := archive.TestArchive(t)
	s := &store{arc: a}
	raw := make([]byte, 150<<10)
	rand.Read(raw)
	big := []byte("From: a@contoso.com\r\nSubject: big\r\n\r\n" + base64.StdEncoding.EncodeToString(raw) + "\r\n")
	small := []byte("From: a@contoso.com\r\nSubject: small\r\n\r\nhello\r\n")
	for _, tc := range []struct {
		name string
		msg  []byte
	}{{"empty", nil}, {"small", small}, {"big", big}} {
		id := archive.TestPut(t, a, tc.msg, archive.Source{Account: "import", Path: tc.name})
		rec, err := a.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		body, size, cleanup, err := s.readerAt(rec)
		if err != nil {
			t.Errorf("%s: readerAt = %v", tc.name, err)
			continue
		}
		got, _ := io.ReadAll(io.NewSectionReader(body, 0, size))
		cleanup()
		if !bytes.Equal(got, tc.msg) {
			t.Errorf("%s: read back %d bytes; want the %d stored", tc.name, len(got), len(tc.msg))
		}
	}
	id := archive.TestPut(t, a, append(big, "more\r\n"...), archive.Source{Account: "import", Path: "cut"})
	rec, err := a.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(a.BlobPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(a.BlobPath(id), st.Size()/2); err != nil {
		t.Fatal(err)
	}
	if _, size, _, err := s.readerAt(rec); err == nil {
		t.Errorf("truncated blob: read %d bytes without an error", size)
	}
}
