package index

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"jarchive/journal"
)

// testDocument builds the Document the archive would give for the message
// raw. Envelope data, which a plain .eml lacks, comes from test-only header
// fields: X-Test-Rcpt and X-Test-Bcc (comma-separated) and X-Test-Account.
// The owners are, as in cmd until issue 8, the sender and the recipients.
func testDocument(raw []byte) *Document {
	sum := sha256.Sum256(raw)
	d := &Document{
		ID:       hex.EncodeToString(sum[:]),
		Size:     int64(len(raw)),
		Body:     bytes.NewReader(raw),
		BodySize: int64(len(raw)),
	}
	h, _, _ := readHeader(bufio.NewReader(bytes.NewReader(raw)))
	mh := mail.Header{Header: message.Header{Header: h}}
	d.Date, _ = mh.Date()
	d.Subject, _ = mh.Subject()
	d.MessageID = h.Get("Message-Id")
	addrs := func(k string) []string {
		list, err := mh.AddressList(k)
		if err != nil {
			v, _ := mh.Text(k)
			if v == "" {
				return nil
			}
			return []string{v}
		}
		var out []string
		for _, a := range list {
			if a.Name != "" {
				out = append(out, a.Name+" <"+a.Address+">")
			} else {
				out = append(out, a.Address)
			}
		}
		return out
	}
	d.From, d.To, d.Cc = addrs("From"), addrs("To"), addrs("Cc")
	if len(d.From) > 0 {
		d.Sender = d.From[0]
	}
	list := func(k string) []string {
		var out []string
		for _, r := range strings.Split(h.Get(k), ",") {
			if r = strings.TrimSpace(r); r != "" {
				out = append(out, r)
			}
		}
		return out
	}
	d.Rcpt, d.Bcc = list("X-Test-Rcpt"), list("X-Test-Bcc")
	for _, a := range append([]string{d.Sender}, d.Rcpt...) {
		if n, ok := journal.NormalizeAddr(a); ok {
			d.Owners = append(d.Owners, strings.ToLower(n))
		}
	}
	if a := h.Get("X-Test-Account"); a != "" {
		d.Accounts = []string{a}
	}
	return d
}

func openTest(t testing.TB) *Index {
	t.Helper()
	ix, err := Open(filepath.Join(t.TempDir(), "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ix.Close(); err != nil {
			t.Error(err)
		}
	})
	return ix
}

// all is the scope of an auditor.
var all = Scope{All: true}

// searchAll runs text as an auditor, newest first, and fails the test on an
// error.
func searchAll(t *testing.T, ix *Index, text string) *Result {
	t.Helper()
	res, err := ix.Search(context.Background(), Query{Text: text, Scope: all, Limit: MaxLimit})
	if err != nil {
		t.Fatalf("Search(%q) = %v", text, err)
	}
	return res
}

type goldenSearch struct {
	Query string   `json:"query"`
	Want  []string `json:"want"` // file names, in result order unless Sort is relevance
	As    []string `json:"as"`   // search as these owners; none: all messages
	Sort  string   `json:"sort"` // "relevance"; default date
	Zone  string   `json:"zone"` // time zone of dates; default Europe/Berlin
	Error string   `json:"error"`
	Needs string   `json:"needs"` // "pdftotext": skipped without it
}

// loadGolden indexes testdata/<dir>/*.eml and returns the index and the
// file name of each document ID.
func loadGolden(t *testing.T, dir string) (*Index, map[string]string) {
	ix := openTest(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	names := map[string]string{} // doc ID -> file name
	b := ix.Batch()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := testDocument(raw)
		names[d.ID] = filepath.Base(f)
		if err := b.Add(d); err != nil {
			t.Fatalf("Add(%s) = %v", f, err)
		}
	}
	if err := b.Commit(uint64(len(files))); err != nil {
		t.Fatal(err)
	}
	return ix, names
}

