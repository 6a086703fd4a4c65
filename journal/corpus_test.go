package journal

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"jarchive/config"
	"jarchive/mailgen"
	"jarchive/testcorpus"
)

// corpusMessage is one message of ../shared/corpus/real: a file, or one
// message of an mbox file.
type corpusMessage struct {
	name string
	data []byte
}

var (
	realOnce sync.Once
	realMsgs []corpusMessage
	realErr  error
)

// realCorpus returns every message of ../shared/corpus/real. mbox files are
// split before each "From " line that follows an empty line; the From_ line
// is dropped and ">From " lines are left as they are.
func realCorpus(t testing.TB) []corpusMessage {
	t.Helper()
	dir := testcorpus.Dir(t, "real")
	realOnce.Do(func() {
		realErr = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			switch filepath.Ext(p) {
			case ".eml":
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				realMsgs = append(realMsgs, corpusMessage{rel, data})
			case ".mbox":
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for i, m := range splitMbox(data) {
					realMsgs = append(realMsgs, corpusMessage{fmt.Sprintf("%s#%d", rel, i+1), m})
				}
			}
			return nil
		})
		sort.Slice(realMsgs, func(i, j int) bool { return realMsgs[i].name < realMsgs[j].name })
	})
	if realErr != nil {
		t.Fatal(realErr)
	}
	if len(realMsgs) < 900 {
		t.Fatalf("%d messages in %s; want the whole corpus (about 983)", len(realMsgs), dir)
	}
	return realMsgs
}

func splitMbox(data []byte) [][]byte {
	var out [][]byte
	var cur []byte
	in := false
	prevEmpty := true
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i+1], data[i+1:]
		}
		if prevEmpty && bytes.HasPrefix(line, []byte("From ")) {
			if in && len(bytes.TrimSpace(cur)) > 0 {
				out = append(out, cur)
			}
			cur, in = nil, true
			prevEmpty = false
			continue
		}
		prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
		cur = append(cur, line...)
	}
	if len(bytes.TrimSpace(cur)) > 0 {
		out = append(out, cur)
	}
	return out
}

// checkInvariants checks what holds for every input and mode.
func checkInvariants(t testing.TB, name string, data []byte, e *Envelope) {
	t.Helper()
	n := int64(len(data))
	if strings.HasPrefix(e.Reason, "internal error") {
		t.Fatalf("%s: %s", name, e.Reason)
	}
	if e.OriginalOffset < 0 || e.OriginalSize < 0 || e.OriginalOffset+e.OriginalSize > n ||
		e.DecryptedOffset < 0 || e.DecryptedSize < 0 || e.DecryptedOffset+e.DecryptedSize > n {
		t.Fatalf("%s: original [%d,+%d) decrypted [%d,+%d) out of bounds (%d)", name, e.OriginalOffset, e.OriginalSize, e.DecryptedOffset, e.DecryptedSize, n)
	}
	if e.Status == StatusFailed {
		if e.OriginalOffset != 0 || e.OriginalSize != n || e.ContentKey != "" || e.DecryptedSize != 0 || e.Reason == "" {
			t.Fatalf("%s: failed, but original [%d,+%d) key %q decrypted %d reason %q; want the whole input, no key, a reason",
				name, e.OriginalOffset, e.OriginalSize, e.ContentKey, e.DecryptedSize, e.Reason)
		}
		return
	}
	key, err := contentKey(e.Original(bytes.NewReader(data)))
	if err != nil || key != e.ContentKey {
		t.Fatalf("%s: ContentKey %q; the original reads as %q, %v", name, e.ContentKey, key, err)
	}
	if d := e.Decrypted(bytes.NewReader(data)); d != nil {
		if key, err := contentKey(d); err != nil || key != e.DecryptedContentKey {
			t.Fatalf("%s: DecryptedContentKey %q; the copy reads as %q, %v", name, e.DecryptedContentKey, key, err)
		}
	}
	for _, r := range e.Recipients {
		if !utf8.ValidString(r.Addr) {
			t.Fatalf("%s: recipient %q is not UTF-8", name, r.Addr)
		}
	}
}

