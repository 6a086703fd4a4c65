package index

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// Bounds of the extraction. Whatever lies beyond them is not indexed; the
// message itself is in the archive.
const (
	maxPartText    = 1 << 20 // text bytes kept per part
	maxText        = 4 << 20 // text bytes kept per message
	maxHTMLInput   = 8 << 20 // decoded HTML bytes read per part
	maxDepth       = 16      // nesting of multiparts and message/rfc822 parts
	maxParts       = 1000    // MIME parts visited per message
	maxNames       = 100     // attachment names kept per message
	maxNameLen     = 255     // bytes kept per attachment name
	maxHeaderBytes = 1 << 20 // header bytes read per message (and embedded message)

	maxAttText       = 4 << 20          // attachment text bytes kept per message
	maxAttInput      = 32 << 20         // decoded bytes of an attachment read for its text
	maxExtractTime   = 30 * time.Second // attachment extraction per message
	maxAttachmentRun = 10 * time.Second // one attachment (a pdftotext run)
)

var (
	errHeaderTooBig = errors.New("header exceeds 1 MiB")
	errTooManyParts = fmt.Errorf("more than %d parts", maxParts)
	errTooDeep      = fmt.Errorf("nested deeper than %d", maxDepth)
)

// extracted is the searchable content of a message body.
type extracted struct {
	Text          string   // text of the text/plain and text/html parts, white space collapsed
	AttText       string   // text of the attachments, white space collapsed
	Names         []string // file names of parts
	HasAttachment bool     // a part is an attachment (see isAttachment)
}

// extract reads a whole message (header and body) from r and returns its
// text and attachment names. It streams: memory is bounded by the limits
// above, not by the message size. On malformed input it returns what it could
// read together with the first problem it met; the result is usable either way.
func extract(r io.Reader) (extracted, error) {
	x := &extractor{deadline: time.Now().Add(maxExtractTime)}
	x.text.total = maxText
	x.att.total = maxAttText
	x.message(r, 0, "text/plain", false)
	x.text.endPart()
	x.att.endPart()
	return extracted{Text: x.text.String(), AttText: x.att.String(), Names: x.names, HasAttachment: x.hasAtt}, x.err
}

type extractor struct {
	text     textSink // body text
	att      textSink // attachment text
	names    []string
	hasAtt   bool
	parts    int
	deadline time.Time // for the text of attachments
	err      error
}

// fail records the first problem met. Its text is cut, as it may quote a
// long header line.
func (x *extractor) fail(err error) {
	if x.err == nil {
		x.err = err
		if msg := err.Error(); len(msg) > 200 {
			x.err = errors.New(strings.ToValidUTF8(msg[:200], "") + "...")
		}
	}
}

// message reads a header and then the entity it describes: a whole message,
// an embedded one (message/rfc822) or a part of a multipart. An embedded
// message also contributes its main header fields to the text, so a forwarded
// message is found by its subject and correspondents.
func (x *extractor) message(r io.Reader, depth int, defaultType string, embedded bool) {
	br := bufio.NewReader(r)
	h, rest, err := readHeader(br)
	if err != nil {
		x.fail(err)
		if errors.Is(err, errHeaderTooBig) {
			return
		}
	}
	var body io.Reader = br
	if len(rest) > 0 {
		body = io.MultiReader(bytes.NewReader(rest), br)
	}
	if embedded {
		mh := message.Header{Header: h}
		for _, k := range []string{"Subject", "From", "To", "Cc"} {
			v, _ := mh.Text(k) // on error: the raw value, good enough
			if v != "" {
				x.text.startPart(maxPartText)
				x.text.write([]byte(v))
				x.text.endPart()
			}
		}
	}
	x.entity(&h, body, depth, defaultType)
}

