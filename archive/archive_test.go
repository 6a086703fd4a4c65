package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	in2 := incoming(r2, Source{Account: "j2", Mailbox: "INBOX", UIDValidity: 3, UID: 9})
	in2.Checkpoint = 9
	id2, added, err := a.Put(ctx, in2)
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
	// Two log entries (add, merge) of one shown message: one change, at
	// the second entry, with the merged record.
	changes, err := a.Changes(0, 10)
	if err != nil || len(changes) != 1 || changes[0].Seq != 2 || len(changes[0].Record.Sources) != 2 {
		t.Fatalf("Changes = %+v, %v; want one change at seq 2 with 2 sources", changes, err)
	}
	if s.LastSeq != 2 || len(s.ChainHead) != 64 {
		t.Errorf("stats: last seq %d, chain head %q; want 2 and a hash", s.LastSeq, s.ChainHead)
	}
	checkClean(t, a)
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

// TestOrphanBlobNotTrusted covers a blob file without a record (a crash
// between rename and commit): the next Put of the message replaces it
// rather than trusting bytes no commit vouched for.
func TestOrphanBlobNotTrusted(t *testing.T) {
	a := TestArchive(t)
	msg := []byte(original)
	id := hexSum(msg)
	path := a.BlobPath(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("half a blob"), 0o440); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put = %v; want ErrNotFound", err)
	}
	got, added, err := a.Put(context.Background(), incoming(msg, Source{Account: "x", Path: "p"}))
	if err != nil || !added || got != id {
		t.Fatalf("Put = %s, %v, %v; want %s added", got, added, err, id)
	}
	if b := readAll(t, a, id); !bytes.Equal(b, msg) {
		t.Errorf("read back %q; want the message", b)
	}
	checkClean(t, a)
}

// TestRollForward covers crashes between a commit and the renames of its
// blobs (the temp file of a committed record is moved into place) and
// before a commit (a temp file without a record is removed).
func TestRollForward(t *testing.T) {
	dir := t.TempDir()
	a := TestOpen(t, dir, Options{})
	msg2 := strings.Replace(original, "hello", "hello two", 1)
	kept := TestPut(t, a, []byte(original), Source{Account: "x", Path: "kept"})
	broken := TestPut(t, a, []byte(msg2), Source{Account: "x", Path: "broken"})
	a.Close()
	tmp := filepath.Join(dir, "tmp")
	// kept: committed, its rename lost.
	if err := os.Rename(filepath.Join(dir, "blobs", kept[:2], kept), filepath.Join(tmp, kept+".1-1")); err != nil {
		t.Fatal(err)
	}
	// broken: committed, rename lost, and the temp file is damaged (it
	// cannot be: the commit came after its sync; but Open checks).
	if err := os.Rename(filepath.Join(dir, "blobs", broken[:2], broken), filepath.Join(tmp, broken+".1-2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, broken+".1-2"), []byte("garbage"), 0o440); err != nil {
		t.Fatal(err)
	}
	// lost: a commit that did not happen; a spool file of a fetch.
	lost := hexSum([]byte("lost"))
	for _, name := range []string{lost + ".1-3", "spool-123"} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("partial"), 0o440); err != nil {
			t.Fatal(err)
		}
	}
	a = TestOpen(t, dir, Options{})
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after Open; want none", len(ents))
	}
	if b := readAll(t, a, kept); string(b) != original {
		t.Errorf("rolled-forward message reads %q", b)
	}
	rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Type != ProblemMissing || rep.Problems[0].ID != broken {
		t.Errorf("Verify: %v; want only %s missing", rep.Problems, broken[:12])
	}
}

