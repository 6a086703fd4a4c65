package index

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"jarchive/testcorpus"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name      string
		msg       string
		text      string
		names     []string
		wantError bool
	}{
		{
			name: "plain",
			msg:  "Subject: x\r\n\r\nHello   world\r\n",
			text: "Hello world",
		},
		{
			name: "no header",
			msg:  "just text, no header\nsecond line\n",
			text: "just text, no header second line",
			// Python's rule: the first non-field line starts the body.
			wantError: true,
		},
		{
			name: "mbox From line",
			msg:  "From a@b Thu Jan  1 00:00:00 2024\nContent-Type: text/plain; charset=iso-8859-1\n\nM\xfcller\n",
			text: "Müller",
		},
		{
			name: "unlabelled 8-bit",
			msg:  "Subject: x\n\ncaf\xe9 \x93quoted\x94\n",
			text: "café “quoted”",
		},
		{
			name: "unknown charset",
			msg:  "Content-Type: text/plain; charset=x-nope\n\nword\n",
			text: "word",
			// The error and the usable entity of go-message.
			wantError: true,
		},
		{
			name: "html",
			msg: "Content-Type: text/html\n\n<html><head><style>p{}</style><script>if (a<b) x()</script></head>" +
				"<body><p>One<br>two</p><!-- three --><p>f<b>ou</b>r &lt;5&gt; &#54; &eacute;t&eacute; a < b " +
				"<a href=\"x>y\">link</a></p></body></html>",
			text: "One two four <5> 6 été a < b link",
		},
		{
			name: "attachment names",
			msg: "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n" +
				"--b\nContent-Type: application/pdf; name=\"a.pdf\"\n\n%PDF\n" +
				"--b\nContent-Disposition: attachment; filename*0*=utf-8''%C3%A4; filename*1=\".txt\"\n\nskipped\n" +
				"--b\nContent-Type: image/png; name==?utf-8?q?=C3=B6.png?=\n\n" +
				"--b\nContent-Type: text/plain\nContent-Disposition: inline; filename=\"inline.txt\"\n\ninline text\n" +
				"--b--\n",
			text:  "body inline text",
			names: []string{"a.pdf", "ä.txt", "ö.png", "inline.txt"},
		},
		{
			name: "missing semicolon and close delimiter",
			msg: "Content-Type: multipart/mixed boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\none\n" +
				"--b\nthis part has no header\n--b\nContent-Type: text/plain\n",
			text:      "one this part has no header",
			wantError: true,
		},
		{
			name: "malformed part header",
			msg: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n bad continuation\n" +
				"\x01garbage: x\n\none\n--b\n\ntwo\n--b--\n",
			text:      "garbage: x one two",
			wantError: true,
		},
		{
			name: "embedded message and QP",
			msg: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n" +
				"Subject: =?utf-8?q?inner_subj=C3=A9ct?=\nFrom: x@y.z\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =3D ok\n--b--\n",
			text: "inner subjéct x@y.z softbreak = ok",
		},
		{
			name: "base64 with spaces",
			msg:  "Content-Transfer-Encoding: base64\n\naGVs bG8g\nd29y\tbGQ=\n",
			text: "hello world",
		},
		{
			name: "odd transfer encoding name",
			msg:  "Content-Transfer-Encoding: Quoted Printable\n\na=3Db\n",
			text: "a=b",
		},
		{
			name: "digest",
			msg:  "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in digest\n\ndigest body\n--d--\n",
			text: "in digest digest body",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := extract(strings.NewReader(tt.msg))
			if ex.Text != tt.text {
				t.Errorf("text = %q; want %q", ex.Text, tt.text)
			}
			if !slices.Equal(ex.Names, tt.names) {
				t.Errorf("names = %q; want %q", ex.Names, tt.names)
			}
			if (err != nil) != tt.wantError {
				t.Errorf("error = %v; want error %v", err, tt.wantError)
			}
		})
	}
}