// entity extracts from one MIME entity whose header has been read; body is
// its raw (still transfer-encoded) body.
func (x *extractor) entity(h *textproto.Header, body io.Reader, depth int, defaultType string) {
	x.parts++
	if x.parts > maxParts {
		x.fail(errTooManyParts)
		return
	}
	mt, params := mediaType(h.Get("Content-Type"))
	if !strings.Contains(mt, "/") {
		mt, params = defaultType, nil
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] == "" {
		x.fail(fmt.Errorf("%s without boundary", mt))
		mt = "text/plain" // the best guess, as Python's email does
		h.Set("Content-Type", mt)
	}
	disp, dparams := mediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if name != "" {
		x.addName(name)
	}
	attachment := isAttachment(mt, disp, name)
	if attachment || (depth > 0 && (mt == "message/rfc822" || mt == "message/global")) {
		x.hasAtt = true
	}

	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth >= maxDepth {
			x.fail(errTooDeep)
			return
		}
		childType := "text/plain"
		if mt == "multipart/digest" {
			childType = "message/rfc822" // RFC 2046 section 5.1.5
		}
		// Of a multipart/alternative only the alternative with the
		// most text is indexed: the same words twice would double
		// the positions kept for phrases, and a text/plain "view
		// this in a browser" stub must not hide the HTML. Names and
		// attachments of every alternative are kept.
		alt := mt == "multipart/alternative"
		var best string
		sp := newPartSplitter(body, params["boundary"])
		for x.parts <= maxParts {
			p, err := sp.next()
			if err == io.EOF {
				break
			} else if err != nil {
				x.fail(err)
				break
			}
			if !alt {
				x.message(p, depth+1, childType, false)
				continue
			}
			main := x.text
			x.text = textSink{total: main.total}
			x.message(p, depth+1, childType, false)
			x.text.endPart()
			if x.text.Len() > len(best) {
				best = x.text.String()
			}
			x.text = main
		}
		if best != "" {
			x.text.startPart(len(best) + 1)
			x.text.write([]byte(best))
			x.text.endPart()
		}

	case mt == "message/rfc822" || mt == "message/global":
		if depth >= maxDepth {
			x.fail(errTooDeep)
			return
		}
		x.message(x.decode(h, body), depth+1, "text/plain", true)

	case attachment:
		x.attachment(h, body, mt, name)

	case mt == "text/plain" || mt == "text/html":
		if _, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil && h.Get("Content-Type") != "" {
			// go-message would not see the charset of a header
			// it cannot parse: give it the one we could read.
			h.Set("Content-Type", mt+formatCharset(params["charset"]))
		}
		r := x.decode(h, body)
		x.text.startPart(maxPartText)
		if mt == "text/html" {
			err := stripHTML(&x.text, io.LimitReader(r, maxHTMLInput))
			x.readErr(err)
		} else {
			x.readErr(x.text.readFrom(r))
		}
		x.text.endPart()
	}
}

func (x *extractor) readErr(err error) {
	if err != nil && err != errTextFull {
		x.fail(err)
	}
}

func formatCharset(cs string) string {
	if cs == "" {
		return ""
	}
	if s := mime.FormatMediaType("text/plain", map[string]string{"charset": cs}); s != "" {
		return s[len("text/plain"):]
	}
	return ""
}

// decode undoes the transfer encoding and, for text, the charset. An unknown
// encoding or charset is noted and the body used as it is.
func (x *extractor) decode(h *textproto.Header, body io.Reader) io.Reader {
	if cte := h.Get("Content-Transfer-Encoding"); cte != "" {
		// Seen in the wild: "quoted printable", "base64;", "8bits".
		l := strings.ToLower(cte)
		switch {
		case strings.Contains(l, "quoted"):
			h.Set("Content-Transfer-Encoding", "quoted-printable")
		case strings.Contains(l, "base64"):
			h.Set("Content-Transfer-Encoding", "base64")
		case strings.Contains(l, "bit") || strings.Contains(l, "binary") || strings.Contains(l, "plain"):
			h.Del("Content-Transfer-Encoding")
		}
	}
	e, err := message.New(message.Header{Header: *h}, body)
	if err != nil {
		x.fail(err)
	}
	return e.Body
}

func (x *extractor) addName(name string) {
	name = strings.TrimSpace(cleanText(name))
	if name == "" || len(x.names) >= maxNames {
		return
	}
	if len(name) > maxNameLen {
		i := maxNameLen
		for i > 0 && !utf8.RuneStart(name[i]) {
			i--
		}
		name = name[:i]
	}
	for _, n := range x.names {
		if n == name {
			return
		}
	}
	x.names = append(x.names, name)
}

