// Package journal reads the envelope of a fetched message: who really sent
// it and who really received it, Bcc and expanded distribution lists
// included.
//
// In the default mode it detects a Microsoft Exchange / Exchange Online
// journal report (the X-MS-Journal-Report header, or Content-Identifier:
// ExJournalReport for Exchange 2003), reads the envelope from the report's
// first text/plain part and locates the original message in its
// message/rfc822 part. The report's own From, To, Cc and Subject are copies
// of the original's and are never used as the envelope. Other modes read the
// message's own headers (off) or every instance of a named header
// (X-Envelope-To, X-Original-To, Delivered-To or any other).
//
// Parse never fails outright: a message that cannot be parsed gives an
// Envelope whose Status is StatusFailed, with the reason, and whose original
// is the whole input, so it is still archived raw and counted.
//
// The envelope part of a journal report (Exchange 2007 and later) is a list
// of lines, CRLF or LF, in any transfer encoding and charset:
//
//	Sender: <addr>
//	On-Behalf-Of: <addr>                       only for delegated sends
//	Subject: <subject>
//	Message-Id: <message id of the original>
//	To: <addr>[, Expanded: <group>|, Forwarded: <addr>]   one line per recipient,
//	Cc: ...  Bcc: ...  Recipient: ...                      also for Cc, Bcc, Recipient
//
// Exchange 2003 writes Sender and Message-ID lines, then "Recipients:" alone
// on a line followed by one address per line. Unknown lines are ignored.
// ../shared/corpus/journal/FORMAT.md in the development tree has the sources.
package journal

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"

	"jarchive/config"
)

// Status says how far parsing got.
type Status int

const (
	// StatusOK: the envelope was read as the mode asks.
	StatusOK Status = iota
	// StatusFallback: journal mode, but the message is not a journal
	// report; the envelope comes from the message's own headers.
	StatusFallback
	// StatusFailed: the message could not be parsed (or a journal report
	// lacks its envelope or original); it is archived raw.
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
	Addr          string `json:"addr"`
	Field         string `json:"field"` // to, cc, bcc, recipient, or the header name in header modes
	ExpandedFrom  string `json:"expanded_from,omitempty"`
	ForwardedFrom string `json:"forwarded_from,omitempty"`
}

// Envelope is what Parse learned about one message.
type Envelope struct {
	Status Status
	Reason string // why Status is not StatusOK
	Mode   config.EnvelopeMode

	Journal    bool   // a journal report, whatever else went wrong
	Format     string // FormatExchange2007, FormatExchange2003 or ""
	Sender     string // envelope sender (journal) or From address
	OnBehalfOf string
	Subject    string // envelope Subject line (journal)
	MessageID  string // envelope Message-Id (journal) or the message's own
	Recipients []Recipient
	// Text is the decoded envelope part of a journal report, kept as
	// evidence (bounded).
	Text string

	// OriginalOffset and OriginalSize locate the original message in the
	// input: the message/rfc822 part of a journal report, or all of it.
	OriginalOffset, OriginalSize int64
	// OriginalEncoding is the transfer encoding of a message/rfc822 part
	// that is (against RFC 2046) base64 or quoted-printable; "" otherwise.
	OriginalEncoding string

	// Header summarises the original message's own header.
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
	sr := io.NewSectionReader(r, e.OriginalOffset, e.OriginalSize)
	switch e.OriginalEncoding {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: sr})
	case "quoted-printable":
		return quotedprintable.NewReader(sr)
	}
	return sr
}

// Parse reads the envelope of the message of size bytes in r according to
// mode. It always returns a usable Envelope; see Status.
func Parse(r io.ReaderAt, size int64, mode config.EnvelopeMode) *Envelope {
	e := &Envelope{Mode: mode, OriginalSize: size}
	h, bodyOff, err := readHeader(r, 0, size)
	if err != nil {
		e.fail("message %v", err)
		return e
	}
	switch mode.Kind {
	case config.EnvelopeJournal:
		if format := journalFormat(h); format != "" {
			e.Journal, e.Format = true, format
			e.parseReport(r, size, h, bodyOff)
			return e
		}
		e.fromHeaders(h)
		e.Status, e.Reason = StatusFallback, "not a journal report: envelope from the message's own headers"
	case config.EnvelopeOff:
		e.fromHeaders(h)
	case config.EnvelopeHeader:
		e.Header = summarize(h)
		e.Sender = firstAddr(e.Header.From)
		e.MessageID = e.Header.MessageID
		for _, v := range h.Values(mode.Header) {
			for _, a := range splitAddrs(v) {
				e.Recipients = append(e.Recipients, Recipient{Addr: a, Field: strings.ToLower(mode.Header)})
			}
		}
		if len(e.Recipients) == 0 {
			e.Reason = "no " + mode.Header + " header"
		}
	}
	return e
}

