package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Limits that keep parsing bounded whatever the input.
const (
	maxHeaderBytes   = 1 << 20 // one header block
	maxEnvelopeBytes = 4 << 20 // decoded envelope part
	maxParts         = 1000    // parts of the top-level multipart that are looked at
)

var errHeaderTooLong = errors.New("header block over 1 MiB")

// lineReader reads lines from a section of an io.ReaderAt and tracks the
// offset of each line. Lines longer than its buffer come in pieces; cont says
// that a piece does not start a line.
type lineReader struct {
	br   *bufio.Reader
	off  int64 // offset of the next byte to be returned
	cont bool  // the next piece continues a line
}

func newLineReader(r io.ReaderAt, off, size int64) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(io.NewSectionReader(r, off, size-off), 64<<10), off: off}
}

// next returns the next line piece, its offset and whether it starts a line.
// The returned slice is valid until the next call.
func (lr *lineReader) next() (line []byte, off int64, start bool, err error) {
	line, err = lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		err = nil
	} else if err == io.EOF && len(line) > 0 {
		err = nil
	}
	if err != nil {
		return nil, lr.off, false, err
	}
	off, start = lr.off, !lr.cont
	lr.off += int64(len(line))
	lr.cont = line[len(line)-1] != '\n'
	return line, off, start, nil
}

// readHeader reads a header block starting at off. It returns the header,
// the offset of the body (after the blank line) and an error for a block
// that is too long or malformed; a block ended by EOF is a header with an
// empty body.
func readHeader(r io.ReaderAt, off, end int64) (textproto.Header, int64, error) {
	lr := newLineReader(r, off, end)
	var buf bytes.Buffer
	for {
		line, _, start, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return textproto.Header{}, lr.off, err
		}
		if start && (len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n') {
			break
		}
		if buf.Len()+len(line) > maxHeaderBytes {
			return textproto.Header{}, lr.off, errHeaderTooLong
		}
		buf.Write(line)
	}
	body := lr.off
	buf.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&buf))
	if err != nil {
		return h, body, fmt.Errorf("header: %w", err)
	}
	return h, body, nil
}

// part is one body part of a multipart entity, by offsets into the input.
type part struct {
	header    textproto.Header
	headerErr error
	start     int64 // first byte of the part's header
	body      int64 // first byte of the part's body
	end       int64 // end of the body: the CRLF before the next delimiter is not part of it
}

func (p *part) mediaType() string {
	t, _, err := mime.ParseMediaType(p.header.Get("Content-Type"))
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.SplitN(p.header.Get("Content-Type"), ";", 2)[0]))
	}
	return t
}

// splitMultipart finds the parts of the multipart body in [off, end) with the
// given boundary (RFC 2046 section 5.1.1). closed reports whether the close
// delimiter was seen.
func splitMultipart(r io.ReaderAt, off, end int64, boundary string) (parts []*part, closed bool, err error) {
	delim := []byte("--" + boundary)
	lr := newLineReader(r, off, end)
	var cur *part
	prevEnd := int64(-1) // offset where the previous line's line break begins
	finish := func(at int64) {
		if cur == nil {
			return
		}
		cur.end = at
		if cur.end < cur.body {
			cur.end = cur.body
		}
		parts = append(parts, cur)
		cur = nil
	}
	for {
		line, loff, start, rerr := lr.next()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return parts, false, rerr
		}
		if start && bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			isClose := bytes.Equal(rest, []byte("--"))
			if isClose || len(rest) == 0 {
				at := loff
				if prevEnd >= 0 {
					at = prevEnd
				}
				finish(at)
				if isClose {
					return parts, true, nil
				}
				if len(parts) >= maxParts {
					return parts, false, fmt.Errorf("more than %d parts", maxParts)
				}
				cur = &part{start: lr.off}
				h, body, herr := readHeader(r, lr.off, end)
				cur.header, cur.body, cur.headerErr = h, body, herr
				// Continue scanning at the body.
				lr = newLineReader(r, body, end)
				prevEnd = -1
				continue
			}
		}
		// Where this line's line break starts, for the delimiter that may follow.
		n := len(line)
		switch {
		case n >= 2 && line[n-2] == '\r' && line[n-1] == '\n':
			prevEnd = loff + int64(n-2)
		case n >= 1 && line[n-1] == '\n':
			prevEnd = loff + int64(n-1)
		default:
			prevEnd = -1
		}
	}
	finish(end)
	return parts, false, nil
}
