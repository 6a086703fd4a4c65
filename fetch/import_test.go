package fetch

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMboxSplitter(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	const (
		sep  = "From a@example.com Mon Jan  1 00:00:00 2024\n"
		sepB = "From b@example.com Mon Jan  1 00:00:01 2024\n"
	)
	for _, tc := range []struct {
		name    string
		in      string
		quoting Quoting
		want    []string
	}{
		{"two", sep + "line1\n\n" + sepB + "line2\n", 0, []string{"line1\n", "line2\n"}},
		{"blank at eof dropped", sep + "x\n\n" + sepB + "y\n\n", 0, []string{"x\n", "y\n"}},
		{"only the last blank dropped", sep + "x\n\n\n" + sepB + "y\n\n\n", 0, []string{"x\n\n", "y\n\n"}},
		{"no newline at eof", sep + "x", 0, []string{"x"}},
		{"From_ line without blank before", sep + "x\n" + sepB + "y\n", 0, []string{"x\n", "y\n"}},
		{"body From lines stay", sep + "x\n\nFrom Russia with love\nFrom me at 10:30\nFrom y\n\n" + sepB + "z\n", 0,
			[]string{"x\n\nFrom Russia with love\nFrom me at 10:30\nFrom y\n", "z\n"}},
		{"Netscape separators", "From - \nx\n\nFrom -\ny\nFrom - Mon Jun  3 12:50:27 1996\nz\n", 0, []string{"x\n", "y\n", "z\n"}},
		{"address only", "From 1844347792267117879@xxx\nx\n\nFrom 1844347839636459560@xxx\ny\n", 0, []string{"x\n", "y\n"}},
		{"date with zone, no seconds", sep + "x\n\nFrom owner@example.com Wed Feb  9 22:02 MET 2000\ny\n", 0, []string{"x\n", "y\n"}},
		{"BOM", "\xef\xbb\xbfFrom -\nx\n\nFrom -\ny\n", 0, []string{"x\n", "y\n"}},
		{"mboxrd unquoted", sep + ">From x\n\n>>From y\n>Fromage\n>\n", QuotingMboxrd, []string{"From x\n\n>From y\n>Fromage\n>\n"}},
		{"mboxo unquoted", sep + ">From x\n\n>>From y\n", QuotingMboxo, []string{"From x\n\n>>From y\n"}},
		{"quoting kept", sep + ">From x\n\n>>From y\n", QuotingNone, []string{">From x\n\n>>From y\n"}},
		{"blank inside", sep + "h: v\n\nbody\n\nmore\n", 0, []string{"h: v\n\nbody\n\nmore\n"}},
		{"crlf", "From a@b Mon Jan  1 00:00:00 2024\r\nx\r\n\r\nFrom b@b Mon Jan  1 00:00:00 2024\r\ny\r\n\r\n", 0, []string{"x\r\n", "y\r\n"}},
		{"crlf quoted", "From a@b Mon Jan  1 00:00:00 2024\r\n>From x\r\n", 0, []string{"From x\r\n"}},
		{"empty member", sep + "\n" + sepB + "x\n", 0, []string{"", "x\n"}},
		{"only a separator", "From a", 0, []string{""}},
		{"separator at eof", sep + "x\n\n" + strings.TrimSuffix(sepB, "\n"), 0, []string{"x\n", ""}},
		{"long line", sep + long + "\n\n" + sepB + "x\n", 0, []string{long + "\n", "x\n"}},
		{"long separator", "From " + long + "\nx\n\nFrom a@" + long + "\ny\n", 0, []string{"x\n", "y\n"}},
		// "From " after a bufio-sized fragment is not at a line start.
		{"From inside long line", sep + "\n" + strings.Repeat("x", 64<<10) + strings.TrimSuffix(sepB, "\n"), 0,
			[]string{"\n" + strings.Repeat("x", 64<<10) + strings.TrimSuffix(sepB, "\n")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := splitAll(t, tc.in, tc.quoting)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("members = %.80q; want %.80q", got, tc.want)
			}
		})
	}
}

