package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// verifyFixture makes an archive of three messages (one stored twice) and
// closes it.
func verifyFixture(t *testing.T, opts Options) (dir string, ids []string) {
	t.Helper()
	dir = t.TempDir()
	a := TestOpen(t, dir, opts)
	for i := range 3 {
		msg := strings.Replace(original, "hello", fmt.Sprintf("hello %d %s", i, strings.Repeat("text ", 200)), 1)
		ids = append(ids, TestPut(t, a, []byte(msg), Source{Account: "v", UID: uint32(i + 1)}))
	}
	TestPut(t, a, []byte(strings.Replace(original, "hello", "hello 0 "+strings.Repeat("text ", 200), 1)), Source{Account: "w", UID: 1})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, ids
}

func verifyDir(t *testing.T, dir string, opts Options, readData bool) *VerifyReport {
	t.Helper()
	a := TestOpen(t, dir, opts)
	rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: readData})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func wantProblems(t *testing.T, rep *VerifyReport, want ...Problem) {
	t.Helper()
	match := len(rep.Problems) == len(want)
	for i := 0; match && i < len(want); i++ {
		match = rep.Problems[i].Type == want[i].Type && rep.Problems[i].ID == want[i].ID
	}
	if !match {
		var got, exp []string
		for _, p := range rep.Problems {
			got = append(got, p.Error())
		}
		for _, p := range want {
			exp = append(exp, fmt.Sprintf("%s %s", p.Type, p.ID))
		}
		t.Errorf("Verify problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
	}
}

// editDB changes meta.db of a closed archive.
func editDB(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o640, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// editRecord replaces the stored value of a compressed record with
// fn(its JSON).
func editRecord(t *testing.T, dir, id string, fn func(js []byte) []byte) {
	t.Helper()
	editDB(t, dir, func(tx *bolt.Tx) error {
		k, _ := parseID(id)
		b := tx.Bucket(bucketMessages)
		v := b.Get(k[:])
		if !bytes.HasPrefix(v, zstdMagic) {
			t.Fatalf("record %s is stored as %.20q; want it compressed", id, v)
		}
		js, err := unpackJSON(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b.Put(k[:], fn(js))
	})
}

// editEntry replaces the JSON of the log entry with key k with fn(its
// JSON), stored as jarchive stores it, and fails the test unless it changed.
func editEntry(t *testing.T, tx *bolt.Tx, k []byte, fn func(js []byte) []byte) error {
	t.Helper()
	b := tx.Bucket(bucketLog)
	v := b.Get(k)
	js, err := unpackJSON(v[32:], nil)
	if err != nil {
		t.Fatal(err)
	}
	edited := fn(bytes.Clone(js))
	if bytes.Equal(edited, js) {
		t.Fatalf("log entry %x: the edit changed nothing in %s", k, js)
	}
	return b.Put(bytes.Clone(k), append(bytes.Clone(v[:32]), packJSON(edited)...))
}

func blobPath(dir, id string) string { return filepath.Join(dir, "blobs", id[:2], id) }

func TestVerify(t *testing.T) {
	key := Options{Key: bytes.Repeat([]byte{9}, 32)}
	tests := []struct {
		name     string
		opts     Options
		readData bool
		damage   func(t *testing.T, dir string, ids []string)
		want     func(ids []string) []Problem
	}{
		{"clean", Options{}, true, nil, nil},
		{"clean encrypted", key, true, nil, nil},
		{"deleted blob", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				if err := os.Remove(blobPath(dir, ids[1])); err != nil {
					t.Fatal(err)
				}
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemMissing, ID: ids[1]}} }},
		{"truncated blob", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				p := blobPath(dir, ids[2])
				st, _ := os.Stat(p)
				os.Chmod(p, 0o640)
				if err := os.Truncate(p, st.Size()/2); err != nil {
					t.Fatal(err)
				}
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemTruncated, ID: ids[2]}} }},
		{"flipped byte, structure only", Options{}, false, flipByte, nil},
		{"flipped byte", Options{}, true, flipByte,
			func(ids []string) []Problem { return []Problem{{Type: ProblemCorrupt, ID: ids[0]}} }},
		{"flipped byte encrypted", key, true, flipByte,
			func(ids []string) []Problem { return []Problem{{Type: ProblemCorrupt, ID: ids[0]}} }},
		{"orphan blob", Options{}, true,
			func(t *testing.T, dir string, ids []string) {
				b, err := os.ReadFile(blobPath(dir, ids[0]))
				if err != nil {
					t.Fatal(err)
				}
				p := blobPath(dir, hexSum([]byte("orphan")))
				os.MkdirAll(filepath.Dir(p), 0o750)
				if err := os.WriteFile(p, b, 0o440); err != nil {
					t.Fatal(err)
				}
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemOrphan, ID: hexSum([]byte("orphan"))}} }},
		{"stray file", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				if err := os.WriteFile(filepath.Join(dir, "blobs", "notes.txt"), []byte("x"), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemOrphan, ID: "notes.txt"}} }},
		{"edited log entry", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				editDB(t, dir, func(tx *bolt.Tx) error {
					return editEntry(t, tx, u64(2), func(js []byte) []byte {
						return bytes.Replace(js, []byte(`"size":`), []byte(`"size":1`), 1)
					})
				})
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemChainBroken, ID: ""}} }},
		{"edited last log entry", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				editDB(t, dir, func(tx *bolt.Tx) error {
					k, _ := tx.Bucket(bucketLog).Cursor().Last()
					return editEntry(t, tx, k, func(js []byte) []byte {
						return bytes.Replace(js, []byte(`"op":"merge"`), []byte(`"op":"add"`), 1)
					})
				})
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemChainBroken}} }},
		{"removed last log entry", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				editDB(t, dir, func(tx *bolt.Tx) error {
					b := tx.Bucket(bucketLog)
					k, _ := b.Cursor().Last()
					return b.Delete(bytes.Clone(k))
				})
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemChainBroken}} }},
		{"edited record", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				// Stored as JSON, as archives before compressed records have them.
				editRecord(t, dir, ids[1], func(js []byte) []byte {
					return bytes.Replace(js, []byte(`ben@contoso.com`), []byte(`eve@contoso.com`), 1)
				})
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemChainBroken, ID: ids[1]}} }},
		{"edited compressed record", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				editRecord(t, dir, ids[1], func(js []byte) []byte {
					return packJSON(bytes.Replace(js, []byte(`ben@contoso.com`), []byte(`eve@contoso.com`), 1))
				})
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemChainBroken, ID: ids[1]}} }},
		{"record stored as JSON", Options{}, true,
			func(t *testing.T, dir string, ids []string) {
				// The same record uncompressed: the log's digest is of the JSON.
				editRecord(t, dir, ids[2], func(js []byte) []byte { return js })
			},
			nil},
		{"damaged compressed record", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				editRecord(t, dir, ids[0], func(js []byte) []byte {
					v := packJSON(js)
					v[len(v)/2] ^= 0x40
					return v
				})
			},
			func(ids []string) []Problem { return []Problem{{Type: ProblemCorrupt, ID: ids[0]}} }},
		{"deleted record", Options{}, false,
			func(t *testing.T, dir string, ids []string) {
				editDB(t, dir, func(tx *bolt.Tx) error {
					k, _ := parseID(ids[2])
					return tx.Bucket(bucketMessages).Delete(k[:])
				})
			},
			func(ids []string) []Problem {
				return []Problem{{Type: ProblemMissing, ID: ids[2]}, {Type: ProblemOrphan, ID: ids[2]}}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, ids := verifyFixture(t, tc.opts)
			if tc.damage != nil {
				tc.damage(t, dir, ids)
			}
			rep := verifyDir(t, dir, tc.opts, tc.readData)
			var want []Problem
			if tc.want != nil {
				want = tc.want(ids)
			}
			if len(want) == 1 && want[0].Type == ProblemChainBroken && want[0].ID == "" && len(rep.Problems) == 1 {
				want[0].ID = rep.Problems[0].ID // the entry's message, whichever it is
			}
			wantProblems(t, rep, want...)
			if tc.want == nil && (rep.Records != 3 || rep.Shown != 3 || rep.LogEntries != 4 || rep.Blobs != 3) {
				t.Errorf("report: %d records, %d shown, %d blobs, %d log entries; want 3, 3, 3, 4", rep.Records, rep.Shown, rep.Blobs, rep.LogEntries)
			}
			if tc.readData && tc.want == nil && rep.BytesRead == 0 {
				t.Errorf("ReadData read no bytes")
			}
		})
	}
}

