package mailgen

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// encodeWords encodes s as RFC 2047 encoded-words ('B' or 'Q') of at most 75 characters,
// separated by folding whitespace. ASCII s is returned as is.
func encodeWords(charset string, q bool, s string) string {
	if isASCII(s) {
		return s
	}
	enc := "?B?"
	if q {
		enc = "?Q?"
	}
	prefix := "=?" + charset + enc
	room := 75 - len(prefix) - 2
	var out, word []string
	var cur strings.Builder
	curLen := 0
	flush := func() {
		out = append(out, prefix+cur.String()+"?=")
		cur.Reset()
		curLen = 0
	}
	if q {
		for _, r := range s {
			var buf [4]byte
			n := utf8.EncodeRune(buf[:], r)
			var piece string
			switch {
			case r == ' ':
				piece = "_"
			case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
				strings.ContainsRune("!*+-/", r)):
				piece = string(r)
			default:
				var p strings.Builder
				for _, c := range buf[:n] {
					p.WriteByte('=')
					p.WriteByte(upperhex[c>>4])
					p.WriteByte(upperhex[c&15])
				}
				piece = p.String()
			}
			if curLen+len(piece) > room {
				flush()
			}
			cur.WriteString(piece)
			curLen += len(piece)
		}
		flush()
		return strings.Join(out, "\r\n ")
	}
	maxBytes := room / 4 * 3
	chunk := 0
	start := 0
	for i, r := range s {
		n := utf8.RuneLen(r)
		if chunk+n > maxBytes {
			word = append(word, s[start:i])
			start, chunk = i, 0
		}
		chunk += n
	}
	word = append(word, s[start:])
	for _, w := range word {
		out = append(out, prefix+base64.StdEncoding.EncodeToString([]byte(w))+"?=")
	}
	return strings.Join(out, "\r\n ")
}

const upperhex = "0123456789ABCDEF"

// formatAddr formats one mailbox for a header: encoded-word display names for non-ASCII
// names, quoted strings for names with specials.
func formatAddr(charset string, name, addr string) string {
	switch {
	case name == "":
		return addr
	case !isASCII(name):
		return encodeWords(charset, true, name) + " <" + addr + ">"
	case strings.ContainsAny(name, `()<>[]:;@\,."`):
		return `"` + strings.ReplaceAll(strings.ReplaceAll(name, `\`, `\\`), `"`, `\"`) + `" <` + addr + ">"
	}
	return name + " <" + addr + ">"
}

// foldList writes "name: item1, item2, ..." folded before an item when a line would pass
// 78 characters. sep is "," for address lists and "" for References.
func foldList(b *bytes.Buffer, name string, items []string, sep string) {
	b.WriteString(name)
	b.WriteByte(':')
	col := len(name) + 1
	for i, it := range items {
		if i < len(items)-1 {
			it += sep
		}
		first := it
		if j := strings.Index(it, "\r\n"); j >= 0 {
			first = it[:j]
		}
		if i > 0 && col+1+len(first) > 78 {
			b.WriteString("\r\n ")
			col = 1
		} else {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(it)
		if j := strings.LastIndex(it, "\r\n"); j >= 0 {
			col = len(it) - j - 2
		} else {
			col += len(it)
		}
	}
	b.WriteString("\r\n")
}

// foldText folds an unstructured ASCII header value at spaces so lines stay under 78 characters.
func foldText(b *bytes.Buffer, name, value string) {
	foldList(b, name, strings.Fields(value), "")
}

func header(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(value)
	b.WriteString("\r\n")
}

// qp encodes text (lines separated by CRLF) as quoted-printable; the result ends with CRLF.
func qp(s string) []byte {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// b64 encodes data as base64 in lines of 76 characters, each ending with CRLF.
func b64(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	out := make([]byte, 0, len(enc)+len(enc)/76*2+2)
	for len(enc) > 76 {
		out = append(out, enc[:76]...)
		out = append(out, '\r', '\n')
		enc = enc[76:]
	}
	out = append(out, enc...)
	return append(out, '\r', '\n')
}

// pct2231 encodes s as an RFC 2231 extended parameter value: the charset, two apostrophes,
// then s with every octet outside attr-char percent-encoded.
func pct2231(charset, s string) string {
	var b strings.Builder
	b.WriteString(charset + "''")
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperhex[c>>4])
		b.WriteByte(upperhex[c&15])
	}
	return b.String()
}

// --- time zones without the tz database ---

type zoneKind uint8

const (
	zoneUTC zoneKind = iota
	zoneCET          // Central European Time with EU summer time
	zoneUK           // GMT/BST
	zoneUS           // US Eastern
)

var (
	tzCET  = time.FixedZone("CET", 3600)
	tzCEST = time.FixedZone("CEST", 2*3600)
	tzGMT  = time.FixedZone("GMT", 0)
	tzBST  = time.FixedZone("BST", 3600)
	tzEST  = time.FixedZone("EST", -5*3600)
	tzEDT  = time.FixedZone("EDT", -4*3600)
)

// local returns t in the zone, applying the EU and US summer-time rules.
func local(t time.Time, z zoneKind) time.Time {
	switch z {
	case zoneCET:
		if euSummer(t) {
			return t.In(tzCEST)
		}
		return t.In(tzCET)
	case zoneUK:
		if euSummer(t) {
			return t.In(tzBST)
		}
		return t.In(tzGMT)
	case zoneUS:
		if usSummer(t) {
			return t.In(tzEDT)
		}
		return t.In(tzEST)
	}
	return t.UTC()
}

// euSummer: from the last Sunday of March to the last Sunday of October, 01:00 UTC.
func euSummer(t time.Time) bool {
	y := t.UTC().Year()
	start := nthSunday(y, time.March, -1).Add(time.Hour)
	end := nthSunday(y, time.October, -1).Add(time.Hour)
	return !t.Before(start) && t.Before(end)
}

// usSummer: from the second Sunday of March 07:00 UTC to the first Sunday of November 06:00 UTC.
func usSummer(t time.Time) bool {
	y := t.UTC().Year()
	start := nthSunday(y, time.March, 2).Add(7 * time.Hour)
	end := nthSunday(y, time.November, 1).Add(6 * time.Hour)
	return !t.Before(start) && t.Before(end)
}

// nthSunday returns midnight UTC of the n-th Sunday of the month (n = -1: the last).
func nthSunday(y int, m time.Month, n int) time.Time {
	if n < 0 {
		d := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
		for d.Weekday() != time.Sunday {
			d = d.AddDate(0, 0, -1)
		}
		return d
	}
	d := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	for d.Weekday() != time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d.AddDate(0, 0, 7*(n-1))
}

const rfc5322Date = "Mon, 02 Jan 2006 15:04:05 -0700"
