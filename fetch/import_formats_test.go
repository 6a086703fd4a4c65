package fetch

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"jarchive/testcorpus"
)

// bodies returns the archived messages' paths (relative to dir) with the
// SHA-256 of their bodies.
func (s *testSink) bodies(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range s.records() {
		rel, err := filepath.Rel(dir, r.Path)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.ToSlash(rel)] = r.Sum
	}
	return m
}

func sums(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = sum([]byte(v))
	}
	return out
}

func TestImportMaildir(t *testing.T) {
	dir := t.TempDir()
	m := func(s string) string { return "From: a@example.com\nSubject: " + s + "\n\nbody\n" }
	writeFiles(t, dir, map[string]string{
		"Maildir/cur/1700000000.M1P2.host:2,S":            m("cur"),
		"Maildir/new/1700000001.M1P3.host":                m("new"),
		"Maildir/tmp/1700000002.M1P4.host":                m("tmp: still being written"),
		"Maildir/dovecot-uidlist":                         "3 V1700000000 N3\n",
		"Maildir/maildirfolder":                           "",
		"Maildir/saved.eml":                               m("beside cur and new, with a mail extension"),
		"Maildir/.Sent/cur/1700000003.M1P5.host:2,S":      m("Maildir++ folder"),
		"Maildir/.Sent/dovecot-uidlist":                   "x\n",
		"Maildir/.Sent/tmp/1700000004.M1P6.host":          m("tmp of a subfolder"),
		"notmaildir/tmp/1700000005.M1P7.host":             m("tmp outside a maildir"),
		"Maildir/.Sent/new/1700000006.M1P8.host:2,":       m("new of a subfolder"),
		"Maildir/cur/1700000007.M1P9.host,S=123:2,RS.eml": m("cur with extension"),
	})
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	res, err := f.Import(context.Background(), []string{dir}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := sums(map[string]string{
		"Maildir/cur/1700000000.M1P2.host:2,S":            m("cur"),
		"Maildir/new/1700000001.M1P3.host":                m("new"),
		"Maildir/saved.eml":                               m("beside cur and new, with a mail extension"),
		"Maildir/.Sent/cur/1700000003.M1P5.host:2,S":      m("Maildir++ folder"),
		"Maildir/.Sent/new/1700000006.M1P8.host:2,":       m("new of a subfolder"),
		"notmaildir/tmp/1700000005.M1P7.host":             m("tmp outside a maildir"),
		"Maildir/cur/1700000007.M1P9.host,S=123:2,RS.eml": m("cur with extension"),
	})
	if got := sink.bodies(t, dir); !mapsEqual(got, want) {
		t.Errorf("imported %v; want %v", keys(got), keys(want))
	}
	if res.Skipped != 3 || res.Archived != len(want) {
		t.Errorf("Import = %+v; want %d archived, 3 skipped (two dovecot-uidlist, maildirfolder)", res, len(want))
	}
}

func TestImportZip(t *testing.T) {
	dir := t.TempDir()
	msg := func(s string) string { return "From: a@example.com\r\nSubject: " + s + "\r\n\r\nbody\r\n" }
	inner := zipBytes(t, []zipEntry{{"x.eml", msg("nested")}})
	entries := []zipEntry{
		{"manifest.json", `{"messages": []}`},
		{"2024/01/a.eml", msg("a")},
		{"2024/01/", ""},
		{"box.mbox", "\xef\xbb\xbfFrom - \n" + strings.ReplaceAll(msg("m1"), "\r\n", "\n") + ">From quoted\n\nFrom - \n" + msg("m2")},
		{"Maildir/cur/1.M2.host:2,S", msg("maildir")},
		{"Maildir/new/2.M3.host", msg("maildir new")},
		{"Maildir/tmp/3.M4.host", msg("tmp")},
		{"Maildir/dovecot-uidlist", "3 V1 N4\n"},
		{"inner.zip", string(inner)},
		{"README.txt", "not mail"},
	}
	writeFiles(t, dir, map[string]string{"export.zip": string(zipBytes(t, entries))})
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	res, err := f.Import(context.Background(), []string{dir}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := sums(map[string]string{
		"export.zip!2024/01/a.eml":             msg("a"),
		"export.zip!box.mbox#1":                strings.ReplaceAll(msg("m1"), "\r\n", "\n") + "From quoted\n",
		"export.zip!box.mbox#2":                msg("m2"),
		"export.zip!Maildir/cur/1.M2.host:2,S": msg("maildir"),
		"export.zip!Maildir/new/2.M3.host":     msg("maildir new"),
	})
	if got := sink.bodies(t, dir); !mapsEqual(got, want) {
		t.Errorf("imported %v; want %v", keys(got), keys(want))
	}
	// manifest.json, tmp/3, dovecot-uidlist, inner.zip, README.txt.
	if res.Skipped != 5 || res.Archived != len(want) || res.Failed != 0 {
		t.Errorf("Import = %+v; want %d archived, 5 skipped", res, len(want))
	}

	// A damaged zip is counted as failed, and the import goes on.
	writeFiles(t, dir, map[string]string{"bad.zip": "PK\x03\x04 not really"})
	res, err = f.Import(context.Background(), []string{dir}, ImportOptions{})
	if err != nil || res.Failed != 1 || res.Archived != len(want) {
		t.Errorf("Import with a damaged zip = %+v, %v; want %d archived and 1 failed", res, err, len(want))
	}
}

type zipEntry struct{ name, content string }

func zipBytes(t *testing.T, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestImportResume interrupts an import (the sink fails at one message),
// then runs it again: what was archived is skipped without being read,
// the rest is imported, and the state is gone after the complete run.
func TestImportResume(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	var mbox strings.Builder
	for i := range 20 {
		fmt.Fprintf(&mbox, "From a@example.com Mon Jan  1 00:00:%02d 2024\nSubject: m%d\n\nbody %d\n\n", i, i, i)
	}
	files["a/big.mbox"] = mbox.String()
	for i := range 10 {
		files[fmt.Sprintf("b/%02d.eml", i)] = fmt.Sprintf("Subject: e%d\n\nbody\n", i)
	}
	files["c.zip"] = string(zipBytes(t, []zipEntry{{"1.eml", "Subject: z1\n\nx\n"}, {"2.eml", "Subject: z2\n\nx\n"}}))
	writeFiles(t, dir, files)
	const total = 20 + 10 + 2
	state := t.TempDir()

	for _, stopAt := range []string{"a/big.mbox#13", "b/04.eml", "c.zip!2.eml"} {
		t.Run(stopAt, func(t *testing.T) {
			os.RemoveAll(state)
			failing := filepath.Join(dir, stopAt)
			sink := &testSink{fail: func(m *Message) error {
				if m.Path == failing {
					return errors.New("disk full")
				}
				return nil
			}}
			f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir(), Window: 4})
			opts := ImportOptions{StateDir: state}
			res1, err := f.Import(context.Background(), []string{dir}, opts)
			if err == nil {
				t.Fatal("Import with a failing sink returned nil")
			}
			saved, _ := filepath.Glob(filepath.Join(state, "import-*.json"))
			if len(saved) != 1 {
				t.Fatalf("state files after the interruption: %v; want one", saved)
			}
			first := len(sink.records())

			sink.fail = nil
			sink.recs = nil
			res2, err := f.Import(context.Background(), []string{dir}, opts)
			if err != nil {
				t.Fatal(err)
			}
			second := sink.records()
			// Everything archived by the first run up to the failure is
			// skipped; what was in flight after it may come again.
			seen := map[string]int{}
			for _, r := range second {
				if seen[r.Path]++; seen[r.Path] == 2 {
					t.Errorf("%s archived twice in the second run", r.Path)
				}
			}
			if !slices.ContainsFunc(second, func(r record) bool { return r.Path == failing }) {
				t.Errorf("the message that failed, %s, was not archived by the second run", stopAt)
			}
			if first+len(second) < total || len(second) >= total || res2.Resumed == 0 {
				t.Errorf("first run %d, second %d (resumed %d); want together at least %d, the second fewer", first, len(second), res2.Resumed, total)
			}
			if saved, _ := filepath.Glob(filepath.Join(state, "import-*.json")); len(saved) != 0 {
				t.Errorf("state files after the complete run: %v; want none", saved)
			}
			t.Logf("first run archived %d (%+v); second archived %d, resumed past %d", first, res1, len(second), res2.Resumed)

			// A third run, complete, reads everything again.
			sink.recs = nil
			if res3, err := f.Import(context.Background(), []string{dir}, opts); err != nil || res3.Archived != total || res3.Resumed != 0 {
				t.Errorf("third run = %+v, %v; want all %d archived", res3, err, total)
			}
		})
	}
}

func TestExportNewlines(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"manifest.json": `{"version": 1, "query": "x", "messages": [
		{"id": "a", "file": "messages.mbox", "offset": 0, "size": 3},
		{"id": "b", "file": "messages.mbox", "offset": 120, "size": 3, "mbox_newline_added": true},
		{"id": "c", "file": "other.mbox", "offset": 7, "mbox_newline_added": true}
	], "files": [{"name": "messages.mbox"}], "count": 3}`})
	got, err := exportNewlines(dir, "messages.mbox")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[120] {
		t.Errorf("exportNewlines = %v; want {120}", got)
	}
	if got, err := exportNewlines(t.TempDir(), "messages.mbox"); got != nil || err != nil {
		t.Errorf("exportNewlines without a manifest = %v, %v; want nil, nil", got, err)
	}
	writeFiles(t, dir, map[string]string{"manifest.json": `{"messages": [{"file": 3}]}`})
	if _, err := exportNewlines(dir, "messages.mbox"); err == nil {
		t.Error("exportNewlines of a broken manifest = nil error")
	}
}