// TestGolden indexes testdata/<case>/*.eml and runs testdata/<case>/searches.json.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/searches.json")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, c := range cases {
		dir := filepath.Dir(c)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ix, names := loadGolden(t, dir)
			data, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			var searches []goldenSearch
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&searches); err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			for _, s := range searches {
				if s.Needs == "pdftotext" && !PDFText() {
					t.Logf("%q: skipped: pdftotext is not installed", s.Query)
					continue
				}
				zone := cmp.Or(s.Zone, "Europe/Berlin")
				loc, err := time.LoadLocation(zone)
				if err != nil {
					t.Fatal(err)
				}
				q := Query{Text: s.Query, Scope: Scope{All: len(s.As) == 0, Owners: s.As}, Limit: MaxLimit, Location: loc}
				if s.Sort == "relevance" {
					q.Sort = SortRelevance
				}
				res, err := ix.Search(context.Background(), q)
				if s.Error != "" {
					if err == nil || err.Error() != s.Error || !errors.Is(err, ErrQuery) {
						t.Errorf("Search(%q) error = %v; want %s", s.Query, err, s.Error)
					}
					continue
				}
				if err != nil {
					t.Errorf("Search(%q) error = %v", s.Query, err)
					continue
				}
				got := []string{}
				for _, h := range res.Hits {
					got = append(got, names[h.ID])
				}
				want := s.Want
				if want == nil {
					want = []string{}
				}
				if q.Sort == SortRelevance {
					got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
				}
				if !slices.Equal(got, want) || res.Total != uint64(len(want)) {
					t.Errorf("Search(%q) = %v (total %d); want %v", s.Query, got, res.Total, want)
				}
			}
		})
	}
}

func TestReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wm, err := ix.Watermark(); wm != 0 || err != nil {
		t.Fatalf("Watermark() of a new index = %d, %v; want 0, nil", wm, err)
	}
	raw, err := os.ReadFile("testdata/basic/plain-qp.eml")
	if err != nil {
		t.Fatal(err)
	}
	b := ix.Batch()
	if err := b.Add(testDocument(raw)); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("Len() = %d; want 1", b.Len())
	}
	if err := b.Commit(42); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatalf("Len() after Commit = %d; want 0", b.Len())
	}
	// An empty batch moves the watermark too.
	if err := b.Commit(43); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	ix, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if wm, err := ix.Watermark(); wm != 43 || err != nil {
		t.Errorf("Watermark() after reopen = %d, %v; want 43, nil", wm, err)
	}
	if n, err := ix.Count(); n != 1 || err != nil {
		t.Errorf("Count() after reopen = %d, %v; want 1, nil", n, err)
	}
	if res := searchAll(t, ix, "from:anna.berg@contoso.com"); res.Total != 1 {
		t.Errorf("Search after reopen = %v; want 1 hit", res)
	}
}

func TestOpenErrors(t *testing.T) {
	// A directory with foreign files is not taken over.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if ix, err := Open(dir, nil); err == nil {
		ix.Close()
		t.Errorf("Open(non-empty dir) = nil error; want error")
	}

	// An empty directory is fine.
	ix, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open(empty dir) = %v", err)
	}
	ix.Close()

	// Another schema needs a rebuild.
	dir = filepath.Join(t.TempDir(), "index")
	ix, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.cur.idx.SetInternal(keySchema, []byte("old")); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if ix, err := Open(dir, nil); !errors.Is(err, ErrSchema) {
		if err == nil {
			ix.Close()
		}
		t.Errorf("Open(old schema) = %v; want ErrSchema", err)
	}
}

func TestAddBadID(t *testing.T) {
	ix := openTest(t)
	b := ix.Batch()
	for _, id := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("g", 64)} {
		if err := b.Add(&Document{ID: id}); err == nil {
			t.Errorf("Add(ID %q) = nil; want error", id)
		}
	}
	if b.Len() != 0 {
		t.Errorf("Len() = %d; want 0", b.Len())
	}
}

func TestAddHeadersOnly(t *testing.T) {
	ix := openTest(t)
	b := ix.Batch()
	d := &Document{
		ID:       strings.Repeat("ab", 32),
		From:     []string{"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>"},
		Rcpt:     []string{"audit@contoso.com"},
		Sender:   "bounce@lists.example.de",
		Subject:  "Quartalszahlen \xfcbersicht", // raw 8-bit: read as Windows-1252
		Accounts: []string{"Journal"},
	}
	if err := b.Add(d); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"from:jurgen", "from:müller", "from:jm@example.de", "sender:example.de",
		"übersicht", "rcpt:audit", "account:journal", "smaller:1"} {
		if res := searchAll(t, ix, q); res.Total != 1 {
			t.Errorf("Search(%q) = %v; want 1 hit", q, res)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix2, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "locked") {
		if err == nil {
			ix2.Close()
		}
		t.Errorf("second Open = %v; want locked error", err)
	}
}

func TestIDsAndDelete(t *testing.T) {
	ix, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ids := []string{strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)}
	b := ix.Batch()
	for _, id := range ids {
		if err := b.Add(&Document{ID: id, Subject: "s " + id[:1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(3); err != nil {
		t.Fatal(err)
	}
	b.Delete(ids[1])
	if err := b.Commit(3); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := ix.IDs(func(id string) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{ids[0], ids[2]}; !slices.Equal(got, want) {
		t.Errorf("IDs = %v; want %v", got, want)
	}
}
