package journal

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// decodeText returns the text of a part: transfer-decoded (leniently),
// converted from its charset to UTF-8, at most maxEnvelopeBytes.
func decodeText(r io.ReaderAt, p *part, probs *problems) string {
	raw := io.NewSectionReader(r, p.body, p.end-p.body)
	var b []byte
	var err error
	switch cte := strings.ToLower(strings.TrimSpace(p.header.get("Content-Transfer-Encoding"))); cte {
	case "base64":
		b, err = readAtMost(base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: raw}), maxEnvelopeBytes, probs)
	case "quoted-printable":
		b, err = readAtMost(raw, maxEnvelopeBytes, probs)
		b = decodeQP(b)
	default:
		if cte != "" && cte != "7bit" && cte != "8bit" && cte != "binary" {
			probs.addf("unknown Content-Transfer-Encoding %q, read as 8bit", cte)
		}
		b, err = readAtMost(raw, maxEnvelopeBytes, probs)
	}
	if err != nil {
		probs.addf("decoding: %v", err)
	}
	cs := strings.ToLower(strings.TrimSpace(param(p.header.get("Content-Type"), "charset")))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
	default:
		if cr, cerr := charset.Reader(cs, bytes.NewReader(b)); cerr != nil {
			probs.addf("charset %q: %v", cs, cerr)
		} else if d, derr := io.ReadAll(cr); derr != nil {
			probs.addf("charset %q: %v", cs, derr)
		} else {
			b = d
		}
	}
	if !utf8.Valid(b) {
		probs.addf("text is not valid UTF-8 in charset %q; read as ISO 8859-1", cs)
	}
	return toUTF8(b)
}

// readAtMost reads r up to max bytes and notes a longer input.
func readAtMost(r io.Reader, max int64, probs *problems) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if int64(len(b)) > max {
		probs.addf("over %d MiB, the rest is ignored", max>>20)
		b = b[:max]
	}
	return b, err
}

