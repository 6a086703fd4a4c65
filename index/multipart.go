package index

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errNoCloseDelimiter reports a multipart body that ends without its close
// delimiter, as truncated messages do. The parts read so far are kept.
var errNoCloseDelimiter = errors.New("multipart: missing close delimiter")

// partSplitter splits a multipart body (RFC 2046 section 5.1.1) into its
// parts. Unlike go-message's reader it only looks for delimiter lines: the
// parts, including their headers, are returned raw and parsed leniently by
// the caller, so one malformed part header does not lose the rest of the
// message. The CRLF before a delimiter is left at the end of the part, which
// does not matter for text extraction.
type partSplitter struct {
	br        *bufio.Reader
	dash      []byte // "--" + boundary
	lineStart bool   // the next fragment starts a line
	state     int
	part      int    // number of the current part, to retire old readers
	pending   []byte // rest of the fragment being read, in br's buffer
	readErr   error  // error of the last read, reported once pending is used
	err       error  // why the splitter ended, if not at the close delimiter
}

const (
	splitPreamble = iota // before the first delimiter
	splitPart            // in a part
	splitBetween         // a delimiter was just read
	splitEnd             // after the close delimiter, or at the end of input
)

func newPartSplitter(r io.Reader, boundary string) *partSplitter {
	return &partSplitter{
		br:        bufio.NewReaderSize(r, 8<<10),
		dash:      []byte("--" + boundary),
		lineStart: true,
	}
}

const (
	fragText = iota
	fragDelimiter
	fragClose
)

// fragment reads the next line, or the next piece of a line longer than the
// buffer, and tells whether it is a delimiter line.
func (s *partSplitter) fragment() ([]byte, int, error) {
	frag, err := s.br.ReadSlice('\n')
	start := s.lineStart
	s.lineStart = err == nil
	if err == bufio.ErrBufferFull {
		err = nil
	}
	if start && (s.lineStart || err == io.EOF) && bytes.HasPrefix(frag, s.dash) {
		switch string(bytes.TrimRight(frag[len(s.dash):], " \t\r\n")) {
		case "":
			return nil, fragDelimiter, nil
		case "--":
			return nil, fragClose, nil
		}
	}
	return frag, fragText, err
}

// next returns the next part, skipping what is left of the current one (or
// the preamble), and io.EOF after the last part.
func (s *partSplitter) next() (io.Reader, error) {
	s.pending = nil
	for s.state == splitPreamble || s.state == splitPart {
		if s.readErr != nil {
			s.end()
			break
		}
		_, kind, err := s.fragment()
		switch kind {
		case fragDelimiter:
			s.state = splitBetween
		case fragClose:
			s.state = splitEnd
		default:
			s.readErr = err
		}
	}
	if s.state == splitEnd {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	s.state = splitPart
	s.part++
	return &partReader{s: s, part: s.part}, nil
}

// end stops the splitter at a read error: the end of the input before the
// close delimiter, or a real error.
func (s *partSplitter) end() {
	s.state = splitEnd
	s.err = s.readErr
	if s.err == io.EOF {
		s.err = errNoCloseDelimiter
	}
}

// partReader reads one part, up to the next delimiter.
type partReader struct {
	s    *partSplitter
	part int
}

func (r *partReader) Read(p []byte) (int, error) {
	s := r.s
	if s.part != r.part || s.state != splitPart {
		return 0, io.EOF
	}
	for len(s.pending) == 0 {
		if s.readErr != nil {
			s.end()
			return 0, io.EOF
		}
		frag, kind, err := s.fragment()
		switch kind {
		case fragDelimiter:
			s.state = splitBetween
			return 0, io.EOF
		case fragClose:
			s.state = splitEnd
			return 0, io.EOF
		}
		// frag stays valid until the next read of br, which only
		// happens once it is consumed.
		s.pending, s.readErr = frag, err
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}
