package pdftext

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"
)

// matrix is [a b c d e f] (8.3.3).
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul is m × n.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

// gstate is the part of the graphics state that places text.
type gstate struct {
	ctm                         matrix
	font                        *font
	size, charSp, wordSp, scale float64
	leading, rise               float64
}

// writer interprets content streams and writes their text: a space where
// the gap between two glyphs on a line is wide enough for one, a newline
// where the baseline moves.
type writer struct {
	ctx   context.Context
	f     *file
	out   *bytes.Buffer
	limit int
	fonts map[any]*font // by font object (ref or dict pointer)
	codes []code

	gs             gstate
	stack          []gstate
	tm, tlm        matrix
	started        bool       // a glyph was written
	lastX, lastY   float64    // user space: end of the last glyph
	lastEndKnown   bool       // its width was known
	lastSize       float64    // its font size in user space
	moved          bool       // the text position was set since (Td, Tm, T*...)
	adjust         float64    // TJ displacement since the last glyph (text space)
	box            [4]float64 // the page's box (page.box)
	forms          int        // form XObjects entered
	formDepth      int
	full           bool
	checkCountdown int
}

// errFull stops the interpretation once the text limit is reached.
var errFull = fmt.Errorf("text limit reached")

const (
	maxForms      = 256 // form XObjects run per file
	maxFormDepth  = 8
	spaceFraction = 0.1 // a gap of more than this much of the font size is a space (poppler's minWordBreakSpace)
)