func (e *Envelope) fail(format string, args ...any) {
	e.Status = StatusFailed
	e.Reason = fmt.Sprintf(format, args...)
}

// journalFormat detects a journal report by its top-level header and
// returns its format, or "" for a message that is not one.
func journalFormat(h textproto.Header) string {
	if h.Has("X-MS-Journal-Report") {
		return FormatExchange2007
	}
	// Exchange also accepts the misspelling Content-Identifer.
	for _, k := range []string{"Content-Identifier", "Content-Identifer"} {
		if strings.EqualFold(strings.TrimSpace(h.Get(k)), "ExJournalReport") {
			return FormatExchange2003
		}
	}
	return ""
}

// fromHeaders fills the envelope from the message's own header: From (or
// Sender) and To, Cc, Bcc, plus Resent-To/Cc/Bcc when present.
func (e *Envelope) fromHeaders(h textproto.Header) {
	e.Header = summarize(h)
	e.Sender = firstAddr(e.Header.From)
	e.MessageID = e.Header.MessageID
	for _, f := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range h.Values(f) {
			for _, a := range splitAddrs(v) {
				e.Recipients = append(e.Recipients, Recipient{Addr: a, Field: strings.ToLower(f)})
			}
		}
	}
}

func (e *Envelope) parseReport(r io.ReaderAt, size int64, h textproto.Header, bodyOff int64) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		e.fail("journal report is not multipart (Content-Type %q)", h.Get("Content-Type"))
		return
	}
	parts, closed, err := splitMultipart(r, bodyOff, size, params["boundary"])
	if err != nil {
		e.fail("journal report: %v", err)
		return
	}
	var problems []string
	if !closed {
		problems = append(problems, "no closing boundary")
	}
	var envPart, origPart *part
	for _, p := range parts {
		switch p.mediaType() {
		case "text/plain", "text/html":
			if envPart == nil && origPart == nil {
				envPart = p
			}
		case "message/rfc822":
			if origPart == nil && p.headerErr == nil {
				origPart = p
			}
		}
	}
	if envPart == nil {
		problems = append(problems, "no envelope part")
	} else {
		text, err := decodePart(r, envPart)
		if err != nil {
			problems = append(problems, fmt.Sprintf("envelope part: %v", err))
		}
		e.Text = text
		e.parseEnvelopeText(text)
	}
	if origPart == nil {
		problems = append(problems, "no original message (message/rfc822 part)")
	} else {
		e.OriginalOffset, e.OriginalSize = origPart.body, origPart.end-origPart.body
		switch cte := strings.ToLower(strings.TrimSpace(origPart.header.Get("Content-Transfer-Encoding"))); cte {
		case "base64", "quoted-printable":
			e.OriginalEncoding = cte
		}
		if e.OriginalEncoding == "" {
			// A malformed header in the original does not stop it from
			// being the original: it is stored as it is, byte for byte.
			oh, _, err := readHeader(r, e.OriginalOffset, origPart.end)
			e.Header = summarize(oh)
			if err != nil {
				e.Reason = fmt.Sprintf("original message: %v", err)
			}
		}
	}
	if e.MessageID == "" {
		e.MessageID = e.Header.MessageID
	}
	if len(problems) > 0 {
		// A damaged report is archived whole (raw): it is the only
		// evidence of what was sent and to whom.
		e.OriginalOffset, e.OriginalSize, e.OriginalEncoding = 0, size, ""
		if origPart == nil || e.Header.From == nil && e.Header.Subject == "" {
			e.Header = summarize(h)
		}
		e.fail("journal report: %s", strings.Join(problems, "; "))
	}
}

// decodePart returns the text of a part, transfer-decoded and converted to
// UTF-8, at most maxEnvelopeBytes.
func decodePart(r io.ReaderAt, p *part) (string, error) {
	var rd io.Reader = io.NewSectionReader(r, p.body, p.end-p.body)
	switch strings.ToLower(strings.TrimSpace(p.header.Get("Content-Transfer-Encoding"))) {
	case "base64":
		rd = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: rd})
	case "quoted-printable":
		rd = quotedprintable.NewReader(rd)
	}
	var cerr error
	if _, params, err := mime.ParseMediaType(p.header.Get("Content-Type")); err == nil {
		if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "us-ascii") && !strings.EqualFold(cs, "utf-8") {
			if cr, err := charset.Reader(cs, rd); err == nil {
				rd = cr
			} else {
				cerr = fmt.Errorf("charset %q: %w", cs, err)
			}
		}
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxEnvelopeBytes))
	if err == nil {
		err = cerr
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), err
}