// TestCommitFailure: a failed database commit fails its Puts with
// ErrStorage and leaves no blob behind; the next commit works.
func TestCommitFailure(t *testing.T) {
	a := TestArchive(t)
	a.failCommit = func() error { return syscall.EIO }
	msg := []byte(original)
	if _, _, err := a.Put(context.Background(), incoming(msg, Source{Account: "x", Path: "1"})); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Put with a failing commit = %v; want ErrStorage wrapping EIO", err)
	}
	if _, err := os.Stat(a.BlobPath(hexSum(msg))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob of the failed commit: %v; want none", err)
	}
	a.failCommit = nil
	other := []byte(strings.Replace(original, "hello", "other", 1))
	TestPut(t, a, other, Source{Account: "x", Path: "2"})
	if ents, _ := os.ReadDir(filepath.Join(a.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after the next commit; want none", len(ents))
	}
	id := TestPut(t, a, msg, Source{Account: "x", Path: "1"})
	if got := readAll(t, a, id); string(got) != original {
		t.Errorf("read back %q", got)
	}
	checkClean(t, a)
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

// FuzzArchivePutGet: put, get, same bytes and hash, in a plain and an
// encrypted archive; each input is put three times (new, merged from
// another source, the same source again). Every input gets new archives,
// so that what it covers does not depend on earlier inputs (which keeps the
// fuzzer minimising for ever); they are on /dev/shm when there is one.
func FuzzArchivePutGet(f *testing.F) {
	f.Add([]byte(original))
	f.Add(report(original, "To: a@b\r\n"))
	f.Add([]byte{})
	base := f.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "jarchive-fuzz-"); err == nil {
			base = d
			f.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	key := bytes.Repeat([]byte{7}, 32)
	f.Fuzz(func(t *testing.T, msg []byte) {
		dir, err := os.MkdirTemp(base, "a-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		for i, opts := range []Options{{}, {Key: key}} {
			a, err := Open(filepath.Join(dir, fmt.Sprint(i)), opts)
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.New()
			in := incoming(msg, Source{Account: "fuzz", Path: "1"})
			io.Copy(want, in.Envelope.Original(in.Body))
			var ids []string
			for _, src := range []Source{{Account: "fuzz", Path: "1"}, {Account: "fuzz", Path: "2"}, {Account: "fuzz", Path: "1"}} {
				id, _, err := a.Put(context.Background(), incoming(msg, src))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if id := hex.EncodeToString(want.Sum(nil)); ids[0] != id || ids[1] != id || ids[2] != id {
				t.Fatalf("ids %v; want sha256 of the original %s", ids, id)
			}
			if got := hexSum(readAll(t, a, ids[0])); got != ids[0] {
				t.Fatalf("read back hashes to %s; want %s", got, ids[0])
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestLargeMessage: a message of several zstd blocks and age chunks.
func TestLargeMessage(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(original)
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "line %d %x\r\n", i, sha256.Sum256([]byte(fmt.Sprint(i))))
	}
	for _, opts := range []Options{{}, {Key: bytes.Repeat([]byte{7}, 32)}} {
		a := TestOpen(t, t.TempDir(), opts)
		id := TestPut(t, a, b.Bytes(), Source{Account: "x", Path: "big"})
		if got := readAll(t, a, id); !bytes.Equal(got, b.Bytes()) {
			t.Errorf("encrypted %v: read back %d bytes; want the %d put", opts.Key != nil, len(got), b.Len())
		}
		checkClean(t, a)
	}
}

// checkClean fails the test unless Verify (with ReadData) finds nothing.
func checkClean(t *testing.T, a *Archive) {
	t.Helper()
	rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, p := range rep.Problems {
		t.Errorf("Verify: %v", &p)
	}
}

func TestSeenUIDL(t *testing.T) {
	a := TestArchive(t)
	if seen, err := a.SeenUIDL("pop", "u1"); err != nil || seen {
		t.Fatalf("SeenUIDL before = %v, %v; want false", seen, err)
	}
	TestPut(t, a, []byte(original), Source{Account: "pop", UIDL: "u1"})
	for _, tc := range []struct {
		account, uidl string
		want          bool
	}{{"pop", "u1", true}, {"pop", "u2", false}, {"other", "u1", false}} {
		if seen, err := a.SeenUIDL(tc.account, tc.uidl); err != nil || seen != tc.want {
			t.Errorf("SeenUIDL(%q, %q) = %v, %v; want %v", tc.account, tc.uidl, seen, err, tc.want)
		}
	}
	// Another UIDL with the same bytes is a second source, not a duplicate.
	TestPut(t, a, []byte(original), Source{Account: "pop", UIDL: "u2"})
	id := hexSum([]byte(original))
	rec, err := a.Get(id)
	if err != nil || len(rec.Sources) != 2 {
		t.Fatalf("Get = %v sources, %v; want 2", len(rec.Sources), err)
	}
}

// TestCheckpoint: a Put raises the checkpoint to Incoming.Checkpoint in its
// transaction, not to the message's UID (a lower UID may still be in
// flight or have failed), SetCheckpoint raises it, neither lowers it, and
// another UIDVALIDITY replaces it.
func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	put := func(body string, uid, checkpoint uint32) {
		t.Helper()
		in := incoming([]byte(strings.Replace(original, "hello", body, 1)), Source{Account: "j", Mailbox: "INBOX", UIDValidity: 5, UID: uid})
		in.Checkpoint = checkpoint
		if _, _, err := a.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step string, validity, uid uint32) {
		t.Helper()
		gv, gu, err := a.Checkpoint("j", "INBOX")
		if err != nil || gv != validity || gu != uid {
			t.Errorf("%s: Checkpoint = %d, %d, %v; want %d, %d", step, gv, gu, err, validity, uid)
		}
	}
	set := func(validity, uid uint32) {
		t.Helper()
		if err := a.SetCheckpoint("j", "INBOX", validity, uid); err != nil {
			t.Fatal(err)
		}
	}
	want("empty", 0, 0)
	put("a", 7, 0)
	want("put without a checkpoint", 0, 0)
	put("b", 9, 6)
	want("put of uid 9 with checkpoint 6", 5, 6)
	put("c", 10, 4)
	want("put with a lower checkpoint", 5, 6)
	set(5, 12)
	want("SetCheckpoint 12", 5, 12)
	set(5, 11)
	want("SetCheckpoint 11", 5, 12)
	put("b", 9, 8) // a duplicate still carries its checkpoint
	want("duplicate with a lower checkpoint", 5, 12)
	set(6, 2)
	want("another UIDVALIDITY", 6, 2)
	if _, u, _ := a.Checkpoint("j", "Other"); u != 0 {
		t.Errorf("checkpoint of another mailbox: %d; want 0", u)
	}

	dir := a.Dir()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ro := TestOpen(t, dir, Options{ReadOnly: true})
	if err := ro.SetCheckpoint("j", "INBOX", 6, 3); !errors.Is(err, ErrReadOnly) {
		t.Errorf("SetCheckpoint on a read-only archive: %v; want ErrReadOnly", err)
	}
}

// TestBlobCompression: an attachment of incompressible bytes, base64
// encoded as mail carries it, is stored in about 6 bits per character, the
// alphabet's entropy. (Most of the bytes of real mail are such attachments:
// see blobEncoderOptions.)
func TestBlobCompression(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	var b bytes.Buffer
	b.WriteString("From: Anna <anna@contoso.com>\r\nTo: ben@contoso.com\r\nSubject: scan\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")

	a := TestArchive(t)
	id := TestPut(t, a, b.Bytes(), Source{Account: "x", Path: "scan.eml"})
	rec, err := a.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(rec.StoredSize) / float64(rec.Size)
	// 6/8 of the base64 characters; line ends and headers are a little more.
	if ratio > 0.77 {
		t.Errorf("stored %d of %d bytes (%.3f); want at most 0.77", rec.StoredSize, rec.Size, ratio)
	}
	if got := readAll(t, a, id); !bytes.Equal(got, b.Bytes()) {
		t.Errorf("read back %d bytes; want the %d put", len(got), b.Len())
	}
}

// TestConcurrentDuplicates: Puts of the same bytes at once store one copy,
// and only the first writes it; the others wait for its commit.
func TestConcurrentDuplicates(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	const n = 16
	before := tmpSeq.Load()
	var wg sync.WaitGroup
	added := make([]bool, n)
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			env := fmt.Sprintf("Sender: anna@contoso.com\r\nTo: r%d@contoso.com\r\n", i)
			ids[i], added[i], errs[i] = a.Put(ctx, incoming(report(original, env), Source{Account: "j", UID: uint32(i + 1)}))
		})
	}
	wg.Wait()
	nAdded := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("Put %d: id %s; want %s", i, ids[i], ids[0])
		}
		if added[i] {
			nAdded++
		}
	}
	if nAdded != 1 {
		t.Errorf("%d Puts added the message; want 1", nAdded)
	}
	if got := tmpSeq.Load() - before; got != 1 {
		t.Errorf("%d temp files written; want 1", got)
	}
	rec, err := a.Get(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Sources) != n {
		t.Errorf("%d sources; want %d", len(rec.Sources), n)
	}
	checkClean(t, a)
}

