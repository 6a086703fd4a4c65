package mailgen

import (
	"bytes"
	"io/fs"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"jarchive/testcorpus"
)

// TestWrapJournalCorpus wraps real-world messages (after CRLF) and checks that each report
// parses and embeds the original byte for byte.
func TestWrapJournalCorpus(t *testing.T) {
	realCorpus := testcorpus.Dir(t, "real")
	var files []string
	err := filepath.WalkDir(realCorpus, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".eml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("corpus %s: %v", realCorpus, err)
	}
	sort.Strings(files)
	step := max(1, len(files)/40)
	date := time.Date(2024, 5, 14, 7, 12, 6, 0, time.UTC)
	n := 0
	for i := 0; i < len(files); i += step {
		data, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		orig := CRLF(data)
		env := envelopeFor(orig)
		rep := WrapJournal(orig, env, date)
		got, raw, viaMP, err := checkReport(rep)
		if err != nil {
			t.Errorf("%s: %v", files[i], err)
			continue
		}
		if !bytes.Equal(raw, orig) || !bytes.Equal(viaMP, orig) {
			t.Errorf("%s: rfc822 part differs from the original", files[i])
		}
		if !equalEnvelope(got, env) {
			t.Errorf("%s: envelope = %+v; want %+v", files[i], got, env)
		}
		msg, _ := mail.ReadMessage(bytes.NewReader(rep))
		_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if bytes.Contains(orig, []byte(params["boundary"])) {
			t.Errorf("%s: boundary %q occurs in the original", files[i], params["boundary"])
		}
		n++
	}
	t.Logf("wrapped %d of %d corpus files", n, len(files))
}

// envelopeFor derives a plausible envelope from an original's headers, best effort.
func envelopeFor(orig []byte) Envelope {
	fields := scanHeader(orig)
	get := func(k string) string {
		v, _ := firstField(fields, k)
		return strings.TrimSpace(strings.NewReplacer("\r\n", "", "\r", "", "\n", "").Replace(v))
	}
	env := Envelope{MessageID: get("Message-ID")}
	if a, err := mail.ParseAddress(get("From")); err == nil {
		env.Sender = a.Address
	}
	if env.MessageID == "" {
		env.MessageID = "<none@test.invalid>"
	}
	if env.Sender == "" {
		env.Sender = "unknown@test.invalid"
	}
	env.Subject = strings.Join(strings.Fields(get("Subject")), " ")
	for _, k := range []string{"To", "Cc"} {
		list, err := mail.ParseAddressList(get(k))
		if err != nil {
			continue
		}
		for _, a := range list {
			env.Recipients = append(env.Recipients, Recipient{Addr: a.Address, Field: strings.ToLower(k)})
		}
	}
	return env
}
