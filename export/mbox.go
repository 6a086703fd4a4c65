package export

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	"jarchive/archive"
)

var from = []byte("From ")

// fromLine is the From_ line of a message: its envelope sender (when it is
// one word of an address's characters) and its date (else the time it was
// archived) in asctime form. Readers, jarchive import among them, tell a
// From_ line from a body line by that form (fetch.isFromLine).
func fromLine(rec *archive.Record) string {
	sender := rec.Sender
	if sender == "" || strings.ContainsAny(sender, " \t\r\n:<>()[],;\"") {
		sender = "MAILER-DAEMON"
	}
	t := rec.Header.Date
	if t.IsZero() {
		t = rec.Added
	}
	return "From " + sender + " " + t.UTC().Format(time.ANSIC) + "\n"
}

// writeMboxrd writes one mboxrd member: the From_ line, the message with
// every line matching ^>*From  quoted with one more ">", a newline when the
// message lacks a final one (added reports it), and the blank line that
// ends it. n is the number of bytes of the message read.
func writeMboxrd(w io.Writer, r io.Reader, rec *archive.Record) (n int64, added bool, err error) {
	if _, err := io.WriteString(w, fromLine(rec)); err != nil {
		return 0, false, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	atStart, last := true, byte('\n')
	for {
		if atStart && needsQuote(br) {
			if _, err := w.Write([]byte{'>'}); err != nil {
				return n, false, err
			}
		}
		frag, rerr := br.ReadSlice('\n')
		if len(frag) > 0 {
			n += int64(len(frag))
			last = frag[len(frag)-1]
			atStart = last == '\n'
			if _, err := w.Write(frag); err != nil {
				return n, false, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != bufio.ErrBufferFull {
			return n, false, rerr
		}
	}
	end := "\n"
	if n > 0 && last != '\n' {
		end, added = "\n\n", true
	}
	_, err = io.WriteString(w, end)
	return n, added, err
}

// needsQuote reports whether the line at the reader's position matches
// ^>*From .
func needsQuote(br *bufio.Reader) bool {
	for k := 0; ; k++ {
		p, err := br.Peek(k + len(from))
		if len(p) > k && p[k] == '>' {
			if err != nil {
				return false
			}
			continue
		}
		return err == nil && bytes.Equal(p[k:], from)
	}
}

// unquoteMboxrd removes one ">" from every line of b matching ^>+From .
func unquoteMboxrd(line []byte) []byte {
	k := 0
	for k < len(line) && line[k] == '>' {
		k++
	}
	if k > 0 && bytes.HasPrefix(line[k:], from) {
		return line[1:]
	}
	return line
}
