package mailgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// A Corpus generates a benchmark corpus: an endless deterministic stream of messages whose
// sizes, content types, charsets, attachments and duplicates follow the proportions of a
// company mailbox, unlike [Generator], whose messages are all small.
//
// The proportions (measured by corpus_test.go on a few thousand messages):
//
//   - sizes: the text of a message is padded with paragraphs to a target drawn from a
//     log-normal distribution (median about 8 KB); about 12% of the messages carry one to
//     three base64 attachments (PDF, DOCX, XLSX, PNG, JPEG) whose sizes are log-normal with
//     a heavy tail up to 5 MB each, so the median message is about 9 KB and the mean about 45 KB;
//   - bodies: 40% text/plain, 50% multipart/alternative, 10% text/html only, wrapped in
//     multipart/mixed when there are attachments;
//   - charsets: about a third of the messages whose text fits ISO-8859-1 are written in it
//     (body and RFC 2047 subject), the rest in UTF-8 (or US-ASCII);
//   - people: CorpusOptions.Users internal users (default 250) and about 80 external
//     contacts across five domains, threads, groups, Bcc and delegates as in [Generator];
//   - duplicates: CorpusOptions.Duplicates of the messages repeat the Original of one of
//     the last 32 messages byte for byte (with Journal, wrapped in a new report with the
//     same envelope, as when a message is journaled twice).
//
// Attachment bytes are random but for the text objects of PDFs, so they compress about as
// badly as real PDFs, Office files and images. Memory is bounded: a Corpus keeps only the
// last 32 messages (those under 1 MB) for duplicates and the generator's recent threads.
type Corpus struct {
	g    *Generator
	rng  *rand.Rand // the corpus's own choices, apart from the generator's text
	opts CorpusOptions
	seq  int

	recent [32]*corpusEntry // ring of earlier messages, for duplicates
}

// CorpusVersion numbers the streams of a Corpus. It goes up whenever the messages that
// some CorpusOptions give change, so that a corpus kept on disk (bench/run.sh keeps them by
// size and seed) is known to come from an older generator. TestCorpusVersion holds a hash of
// a stream of this version and fails when the stream changes without it.
const CorpusVersion = 2

// CorpusOptions configure a Corpus. The zero value gives the defaults.
type CorpusOptions struct {
	Seed int64
	// Journal wraps every message in an Exchange journal report ([WrapJournal]).
	Journal bool
	// Duplicates is the fraction of messages (0 to 0.5) that repeat an earlier Original;
	// 0 gives none.
	Duplicates float64
	// Users is the number of internal users, default 250.
	Users int
}

// CorpusMessage is one message of a Corpus.
type CorpusMessage struct {
	Seq      int
	Data     []byte // the file: Original, or with Journal the journal report wrapping it
	Original []byte // the original message (CRLF): what an archive stores
	Envelope Envelope
	Date     time.Time // of the report (Journal) or the original

	// DuplicateOf is the Seq of the earlier message whose Original this one repeats,
	// or -1.
	DuplicateOf int

	Body        string // media type of the body: text/plain, multipart/alternative or text/html
	Charset     string // of the body text: us-ascii, utf-8 or iso-8859-1
	Attachments int
}

type corpusEntry struct {
	seq      int
	data     []byte
	original []byte
	env      Envelope
	date     time.Time
	body     string
	charset  string
	attach   int
}

// Body kinds of a corpus message.
const (
	bodyPlain = "text/plain"
	bodyAlt   = "multipart/alternative"
	bodyHTML  = "text/html"
)

// Distribution parameters, tuned with corpus_test.go.
const (
	textMedian     = 6000.0 // bytes of a message without attachments, log-normal median
	textSigma      = 0.55
	attachProb     = 0.12
	attachMedian   = 58000.0 // bytes of one attachment before base64, log-normal median
	attachSigma    = 1.40
	attachMin      = 6000
	attachMax      = 5 << 20
	latin1Prob     = 0.35 // of messages whose text fits ISO-8859-1
	recentMaxBytes = 1 << 20
)

// corpusDomains are the external organisations of a corpus and the mail program their
// people use.
var corpusDomains = []struct {
	domain string
	client client
	zone   zoneKind
	lang   string
}{
	{"fabrikam.com", clientGmail, zoneCET, "en"},
	{"example.org", clientThunderbird, zoneUK, "en"},
	{"northwindtraders.com", clientGmail, zoneUS, "en"},
	{"tailspintoys.com", clientThunderbird, zoneCET, "de"},
	{"adatum.fr", clientGmail, zoneCET, "fr"},
}

