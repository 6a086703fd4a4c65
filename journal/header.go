package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits that keep parsing bounded whatever the input. A header block or a
// header line over its limit is an error; bodies are streamed, never held.
const (
	maxLineBytes     = 256 << 10 // one physical header line
	maxHeaderBytes   = 1 << 20   // one header block
	maxEnvelopeBytes = 8 << 20   // the decoded envelope part
	maxParts         = 100       // parts of a journal report's top-level multipart
	maxProblems      = 30        // problems recorded per message; more are counted
	bufSize          = 32 << 10  // read buffer
)

var (
	errLineTooLong   = errors.New("header line over 256 KiB")
	errHeaderTooLong = errors.New("header block over 1 MiB")
)

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

// lineReader reads lines from a stream and tracks the offset of each. Lines
// longer than the buffer come in pieces.
type lineReader struct {
	br   *bufio.Reader
	off  int64  // offset of the next byte
	cont bool   // the last piece did not end its line
	line []byte // assembles lines longer than the buffer
	// stop, when set, is a multipart delimiter: a header being read ends
	// before a line that starts with it.
	stop []byte
}

func newLineReader(r io.Reader, off int64) *lineReader {
	return &lineReader{br: getReader(r), off: off}
}

func (lr *lineReader) release() {
	if lr.br != nil {
		putReader(lr.br)
		lr.br = nil
	}
}

// piece returns the next piece of a line: the rest of a line with its line
// break, or as much of it as the buffer holds. start reports whether the
// piece begins a line. The slice is valid until the next call.
func (lr *lineReader) piece() (p []byte, off int64, start bool, err error) {
	p, err = lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || err == io.EOF && len(p) > 0 {
		err = nil
	}
	if err != nil {
		return nil, lr.off, false, err
	}
	off, start = lr.off, !lr.cont
	lr.off += int64(len(p))
	lr.cont = p[len(p)-1] != '\n'
	return p, off, start, nil
}

// nextLine returns the next whole line (from where the last piece ended),
// line break included, or errLineTooLong after max bytes. The slice is valid
// until the next call.
func (lr *lineReader) nextLine(max int) ([]byte, error) {
	p, _, _, err := lr.piece()
	if err != nil || !lr.cont {
		return p, err
	}
	lr.line = append(lr.line[:0], p...)
	for lr.cont {
		p, _, _, err := lr.piece()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(lr.line)+len(p) > max {
			return nil, errLineTooLong
		}
		lr.line = append(lr.line, p...)
	}
	return lr.line, nil
}

// field is one header field. The value is unfolded (line breaks removed,
// RFC 5322 section 2.2.3), trimmed, and otherwise raw: 8-bit bytes and
// RFC 2047 encoded words are left as they are.
type field struct {
	name, value string
}

// header is a header block, fields in order.
type header []field

// get returns the value of the first field called name (case-insensitive).
func (h header) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

func (h header) has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// values returns the values of every field called name, top to bottom.
func (h header) values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// readHeader reads a header block up to and including the empty line that
// ends it, or to the end of the input.
//
// It is lenient where real mail is sloppy and records each problem: a line
// that is not a field (an mbox "From " line, a line without colon, 8-bit
// bytes in the name) is skipped with its continuation lines; a continuation
// line before any field is read as a field; whitespace before the colon is
// allowed (RFC 5322 section 4.5.3, obsolete syntax); a UTF-8 byte order mark
// before the first field is dropped; a multipart delimiter (lr.stop) ends
// the block. It fails only on a line over
// maxLineBytes or a block over maxHeaderBytes, and then returns the fields
// read so far.
func readHeader(lr *lineReader, probs *problems) (header, error) {
	var h header
	var val []byte
	cur := -1         // index of the field whose value is in val
	skipping := false // continuation lines of a skipped line are skipped too
	total, n := 0, 0  // bytes and lines read
	flush := func() {
		if cur >= 0 {
			h[cur].value = string(bytes.TrimSpace(val))
			cur = -1
		}
	}
	for {
		if lr.stop != nil && !lr.cont {
			if b, _ := lr.br.Peek(len(lr.stop)); bytes.Equal(b, lr.stop) {
				flush()
				probs.addf("line %d: no empty line before the next boundary", n+1)
				return h, nil
			}
		}
		line, err := lr.nextLine(maxLineBytes)
		if err == io.EOF {
			flush()
			return h, nil
		}
		if err != nil {
			flush()
			return h, err
		}
		n++
		total += len(line)
		if total > maxHeaderBytes {
			flush()
			return h, errHeaderTooLong
		}
		t := trimEOL(line)
		if len(t) == 0 {
			flush()
			return h, nil
		}
		if n == 1 {
			t = bytes.TrimPrefix(t, []byte("\uFEFF"))
		}
		if t[0] == ' ' || t[0] == '\t' {
			if cur >= 0 {
				val = append(val, t...)
				continue
			}
			if skipping {
				continue
			}
			t = bytes.TrimLeft(t, " \t")
			if len(t) == 0 {
				probs.addf("line %d: blank line of spaces before any field", n)
				continue
			}
			probs.addf("line %d: indented line continues no field; read as a field", n)
		}
		flush()
		name, value, ok := bytes.Cut(t, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if !ok || !validFieldName(name) {
			skipping = true
			if n == 1 && bytes.HasPrefix(t, []byte("From ")) {
				probs.addf("line 1: mbox From_ line skipped")
			} else {
				probs.addf("line %d: not a header field, skipped: %s", n, quoteShort(t))
			}
			continue
		}
		skipping = false
		h = append(h, field{name: string(name)})
		cur = len(h) - 1
		val = append(val[:0], value...)
	}
}

// validFieldName reports whether b is an RFC 5322 field name: printable
// US-ASCII other than colon.
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// trimEOL removes a final LF, CRLF or CR.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// quoteShort quotes the start of b for a problem message.
func quoteShort(b []byte) string {
	const max = 40
	if len(b) > max {
		return fmt.Sprintf("%q...", toUTF8(b[:max]))
	}
	return fmt.Sprintf("%q", toUTF8(b))
}

// toUTF8 returns b as a string: unchanged when it is valid UTF-8, else read
// as ISO 8859-1 (raw 8-bit headers are mostly Latin-1 or UTF-8).
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/4)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// toUTF8String is toUTF8 for a string.
func toUTF8String(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return toUTF8([]byte(s))
}

// problems collects what parsing noticed, at most maxProblems of them.
type problems struct {
	list    []string
	dropped int
}

func (p *problems) addf(format string, args ...any) {
	if p == nil {
		return
	}
	if len(p.list) >= maxProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// from adds q's problems to p, each with prefix.
func (p *problems) from(prefix string, q *problems) {
	for _, s := range q.list {
		p.addf("%s%s", prefix, s)
	}
	p.dropped += q.dropped
}

func (p *problems) result() []string {
	if p.dropped > 0 {
		return append(p.list, fmt.Sprintf("%d more problems not listed", p.dropped))
	}
	return p.list
}
