package mailgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// WrapJournal wraps original (a complete RFC 5322 message, already CRLF; see [CRLF]) in an
// Exchange Online journal report describing env, dated date.
//
// The report copies From, To, CC and Subject from the original's header, has
// X-MS-Journal-Report, and is multipart/mixed with two parts: the text/plain envelope
// (us-ascii 7bit, or utf-8 quoted-printable when a line is not ASCII) and a message/rfc822
// part holding original byte for byte. The boundary is derived from a SHA-256 over original,
// the envelope and date, and re-derived until it occurs neither in original nor in the
// envelope text. Everything else (report Message-ID, queue IDs) is derived from the same
// hash, so equal arguments give equal bytes.
//
// Envelope lines are written as Exchange writes them: Sender, On-Behalf-Of (only when set),
// Subject, Message-Id ("Unknown Message-ID" when empty), then one line per recipient in the
// given order, "To", "Cc", "Bcc" or "Recipient" after Field, with ", Expanded: group" or else
// ", Forwarded: addr" when ExpandedFrom or ForwardedFrom is set (at most one annotation;
// ExpandedFrom wins). An empty Sender is written "Unspecified Address".
//
// The tenant domain used in the report's transport headers is the domain of the first
// "recipient" line (basic fields are used for inbound mail, whose recipients are internal)
// or else of the sender (extended To/Cc/Bcc fields imply an authenticated internal sender).
func WrapJournal(original []byte, env Envelope, date time.Time) []byte {
	return wrapJournal(original, env, date, guessTenant(env), false)
}

func guessTenant(env Envelope) string {
	for _, r := range env.Recipients {
		if strings.EqualFold(r.Field, "recipient") {
			if d := domainOf(r.Addr); d != "" {
				return d
			}
		}
	}
	if d := domainOf(env.Sender); d != "" {
		return d
	}
	return "contoso.com"
}

func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.Trim(addr[i+1:], "> "))
}

// envelopeText renders the envelope part's lines, each ending in CRLF.
func envelopeText(env Envelope) string {
	var b strings.Builder
	line := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	sender := env.Sender
	if sender == "" {
		sender = "Unspecified Address"
	}
	line("Sender", sender)
	if env.OnBehalfOf != "" {
		line("On-Behalf-Of", env.OnBehalfOf)
	}
	line("Subject", env.Subject)
	id := env.MessageID
	if id == "" {
		id = "Unknown Message-ID"
	}
	line("Message-Id", id)
	for _, r := range env.Recipients {
		v := r.Addr
		switch {
		case r.ExpandedFrom != "":
			v += ", Expanded: " + r.ExpandedFrom
		case r.ForwardedFrom != "":
			v += ", Forwarded: " + r.ForwardedFrom
		}
		line(fieldName(r.Field), v)
	}
	return b.String()
}

func fieldName(f string) string {
	switch strings.ToLower(f) {
	case "to":
		return "To"
	case "cc":
		return "Cc"
	case "bcc":
		return "Bcc"
	}
	return "Recipient"
}

// headerField is one field of a header block; value is raw, folding included, no final CRLF.
type headerField struct{ name, value string }

// scanHeader returns the fields of msg's header block (up to the first empty line).
// It tolerates LF line ends and garbage; lines without a colon are skipped.
func scanHeader(msg []byte) []headerField {
	var fields []headerField
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		var line []byte
		if i < 0 {
			line, msg = msg, nil
		} else {
			line, msg = msg[:i+1], msg[i+1:]
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if n := len(fields); n > 0 {
				fields[n-1].value += "\r\n" + string(trimmed)
			}
			continue
		}
		k, v, ok := bytes.Cut(trimmed, []byte(":"))
		if !ok {
			continue
		}
		fields = append(fields, headerField{string(bytes.TrimSpace(k)), string(bytes.TrimLeft(v, " \t"))})
	}
	return fields
}

