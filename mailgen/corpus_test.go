package mailgen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCorpusDistribution checks the proportions the Corpus promises on a few thousand
// messages: sizes, body kinds, attachments, charsets and duplicates.
func TestCorpusDistribution(t *testing.T) {
	const n = 3000
	c := NewCorpus(CorpusOptions{Seed: 5, Duplicates: 0.10})
	var sizes []int
	var total int
	kinds := map[string]int{}
	attach, dups, latin1 := 0, 0, 0
	originals := map[int][32]byte{}
	for range n {
		m := c.Next()
		sizes = append(sizes, len(m.Data))
		total += len(m.Data)
		kinds[m.Body]++
		if m.Attachments > 0 {
			attach++
		}
		if m.Charset == "iso-8859-1" {
			latin1++
		}
		sum := sha256.Sum256(m.Original)
		originals[m.Seq] = sum
		if !bytes.Equal(m.Data, m.Original) {
			t.Fatalf("message %d: Data differs from Original without Journal", m.Seq)
		}
		if m.DuplicateOf >= 0 {
			dups++
			if want, ok := originals[m.DuplicateOf]; !ok || want != sum {
				t.Fatalf("message %d: DuplicateOf %d, but the originals differ", m.Seq, m.DuplicateOf)
			}
		}
	}
	slices.Sort(sizes)
	median, mean := sizes[n/2], total/n
	t.Logf("median %d, mean %d, max %d, kinds %v, attachments %d, latin1 %d, duplicates %d", median, mean, sizes[n-1], kinds, attach, latin1, dups)
	between := func(what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %.3f; want between %.3f and %.3f", what, got, lo, hi)
		}
	}
	between("median size (KB)", float64(median)/1000, 7, 11)
	between("mean size (KB)", float64(mean)/1000, 25, 80)
	between("largest (MB)", float64(sizes[n-1])/1e6, 1, 25)
	between("smallest (KB)", float64(sizes[0])/1000, 1.5, 6)
	between("text/plain share", float64(kinds[bodyPlain])/n, 0.36, 0.44)
	between("multipart/alternative share", float64(kinds[bodyAlt])/n, 0.46, 0.54)
	between("text/html share", float64(kinds[bodyHTML])/n, 0.08, 0.12)
	between("attachment share", float64(attach)/n, 0.09, 0.15)
	between("duplicate share", float64(dups)/n, 0.08, 0.12)
	between("ISO-8859-1 share", float64(latin1)/n, 0.05, 0.35)
}

// TestCorpusMIME parses messages independently of the generator: the body kind, the
// charset and the attachments must be what the CorpusMessage says.
func TestCorpusMIME(t *testing.T) {
	c := NewCorpus(CorpusOptions{Seed: 9})
	sawLatin1Subject := false
	for range 600 {
		m := c.Next()
		msg, err := mail.ReadMessage(bytes.NewReader(m.Original))
		if err != nil {
			t.Fatalf("message %d: %v", m.Seq, err)
		}
		if strings.Contains(msg.Header.Get("Subject"), "=?iso-8859-1?") {
			sawLatin1Subject = true
			if _, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
				t.Errorf("message %d: subject: %v", m.Seq, err)
			}
		}
		ct, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("message %d: Content-Type: %v", m.Seq, err)
		}
		hdr := map[string][]string(msg.Header)
		body := msg.Body
		if ct == "multipart/mixed" {
			parts := readParts(t, body, params["boundary"])
			if got := len(parts) - 1; got != m.Attachments {
				t.Fatalf("message %d: %d attachments; want %d", m.Seq, got, m.Attachments)
			}
			for _, p := range parts[1:] {
				if p.header.Get("Content-Transfer-Encoding") != "base64" {
					t.Errorf("message %d: attachment not base64: %v", m.Seq, p.header)
				}
			}
			hdr, body = parts[0].header, bytes.NewReader(parts[0].body)
			ct, params, err = mime.ParseMediaType(parts[0].header.Get("Content-Type"))
			if err != nil {
				t.Fatalf("message %d: body Content-Type: %v", m.Seq, err)
			}
		} else if m.Attachments != 0 {
			t.Fatalf("message %d: %s with %d attachments", m.Seq, ct, m.Attachments)
		}
		if ct != m.Body {
			t.Fatalf("message %d: body %s; want %s", m.Seq, ct, m.Body)
		}
		text := textOf(t, ct, params, hdr, body)
		if m.Charset == "iso-8859-1" {
			if !strings.EqualFold(text.charset, "iso-8859-1") {
				t.Errorf("message %d: charset %q; want iso-8859-1", m.Seq, text.charset)
			}
			if !isASCII(string(text.data)) && utf8.Valid(text.data) {
				t.Errorf("message %d: ISO-8859-1 body is valid UTF-8", m.Seq)
			}
		}
	}
	if !sawLatin1Subject {
		t.Errorf("no ISO-8859-1 encoded-word subject in 600 messages")
	}
}