// splitAll splits an mbox and returns its members and the offsets of their
// From_ lines.
func splitAll(t testing.TB, in string, q Quoting) (members []string, froms []int64) {
	s := newMboxSplitter(strings.NewReader(in), q)
	for {
		var b bytes.Buffer
		n, from, err := s.next(&b)
		if err == io.EOF {
			return members, froms
		}
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(b.Len()) {
			t.Fatalf("next = %d; wrote %d", n, b.Len())
		}
		members = append(members, b.String())
		froms = append(froms, from)
		if len(members) > len(in)+1 {
			t.Fatal("no end")
		}
	}
}

func TestMboxFromOffsets(t *testing.T) {
	in := "\xef\xbb\xbfFrom -\nx\n\nFrom a@b\ny\nFrom - Mon Jun  3 12:50:27 1996\nz\n"
	_, froms := splitAll(t, in, 0)
	want := []int64{3, int64(strings.Index(in, "From a@b")), int64(strings.Index(in, "From - Mon"))}
	if !slices.Equal(froms, want) {
		t.Fatalf("From_ offsets = %v; want %v", froms, want)
	}
}

func TestIsFromLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"From jm@dogma.slashnull.org  Wed May 16 00:40:34 2001\n", true},
		{"From magick-owner@unca-don.wizards.dupont.com Wed Feb  9 22:02 MET 2000\r\n", true},
		{"From fc88cba7f1f37b9cf3b296eace2422dd0e173502 Mon Sep 17 00:00:00 2001\n", true},
		{"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n", true},
		{"From MAILER-DAEMON\n", true},
		{"From - \n", true},
		{"From -\n", true},
		{"From a@b", true},
		{"From Russia with love\n", false},
		{"From me at 10:30 tomorrow\n", false},
		{"From here on, 2024 will be better\n", false},
		{"From y\n", false},
		{"From: a@b\n", false},
		{">From a@b Mon Jan  1 00:00:00 2024\n", false},
		{"From  Mon Jan  1 00:00:00 2024\n", true}, // empty sender, asctime date
		{"From \n", false},
		{"From  :<tst1@example.com>\n", false}, // a malformed header (spamassassin spam/008)
		{"From <a@b> Mon Jan  1 00:00:00 2024\n", false},
	} {
		if got := isFromLine([]byte(tc.line)); got != tc.want {
			t.Errorf("isFromLine(%q) = %v; want %v", tc.line, got, tc.want)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImport(t *testing.T) {
	dir := t.TempDir()
	m1 := "From: a@example.com\nSubject: one\n\nbody one\n"
	m2 := "From: b@example.com\r\nSubject: two\r\n\r\nbody two\r\n"
	mbox := "From a@example.com Mon Jan  1 00:00:00 2024\nSubject: m1\n\nbody\nFrom here on\n>From quoted\n\n" +
		"From b@example.com Mon Jan  1 00:00:01 2024\nSubject: m2\n\nx\n\n" +
		"From c@example.com Mon Jan  1 00:00:02 2024\nSubject: m3\n\ny\n"
	writeFiles(t, dir, map[string]string{
		"b/1.eml":      m1,
		"b/c/2.eml":    m2,
		"a.mbox":       mbox,
		"empty.eml":    "",
		"z/3.eml.mbox": "From x\n" + m1, // an .eml saved with its From_ line
	})
	extra := filepath.Join(t.TempDir(), "single.eml")
	writeFiles(t, filepath.Dir(extra), map[string]string{"single.eml": m2})
	// A symbolic link to a directory is followed when given as a path.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}

	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	res, err := f.Import(context.Background(), []string{link, extra}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Account: "import", Seen: 8, Archived: 7, Failed: 1}
	if res.Bytes == 0 {
		t.Errorf("Bytes = 0")
	}
	res.Bytes = 0
	if res != want {
		t.Fatalf("Import = %+v; want %+v", res, want)
	}

	wantRecs := []struct{ path, body string }{
		{filepath.Join(dir, "a.mbox#1"), "Subject: m1\n\nbody\nFrom here on\nFrom quoted\n"},
		{filepath.Join(dir, "a.mbox#2"), "Subject: m2\n\nx\n"},
		{filepath.Join(dir, "a.mbox#3"), "Subject: m3\n\ny\n"},
		{filepath.Join(dir, "b/1.eml"), m1},
		{filepath.Join(dir, "b/c/2.eml"), m2},
		{filepath.Join(dir, "z/3.eml.mbox#1"), m1},
		{extra, m2},
	}
	// Messages are archived concurrently: compare in path order.
	recs := sink.records()
	slices.SortFunc(recs, func(a, b record) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(wantRecs, func(a, b struct{ path, body string }) int { return strings.Compare(a.path, b.path) })
	if len(recs) != len(wantRecs) {
		t.Fatalf("%d messages archived; want %d", len(recs), len(wantRecs))
	}
	for i, w := range wantRecs {
		r := recs[i]
		if r.Path != w.path || r.Sum != sum([]byte(w.body)) || r.Size != int64(len(w.body)) ||
			r.Account != "import" || r.Mailbox != "" || r.UID != 0 || r.Fetched.IsZero() {
			t.Errorf("message %d = %+v; want path %s and body %q", i, r, w.path, w.body)
		}
	}
	if left, _ := dirEntries(f.tempDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %v", left)
	}

	// A missing path fails before anything is imported.
	n := len(sink.records())
	if _, err := f.Import(context.Background(), []string{dir, filepath.Join(dir, "missing")}, ImportOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Import of a missing path = %v; want ErrNotExist", err)
	}
	if len(sink.records()) != n {
		t.Fatal("Import of a missing path archived messages")
	}

	// A sink error stops the import.
	sink.fail = func(m *Message) error {
		if strings.HasSuffix(m.Path, "#2") {
			return errors.New("disk full")
		}
		return nil
	}
	// One message at a time, so that what follows the failure is not
	// already in flight.
	f = New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: f.tempDir, Window: 1})
	res, err = f.Import(context.Background(), []string{dir}, ImportOptions{})
	if err == nil || err.Error() != fmt.Sprintf("import %s#2: disk full", filepath.Join(dir, "a.mbox")) {
		t.Fatalf("Import with a failing sink = %v", err)
	}
	if res.Archived != 1 || res.Failed != 1 {
		t.Fatalf("Import with a failing sink = %+v; want 1 archived, 1 failed", res)
	}
	if left, _ := dirEntries(f.tempDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %v", left)
	}
}

// corpusSink checks every imported message against its file: a single
// message must equal the file, mbox members must appear in the file in order.
type corpusSink struct {
	t       *testing.T
	cursor  map[string]int // mbox file -> offset after the last member
	content map[string][]byte
	n       int
	mboxes  map[string]int // mbox file -> members
}

func (s *corpusSink) Archive(ctx context.Context, m *Message) error {
	b, err := io.ReadAll(io.NewSectionReader(m.Body, 0, m.Size))
	if err != nil {
		return err
	}
	file, member, isMember := strings.Cut(m.Path, "#")
	data, ok := s.content[file]
	if !ok {
		data, err = os.ReadFile(file)
		if err != nil {
			return err
		}
		s.content = map[string][]byte{file: data} // keep one file
	}
	s.n++
	if !isMember {
		if !bytes.Equal(b, data) {
			s.t.Errorf("%s: archived bytes differ from the file", m.Path)
		}
		return nil
	}
	s.mboxes[file]++
	if want := fmt.Sprint(s.mboxes[file]); member != want {
		s.t.Errorf("%s: member number %s; want %s", m.Path, member, want)
	}
	i := bytes.Index(data[s.cursor[file]:], b)
	if i < 0 {
		s.t.Errorf("%s: archived bytes are not in the file after the previous member", m.Path)
		return nil
	}
	s.cursor[file] += i + len(b)
	return nil
}

// corpusMboxes are the files of the corpus that start with a From_ line,
// with the number of messages their upstream projects find in them.
var corpusMboxes = map[string]int{
	"spamassassin/nice.mbox":                               3,
	"perl-mail-box/mbox.src.mbox":                          45,
	"perl-mail-box/mbox.win.mbox":                          45, // CRLF
	"mime4j/mbox/src/test/resources/test-1/mbox.rlug.mbox": 5,
	"mimekit/mbox/issue1189.mbox":                          4, // "From <address>" lines without a date
	"mimekit/mbox/unmunged.mbox":                           2, // BOM, unquoted "From Russia with love" in bodies
	"mimekit/mbox/simple.mbox":                             3, // Netscape "From - " without a blank line before
	"mimekit/mbox/content-length.mbox":                     29,
	"notmuch/insert/mbox-attachment.eml":                   2,
}

// countMessages counts the messages of the corpus: one per file, except the
// files in corpusMboxes.
func countMessages(t *testing.T, root string) (files, messages int) {
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(p, ".eml") && !strings.HasSuffix(p, ".mbox") {
			return nil // MANIFEST.tsv, SOURCES.md: skipped by Import
		}
		files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !isMboxStart(data) {
			messages++
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		n, ok := corpusMboxes[filepath.ToSlash(rel)]
		if !ok {
			n = 1 // a message saved with its From_ line
		}
		messages += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, messages
}

// TestImportCorpus imports the whole real/ corpus.
func TestImportCorpus(t *testing.T) {
	root, err := filepath.Abs(filepath.Join(corpusDir(t), "real"))
	if err != nil {
		t.Fatal(err)
	}
	// The sink checks that members arrive in file order: one at a time,
	// with the bytes as found (no unquoting) so they can be found in the file.
	sink := &corpusSink{t: t, cursor: map[string]int{}, mboxes: map[string]int{}}
	f := New(Options{Sink: sink, Window: 1, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	res, err := f.Import(context.Background(), []string{root}, ImportOptions{Quoting: QuotingNone})
	if err != nil {
		t.Fatal(err)
	}
	files, want := countMessages(t, root)
	if res.Seen != want || res.Archived != want || res.Failed != 0 || res.Skipped != 2 || sink.n != want {
		t.Fatalf("Import(%s) = %+v, sink got %d; want %d messages, all archived", root, res, sink.n, want)
	}
	for p, got := range sink.mboxes {
		rel, _ := filepath.Rel(root, p)
		if want := cmp.Or(corpusMboxes[filepath.ToSlash(rel)], 1); got != want {
			t.Errorf("%s: %d members; want %d", rel, got, want)
		}
	}
	t.Logf("corpus real/: %d files, %d messages (%d bytes)", files, res.Archived, res.Bytes)
}

// TestImportMime4jSplit compares the members of mime4j's mbox with the
// messages mime4j's own test expects from it, but for the blank line before
// each From_ line.
func TestImportMime4jSplit(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "real/mime4j/mbox/src/test/resources/test-1")
	data, err := os.ReadFile(filepath.Join(dir, "mbox.rlug.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	members, _ := splitAll(t, string(data), QuotingMboxrd)
	if len(members) != 5 {
		t.Fatalf("%d members; want 5", len(members))
	}
	for i, m := range members {
		want, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("mbox.rlug-%d.eml", i)))
		if err != nil {
			t.Fatal(err)
		}
		// mime4j keeps the blank line before the next From_ line; an
		// mbox writer adds it, so the splitter drops it.
		if m+"\n" != string(want) {
			t.Errorf("member %d differs from mbox.rlug-%d.eml: %d bytes, want %d", i+1, i, len(m), len(want))
		}
	}
}

func TestMailFileName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"message.eml", true},
		{"msg_25.txt.eml", true},
		{"INBOX.mbox", true},
		{"archive.MBX", true},
		{"1700000000.M1P2.host.example.org:2,S", true},
		{"1700000000.M1P2.host.example.org", true},
		{"cur", true},
		{"README.md", false},
		{"MANIFEST.tsv", false},
		{"notes.txt", false},
		{".DS_Store", false},
		{"dovecot.index.log", false},
	}
	for _, tc := range tests {
		if got := mailFileName(tc.name); got != tc.want {
			t.Errorf("mailFileName(%q) = %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestImportSkipsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	msg := []byte("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n")
	for name, data := range map[string][]byte{"a.eml": msg, "README.md": []byte("# notes\n"), "list.tsv": []byte("a\tb\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sink := &testSink{}
	f := New(Options{Sink: sink, TempDir: t.TempDir()})
	res, err := f.Import(context.Background(), []string{dir}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Archived != 1 || res.Skipped != 2 {
		t.Errorf("Import = %d archived, %d skipped; want 1, 2", res.Archived, res.Skipped)
	}
	// A file named explicitly is read whatever its name.
	res, err = f.Import(context.Background(), []string{filepath.Join(dir, "README.md")}, ImportOptions{})
	if err != nil || res.Archived != 1 {
		t.Errorf("Import(README.md) = %d archived, %v; want 1", res.Archived, err)
	}
}
