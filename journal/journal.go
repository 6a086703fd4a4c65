// Package journal reads the envelope of a fetched message: who really sent
// it and who really received it, Bcc and expanded distribution lists
// included, and where in the input the message to archive is.
//
// # Modes
//
// The mode (config.EnvelopeMode, per account) says where the envelope is:
//
//   - journal (the default): the message is a Microsoft Exchange / Exchange
//     Online journal report, detected by its top-level header only: an
//     X-MS-Journal-Report field (any case, any value; also its transport name
//     X-MS-Exchange-Organization-Journal-Report), or Content-Identifier:
//     ExJournalReport (Exchange 2003; the misspelling Content-Identifer too).
//     Never by sender or subject: the report's own From, To, Cc and Subject
//     are copies of the original's and are never the envelope. The envelope
//     is the first text/plain part, the original the message/rfc822 part. A
//     message that is not a journal report falls back to its own headers as
//     in mode off (StatusFallback).
//   - off: the message's own From and Sender (the sender) and To, Cc, Bcc,
//     Resent-To, Resent-Cc and Resent-Bcc (the recipients).
//   - header (x-envelope-to, x-original-to, delivered-to, header:NAME): every
//     instance of the named header, top to bottom, each split into its
//     addresses. Without one the message falls back to its own headers
//     (StatusFallback).
//
// # Journal report format
//
// The envelope part (Exchange 2007 and later) is a list of lines, CRLF or
// LF, in any transfer encoding (7bit, 8bit, binary, quoted-printable,
// base64) and charset, folded lines unfolded:
//
//	Sender: <addr>
//	On-Behalf-Of: <addr>                       only for delegated sends
//	Subject: <subject>                         raw text, no RFC 2047
//	Message-Id: <message id of the original>   "Unknown Message-ID" if none
//	To: <addr>[, Expanded: <group>|, Forwarded: <addr>]   one line per recipient,
//	Cc: ...  Bcc: ...  Recipient: ...                      also for Cc, Bcc, Recipient
//
// Exchange 2003 writes Sender and Message-ID lines, then "Recipients:" alone
// on a line followed by `"Name" <smtp:addr>` entries, one per line,
// comma-separated. Unknown lines are ignored. Addresses are kept as written
// (display name, angle brackets and "smtp:" removed); NormalizeAddr gives
// the form to compare them in. With journal report decryption a second
// message/rfc822 part holds the decrypted copy of a protected original
// (Envelope.Decrypted). ../shared/corpus/journal/FORMAT.md in the
// development tree has the sources.
//
// # Failure
//
// Parse never fails outright and never panics. A message that cannot be
// used as the mode asks gives an Envelope whose Status is StatusFailed, with
// the reason, and whose original is the whole input, so it is archived raw
// and counted: an input without a usable header block, a journal report
// that is not multipart, lacks its closing boundary, envelope part or
// original (or has a TNEF original), or holds parts that would otherwise be
// lost. Everything noticed on the way, fatal or not, is in Problems.
//
// # Bounds
//
// A header line over 256 KiB or a header block over 1 MiB is an error (for
// the top-level header: StatusFailed), the decoded envelope part is read up
// to 8 MiB, a report may have 100 parts. Bodies, the original included, are
// streamed through fixed buffers and never held in memory.
package journal

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"jarchive/config"
)

// Status says how far parsing got.
type Status int

const (
	// StatusOK: the envelope was read as the mode asks.
	StatusOK Status = iota
	// StatusFallback: the mode's envelope is missing (journal mode: not a
	// journal report; header mode: no such header); the envelope comes from
	// the message's own headers.
	StatusFallback
	// StatusFailed: the message could not be parsed, or is a broken journal
	// report; it is archived raw, the original is the whole input.
	StatusFailed
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusFallback:
		return "fallback"
	default:
		return "failed"
	}
}

// Format names the journal report syntax.
const (
	FormatExchange2007 = "exchange2007+"
	FormatExchange2003 = "exchange2003"
)