type mimePart struct {
	header mail.Header
	body   []byte
}

func readParts(t *testing.T, r io.Reader, boundary string) []mimePart {
	t.Helper()
	mr := multipart.NewReader(r, boundary)
	var out []mimePart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		out = append(out, mimePart{header: mail.Header(p.Header), body: b})
	}
}

type decodedText struct {
	charset string
	data    []byte
}

// textOf returns the decoded first text part of a body of type ct.
func textOf(t *testing.T, ct string, params map[string]string, hdr mail.Header, body io.Reader) decodedText {
	t.Helper()
	if ct == "multipart/alternative" {
		parts := readParts(t, body, params["boundary"])
		if len(parts) != 2 {
			t.Fatalf("multipart/alternative with %d parts; want 2", len(parts))
		}
		ct2, params2, err := mime.ParseMediaType(parts[0].header.Get("Content-Type"))
		if err != nil || ct2 != "text/plain" {
			t.Fatalf("first alternative %q, %v; want text/plain", ct2, err)
		}
		if got := parts[1].header.Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
			t.Fatalf("second alternative %q; want text/html", got)
		}
		return textOf(t, ct2, params2, parts[0].header, bytes.NewReader(parts[0].body))
	}
	var r io.Reader = body
	switch strings.ToLower(hdr.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		return decodedText{charset: params["charset"]} // the automated senders' HTML
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return decodedText{charset: params["charset"], data: b}
}

// TestCorpusJournal checks that every message is a journal report holding its original and
// that a duplicate is a new report around the same original.
func TestCorpusJournal(t *testing.T) {
	c := NewCorpus(CorpusOptions{Seed: 2, Journal: true, Duplicates: 0.2})
	dups := 0
	seen := map[int][]byte{}
	for range 400 {
		m := c.Next()
		if !bytes.Contains(m.Data, []byte("\r\nX-MS-Journal-Report:")) || !bytes.Contains(m.Data, m.Original) {
			t.Fatalf("message %d: not a journal report around its original", m.Seq)
		}
		if m.DuplicateOf >= 0 {
			dups++
			if bytes.Equal(m.Data, seen[m.DuplicateOf]) {
				t.Errorf("message %d: the same report as message %d; want a new report", m.Seq, m.DuplicateOf)
			}
		}
		seen[m.Seq] = m.Data
	}
	if dups < 40 {
		t.Errorf("%d duplicates in 400; want about 80", dups)
	}
}