// FuzzMboxSplitter: any input splits without a panic; kept as found
// (QuotingNone), the members appear in the input in order, and together
// they are never longer than it.
func FuzzMboxSplitter(f *testing.F) {
	f.Add("From a@b Mon Jan  1 00:00:00 2024\nx\n\nFrom -\n>From y\n")
	f.Add("\xef\xbb\xbfFrom -\r\nx\r\n\r\nFrom - Mon Jun  3 12:50:27 1996\r\n")
	f.Add("From \n\n\nFrom a@\nFrom Russia with love\n")
	for _, name := range []string{"mimekit/mbox/unmunged.mbox", "mimekit/mbox/simple.mbox", "spamassassin/nice.mbox"} {
		if root, ok := testcorpus.Root(); !ok {
			break
		} else if b, err := os.ReadFile(filepath.Join(root, "real", name)); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !isMboxStart([]byte(in)) {
			return
		}
		for _, q := range []Quoting{QuotingNone, QuotingMboxrd} {
			members, froms := splitAll(t, in, q)
			total, at := 0, 0
			for i, m := range members {
				total += len(m)
				if froms[i] < 0 || froms[i] > int64(len(in)) || !strings.HasPrefix(in[froms[i]:], "From ") {
					t.Fatalf("member %d: From_ offset %d is not at a From_ line", i, froms[i])
				}
				if q == QuotingNone {
					j := strings.Index(in[at:], m)
					if j < 0 {
						t.Fatalf("member %d (%q) is not in the input after the previous one", i, m)
					}
					at += j + len(m)
				}
			}
			if total > len(in) {
				t.Fatalf("members hold %d bytes; the input %d", total, len(in))
			}
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