// parseEnvelopeText reads the envelope lines.
func (e *Envelope) parseEnvelopeText(text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), maxEnvelopeBytes)
	var lines []string
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if len(lines) > 0 && l != "" && (l[0] == ' ' || l[0] == '\t') {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			continue
		}
		lines = append(lines, l)
	}
	inList := false // Exchange 2003 "Recipients:" list
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		name, value, ok := strings.Cut(t, ":")
		key := strings.ToLower(strings.TrimSpace(name))
		if inList && (!ok || !isEnvelopeKey(key)) {
			if a := cleanAddr(strings.TrimSuffix(t, ",")); a != "" {
				e.Recipients = append(e.Recipients, Recipient{Addr: a, Field: "recipient"})
			}
			continue
		}
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "sender":
			e.Sender = cleanAddr(value)
		case "on-behalf-of":
			e.OnBehalfOf = cleanAddr(value)
		case "subject":
			e.Subject = value
		case "message-id":
			e.MessageID = value
		case "to", "cc", "bcc", "recipient":
			e.Recipients = append(e.Recipients, parseRecipientLine(key, value))
		case "recipients":
			e.Format = FormatExchange2003
			inList = true
			for _, a := range strings.Split(value, ",") {
				if a = cleanAddr(a); a != "" {
					e.Recipients = append(e.Recipients, Recipient{Addr: a, Field: "recipient"})
				}
			}
		}
	}
}

func isEnvelopeKey(k string) bool {
	switch k {
	case "sender", "on-behalf-of", "subject", "message-id", "to", "cc", "bcc", "recipient", "recipients":
		return true
	}
	return false
}

// parseRecipientLine reads "addr[, Expanded: group | , Forwarded: addr]".
func parseRecipientLine(field, value string) Recipient {
	rc := Recipient{Field: field}
	addr := value
	if i := strings.Index(value, ","); i >= 0 {
		addr = value[:i]
		ann, annValue, ok := strings.Cut(value[i+1:], ":")
		if ok {
			switch strings.ToLower(strings.TrimSpace(ann)) {
			case "expanded":
				rc.ExpandedFrom = cleanAddr(annValue)
			case "forwarded":
				rc.ForwardedFrom = cleanAddr(annValue)
			}
		}
	}
	rc.Addr = cleanAddr(addr)
	return rc
}

// cleanAddr removes a display name, angle brackets and an "smtp:" type
// prefix: `"Kim Akers" <smtp:kim@contoso.com>` gives kim@contoso.com.
func cleanAddr(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.TrimSpace(s)
	if len(s) > 5 && strings.EqualFold(s[:5], "smtp:") {
		s = s[5:]
	}
	return strings.TrimSpace(s)
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

func summarize(h textproto.Header) Summary {
	s := Summary{
		From:      addrList(h, "From"),
		To:        addrList(h, "To"),
		Cc:        addrList(h, "Cc"),
		MessageID: strings.TrimSpace(h.Get("Message-Id")),
	}
	if len(s.From) == 0 {
		s.From = addrList(h, "Sender")
	}
	subj := h.Get("Subject")
	if d, err := wordDecoder.DecodeHeader(subj); err == nil {
		subj = d
	}
	s.Subject = strings.ToValidUTF8(strings.TrimSpace(subj), "\uFFFD")
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		s.Date = d.UTC()
	}
	return s
}

// addrList returns the addresses of every instance of a header field, each
// as "Name <addr>" or "addr"; unparseable values are kept as written.
func addrList(h textproto.Header, field string) []string {
	var out []string
	for _, v := range h.Values(field) {
		if strings.TrimSpace(v) == "" {
			continue
		}
		p := mail.AddressParser{WordDecoder: wordDecoder}
		list, err := p.ParseList(v)
		if err != nil {
			if d, derr := wordDecoder.DecodeHeader(v); derr == nil {
				v = d
			}
			out = append(out, strings.ToValidUTF8(strings.TrimSpace(v), "\uFFFD"))
			continue
		}
		for _, a := range list {
			if a.Name != "" {
				out = append(out, a.Name+" <"+a.Address+">")
			} else {
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// splitAddrs returns the bare addresses in a header value.
func splitAddrs(v string) []string {
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if list, err := p.ParseList(v); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if a := cleanAddr(f); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// firstAddr returns the bare address of the first "Name <addr>" entry.
func firstAddr(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return cleanAddr(list[0])
}

// base64Cleaner drops bytes that are not base64 alphabet, so that line
// breaks and stray characters do not stop decoding.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
