package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
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

type expectedEnvelope struct {
	Journal         bool                `json:"journal"`
	Format          *string             `json:"format"`
	Sender          *string             `json:"sender"`
	OnBehalfOf      *string             `json:"on_behalf_of"`
	Subject         *string             `json:"subject"`
	MessageID       *string             `json:"message_id"`
	Recipients      []expectedRecipient `json:"recipients"`
	OriginalPresent *bool               `json:"original_present"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func loadExpected(t *testing.T) map[string]expectedEnvelope {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "journal"), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]expectedEnvelope{}
	for name, v := range raw {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var e expectedEnvelope
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = e
	}
	return out
}

// TestCorpusJournal checks the envelope of every sample in
// ../shared/corpus/journal against its expected.json.
func TestCorpusJournal(t *testing.T) {
	for name, want := range loadExpected(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "journal"), name))
			if err != nil {
				t.Fatal(err)
			}
			e := Parse(bytes.NewReader(data), int64(len(data)), config.EnvelopeMode{})
			if e.Journal != want.Journal {
				t.Fatalf("Journal = %v; want %v (reason %q)", e.Journal, want.Journal, e.Reason)
			}
			if !want.Journal {
				if e.Status != StatusFallback {
					t.Errorf("Status = %v; want fallback", e.Status)
				}
				return
			}
			if got, w := e.Format, str(want.Format); got != w {
				t.Errorf("Format = %q; want %q", got, w)
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
			if want.MessageID != nil && e.MessageID != *want.MessageID {
				t.Errorf("MessageID = %q; want %q", e.MessageID, *want.MessageID)
			}
			if len(e.Recipients) != len(want.Recipients) {
				t.Fatalf("%d recipients; want %d: %+v", len(e.Recipients), len(want.Recipients), e.Recipients)
			}
			for i, w := range want.Recipients {
				got := e.Recipients[i]
				wr := Recipient{Addr: w.Addr, Field: w.Field, ExpandedFrom: str(w.ExpandedFrom), ForwardedFrom: str(w.ForwardedFrom)}
				if got != wr {
					t.Errorf("Recipients[%d] = %+v; want %+v", i, got, wr)
				}
			}
			// A report with its envelope and original is parsed; any other
			// is archived raw, whole.
			complete := want.OriginalPresent != nil && *want.OriginalPresent && e.Text != ""
			if complete && e.Status != StatusOK {
				t.Errorf("Status = %v (%s); want ok", e.Status, e.Reason)
			}
			if !complete && e.Status != StatusFailed {
				t.Errorf("Status = %v; want failed (incomplete report)", e.Status)
			}
			if !complete && (e.OriginalOffset != 0 || e.OriginalSize != int64(len(data))) {
				t.Errorf("original = [%d,+%d); want the whole report", e.OriginalOffset, e.OriginalSize)
			}
		})
	}
}

// TestOriginalExact checks that the original located in a journal report is
// byte for byte the message/rfc822 part, whatever it holds.
func TestOriginalExact(t *testing.T) {
	original := "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody line\r\n--not-a-boundary\r\n\r\n"
	report := "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" +
		"preamble\r\n--B\r\nContent-Type: text/plain\r\n\r\nSender: a@example.org\r\nBcc: c@example.org\r\n" +
		"--B\r\nContent-Type: message/rfc822\r\n\r\n" + original + "\r\n--B--\r\nepilogue\r\n"
	e := Parse(strings.NewReader(report), int64(len(report)), config.EnvelopeMode{})
	if e.Status != StatusOK {
		t.Fatalf("Status = %v (%s); want ok", e.Status, e.Reason)
	}
	got, err := io.ReadAll(e.Original(strings.NewReader(report)))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != original {
		t.Errorf("original = %q; want %q", got, original)
	}
	if len(e.Recipients) != 1 || e.Recipients[0] != (Recipient{Addr: "c@example.org", Field: "bcc"}) {
		t.Errorf("Recipients = %+v; want one bcc c@example.org", e.Recipients)
	}
	if e.Header.Subject != "hi" {
		t.Errorf("Header.Subject = %q; want hi", e.Header.Subject)
	}
}

func TestHeaderModes(t *testing.T) {
	msg := "Delivered-To: one@example.org\r\nDelivered-To: two@example.org\r\nX-Original-To: Alias <alias@example.org>, x@example.org\r\n" +
		"From: Sam <sam@example.org>\r\nTo: to@example.org\r\nCc: cc1@example.org, \"Cc Two\" <cc2@example.org>\r\nSubject: =?utf-8?q?M=C3=BCller?=\r\n\r\nbody\r\n"
	tests := []struct {
		mode config.EnvelopeMode
		want []string
	}{
		{config.EnvelopeMode{Kind: config.EnvelopeOff}, []string{"to:to@example.org", "cc:cc1@example.org", "cc:cc2@example.org"}},
		{config.EnvelopeMode{}, []string{"to:to@example.org", "cc:cc1@example.org", "cc:cc2@example.org"}},
		{config.EnvelopeMode{Kind: config.EnvelopeHeader, Header: "Delivered-To"}, []string{"delivered-to:one@example.org", "delivered-to:two@example.org"}},
		{config.EnvelopeMode{Kind: config.EnvelopeHeader, Header: "X-Original-To"}, []string{"x-original-to:alias@example.org", "x-original-to:x@example.org"}},
		{config.EnvelopeMode{Kind: config.EnvelopeHeader, Header: "X-Envelope-To"}, nil},
	}
	for _, tc := range tests {
		e := Parse(strings.NewReader(msg), int64(len(msg)), tc.mode)
		var got []string
		for _, r := range e.Recipients {
			got = append(got, r.Field+":"+r.Addr)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("mode %v: recipients %q; want %q", tc.mode, got, tc.want)
		}
		if e.Header.Subject != "Müller" {
			t.Errorf("mode %v: subject %q; want Müller", tc.mode, e.Header.Subject)
		}
		if e.Sender != "sam@example.org" {
			t.Errorf("mode %v: sender %q; want sam@example.org", tc.mode, e.Sender)
		}
	}
}

// TestCorpusReal parses every real-world file: no panic, the original is in
// bounds and readable.
func TestCorpusReal(t *testing.T) {
	var files []string
	filepath.WalkDir(testcorpus.Dir(t, "real"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") && !strings.HasSuffix(p, ".tsv") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	failed := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e := Parse(bytes.NewReader(data), int64(len(data)), config.EnvelopeMode{})
		if e.Status == StatusFailed {
			failed++
		}
		if e.OriginalOffset < 0 || e.OriginalOffset+e.OriginalSize > int64(len(data)) {
			t.Errorf("%s: original [%d,+%d) out of bounds (%d)", f, e.OriginalOffset, e.OriginalSize, len(data))
		}
		h := sha256.New()
		if _, err := io.Copy(h, e.Original(bytes.NewReader(data))); err != nil && e.OriginalEncoding == "" {
			t.Errorf("%s: reading original: %v", f, err)
		}
	}
	t.Logf("%d files, %d failed to parse (archived raw)", len(files), failed)
}

func FuzzParse(f *testing.F) {
	root, _ := testcorpus.Root()
	for _, dir := range []string{"journal", "real/enmime", "real/mimekit"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*"))
		for i, file := range files {
			if i >= 20 {
				break
			}
			if data, err := os.ReadFile(file); err == nil && len(data) < 256<<10 {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Parse(bytes.NewReader(data), int64(len(data)), config.EnvelopeMode{})
		if e.OriginalOffset < 0 || e.OriginalSize < 0 || e.OriginalOffset+e.OriginalSize > int64(len(data)) {
			t.Fatalf("original [%d,+%d) out of bounds (%d)", e.OriginalOffset, e.OriginalSize, len(data))
		}
		io.Copy(io.Discard, e.Original(bytes.NewReader(data)))
	})
}
