package journal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"jarchive/config"
	"jarchive/testcorpus"
)

type expectedRecipient struct {
	Addr          string  `json:"addr"`
	Field         string  `json:"field"`
	ExpandedFrom  *string `json:"expanded_from"`
	ForwardedFrom *string `json:"forwarded_from"`
}

func (r expectedRecipient) recipient() Recipient {
	return Recipient{Addr: r.Addr, Field: r.Field, ExpandedFrom: str(r.ExpandedFrom), ForwardedFrom: str(r.ForwardedFrom)}
}

type expectedEnvelope struct {
	Journal         bool                `json:"journal"`
	Format          *string             `json:"format"`
	Sender          *string             `json:"sender"`
	OnBehalfOf      *string             `json:"on_behalf_of"`
	Subject         *string             `json:"subject"`
	MessageID       *string             `json:"message_id"`
	Recipients      []expectedRecipient `json:"recipients"`
	OriginalPresent *bool               `json:"original_present"`
	RFC822Parts     int                 `json:"rfc822_parts"`
	HeaderEnvelope  map[string][]string `json:"header_envelope"`
	MergeGroup      string              `json:"merge_group"`
}

type mergeGroup struct {
	Files           []string            `json:"files"`
	MessageID       string              `json:"message_id"`
	StoredCopies    int                 `json:"stored_copies"`
	RecipientsUnion []expectedRecipient `json:"recipients_union"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func loadExpected(t testing.TB) (map[string]expectedEnvelope, map[string]mergeGroup) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "journal"), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	files := map[string]expectedEnvelope{}
	var groups map[string]mergeGroup
	for name, v := range raw {
		if name == "_merge_groups" {
			if err := json.Unmarshal(v, &groups); err != nil {
				t.Fatalf("_merge_groups: %v", err)
			}
			continue
		}
		var e expectedEnvelope
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files[name] = e
	}
	if len(files) < 17 || len(groups) == 0 {
		t.Fatalf("expected.json: %d files, %d merge groups; want 17+ and 1+", len(files), len(groups))
	}
	return files, groups
}

func readCorpusFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "journal"), name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseBytes(data []byte, mode config.EnvelopeMode) *Envelope {
	return Parse(bytes.NewReader(data), int64(len(data)), mode)
}

func originalBytes(t testing.TB, e *Envelope, data []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(e.Original(bytes.NewReader(data)))
	if err != nil {
		t.Fatalf("reading the original: %v", err)
	}
	return b
}

func mode(t testing.TB, s string) config.EnvelopeMode {
	t.Helper()
	var m config.EnvelopeMode
	if err := m.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExpected checks every sample of ../shared/corpus/journal against
// every field expected.json gives for it, in journal mode, and its
// header_envelope in the header modes.
func TestExpected(t *testing.T) {
	files, _ := loadExpected(t)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := files[name]
		t.Run(name, func(t *testing.T) {
			data := readCorpusFile(t, name)
			e := parseBytes(data, config.EnvelopeMode{})
			if strings.HasPrefix(e.Reason, "internal error") {
				t.Fatal(e.Reason)
			}
			if e.Journal != want.Journal {
				t.Fatalf("Journal = %v; want %v (status %v, %q)", e.Journal, want.Journal, e.Status, e.Reason)
			}
			if got, w := e.Format, str(want.Format); got != w {
				t.Errorf("Format = %q; want %q", got, w)
			}
			if got, w := e.MessageID, str(want.MessageID); got != w {
				t.Errorf("MessageID = %q; want %q", got, w)
			}
			if got, w := e.MessageParts, want.RFC822Parts; got != w {
				t.Errorf("MessageParts = %d; want %d", got, w)
			}
			if !want.Journal {
				// Not a report: the envelope falls back to the message's
				// own headers; expected.json has no envelope for it.
				if e.Status != StatusFallback || e.Reason == "" {
					t.Errorf("Status = %v (%q); want fallback with a reason", e.Status, e.Reason)
				}
				if e.OriginalPresent || e.OriginalOffset != 0 || e.OriginalSize != int64(len(data)) {
					t.Errorf("original = present %v [%d,+%d); want the whole message", e.OriginalPresent, e.OriginalOffset, e.OriginalSize)
				}
				if e.ContentKey == "" {
					t.Errorf("ContentKey empty")
				}
				return
			}
			if got, w := e.Sender, str(want.Sender); got != w {
				t.Errorf("Sender = %q; want %q", got, w)
			}
			if got, w := e.OnBehalfOf, str(want.OnBehalfOf); got != w {
				t.Errorf("OnBehalfOf = %q; want %q", got, w)
			}
			if got, w := e.Subject, str(want.Subject); got != w {
				t.Errorf("Subject = %q; want %q", got, w)
			}
			wantR := make([]Recipient, len(want.Recipients))
			for i, r := range want.Recipients {
				wantR[i] = r.recipient()
			}
			if !slices.Equal(e.Recipients, wantR) {
				t.Errorf("Recipients =\n%v\nwant\n%v", e.Recipients, wantR)
			}
			if want.OriginalPresent == nil || e.OriginalPresent != *want.OriginalPresent {
				t.Errorf("OriginalPresent = %v; want %v", e.OriginalPresent, want.OriginalPresent)
			}
			// A report with its envelope and original is parsed; any
			// other is archived raw, whole, with the reason.
			complete := e.OriginalPresent && (want.Sender != nil || len(want.Recipients) > 0)
			switch {
			case complete && e.Status != StatusOK:
				t.Errorf("Status = %v (%s); want ok", e.Status, e.Reason)
			case !complete && (e.Status != StatusFailed || e.Reason == "" || len(e.Problems) == 0):
				t.Errorf("Status = %v (%q, problems %q); want failed with a reason", e.Status, e.Reason, e.Problems)
			}
			if e.Status == StatusFailed {
				if e.OriginalOffset != 0 || e.OriginalSize != int64(len(data)) || e.ContentKey != "" {
					t.Errorf("original = [%d,+%d) key %q; want the whole report, no key", e.OriginalOffset, e.OriginalSize, e.ContentKey)
				}
				return
			}
			// The original is byte for byte what Go's multipart reader
			// finds in the first message/rfc822 part.
			if got, w := originalBytes(t, e, data), stdlibPart(t, data, 0); !bytes.Equal(got, w) {
				t.Errorf("original (%d bytes) differs from the message/rfc822 part (%d bytes)", len(got), len(w))
			}
			if e.ContentKey == "" || e.Header.MessageID == "" {
				t.Errorf("ContentKey %q, Header %+v; want both", e.ContentKey, e.Header)
			}
		})
		t.Run(name+"/header-modes", func(t *testing.T) {
			data := readCorpusFile(t, name)
			for _, h := range []string{"X-Original-To", "Delivered-To", "X-Envelope-To"} {
				e := parseBytes(data, mode(t, strings.ToLower(h)))
				vals := want.HeaderEnvelope[h]
				if len(vals) == 0 {
					if e.Status != StatusFallback {
						t.Errorf("mode %s: Status = %v; want fallback (no such header)", h, e.Status)
					}
					continue
				}
				var got []string
				for _, r := range e.Recipients {
					if r.Field != "header" {
						t.Errorf("mode %s: recipient %+v; want field header", h, r)
					}
					got = append(got, r.Addr)
				}
				if e.Status != StatusOK || !slices.Equal(got, vals) {
					t.Errorf("mode %s: Status %v, recipients %q; want ok, %q", h, e.Status, got, vals)
				}
				if e.Journal || e.OriginalSize != int64(len(data)) {
					t.Errorf("mode %s: Journal %v, original size %d; want false, the whole message", h, e.Journal, e.OriginalSize)
				}
				if want.Journal && !slices.ContainsFunc(e.Problems, func(p string) bool { return strings.Contains(p, "not unwrapped") }) {
					t.Errorf("mode %s: problems %q; want a note that the journal report was not unwrapped", h, e.Problems)
				}
			}
		})
	}
}

// stdlibPart returns the body of the i-th message/rfc822 part of a
// multipart message as Go's mime/multipart reads it.
func stdlibPart(t testing.TB, data []byte, i int) []byte {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	n := 0
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt == "message/rfc822" {
			if n == i {
				b, err := io.ReadAll(p)
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				return b
			}
			n++
		}
	}
}

// TestMergeGroups checks, at the journal level, what the archive needs to
// merge forked reports: the same envelope Message-Id, the same content key
// and original bytes, and envelopes whose union (MergeRecipients, in either
// order) is recipients_union.
func TestMergeGroups(t *testing.T) {
	_, groups := loadExpected(t)
	for name, g := range groups {
		t.Run(name, func(t *testing.T) {
			if g.StoredCopies != 1 {
				t.Fatalf("stored_copies = %d; this test knows only 1", g.StoredCopies)
			}
			var envs []*Envelope
			var originals [][]byte
			for _, f := range g.Files {
				data := readCorpusFile(t, f)
				e := parseBytes(data, config.EnvelopeMode{})
				if e.Status != StatusOK || e.MessageID != g.MessageID {
					t.Fatalf("%s: Status %v, MessageID %q; want ok, %q", f, e.Status, e.MessageID, g.MessageID)
				}
				envs = append(envs, e)
				originals = append(originals, originalBytes(t, e, data))
			}
			for i := 1; i < len(envs); i++ {
				if envs[i].ContentKey != envs[0].ContentKey || !bytes.Equal(originals[i], originals[0]) {
					t.Errorf("%s and %s: content keys %s, %s; originals equal %v; want one message",
						g.Files[0], g.Files[i], envs[0].ContentKey, envs[i].ContentKey, bytes.Equal(originals[i], originals[0]))
				}
			}
			var want []Recipient
			for _, r := range g.RecipientsUnion {
				want = append(want, r.recipient())
			}
			var union []Recipient
			for _, e := range envs {
				union = MergeRecipients(union, e.Recipients)
			}
			if !slices.Equal(union, want) {
				t.Errorf("union =\n%v\nwant\n%v", union, want)
			}
			var rev []Recipient
			for i := len(envs) - 1; i >= 0; i-- {
				rev = MergeRecipients(rev, envs[i].Recipients)
				// Merging a report twice changes nothing.
				rev = MergeRecipients(rev, envs[i].Recipients)
			}
			if !sameSet(rev, want) {
				t.Errorf("union in reverse order =\n%v\nwant the same set as\n%v", rev, want)
			}
		})
	}
}

func sameSet(a, b []Recipient) bool {
	key := func(r Recipient) string { return fmt.Sprintf("%+v", r) }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, r := range a {
		ka[i] = key(r)
	}
	for i, r := range b {
		kb[i] = key(r)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// TestDecrypted checks journal report decryption: the protected original
// is the original, the second message/rfc822 part the decrypted copy.
func TestDecrypted(t *testing.T) {
	data := readCorpusFile(t, "jr-irm-decrypted-copy.eml")
	e := parseBytes(data, config.EnvelopeMode{})
	if e.Status != StatusOK || e.MessageParts != 2 {
		t.Fatalf("Status %v (%s), MessageParts %d; want ok, 2", e.Status, e.Reason, e.MessageParts)
	}
	orig := originalBytes(t, e, data)
	if !bytes.Equal(orig, stdlibPart(t, data, 0)) || !bytes.Contains(orig, []byte("message.rpmsg")) {
		t.Errorf("original is not the protected message")
	}
	dr := e.Decrypted(bytes.NewReader(data))
	if dr == nil {
		t.Fatal("Decrypted = nil; want the decrypted copy")
	}
	dec, err := io.ReadAll(dr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec, stdlibPart(t, data, 1)) || !bytes.Contains(dec, []byte("salary review is scheduled")) {
		t.Errorf("decrypted copy (%d bytes) is not the second message/rfc822 part", len(dec))
	}
	if e.DecryptedContentKey == "" || e.DecryptedContentKey == e.ContentKey {
		t.Errorf("DecryptedContentKey %q, ContentKey %q; want two different keys", e.DecryptedContentKey, e.ContentKey)
	}
	// Without decryption there is no decrypted copy.
	plain := parseBytes(readCorpusFile(t, "jr-simple-to-cc.eml"), config.EnvelopeMode{})
	if plain.Decrypted(bytes.NewReader(data)) != nil || plain.DecryptedSize != 0 {
		t.Errorf("Decrypted of a plain report is not nil")
	}
}

// report builds a journal report from raw parts; each part is "header\r\n\r\nbody".
func report(topHeader string, boundary string, parts ...string) string {
	var b strings.Builder
	b.WriteString(topHeader)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String()
}

const testOriginal = "Received: from a by b; Tue, 14 May 2024 17:10:41 +0000\r\nFrom: Ann <ann@example.org>\r\nTo: bob@example.org\r\n" +
	"Subject: hi\r\nMessage-ID: <1@example.org>\r\n\r\nbody line\r\n--not-a-boundary\r\n\r\n"

// TestVariants covers envelope encodings, line syntaxes and broken reports
// beyond the corpus.
func TestVariants(t *testing.T) {
	envPart := func(header, text string) string { return header + "\r\n" + text }
	orig := "Content-Type: message/rfc822\r\n\r\n" + testOriginal
	b64 := func(s string) string {
		var out strings.Builder
		enc := []byte(strings.TrimSpace(encodeBase64(s)))
		for len(enc) > 0 {
			n := min(76, len(enc))
			out.Write(enc[:n])
			out.WriteString("\r\n")
			enc = enc[n:]
		}
		return out.String()
	}
	type rc = Recipient
	tests := []struct {
		name       string
		msg        string
		status     Status
		sender     string
		subject    string
		msgID      string
		recipients []Recipient
		problem    string // a substring of some problem
		original   string // when not testOriginal
	}{{
		name: "lf-only, folded, lower-case names, unknown lines",
		msg: strings.ReplaceAll(report("X-MS-Journal-Report: \r\n", "b1",
			envPart("Content-Type: text/plain\r\n", "sender:  ann@example.org\r\nLabel: x\r\nmessage-ID: <1@example.org>\r\nSentUtc: 2024\r\nto: bob@example.org,\r\n Expanded: team@example.org\r\nBCC: carl@example.org , forwarded : dan@example.org\r\n"),
			orig), "\r\n", "\n"),
		status: StatusOK, sender: "ann@example.org", msgID: "<1@example.org>",
		recipients: []rc{{Addr: "bob@example.org", Field: "to", ExpandedFrom: "team@example.org"}, {Addr: "carl@example.org", Field: "bcc", ForwardedFrom: "dan@example.org"}},
	}, {
		name: "base64 envelope in iso-8859-1",
		msg: report("x-ms-journal-report:\r\n", "b2",
			envPart("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n", b64("Sender: ann@example.org\r\nSubject: M\xfcller\r\nMessage-Id: <1@example.org>\r\nRecipient: \"Bob, B.\" <bob@example.org>\r\n")),
			orig),
		status: StatusOK, sender: "ann@example.org", subject: "Müller", msgID: "<1@example.org>",
		recipients: []rc{{Addr: "bob@example.org", Field: "recipient"}},
	}, {
		name: "malformed header lines before the journal header",
		msg: report("From nobody Mon Jan  1 00:00:00 2024\r\nReceived: x\r\nthis line has no colon\r\n\xff\xfe: bad name\r\nX-MS-Journal-Report:\r\n", "b3",
			envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"), orig),
		status: StatusOK, sender: "ann@example.org", msgID: "<1@example.org>",
		recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem:    "not a header field",
	}, {
		name: "exchange 2003 list without indentation, misspelt Content-Identifer",
		msg: report("Content-Identifer: exjournalreport\r\n", "b4",
			envPart("Content-Type: text/plain\r\n", "Sender: \"Kim\" <SMTP:kim@example.org>\r\nMessage-ID: <1@example.org>\r\nRecipients:\r\n\"Lena, L.\" <smtp:lena@example.org>,\r\nmarc@example.org\r\n\"X\" <EX:/o=org/cn=x>\r\n"), orig),
		status: StatusOK, sender: "kim@example.org", msgID: "<1@example.org>",
		recipients: []rc{{Addr: "lena@example.org", Field: "recipient"}, {Addr: "marc@example.org", Field: "recipient"}, {Addr: "EX:/o=org/cn=x", Field: "recipient"}},
		problem:    "not an e-mail address",
	}, {
		name: "unknown message id, several addresses on a line, unknown annotation",
		msg: report("X-MS-Journal-Report:\r\n", "b5",
			envPart("", "Sender: ann@example.org\r\nMessage-Id: Unknown Message-ID\r\nTo: bob@example.org, carl@example.org\r\nCc: dan@example.org, Rule-Names: x\r\n"), orig),
		status: StatusOK, sender: "ann@example.org", msgID: "<1@example.org>",
		recipients: []rc{{Addr: "bob@example.org", Field: "to"}, {Addr: "carl@example.org", Field: "to"}, {Addr: "dan@example.org", Field: "cc"}},
		problem:    "more than one address",
	}, {
		name: "base64 original",
		msg: report("X-MS-Journal-Report:\r\n", "b6", envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"),
			"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64(testOriginal)),
		status: StatusOK, sender: "ann@example.org", msgID: "<1@example.org>", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "message/rfc822 part in base64",
	}, {
		name: "TNEF original",
		msg: report("X-MS-Journal-Report:\r\n", "b7", envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"),
			"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64("\x78\x9f\x3e\x22 tnef")),
		status: StatusFailed, sender: "ann@example.org", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "TNEF",
	}, {
		name:   "not multipart",
		msg:    "X-MS-Journal-Report:\r\nContent-Type: text/plain\r\n\r\nSender: ann@example.org\r\n",
		status: StatusFailed, problem: "not multipart",
	}, {
		name:   "three message parts",
		msg:    report("X-MS-Journal-Report:\r\n", "b8", envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"), orig, orig, orig),
		status: StatusFailed, sender: "ann@example.org", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "3 message/rfc822 parts",
	}, {
		name: "unexpected extra part",
		msg: report("X-MS-Journal-Report:\r\n", "b9", envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"), orig,
			"Content-Type: application/pdf\r\n\r\n%PDF"),
		status: StatusFailed, sender: "ann@example.org", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "unexpected part 3",
	}, {
		name:   "envelope part without envelope lines",
		msg:    report("X-MS-Journal-Report:\r\n", "b10", envPart("", "hello\r\n"), orig),
		status: StatusFailed, problem: "no envelope lines",
	}, {
		name: "part header without empty line",
		msg: report("X-MS-Journal-Report:\r\n", "b11", envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"),
			"Content-Type: message/rfc822\r\n"+testOriginal),
		status: StatusFailed, sender: "ann@example.org", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "header ran into it",
	}, {
		name: "empty original",
		msg: report("X-MS-Journal-Report:\r\n", "b12", envPart("", "Sender: ann@example.org\r\nTo: bob@example.org\r\n"),
			"Content-Type: message/rfc822\r\n\r\n\r\n"),
		status: StatusOK, sender: "ann@example.org", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "empty", original: "\r\n",
	}, {
		name: "boundary with malformed Content-Type parameters",
		msg: "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=b13; x=\"unterminated\r\n\r\n--b13\r\n\r\nSender: ann@example.org\r\nTo: bob@example.org\r\n--b13\r\n" +
			orig + "\r\n--b13--\r\n",
		status: StatusOK, sender: "ann@example.org", msgID: "<1@example.org>", recipients: []rc{{Addr: "bob@example.org", Field: "to"}},
		problem: "Content-Type",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.msg)
			e := parseBytes(data, config.EnvelopeMode{})
			if e.Status != tc.status || !e.Journal {
				t.Fatalf("Status %v Journal %v (%q, problems %q); want %v, true", e.Status, e.Journal, e.Reason, e.Problems, tc.status)
			}
			if e.Sender != tc.sender || e.Subject != tc.subject || e.MessageID != tc.msgID {
				t.Errorf("Sender %q Subject %q MessageID %q; want %q %q %q", e.Sender, e.Subject, e.MessageID, tc.sender, tc.subject, tc.msgID)
			}
			if !slices.Equal(e.Recipients, tc.recipients) {
				t.Errorf("Recipients =\n%+v\nwant\n%+v", e.Recipients, tc.recipients)
			}
			if tc.problem != "" && !slices.ContainsFunc(e.Problems, func(p string) bool { return strings.Contains(p, tc.problem) }) {
				t.Errorf("Problems %q; want one with %q", e.Problems, tc.problem)
			}
			orig := originalBytes(t, e, data)
			wantOrig := testOriginal
			if tc.original != "" {
				wantOrig = tc.original
			}
			switch {
			case e.Status == StatusFailed && !bytes.Equal(orig, data):
				t.Errorf("failed, but the original is not the whole input")
			case e.Status == StatusOK && string(orig) != wantOrig && string(orig) != strings.ReplaceAll(wantOrig, "\r\n", "\n"):
				t.Errorf("original = %q; want %q", orig, wantOrig)
			}
			if e.Status == StatusOK && tc.original == "" && e.Header.Subject != "hi" {
				t.Errorf("Header.Subject = %q; want hi", e.Header.Subject)
			}
		})
	}
}

func TestHeaderModes(t *testing.T) {
	msg := "Delivered-To: one@example.org\r\nDelivered-To: two@example.org\r\nX-Original-To: Alias <alias@example.org>, x@example.org\r\n" +
		"X-Rcpt: grp: a@example.org, \"B\" <b@example.org>;\r\nFrom: Sam <sam@example.org>\r\nSender: sec@example.org\r\nTo: to@example.org\r\nCc: cc1@example.org, \"Cc, Two\" <cc2@example.org>\r\n" +
		"Resent-To: rs@example.org\r\nSubject: =?utf-8?q?M=C3=BCller?=\r\nMessage-ID: <id@example.org> (comment)\r\n\r\nbody\r\n"
	own := []string{"to:to@example.org", "cc:cc1@example.org", "cc:cc2@example.org", "to:rs@example.org"}
	tests := []struct {
		mode   string
		status Status
		want   []string
	}{
		{"off", StatusOK, own},
		{"journal", StatusFallback, own},
		{"delivered-to", StatusOK, []string{"header:one@example.org", "header:two@example.org"}},
		{"x-original-to", StatusOK, []string{"header:alias@example.org", "header:x@example.org"}},
		{"header:x-rcpt", StatusOK, []string{"header:a@example.org", "header:b@example.org"}},
		{"x-envelope-to", StatusFallback, own},
	}
	for _, tc := range tests {
		e := parseBytes([]byte(msg), mode(t, tc.mode))
		var got []string
		for _, r := range e.Recipients {
			got = append(got, r.Field+":"+r.Addr)
		}
		if e.Status != tc.status || !slices.Equal(got, tc.want) {
			t.Errorf("mode %s: Status %v, recipients %q; want %v, %q", tc.mode, e.Status, got, tc.status, tc.want)
		}
		if e.Header.Subject != "Müller" || e.MessageID != "<id@example.org>" {
			t.Errorf("mode %s: subject %q message id %q", tc.mode, e.Header.Subject, e.MessageID)
		}
		// Sender: is a delegate sending for From.
		if e.Sender != "sec@example.org" || e.OnBehalfOf != "sam@example.org" {
			t.Errorf("mode %s: sender %q on behalf of %q; want sec@, sam@", tc.mode, e.Sender, e.OnBehalfOf)
		}
		if e.ContentKey == "" || e.OriginalSize != int64(len(msg)) {
			t.Errorf("mode %s: ContentKey %q, OriginalSize %d", tc.mode, e.ContentKey, e.OriginalSize)
		}
	}
}

// TestLenientHeader: a non-journal message with a partly malformed header
// falls back with problems; one without any header field fails.
func TestLenientHeader(t *testing.T) {
	msg := "\xef\xbb\xbfFrom mbox-line Mon Jan  1 00:00:00 2024\r\n continuation of nothing: x\r\nFrom: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n" +
		"Subject: caf\xe9\r\nbad line\r\n folded into the bad line\r\nTo : bob@EXAMPLE.org\r\n\r\nbody"
	e := parseBytes([]byte(msg), config.EnvelopeMode{})
	if e.Status != StatusFallback || e.Sender != "j@example.org" || len(e.Recipients) != 1 || e.Recipients[0].Addr != "bob@EXAMPLE.org" {
		t.Fatalf("Status %v Sender %q Recipients %+v (problems %q)", e.Status, e.Sender, e.Recipients, e.Problems)
	}
	if e.Header.Subject != "café" || e.Header.From[0] != "Jürgen <j@example.org>" {
		t.Errorf("Header %+v", e.Header)
	}
	if len(e.Problems) < 3 {
		t.Errorf("Problems %q; want the From_ line, the indented line and the bad line", e.Problems)
	}
	for _, bad := range []string{"", "\r\n", "just text\r\nmore text\r\n"} {
		e := parseBytes([]byte(bad), config.EnvelopeMode{})
		if e.Status != StatusFailed || e.OriginalSize != int64(len(bad)) || e.Reason == "" {
			t.Errorf("Parse(%q): Status %v size %d reason %q; want failed, whole", bad, e.Status, e.OriginalSize, e.Reason)
		}
	}
}

func TestOriginalExact(t *testing.T) {
	rep := "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
		"preamble\r\n--B\r\nContent-Type: text/plain\r\n\r\nSender: a@example.org\r\nBcc: c@example.org\r\n" +
		"--B\r\nContent-Type: message/rfc822\r\n\r\n" + testOriginal + "\r\n--B--\r\nepilogue\r\n"
	e := parseBytes([]byte(rep), config.EnvelopeMode{})
	if e.Status != StatusOK {
		t.Fatalf("Status = %v (%s); want ok", e.Status, e.Reason)
	}
	if got := originalBytes(t, e, []byte(rep)); string(got) != testOriginal {
		t.Errorf("original = %q; want %q", got, testOriginal)
	}
}

func encodeBase64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