// readHeader reads a header leniently, like Python's email parser: a leading
// mbox "From " line is skipped, and the header ends at the empty line or at
// the first line that is not a field (no colon, or a key with spaces), which
// is then the first line of the body and is returned as rest. It reads at
// most maxHeaderBytes. The error reports a malformed header; h and rest are
// usable even then.
func readHeader(br *bufio.Reader) (h textproto.Header, rest []byte, err error) {
	var key string
	var val []byte
	flush := func() {
		if key != "" {
			h.Add(key, string(bytes.TrimSpace(val)))
		}
		key, val = "", val[:0]
	}
	n := 0
	for first := true; ; first = false {
		line, err := readLine(br, &n)
		if err == errHeaderTooBig {
			flush()
			return h, nil, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			// The empty line, or the end of the input.
			flush()
			if err != nil && err != io.EOF {
				return h, nil, err
			}
			return h, nil, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key != "" {
				val = append(val, ' ')
				val = append(val, bytes.TrimSpace(line)...)
			}
		} else {
			flush()
			i := bytes.IndexByte(line, ':')
			k := bytes.TrimSpace(line[:max(i, 0)])
			switch {
			case i > 0 && validKey(k):
				key = string(k)
				val = append(val[:0], bytes.TrimRight(line[i+1:], "\r\n")...)
			case first && bytes.HasPrefix(line, []byte("From ")):
				// mbox separator
			default:
				return h, line, fmt.Errorf("header ended by non-field line %q", truncate(line, 40))
			}
		}
		if err != nil {
			flush()
			return h, nil, nil
		}
	}
}

// readLine returns the next line, with its line ending. n counts the bytes
// read so far against maxHeaderBytes.
func readLine(br *bufio.Reader, n *int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		*n += len(frag)
		if *n > maxHeaderBytes {
			return nil, errHeaderTooBig
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}

func validKey(k []byte) bool {
	for _, c := range k {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// mediaType parses a Content-Type or Content-Disposition value leniently.
// The type and parameter names are lower-cased. Parameter values are decoded
// from RFC 2231 (continuations and charsets) and, though no standard allows
// it, from RFC 2047 encoded words, as mail programs write them. Broken
// parameters are skipped rather than failing the whole value.
func mediaType(v string) (string, map[string]string) {
	if v == "" {
		return "", nil
	}
	parts := splitParams(v)
	mt := strings.TrimSpace(parts[0])
	if i := strings.IndexAny(mt, " \t\r\n"); i >= 0 {
		// A forgotten semicolon: "multipart/mixed boundary=x".
		mt, parts[0] = mt[:i], mt[i:]
	} else {
		parts = parts[1:]
	}
	mt = strings.ToLower(mt)
	type segment struct {
		n       int
		encoded bool
		value   string
	}
	var segs map[string][]segment
	var params map[string]string
	for _, p := range parts {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = unquote(strings.TrimSpace(val))
		if k == "" {
			continue
		}
		if base, rest, ok := strings.Cut(k, "*"); ok {
			// RFC 2231: name*=, name*0=, name*0*=, name*1*= ...
			s := segment{encoded: strings.HasSuffix(rest, "*") || rest == ""}
			num := strings.TrimSuffix(rest, "*")
			if num != "" {
				n, err := strconv.Atoi(num)
				if err != nil || n < 0 || n > 999 {
					continue
				}
				s.n = n
			}
			s.value = val
			if segs == nil {
				segs = make(map[string][]segment)
			}
			segs[base] = append(segs[base], s)
			continue
		}
		if params == nil {
			params = make(map[string]string)
		}
		if _, dup := params[k]; !dup {
			params[k] = decodeWords(val)
		}
	}
	for base, ss := range segs {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].n < ss[j].n })
		var cs string
		var b strings.Builder
		for i, s := range ss {
			v := s.value
			if s.encoded {
				if i == 0 {
					// charset'language'value
					if c, rest, ok := strings.Cut(v, "'"); ok {
						if _, rest, ok := strings.Cut(rest, "'"); ok {
							cs, v = c, rest
						}
					}
				}
				if u, err := url.PathUnescape(v); err == nil {
					v = u
				}
			}
			b.WriteString(v)
		}
		val := b.String()
		if cs != "" {
			val = decodeCharset(cs, val)
		}
		if params == nil {
			params = make(map[string]string)
		}
		params[base] = val // RFC 2231 wins over a plain fallback value
	}
	return mt, params
}

// splitParams splits at semicolons outside quoted strings.
func splitParams(v string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				parts = append(parts, v[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, v[start:])
}

func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' {
		return s
	}
	s = strings.TrimSuffix(s[1:], `"`)
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	if v, err := d.DecodeHeader(s); err == nil {
		return v
	}
	return s
}