// NewCorpus returns a corpus for opts.
func NewCorpus(opts CorpusOptions) *Corpus {
	if opts.Users <= 0 {
		opts.Users = 250
	}
	opts.Duplicates = min(max(opts.Duplicates, 0), 0.5)
	seed := uint64(opts.Seed)
	c := &Corpus{
		g:    New(Options{Seed: opts.Seed, Users: opts.Users}),
		rng:  rand.New(rand.NewPCG(seed, 0x636f72707573)),
		opts: opts,
	}
	c.addContacts(rand.New(rand.NewPCG(seed, 0x636f6e7461637473)), 80)
	return c
}

// Users returns the internal users' addresses.
func (c *Corpus) Users() []string { return c.g.Users() }

// addContacts adds n external people across corpusDomains to the generator's contacts.
func (c *Corpus) addContacts(r *rand.Rand, n int) {
	seen := make(map[string]bool)
	for _, p := range c.g.ext {
		seen[p.addr] = true
	}
	for i := 0; i < n; i++ {
		dom := corpusDomains[i%len(corpusDomains)]
		f := staffNames[r.IntN(len(staffNames))]
		l := externalPeople[r.IntN(len(externalPeople))]
		first, _, _ := strings.Cut(f.name, " ")
		_, last, _ := strings.Cut(l.name, " ")
		name := first + " " + last
		addr := addrLocal(name) + "@" + dom.domain
		if seen[addr] {
			continue
		}
		seen[addr] = true
		p := &person{name: name, first: first, addr: addr, lang: langByCode(dom.lang), zone: dom.zone,
			client: dom.client, ip: fmt.Sprintf("198.51.100.%d", 100+i%5)}
		if dom.client == clientThunderbird {
			p.ip = fmt.Sprintf("203.0.113.%d", 100+i%5)
		}
		c.g.ext = append(c.g.ext, p)
	}
}

// lognormal draws from a log-normal distribution with the given median.
func (c *Corpus) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*c.rng.NormFloat64())
}

// Next returns the next message.
func (c *Corpus) Next() *CorpusMessage {
	seq := c.seq
	c.seq++
	if c.opts.Duplicates > 0 && c.rng.Float64() < c.opts.Duplicates {
		if e := c.recent[c.rng.IntN(len(c.recent))]; e != nil {
			return c.duplicate(seq, e)
		}
	}
	g := c.g
	d := g.nextDraft()
	m := &CorpusMessage{Seq: seq, DuplicateOf: -1, Date: d.date}

	switch r := c.rng.Float64(); {
	case r < 0.40:
		m.Body = bodyPlain
	case r < 0.90:
		m.Body = bodyAlt
	default:
		m.Body = bodyHTML
	}
	d.attach = nil
	if c.rng.Float64() < attachProb {
		c.attach(d)
	}
	latin1 := c.rng.Float64() < latin1Prob
	target := int(min(max(c.lognormal(textMedian, textSigma), 2500), 250000))

	m.Original, m.Charset = c.render(d, m.Body, latin1)
	if textLen := len(m.Original) - attachBytes(d); textLen < target && d.from.client != clientNotify {
		c.pad(d, m.Body, target-textLen)
		m.Original, m.Charset = c.render(d, m.Body, latin1)
	}
	m.Attachments = len(d.attach)
	m.Envelope = g.envelope(d)
	m.Data = m.Original
	if c.opts.Journal {
		m.Date = d.date.Add(time.Duration(2+c.rng.IntN(3)) * time.Second)
		m.Data = wrapJournal(m.Original, m.Envelope, m.Date, g.domain, m.Attachments > 0)
	}
	d.attach = nil // forwards do not carry attachment bytes along: memory stays bounded
	g.remember(d)
	if len(m.Data) <= recentMaxBytes {
		c.recent[seq%len(c.recent)] = &corpusEntry{seq: seq, data: m.Data, original: m.Original, env: m.Envelope,
			date: m.Date, body: m.Body, charset: m.Charset, attach: m.Attachments}
	}
	return m
}

// duplicate repeats e's Original.
func (c *Corpus) duplicate(seq int, e *corpusEntry) *CorpusMessage {
	m := &CorpusMessage{Seq: seq, DuplicateOf: e.seq, Original: e.original, Envelope: e.env, Data: e.data,
		Date: e.date, Body: e.body, Charset: e.charset, Attachments: e.attach}
	if c.opts.Journal {
		m.Date = c.g.clock.Add(time.Duration(30+c.rng.IntN(600)) * time.Second)
		m.Data = wrapJournal(e.original, e.env, m.Date, c.g.domain, e.attach > 0)
	}
	return m
}