func flipByte(t *testing.T, dir string, ids []string) {
	p := blobPath(dir, ids[0])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)*2/3] ^= 0x40
	os.Chmod(p, 0o640)
	if err := os.WriteFile(p, b, 0o440); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyProgress checks the progress callback and that a cancelled
// Verify is an error, not a report.
func TestVerifyProgress(t *testing.T) {
	dir, _ := verifyFixture(t, Options{})
	a := TestOpen(t, dir, Options{})
	var last, total int
	rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: true, Progress: func(d, n int) { last, total = d, n }})
	if err != nil || !rep.Clean() || last != 3 || total != 3 {
		t.Errorf("Verify = %v, %v; progress %d of %d; want clean, 3 of 3", rep, err, last, total)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Verify(ctx, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Verify = %v; want context.Canceled", err)
	}
}

// TestLogChain checks the chain head in Stats against the log.
func TestLogChain(t *testing.T) {
	dir, _ := verifyFixture(t, Options{})
	a := TestOpen(t, dir, Options{})
	s := stats(t, a)
	rep, err := a.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.ChainHead == "" || s.ChainHead != rep.ChainHead || s.LastSeq != rep.LogEntries {
		t.Errorf("stats head %s at %d; verify recomputed %s over %d entries", s.ChainHead, s.LastSeq, rep.ChainHead, rep.LogEntries)
	}
	var seqs []uint64
	a.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			seqs = append(seqs, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("log keys %v; want 1..n", seqs)
		}
	}
}