func firstField(fields []headerField, name string) (string, bool) {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// guidFrom formats 16 bytes of h as a version-4 style GUID.
func guidFrom(h []byte) string {
	var u [16]byte
	copy(u[:], h)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// journalBoundary returns "_<guid>_" derived from h, re-hashing until the boundary occurs in
// none of avoid.
func journalBoundary(h [32]byte, avoid ...[]byte) string {
	for {
		b := "_" + guidFrom(h[:]) + "_"
		clash := false
		for _, a := range avoid {
			if bytes.Contains(a, []byte(b)) {
				clash = true
				break
			}
		}
		if !clash {
			return b
		}
		h = sha256.Sum256(h[:])
	}
}

func wrapJournal(original []byte, env Envelope, date time.Time, tenant string, binaryCTE bool) []byte {
	envText := envelopeText(env)
	hs := sha256.New()
	hs.Write(original)
	hs.Write([]byte{0})
	hs.Write([]byte(envText))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(date.UnixNano()))
	hs.Write(ts[:])
	var h [32]byte
	hs.Sum(h[:0])
	boundary := journalBoundary(h, original, []byte(envText))
	sub := func(label string) []byte {
		s := sha256.Sum256(append(h[:], label...))
		return s[:]
	}
	idh, neth, misc := sub("report-id"), sub("network-id"), sub("misc")

	tenantLabel, _, _ := strings.Cut(tenant, ".")
	onms := tenantLabel + ".onmicrosoft.com"
	exHash := sha256.Sum256([]byte("MicrosoftExchange " + tenant))
	server := serverFromMessageID(env.MessageID)
	if server == "" {
		server = exchangeServers[int(misc[0])%len(exchangeServers)][0]
	}
	date = date.UTC().Truncate(time.Second)
	arrive := local(date.Add(time.Second+time.Duration(misc[1]%3)*time.Second), zoneCET)

	fields := scanHeader(original)
	var b bytes.Buffer
	b.Grow(len(original) + len(envText) + 2048)
	header(&b, "Return-Path", "<journal-ndr@"+tenant+">")
	header(&b, "Delivered-To", "journal@archive."+tenant)
	fmt.Fprintf(&b, "Received: from EUR05-AM6-obe.outbound.protection.outlook.com "+
		"(mail-am6eur05on2%d.outbound.protection.outlook.com [40.107.22.%d])\r\n"+
		"\tby mx.archive.%s (Postfix) with ESMTPS id 4Vq%s\r\n"+
		"\tfor <journal@archive.%s>; %s\r\n",
		100+int(binary.BigEndian.Uint16(misc[2:4]))%900, 1+int(misc[3])%250, tenant, strings.ToUpper(hex.EncodeToString(misc[4:9]))[:9],
		tenant, arrive.Format(rfc5322Date+" (MST)"))
	header(&b, "Content-Type", "multipart/mixed;\r\n\tboundary=\""+boundary+"\"")
	for _, k := range []struct{ src, dst string }{{"Subject", "Subject"}, {"To", "To"}, {"Cc", "CC"}, {"From", "From"}} {
		if v, ok := firstField(fields, k.src); ok {
			header(&b, k.dst, v)
		}
	}
	header(&b, "MIME-Version", "1.0")
	b.WriteString("Sender:\r\n\t<MicrosoftExchange" + hex.EncodeToString(exHash[:16]) + "@" + onms + ">\r\n")
	header(&b, "Message-ID", "<"+guidFrom(idh)+"@journal.report.generator>")
	header(&b, "Date", date.Format(rfc5322Date))
	header(&b, "X-MS-PublicTrafficType", "Email")
	b.WriteString("X-MS-Journal-Report:\r\n")
	if env.MessageID != "" {
		b.WriteString("X-MS-Exchange-Parent-Message-Id:\r\n\t" + env.MessageID + "\r\n")
	}
	header(&b, "Auto-Submitted", "auto-generated")
	header(&b, "X-MS-Exchange-Generated-Message-Source", "Journal Agent")
	header(&b, "X-MS-TrafficTypeDiagnostic", server+":JournalingReport")
	header(&b, "X-OriginatorOrg", onms)
	b.WriteString("X-MS-Exchange-CrossTenant-Network-Message-Id:\r\n\t" + guidFrom(neth) + "\r\n")
	header(&b, "X-MS-Exchange-Transport-CrossTenantHeadersStamped", server)
	b.WriteString("\r\n")

	b.WriteString("--" + boundary + "\r\n")
	if isASCII(envText) {
		b.WriteString("Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
		b.WriteString(envText)
	} else {
		b.WriteString("Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		b.Write(qp(envText))
	}
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/rfc822\r\n")
	if binaryCTE || misc[5]%4 == 0 {
		b.WriteString("Content-Transfer-Encoding: binary\r\n")
	}
	b.WriteString("\r\n")
	b.Write(original)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

// serverFromMessageID returns AM0PR04MB6234 from <...@AM0PR04MB6234.eurprd04.prod.outlook.com>.
func serverFromMessageID(id string) string {
	_, dom, ok := strings.Cut(id, "@")
	if !ok || !strings.HasSuffix(dom, ".prod.outlook.com>") {
		return ""
	}
	s, _, _ := strings.Cut(dom, ".")
	return strings.ToUpper(s)
}

// CRLF returns a copy of b in which every bare LF and every bare CR is replaced by CRLF,
// as a mail server stores a message it delivers. Existing CRLF pairs are kept.
func CRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
