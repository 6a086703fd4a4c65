package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/fetch"
	"jarchive/index"
	"jarchive/mailgen"
)

// searchArchive is an archive directory with generated journal reports,
// for the search and reindex tests.
type searchArchive struct {
	cfg    string // config file
	inbox  string // directory of the reports, as .eml files
	msgs   []*mailgen.Message
	logger *bytes.Buffer
}

// newSearchArchive writes n generated journal reports to files and a config
// whose archive holds nothing yet. An account on a closed port keeps a
// daemon running without a mail server.
func newSearchArchive(t *testing.T, n int) *searchArchive {
	t.Helper()
	dir := t.TempDir()
	sa := &searchArchive{inbox: filepath.Join(dir, "inbox"), logger: &bytes.Buffer{}}
	if err := os.Mkdir(sa.inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	gen := mailgen.New(mailgen.Options{Seed: 11})
	for i := range n {
		m := gen.Next()
		sa.msgs = append(sa.msgs, m)
		if err := os.WriteFile(filepath.Join(sa.inbox, fmt.Sprintf("%04d.eml", i)), m.Report, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sa.cfg = filepath.Join(dir, "jarchive.toml")
	cfg := fmt.Sprintf("[archive]\ndir = %q\ntime_zone = \"UTC\"\n\n[[accounts]]\nname = \"offline\"\nserver = \"127.0.0.1:1\"\nusername = \"u\"\npassword = \"p\"\nsecurity = \"none\"\ninterval = \"1m\"\n",
		filepath.Join(dir, "archive"))
	if err := os.WriteFile(sa.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return sa
}

// archiveOnly archives the reports named by files into the archive without
// indexing them: what a process killed between the archive commit and the
// index commit leaves behind.
func (sa *searchArchive) archiveOnly(t *testing.T, files []string) {
	t.Helper()
	st := loadTestStore(t, sa.cfg, sa.logger)
	defer st.Close()
	in := newIngest(st, nil, st.logger)
	f := fetch.New(fetch.Options{Sink: in, TempDir: t.TempDir()})
	if _, err := f.Import(context.Background(), files, fetch.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// loadTestStore opens the store of the configuration file cfgPath, logging
// to w; the caller closes it.
func loadTestStore(t *testing.T, cfgPath string, w io.Writer) *store {
	t.Helper()
	a := &app{stdout: discardWriter{}, stderr: w, logger: newLogger(w)}
	cfg, err := loadConfig(a, cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg, a.logger)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// openTestStore opens the store as serve does at start: catching up the
// index with the archive.
func (sa *searchArchive) openTestStore(t *testing.T) *store {
	t.Helper()
	st := loadTestStore(t, sa.cfg, sa.logger)
	t.Cleanup(func() { st.Close() })
	if _, err := st.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func (sa *searchArchive) files(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(sa.inbox, "*.eml"))
	if err != nil || len(files) != len(sa.msgs) {
		t.Fatalf("inbox: %d files, %v", len(files), err)
	}
	return files
}

func (sa *searchArchive) distinct() map[string]*mailgen.Message {
	m := map[string]*mailgen.Message{}
	for _, msg := range sa.msgs {
		m[sha(msg.Original)] = msg
	}
	return m
}

// TestSearchAfterCrash: messages archived but never indexed (a kill between
// the archive commit and the index commit) show as index lag, and after a
// restart every message is searchable.
func TestSearchAfterCrash(t *testing.T) {
	sa := newSearchArchive(t, 40)
	files := sa.files(t)
	// A first part is archived and indexed (import does both) ...
	if out, code := runCmd(t, "import", "-config", sa.cfg, files[0], files[1], files[2]); code != 0 {
		t.Fatalf("import: exit %d: %s", code, out)
	}
	// ... the rest only archived, as by a process killed before its index
	// commit.
	sa.archiveOnly(t, files[3:])

	s := statsOf(t, sa.cfg)
	if s.IndexLag == 0 || s.IndexWatermark+s.IndexLag != s.LastSeq {
		t.Errorf("stats after the crash: lag %d, watermark %d, last %d; want lag = last - watermark > 0", s.IndexLag, s.IndexWatermark, s.LastSeq)
	}

	st := sa.openTestStore(t) // the restart
	ctx := context.Background()
	for id, m := range sa.distinct() {
		res, err := st.idx.Search(ctx, index.Query{Text: "id:" + id, Scope: index.Scope{All: true}})
		if err != nil || res.Total != 1 {
			t.Errorf("id:%s after restart = %v, %v; want 1 hit", id[:12], res, err)
			continue
		}
		q := `subject:"` + strings.ReplaceAll(m.Envelope.Subject, `"`, " ") + `"`
		res, err = st.idx.Search(ctx, index.Query{Text: q, Scope: index.Scope{All: true}, Limit: index.MaxLimit})
		if err != nil || !hitsContain(res, id) {
			t.Errorf("%s after restart does not find %s: %v", q, id[:12], err)
		}
	}
	st.Close()
	if s := statsOf(t, sa.cfg); s.IndexLag != 0 || s.IndexDocuments != uint64(len(sa.distinct())) {
		t.Errorf("stats after the restart: lag %d, %d documents; want 0, %d", s.IndexLag, s.IndexDocuments, len(sa.distinct()))
	}
}

func hitsContain(res *index.Result, id string) bool {
	for _, h := range res.Hits {
		if h.ID == id {
			return true
		}
	}
	return false
}

// TestSearchCommand runs the search command line: scoping with -as, sorts,
// paging with -after, JSON and the error of a bad query.
func TestSearchCommand(t *testing.T) {
	sa := newSearchArchive(t, 30)
	if out, code := runCmd(t, "import", "-config", sa.cfg, sa.inbox); code != 0 {
		t.Fatalf("import: exit %d: %s", code, out)
	}
	m := sa.msgs[0]
	id := sha(m.Original)
	rcpt := m.Envelope.Recipients[0].Addr

	search := func(args ...string) (string, int) {
		return runCmd(t, append([]string{"search", "-config", sa.cfg}, args...)...)
	}
	// Auditor, and the owner: found. Someone else: not.
	for _, as := range [][]string{nil, {"-as", rcpt}, {"-as", strings.ToUpper(m.Envelope.Sender)}} {
		out, code := search(append(as, "id:"+id[:12])...)
		if code != 0 || !strings.Contains(out, id[:16]) || !strings.Contains(out, "1 of 1 hits") {
			t.Errorf("search %v id:%s: exit %d:\n%s", as, id[:12], code, out)
		}
	}
	if out, code := search("-as", "nobody@nowhere.example", "id:"+id[:12]); code != 0 || !strings.Contains(out, "0 of 0 hits") {
		t.Errorf("search -as a stranger: exit %d:\n%s; want no hits", code, out)
	}
	if out, code := search("-as", "nobody@nowhere.example", ""); code != 0 || !strings.Contains(out, "0 of 0 hits") {
		t.Errorf("search -as a stranger for everything: exit %d:\n%s; want no hits", code, out)
	}

	// Paging: two pages of 5 are the first page of 10.
	first, code := search("-limit", "10", "")
	if code != 0 {
		t.Fatalf("search: exit %d: %s", code, first)
	}
	p1, _ := search("-limit", "5", "")
	cursor := regexp.MustCompile(`next page: -after (\S+)`).FindStringSubmatch(p1)
	if cursor == nil {
		t.Fatalf("page 1 has no next cursor:\n%s", p1)
	}
	p2, code := search("-limit", "5", "-after", cursor[1], "")
	if code != 0 {
		t.Fatalf("page 2: exit %d: %s", code, p2)
	}
	lines := func(s string) []string { return strings.Split(s, "\n") }
	if got, want := append(lines(p1)[:5], lines(p2)[:5]...), lines(first)[:10]; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pages 1 and 2:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// JSON with relevance.
	out, code := search("-json", "-sort", "relevance", "-limit", "2", "subject:"+longestWord(m.Envelope.Subject))
	var res struct {
		Total uint64
		Hits  []searchHit
		Next  string
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Total == 0 || res.Hits[0].Score == 0 {
		t.Errorf("search -json -sort relevance: exit %d, %v:\n%s", code, err, out)
	}

	// Errors.
	out, code = search("budget subjet:plan")
	want := "jarchive search: bad query: column 8: unknown operator \"subjet:\"; did you mean \"subject:\"? (to search for text with a colon, quote it: \"subjet:plan\")\n  budget subjet:plan\n         ^\n"
	if code != 1 || !strings.HasSuffix(out, want) {
		t.Errorf("bad query: exit %d:\n%s\nwant exit 1 and\n%s", code, out, want)
	}
	if out, code := search("-sort", "size", "x"); code != 2 {
		t.Errorf("-sort size: exit %d; want 2:\n%s", code, out)
	}
	if out, code := search("-after", "garbage", "x"); code != 1 || !strings.Contains(out, "page cursor") {
		t.Errorf("-after garbage: exit %d; want 1 and a cursor error:\n%s", code, out)
	}
}

// TestReindex rebuilds the index while searches go on, on the archive and
// through a daemon's control socket.
func TestReindex(t *testing.T) {
	sa := newSearchArchive(t, 40)
	if out, code := runCmd(t, "import", "-config", sa.cfg, sa.inbox); code != 0 {
		t.Fatalf("import: exit %d: %s", code, out)
	}
	want := uint64(len(sa.distinct()))

	// In process, with searches running.
	st := sa.openTestStore(t)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := st.idx.Search(ctx, index.Query{Scope: index.Scope{All: true}})
			if err != nil || res.Total != want {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%v %v", res, err))
				mu.Unlock()
			}
		}
	}()
	var out bytes.Buffer
	n, err := st.reindex(ctx, &out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("reindex: %v\n%s", err, out.String())
	}
	if len(failed) > 0 {
		t.Errorf("%d searches during the reindex failed: %v", len(failed), failed[0])
	}
	if !strings.Contains(out.String(), "reindex: 100%") || n == 0 {
		t.Errorf("reindex: %d entries, progress:\n%s", n, out.String())
	}
	if !strings.HasSuffix(st.idx.Dir(), "gen-000002") {
		t.Errorf("index directory %s; want generation 2", st.idx.Dir())
	}
	st.Close()

	// Through the daemon.
	dctx, cancel := context.WithCancel(context.Background())
	var serveErr bytes.Buffer
	done := make(chan int)
	go func() {
		a := &app{stdout: discardWriter{}, stderr: &serveErr, logger: newLogger(&serveErr)}
		done <- run(dctx, a, []string{"serve", "-config", sa.cfg})
	}()
	defer func() {
		cancel()
		<-done
	}()
	sock := filepath.Join(filepath.Dir(sa.cfg), "archive", socketName)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control socket:\n%s", tail(serveErr.String(), 2000))
		}
	}
	res, code := runCmd(t, "reindex", "-config", sa.cfg)
	if code != 0 || !strings.Contains(res, "reindex: 100%") || !strings.Contains(res, "the new index is live") {
		t.Errorf("reindex through the daemon: exit %d:\n%s", code, res)
	}
	if !strings.Contains(serveErr.String(), "command=reindex") {
		t.Errorf("the daemon's log shows no reindex request:\n%s", tail(serveErr.String(), 2000))
	}
	if s := statsOf(t, sa.cfg); s.IndexDocuments != want || s.IndexLag != 0 {
		t.Errorf("stats after reindex: %d documents, lag %d; want %d, 0", s.IndexDocuments, s.IndexLag, want)
	}
	if out, code := runCmd(t, "search", "-config", sa.cfg, "id:"+sha(sa.msgs[0].Original)); code != 0 || !strings.Contains(out, "1 of 1 hits") {
		t.Errorf("search after reindex: exit %d:\n%s", code, out)
	}
}
