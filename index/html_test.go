package index

import (
	"io"
	"strings"
	"testing"
)

var htmlTests = []struct {
	in, want string
}{
	{"<p>Hello <b>wor</b>ld</p><p>again</p>", "Hello world again"},
	{"a < b &amp; c &lt;d&gt; &eacute;t&eacute; &#252;ber &#x41;&#X42; &amp", "a < b & c <d> été über AB &"},
	{"x<!-- a comment <p> -- still -> -->y", "x y"},
	{"<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style><script>if (a<b) x('</p>')</script></head>", "T"},
	{"<a href=\"x>y\" title='a\"b>c'>link</a>", "link"},
	{"<SCRIPT type=x>var s = '</scr' + 'ipt>';</SCRIPT>after", "after"},
	{"unterminated <p class=\"x", "unterminated"},
	{"&unknown; &#xZZ; & alone", "&unknown; &#xZZ; & alone"},
	{"<br>line<br/>break<hr>rule", "line break rule"},
	{"<?xml version=\"1.0\"?>text", "text"},
	{"<![CDATA[ x ]]>y", "y"},
	{"a<-b c</ d", "a<-b c"},
}

// stripBytewise is stripHTML without write's skipping: every byte through
// the state machine.
func stripBytewise(in string) string {
	s := &textSink{total: maxText}
	s.startPart(maxPartText)
	h := htmlStripper{s: s}
	for i := 0; i < len(in); i++ {
		if h.byte(in[i]) != nil {
			break
		}
	}
	h.flush()
	return s.String()
}

func stripText(in string) string {
	s := &textSink{total: maxText}
	s.startPart(maxPartText)
	stripHTML(s, strings.NewReader(in))
	return s.String()
}

func TestStripHTML(t *testing.T) {
	for _, tt := range htmlTests {
		if got := stripText(tt.in); got != tt.want {
			t.Errorf("stripHTML(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if got := stripBytewise(tt.in); got != tt.want {
			t.Errorf("byte by byte: stripHTML(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestStripHTMLCorpus feeds every message of the real corpus, header and
// all, to stripHTML at once and byte by byte.
func TestStripHTMLCorpus(t *testing.T) {
	_, msgs := corpusMessages(t)
	for _, m := range msgs {
		if got, want := stripText(string(m)), stripBytewise(string(m)); got != want {
			t.Fatalf("stripHTML(%.200q...) = %.200q; byte by byte %.200q", m, got, want)
		}
	}
}

func FuzzStripHTML(f *testing.F) {
	for _, tt := range htmlTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := stripText(in), stripBytewise(in); got != want {
			t.Fatalf("stripHTML(%q) = %q; byte by byte %q", in, got, want)
		}
	})
}

// stuckReader never returns data nor an error.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestStripHTMLNoProgress(t *testing.T) {
	s := &textSink{total: maxText}
	s.startPart(maxPartText)
	if err := stripHTML(s, stuckReader{}); err != io.ErrNoProgress {
		t.Errorf("stripHTML(a reader stuck) = %v; want %v", err, io.ErrNoProgress)
	}
}