// TestCorpusReal parses every real-world message as it is, in every mode:
// no panic, bounds kept, and only inputs without any header field fail.
func TestCorpusReal(t *testing.T) {
	msgs := realCorpus(t)
	counts := map[Status]int{}
	reasons := map[string]int{}
	withProblems := 0
	for _, m := range msgs {
		e := parseBytes(m.data, config.EnvelopeMode{})
		checkInvariants(t, m.name, m.data, e)
		counts[e.Status]++
		if len(e.Problems) > 1 {
			withProblems++
		}
		if e.Status == StatusOK {
			t.Errorf("%s: a journal report?", m.name)
		}
		if e.Status == StatusFailed {
			reasons[e.Reason]++
			if e.Reason != "no header fields" && e.Reason != "empty message" {
				t.Errorf("%s: failed: %s", m.name, e.Reason)
			}
		}
		for _, md := range []string{"off", "delivered-to", "header:X-Mailer"} {
			checkInvariants(t, m.name+" "+md, m.data, parseBytes(m.data, mode(t, md)))
		}
	}
	t.Logf("%d messages: %d fallback (%d with header problems), %d failed %v",
		len(msgs), counts[StatusFallback], withProblems, counts[StatusFailed], reasons)
	if counts[StatusFailed] > 30 {
		t.Errorf("%d messages failed; want at most the ~25 that are not mail", counts[StatusFailed])
	}
}

