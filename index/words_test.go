package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	bleveunicode "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

// sameWords fails t unless wordTokenizer gives for in exactly what bleve's
// unicode tokenizer gives.
func sameWords(t testing.TB, in []byte) {
	t.Helper()
	want := bleveunicode.NewUnicodeTokenizer().Tokenize(bytes.Clone(in))
	got := wordTokenizer{}.Tokenize(bytes.Clone(in))
	if d := diffTokens(got, want); d != "" {
		t.Fatalf("Tokenize(%q): %s", in, d)
	}
}

func diffTokens(got, want analysis.TokenStream) string {
	for i := range max(len(got), len(want)) {
		if i >= len(got) {
			return fmt.Sprintf("token %d missing; want %s", i, want[i])
		}
		if i >= len(want) {
			return fmt.Sprintf("token %d is %s; want none", i, got[i])
		}
		g, w := got[i], want[i]
		if !bytes.Equal(g.Term, w.Term) || g.Start != w.Start || g.End != w.End || g.Position != w.Position || g.Type != w.Type {
			return fmt.Sprintf("token %d is %s; want %s", i, g, w)
		}
	}
	return ""
}

var wordTests = []string{
	"",
	" ",
	"Hello, world! Don't panic: it's 3:45 p.m. on 2024-01-02.",
	"e.g. i.e. U.S.A. a.b. .a a. a..b a.:b",
	"1,000.50 1.2.3 1,a a,1 1;2 1:2 a:b a;b 1'2 a'b '1 1' 'a a'",
	"snake_case _lead trail_ __ _ a_1 1_a 1_ _1 a_.b a._b 1_.2",
	"abc123 123abc a1.5 1.5a a.1 1.a x1,2 1,2x",
	"anna.berg@mail.contoso.com https://example.com/a/b?c=d&e=f#g",
	"tabs\tand\nnew\r\nlines\vand\fform feeds",
	"\"quoted\" (parens) [brackets] {braces} <angles> #hash $5 100% a&b a*b a+b a=b a|b a~b a^b a`b",
	"Müller café naïve Ærø déjà-vu São Paulo",
	"mixed ascii and Ünïcödé in one line, then ascii again",
	"東京都 日本語のテキスト カタカナ ひらがな 한국어 中文字",
	"עברית \"שלום\" ו'",
	"emoji 👍🏽 and 👨‍👩‍👧 flags 🇩🇪🇫🇷 done",
	"combining: e\u0301 a \u0301x \u0301 b\u0308c",
	"soft\u00adhyphen zero\u200bwidth zwj\u200dx nbsp\u00a0here",
	"full-width ＡＢＣ１２３ and ① ½ ²",
	"word\u2019s curly quotes \u201cyes\u201d",
	"a\u00b7b l·l catalan, 1\u066b5 arabic decimal",
	"x \u0308", // a mark after a space, then the end
	"\u0301start",
	"ends with é",
	"é",
	"a é b",
	"10.5% of $1,234.56 on 12/31/2024 at 23:59",
	strings.Repeat("long ", 300) + "é" + strings.Repeat(" tail", 300),
}

func TestWordTokenizer(t *testing.T) {
	for _, s := range wordTests {
		sameWords(t, []byte(s))
	}
}

// TestWordTokenizerRandom compares the two tokenizers on many strings made
// of the characters where the rules of UAX #29 differ.
func TestWordTokenizerRandom(t *testing.T) {
	alphabet := []string{
		"a", "Z", "q", "0", "7", "_", ":", ".", "'", ",", ";", "\"", " ", " ", " ", "\t", "\n", "\r", "-", "@", "/", "!",
		"é", "Ä", "ß", "\u0301", "\u00ad", "\u200d", "\u00a0", "日", "カ", "ひ", "한", "ש", "👍", "🇩", "\u2019", "·", "１", "٫", "\u3000",
	}
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		b.Reset()
		for range r.IntN(24) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		sameWords(t, []byte(b.String()))
	}
}

// TestWordTokenizerCorpus compares the two tokenizers on the text of every
// message of the real corpus.
func TestWordTokenizerCorpus(t *testing.T) {
	_, msgs := corpusMessages(t)
	words := 0
	for _, m := range msgs {
		ex, _ := extract(bytes.NewReader(m))
		for _, s := range []string{ex.Text, ex.AttText} {
			sameWords(t, []byte(s))
			words += len(wordTokenizer{}.Tokenize([]byte(s)))
		}
	}
	t.Logf("%d messages, %d words", len(msgs), words)
	if words < 10000 {
		t.Errorf("%d words in the corpus; want many more", words)
	}
}

func FuzzWordTokenizer(f *testing.F) {
	for _, s := range wordTests {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) {
			sameWords(t, []byte(s))
			return
		}
		// Indexed text is always UTF-8 (textSink); other bytes must
		// still give tokens within the input.
		for _, tok := range (wordTokenizer{}).Tokenize([]byte(s)) {
			if tok.Start < 0 || tok.End > len(s) || tok.Start >= tok.End || string(tok.Term) != s[tok.Start:tok.End] {
				t.Fatalf("Tokenize(%q): bad token %s", s, tok)
			}
		}
	})
}