// decodeQP decodes quoted-printable (RFC 2045 section 6.7) leniently: a
// soft line break is removed, =XX gives its byte, and an "=" that starts
// neither is kept as it is. Trailing white space is kept.
func decodeQP(b []byte) []byte {
	out := b[:0] // decoding never grows the text
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		switch {
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			i += 2
		case i+1 < len(b) && b[i+1] == '\n':
			i++
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
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

// envelopeLines splits the envelope text into logical lines: CRLF, LF or
// CR ends a line, and a line that starts with white space continues the
// previous non-blank one (unfolded as in RFC 5322: only the line break is
// removed).
func envelopeLines(text string) []string {
	var lines []string
	var cur strings.Builder // a logical line with continuation lines
	folded, blank := false, true
	flush := func() {
		if folded {
			lines[len(lines)-1] = cur.String()
			cur.Reset()
			folded = false
		}
	}
	for len(text) > 0 {
		i := strings.IndexAny(text, "\r\n")
		var l string
		if i < 0 {
			l, text = text, ""
		} else {
			l = text[:i]
			if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			text = text[i+1:]
		}
		if len(lines) > 0 && l != "" && (l[0] == ' ' || l[0] == '\t') && !blank {
			if !folded {
				cur.WriteString(lines[len(lines)-1])
				folded = true
			}
			cur.WriteString(l)
			continue
		}
		flush()
		lines = append(lines, l)
		blank = strings.TrimSpace(l) == ""
	}
	flush()
	return lines
}

// parseEnvelope reads the envelope lines of a journal report: Exchange 2007
// and later (Sender, On-Behalf-Of, Subject, Message-Id, then one To, Cc,
// Bcc or Recipient line per recipient, each with at most one ", Expanded:
// group" or ", Forwarded: addr") and Exchange 2003 (Sender, Message-ID,
// then "Recipients:" followed by a list of addresses). Names are matched
// case-insensitively, values trimmed, unknown lines ignored. found reports
// whether any envelope line (Sender, Message-Id or a recipient) was seen.
func (e *Envelope) parseEnvelope(text string, probs *problems) (found bool) {
	inList := false // in an Exchange 2003 "Recipients:" list
	seen := map[string]bool{}
	for n, l := range envelopeLines(text) {
		n++
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		name, value, ok := strings.Cut(t, ":")
		key := strings.ToLower(strings.TrimSpace(name))
		if inList && (!ok || !isEnvelopeKey(key)) {
			e.addListRecipients(t, n, probs)
			continue
		}
		inList = false
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "sender", "on-behalf-of", "subject", "message-id":
			found = found || key != "subject" && key != "on-behalf-of"
			if seen[key] {
				probs.addf("envelope line %d: second %s line ignored", n, name)
				continue
			}
			seen[key] = true
			switch key {
			case "sender":
				if strings.EqualFold(value, "Unspecified Address") {
					probs.addf("envelope line %d: sender is %q", n, value)
					continue
				}
				e.Sender = cleanAddr(value)
				checkAddr(e.Sender, n, probs)
			case "on-behalf-of":
				e.OnBehalfOf = cleanAddr(value)
				checkAddr(e.OnBehalfOf, n, probs)
			case "subject":
				e.Subject = value
			case "message-id":
				if strings.EqualFold(value, "Unknown Message-ID") {
					probs.addf("envelope line %d: %q", n, value)
					continue
				}
				e.MessageID = value
			}
		case "to", "cc", "bcc", "recipient":
			found = true
			e.addRecipientLine(key, value, n, probs)
		case "recipients":
			found = true
			inList = true
			e.Format = FormatExchange2003 // whatever header marked the report
			e.addListRecipients(value, n, probs)
		}
	}
	return found
}

func isEnvelopeKey(k string) bool {
	switch k {
	case "sender", "on-behalf-of", "subject", "message-id", "to", "cc", "bcc", "recipient", "recipients":
		return true
	}
	return false
}

// addRecipientLine reads "addr[, Expanded: group | , Forwarded: addr]".
// Further addresses on the line (not an Exchange format, but not to be
// lost) are recipients of the same field.
func (e *Envelope) addRecipientLine(field, value string, n int, probs *problems) {
	items := splitList(value, false)
	if len(items) == 0 {
		probs.addf("envelope line %d: %s line without an address", n, field)
		return
	}
	rc := Recipient{Field: field, Addr: cleanAddr(items[0])}
	checkAddr(rc.Addr, n, probs)
	var extra []Recipient
	for _, it := range items[1:] {
		label, v, ok := strings.Cut(it, ":")
		label = strings.ToLower(strings.TrimSpace(label))
		switch {
		case ok && (label == "expanded" || label == "forwarded"):
			if rc.ExpandedFrom != "" || rc.ForwardedFrom != "" {
				probs.addf("envelope line %d: second annotation %q ignored", n, it)
				continue
			}
			a := cleanAddr(v)
			checkAddr(a, n, probs)
			if label == "expanded" {
				rc.ExpandedFrom = a
			} else {
				rc.ForwardedFrom = a
			}
		case ok && isToken(label) && label != "smtp":
			probs.addf("envelope line %d: unknown annotation %q ignored", n, it)
		default:
			a := cleanAddr(it)
			probs.addf("envelope line %d: more than one address on a %s line", n, field)
			checkAddr(a, n, probs)
			extra = append(extra, Recipient{Field: field, Addr: a})
		}
	}
	e.Recipients = append(e.Recipients, rc)
	e.Recipients = append(e.Recipients, extra...)
}

// addListRecipients reads addresses of an Exchange 2003 "Recipients:" list:
// `"Name" <smtp:addr>`, comma-separated or one per line, trailing comma
// optional.
func (e *Envelope) addListRecipients(s string, n int, probs *problems) {
	for _, it := range splitList(s, false) {
		if a := cleanAddr(it); a != "" {
			checkAddr(a, n, probs)
			e.Recipients = append(e.Recipients, Recipient{Field: "recipient", Addr: a})
		}
	}
}

// isToken reports whether s is a single word such as an annotation label.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkAddr notes an address that NormalizeAddr does not accept.
func checkAddr(a string, n int, probs *problems) {
	if _, ok := NormalizeAddr(a); !ok {
		probs.addf("envelope line %d: %q is not an e-mail address", n, a)
	}
}
