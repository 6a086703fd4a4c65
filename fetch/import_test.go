package fetch

import (
	"bufio"
	"bytes"
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
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"two", "From a\nline1\n\nFrom b\nline2\n", []string{"line1\n", "line2\n"}},
		{"blank at eof dropped", "From a\nx\n\nFrom b\ny\n\n", []string{"x\n", "y\n"}},
		{"only the last blank dropped", "From a\nx\n\n\nFrom b\ny\n\n\n", []string{"x\n\n", "y\n\n"}},
		{"no newline at eof", "From a\nx", []string{"x"}},
		{"From not after blank stays", "From a\nx\nFrom y\n\nFrom b\nz\n", []string{"x\nFrom y\n", "z\n"}},
		{"From after From_ stays", "From a\nFrom y\n", []string{"From y\n"}},
		{"quoted From kept", "From a\n>From x\n\n>>From y\n", []string{">From x\n\n>>From y\n"}},
		{"blank inside", "From a\nh: v\n\nbody\n\nmore\n", []string{"h: v\n\nbody\n\nmore\n"}},
		{"crlf", "From a\r\nx\r\n\r\nFrom b\r\ny\r\n\r\n", []string{"x\r\n", "y\r\n"}},
		{"empty member", "From a\n\nFrom b\nx\n", []string{"", "x\n"}},
		{"only a separator", "From a", []string{""}},
		{"separator at eof", "From a\nx\n\nFrom b", []string{"x\n", ""}},
		{"long line", "From a\n" + long + "\n\nFrom b\nx\n", []string{long + "\n", "x\n"}},
		{"long separator", "From " + long + "\nx\n\nFrom " + long + "\ny\n", []string{"x\n", "y\n"}},
		// "From " after a bufio-sized fragment is not at a line start.
		{"From inside long line", "From a\n\n" + strings.Repeat("x", 64<<10) + "From z\n",
			[]string{"\n" + strings.Repeat("x", 64<<10) + "From z\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMboxSplitter(strings.NewReader(tc.in))
			var got []string
			for {
				var b bytes.Buffer
				n, err := s.next(&b)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n != int64(b.Len()) {
					t.Fatalf("next = %d; wrote %d", n, b.Len())
				}
				got = append(got, b.String())
				if len(got) > 10 {
					t.Fatal("no end")
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("members = %.80q; want %.80q", got, tc.want)
			}
		})
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
	res, err := f.Import(context.Background(), []string{link, extra})
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
		{filepath.Join(dir, "a.mbox#1"), "Subject: m1\n\nbody\nFrom here on\n>From quoted\n"},
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
	if _, err := f.Import(context.Background(), []string{dir, filepath.Join(dir, "missing")}); !errors.Is(err, os.ErrNotExist) {
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
	res, err = f.Import(context.Background(), []string{dir})
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

// countMessages counts messages the simple way, line by line, as a check
// of Import: one per file, except files starting "From ", which hold one
// per "From " line at the start or after a blank line.
func countMessages(t *testing.T, root string) (files, messages int, mboxes map[string]int) {
	mboxes = map[string]int{}
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
		if !bytes.HasPrefix(data, []byte("From ")) {
			messages++
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 10<<20)
		blank := true
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			if blank && strings.HasPrefix(line, "From ") {
				mboxes[p]++
			}
			blank = line == ""
		}
		messages += mboxes[p]
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, messages, mboxes
}

// TestImportCorpus imports the whole real/ corpus.
func TestImportCorpus(t *testing.T) {
	root, err := filepath.Abs(filepath.Join(corpusDir(t), "real"))
	if err != nil {
		t.Fatal(err)
	}
	// The sink checks that members arrive in file order: one at a time.
	sink := &corpusSink{t: t, cursor: map[string]int{}, mboxes: map[string]int{}}
	f := New(Options{Sink: sink, Window: 1, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	res, err := f.Import(context.Background(), []string{root})
	if err != nil {
		t.Fatal(err)
	}
	files, want, mboxes := countMessages(t, root)
	if res.Seen != want || res.Archived != want || res.Failed != 0 || res.Skipped != 2 || sink.n != want {
		t.Fatalf("Import(%s) = %+v, sink got %d; want %d messages, all archived", root, res, sink.n, want)
	}
	for p, n := range mboxes {
		if sink.mboxes[p] != n {
			t.Errorf("%s: %d members; want %d", p, sink.mboxes[p], n)
		}
	}
	dotMbox := 0
	for p, n := range mboxes {
		if strings.HasSuffix(p, ".mbox") {
			dotMbox += n
		}
	}
	t.Logf("corpus real/: %d files, %d messages (%d bytes); %d files start with a From_ line, the .mbox files hold %d",
		files, res.Archived, res.Bytes, len(mboxes), dotMbox)
	for p, n := range mboxes {
		if strings.HasSuffix(p, ".mbox") || n != 1 {
			t.Logf("%s: %d", strings.TrimPrefix(p, root+"/"), n)
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
	res, err := f.Import(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Archived != 1 || res.Skipped != 2 {
		t.Errorf("Import = %d archived, %d skipped; want 1, 2", res.Archived, res.Skipped)
	}
	// A file named explicitly is read whatever its name.
	res, err = f.Import(context.Background(), []string{filepath.Join(dir, "README.md")})
	if err != nil || res.Archived != 1 {
		t.Errorf("Import(README.md) = %d archived, %v; want 1", res.Archived, err)
	}
}
