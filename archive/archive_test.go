package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/journal"
)

func incoming(msg []byte, src Source) *Incoming {
	r := bytes.NewReader(msg)
	return &Incoming{Body: r, Size: int64(len(msg)), Envelope: journal.Parse(r, int64(len(msg)), config.EnvelopeMode{}), Source: src}
}

func report(original, envelope string) []byte {
	return []byte("X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\n" + envelope +
		"--B\r\nContent-Type: message/rfc822\r\n\r\n" + original + "\r\n--B--\r\n")
}

func readAll(t *testing.T, a *Archive, id string) []byte {
	t.Helper()
	rc, err := a.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const original = "From: Anna <anna@contoso.com>\r\nTo: ben@contoso.com\r\nSubject: plan\r\nMessage-ID: <1@contoso.com>\r\nDate: Tue, 14 May 2024 07:12:04 +0000\r\n\r\nhello\r\n"

func TestPutStoresOriginalOnce(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	r1 := report(original, "Sender: anna@contoso.com\r\nTo: ben@contoso.com\r\n")
	r2 := report(original, "Sender: anna@contoso.com\r\nBcc: carl@fabrikam.com\r\n")

	id, added, err := a.Put(ctx, incoming(r1, Source{Account: "j1", Mailbox: "INBOX", UIDValidity: 7, UID: 1}))
	if err != nil || !added {
		t.Fatalf("Put 1 = %v, %v; want added", added, err)
	}
	if want := hexSum([]byte(original)); id != want {
		t.Fatalf("id = %s; want sha256 of the original %s", id, want)
	}
	if got := readAll(t, a, id); string(got) != original {
		t.Fatalf("read back %q; want %q", got, original)
	}
	id2, added, err := a.Put(ctx, incoming(r2, Source{Account: "j2", Mailbox: "INBOX", UIDValidity: 3, UID: 9}))
	if err != nil || added || id2 != id {
		t.Fatalf("Put 2 = %s, %v, %v; want %s merged", id2, added, err, id)
	}
	// The same copy again (refetch after a crash before the delete).
	if _, added, err := a.Put(ctx, incoming(r2, Source{Account: "j2", Mailbox: "INBOX", UIDValidity: 3, UID: 9})); err != nil || added {
		t.Fatalf("Put 3 = %v, %v; want no change", added, err)
	}
	rec, err := a.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Sources) != 2 {
		t.Errorf("%d sources; want 2: %+v", len(rec.Sources), rec.Sources)
	}
	var rcpts []string
	for _, r := range rec.Recipients {
		rcpts = append(rcpts, r.Field+":"+r.Addr)
	}
	if got, want := strings.Join(rcpts, " "), "to:ben@contoso.com bcc:carl@fabrikam.com"; got != want {
		t.Errorf("recipients %q; want %q", got, want)
	}
	if rec.Header.Subject != "plan" || rec.MessageID != "<1@contoso.com>" {
		t.Errorf("header summary %+v, message id %q", rec.Header, rec.MessageID)
	}
	s, err := a.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages != 1 || s.Blobs != 1 || s.Copies != 2 || s.Merged != 1 || s.RawBytes != uint64(len(original)) {
		t.Errorf("stats %+v; want 1 message, 1 blob, 2 copies, 1 merged", s)
	}
	blobs := 0
	filepath.WalkDir(filepath.Join(a.Dir(), "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs++
		}
		return nil
	})
	if blobs != 1 {
		t.Errorf("%d blob files; want 1", blobs)
	}
	vv, uid, err := a.Checkpoint("j2", "INBOX")
	if err != nil || vv != 3 || uid != 9 {
		t.Errorf("Checkpoint(j2) = %d, %d, %v; want 3, 9", vv, uid, err)
	}
	changes, err := a.Changes(0, 10)
	if err != nil || len(changes) != 2 {
		t.Fatalf("Changes = %d, %v; want 2 (add, merge)", len(changes), err)
	}
}

func TestParseFailureArchivedRaw(t *testing.T) {
	a := TestArchive(t)
	bad := []byte("X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSender: x@y\r\n")
	id, _, err := a.Put(context.Background(), incoming(bad, Source{Account: "import", Path: "bad.eml"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, a, id); !bytes.Equal(got, bad) {
		t.Errorf("read back %q; want the raw report", got)
	}
	rec, _ := a.Get(id)
	if rec.Status != "failed" || rec.Reason == "" {
		t.Errorf("status %q reason %q; want failed with a reason", rec.Status, rec.Reason)
	}
	if s, _ := a.Stats(); s.ParseFailures != 1 {
		t.Errorf("parse failures %d; want 1", s.ParseFailures)
	}
}

func TestResolve(t *testing.T) {
	a := TestArchive(t)
	id, _, err := a.Put(context.Background(), incoming([]byte(original), Source{Account: "x", Path: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
		err      error
	}{
		{id, id, nil},
		{id[:8], id, nil},
		{strings.ToUpper(id[:9]), id, nil},
		{"00000000", "", ErrNotFound},
	}
	for _, tc := range tests {
		got, err := a.Resolve(tc.in)
		if got != tc.want || (tc.err != nil) != (err != nil) || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, bad := range []string{"abc", "zzzzzzzzz", ""} {
		if _, err := a.Resolve(bad); err == nil {
			t.Errorf("Resolve(%q) = nil error; want an error", bad)
		}
	}
}

// TestOrphanBlobAdopted covers a crash between the blob rename and the
// database commit: the next Put of the message records it.
func TestOrphanBlobAdopted(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(original)
	sum, _, _, tmp, err := a.writeTemp(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(sum)
	if err := a.install(tmp, a.BlobPath(id)); err != nil {
		t.Fatal(err)
	}
	a.Close() // "crash": no record
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before adopt = %v; want ErrNotFound", err)
	}
	got, added, err := a.Put(context.Background(), incoming(msg, Source{Account: "x", Path: "p"}))
	if err != nil || !added || got != id {
		t.Fatalf("Put = %s, %v, %v; want %s added", got, added, err, id)
	}
	if b := readAll(t, a, id); !bytes.Equal(b, msg) {
		t.Errorf("read back differs")
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Open(dir, Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v; want ErrLocked", err)
	}
}

func FuzzArchivePutGet(f *testing.F) {
	f.Add([]byte(original))
	f.Add(report(original, "To: a@b\r\n"))
	f.Add([]byte{})
	a, err := Open(f.TempDir(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close() })
	f.Fuzz(func(t *testing.T, msg []byte) {
		in := incoming(msg, Source{Account: "fuzz", Path: "f"})
		want := sha256.New()
		io.Copy(want, in.Envelope.Original(in.Body))
		id, _, err := a.Put(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if id != hex.EncodeToString(want.Sum(nil)) {
			t.Fatalf("id %s; want sha256 of the original", id)
		}
		if got := hexSum(readAll(t, a, id)); got != id {
			t.Fatalf("read back hashes to %s; want %s", got, id)
		}
	})
}