func (w *writer) run(data []byte, res dict) error {
	l := &lexer{b: data}
	var args []any
	for {
		if w.checkCountdown--; w.checkCountdown <= 0 {
			w.checkCountdown = 4096
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		o, err := l.object(true)
		if err == errEOF {
			return nil
		}
		if err != nil {
			return err
		}
		k, isOp := o.(op)
		if !isOp {
			args = append(args, o)
			if len(args) > 1<<12 {
				return fmt.Errorf("%w: too many operands", errSyntax)
			}
			continue
		}
		if err := w.do(k, args, res, l); err != nil {
			return err
		}
		args = args[:0]
	}
}

func nums(args []any, n int) ([]float64, bool) {
	if len(args) < n {
		return nil, false
	}
	out := make([]float64, n)
	for i, a := range args[len(args)-n:] {
		v, ok := a.(float64)
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

func (w *writer) do(k op, args []any, res dict, l *lexer) error {
	switch k {
	case "q":
		if len(w.stack) > 256 {
			return fmt.Errorf("%w: q nested too deep", errSyntax)
		}
		w.stack = append(w.stack, w.gs)
	case "Q":
		if n := len(w.stack); n > 0 {
			w.gs = w.stack[n-1]
			w.stack = w.stack[:n-1]
		}
	case "cm":
		if v, ok := nums(args, 6); ok {
			w.gs.ctm = matrix(v).mul(w.gs.ctm)
		}
	case "BT":
		w.tm, w.tlm = identity, identity
		w.moved = true
	case "ET":
	case "Tf":
		if len(args) < 2 {
			return nil
		}
		fn, _ := args[len(args)-2].(name)
		size, _ := args[len(args)-1].(float64)
		ft, err := w.font(res, fn)
		if err != nil {
			return err
		}
		w.gs.font, w.gs.size = ft, size
	case "Tc":
		if v, ok := nums(args, 1); ok {
			w.gs.charSp = v[0]
		}
	case "Tw":
		if v, ok := nums(args, 1); ok {
			w.gs.wordSp = v[0]
		}
	case "Tz":
		if v, ok := nums(args, 1); ok {
			w.gs.scale = v[0] / 100
		}
	case "TL":
		if v, ok := nums(args, 1); ok {
			w.gs.leading = v[0]
		}
	case "Ts":
		if v, ok := nums(args, 1); ok {
			w.gs.rise = v[0]
		}
	case "Td", "TD":
		if v, ok := nums(args, 2); ok {
			if k == "TD" {
				w.gs.leading = -v[1]
			}
			w.tlm = matrix{1, 0, 0, 1, v[0], v[1]}.mul(w.tlm)
			w.tm = w.tlm
			w.moved = true
		}
	case "Tm":
		if v, ok := nums(args, 6); ok {
			w.tlm = matrix(v)
			w.tm = w.tlm
			w.moved = true
		}
	case "T*":
		w.nextLine()
	case "Tj":
		if len(args) > 0 {
			s, _ := args[len(args)-1].([]byte)
			return w.show(s)
		}
	case "'", "\"":
		w.nextLine()
		if k == "\"" {
			if v, ok := nums(args[:max(len(args)-1, 0)], 2); ok {
				w.gs.wordSp, w.gs.charSp = v[0], v[1]
			}
		}
		if len(args) > 0 {
			s, _ := args[len(args)-1].([]byte)
			return w.show(s)
		}
	case "TJ":
		if len(args) == 0 {
			return nil
		}
		a, _ := args[len(args)-1].([]any)
		for _, e := range a {
			switch v := e.(type) {
			case []byte:
				if err := w.show(v); err != nil {
					return err
				}
			case float64:
				tx := -v / 1000 * w.gs.size * w.gs.scale
				w.tm = matrix{1, 0, 0, 1, tx, 0}.mul(w.tm)
				w.adjust += tx
			}
		}
	case "Do":
		if len(args) == 0 {
			return nil
		}
		n, _ := args[len(args)-1].(name)
		return w.form(res, n)
	case "BI":
		return skipInlineImage(l)
	}
	return nil
}

func (w *writer) nextLine() {
	w.tlm = matrix{1, 0, 0, 1, 0, -w.gs.leading}.mul(w.tlm)
	w.tm = w.tlm
	w.moved = true
}

// font returns the font named n in the resources, loaded once.
func (w *writer) font(res dict, n name) (*font, error) {
	fonts := w.f.dict(res["Font"])
	o, ok := fonts[n]
	if !ok {
		return nil, fmt.Errorf("%w: font %s not in the resources", ErrUnsupported, n)
	}
	key := any(o)
	if _, isRef := o.(ref); !isRef {
		key = fmt.Sprintf("%p", o) // a direct dictionary
	}
	if ft, ok := w.fonts[key]; ok {
		return ft, nil
	}
	d := w.f.dict(o)
	if d == nil {
		return nil, fmt.Errorf("%w: font %s", errSyntax, n)
	}
	ft, err := w.f.loadFont(d)
	if err != nil {
		return nil, err
	}
	w.fonts[key] = ft
	return ft, nil
}

// show writes the text of a string and moves the text position past it.
func (w *writer) show(s []byte) error {
	ft := w.gs.font
	if ft == nil {
		return fmt.Errorf("%w: text without a font", errSyntax)
	}
	var ok bool
	w.codes, ok = ft.decode(s, w.codes)
	if !ok {
		return fmt.Errorf("%w: a character code without text", ErrUnsupported)
	}
	// The glyph matrix of each glyph: the text matrix moves by whole
	// translations along the baseline, so its product with the CTM is
	// made once a string and moved with it.
	m := w.tm.mul(w.gs.ctm)
	sa, sd := w.gs.size*w.gs.scale, w.gs.size
	a, b, c, d := sa*m[0], sa*m[1], sd*m[2], sd*m[3]
	if math.Abs(b) > 0.01*math.Abs(a) || math.Abs(c) > 0.01*math.Abs(d) || a <= 0 || d <= 0 {
		// Rotated, skewed or mirrored text: its reading order needs
		// pdftotext's layout analysis.
		if len(w.codes) > 0 {
			return fmt.Errorf("%w: rotated text", ErrUnsupported)
		}
	}
	for _, code := range w.codes {
		x, y, size := w.gs.rise*m[2]+m[4], w.gs.rise*m[3]+m[5], d
		// Glyphs off the page are not shown, nor indexed (pdftotext
		// drops them too).
		if bx := w.box; bx != [4]float64{} && (x < bx[0]-size || x > bx[2] || y < bx[1]-size || y > bx[3]) {
			// Skipped, but the position still moves on.
		} else {
			if err := w.separate(x, y, size); err != nil {
				return err
			}
			if err := w.write(code.text); err != nil {
				return err
			}
		}
		wd, known := ft.width(code.c)
		tx := (wd/1000*w.gs.size + w.gs.charSp) * w.gs.scale
		if len(code.text) == 1 && code.text[0] == ' ' && !ft.twoByte {
			tx += w.gs.wordSp * w.gs.scale
		}
		// tm = [1 0 0 1 tx 0] × tm, and the same for m.
		w.tm[4], w.tm[5] = w.tm[4]+tx*w.tm[0], w.tm[5]+tx*w.tm[1]
		m[4], m[5] = m[4]+tx*m[0], m[5]+tx*m[1]
		w.lastX = x + wd/1000*a
		w.lastY, w.lastSize, w.lastEndKnown = y, size, known
		w.started, w.moved, w.adjust = true, false, 0
	}
	return nil
}

// separate writes a space or a newline before a glyph at x, y (user space,
// its font size size) when its place says so.
func (w *writer) separate(x, y, size float64) error {
	if !w.started {
		return nil
	}
	ref := max(size, w.lastSize)
	if math.Abs(y-w.lastY) > 0.5*min(size, w.lastSize) {
		return w.write("\n")
	}
	if !w.moved {
		// Within a string, or a TJ array: only its displacements part
		// the glyphs.
		if w.gs.size > 0 && w.adjust/w.gs.size > spaceFraction {
			return w.write(" ")
		}
		return nil
	}
	if !w.lastEndKnown {
		return fmt.Errorf("%w: text placed on a line after a glyph of unknown width", ErrUnsupported)
	}
	gap := x - w.lastX
	if gap < -spaceFraction*ref {
		// Backwards on a line: overprinting (fake bold) or text drawn
		// out of reading order, which pdftotext sorts out.
		return fmt.Errorf("%w: text drawn backwards on a line", ErrUnsupported)
	}
	if gap > spaceFraction*ref {
		return w.write(" ")
	}
	return nil
}

func (w *writer) write(s string) error {
	if w.full {
		return errFull
	}
	if s == "\n" {
		// A word hyphenated at the end of a line is joined, as
		// pdftotext does: "taki-" + "mata" is "takimata".
		b := w.out.Bytes()
		if n := len(b); n >= 2 && b[n-1] == '-' {
			if r, _ := utf8.DecodeLastRune(b[:n-1]); unicode.IsLetter(r) {
				w.out.Truncate(n - 1)
				return nil
			}
		}
	}
	for _, r := range s {
		if r >= 0x0590 && unicode.In(r, unicode.Arabic, unicode.Hebrew, unicode.Syriac, unicode.Thaana, unicode.Nko) {
			// Right-to-left text is stored in visual order;
			// pdftotext reorders it.
			return fmt.Errorf("%w: right-to-left text", ErrUnsupported)
		}
	}
	if w.out.Len()+len(s) > w.limit {
		w.full = true
		return errFull
	}
	if len(s) == 1 && s[0] < 0x80 {
		w.out.WriteByte(s[0])
		return nil
	}
	for _, r := range s {
		switch r {
		case '\u00a0': // no-break space: a space, as pdftotext writes it
			w.out.WriteByte(' ')
		case '\u00ad': // soft hyphen: pdftotext writes a hyphen
			w.out.WriteByte('-')
		default:
			if lig, ok := ligatures[r]; ok {
				// The ligature glyphs of fonts without ToUnicode
				// ("fi" in Differences): pdftotext writes
				// their letters.
				w.out.WriteString(lig)
			} else {
				w.out.WriteRune(r)
			}
		}
	}
	return nil
}

var ligatures = map[rune]string{'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "st", 'ﬆ': "st"}

// form runs a form XObject (8.10); images and others are skipped.
func (w *writer) form(res dict, n name) error {
	o, ok := w.f.dict(res["XObject"])[n]
	if !ok {
		return nil
	}
	s, ok := w.f.resolve(o).(*stream)
	if !ok || s.dict["Subtype"] != name("Form") {
		return nil
	}
	return w.runForm(s, res, identity)
}

// runForm runs the content of form s, placed by at (the appearance of an
// annotation: at its rectangle).
func (w *writer) runForm(s *stream, res dict, at matrix) error {
	if w.forms++; w.forms > maxForms || w.formDepth >= maxFormDepth {
		return fmt.Errorf("%w: too many forms", ErrUnsupported)
	}
	data, err := w.f.decode(s)
	if err != nil {
		return err
	}
	fres := w.f.dict(s.dict["Resources"])
	if fres == nil {
		fres = res
	}
	saved, savedTm, savedTlm := w.gs, w.tm, w.tlm
	w.gs.ctm = at.mul(w.gs.ctm)
	if v, ok := nums(w.f.array(s.dict["Matrix"]), 6); ok {
		w.gs.ctm = matrix(v).mul(w.gs.ctm)
	}
	w.formDepth++
	err = w.run(data, fres)
	w.formDepth--
	w.gs, w.tm, w.tlm = saved, savedTm, savedTlm
	w.moved = true
	return err
}

// skipInlineImage skips BI ... ID <data> EI (8.9.7).
func skipInlineImage(l *lexer) error {
	i := bytes.Index(l.b[l.pos:], []byte("ID"))
	if i < 0 {
		return fmt.Errorf("%w: inline image without ID", errSyntax)
	}
	p := l.pos + i + 3
	for p < len(l.b) {
		j := bytes.Index(l.b[p:], []byte("EI"))
		if j < 0 {
			break
		}
		e := p + j
		if isSpace(l.b[e-1]) && (e+2 == len(l.b) || isSpace(l.b[e+2])) {
			l.pos = e + 2
			return nil
		}
		p = e + 2
	}
	return fmt.Errorf("%w: inline image without EI", errSyntax)
}
