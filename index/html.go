package index

import (
	"bytes"
	"html"
	"io"
)

// stripHTML writes the text of an HTML document to s: tags, comments and the
// content of <script> and <style> elements are dropped, character references
// decoded, and block-level tags separate words. It is a small streaming state
// machine, not an HTML parser: it only has to find words, and it must survive
// anything. It returns errTextFull when s is full.
func stripHTML(s *textSink, r io.Reader) error {
	h := htmlStripper{s: s}
	err := feed(r, h.write)
	// After a failed write the sink is full and the flush writes nothing.
	if ferr := h.flush(); err == nil {
		err = ferr
	}
	return err
}

// maxPendingText is how much text the stripper collects before it writes
// it to the sink.
const maxPendingText = 16 << 10

const (
	htmlText     = iota
	htmlTagOpen  // after "<"
	htmlTagName  // in the name of a tag
	htmlTag      // in a tag, after its name
	htmlTagQuote // in a quoted attribute value
	htmlBang     // after "<!"
	htmlBangDash // after "<!-"
	htmlComment  // in "<!-- ... -->"
	htmlRaw      // in the content of <script> or <style>
	htmlEntity   // after "&"
)

const maxEntity = 32 // longest character reference decoded

type htmlStripper struct {
	s       *textSink
	state   int
	text    []byte // pending text, written at the next tag or when long
	name    []byte // tag name, lower case, at most 16 bytes
	closing bool   // the tag is an end tag
	quote   byte   // quote character of the attribute value
	dashes  int    // consecutive '-' seen in a comment
	raw     string // "</script" or "</style" while in htmlRaw
	rawN    int    // bytes of raw matched so far
	ent     []byte // character reference being read, including '&'
}

// write feeds p to the state machine. Where a state only waits for a few
// bytes (text for '<' or '&', a tag for its end or a quote, a comment for
// '-', a script for '<'), it skips to them at once; byte takes the rest one at a time.
func (h *htmlStripper) write(p []byte) error {
	for len(p) > 0 {
		i := 0
		switch h.state {
		case htmlText:
			for i < len(p) && p[i] != '<' && p[i] != '&' {
				i++
			}
			h.text = append(h.text, p[:i]...)
			if len(h.text) >= maxPendingText {
				if err := h.flush(); err != nil {
					return err
				}
			}
		case htmlTag:
			for i < len(p) && p[i] != '>' && p[i] != '"' && p[i] != '\'' {
				i++
			}
		case htmlTagQuote:
			if i = bytes.IndexByte(p, h.quote); i < 0 {
				i = len(p)
			}
		case htmlRaw:
			if h.rawN == 0 {
				if i = bytes.IndexByte(p, '<'); i < 0 {
					i = len(p)
				}
			}
		case htmlComment:
			if h.dashes == 0 {
				if i = bytes.IndexByte(p, '-'); i < 0 {
					i = len(p)
				}
			}
		}
		if i == len(p) {
			return nil
		}
		if err := h.byte(p[i]); err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

func (h *htmlStripper) byte(c byte) error {
	switch h.state {
	case htmlText:
		switch c {
		case '<':
			h.state = htmlTagOpen
			h.name, h.closing = h.name[:0], false
		case '&':
			h.state = htmlEntity
			h.ent = append(h.ent[:0], c)
		default:
			h.text = append(h.text, c)
			if len(h.text) >= maxPendingText {
				return h.flush()
			}
		}

	case htmlEntity:
		if isAlnum(c) || c == '#' {
			h.ent = append(h.ent, c)
			if len(h.ent) > maxEntity {
				h.text = append(h.text, h.ent...)
				h.state = htmlText
			}
			return nil
		}
		if c == ';' {
			h.ent = append(h.ent, c)
			h.text = append(h.text, html.UnescapeString(string(h.ent))...)
			h.state = htmlText
			return nil
		}
		// Without ';': UnescapeString knows the legacy forms ("&amp").
		h.text = append(h.text, html.UnescapeString(string(h.ent))...)
		h.state = htmlText
		return h.byte(c)

	case htmlTagOpen:
		switch {
		case c == '!':
			h.state = htmlBang
		case c == '/':
			h.closing = true
			h.state = htmlTagName
		case c == '?':
			h.state = htmlTag
		case isAlpha(c):
			h.state = htmlTagName
			return h.byte(c)
		default:
			// "a < b": not a tag.
			h.text = append(h.text, '<')
			h.state = htmlText
			return h.byte(c)
		}

	case htmlTagName:
		if isAlnum(c) {
			if len(h.name) < 16 {
				h.name = append(h.name, lower(c))
			}
			return nil
		}
		h.state = htmlTag
		return h.byte(c)

	case htmlTag:
		switch c {
		case '"', '\'':
			h.quote = c
			h.state = htmlTagQuote
		case '>':
			return h.endTag()
		}

	case htmlTagQuote:
		if c == h.quote {
			h.state = htmlTag
		}

	case htmlBang:
		if c == '-' {
			h.state = htmlBangDash
			return nil
		}
		h.state = htmlTag // <!DOCTYPE ...>, <![CDATA[ ...
		return h.byte(c)

	case htmlBangDash:
		if c == '-' {
			h.state = htmlComment
			h.dashes = 0
			return nil
		}
		h.state = htmlTag
		return h.byte(c)

	case htmlComment:
		switch {
		case c == '-':
			h.dashes++
		case c == '>' && h.dashes >= 2:
			h.state = htmlText
			h.text = append(h.text, ' ')
		default:
			h.dashes = 0
		}

	case htmlRaw:
		if lower(c) == h.raw[h.rawN] {
			h.rawN++
			if h.rawN == len(h.raw) {
				h.closing = true
				h.name = append(h.name[:0], h.raw[2:]...)
				h.state = htmlTag
			}
		} else if c == '<' {
			h.rawN = 1
		} else {
			h.rawN = 0
		}
	}
	return nil
}

// endTag is called at the '>' of a tag.
func (h *htmlStripper) endTag() error {
	h.state = htmlText
	name := string(h.name)
	if !h.closing && (name == "script" || name == "style") {
		h.state = htmlRaw
		h.raw = "</" + name
		h.rawN = 0
		return nil
	}
	if !inlineTags[name] {
		h.text = append(h.text, ' ')
	}
	return nil
}

// inlineTags do not separate words: "<b>Mül</b>ler" is one word.
var inlineTags = map[string]bool{
	"a": true, "abbr": true, "b": true, "big": true, "cite": true, "code": true,
	"em": true, "font": true, "i": true, "mark": true, "q": true, "s": true,
	"small": true, "span": true, "strike": true, "strong": true, "sub": true,
	"sup": true, "u": true, "wbr": true,
}

// flush writes the pending text.
func (h *htmlStripper) flush() error {
	if h.state == htmlEntity {
		h.text = append(h.text, html.UnescapeString(string(h.ent))...)
		h.ent = h.ent[:0]
		h.state = htmlText
	}
	if len(h.text) == 0 {
		return nil
	}
	err := h.s.write(h.text)
	h.text = h.text[:0]
	return err
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
