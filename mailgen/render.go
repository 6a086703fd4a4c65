package mailgen

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
)

// part is a MIME entity: header fields (folding included, no final CRLF) and either a leaf
// body (already transfer-encoded, ending in CRLF) or children.
type part struct {
	header   []string
	body     []byte
	kids     []*part
	boundary string
	preamble string
}

func (p *part) writeBody(b *bytes.Buffer) {
	if p.kids == nil {
		b.Write(p.body)
		return
	}
	if p.preamble != "" {
		b.WriteString(p.preamble)
		b.WriteString("\r\n")
	}
	for _, k := range p.kids {
		b.WriteString("--" + p.boundary + "\r\n")
		for _, h := range k.header {
			b.WriteString(h)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		k.writeBody(b)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + p.boundary + "--\r\n")
}

type attachment struct {
	name, ctype string
	data        []byte
	mod         time.Time
	rfc2231     bool // encode a non-ASCII name per RFC 2231 rather than RFC 2047
}

// ---------- identifiers ----------

func (g *Generator) hex(n int, upper bool) string {
	var buf [8]byte
	var b strings.Builder
	for b.Len() < n {
		binary.BigEndian.PutUint64(buf[:], g.rng.Uint64())
		s := hex.EncodeToString(buf[:])
		if upper {
			s = strings.ToUpper(s)
		}
		b.WriteString(s)
	}
	return b.String()[:n]
}

func (g *Generator) guid() string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(u[8:], g.rng.Uint64())
	return guidFrom(u[:])
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func (g *Generator) alnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[g.rng.IntN(len(alnum))]
	}
	return string(b)
}

func (g *Generator) messageID(p *person, t time.Time) string {
	switch p.client {
	case clientGmail:
		return "<CA" + g.alnum(2) + "-" + g.alnum(38) + "@mail.gmail.com>"
	case clientThunderbird:
		return "<" + g.guid() + "@" + domainOf(p.addr) + ">"
	case clientNotify:
		return "<" + t.UTC().Format("20060102150405") + "." + g.hex(10, true) + "@mail." + domainOf(p.addr) + ">"
	}
	return "<" + p.server + g.hex(24, true) + "@" + p.server + "." + p.region + ".prod.outlook.com>"
}

// newThreadIndex builds an Outlook Thread-Index: 6 bytes of FILETIME and a 16-byte GUID.
func (g *Generator) newThreadIndex(t time.Time) []byte {
	ft := uint64(t.Unix()+11644473600)*10000000 + uint64(t.Nanosecond()/100)
	b := make([]byte, 22)
	var tmp [8]byte
	binary.BigEndian.PutUint64(tmp[:], ft)
	copy(b, tmp[:6])
	binary.BigEndian.PutUint64(b[6:], g.rng.Uint64())
	binary.BigEndian.PutUint64(b[14:], g.rng.Uint64())
	return b
}

func msgLocal(id string) string {
	id = strings.Trim(id, "<>")
	l, _, _ := strings.Cut(id, "@")
	return l
}

// ---------- text ----------

// finish assigns the Message-ID and composes the text of d.
func (g *Generator) finish(d *draft) {
	sender := d.from
	if d.sender != nil {
		sender = d.sender
	}
	d.msgID = g.messageID(sender, d.date)
	if sender.client == clientOutlook && d.threadIndex == nil {
		d.threadIndex = g.newThreadIndex(d.date)
	}
	if d.from.client == clientNotify {
		return
	}
	d.body = g.composeBody(d)
	d.lines = g.plainLines(d)
}

func (g *Generator) sentence(d *draft) string {
	return g.fill(pick(g.rng, d.lang.sentences), d.lang, d.theme, d.date)
}