// Recipient is one envelope recipient.
type Recipient struct {
	// Addr is the address as written: display name, angle brackets and an
	// "smtp:" prefix removed, case and IDN form kept. Compare
	// NormalizeAddr(Addr).
	Addr string `json:"addr"`
	// Field is to, cc, bcc or recipient (the basic field of inbound mail
	// and Exchange 2003 lists) for journal reports and modes off and
	// journal-fallback; header for the header modes.
	Field         string `json:"field"`
	ExpandedFrom  string `json:"expanded_from,omitempty"`  // the distribution group it was expanded from
	ForwardedFrom string `json:"forwarded_from,omitempty"` // the recipient it was forwarded for
}

// Normalized returns NormalizeAddr(r.Addr).
func (r Recipient) Normalized() (string, bool) { return NormalizeAddr(r.Addr) }

// Envelope is what Parse learned about one message.
type Envelope struct {
	Status Status
	Reason string // why Status is not StatusOK
	Mode   config.EnvelopeMode
	// Problems lists everything noticed, fatal or not, whatever the Status:
	// malformed header lines, a missing envelope part or closing boundary,
	// addresses that are not addresses...
	Problems []string

	Journal    bool   // a journal report (journal mode), whatever else went wrong
	Format     string // FormatExchange2007, FormatExchange2003 or ""
	Sender     string // envelope Sender; else the Sender header when it differs from From, else From
	OnBehalfOf string // envelope On-Behalf-Of; else the From address when Sender is someone else
	Subject    string // envelope Subject line (journal reports)
	// MessageID is the envelope Message-Id of a journal report as written
	// (when the envelope has none: the original's own Message-ID, except for
	// a failed report, which keeps only what its envelope says), or the
	// message's own Message-ID.
	MessageID  string
	Recipients []Recipient
	// Text is the decoded envelope part of a journal report, kept as
	// evidence (at most 8 MiB).
	Text string

	// OriginalPresent: the journal report has a message/rfc822 part, even
	// when Status is StatusFailed.
	OriginalPresent bool
	// MessageParts counts the message/rfc822 (and message/global) parts
	// directly under a journal report's top-level multipart.
	MessageParts int

	// OriginalOffset and OriginalSize locate the original message in the
	// input: the message/rfc822 part of a journal report, or all of it.
	OriginalOffset, OriginalSize int64
	// OriginalEncoding is the transfer encoding of a message/rfc822 part
	// that is (against RFC 2046) base64 or quoted-printable; "" otherwise.
	OriginalEncoding string
	// ContentKey is the hex SHA-256 of the original without its transport
	// header fields (see transportFields): copies of one message that
	// differ only in those have the same key. Empty for StatusFailed.
	ContentKey string

	// DecryptedOffset, DecryptedSize and DecryptedEncoding locate the
	// decrypted copy of a protected original (journal report decryption:
	// the second message/rfc822 part); DecryptedSize is 0 when there is
	// none. DecryptedContentKey is its content key.
	DecryptedOffset, DecryptedSize int64
	DecryptedEncoding              string
	DecryptedContentKey            string

	// Header summarises the original message's own header (for a broken
	// report without an original: the report's).
	Header Summary
}

