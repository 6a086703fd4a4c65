package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testLog writes n records to a new log and returns its path.
func testLog(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), File)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(Entry{Actor: "anna", Role: "auditor", Remote: "10.0.0.1", Action: ActionSearch,
			Target: fmt.Sprintf("from:<bob> %d", i), Outcome: Success}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAndReopen(t *testing.T) {
	path := testLog(t, 3)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := l.Head(); seq != 3 {
		t.Fatalf("Head() after reopen = %d; want 3", seq)
	}
	r, err := l.Append(Entry{Actor: "<script>", Action: ActionLogin, Outcome: Failure, Detail: "bad password"})
	if err != nil || r.Seq != 4 {
		t.Fatalf("Append = %+v, %v; want seq 4", r, err)
	}
	l.Close()
	rep, err := Verify(path)
	if err != nil || len(rep.Problems) != 0 || rep.Records != 4 || rep.Head != 4 {
		t.Fatalf("Verify = %+v, %v; want 4 records, no problems", rep, err)
	}
	if !strings.Contains(readLines(t, path)[3], `"actor":"<script>"`) {
		t.Errorf("line 4 = %s; want the actor unescaped", readLines(t, path)[3])
	}
	recs, total, err := Tail(path, 2)
	if err != nil || total != 4 || len(recs) != 2 || recs[0].Seq != 4 || recs[1].Seq != 3 {
		t.Errorf("Tail(2) = %+v, %d, %v; want records 4 and 3 of 4", recs, total, err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := l.Append(Entry{Actor: fmt.Sprint(g), Action: ActionView, Target: fmt.Sprint(i), Outcome: Success}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	rep, err := Verify(path)
	if err != nil || len(rep.Problems) != 0 || rep.Records != 80 {
		t.Fatalf("Verify = %+v, %v; want 80 records, no problems", rep, err)
	}
}

// TestVerifyTampering: each kind of tampering gives exactly the expected
// problems.
func TestVerifyTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, path string)
		want   []string // "kind@line"
	}{
		{"clean", func(t *testing.T, path string) {}, nil},
		{"edited target", func(t *testing.T, path string) {
			lines := readLines(t, path)
			lines[2] = strings.Replace(lines[2], "from:<bob> 2", "from:<eve> 2", 1)
			writeLines(t, path, lines)
		}, []string{"edited@3"}},
		{"edited and rehashed", func(t *testing.T, path string) {
			// The attacker recomputes the edited record's hash: the next
			// record's prev no longer matches.
			lines := readLines(t, path)
			r := parse(t, lines[2])
			r.Actor = "eve"
			r.Hash, _ = hashOf(r)
			b, _ := marshal(r)
			lines[2] = string(b) + "\n"
			writeLines(t, path, lines)
		}, []string{"edited@4"}},
		{"deleted in the middle", func(t *testing.T, path string) {
			lines := readLines(t, path)
			writeLines(t, path, append(lines[:1:1], lines[2:]...))
		}, []string{"deleted@2"}},
		{"deleted at the end", func(t *testing.T, path string) {
			lines := readLines(t, path)
			writeLines(t, path, lines[:4])
		}, []string{"truncated@0"}},
		{"reordered", func(t *testing.T, path string) {
			lines := readLines(t, path)
			lines[1], lines[2] = lines[2], lines[1]
			writeLines(t, path, lines)
		}, []string{"reordered@2", "reordered@3"}},
		{"partial last line", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, append(b, `{"seq":6,"ti`...), 0o600)
		}, []string{"truncated@6"}},
		{"garbage line", func(t *testing.T, path string) {
			lines := readLines(t, path)
			lines = append(lines[:2], append([]string{"hello\n"}, lines[2:]...)...)
			writeLines(t, path, lines)
		}, []string{"malformed@3"}},
		{"log removed", func(t *testing.T, path string) {
			os.Remove(path)
		}, []string{"truncated@0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := testLog(t, 5)
			tc.tamper(t, path)
			rep, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, fmt.Sprintf("%s@%d", p.Kind, p.Line))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("problems %q; want %q (%v)", got, tc.want, rep.Problems)
			}
		})
	}
}

// TestOpenCutsPartialLine: a crash mid-append leaves a partial line, which
// Open removes; the chain goes on.
func TestOpenCutsPartialLine(t *testing.T) {
	path := testLog(t, 2)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, `{"seq":3,"time":"20`...), 0o600)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Actor: "a", Action: ActionLogout, Outcome: Success}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep, err := Verify(path)
	if err != nil || len(rep.Problems) != 0 || rep.Records != 3 {
		t.Fatalf("Verify = %+v, %v; want 3 records, no problems", rep, err)
	}
}

func parse(t *testing.T, line string) Record {
	t.Helper()
	var r Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// FuzzVerify: Verify never panics on any log and finds no problem in a log
// it wrote itself.
func FuzzVerify(f *testing.F) {
	// A good log, built in memory (no fsyncs in every fuzz worker).
	var seed []byte
	prev := zeroHash
	for i := range 3 {
		r := Record{Seq: uint64(i + 1), Actor: "a", Action: ActionView, Target: fmt.Sprint(i), Outcome: Success, Prev: prev}
		r.Hash, _ = hashOf(r)
		b, _ := marshal(r)
		seed = append(append(seed, b...), '\n')
		prev = r.Hash
	}
	f.Add(seed)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1}` + "\n" + `{"seq":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep := &Report{}
		verifyData(data, rep)
		if bytes.Equal(data, seed) && len(rep.Problems) != 0 {
			t.Errorf("problems in a good log: %v", rep.Problems)
		}
	})
}

// TestTwoWriters: two Logs on one file (the daemon and "jarchive token")
// append in turn and keep one chain.
func TestTwoWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for _, l := range []*Log{a, b, a, b} {
		wg.Go(func() {
			for range 10 {
				if _, err := l.Append(Entry{Actor: "x", Action: ActionTokenCreate, Outcome: Success}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rep, err := Verify(path)
	if err != nil || len(rep.Problems) != 0 || rep.Records != 40 {
		t.Fatalf("Verify = %+v, %v; want 40 records, no problems", rep, err)
	}
}

// TestVerifyHugeSeq: the largest seq neither hangs Verify nor wraps.
func TestVerifyHugeSeq(t *testing.T) {
	line := `{"seq":18446744073709551615,"time":"2026-01-01T00:00:00Z","actor":"","role":"","remote":"","action":"","target":"","outcome":"","prev":"","hash":"x"}` + "\n"
	rep := &Report{}
	verifyData([]byte(line+line+line), rep)
	if rep.Records != 3 || len(rep.Problems) != 6 {
		t.Errorf("report %+v; want 3 records, each edited and out of place", rep)
	}
}