func decodeCharset(cs, s string) string {
	switch strings.ToLower(cs) {
	case "utf-8", "us-ascii", "":
		return s
	}
	r, err := charset.Reader(cs, strings.NewReader(s))
	if err != nil {
		return s
	}
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(r, 4*maxNameLen)); err != nil {
		return s
	}
	return b.String()
}

// errTextFull reports that a part's or the message's text budget is used up.
var errTextFull = errors.New("text limit reached")

// textSink collects the text of a message. It collapses white space, turns
// bytes that are not UTF-8 into characters of Windows-1252 (the usual
// unlabelled 8-bit charset) and enforces the per-part and per-message limits.
type textSink struct {
	b        bytes.Buffer
	total    int  // bytes the message may still add
	part     int  // bytes the current part may still add
	space    bool // white space is pending
	carry    []byte
	carryBuf [utf8.UTFMax]byte
}

func (s *textSink) Len() int       { return s.b.Len() }
func (s *textSink) String() string { return s.b.String() }

func (s *textSink) startPart(limit int) {
	s.part = limit
	s.space = true
}

// endPart flushes an incomplete UTF-8 sequence held back by write.
func (s *textSink) endPart() {
	if len(s.carry) > 0 {
		c := s.carry
		s.carry = nil
		s.put(c, true)
	}
	s.space = true
	s.part = 0
}

// write adds text. It returns errTextFull once the limits are reached.
func (s *textSink) write(p []byte) error {
	if len(s.carry) > 0 {
		p = append(s.carry, p...)
		s.carry = nil
	}
	return s.put(p, false)
}

func (s *textSink) put(p []byte, final bool) error {
	for i := 0; i < len(p); {
		if s.part <= 0 || s.total <= 0 {
			return errTextFull
		}
		c := p[i]
		if c <= ' ' || c == 0x7f {
			s.space = true
			i++
			continue
		}
		if c < utf8.RuneSelf {
			// A run of printable ASCII, most text, in one write.
			j := i + 1
			for j < len(p) && p[j] > ' ' && p[j] < 0x7f {
				j++
			}
			if !s.sep() {
				continue // full
			}
			n := max(min(j-i, s.part, s.total), 0)
			s.b.Write(p[i : i+n])
			s.part -= n
			s.total -= n
			i += n
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n <= 1 {
			if !final && !utf8.FullRune(p[i:]) {
				// Maybe the start of a character that the next
				// write completes.
				s.carry = append(s.carryBuf[:0], p[i:]...)
				return nil
			}
			r, n = win1252(c), 1
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			s.space = true
		} else {
			s.rune(r)
		}
		i += n
	}
	return nil
}

// sep writes the pending separator, if any. It reports false, and marks
// the sink full, when there is no room for a word after it.
func (s *textSink) sep() bool {
	if s.space && s.b.Len() > 0 {
		if s.part < 2 || s.total < 2 {
			s.part = 0
			return false
		}
		s.b.WriteByte(' ')
		s.part--
		s.total--
	}
	s.space = false
	return true
}

func (s *textSink) rune(r rune) {
	if !s.sep() {
		return
	}
	n, _ := s.b.WriteRune(r)
	s.part -= n
	s.total -= n
}

// readFrom copies r into the sink until EOF or the limits.
func (s *textSink) readFrom(r io.Reader) error {
	return feed(r, s.write)
}

// feed reads r to its end and hands what it reads to write, until write
// fails. A reader that returns nothing 100 times in a row fails with
// io.ErrNoProgress, as in bufio.Reader.
func feed(r io.Reader, write func([]byte) error) error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for empty := 0; ; {
		n, err := r.Read(*bp)
		if n > 0 {
			empty = 0
			if werr := write((*bp)[:n]); werr != nil {
				return werr
			}
		} else if err == nil {
			if empty++; empty >= 100 {
				err = io.ErrNoProgress
			}
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// readBufs hold feed's input (a new 32 KiB buffer for each HTML part was
// 2% of what an import allocated).
var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// win1252 maps a byte of Windows-1252 to its character.
func win1252(c byte) rune {
	if c >= 0x80 && c < 0xa0 {
		return win1252C1[c-0x80]
	}
	return rune(c)
}

var win1252C1 = [32]rune{
	'€', ' ', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', ' ', 'Ž', ' ',
	' ', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', ' ', 'ž', 'Ÿ',
}

// cleanText returns s as valid UTF-8, reading invalid bytes as Windows-1252.
func cleanText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			r = win1252(s[i])
			n = 1
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}