// envelopeOf derives an envelope for a real message, independently of the
// parser (net/mail, best effort), and adds annotated recipients so that
// every line syntax is exercised.
func envelopeOf(orig []byte, i int) mailgen.Envelope {
	hdr := mail.Header{}
	if m, err := mail.ReadMessage(bytes.NewReader(orig)); err == nil {
		hdr = m.Header
	}
	clean := func(s string) string { return strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ") }
	// Addresses the envelope line syntax can carry as they are.
	plain := func(a string) bool {
		return a != "" && utf8.ValidString(a) && !strings.ContainsAny(a, ",<>\"():;\\ \t\r\n") && strings.Count(a, "@") == 1
	}
	env := mailgen.Envelope{MessageID: clean(hdr.Get("Message-Id")), Sender: "unknown@test.invalid"}
	if a, err := mail.ParseAddress(hdr.Get("From")); err == nil && plain(a.Address) {
		env.Sender = a.Address
	}
	subj := hdr.Get("Subject")
	if d, err := wordDecoder.DecodeHeader(subj); err == nil {
		subj = d
	}
	env.Subject = clean(subj)
	for _, k := range []string{"To", "Cc"} {
		list, _ := mail.ParseAddressList(hdr.Get(k))
		for _, a := range list {
			if plain(a.Address) {
				env.Recipients = append(env.Recipients, mailgen.Recipient{Addr: a.Address, Field: strings.ToLower(k)})
			}
		}
	}
	env.Recipients = append(env.Recipients,
		mailgen.Recipient{Addr: "audit@contoso.com", Field: "bcc"},
		mailgen.Recipient{Addr: fmt.Sprintf("member%d@contoso.com", i), Field: "to", ExpandedFrom: "all-staff@contoso.com"},
		mailgen.Recipient{Addr: "assistant@contoso.com", Field: "recipient", ForwardedFrom: "boss@contoso.com"})
	if i%5 == 0 {
		env.OnBehalfOf = "boss@contoso.com"
	}
	return env
}

// wrappedCorpus returns every real message, CRLF as on the wire, with its
// envelope and journal report.
func wrappedCorpus(t testing.TB) (origs [][]byte, envs []mailgen.Envelope, reports [][]byte) {
	date := time.Date(2024, 5, 14, 7, 12, 6, 0, time.UTC)
	for i, m := range realCorpus(t) {
		orig := mailgen.CRLF(m.data)
		env := envelopeOf(orig, i)
		origs = append(origs, orig)
		envs = append(envs, env)
		reports = append(reports, mailgen.WrapJournal(orig, env, date))
	}
	return origs, envs, reports
}

// TestCorpusWrapped wraps every real message in a journal report and parses
// it back: the envelope is what was wrapped, the original byte for byte
// what was embedded.
func TestCorpusWrapped(t *testing.T) {
	origs, envs, reports := wrappedCorpus(t)
	for i, rep := range reports {
		e := parseBytes(rep, config.EnvelopeMode{})
		checkInvariants(t, fmt.Sprint(i), rep, e)
		name := fmt.Sprintf("message %d (%.60q)", i, origs[i])
		if e.Status != StatusOK || !e.Journal || e.Format != FormatExchange2007 {
			t.Errorf("%s: Status %v Journal %v Format %q: %s %q", name, e.Status, e.Journal, e.Format, e.Reason, e.Problems)
			continue
		}
		got, err := io.ReadAll(e.Original(bytes.NewReader(rep)))
		if err != nil || sha256.Sum256(got) != sha256.Sum256(origs[i]) {
			t.Errorf("%s: original differs (%d bytes, want %d), %v", name, len(got), len(origs[i]), err)
		}
		want := envs[i]
		if want.MessageID == "" {
			// "Unknown Message-ID" in the envelope: the original's own.
			want.MessageID = e.Header.MessageID
		}
		if e.Sender != want.Sender || e.OnBehalfOf != want.OnBehalfOf || e.Subject != want.Subject || e.MessageID != want.MessageID {
			t.Errorf("%s: Sender %q OnBehalfOf %q Subject %q MessageID %q;\nwant %q %q %q %q",
				name, e.Sender, e.OnBehalfOf, e.Subject, e.MessageID, want.Sender, want.OnBehalfOf, want.Subject, want.MessageID)
		}
		var wantR []Recipient
		for _, r := range want.Recipients {
			wantR = append(wantR, Recipient(r))
		}
		if !slices.Equal(e.Recipients, wantR) {
			t.Errorf("%s: Recipients =\n%v\nwant\n%v", name, e.Recipients, wantR)
		}
	}
	t.Logf("%d reports parsed back", len(reports))
}

// TestContentKeyForks: copies of one message that differ only in transport
// header fields have one content key; any other difference gives another.
func TestContentKeyForks(t *testing.T) {
	orig := "Received: from a.contoso.com by b.contoso.com; Tue, 14 May 2024 17:10:41 +0000\r\n" +
		"From: Ann <ann@contoso.com>\r\nTo: bob@fabrikam.com\r\nSubject: plan\r\nMessage-ID: <fork@contoso.com>\r\n" +
		"X-MS-Exchange-Organization-SCL: -1\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nthe plan\r\nReceived: in the body stays\r\n"
	fork := "Return-Path: <ann@contoso.com>\r\nReceived: from x.outlook.com by y.outlook.com; Tue, 14 May 2024 17:10:43 +0000\r\n" +
		"Received: from a.contoso.com by b.contoso.com; Tue, 14 May 2024 17:10:41 +0000\r\n" +
		"ARC-Seal: i=1; a=rsa-sha256; s=arcselector; d=microsoft.com; cv=none;\r\n b=abc\r\n" +
		"Authentication-Results: spf=none\r\nFrom: Ann <ann@contoso.com>\r\nTo: bob@fabrikam.com\r\nSubject: plan\r\nMessage-ID: <fork@contoso.com>\r\n" +
		"x-ms-exchange-organization-scl: 1\r\nX-MS-Exchange-CrossTenant-Id:\r\n\t1234\r\nX-Forefront-Antispam-Report: CIP:1.2.3.4\r\nBcc: carl@contoso.com\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nthe plan\r\nReceived: in the body stays\r\n"
	key := func(s string) string {
		k, err := contentKey(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if key(orig) != key(fork) {
		t.Errorf("fork: different content keys")
	}
	for _, other := range []string{
		strings.Replace(orig, "the plan", "the plan!", 1),
		strings.Replace(orig, "Subject: plan", "Subject: plan B", 1),
		strings.Replace(orig, "Received: in the body stays\r\n", "", 1),
		strings.Replace(orig, "\r\n", "\n", -1),
	} {
		if key(other) == key(orig) {
			t.Errorf("content key of %q equals the original's", other)
		}
	}
	// Through journal reports of two forks with different envelopes.
	date := time.Date(2024, 5, 14, 17, 10, 45, 0, time.UTC)
	r1 := mailgen.WrapJournal([]byte(orig), mailgen.Envelope{Sender: "ann@contoso.com", MessageID: "<fork@contoso.com>", Recipients: []mailgen.Recipient{{Addr: "carl@contoso.com", Field: "bcc"}}}, date)
	r2 := mailgen.WrapJournal([]byte(fork), mailgen.Envelope{Sender: "ann@contoso.com", MessageID: "<fork@contoso.com>", Recipients: []mailgen.Recipient{{Addr: "bob@fabrikam.com", Field: "to"}}}, date)
	e1, e2 := parseBytes(r1, config.EnvelopeMode{}), parseBytes(r2, config.EnvelopeMode{})
	if e1.Status != StatusOK || e2.Status != StatusOK || e1.ContentKey != e2.ContentKey || e1.ContentKey != key(orig) || e1.MessageID != e2.MessageID {
		t.Errorf("forked reports: %v %v, keys %s %s, ids %s %s; want ok, one key, one id", e1.Status, e2.Status, e1.ContentKey, e2.ContentKey, e1.MessageID, e2.MessageID)
	}
	// Header-mode copies of one delivery (Postfix, one per recipient).
	d1 := "Delivered-To: a@contoso.com\r\nX-Original-To: list@contoso.com\r\n" + orig
	d2 := "Delivered-To: b@contoso.com\r\nX-Original-To: list@contoso.com\r\n" + orig
	if k1, k2 := parseBytes([]byte(d1), mode(t, "delivered-to")).ContentKey, parseBytes([]byte(d2), mode(t, "delivered-to")).ContentKey; k1 != k2 || k1 != key(orig) {
		t.Errorf("per-recipient copies: keys %s, %s; want %s", k1, k2, key(orig))
	}
}

func FuzzParse(f *testing.F) {
	root, ok := testcorpus.Root()
	if ok {
		jr, _ := filepath.Glob(filepath.Join(root, "journal", "*.eml"))
		for _, file := range jr {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
		_, _, reports := wrappedCorpus(f)
		for i, m := range realCorpus(f) {
			if len(m.data) < 64<<10 {
				f.Add(m.data)
			}
			if i < len(reports) && i%8 == 0 && len(reports[i]) < 64<<10 {
				f.Add(reports[i])
			}
		}
	}
	f.Add([]byte("X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nSender: a@b\r\nTo: c@d, Expanded: e@f\r\n--B\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUBiDQoNCng=\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b\r\n\r\nx\r\n--B--\r\n"))
	modes := []config.EnvelopeMode{{}, {Kind: config.EnvelopeOff}, {Kind: config.EnvelopeHeader, Header: "Delivered-To"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range modes {
			e := parseBytes(data, m)
			checkInvariants(t, m.String(), data, e)
			for _, r := range e.Recipients {
				NormalizeAddr(r.Addr)
			}
		}
	})
}

// BenchmarkParse parses the real corpus wrapped as journal reports, one
// report after another on one goroutine.
func BenchmarkParse(b *testing.B) {
	_, _, reports := wrappedCorpus(b)
	var total int64
	for _, r := range reports {
		total += int64(len(r))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range reports {
			if e := Parse(bytes.NewReader(r), int64(len(r)), config.EnvelopeMode{}); e.Status != StatusOK {
				b.Fatalf("%v: %s", e.Status, e.Reason)
			}
		}
	}
	b.ReportMetric(float64(len(reports))*float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	b.ReportMetric(float64(len(reports)), "reports/op")
}
