package index

import (
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/segment"
)

// wordTokenizer splits text into words exactly as bleve's "unicode"
// tokenizer does (Unicode word boundaries, UAX #29, as implemented by
// github.com/blevesearch/segment): the same terms, offsets, positions and
// types, so that an index made with either answers the same searches. It
// reads ASCII itself, which is most of the text of mail and where the
// rules are few, and hands every stretch with other characters to the
// segmenter. Tokenizing was a tenth of the CPU time of an import.
//
// A stretch is cut only where ASCII white space is followed by an ASCII
// character: no rule of UAX #29 joins across that (white space is no
// letter, digit, mid-word punctuation or extending character, and CR LF
// gives no token), so each side is segmented as it would be in the whole.
type wordTokenizer struct{}

// Classes of ASCII characters under UAX #29 word boundaries
// (WordBreakProperty.txt).
const (
	wbOther     = iota
	wbLetter    // ALetter: A-Z, a-z
	wbDigit     // Numeric: 0-9
	wbUnder     // ExtendNumLet: _
	wbMidLetter // MidLetter: ":", joins letters
	wbMidNum    // MidNum: "," and ";", join digits
	wbMidBoth   // MidNumLet and Single_Quote: "." and "'", join either
)

var wbClass = func() (c [128]uint8) {
	for b := 'a'; b <= 'z'; b++ {
		c[b] = wbLetter
		c[b-'a'+'A'] = wbLetter
	}
	for b := '0'; b <= '9'; b++ {
		c[b] = wbDigit
	}
	c['_'] = wbUnder
	c[':'] = wbMidLetter
	c[','], c[';'] = wbMidNum, wbMidNum
	c['.'], c['\''] = wbMidBoth, wbMidBoth
	return c
}()

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// cutBefore reports whether the text may be cut before in[i].
func cutBefore(in []byte, i int) bool {
	return in[i] < 0x80 && isASCIISpace(in[i-1])
}

func (wordTokenizer) Tokenize(in []byte) analysis.TokenStream {
	w := wordStream{in: in, pos: 1}
	for i := 0; i < len(in); {
		k := i
		for k < len(in) && in[k] < 0x80 {
			k++
		}
		if k == len(in) {
			w.ascii(i, k)
			break
		}
		s := k
		for s > i && !cutBefore(in, s) {
			s--
		}
		e := k + 1
		for e < len(in) && !cutBefore(in, e) {
			e++
		}
		w.ascii(i, s)
		w.unicode(s, e)
		i = e
	}
	return w.out
}

// wordStream collects the tokens of one input.
type wordStream struct {
	in   []byte
	pos  int
	out  analysis.TokenStream
	slab []analysis.Token // tokens are allocated from it, many at a time
}

func (w *wordStream) emit(start, end int, typ analysis.TokenType) {
	if len(w.slab) == 0 {
		// About one word in six bytes of what is left, as bleve's
		// tokenizer guesses; at least a few, at most 1,000 at a time.
		w.slab = make([]analysis.Token, min(max((len(w.in)-start)/6, 4), 1000))
		if w.out == nil {
			w.out = make(analysis.TokenStream, 0, len(w.slab))
		}
	}
	t := &w.slab[0]
	w.slab = w.slab[1:]
	*t = analysis.Token{Term: w.in[start:end], Start: start, End: end, Position: w.pos, Type: typ}
	w.out = append(w.out, t)
	w.pos++
}

// ascii adds the words of in[from:to], all ASCII. A word is a run of
// letters, digits and "_", continued over one mid-word character between
// two letters (":", ".", "'": "e.g", "don't") or two digits (",", ";",
// ".", "'": "1,000.50"). It is a number when it has digits and no letter.
func (w *wordStream) ascii(from, to int) {
	in := w.in[:to]
	for i := from; i < to; {
		c := wbClass[in[i]]
		if c != wbLetter && c != wbDigit && c != wbUnder {
			i++
			continue
		}
		start := i
		letters, digits := false, false
		for {
			for ; i < to; i++ {
				c := wbClass[in[i]]
				if c == wbLetter {
					letters = true
				} else if c == wbDigit {
					digits = true
				} else if c != wbUnder {
					break
				}
			}
			if i+1 >= to {
				break
			}
			before, mid, after := wbClass[in[i-1]], wbClass[in[i]], wbClass[in[i+1]]
			if before == wbLetter && after == wbLetter && (mid == wbMidLetter || mid == wbMidBoth) ||
				before == wbDigit && after == wbDigit && (mid == wbMidNum || mid == wbMidBoth) {
				i++
				continue
			}
			break
		}
		typ := analysis.AlphaNumeric
		if digits && !letters {
			typ = analysis.Numeric
		}
		w.emit(start, i, typ)
	}
}

// unicode adds the words of in[from:to] as the segmenter finds them.
func (w *wordStream) unicode(from, to int) {
	sg := segment.NewWordSegmenterDirect(w.in[from:to])
	start := from
	for sg.Segment() {
		end := start + len(sg.Bytes())
		switch sg.Type() {
		case segment.None:
		case segment.Ideo, segment.Kana:
			w.emit(start, end, analysis.Ideographic)
		case segment.Number:
			w.emit(start, end, analysis.Numeric)
		default:
			w.emit(start, end, analysis.AlphaNumeric)
		}
		start = end
	}
}