// Summary is the part of the original's header an archive shows in lists.
type Summary struct {
	From      []string  `json:"from,omitempty"`
	To        []string  `json:"to,omitempty"`
	Cc        []string  `json:"cc,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Date      time.Time `json:"date,omitzero"`
	MessageID string    `json:"message_id,omitempty"`
}

// Original returns a reader of the original message's bytes, decoded when
// the message/rfc822 part had a transfer encoding.
func (e *Envelope) Original(r io.ReaderAt) io.Reader {
	return decodedSection(r, e.OriginalOffset, e.OriginalSize, e.OriginalEncoding)
}

// Decrypted returns a reader of the decrypted copy of a journal report's
// protected original, or nil when there is none.
func (e *Envelope) Decrypted(r io.ReaderAt) io.Reader {
	if e.DecryptedSize <= 0 {
		return nil
	}
	return decodedSection(r, e.DecryptedOffset, e.DecryptedSize, e.DecryptedEncoding)
}

func decodedSection(r io.ReaderAt, off, size int64, enc string) io.Reader {
	sr := io.NewSectionReader(r, off, size)
	switch enc {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: sr})
	case "quoted-printable":
		return quotedprintable.NewReader(sr)
	}
	return sr
}

// Parse reads the envelope of the message of size bytes in r according to
// mode. It always returns a usable Envelope; see Status and Problems.
func Parse(r io.ReaderAt, size int64, mode config.EnvelopeMode) (env *Envelope) {
	size = max(size, 0)
	e := &Envelope{Mode: mode, OriginalSize: size}
	defer func() {
		if p := recover(); p != nil {
			// A bug, not an input problem: still archive the message raw.
			env = &Envelope{Mode: mode, OriginalSize: size, Status: StatusFailed,
				Reason: fmt.Sprintf("internal error: %v", p)}
			env.Problems = []string{env.Reason}
		}
	}()
	p := &parser{r: r, size: size, e: e}
	p.parse()
	e.Problems = p.probs.result()
	return e
}

type parser struct {
	r     io.ReaderAt
	size  int64
	e     *Envelope
	probs problems
	fatal []string // why a journal report is archived raw
}

func (p *parser) parse() {
	e := p.e
	if p.size == 0 {
		p.failWhole("empty message")
		return
	}
	lr := newLineReader(io.NewSectionReader(p.r, 0, p.size), 0)
	defer lr.release()
	var hp problems
	h, err := readHeader(lr, &hp)
	p.probs.from("header: ", &hp)
	format := journalFormat(h)
	if err != nil {
		if format != "" && e.Mode.Kind == config.EnvelopeJournal {
			e.Journal, e.Format = true, format
		}
		e.Header = summarize(h)
		p.failWhole("header: %v", err)
		return
	}
	if len(h) == 0 {
		p.failWhole("no header fields")
		return
	}
	switch e.Mode.Kind {
	case config.EnvelopeJournal:
		if format != "" {
			e.Journal, e.Format = true, format
			p.parseReport(h, lr)
			return
		}
		p.fromHeaders(h, true)
		p.fallback("not a journal report: envelope from the message's own headers")
	case config.EnvelopeOff:
		p.notUnwrapped(format)
		p.fromHeaders(h, true)
	case config.EnvelopeHeader:
		p.notUnwrapped(format)
		p.fromHeaders(h, false)
		for _, v := range h.values(e.Mode.Header) {
			for _, a := range parseAddrList(v) {
				if _, ok := NormalizeAddr(a); !ok {
					p.probs.addf("%s: %q is not an e-mail address", e.Mode.Header, a)
				}
				e.Recipients = append(e.Recipients, Recipient{Addr: a, Field: "header"})
			}
		}
		if len(e.Recipients) == 0 {
			p.fromHeaders(h, true)
			p.fallback("no %s header with an address: envelope from the message's own headers", e.Mode.Header)
		}
	}
	p.wholeContentKey()
}

// journalFormat detects a journal report by its top-level header and
// returns its format, or "" for a message that is not one.
func journalFormat(h header) string {
	// Exchange tests presence only; the header is empty in practice.
	if h.has("X-MS-Journal-Report") || h.has("X-MS-Exchange-Organization-Journal-Report") {
		return FormatExchange2007
	}
	// Exchange also accepts the misspelling Content-Identifer.
	for _, k := range []string{"Content-Identifier", "Content-Identifer"} {
		for _, v := range h.values(k) {
			if strings.EqualFold(strings.TrimSpace(v), "ExJournalReport") {
				return FormatExchange2003
			}
		}
	}
	return ""
}

func (p *parser) notUnwrapped(format string) {
	if format != "" {
		p.probs.addf("a journal report (%s), read in envelope mode %s: envelope not unwrapped", format, p.e.Mode)
	}
}

func (p *parser) fallback(format string, args ...any) {
	p.e.Status = StatusFallback
	p.e.Reason = fmt.Sprintf(format, args...)
	p.probs.addf("%s", p.e.Reason)
}

// failWhole marks the message failed: archived raw, whole.
func (p *parser) failWhole(format string, args ...any) {
	e := p.e
	e.Status = StatusFailed
	e.Reason = fmt.Sprintf(format, args...)
	p.probs.addf("%s", e.Reason)
	p.raw()
}

// raw makes the whole input the original.
func (p *parser) raw() {
	e := p.e
	e.OriginalOffset, e.OriginalSize, e.OriginalEncoding = 0, p.size, ""
	e.DecryptedOffset, e.DecryptedSize, e.DecryptedEncoding, e.DecryptedContentKey = 0, 0, "", ""
	e.ContentKey = ""
}

// wholeContentKey sets the content key of a message that is its own
// original.
func (p *parser) wholeContentKey() {
	key, err := contentKey(io.NewSectionReader(p.r, 0, p.size))
	if err != nil {
		p.failWhole("read: %v", err)
		return
	}
	p.e.ContentKey = key
}

// fromHeaders fills the envelope from the message's own header: the sender
// from From and Sender, the recipients (when rcpts) from To, Cc, Bcc and
// Resent-To, Resent-Cc, Resent-Bcc, the Message-ID and the summary.
func (p *parser) fromHeaders(h header, rcpts bool) {
	e := p.e
	e.Header = summarize(h)
	e.MessageID = e.Header.MessageID
	e.Sender, e.OnBehalfOf = "", ""
	from, sender := firstAddr(h, "From"), firstAddr(h, "Sender")
	switch {
	case from != "" && sender != "" && !sameAddr(from, sender):
		e.Sender, e.OnBehalfOf = sender, from
	case from != "":
		e.Sender = from
	default:
		e.Sender = sender
	}
	if !rcpts {
		return
	}
	e.Recipients = nil
	for _, f := range [...]struct{ name, field string }{
		{"To", "to"}, {"Cc", "cc"}, {"Bcc", "bcc"},
		{"Resent-To", "to"}, {"Resent-Cc", "cc"}, {"Resent-Bcc", "bcc"},
	} {
		for _, v := range h.values(f.name) {
			for _, a := range parseAddrList(v) {
				if _, ok := NormalizeAddr(a); !ok {
					p.probs.addf("%s: %q is not an e-mail address", f.name, a)
				}
				e.Recipients = append(e.Recipients, Recipient{Addr: a, Field: f.field})
			}
		}
	}
}

func firstAddr(h header, name string) string {
	if l := parseAddrList(h.get(name)); len(l) > 0 {
		return l[0]
	}
	return ""
}

// parseReport reads a journal report's body: lr is at its start.
func (p *parser) parseReport(h header, lr *lineReader) {
	e := p.e
	defer func() {
		if len(p.fatal) > 0 {
			// A damaged report is archived whole (raw): it is the only
			// evidence of what was sent and to whom.
			e.Status = StatusFailed
			e.Reason = "journal report: " + strings.Join(p.fatal, "; ")
			p.raw()
		}
		if !e.OriginalPresent {
			e.Header = summarize(h)
		}
		if e.Status == StatusOK && e.MessageID == "" && e.Header.MessageID != "" {
			e.MessageID = e.Header.MessageID
			p.probs.addf("envelope: no Message-Id; the original's Message-ID is used")
		}
	}()
	ct := h.get("Content-Type")
	boundary := param(ct, "boundary")
	if !strings.HasPrefix(mediaType(ct), "multipart/") || boundary == "" {
		p.fatalf("not multipart (Content-Type %q)", ct)
		return
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		p.probs.addf("header: Content-Type %q: %v", ct, err)
	}
	parts, closed, err := splitMultipart(lr, boundary)
	if err != nil {
		p.fatalf("%v", err)
	}
	if !closed && err == nil {
		p.fatalf("no closing boundary (truncated?)")
	}
	var envPart *part
	var msgParts []*part
	tnef := false
	for _, pt := range parts {
		p.probs.from(fmt.Sprintf("part %d header: ", pt.index), &pt.problems)
		if pt.err != nil {
			p.fatalf("part %d: header: %v", pt.index, pt.err)
			continue
		}
		switch mt := pt.mediaType(); {
		case mt == "text/plain" && envPart == nil:
			envPart = pt
		case mt == "message/rfc822" || mt == "message/global":
			msgParts = append(msgParts, pt)
		case p.emptyPart(pt):
			p.probs.addf("part %d (%s) is empty", pt.index, mt)
		default:
			if mt == "application/ms-tnef" || mt == "application/vnd.ms-tnef" ||
				strings.EqualFold(param(pt.header.get("Content-Disposition"), "filename"), "winmail.dat") {
				tnef = true
			}
			p.fatalf("unexpected part %d (%s)", pt.index, mt)
		}
	}
	e.MessageParts = len(msgParts)

	if envPart == nil {
		p.fatalf("no envelope part (text/plain)")
	} else {
		var ep problems
		e.Text = decodeText(p.r, envPart, &ep)
		found := e.parseEnvelope(e.Text, &ep)
		p.probs.from("envelope: ", &ep)
		switch {
		case !found:
			p.fatalf("the envelope part has no envelope lines (Sender, Message-Id, To, Cc, Bcc, Recipient)")
		case len(e.Recipients) == 0:
			p.probs.addf("envelope: no recipients")
		}
		if found && e.Sender == "" {
			p.probs.addf("envelope: no sender")
		}
	}

	switch {
	case len(msgParts) == 0 && tnef:
		p.fatalf("the original is TNEF (application/ms-tnef), not a MIME message")
	case len(msgParts) == 0:
		p.fatalf("no original message (message/rfc822 part)")
	case len(msgParts) > 2:
		p.fatalf("%d message/rfc822 parts; a report has the original and at most a decrypted copy", len(msgParts))
	}
	if len(msgParts) == 0 {
		return
	}
	// The report's structure is sound: the original and the envelope are
	// all it holds, so storing them loses nothing, whatever the original
	// is. Only an original whose header ran into the part's (no empty line
	// after the part header) would be stored without its header.
	orig := msgParts[0]
	p.runIn(orig)
	if p.emptyPart(orig) {
		p.probs.addf("the original (part %d) is empty", orig.index)
	}
	e.OriginalPresent = true
	e.OriginalOffset, e.OriginalSize = orig.body, orig.end-orig.body
	e.OriginalEncoding = p.messageEncoding(orig)
	oh := p.readOriginalHeader("original", e.Original(p.r))
	e.Header = summarize(oh)
	key, err := contentKey(e.Original(p.r))
	if err != nil {
		p.fatalf("original: %s: %v", cteName(e.OriginalEncoding), err)
		return
	}
	e.ContentKey = key

	if len(msgParts) < 2 {
		return
	}
	dec := msgParts[1]
	p.runIn(dec)
	if p.emptyPart(dec) {
		p.probs.addf("part %d: the second message/rfc822 part (decrypted copy) is empty", dec.index)
		return
	}
	if !protected(oh) {
		p.probs.addf("part %d: a second message/rfc822 part, but the original does not look protected (rpmsg); taken as the decrypted copy", dec.index)
	}
	e.DecryptedOffset, e.DecryptedSize = dec.body, dec.end-dec.body
	e.DecryptedEncoding = p.messageEncoding(dec)
	p.readOriginalHeader("decrypted copy", e.Decrypted(p.r))
	key, err = contentKey(e.Decrypted(p.r))
	if err != nil {
		p.fatalf("decrypted copy: %s: %v", cteName(e.DecryptedEncoding), err)
		return
	}
	e.DecryptedContentKey = key
}

// runIn makes it fatal when a message/rfc822 part's header has fields of a
// message header: the embedded message's header ran into the part's.
func (p *parser) runIn(pt *part) {
	for _, f := range pt.header {
		switch strings.ToLower(f.name) {
		case "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "received", "return-path", "reply-to", "in-reply-to", "references":
			p.fatalf("part %d: its header has %s: the embedded message's header ran into it", pt.index, f.name)
			return
		}
	}
}

func (p *parser) fatalf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	p.fatal = append(p.fatal, s)
	p.probs.addf("%s", s)
}

// messageEncoding returns the transfer encoding of a message/rfc822 part
// that must be decoded: base64 or quoted-printable (RFC 2046 section 5.2.1
// forbids both, but they occur); "" for 7bit, 8bit, binary and none.
func (p *parser) messageEncoding(pt *part) string {
	switch cte := strings.ToLower(strings.TrimSpace(pt.header.get("Content-Transfer-Encoding"))); cte {
	case "base64", "quoted-printable":
		p.probs.addf("part %d: message/rfc822 part in %s", pt.index, cte)
		return cte
	case "", "7bit", "8bit", "binary":
		return ""
	default:
		p.probs.addf("part %d: unknown Content-Transfer-Encoding %q, kept as it is", pt.index, cte)
		return ""
	}
}

func cteName(enc string) string {
	if enc == "" {
		return "read"
	}
	return enc
}

// readOriginalHeader reads the header of an embedded message; problems are
// noted, not fatal: the message is stored byte for byte whatever it holds.
func (p *parser) readOriginalHeader(what string, r io.Reader) header {
	lr := newLineReader(r, 0)
	defer lr.release()
	var hp problems
	h, err := readHeader(lr, &hp)
	p.probs.from(what+" header: ", &hp)
	if err != nil {
		p.probs.addf("%s header: %v", what, err)
	}
	if len(h) == 0 {
		p.probs.addf("%s: no header fields", what)
	}
	return h
}

// emptyPart reports whether a part's body is empty or white space only.
func (p *parser) emptyPart(pt *part) bool {
	if pt.end-pt.body > 4096 {
		return false
	}
	var buf [512]byte
	for off := pt.body; off < pt.end; {
		b := buf[:min(int64(len(buf)), pt.end-off)]
		n, _ := p.r.ReadAt(b, off)
		if len(bytes.TrimSpace(b[:n])) > 0 || n == 0 {
			return false
		}
		off += int64(n)
	}
	return true
}

// protected reports whether a message is rights-protected (IRM): Exchange
// sends it with Content-Class rpmsg.message and a message.rpmsg attachment.
func protected(h header) bool {
	return strings.Contains(strings.ToLower(h.get("Content-Class")), "rpmsg") ||
		strings.Contains(strings.ToLower(h.get("Content-Type")), "rpmsg")
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

func summarize(h header) Summary {
	s := Summary{
		From:      addrList(h, "From"),
		To:        addrList(h, "To"),
		Cc:        addrList(h, "Cc"),
		MessageID: messageID(h.get("Message-Id")),
	}
	if len(s.From) == 0 {
		s.From = addrList(h, "Sender")
	}
	subj := h.get("Subject")
	if d, err := wordDecoder.DecodeHeader(subj); err == nil {
		subj = d
	}
	s.Subject = strings.TrimSpace(toUTF8String(subj))
	if d, err := mail.ParseDate(h.get("Date")); err == nil {
		s.Date = d.UTC()
	}
	return s
}

// messageID returns the <id> in a Message-ID value, or the trimmed value
// when it has none.
func messageID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return toUTF8String(v[i : i+j+1])
		}
	}
	return toUTF8String(v)
}

// addrList returns the addresses of every instance of a header field, each
// as "Name <addr>" or "addr"; unparseable values are kept as written.
func addrList(h header, name string) []string {
	var out []string
	for _, v := range h.values(name) {
		if strings.TrimSpace(v) == "" {
			continue
		}
		ap := mail.AddressParser{WordDecoder: wordDecoder}
		list, err := ap.ParseList(v)
		if err != nil {
			if d, derr := wordDecoder.DecodeHeader(v); derr == nil {
				v = d
			}
			out = append(out, strings.TrimSpace(toUTF8String(v)))
			continue
		}
		for _, a := range list {
			if a.Name != "" {
				out = append(out, toUTF8String(a.Name+" <"+a.Address+">"))
			} else {
				out = append(out, toUTF8String(a.Address))
			}
		}
	}
	return out
}