// TestCorpusDeterministic: the same options give the same bytes.
func TestCorpusDeterministic(t *testing.T) {
	sum := func(seed int64) string {
		c := NewCorpus(CorpusOptions{Seed: seed, Journal: true, Duplicates: 0.1})
		h := sha256.New()
		for range 300 {
			h.Write(c.Next().Data)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	if a, b := sum(4), sum(4); a != b {
		t.Errorf("seed 4 gave %s, then %s", a, b)
	}
	if a, b := sum(4), sum(5); a == b {
		t.Errorf("seeds 4 and 5 gave the same corpus %s", a)
	}
}

// TestCorpusAddressBook: a few hundred people across several domains.
func TestCorpusAddressBook(t *testing.T) {
	c := NewCorpus(CorpusOptions{Seed: 1})
	domains := map[string]bool{}
	people := map[string]bool{}
	for range 2000 {
		m := c.Next()
		for _, a := range append([]string{m.Envelope.Sender}, recipients(m.Envelope)...) {
			people[a] = true
			domains[domainOf(a)] = true
		}
	}
	if len(people) < 200 || len(domains) < 5 {
		t.Errorf("%d addresses in %d domains; want at least 200 in 5", len(people), len(domains))
	}
}

func recipients(env Envelope) []string {
	var out []string
	for _, r := range env.Recipients {
		out = append(out, r.Addr)
	}
	return out
}

// TestCorpusWriter writes chunked maildirs, mboxes and a manifest and reads them back.
func TestCorpusWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "corpus")
	w, err := CreateCorpus(dir, CorpusWriterOptions{Mbox: true, Chunk: 25})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCorpus(CorpusOptions{Seed: 3, Journal: true, Duplicates: 0.2})
	const n = 60
	for range n {
		if err := w.Write(c.Next()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := w.Maildirs(), []string{"maildir-000", "maildir-001", "maildir-002"}; !slices.Equal(got, want) {
		t.Errorf("Maildirs() = %v; want %v", got, want)
	}
	st := w.Stats()
	if st.Messages != n || st.Originals+st.Duplicates != n || st.Duplicates == 0 {
		t.Errorf("stats %+v; want %d messages, some duplicates", st, n)
	}

	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	lines := 0
	origs := map[string]bool{}
	var bytesTotal int64
	for sc.Scan() {
		lines++
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 8 {
			t.Fatalf("manifest line %q: %d fields; want 8", sc.Text(), len(fields))
		}
		data, err := os.ReadFile(filepath.Join(dir, fields[0]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if size, _ := strconv.Atoi(fields[1]); size != len(data) || fields[2] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: manifest says %s bytes, sha256 %s; file has %d, %x", fields[0], fields[1], fields[2], len(data), sum)
		}
		if !strings.Contains(fields[0], ",S="+fields[1]+":2,") {
			t.Errorf("%s: maildir name without the size %s", fields[0], fields[1])
		}
		origs[fields[3]] = true
		bytesTotal += int64(len(data))
	}
	if lines != n || len(origs) != st.Originals || bytesTotal != st.Bytes {
		t.Errorf("manifest: %d lines, %d originals, %d bytes; want %d, %d, %d", lines, len(origs), bytesTotal, n, st.Originals, st.Bytes)
	}

	for i, want := range []int{25, 25, 10} {
		mb, err := os.ReadFile(filepath.Join(dir, "corpus-00"+strconv.Itoa(i)+".mbox"))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Count(mb, []byte("\nFrom MAILER-DAEMON ")) + 1; !bytes.HasPrefix(mb, []byte("From MAILER-DAEMON ")) || got != want {
			t.Errorf("mbox %d: %d messages; want %d", i, got, want)
		}
		if bytes.Contains(mb, []byte("\r\n")) {
			t.Errorf("mbox %d has CRLF line ends", i)
		}
	}
}

func TestWriteMboxrd(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	m := &CorpusMessage{Data: []byte("Subject: x\r\n\r\nFrom here\r\n>From there\r\nFromage\r\n")}
	writeMboxrd(w, m)
	w.Flush()
	want := "From MAILER-DAEMON Mon Jan  1 00:00:00 0001\nSubject: x\n\n>From here\n>>From there\nFromage\n\n"
	if b.String() != want {
		t.Errorf("writeMboxrd = %q; want %q", b.String(), want)
	}
}

func TestReplaceField(t *testing.T) {
	hdr := []byte("From: a\r\nSubject: =?utf-8?B?x?=\r\n =?utf-8?B?y?=\r\nTo: b\r\n")
	got := string(replaceField(hdr, "Subject", "new"))
	if want := "From: a\r\nSubject: new\r\nTo: b\r\n"; got != want {
		t.Errorf("replaceField = %q; want %q", got, want)
	}
	if got := string(replaceField(hdr, "Cc", "x")); got != string(hdr) {
		t.Errorf("replaceField of a missing field = %q; want it unchanged", got)
	}
}

// corpusVersionHash is the SHA-256 of the first 300 messages (Data) of seed 1 with journal
// reports and 10% duplicates, as CorpusVersion makes them.
const corpusVersionHash = "e553b3b4eb82b3f4ee61c10172d9f74e41fe9a34ca2d44a001e691942caa9cab"

// TestCorpusVersion fails when the stream of a Corpus changes: then CorpusVersion must go
// up (corpora kept on disk are stale) and corpusVersionHash be the new hash.
func TestCorpusVersion(t *testing.T) {
	c := NewCorpus(CorpusOptions{Seed: 1, Journal: true, Duplicates: 0.10})
	h := sha256.New()
	for range 300 {
		m := c.Next()
		h.Write(m.Data)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != corpusVersionHash {
		t.Errorf("the corpus stream changed (hash %s): raise CorpusVersion (%d) and set corpusVersionHash to the new hash", got, CorpusVersion)
	}
}