func TestExtractLimits(t *testing.T) {
	word := strings.Repeat("abcdefg ", 1<<17) // 1 MiB
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
	for range 6 {
		b.WriteString("--b\n\n" + word + word + "\n")
	}
	b.WriteString("--b--\n")
	ex, err := extract(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Text) < maxText-16 || len(ex.Text) > maxText+16 {
		t.Errorf("len(text) = %d; want about %d", len(ex.Text), maxText)
	}

	// Deep nesting stops at maxDepth.
	b.Reset()
	for i := range 100 {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + string(rune('A'+i%26)) + "x" + strings.Repeat("y", i) + "\n\n")
		b.WriteString("--b" + string(rune('A'+i%26)) + "x" + strings.Repeat("y", i) + "\n")
	}
	b.WriteString("\ndeep\n")
	if _, err := extract(strings.NewReader(b.String())); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nesting: error = %v; want nested deeper", err)
	}

	// A header without end is bounded.
	long := "X-Long: " + strings.Repeat("a", 2<<20)
	if _, err := extract(strings.NewReader(long)); err != errHeaderTooBig {
		t.Errorf("long header: error = %v; want %v", err, errHeaderTooBig)
	}
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		in      string
		subject string
		rest    string
	}{
		{"Subject: a\r\n b\r\n\r\nbody", "a b", ""},
		{"Subject :  a  \n\nbody", "a", ""},
		{"From x Thu Jan  1 00:00:00 2024\nSubject: a\n\n", "a", ""},
		{"Subject: a\nnot a field\nTo: b\n\n", "a", "not a field\n"},
		{"Subject: a", "a", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		h, rest, _ := readHeader(bufio.NewReader(strings.NewReader(tt.in)))
		if got := h.Get("Subject"); got != tt.subject {
			t.Errorf("readHeader(%q) subject = %q; want %q", tt.in, got, tt.subject)
		}
		if string(rest) != tt.rest {
			t.Errorf("readHeader(%q) rest = %q; want %q", tt.in, rest, tt.rest)
		}
	}
}

func TestMediaType(t *testing.T) {
	tests := []struct {
		in     string
		mt     string
		params map[string]string
	}{
		{`Text/Plain; Charset="UTF-8"`, "text/plain", map[string]string{"charset": "UTF-8"}},
		{`multipart/mixed; boundary="a;b"; x`, "multipart/mixed", map[string]string{"boundary": "a;b"}},
		{`multipart/mixed boundary=abc`, "multipart/mixed", map[string]string{"boundary": "abc"}},
		{`attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt`, "attachment", map[string]string{"filename": "Grüße.txt"}},
		{`attachment; filename="fallback"; filename*=UTF-8''%E2%82%AC.txt`, "attachment", map[string]string{"filename": "€.txt"}},
		{`attachment; filename="=?iso-8859-1?q?=E9t=E9.doc?="`, "attachment", map[string]string{"filename": "été.doc"}},
		{`attachment; filename="a \"q\" b"`, "attachment", map[string]string{"filename": `a "q" b`}},
		{``, "", nil},
	}
	for _, tt := range tests {
		mt, params := mediaType(tt.in)
		if mt != tt.mt || len(params) != len(tt.params) {
			t.Errorf("mediaType(%q) = %q, %v; want %q, %v", tt.in, mt, params, tt.mt, tt.params)
			continue
		}
		for k, v := range tt.params {
			if params[k] != v {
				t.Errorf("mediaType(%q) %s = %q; want %q", tt.in, k, params[k], v)
			}
		}
	}
}