// TestChangesSteps: Changes reads the log in steps of changesStep entries,
// calling AfterRead after each, and still returns a message changed in two
// steps once, at its last entry, with its current record.
func TestChangesSteps(t *testing.T) {
	var reads atomic.Int64
	a := TestOpen(t, t.TempDir(), Options{AfterRead: func() { reads.Add(1) }})
	n := 2*changesStep + 5
	msg := func(i int) []byte {
		return fmt.Appendf(nil, "From: a@contoso.com\r\nSubject: %d\r\nMessage-ID: <%d@contoso.com>\r\n\r\nbody %d\r\n", i, i, i)
	}
	for i := range n {
		TestPut(t, a, msg(i), Source{Account: "x", Path: strconv.Itoa(i)})
	}
	// The first message again, from another source: a merge at seq n+1.
	first := TestPut(t, a, msg(0), Source{Account: "y", Path: "again"})

	reads.Store(0)
	changes, err := a.Changes(0, n+1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reads.Load(), int64((n+changesStep)/changesStep); got != want {
		t.Errorf("%d calls of AfterRead for %d entries; want %d, one a step", got, n+1, want)
	}
	if len(changes) != n {
		t.Fatalf("%d changes; want %d (one a message)", len(changes), n)
	}
	for i, ch := range changes[:n-1] {
		if want := uint64(i + 2); ch.Seq != want || ch.Record == nil || ch.Record.ID == first {
			t.Errorf("change %d: seq %d, record %v; want seq %d of another message than the first", i, ch.Seq, ch.Record, want)
		}
	}
	last := changes[n-1]
	if last.Seq != uint64(n+1) || last.Record == nil || last.Record.ID != first || len(last.Record.Sources) != 2 {
		t.Errorf("last change %+v; want seq %d, the first message with its 2 sources", last, n+1)
	}

	// A limit within a step, and one across steps.
	for _, limit := range []int{3, changesStep + 3} {
		changes, err := a.Changes(0, limit)
		if err != nil || len(changes) != limit || changes[limit-1].Seq != uint64(limit) {
			t.Errorf("Changes(0, %d) = %d changes, %v; want %d, the last at seq %d", limit, len(changes), err, limit, limit)
		}
	}
}
