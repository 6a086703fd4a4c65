package pdftext

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The PDF objects (ISO 32000-1, 7.3) as Go values: nil (null), bool,
// float64 (all numbers), name, []byte (strings), []any (arrays), dict,
// ref, *stream; op is a content stream operator.
type (
	name   string
	dict   map[name]any
	ref    struct{ num, gen int }
	op     string
	stream struct {
		dict dict
		raw  []byte // as stored, before its filters
	}
)

// errSyntax is a malformed object.
var errSyntax = errors.New("pdf syntax")

// lexer reads PDF tokens and objects from b.
type lexer struct {
	b     []byte
	pos   int
	depth int // nesting of arrays and dictionaries
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() {
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '%':
			for l.pos < len(l.b) && l.b[l.pos] != '\n' && l.b[l.pos] != '\r' {
				l.pos++
			}
		default:
			return
		}
	}
}

// keyword reads a run of regular characters.
func (l *lexer) keyword() []byte {
	start := l.pos
	for l.pos < len(l.b) && !isSpace(l.b[l.pos]) && !isDelim(l.b[l.pos]) {
		l.pos++
	}
	return l.b[start:l.pos]
}

const (
	maxDepth = 64      // nesting of arrays and dictionaries
	maxElems = 1 << 16 // elements of one array or dictionary
)

// object reads the next object; in a content stream (content true) a bare
// keyword is an operator, elsewhere "N G R" is a reference. It returns
// errEOF at the end.
func (l *lexer) object(content bool) (any, error) {
	l.skipSpace()
	if l.pos >= len(l.b) {
		return nil, errEOF
	}
	c := l.b[l.pos]
	switch {
	case c == '/':
		l.pos++
		return name(unescapeName(l.keyword())), nil
	case c == '(':
		return l.literal()
	case c == '<' && l.pos+1 < len(l.b) && l.b[l.pos+1] == '<':
		l.pos += 2
		return l.dict(content)
	case c == '<':
		return l.hex()
	case c == '[':
		l.pos++
		return l.array(content)
	case c == ']' || c == '>' || c == ')' || c == '{' || c == '}':
		l.pos++
		return op(string(c)), nil // stray delimiters: the caller rejects them
	}
	kw := l.keyword()
	if len(kw) == 0 {
		l.pos++
		return nil, fmt.Errorf("%w: unexpected %q", errSyntax, c)
	}
	switch string(kw) {
	case "null":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if isNumber(kw) {
		f, err := strconv.ParseFloat(string(kw), 64)
		if err != nil {
			f = 0 // "--5", "1.2.3": as PDF readers do, a zero
		}
		if !content && isInt(kw) {
			// "N G R"?
			save := l.pos
			l.skipSpace()
			g := l.keyword()
			l.skipSpace()
			if isInt(g) && l.pos < len(l.b) && l.b[l.pos] == 'R' && (l.pos+1 == len(l.b) || isSpace(l.b[l.pos+1]) || isDelim(l.b[l.pos+1])) {
				l.pos++
				n, _ := strconv.Atoi(string(kw))
				gen, _ := strconv.Atoi(string(g))
				return ref{n, gen}, nil
			}
			l.pos = save
		}
		return f, nil
	}
	return op(kw), nil
}

var errEOF = errors.New("end of data")

func isNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' {
			return false
		}
	}
	return true
}

func isInt(b []byte) bool {
	if len(b) == 0 || len(b) > 10 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (l *lexer) array(content bool) ([]any, error) {
	if l.depth++; l.depth > maxDepth {
		return nil, fmt.Errorf("%w: nesting too deep", errSyntax)
	}
	defer func() { l.depth-- }()
	var a []any
	for {
		l.skipSpace()
		if l.pos >= len(l.b) {
			return nil, fmt.Errorf("%w: unterminated array", errSyntax)
		}
		if l.b[l.pos] == ']' {
			l.pos++
			return a, nil
		}
		o, err := l.object(content)
		if err != nil {
			return nil, err
		}
		if _, ok := o.(op); ok && content {
			return nil, fmt.Errorf("%w: operator in an array", errSyntax)
		}
		if a = append(a, o); len(a) > maxElems {
			return nil, fmt.Errorf("%w: array of more than %d elements", errSyntax, maxElems)
		}
	}
}

func (l *lexer) dict(content bool) (dict, error) {
	if l.depth++; l.depth > maxDepth {
		return nil, fmt.Errorf("%w: nesting too deep", errSyntax)
	}
	defer func() { l.depth-- }()
	d := dict{}
	for {
		l.skipSpace()
		if l.pos+1 < len(l.b) && l.b[l.pos] == '>' && l.b[l.pos+1] == '>' {
			l.pos += 2
			return d, nil
		}
		k, err := l.object(content)
		if err != nil {
			return nil, err
		}
		key, ok := k.(name)
		if !ok {
			return nil, fmt.Errorf("%w: dictionary key %v", errSyntax, k)
		}
		v, err := l.object(content)
		if err != nil {
			return nil, err
		}
		if d[key] = v; len(d) > maxElems {
			return nil, fmt.Errorf("%w: dictionary of more than %d entries", errSyntax, maxElems)
		}
	}
}

// literal reads a (string) with its escapes (7.3.4.2).
func (l *lexer) literal() ([]byte, error) {
	l.pos++ // (
	var out []byte
	nest := 1
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		switch c {
		case '(':
			nest++
		case ')':
			if nest--; nest == 0 {
				return out, nil
			}
		case '\\':
			if l.pos >= len(l.b) {
				return nil, fmt.Errorf("%w: unterminated string", errSyntax)
			}
			e := l.b[l.pos]
			l.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if l.pos < len(l.b) && l.b[l.pos] == '\n' {
					l.pos++
				}
				continue
			case '\n':
				continue
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for i := 0; i < 2 && l.pos < len(l.b) && l.b[l.pos] >= '0' && l.b[l.pos] <= '7'; i++ {
					v = v*8 + int(l.b[l.pos]-'0')
					l.pos++
				}
				c = byte(v)
			default:
				c = e // \( \) \\ and unknown escapes: the character
			}
		}
		out = append(out, c)
	}
	return nil, fmt.Errorf("%w: unterminated string", errSyntax)
}

// hex reads a <hex string>.
func (l *lexer) hex() ([]byte, error) {
	l.pos++ // <
	var out []byte
	var hi byte
	half := false
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		if c == '>' {
			if half {
				out = append(out, hi<<4)
			}
			return out, nil
		}
		v, ok := hexVal(c)
		if !ok {
			if isSpace(c) {
				continue
			}
			return nil, fmt.Errorf("%w: %q in a hex string", errSyntax, c)
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	return nil, fmt.Errorf("%w: unterminated hex string", errSyntax)
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescapeName resolves #xx in a name (7.3.5).
func unescapeName(b []byte) string {
	if bytes.IndexByte(b, '#') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '#' && i+2 < len(b) {
			h, ok1 := hexVal(b[i+1])
			lo, ok2 := hexVal(b[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}