// TestVerifyDuringPuts: Verify on a live archive sees no problem in the
// commits going on.
func TestVerifyDuringPuts(t *testing.T) {
	a := TestArchive(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := strings.Replace(original, "hello", fmt.Sprintf("live %d %d", g, i), 1)
				if _, _, err := a.Put(context.Background(), incoming([]byte(msg), Source{Account: "live", UID: uint32(i + 1), Mailbox: fmt.Sprint(g)})); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 10 {
		rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Problems {
			t.Errorf("Verify during Puts: %v", &p)
		}
	}
	close(stop)
	wg.Wait()
	checkClean(t, a)
}

// TestRecordsAsJSON: an archive of format 1, whose values are JSON
// (written before they were packed), is upgraded to format 2, verifies
// clean, reads, and packs a record when it changes. A later format is
// refused.
func TestRecordsAsJSON(t *testing.T) {
	saved := packMin
	packMin = 1 << 30
	dir, ids := verifyFixture(t, Options{})
	packMin = saved
	setFormat := func(v string) {
		editDB(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaFormat, []byte(v)) })
	}
	setFormat("3")
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), `archive format "3"`) {
		t.Fatalf("Open(format 3) = %v; want refused", err)
	}
	setFormat("1")

	a := TestOpen(t, dir, Options{})
	a.db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(metaFormat)); v != formatVersion {
			t.Errorf("format after Open = %q; want %q", v, formatVersion)
		}
		return nil
	})
	stored := func(id string) []byte {
		var v []byte
		a.db.View(func(tx *bolt.Tx) error {
			k, _ := parseID(id)
			v = bytes.Clone(tx.Bucket(bucketMessages).Get(k[:]))
			return nil
		})
		return v
	}
	for _, id := range ids {
		if v := stored(id); len(v) == 0 || v[0] != '{' {
			t.Fatalf("record %s stored as %.20q; want JSON", id, v)
		}
	}
	checkClean(t, a)
	msg := strings.Replace(original, "hello", "hello 1 "+strings.Repeat("text ", 200), 1)
	src := Source{Account: "x", Path: strings.Repeat("maildir/", 20) + "1"} // an entry that compresses
	if id := TestPut(t, a, []byte(msg), src); id != ids[1] {
		t.Fatalf("Put = %s; want the stored %s", id, ids[1])
	}
	if v := stored(ids[1]); !bytes.HasPrefix(v, zstdMagic) {
		t.Errorf("merged record stored as %.20q; want compressed", v)
	}
	a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		_, first := c.First()
		_, last := c.Last()
		if first[32] != '{' || !bytes.HasPrefix(last[32:], zstdMagic) {
			t.Errorf("log entries stored as %q ... %q; want JSON, then compressed", first[32:], last[32:])
		}
		return nil
	})
	rec, err := a.Get(ids[1])
	if err != nil || len(rec.Sources) != 2 {
		t.Fatalf("Get = %+v, %v; want 2 sources", rec, err)
	}
	if rec, err := a.Get(ids[0]); err != nil || rec.ID != ids[0] || len(rec.Sources) != 2 {
		t.Fatalf("Get(JSON record) = %+v, %v; want it with 2 sources", rec, err)
	}
	checkClean(t, a)
}