func attachBytes(d *draft) int {
	n := 0
	for _, a := range d.attach {
		n += len(a.data) * 4 / 3 * 78 / 76
	}
	return n
}

// pad adds paragraphs to d's text to make the message about extra bytes longer.
func (c *Corpus) pad(d *draft, body string, extra int) {
	g := c.g
	// Each paragraph is written once in text/plain and once in HTML.
	factor := 1.0
	switch body {
	case bodyAlt:
		factor = 2.3
	case bodyHTML:
		factor = 1.3
	}
	var paras []string
	for n := 0.0; n*factor < float64(extra); {
		s := g.sentence(d)
		for range 2 + g.rng.IntN(4) {
			s += " " + g.sentence(d)
		}
		paras = append(paras, s, "")
		n += float64(len(s) + 2)
	}
	at := min(2, len(d.body))
	d.body = append(d.body[:at], append(paras, d.body[at:]...)...)
	d.lines = g.plainLines(d)
}

// ---------- attachments ----------

var corpusAttachKinds = []struct {
	weight float64
	ext    string
	ctype  string
	names  []string
}{
	{0.40, "pdf", "application/pdf", []string{"Invoice_{inv}.pdf", "Contract_{company}_v{n}.pdf", "Scan_{year}_{n}.pdf", "Rechnung_{inv}.pdf", "Présentation_Q{q}.pdf"}},
	{0.20, "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []string{"Offer_{inv}.docx", "Vertrag_Entwurf_v{n}.docx", "Minutes {month}.docx"}},
	{0.08, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", []string{"Budget_{year}.xlsx", "Kalkulation_{year}.xlsx", "Forecast Q{q}.xlsx"}},
	{0.16, "png", "image/png", []string{"image001.png", "Screenshot {year}-0{q}-1{n}.png", "diagram.png"}},
	{0.16, "jpg", "image/jpeg", []string{"IMG_{year}{n}.jpg", "photo_{n}.jpg", "Whiteboard.jpg"}},
}

// attach gives d one to three attachments.
func (c *Corpus) attach(d *draft) {
	n := 1
	switch r := c.rng.Float64(); {
	case r < 0.08:
		n = 3
	case r < 0.30:
		n = 2
	}
	for range n {
		r := c.rng.Float64()
		k := corpusAttachKinds[len(corpusAttachKinds)-1]
		for _, kk := range corpusAttachKinds {
			if r < kk.weight {
				k = kk
				break
			}
			r -= kk.weight
		}
		size := int(min(max(c.lognormal(attachMedian, attachSigma), attachMin), attachMax))
		name := c.g.fill(k.names[c.rng.IntN(len(k.names))], d.lang, "", d.date)
		a := attachment{name: name, ctype: k.ctype, mod: d.date.Add(-time.Duration(c.rng.IntN(72*3600)) * time.Second)}
		a.rfc2231 = c.rng.Float64() < 0.3 || d.from.client == clientThunderbird
		switch k.ext {
		case "pdf":
			a.data = c.pdf(d, size)
		case "docx", "xlsx":
			a.data = c.zip(k.ext, size)
		case "png":
			a.data = c.png(size)
		default:
			a.data = c.jpeg(size)
		}
		d.attach = append(d.attach, a)
	}
}

func (c *Corpus) random(b []byte) {
	var buf [8]byte
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], c.rng.Uint64())
	}
	if i < len(b) {
		binary.LittleEndian.PutUint64(buf[:], c.rng.Uint64())
		copy(b[i:], buf[:])
	}
}