func (g *Generator) composeBody(d *draft) []string {
	l := d.lang
	var used []int
	sentence := func() string {
		i := g.rng.IntN(len(l.sentences))
		for tries := 0; slices.Contains(used, i) && tries < 6; tries++ {
			i = g.rng.IntN(len(l.sentences))
		}
		used = append(used, i)
		return g.fill(l.sentences[i], l, d.theme, d.date)
	}
	var lines []string
	switch {
	case d.quote != nil && !d.fwd && g.chance(0.4):
	case len(d.to) == 1 && d.to[0].p != nil:
		lines = append(lines, strings.ReplaceAll(pick(g.rng, l.greetings), "{first}", d.to[0].p.first), "")
	default:
		lines = append(lines, pick(g.rng, l.greetAll), "")
	}
	switch {
	case d.fwd:
		lines = append(lines, pick(g.rng, l.fwdNotes), "")
	case d.quote != nil:
		s := pick(g.rng, l.replies)
		for range g.rng.IntN(3) {
			s += " " + sentence()
		}
		lines = append(lines, s, "")
	default:
		paras := 1 + g.rng.IntN(3)
		if g.chance(0.06) {
			paras = 6 + g.rng.IntN(6) // minutes, long announcements
		}
		for range paras {
			s := sentence()
			for range g.rng.IntN(4) {
				s += " " + sentence()
			}
			lines = append(lines, s, "")
		}
	}
	closing := pick(g.rng, l.closings)
	lines = append(lines, closing, d.from.first)
	p := d.from
	switch p.client {
	case clientOutlook:
		lines = append(lines, "", p.name, p.title+" | "+departments[p.dept].name,
			g.company+" | "+p.lang.address, "Tel. "+p.phone+" | "+p.addr)
		if d.kind == kindOutbound {
			lines = append(lines, "", l.disclaimer)
		}
	case clientGmail:
		org := strings.ToUpper(domainOf(p.addr)[:1]) + strings.TrimSuffix(domainOf(p.addr)[1:], ".com")
		lines = append(lines, "", "-- ", p.name, org+" Ltd.", "https://www."+domainOf(p.addr))
	case clientThunderbird:
		lines = append(lines, "", "-- ", p.name)
	}
	return lines
}

// plainLines is the whole text/plain body of d: the new text and the quoted message.
func (g *Generator) plainLines(d *draft) []string {
	lines := append([]string(nil), d.body...)
	q := d.quote
	if q == nil {
		return lines
	}
	pd, l := q.d, d.lang
	when := local(pd.date, d.from.zone)
	switch d.from.client {
	case clientOutlook:
		lines = append(lines, "", "________________________________")
		lines = append(lines, l.quote[0]+" "+plainAddr(addressee{p: pd.from}))
		lines = append(lines, l.quote[1]+" "+formatSent(l, local(pd.date, zoneCET)))
		lines = append(lines, l.quote[2]+" "+plainList(pd.to))
		if len(pd.cc) > 0 {
			lines = append(lines, l.quote[3]+" "+plainList(pd.cc))
		}
		lines = append(lines, l.quote[4]+" "+pd.subject, "")
		return append(lines, q.lines...)
	case clientGmail, clientThunderbird:
		if d.fwd {
			lines = append(lines, "", "---------- Forwarded message ---------",
				"From: "+plainAddr(addressee{p: pd.from}), "Date: "+when.Format("Mon, Jan 2, 2006 at 3:04 PM"),
				"Subject: "+pd.subject, "To: "+plainList(pd.to), "")
			return append(lines, q.lines...)
		}
		lines = append(lines, "", formatWrote(l, d.from.client, when, pd.from))
		for _, s := range q.lines {
			switch {
			case s == "":
				lines = append(lines, ">")
			case s[0] == '>':
				lines = append(lines, ">"+s)
			default:
				lines = append(lines, "> "+s)
			}
		}
		return lines
	}
	return lines
}

func plainAddr(a addressee) string { return a.name() + " <" + a.addr() + ">" }

func plainList(list []addressee) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = plainAddr(a)
	}
	return strings.Join(s, "; ")
}

