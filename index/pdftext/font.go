package pdftext

import (
	"fmt"
	"strings"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// font turns the codes of a shown string into text and glyph widths.
type font struct {
	twoByte bool              // codes are 2 bytes (Type0 Identity-H), else 1
	toUni   map[uint32]string // from the ToUnicode CMap; nil: none
	enc     *[256]rune        // a simple font's encoding; nil: none
	encText *[256]string      // enc as strings, made on first use
	widths  map[uint32]float64
	dw      float64 // width of codes without one (1/1000 em); < 0: unknown
}

// code is one character code of a shown string.
type code struct {
	c    uint32
	text string
}

// decode splits s into codes with their text; false when a code has no
// known text (the caller leaves the PDF to pdftotext).
func (ft *font) decode(s []byte, out []code) ([]code, bool) {
	out = out[:0]
	step := 1
	if ft.twoByte {
		step = 2
	}
	for i := 0; i+step <= len(s); i += step {
		c := uint32(s[i])
		if step == 2 {
			c = c<<8 | uint32(s[i+1])
		}
		if t, ok := ft.toUni[c]; ok {
			out = append(out, code{c, t})
			continue
		}
		if ft.enc == nil || c > 255 || ft.enc[c] == 0 {
			if c < 32 && ft.enc != nil {
				out = append(out, code{c, ""}) // control codes: no text, but their width
				continue
			}
			return out, false
		}
		out = append(out, code{c, ft.text(c)})
	}
	return out, true
}

// text is the text of code c in the encoding, made once.
func (ft *font) text(c uint32) string {
	if ft.encText == nil {
		ft.encText = new([256]string)
		for i, r := range ft.enc {
			if r != 0 {
				ft.encText[i] = string(r)
			}
		}
	}
	return ft.encText[c]
}

// width is the advance of code c in 1/1000 em; false when unknown.
func (ft *font) width(c uint32) (float64, bool) {
	if w, ok := ft.widths[c]; ok {
		return w, true
	}
	return ft.dw, ft.dw >= 0
}

// loadFont reads a font dictionary. Fonts whose text cannot be known for
// sure are unsupported: Type3 and composite fonts without a ToUnicode
// CMap, symbolic fonts, and encodings other than the standard ones.
func (f *file) loadFont(d dict) (*font, error) {
	ft := &font{dw: -1}
	sub, _ := f.resolve(d["Subtype"]).(name)
	if tu, ok := f.resolve(d["ToUnicode"]).(*stream); ok {
		cm, ok := f.cmaps[tu] // fonts share CMaps
		if !ok {
			data, err := f.decode(tu)
			if err != nil {
				return nil, err
			}
			cm.m, cm.twoByte, cm.err = parseCMap(data)
			f.cmaps[tu] = cm
		}
		m, twoByte, err := cm.m, cm.twoByte, cm.err
		if err != nil {
			return nil, err
		}
		ft.toUni = m
		if sub == "Type0" && !twoByte {
			return nil, fmt.Errorf("%w: composite font with a one-byte ToUnicode", ErrUnsupported)
		}
	}
	switch sub {
	case "Type0":
		enc, _ := f.resolve(d["Encoding"]).(name)
		if enc != "Identity-H" || ft.toUni == nil {
			return nil, fmt.Errorf("%w: composite font, encoding %q, ToUnicode %v", ErrUnsupported, enc, ft.toUni != nil)
		}
		ft.twoByte = true
		desc := f.array(d["DescendantFonts"])
		if len(desc) == 0 {
			return ft, nil
		}
		cid := f.dict(desc[0])
		ft.dw = 1000
		if dw, ok := f.number(cid["DW"]); ok {
			ft.dw = dw
		}
		ft.widths = f.cidWidths(f.array(cid["W"]))
		return ft, nil
	case "Type1", "MMType1", "TrueType", "Type3":
	default:
		return nil, fmt.Errorf("%w: font subtype %q", ErrUnsupported, sub)
	}
	if sub == "Type3" && ft.toUni == nil {
		return nil, fmt.Errorf("%w: Type3 font without ToUnicode", ErrUnsupported)
	}
	if err := f.simpleEncoding(ft, d, sub); err != nil && ft.toUni == nil {
		return nil, err
	}
	first, _ := f.number(d["FirstChar"])
	unit := 1.0 // Widths in 1/1000 em; Type3's in glyph space, by its FontMatrix
	if sub == "Type3" {
		fm, ok := nums(f.array(d["FontMatrix"]), 6)
		if !ok {
			return ft, nil
		}
		unit = fm[0] * 1000
	}
	if ws := f.array(d["Widths"]); ws != nil {
		ft.widths = make(map[uint32]float64, len(ws))
		for i, w := range ws {
			if v, ok := f.number(w); ok && int(first)+i >= 0 {
				ft.widths[uint32(int(first)+i)] = v * unit
			}
		}
		ft.dw = 0
		if fd := f.dict(d["FontDescriptor"]); fd != nil {
			if mw, ok := f.number(fd["MissingWidth"]); ok {
				ft.dw = mw
			}
		}
	}
	return ft, nil
}

// maxCodes bounds the codes of a CMap or a W array: 2-byte codes are at
// most 65,536, and ranges that overlap many times must not grow a map
// without end.
const maxCodes = 1 << 17

// maxDest bounds the text of one code in a CMap (a ligature is a few
// characters; 32 is plenty).
const maxDest = 64

// cidWidths reads a W array (9.7.4.3): c [w1 w2 ...] or cfirst clast w.
func (f *file) cidWidths(w []any) map[uint32]float64 {
	m := map[uint32]float64{}
	cid := func(o any) (uint32, bool) {
		v, ok := f.number(o)
		return uint32(v), ok && v >= 0 && v <= 0xFFFF && v == float64(int(v))
	}
	work := 0 // codes set, repeats included: bounded, whatever the ranges
	for i := 0; i < len(w) && work < maxCodes; {
		c, ok := cid(w[i])
		if !ok || i+1 >= len(w) {
			break
		}
		if a := f.array(w[i+1]); a != nil {
			for j, x := range a {
				if v, ok := f.number(x); ok && int(c)+j <= 0xFFFF {
					m[c+uint32(j)] = v
				}
			}
			work += len(a)
			i += 2
			continue
		}
		last, ok1 := cid(w[i+1])
		if i+2 >= len(w) || !ok1 || last < c {
			break
		}
		v, _ := f.number(w[i+2])
		for x := c; x <= last && work < maxCodes; x++ {
			m[x] = v
			work++
		}
		i += 3
	}
	return m
}

// simpleEncoding sets the encoding of a simple font (9.6.6).
func (f *file) simpleEncoding(ft *font, d dict, sub name) error {
	base, _ := f.resolve(d["BaseFont"]).(name)
	if fd := f.dict(d["FontDescriptor"]); fd != nil {
		if flags, _ := f.number(fd["Flags"]); int(flags)&4 != 0 && d["Encoding"] == nil {
			return fmt.Errorf("%w: symbolic font %s without an encoding", ErrUnsupported, base)
		}
	}
	if strings.Contains(string(base), "Symbol") || strings.Contains(string(base), "Dingbats") || strings.Contains(string(base), "Wingdings") {
		return fmt.Errorf("%w: symbol font %s", ErrUnsupported, base)
	}
	var diffs []any
	encName := name("")
	switch e := f.resolve(d["Encoding"]).(type) {
	case name:
		encName = e
	case dict:
		encName, _ = f.resolve(e["BaseEncoding"]).(name)
		diffs = f.array(e["Differences"])
	case nil:
	default:
		return fmt.Errorf("%w: encoding %T", ErrUnsupported, e)
	}
	var enc [256]rune
	switch encName {
	case "WinAnsiEncoding":
		enc = tableOf(charmap.Windows1252)
	case "MacRomanEncoding":
		enc = tableOf(charmap.Macintosh)
	case "", "StandardEncoding":
		// Standard encoding: ASCII but for two quotes; its upper half
		// is left unknown (rare in practice).
		for c := 32; c < 127; c++ {
			enc[c] = rune(c)
		}
		enc['\''] = '’'
		enc['`'] = '‘'
	default:
		return fmt.Errorf("%w: encoding %s", ErrUnsupported, encName)
	}
	code := -1
	for _, x := range diffs {
		switch v := f.resolve(x).(type) {
		case float64:
			code = int(v)
		case name:
			if code < 0 || code > 255 {
				return fmt.Errorf("%w: Differences out of range", errSyntax)
			}
			r, ok := glyphRune(string(v))
			if !ok {
				return fmt.Errorf("%w: glyph name %q", ErrUnsupported, v)
			}
			enc[code] = r
			code++
		}
	}
	ft.enc = &enc
	return nil
}

func tableOf(cm *charmap.Charmap) [256]rune {
	var t [256]rune
	for c := 32; c < 256; c++ {
		if r := cm.DecodeByte(byte(c)); r != '\uFFFD' && r != 0x7f {
			t[c] = r
		}
	}
	return t
}

// glyphRune is the character of a glyph name (Adobe Glyph List), for the
// names of Latin text: uniXXXX, the ASCII names, letters with an accent
// ("eacute") and common punctuation.
func glyphRune(g string) (rune, bool) {
	if r, ok := glyphNames[g]; ok {
		return r, true
	}
	if len(g) == 1 && (g[0] >= 'a' && g[0] <= 'z' || g[0] >= 'A' && g[0] <= 'Z') {
		return rune(g[0]), true
	}
	if len(g) == 7 && strings.HasPrefix(g, "uni") {
		var r rune
		for _, c := range []byte(g[3:]) {
			v, ok := hexVal(c)
			if !ok {
				return 0, false
			}
			r = r<<4 | rune(v)
		}
		return r, true
	}
	for suffix, mark := range accents {
		if base, ok := strings.CutSuffix(g, suffix); ok && len(base) == 1 {
			s := norm.NFC.String(base + string(mark))
			if r := []rune(s); len(r) == 1 {
				return r[0], true
			}
		}
	}
	return 0, false
}

var accents = map[string]rune{
	"acute": '\u0301', "grave": '\u0300', "circumflex": '\u0302', "dieresis": '\u0308',
	"tilde": '\u0303', "ring": '\u030A', "cedilla": '\u0327', "caron": '\u030C',
}

var glyphNames = map[string]rune{
	"space": ' ', "exclam": '!', "quotedbl": '"', "numbersign": '#', "dollar": '$',
	"percent": '%', "ampersand": '&', "quotesingle": '\'', "quoteright": '’',
	"quoteleft": '‘', "parenleft": '(', "parenright": ')', "asterisk": '*', "plus": '+',
	"comma": ',', "hyphen": '-', "period": '.', "slash": '/', "zero": '0', "one": '1',
	"two": '2', "three": '3', "four": '4', "five": '5', "six": '6', "seven": '7',
	"eight": '8', "nine": '9', "colon": ':', "semicolon": ';', "less": '<', "equal": '=',
	"greater": '>', "question": '?', "at": '@', "bracketleft": '[', "backslash": '\\',
	"bracketright": ']', "asciicircum": '^', "underscore": '_', "grave": '`',
	"braceleft": '{', "bar": '|', "braceright": '}', "asciitilde": '~',
	"quotedblleft": '“', "quotedblright": '”', "quotesinglbase": '‚', "quotedblbase": '„',
	"endash": '–', "emdash": '—', "bullet": '•', "ellipsis": '…', "germandbls": 'ß',
	"ae": 'æ', "AE": 'Æ', "oslash": 'ø', "Oslash": 'Ø', "oe": 'œ', "OE": 'Œ',
	"fi": 'ﬁ', "fl": 'ﬂ', "ff": 'ﬀ', "ffi": 'ﬃ', "ffl": 'ﬄ', "Euro": '€', "copyright": '©', "registered": '®',
	"trademark": '™', "degree": '°', "section": '§', "paragraph": '¶', "minus": '−',
	"nbspace": '\u00a0', "sterling": '£', "yen": '¥', "cent": '¢', "dagger": '†',
	"periodcentered": '·', "guillemotleft": '«', "guillemotright": '»',
	"exclamdown": '¡', "questiondown": '¿', "multiply": '×', "divide": '÷',
	"dotlessi": 'ı', "eth": 'ð', "Eth": 'Ð', "thorn": 'þ', "Thorn": 'Þ',
	"lslash": 'ł', "Lslash": 'Ł', "florin": 'ƒ', "perthousand": '‰',
	"guilsinglleft": '‹', "guilsinglright": '›', "daggerdbl": '‡',
}

// parseCMap reads the bfchar and bfrange mappings of a ToUnicode CMap
// (9.10.3); twoByte is whether its codes are 2 bytes (all codes of one
// length, else unsupported).
func parseCMap(data []byte) (map[uint32]string, bool, error) {
	m := map[uint32]string{}
	l := &lexer{b: data}
	var stack []any
	codeLen := 0
	work := 0 // codes mapped, repeats included
	spend := func(n int) error {
		if work += n; work > maxCodes {
			return fmt.Errorf("%w: CMap of more than %d codes", ErrUnsupported, maxCodes)
		}
		return nil
	}
	setLen := func(b []byte) error {
		switch {
		case len(b) != 1 && len(b) != 2:
			return fmt.Errorf("%w: CMap code of %d bytes", ErrUnsupported, len(b))
		case codeLen == 0:
			codeLen = len(b)
		case codeLen != len(b):
			return fmt.Errorf("%w: CMap codes of mixed lengths", ErrUnsupported)
		}
		return nil
	}
	for {
		o, err := l.object(true)
		if err == errEOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
		k, isOp := o.(op)
		if !isOp {
			stack = append(stack, o)
			if len(stack) > 1<<16 {
				return nil, false, fmt.Errorf("%w: CMap too large", errSyntax)
			}
			continue
		}
		switch k {
		case "endcodespacerange":
			for i := 0; i+1 < len(stack); i += 2 {
				if b, ok := stack[i].([]byte); ok {
					if err := setLen(b); err != nil {
						return nil, false, err
					}
				}
			}
		case "endbfchar":
			for i := 0; i+1 < len(stack); i += 2 {
				src, ok1 := stack[i].([]byte)
				dst, ok2 := stack[i+1].([]byte)
				if !ok1 || !ok2 {
					continue
				}
				if err := setLen(src); err != nil {
					return nil, false, err
				}
				if err := spend(1); err != nil {
					return nil, false, err
				}
				m[codeOf(src)] = utf16BE(dst[:min(len(dst), maxDest)])
			}
		case "endbfrange":
			for i := 0; i+2 < len(stack); i += 3 {
				lo, ok1 := stack[i].([]byte)
				hi, ok2 := stack[i+1].([]byte)
				if !ok1 || !ok2 {
					continue
				}
				if err := setLen(lo); err != nil {
					return nil, false, err
				}
				a, b := codeOf(lo), codeOf(hi)
				if b < a || b-a > 65535 {
					continue
				}
				if err := spend(int(b-a) + 1); err != nil {
					return nil, false, err
				}
				switch dst := stack[i+2].(type) {
				case []byte:
					if len(dst) > maxDest {
						return nil, false, fmt.Errorf("%w: CMap destination of %d bytes", ErrUnsupported, len(dst))
					}
					base := []rune(utf16BE(dst))
					if len(base) == 0 {
						continue
					}
					for c := a; c <= b; c++ {
						r := append([]rune(nil), base...)
						r[len(r)-1] += rune(c - a)
						m[c] = string(r)
					}
				case []any:
					for j, x := range dst {
						if s, ok := x.([]byte); ok && a+uint32(j) <= b {
							m[a+uint32(j)] = utf16BE(s[:min(len(s), maxDest)])
						}
					}
				}
			}
		}
		if strings.HasPrefix(string(k), "begin") || strings.HasPrefix(string(k), "end") || k == "def" {
			stack = stack[:0]
		}
	}
	return m, codeLen == 2, nil
}

func codeOf(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 | uint32(x)
	}
	return c
}

func utf16BE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	if len(b)%2 == 1 { // a one-byte destination: a Latin-1 character
		u = append(u, uint16(b[len(b)-1]))
	}
	return string(utf16.Decode(u))
}