// pdf returns a PDF-like file of about n bytes: text objects (a quarter, compressible)
// and a compressed image stream (random bytes).
func (c *Corpus) pdf(d *draft, n int) []byte {
	var b bytes.Buffer
	b.Grow(n + 1024)
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n" +
		"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> /Contents 4 0 R >>\nendobj\n" +
		"4 0 obj\n")
	var text strings.Builder
	text.WriteString("BT /F1 11 Tf 72 770 Td 14 TL\n")
	for text.Len() < n/4 {
		s := c.g.sentence(d)
		text.WriteString("(" + strings.NewReplacer("(", `\(`, ")", `\)`, `\`, `\\`).Replace(pdfLatin1(s)) + ") Tj T*\n")
	}
	text.WriteString("ET")
	fmt.Fprintf(&b, "<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", text.Len(), text.String())
	b.WriteString("5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n")
	img := max(n-b.Len()-200, 64)
	fmt.Fprintf(&b, "6 0 obj\n<< /Type /XObject /Subtype /Image /Width 800 /Height 600 /BitsPerComponent 8 /ColorSpace /DeviceRGB /Length %d /Filter /DCTDecode >>\nstream\n", img)
	raw := make([]byte, img)
	c.random(raw)
	b.Write(raw)
	b.WriteString("\nendstream\nendobj\nxref\n0 7\n0000000000 65535 f \ntrailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n9\n%%EOF\n")
	return b.Bytes()
}

func pdfLatin1(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// zip returns an Office-like file (deflated members: random bytes) of n bytes.
func (c *Corpus) zip(ext string, n int) []byte {
	member := "word/document.xml"
	if ext == "xlsx" {
		member = "xl/worksheets/sheet1.xml"
	}
	n = max(n, 64+len(member))
	b := make([]byte, n)
	c.random(b)
	copy(b, "PK\x03\x04\x14\x00\x06\x00\x08\x00")
	binary.LittleEndian.PutUint16(b[26:], uint16(len(member)))
	binary.LittleEndian.PutUint16(b[28:], 0)
	copy(b[30:], member)
	copy(b[n-22:], "PK\x05\x06")
	return b
}

func (c *Corpus) png(n int) []byte {
	n = max(n, 64)
	b := make([]byte, n)
	c.random(b)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x03\x20\x00\x00\x02\x58\x08\x02\x00\x00\x00")
	copy(b[33:], "\x00\x00\x00\x00IDAT")
	binary.BigEndian.PutUint32(b[33:], uint32(n-33-12-12))
	copy(b[n-12:], "\x00\x00\x00\x00IEND\xaeB`\x82")
	return b
}

func (c *Corpus) jpeg(n int) []byte {
	n = max(n, 32)
	b := make([]byte, n)
	c.random(b)
	copy(b, "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
	copy(b[n-2:], "\xff\xd9")
	return b
}

// ---------- rendering ----------

// toLatin1 returns s in ISO-8859-1, or false when a character does not fit.
func toLatin1(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff || r == utf8.RuneError {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

// render writes d with the given body kind; latin1 asks for ISO-8859-1 when the text fits.
// It returns the message and the body's charset.
func (c *Corpus) render(d *draft, body string, latin1 bool) ([]byte, string) {
	g := c.g
	var root *part
	var charset string
	if d.from.client == clientNotify {
		// The automated senders' own text and HTML; the kind picks the parts.
		att := d.attach
		d.attach = nil
		alt := g.notifyTree(d)
		d.attach = att
		switch body {
		case bodyPlain:
			root = alt.kids[0]
		case bodyHTML:
			root = alt.kids[1]
		default:
			root = alt
		}
		charset = "utf-8"
	} else {
		root, charset = c.bodyTree(d, body, latin1)
	}
	if len(d.attach) > 0 {
		mixed := &part{boundary: "_004_" + g.hex(24, true) + "_", kids: []*part{root}}
		mixed.header = []string{"Content-Type: multipart/mixed;\r\n\tboundary=\"" + mixed.boundary + "\""}
		for i, a := range d.attach {
			mixed.kids = append(mixed.kids, attachmentPart(d.from.client, a, fmt.Sprintf("f_%s%d", g.alnum(8), i)))
		}
		root = mixed
	}

	var b bytes.Buffer
	b.Grow(8192 + attachBytes(d))
	g.writeHeaders(&b, d, root)
	if _, ok := toLatin1(d.subject); ok && charset == "iso-8859-1" && !isASCII(d.subject) {
		msg := replaceField(b.Bytes(), "Subject", latin1Words(d.subject))
		b.Reset()
		b.Write(msg)
	}
	b.WriteString("\r\n")
	root.writeBody(&b)
	return b.Bytes(), charset
}

// bodyTree builds the body of a person's message: text, HTML or both, in d.from's client's habits.
func (c *Corpus) bodyTree(d *draft, body string, latin1 bool) (*part, string) {
	g := c.g
	cl := d.from.client
	lines := d.lines
	if cl == clientThunderbird {
		lines = flowed(lines)
	}
	text := joinCRLF(lines)
	charset := "utf-8"
	var enc func(string) []byte = func(s string) []byte { return []byte(s) }
	switch {
	case latin1:
		if _, ok := toLatin1(text); ok {
			charset = "iso-8859-1"
			enc = func(s string) []byte {
				b, ok := toLatin1(s)
				if !ok { // a character of the HTML only: write it as an entity
					var sb strings.Builder
					for _, r := range s {
						if r > 0xff {
							fmt.Fprintf(&sb, "&#%d;", r)
						} else {
							sb.WriteRune(r)
						}
					}
					b, _ = toLatin1(sb.String())
				}
				return b
			}
		}
	case isASCII(text) && cl == clientOutlook:
		charset = "us-ascii"
	}
	csLabel := charset
	if cl != clientOutlook {
		csLabel = strings.ToUpper(charset)
	}
	leaf := func(ctype, s string) *part {
		data := enc(s)
		p := &part{header: []string{"Content-Type: " + ctype + "; charset=\"" + csLabel + "\""}}
		if ctype == "text/plain" && cl == clientThunderbird {
			p.header[0] = "Content-Type: text/plain; charset=" + csLabel + "; format=flowed"
			if isASCII(string(data)) {
				p.header = append(p.header, "Content-Transfer-Encoding: 7bit")
			} else {
				p.header = append(p.header, "Content-Transfer-Encoding: 8bit")
			}
			p.body = data
			return p
		}
		p.header = append(p.header, "Content-Transfer-Encoding: quoted-printable")
		p.body = qp(string(data))
		return p
	}
	var htmlText string
	switch cl {
	case clientGmail:
		htmlText = htmlGmail(d)
	case clientThunderbird:
		htmlText = htmlThunderbird(d, csLabel)
	default:
		htmlText = g.htmlOutlook(d, csLabel)
	}
	switch body {
	case bodyPlain:
		return leaf("text/plain", text), charset
	case bodyHTML:
		return leaf("text/html", htmlText), charset
	}
	alt := &part{kids: []*part{leaf("text/plain", text), leaf("text/html", htmlText)}}
	switch cl {
	case clientGmail:
		alt.boundary = "000000000000" + g.hex(16, false)
	case clientThunderbird:
		alt.boundary = "------------" + g.alnum(24)
	default:
		alt.boundary = "_000_" + msgLocal(d.msgID) + "_"
	}
	alt.header = []string{"Content-Type: multipart/alternative;\r\n\tboundary=\"" + alt.boundary + "\""}
	return alt, charset
}

func htmlThunderbird(d *draft, charset string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\r\n<html>\r\n  <head>\r\n    <meta http-equiv=\"content-type\" content=\"text/html; charset=" +
		charset + "\">\r\n  </head>\r\n  <body>\r\n")
	for _, s := range d.lines {
		if s == "" {
			b.WriteString("    <br>\r\n")
			continue
		}
		b.WriteString("    <p>" + html.EscapeString(s) + "</p>\r\n")
	}
	b.WriteString("  </body>\r\n</html>\r\n")
	return b.String()
}

// latin1Words encodes s as RFC 2047 'Q' encoded-words in ISO-8859-1 (s must fit it).
func latin1Words(s string) string {
	const prefix = "=?iso-8859-1?Q?"
	room := 75 - len(prefix) - 2
	var words []string
	var cur strings.Builder
	for _, r := range s {
		var piece string
		switch {
		case r == ' ':
			piece = "_"
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)):
			piece = string(r)
		default:
			piece = fmt.Sprintf("=%02X", byte(r))
		}
		if cur.Len()+len(piece) > room {
			words = append(words, prefix+cur.String()+"?=")
			cur.Reset()
		}
		cur.WriteString(piece)
	}
	words = append(words, prefix+cur.String()+"?=")
	return strings.Join(words, "\r\n ")
}

// replaceField replaces the value of the first field name of the header block hdr
// (folded lines included) by value.
func replaceField(hdr []byte, name, value string) []byte {
	prefix := []byte(name + ":")
	for i := 0; i < len(hdr); {
		j := bytes.Index(hdr[i:], []byte("\r\n"))
		if j < 0 {
			break
		}
		if bytes.HasPrefix(hdr[i:], prefix) {
			end := i + j + 2
			for end < len(hdr) && (hdr[end] == ' ' || hdr[end] == '\t') {
				k := bytes.Index(hdr[end:], []byte("\r\n"))
				if k < 0 {
					end = len(hdr)
					break
				}
				end += k + 2
			}
			out := make([]byte, 0, len(hdr)+len(value))
			out = append(out, hdr[:i]...)
			out = append(out, name+": "+value+"\r\n"...)
			return append(out, hdr[end:]...)
		}
		i += j + 2
	}
	return hdr
}
