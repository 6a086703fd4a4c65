package fetch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Quoting says how ">From " lines of an mbox are read back.
//
// Writers of mboxo quote a body line starting "From " as ">From " and leave
// ">From " alone; writers of mboxrd quote every line matching ^>*From  with
// one more ">". A file does not say which it is. Undoing one level of
// mboxrd quoting (QuotingMboxrd) gives the original of both kinds except a
// mboxo body line that started ">From " (it loses its ">"); QuotingMboxo
// undoes only the single ">From "; QuotingNone keeps the bytes as found.
type Quoting int

// The ways to read ">From " lines; the zero value is QuotingMboxrd.
const (
	QuotingMboxrd Quoting = iota
	QuotingMboxo
	QuotingNone
)

// ParseQuoting reads "mboxrd", "mboxo" or "none".
func ParseQuoting(s string) (Quoting, error) {
	switch s {
	case "mboxrd", "":
		return QuotingMboxrd, nil
	case "mboxo":
		return QuotingMboxo, nil
	case "none":
		return QuotingNone, nil
	}
	return 0, fmt.Errorf("mbox quoting %q is not one of mboxrd, mboxo, none", s)
}

func (q Quoting) String() string {
	switch q {
	case QuotingMboxo:
		return "mboxo"
	case QuotingNone:
		return "none"
	}
	return "mboxrd"
}

var (
	mboxFrom = []byte("From ")
	utf8BOM  = []byte("\xef\xbb\xbf")
)

// isMboxStart reports whether a file starting with head (at least its first
// 8 bytes, when it has them) is an mbox: it starts with "From ", after an
// optional UTF-8 byte order mark.
func isMboxStart(head []byte) bool {
	return bytes.HasPrefix(bytes.TrimPrefix(head, utf8BOM), mboxFrom)
}

// mboxSplitter streams the members of an mbox file.
//
// The file starts with a From_ line (after an optional UTF-8 byte order
// mark, which is dropped). After that, a separator is a line that looks
// like a From_ line (isFromLine): "From ", a sender, and either nothing more
// (when the sender is "-", "MAILER-DAEMON" or has an "@") or a date with a
// time of day and a year. Most writers put a blank line before it; Netscape
// and Thunderbird ("From - ...") often do not, and their unquoted body lines
// such as "From Russia with love" are no separators, so neither a blank
// line is required nor is every "From " line after one a separator. The
// separator line is not part of a member, nor is the blank line right
// before it, nor the blank line at the end of the file (mbox writers end
// every message with one). Content-Length headers (mboxcl) are not used.
//
// Quoted ">From " lines are unquoted as the Quoting says. Lines are read in
// bufio-sized fragments, so memory stays bounded whatever the line length;
// a line longer than the buffer is judged by its first 64 KiB.
type mboxSplitter struct {
	br          *bufio.Reader
	quoting     Quoting
	started     bool // the first From_ line was consumed
	eof         bool
	atLineStart bool
	prevBlank   bool
	off         int64 // bytes consumed from the reader
	nextFrom    int64 // offset of the From_ line of the member next returns
}

func newMboxSplitter(r io.Reader, q Quoting) *mboxSplitter {
	return &mboxSplitter{br: bufio.NewReaderSize(r, 64<<10), quoting: q, atLineStart: true}
}