func TestIdentTokenizer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Anna Berg <anna.berg@mail.contoso.com>", []string{"Anna", "Berg", "anna.berg@mail.contoso.com", "anna.berg",
			"mail.contoso.com", "contoso.com", "anna", "berg", "mail", "contoso", "com"}},
		{`"Berg, Anna" <o'hara@x.org>`, []string{"Berg", "Anna", "o'hara@x.org", "o'hara", "x.org", "o", "hara", "x", "org"}},
		{"Q3-Report_final.pdf", []string{"Q3-Report_final.pdf", "Q3", "Report", "final", "pdf"}},
		{"C:\\docs\\a.b", []string{"C", "docs", "a.b", "a", "b"}},
		{"@contoso.com.", []string{"contoso.com", "contoso", "com"}},
		{"...", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, tok := range (identTokenizer{}).Tokenize([]byte(tt.in)) {
			got = append(got, string(tok.Term))
			if string(tok.Term) != tt.in[tok.Start:tok.End] {
				t.Errorf("Tokenize(%q): token %q at %d:%d", tt.in, tok.Term, tok.Start, tok.End)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Tokenize(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestPartSplitter(t *testing.T) {
	in := "preamble\r\n--b\r\nA\r\n--bb\r\n--b \t\r\n\r\n--b--\r\nepilogue"
	sp := newPartSplitter(strings.NewReader(in), "b")
	var got []string
	for {
		p, err := sp.next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		got = append(got, string(data))
	}
	want := []string{"A\r\n--bb\r\n", "\r\n"}
	if !slices.Equal(got, want) {
		t.Errorf("parts = %q; want %q", got, want)
	}
}

// FuzzExtract checks that no input makes the extraction panic or exceed its
// bounds. Seeds are the golden test messages and a few real ones.
func FuzzExtract(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.eml")
	root, _ := testcorpus.Root()
	dir := filepath.Join(root, "real")
	for _, name := range []string{
		"enmime/dsn/testdata/dsn_with_multipart_alternative.raw.eml",
		"mikel-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml",
		"python-test-email/msg_25.txt.eml",
		"python-test-email/msg_43.txt.eml",
		"flanker/bounce/office365.eml",
	} {
		seeds = append(seeds, filepath.Join(dir, name))
	}
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, _ := extract(bytes.NewReader(data))
		if len(ex.Text) > maxText+2*utf8.UTFMax {
			t.Fatalf("len(text) = %d; want <= %d", len(ex.Text), maxText)
		}
		if !utf8.ValidString(ex.Text) {
			t.Fatalf("text is not UTF-8: %q", ex.Text)
		}
		if len(ex.Names) > maxNames {
			t.Fatalf("%d names; want <= %d", len(ex.Names), maxNames)
		}
		for _, n := range ex.Names {
			if len(n) > maxNameLen || !utf8.ValidString(n) || n == "" {
				t.Fatalf("bad name %q", n)
			}
		}
	})
}

// FuzzParseQuery checks that no query string makes the parser panic, and
// that every error is a QueryError pointing into the query.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"a", `from:"x y" -(a OR b)`, "larger:5MB -b", "after:2024-01 before:2024/02/03",
		"from:(anna OR bob) has:attachment", `"unterminated`, "a OR", "id:0123abcd*", "Re: x", "(((a)))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseQuery(s, nil)
		if err == nil {
			return
		}
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Fatalf("parseQuery(%q) = %v; want a *QueryError", s, err)
		}
		if qe.Column < 1 || qe.Column > utf8.RuneCountInString(s)+1 || qe.Msg == "" {
			t.Fatalf("parseQuery(%q): column %d of %d characters, message %q", s, qe.Column, utf8.RuneCountInString(s), qe.Msg)
		}
	})
}

// FuzzIdentTokenizer checks the address tokenizer, which runs inside bleve's
// analysis goroutines where a panic would end the process.
func FuzzIdentTokenizer(f *testing.F) {
	for _, s := range []string{"Anna Berg <anna.berg@mail.contoso.com>", "a@b@c..d", "@.", "\xff@\xfe.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range (identTokenizer{}).Tokenize([]byte(s)) {
			if tok.Start < 0 || tok.End > len(s) || tok.Start >= tok.End || string(tok.Term) != s[tok.Start:tok.End] {
				t.Fatalf("Tokenize(%q): bad token %+v", s, tok)
			}
		}
	})
}

func TestTextSink(t *testing.T) {
	tests := []struct {
		name        string
		writes      []string
		part, total int
		want        string
		wantFull    bool // the last write returned errTextFull
	}{
		{"collapse", []string{"  a\t\tb\r\nc  "}, 100, 100, "a b c", false},
		{"runs across writes", []string{"abc", "def ", " ghi"}, 100, 100, "abcdef ghi", false},
		{"control and DEL are space", []string{"a\x00b\x7fc"}, 100, 100, "a b c", false},
		{"part limit in a run", []string{"abcdefgh"}, 5, 100, "abcde", true},
		{"total limit in a run", []string{"abcdefgh"}, 100, 3, "abc", true},
		{"the space counts", []string{"abc def"}, 5, 100, "abc d", true},
		{"limit at the space", []string{"abcd efg"}, 5, 100, "abcd", true},
		{"no room for a character", []string{"abcd éf"}, 5, 100, "abcd", true},
		{"room for one", []string{"abc éf"}, 6, 100, "abc é", true},
		{"utf-8 split", []string{"caf\xc3", "\xa9 ok"}, 100, 100, "café ok", false},
		{"windows-1252", []string{"\x93quoted\x94 na\xefve"}, 100, 100, "“quoted” naïve", false},
		{"non-breaking space", []string{"a\u00a0b"}, 100, 100, "a b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &textSink{total: tt.total}
			s.startPart(tt.part)
			var err error
			for _, w := range tt.writes {
				if err = s.write([]byte(w)); err != nil {
					break
				}
			}
			s.endPart()
			if got := s.String(); got != tt.want {
				t.Errorf("text = %q; want %q", got, tt.want)
			}
			if full := err == errTextFull; full != tt.wantFull {
				t.Errorf("full = %v (err %v); want %v", full, err, tt.wantFull)
			}
		})
	}
}