func joinCRLF(lines []string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

// flowed wraps lines for format=flowed (RFC 3676): soft breaks end in a space.
func flowed(lines []string) []string {
	var out []string
	for _, s := range lines {
		if s == "-- " {
			out = append(out, s)
			continue
		}
		quote := ""
		for len(quote) < len(s) && s[len(quote)] == '>' {
			quote += ">"
		}
		for len(s) > 76 {
			cut := strings.LastIndexByte(s[:72], ' ')
			if cut <= len(quote)+1 {
				break
			}
			out = append(out, s[:cut+1])
			s = quote + " " + s[cut+1:]
			if quote == "" {
				s = s[1:]
			}
		}
		out = append(out, s)
	}
	return out
}

// ---------- HTML ----------

const outlookHead = `<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=%s">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
	{font-family:"Cambria Math";
	panose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
	{font-family:Calibri;
	panose-1:2 15 5 2 2 2 4 3 2 4;}
@font-face
	{font-family:Aptos;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm;
	font-size:11.0pt;
	font-family:"Calibri",sans-serif;
	mso-ligatures:standardcontextual;
	mso-fareast-language:EN-US;}
a:link, span.MsoHyperlink
	{mso-style-priority:99;
	color:#0563C1;
	text-decoration:underline;}
span.EmailStyle17
	{mso-style-type:personal-compose;
	font-family:"Calibri",sans-serif;
	color:windowtext;}
.MsoChpDefault
	{mso-style-type:export-only;
	font-size:10.0pt;
	mso-ligatures:none;}
@page WordSection1
	{size:612.0pt 792.0pt;
	margin:70.85pt 70.85pt 2.0cm 70.85pt;}
div.WordSection1
	{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang="%s" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
`

func (g *Generator) htmlOutlook(d *draft, charset string) string {
	var b strings.Builder
	lang := strings.ToUpper(d.lang.code)
	fmt.Fprintf(&b, strings.ReplaceAll(outlookHead, "\n", "\r\n"), charset, lang)
	para := func(s string) {
		if s == "" {
			b.WriteString("<p class=\"MsoNormal\"><span lang=\"" + lang + "\"><o:p>&nbsp;</o:p></span></p>\r\n")
			return
		}
		b.WriteString("<p class=\"MsoNormal\"><span lang=\"" + lang + "\">" + html.EscapeString(s) + "<o:p></o:p></span></p>\r\n")
	}
	for _, s := range d.body {
		para(s)
	}
	if q := d.quote; q != nil {
		l, pd := d.lang, q.d
		b.WriteString("<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\r\n")
		b.WriteString("<div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">\r\n")
		hdr := func(k, v string) {
			b.WriteString("<p class=\"MsoNormal\"><b><span lang=\"" + lang + "\">" + html.EscapeString(k) +
				"</span></b><span lang=\"" + lang + "\"> " + html.EscapeString(v) + "<o:p></o:p></span></p>\r\n")
		}
		hdr(l.quote[0], plainAddr(addressee{p: pd.from}))
		hdr(l.quote[1], formatSent(l, local(pd.date, zoneCET)))
		hdr(l.quote[2], plainList(pd.to))
		if len(pd.cc) > 0 {
			hdr(l.quote[3], plainList(pd.cc))
		}
		hdr(l.quote[4], pd.subject)
		b.WriteString("</div>\r\n")
		for _, s := range q.lines {
			para(s)
		}
	}
	b.WriteString("</div>\r\n</body>\r\n</html>\r\n")
	return b.String()
}

func htmlGmail(d *draft) string {
	var b strings.Builder
	div := func(s string) {
		if s == "" {
			b.WriteString("<div><br></div>")
			return
		}
		b.WriteString("<div>" + html.EscapeString(s) + "</div>")
	}
	b.WriteString("<div dir=\"ltr\">")
	for _, s := range d.body {
		div(s)
	}
	b.WriteString("</div>")
	if q := d.quote; q != nil {
		when := local(q.d.date, d.from.zone)
		b.WriteString("<br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">" +
			html.EscapeString(formatWrote(d.lang, clientGmail, when, q.d.from)) +
			"<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;" +
			"border-left:1px solid rgb(204,204,204);padding-left:1ex\">")
		for _, s := range q.lines {
			div(s)
		}
		b.WriteString("</blockquote></div>")
	}
	b.WriteString("\r\n")
	return b.String()
}

// ---------- attachments ----------

func (g *Generator) attachMaybe(d *draft, p float64) {
	if !g.chance(p) {
		return
	}
	n := 1
	if g.chance(0.2) {
		n = 2
	}
	for range n {
		g.attachOne(d, g.fill(pick(g.rng, d.lang.attachNames), d.lang, "", g.clock))
	}
}

func (g *Generator) attachOne(d *draft, name string) {
	_, ext, _ := strings.Cut(name[max(0, strings.LastIndexByte(name, '.')):], ".")
	a := attachment{name: name, mod: g.clock.Add(-time.Duration(g.rng.IntN(72*3600)) * time.Second)}
	a.rfc2231 = g.chance(0.3) || d.from.client == clientThunderbird
	big := g.chance(0.06)
	size := func(lo, hi int) int {
		if big {
			return 135000 + g.rng.IntN(25000)
		}
		return lo + g.rng.IntN(hi-lo)
	}
	switch ext {
	case "pdf":
		a.ctype = "application/pdf"
		a.data = g.fakePDF(size(2500, 24000))
	case "docx":
		a.ctype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
		a.data = g.fakeZip("word/document.xml", size(9000, 28000))
	case "xlsx":
		a.ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		a.data = g.fakeZip("xl/worksheets/sheet1.xml", size(7000, 22000))
	case "csv":
		a.ctype = "text/csv"
		a.data = g.fakeCSV(d.lang, 800+g.rng.IntN(10000))
	default:
		a.ctype = "text/plain"
		a.data = g.fakeText(d, 400+g.rng.IntN(3500))
	}
	d.attach = append(d.attach, a)
}

func (g *Generator) randomBytes(b []byte) {
	var buf [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(buf[:], g.rng.Uint64())
		copy(b[i:], buf[:])
	}
}

func (g *Generator) fakePDF(n int) []byte {
	head := "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n" +
		"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n" +
		fmt.Sprintf("4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", n)
	tail := "\nendstream\nendobj\nxref\n0 5\n0000000000 65535 f \ntrailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n9\n%%EOF\n"
	b := make([]byte, len(head)+n+len(tail))
	copy(b, head)
	g.randomBytes(b[len(head) : len(head)+n])
	copy(b[len(head)+n:], tail)
	return b
}

func (g *Generator) fakeZip(member string, n int) []byte {
	b := make([]byte, 30+len(member)+n)
	copy(b, "PK\x03\x04\x14\x00\x06\x00\x08\x00")
	binary.LittleEndian.PutUint16(b[26:], uint16(len(member)))
	copy(b[30:], member)
	g.randomBytes(b[30+len(member):])
	return b
}

func (g *Generator) fakeCSV(l *language, n int) []byte {
	sep := ","
	if l.code != "en" {
		sep = ";"
	}
	var b strings.Builder
	b.WriteString(strings.Join([]string{"Date", "Customer", "City", "Region", "Amount", "Currency"}, sep) + "\r\n")
	for b.Len() < n {
		amount := formatAmount(l, 100+g.rng.IntN(90000), g.rng.IntN(100))
		if sep == "," {
			amount = `"` + amount + `"`
		}
		day := g.clock.AddDate(0, 0, -g.rng.IntN(90))
		fmt.Fprintf(&b, "%s%s%s%s%s%s%s%s%s%sEUR\r\n", day.Format("2006-01-02"), sep, pick(g.rng, companies), sep,
			pick(g.rng, cities), sep, pick(g.rng, regions), sep, amount, sep)
	}
	return []byte(b.String())
}

func (g *Generator) fakeText(d *draft, n int) []byte {
	var b strings.Builder
	b.WriteString(d.topic + "\r\n" + strings.Repeat("=", min(60, len(d.topic))) + "\r\n\r\n")
	for b.Len() < n {
		b.WriteString("- " + g.sentence(d) + "\r\n")
	}
	return []byte(b.String())
}

// attachmentPart renders a in the habits of client c.
func attachmentPart(c client, a attachment, id string) *part {
	ascii := isASCII(a.name)
	p := &part{body: b64(a.data)}
	cs := "utf-8"
	if c == clientGmail || c == clientThunderbird {
		cs = "UTF-8"
	}
	ct := a.ctype
	if strings.HasPrefix(ct, "text/") {
		ct += "; charset=\"" + cs + "\""
	}
	switch {
	case ascii:
		p.header = append(p.header, "Content-Type: "+ct+"; name=\""+a.name+"\"")
	case a.rfc2231:
		p.header = append(p.header, "Content-Type: "+ct+";\r\n\tname*="+pct2231(cs, a.name))
	default:
		p.header = append(p.header, "Content-Type: "+ct+"; name=\""+encodeWords(cs, false, a.name)+"\"")
	}
	fn := "filename=\"" + a.name + "\""
	if !ascii {
		if a.rfc2231 {
			fn = "filename*=" + pct2231(cs, a.name)
		} else {
			fn = "filename=\"" + encodeWords(cs, false, a.name) + "\""
		}
	}
	switch c {
	case clientOutlook:
		p.header = append(p.header, "Content-Description: "+encodeWords("utf-8", false, a.name))
		p.header = append(p.header, fmt.Sprintf("Content-Disposition: attachment; %s; size=%d;\r\n"+
			"\tcreation-date=\"%s\";\r\n\tmodification-date=\"%s\"", fn, len(a.data),
			a.mod.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"), a.mod.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
		p.header = append(p.header, "Content-Transfer-Encoding: base64")
	case clientGmail:
		p.header = append(p.header, "Content-Disposition: attachment; "+fn,
			"Content-Transfer-Encoding: base64", "Content-ID: <"+id+">", "X-Attachment-Id: "+id)
	default:
		p.header = append(p.header, "Content-Disposition: attachment; "+fn, "Content-Transfer-Encoding: base64")
	}
	return p
}

// ---------- MIME trees ----------

func textPart(ctype string, s string) *part {
	charset := "us-ascii"
	if !isASCII(s) {
		charset = "utf-8"
	}
	return &part{
		header: []string{"Content-Type: " + ctype + "; charset=\"" + charset + "\"", "Content-Transfer-Encoding: quoted-printable"},
		body:   qp(s),
	}
}

func (g *Generator) mimeTree(d *draft) *part {
	switch d.from.client {
	case clientGmail:
		text := joinCRLF(d.lines)
		tp := &part{header: []string{"Content-Type: text/plain; charset=\"UTF-8\""}, body: []byte(text)}
		if !isASCII(text) || longLine(d.lines) {
			tp.header = append(tp.header, "Content-Transfer-Encoding: quoted-printable")
			tp.body = qp(text)
		}
		hp := &part{header: []string{"Content-Type: text/html; charset=\"UTF-8\"", "Content-Transfer-Encoding: quoted-printable"},
			body: qp(htmlGmail(d))}
		alt := &part{boundary: "000000000000" + g.hex(16, false), kids: []*part{tp, hp}}
		alt.header = []string{"Content-Type: multipart/alternative; boundary=\"" + alt.boundary + "\""}
		if len(d.attach) == 0 {
			return alt
		}
		mixed := &part{boundary: "000000000000" + g.hex(16, false), kids: []*part{alt}}
		mixed.header = []string{"Content-Type: multipart/mixed; boundary=\"" + mixed.boundary + "\""}
		for _, a := range d.attach {
			mixed.kids = append(mixed.kids, attachmentPart(clientGmail, a, "f_"+g.alnum(9)))
		}
		return mixed
	case clientThunderbird:
		tp := &part{body: []byte(joinCRLF(flowed(d.lines)))}
		tp.header = []string{"Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Transfer-Encoding: 8bit"}
		if len(d.attach) == 0 {
			return tp
		}
		mixed := &part{boundary: "------------" + g.alnum(24), kids: []*part{tp},
			preamble: "This is a multi-part message in MIME format."}
		mixed.header = []string{"Content-Type: multipart/mixed; boundary=\"" + mixed.boundary + "\""}
		for _, a := range d.attach {
			mixed.kids = append(mixed.kids, attachmentPart(clientThunderbird, a, ""))
		}
		return mixed
	case clientNotify:
		return g.notifyTree(d)
	}
	// Outlook
	idLocal := msgLocal(d.msgID)
	text := joinCRLF(d.lines)
	tp := textPart("text/plain", text)
	var body *part
	if len(d.attach) == 0 && g.chance(0.2) {
		body = tp
	} else {
		charset := "us-ascii"
		if !isASCII(text) {
			charset = "utf-8"
		}
		hp := textPart("text/html", g.htmlOutlook(d, charset))
		body = &part{boundary: "_000_" + idLocal + "_", kids: []*part{tp, hp}}
		body.header = []string{"Content-Type: multipart/alternative;\r\n\tboundary=\"" + body.boundary + "\""}
	}
	if len(d.attach) == 0 {
		return body
	}
	mixed := &part{boundary: "_004_" + idLocal + "_", kids: []*part{body}}
	mixed.header = []string{"Content-Type: multipart/mixed;\r\n\tboundary=\"" + mixed.boundary + "\""}
	for _, a := range d.attach {
		mixed.kids = append(mixed.kids, attachmentPart(clientOutlook, a, ""))
	}
	return mixed
}

func longLine(lines []string) bool {
	for _, s := range lines {
		if len(s) > 76 {
			return true
		}
	}
	return false
}

func (g *Generator) notifyTree(d *draft) *part {
	boundary := func() string {
		return fmt.Sprintf("----=_Part_%d_%d.%d", g.rng.IntN(900000), g.rng.IntN(2000000000), d.date.UnixMilli())
	}
	var text []string
	var hb strings.Builder
	hb.WriteString("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(d.topic) +
		"</title></head>\r\n<body style=\"font-family:Arial,sans-serif;color:#222\">\r\n<table width=\"600\" align=\"center\">\r\n")
	row := func(s string) {
		text = append(text, s, "")
		hb.WriteString("<tr><td style=\"padding:8px 16px\">" + html.EscapeString(s) + "</td></tr>\r\n")
	}
	if d.notify == 0 {
		row("Dear customer,")
		row("your invoice " + strings.Fields(d.topic)[2] + " is available. The amount of EUR " +
			formatAmount(d.lang, 200+g.rng.IntN(20000), g.rng.IntN(100)) + " is due within 30 days.")
		row("The invoice is attached as a PDF. You can also download it from the customer portal.")
		row("Example Billing · 100 Main Street · Springfield")
	} else {
		row("Fabrikam Newsletter")
		for range 4 + g.rng.IntN(5) {
			row(g.sentence(d) + " " + g.sentence(d) + " " + g.sentence(d))
		}
		row("You receive this newsletter because you subscribed at fabrikam.com. Unsubscribe: https://fabrikam.com/u/" + g.hex(20, false))
	}
	hb.WriteString("</table>\r\n</body></html>\r\n")
	tp := &part{header: []string{"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"},
		body: qp(joinCRLF(text))}
	hp := &part{header: []string{"Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64"},
		body: b64([]byte(hb.String()))}
	alt := &part{boundary: boundary(), kids: []*part{tp, hp}}
	alt.header = []string{"Content-Type: multipart/alternative; \r\n\tboundary=\"" + alt.boundary + "\""}
	if len(d.attach) == 0 {
		return alt
	}
	mixed := &part{boundary: boundary(), kids: []*part{alt}}
	mixed.header = []string{"Content-Type: multipart/mixed; \r\n\tboundary=\"" + mixed.boundary + "\""}
	for _, a := range d.attach {
		mixed.kids = append(mixed.kids, attachmentPart(clientNotify, a, ""))
	}
	return mixed
}

// ---------- headers ----------

func addrList(charset string, list []addressee) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = formatAddr(charset, a.name(), a.addr())
	}
	return out
}

// writeHeaders writes the header of the message d as its sender's client
// does, with the Exchange Online Protection fields around it for inbound
// mail.
func (g *Generator) writeHeaders(b *bytes.Buffer, d *draft, root *part) {
	if d.kind == kindInbound {
		g.eopPrefix(b, d)
	}
	switch d.from.client {
	case clientGmail:
		g.headersGmail(b, d, root)
	case clientThunderbird:
		g.headersThunderbird(b, d, root)
	case clientNotify:
		g.headersNotify(b, d, root)
	default:
		g.headersOutlook(b, d, root)
	}
	if d.kind == kindInbound {
		g.eopSuffix(b, d)
	}
}

func (g *Generator) render(d *draft) []byte {
	root := g.mimeTree(d)
	var b bytes.Buffer
	b.Grow(8192 + 3*len(root.body))
	g.writeHeaders(&b, d, root)
	b.WriteString("\r\n")
	root.writeBody(&b)
	return b.Bytes()
}

func (g *Generator) ipv6() string {
	return fmt.Sprintf("2603:10a6:%x:%x::%x", 0x100+g.rng.IntN(0x700), g.rng.IntN(0x200), 1+g.rng.IntN(0x30))
}

func writeRoot(b *bytes.Buffer, root *part) {
	for _, h := range root.header {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
}

func (g *Generator) headersOutlook(b *bytes.Buffer, d *draft, root *part) {
	sender := d.from
	if d.sender != nil {
		sender = d.sender
	}
	host := sender.server + "." + sender.region + ".prod.outlook.com"
	ip := g.ipv6()
	foldText(b, "Received", "from "+host+" ("+ip+") by "+host+" with HTTPS; "+d.date.Add(time.Second).Format(rfc5322Date))
	if d.sender != nil {
		header(b, "Sender", formatAddr("utf-8", d.sender.name, d.sender.addr))
	}
	header(b, "From", formatAddr("utf-8", d.from.name, d.from.addr))
	if len(d.to) > 0 {
		foldList(b, "To", addrList("utf-8", d.to), ",")
	}
	if len(d.cc) > 0 {
		foldList(b, "CC", addrList("utf-8", d.cc), ",")
	}
	header(b, "Subject", encodeWords("utf-8", false, d.subject))
	header(b, "Thread-Topic", encodeWords("utf-8", false, d.topic))
	header(b, "Thread-Index", base64.StdEncoding.EncodeToString(d.threadIndex))
	header(b, "Date", d.date.UTC().Format(rfc5322Date))
	header(b, "Message-ID", d.msgID)
	if len(d.refs) > 0 {
		foldList(b, "References", d.refs, "")
		header(b, "In-Reply-To", d.inReplyTo)
	}
	if d.lang.code == "en" {
		header(b, "Accept-Language", "en-US")
	} else {
		header(b, "Accept-Language", d.lang.contentLang+", en-US")
	}
	header(b, "Content-Language", d.lang.contentLang)
	if len(d.attach) > 0 {
		header(b, "X-MS-Has-Attach", "yes")
	} else {
		b.WriteString("X-MS-Has-Attach:\r\n")
	}
	header(b, "X-MS-Exchange-Organization-SCL", "-1")
	b.WriteString("X-MS-TNEF-Correlator:\r\n")
	header(b, "X-MS-Exchange-Organization-RecordReviewCfmType", "0")
	header(b, "X-MS-Exchange-Organization-Network-Message-Id", g.guid())
	header(b, "X-MS-Exchange-Organization-MessageDirectionality", "Originating")
	header(b, "X-MS-Exchange-Organization-AuthAs", "Internal")
	header(b, "X-MS-Exchange-Organization-AuthMechanism", "04")
	header(b, "X-MS-Exchange-Organization-AuthSource", host)
	writeRoot(b, root)
	header(b, "MIME-Version", "1.0")
}

func (g *Generator) headersGmail(b *bytes.Buffer, d *draft, root *part) {
	dom := domainOf(d.from.addr)
	when := local(d.date, d.from.zone)
	fmt.Fprintf(b, "Received: by 2002:a05:6a10:%x:b0:%x:%x:%x with SMTP id %s;\r\n        %s\r\n",
		g.rng.IntN(0xffff), g.rng.IntN(0xfff), g.rng.IntN(0xffff), g.rng.IntN(0xffff), g.alnum(10),
		when.Format(rfc5322Date+" (MST)"))
	sig := make([]byte, 256)
	g.randomBytes(sig)
	bh := make([]byte, 32)
	g.randomBytes(bh)
	fmt.Fprintf(b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n        d=%s; s=google; t=%d; x=%d; darn=%s;\r\n"+
		"        h=to:subject:message-id:date:from:in-reply-to:references:mime-version\r\n"+
		"         :from:to:cc:subject:date:message-id:reply-to;\r\n        bh=%s;\r\n        b=",
		dom, d.date.Unix(), d.date.Unix()+604800, g.domain, base64.StdEncoding.EncodeToString(bh))
	s := base64.StdEncoding.EncodeToString(sig)
	for i := 0; i < len(s); i += 70 {
		if i > 0 {
			b.WriteString("\r\n         ")
		}
		b.WriteString(s[i:min(len(s), i+70)])
	}
	b.WriteString("\r\n")
	header(b, "MIME-Version", "1.0")
	if len(d.refs) > 0 {
		foldList(b, "References", d.refs, "")
		header(b, "In-Reply-To", d.inReplyTo)
	}
	header(b, "From", formatAddr("UTF-8", d.from.name, d.from.addr))
	header(b, "Date", when.Format(rfc5322Date))
	header(b, "Message-ID", d.msgID)
	header(b, "Subject", encodeWords("UTF-8", false, d.subject))
	foldList(b, "To", addrList("UTF-8", d.to), ",")
	if len(d.cc) > 0 {
		foldList(b, "Cc", addrList("UTF-8", d.cc), ",")
	}
	writeRoot(b, root)
}

func (g *Generator) headersThunderbird(b *bytes.Buffer, d *draft, root *part) {
	when := local(d.date, d.from.zone)
	fmt.Fprintf(b, "Received: from [192.168.%d.%d] (unknown [%s])\r\n\tby mail.%s (Postfix) with ESMTPSA id 4V%s\r\n\tfor <%s>; %s\r\n",
		g.rng.IntN(4), 10+g.rng.IntN(200), d.from.ip, domainOf(d.from.addr), g.hex(10, true), d.to[0].addr(),
		when.Format(rfc5322Date+" (MST)"))
	header(b, "Message-ID", d.msgID)
	header(b, "Date", when.Format(rfc5322Date))
	header(b, "MIME-Version", "1.0")
	header(b, "User-Agent", "Mozilla Thunderbird")
	header(b, "Content-Language", d.lang.contentLang)
	foldList(b, "To", addrList("UTF-8", d.to), ",")
	if len(d.cc) > 0 {
		foldList(b, "Cc", addrList("UTF-8", d.cc), ",")
	}
	header(b, "From", formatAddr("UTF-8", d.from.name, d.from.addr))
	if len(d.refs) > 0 {
		foldList(b, "References", d.refs, "")
		header(b, "In-Reply-To", d.inReplyTo)
	}
	header(b, "Subject", encodeWords("UTF-8", true, d.subject))
	writeRoot(b, root)
}

func (g *Generator) headersNotify(b *bytes.Buffer, d *draft, root *part) {
	when := local(d.date, d.from.zone)
	dom := domainOf(d.from.addr)
	fmt.Fprintf(b, "Received: from app%02d.internal (app%02d.internal [10.0.%d.%d])\r\n\tby mail.%s (Postfix) with ESMTP id %s\r\n\tfor <%s>; %s\r\n",
		1+g.rng.IntN(4), 1+g.rng.IntN(4), g.rng.IntN(8), 2+g.rng.IntN(250), dom, g.hex(10, true), d.to[0].addr(),
		when.Format(rfc5322Date+" (MST)"))
	header(b, "Date", when.Format(rfc5322Date))
	header(b, "From", formatAddr("utf-8", d.from.name, d.from.addr))
	foldList(b, "To", addrList("utf-8", d.to), ",")
	header(b, "Message-ID", d.msgID)
	header(b, "Subject", encodeWords("utf-8", true, d.subject))
	header(b, "MIME-Version", "1.0")
	writeRoot(b, root)
	if d.notify == 1 {
		header(b, "List-Unsubscribe", "<https://"+dom+"/u/"+g.hex(16, false)+">, <mailto:unsubscribe@"+dom+">")
		header(b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		header(b, "Precedence", "bulk")
	}
	header(b, "X-Mailer", "Example Mailer 4.2")
}

// eopPrefix writes the Received chain Exchange Online Protection adds to inbound mail.
func (g *Generator) eopPrefix(b *bytes.Buffer, d *draft) {
	dom := domainOf(d.from.addr)
	t := d.date.Add(time.Duration(1+g.rng.IntN(5)) * time.Second).UTC()
	rcpt := d.to[0]
	var srv *person
	if rcpt.p != nil {
		srv = rcpt.p
	} else {
		srv = rcpt.g.members[0]
	}
	mbx := srv.server + "." + srv.region + ".prod.outlook.com"
	fe := fmt.Sprintf("AS4P%03dCA%04d", 100+g.rng.IntN(800), g.rng.IntN(10000))
	pe := "AMS1EPF" + g.hex(9, true)
	foldText(b, "Received", fmt.Sprintf("from %s.EURP%03d.PROD.OUTLOOK.COM (%s) by %s (%s) with Microsoft SMTP "+
		"Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.%d.%d; %s",
		fe, 100+g.rng.IntN(900), g.ipv6(), mbx, g.ipv6(), 7000+g.rng.IntN(999), 10+g.rng.IntN(30), t.Format(rfc5322Date)))
	foldText(b, "Received", fmt.Sprintf("from %s.eurprd05.prod.outlook.com (%s) by %s.outlook.office365.com (%s) "+
		"with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.%d.%d "+
		"via Frontend Transport; %s", pe, g.ipv6(), fe, g.ipv6(), 7000+g.rng.IntN(999), 10+g.rng.IntN(30), t.Format(rfc5322Date)))
	foldText(b, "Authentication-Results", fmt.Sprintf("spf=pass (sender IP is %s) smtp.mailfrom=%s; dkim=pass "+
		"(signature was verified) header.d=%s;dmarc=pass action=none header.from=%s;compauth=pass reason=100",
		d.from.ip, dom, dom, dom))
	foldText(b, "Received-SPF", fmt.Sprintf("Pass (protection.outlook.com: domain of %s designates %s as permitted sender) "+
		"receiver=protection.outlook.com; client-ip=%s; helo=mail.%s; pr=C", dom, d.from.ip, d.from.ip, dom))
	foldText(b, "Received", fmt.Sprintf("from mail.%s (%s) by %s.mail.protection.outlook.com (10.167.%d.%d) with Microsoft "+
		"SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.%d.%d via Frontend Transport; %s",
		dom, d.from.ip, pe, g.rng.IntN(250), g.rng.IntN(250), 7000+g.rng.IntN(999), 10+g.rng.IntN(30), t.Format(rfc5322Date)))
}

// eopSuffix writes the X-MS-Exchange-Organization-* block Exchange appends to inbound mail.
func (g *Generator) eopSuffix(b *bytes.Buffer, d *draft) {
	t := d.date.Add(time.Second).UTC()
	arr := fmt.Sprintf("%s.%04d (UTC)", t.Format("02 Jan 2006 15:04:05"), g.rng.IntN(10000))
	header(b, "Return-Path", d.from.addr)
	header(b, "X-MS-Exchange-Organization-ExpirationStartTime", arr)
	header(b, "X-MS-Exchange-Organization-ExpirationStartTimeReason", "OriginalSubmit")
	header(b, "X-MS-Exchange-Organization-ExpirationInterval", "1:00:00:00.0000000")
	header(b, "X-MS-Exchange-Organization-ExpirationIntervalReason", "OriginalSubmit")
	header(b, "X-MS-Exchange-Organization-Network-Message-Id", g.guid())
	header(b, "X-EOPAttributedMessage", "0")
	header(b, "X-MS-Exchange-Organization-MessageDirectionality", "Incoming")
	header(b, "X-MS-PublicTrafficType", "Email")
	header(b, "X-MS-Exchange-Organization-AuthSource", "AMS1EPF"+g.hex(9, true)+".eurprd05.prod.outlook.com")
	header(b, "X-MS-Exchange-Organization-AuthAs", "Anonymous")
	header(b, "X-MS-Exchange-Organization-FromEntityHeader", "Internet")
	var rcpts []string
	for _, list := range [][]addressee{d.to, d.cc} {
		for _, a := range list {
			if a.g != nil || a.p.internal {
				rcpts = append(rcpts, a.addr())
			}
		}
	}
	foldList(b, "X-MS-Exchange-Organization-OriginalEnvelopeRecipients", rcpts, ",")
	header(b, "X-MS-Exchange-Organization-SCL", "1")
	if d.from.client == clientNotify {
		header(b, "X-Microsoft-Antispam", "BCL:4;")
	} else {
		header(b, "X-Microsoft-Antispam", "BCL:0;")
	}
	header(b, "X-MS-Exchange-CrossTenant-OriginalArrivalTime", arr)
	header(b, "X-MS-Exchange-Transport-EndToEndLatency", fmt.Sprintf("00:00:0%d.%07d", 1+g.rng.IntN(8), g.rng.IntN(10000000)))
}