// next writes the next member to w and returns its size and the file offset
// of the From_ line before it, or io.EOF when there are no more members.
func (s *mboxSplitter) next(w io.Writer) (n, from int64, err error) {
	if s.eof {
		return 0, 0, io.EOF
	}
	if !s.started {
		s.started = true
		if head, _ := s.br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
			s.discard(len(utf8BOM))
		}
		head, err := s.br.Peek(len(mboxFrom))
		if err != nil || !bytes.Equal(head, mboxFrom) {
			return 0, 0, fmt.Errorf("mbox does not start with a From_ line")
		}
		s.nextFrom = s.off
		if err := s.skipLine(); err != nil {
			return 0, 0, err
		}
	}
	from = s.nextFrom

	var pending []byte // a blank line held back until we know no separator follows
	write := func(b []byte) error {
		m, err := w.Write(b)
		n += int64(m)
		return err
	}
	for {
		lineOff := s.off
		frag, rerr := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		if len(frag) > 0 {
			complete := frag[len(frag)-1] == '\n'
			if s.atLineStart && isFromLine(frag) {
				// Separator: the member ends, a held blank line is dropped.
				s.prevBlank = false
				s.nextFrom = lineOff
				if !complete {
					if err := s.skipLine(); err != nil {
						return n, from, err
					}
				}
				return n, from, nil
			}
			if pending != nil {
				if err := write(pending); err != nil {
					return n, from, err
				}
				pending = nil
			}
			blank := s.atLineStart && complete && (len(frag) == 1 || (len(frag) == 2 && frag[0] == '\r'))
			switch {
			case blank:
				pending = bytes.Clone(frag)
			case s.atLineStart && s.unquote(frag):
				if err := write(frag[1:]); err != nil {
					return n, from, err
				}
			default:
				if err := write(frag); err != nil {
					return n, from, err
				}
			}
			s.prevBlank = blank
			s.atLineStart = complete
		}
		switch rerr {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			// The blank line at the end of the file is the last
			// message's separator, as before a From_ line.
			s.eof = true
			return n, from, nil
		default:
			return n, from, rerr
		}
	}
}

// unquote reports whether the line starting with frag loses its first ">".
func (s *mboxSplitter) unquote(frag []byte) bool {
	k := 0
	for k < len(frag) && frag[k] == '>' {
		k++
	}
	if k == 0 || !bytes.HasPrefix(frag[k:], mboxFrom) {
		return false
	}
	switch s.quoting {
	case QuotingMboxrd:
		return true
	case QuotingMboxo:
		return k == 1
	}
	return false
}

// skipLine discards the rest of the current line.
func (s *mboxSplitter) skipLine() error {
	for {
		frag, err := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		switch err {
		case nil:
			s.atLineStart = true
			return nil
		case bufio.ErrBufferFull:
		case io.EOF:
			return nil // next sees the EOF again
		default:
			return err
		}
	}
}

func (s *mboxSplitter) discard(n int) {
	m, _ := s.br.Discard(n)
	s.off += int64(m)
}

// isFromLine reports whether a line (or its first fragment) is an mbox
// From_ line: "From ", a sender (possibly empty, without any of :<>()[],;"),
// and then either nothing (when the sender is "-", "MAILER-DAEMON" or
// contains "@") or a date with a time of day
// (hh:mm) and a four-digit year, in whatever order and format: asctime
// ("Mon Jan  1 00:00:00 2024"), with a zone ("Wed Feb  9 22:02 MET 2000"),
// or Netscape's "From - Mon Jun  3 12:50:27 1996".
func isFromLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, mboxFrom)
	if !ok {
		return false
	}
	end := bytes.IndexAny(rest, " \t\r\n")
	if end < 0 {
		end = len(rest)
	}
	sender, date := rest[:end], bytes.TrimSpace(rest[end:])
	if bytes.ContainsAny(sender, ":<>()[],;\"") {
		return false // a header line such as "From  :<a@b>", not an envelope sender
	}
	if len(date) == 0 {
		return bytes.Equal(sender, []byte("-")) || bytes.EqualFold(sender, []byte("MAILER-DAEMON")) || bytes.IndexByte(sender, '@') >= 0
	}
	return hasTimeOfDay(date) && hasYear(date)
}

// hasTimeOfDay reports whether b contains h:mm or hh:mm.
func hasTimeOfDay(b []byte) bool {
	for i := 1; i+2 < len(b); i++ {
		if b[i] == ':' && isDigit(b[i-1]) && isDigit(b[i+1]) && isDigit(b[i+2]) {
			return true
		}
	}
	return false
}

// hasYear reports whether b contains a number of four digits (not part of
// a longer one): the year of a From_ line's date.
func hasYear(b []byte) bool {
	for i := 0; i+4 <= len(b); i++ {
		if (i > 0 && isDigit(b[i-1])) || (i+4 < len(b) && isDigit(b[i+4])) {
			continue
		}
		w := b[i : i+4]
		if isDigit(w[0]) && isDigit(w[1]) && isDigit(w[2]) && isDigit(w[3]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
