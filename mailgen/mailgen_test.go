package mailgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// parseEnvelope is a minimal parser of the envelope part, written independently of the
// generator: "Key: value" lines, recipients with an optional ", Expanded:" or ", Forwarded:".
func parseEnvelope(text string) (Envelope, error) {
	var env Envelope
	for _, line := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return env, fmt.Errorf("envelope line %q: no colon", line)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "sender":
			env.Sender = v
		case "on-behalf-of":
			env.OnBehalfOf = v
		case "subject":
			env.Subject = v
		case "message-id":
			env.MessageID = v
		case "to", "cc", "bcc", "recipient":
			r := Recipient{Field: strings.ToLower(k)}
			addr, ann, _ := strings.Cut(v, ",")
			r.Addr = strings.TrimSpace(addr)
			if ann != "" {
				ak, av, _ := strings.Cut(ann, ":")
				switch strings.ToLower(strings.TrimSpace(ak)) {
				case "expanded":
					r.ExpandedFrom = strings.TrimSpace(av)
				case "forwarded":
					r.ForwardedFrom = strings.TrimSpace(av)
				default:
					return env, fmt.Errorf("envelope line %q: unknown annotation", line)
				}
			}
			env.Recipients = append(env.Recipients, r)
		default:
			return env, fmt.Errorf("envelope line %q: unknown field", line)
		}
	}
	return env, nil
}

func equalEnvelope(a, b Envelope) bool {
	return a.Sender == b.Sender && a.OnBehalfOf == b.OnBehalfOf && a.Subject == b.Subject &&
		a.MessageID == b.MessageID && slices.Equal(a.Recipients, b.Recipients)
}

// checkReport parses a journal report and returns its envelope part's envelope, the raw
// bytes of the message/rfc822 part (by offsets) and the same bytes as read by mime/multipart.
func checkReport(report []byte) (env Envelope, raw, viaMultipart []byte, err error) {
	if !bytes.Equal(CRLF(report), report) {
		return env, nil, nil, fmt.Errorf("report has bare CR or LF")
	}
	for i, line := range bytes.Split(report, []byte("\r\n")) {
		if len(line) > 998 {
			return env, nil, nil, fmt.Errorf("report line %d has %d octets; want at most 998", i+1, len(line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(report))
	if err != nil {
		return env, nil, nil, fmt.Errorf("read report: %w", err)
	}
	if _, ok := msg.Header["X-Ms-Journal-Report"]; !ok {
		return env, nil, nil, fmt.Errorf("no X-MS-Journal-Report header")
	}
	if s := msg.Header.Get("Sender"); !strings.Contains(s, "<MicrosoftExchange") {
		return env, nil, nil, fmt.Errorf("report Sender = %q; want the MicrosoftExchange address", s)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return env, nil, nil, fmt.Errorf("report Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	boundary := params["boundary"]
	mr := multipart.NewReader(msg.Body, boundary)
	p, err := mr.NextPart()
	if err != nil {
		return env, nil, nil, fmt.Errorf("envelope part: %w", err)
	}
	if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != "text/plain" {
		return env, nil, nil, fmt.Errorf("first part is %q; want text/plain", ct)
	}
	text, err := io.ReadAll(p)
	if err != nil {
		return env, nil, nil, fmt.Errorf("envelope part: %w", err)
	}
	if env, err = parseEnvelope(string(text)); err != nil {
		return env, nil, nil, err
	}
	p, err = mr.NextPart()
	if err != nil {
		return env, nil, nil, fmt.Errorf("rfc822 part: %w", err)
	}
	if ct := p.Header.Get("Content-Type"); ct != "message/rfc822" {
		return env, nil, nil, fmt.Errorf("second part is %q; want message/rfc822", ct)
	}
	if viaMultipart, err = io.ReadAll(p); err != nil {
		return env, nil, nil, fmt.Errorf("rfc822 part: %w", err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return env, nil, nil, fmt.Errorf("after rfc822 part: got %v; want io.EOF", err)
	}

	// The same bytes by offsets: from after the part header's blank line to the CRLF
	// before the next boundary delimiter.
	start := bytes.Index(report, []byte("\r\n--"+boundary+"\r\nContent-Type: message/rfc822\r\n"))
	if start < 0 {
		return env, nil, nil, fmt.Errorf("no message/rfc822 part header")
	}
	hdrEnd := bytes.Index(report[start+2:], []byte("\r\n\r\n"))
	start += 2 + hdrEnd + 4
	end := bytes.Index(report[start:], []byte("\r\n--"+boundary))
	if end < 0 {
		return env, nil, nil, fmt.Errorf("no boundary after the rfc822 part")
	}
	raw = report[start : start+end]
	if !bytes.Equal(report[start+end:], []byte("\r\n--"+boundary+"--\r\n")) {
		return env, nil, nil, fmt.Errorf("report does not end with the closing delimiter")
	}
	return env, raw, viaMultipart, nil
}

// mimeStats counts what a walk over an original found.
type mimeStats struct {
	leaves, multiparts, alternatives, attachments int
	rfc2231, rfc2047Names, eightBit, qpUTF8       int
}

var wordDecoder = mime.WordDecoder{}

// walkMIME parses an entity recursively and decodes every leaf.
func walkMIME(h textproto.MIMEHeader, body io.Reader, st *mimeStats, depth int) error {
	if depth > 10 {
		return fmt.Errorf("MIME nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		st.multiparts++
		if mt == "multipart/alternative" {
			st.alternatives++
		}
		mr := multipart.NewReader(body, params["boundary"])
		n := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s part %d: %w", mt, n, err)
			}
			if err := walkMIME(p.Header, p, st, depth+1); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("%s without parts", mt)
		}
		return nil
	}
	st.leaves++
	var r io.Reader = body
	switch cte := strings.ToLower(h.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "8bit":
		st.eightBit++
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decode %s: %w", mt, err)
	}
	if strings.HasPrefix(mt, "text/") && !utf8.Valid(data) {
		return fmt.Errorf("%s body is not valid UTF-8", mt)
	}
	if strings.HasPrefix(mt, "text/") && strings.EqualFold(params["charset"], "utf-8") && !isASCII(string(data)) {
		st.qpUTF8++
	}
	if cd := h.Get("Content-Disposition"); cd != "" {
		disp, dp, err := mime.ParseMediaType(cd)
		if err != nil {
			return fmt.Errorf("content-disposition %q: %w", cd, err)
		}
		if disp == "attachment" {
			st.attachments++
			name := dp["filename"]
			if strings.Contains(cd, "filename*=") {
				st.rfc2231++
			}
			if strings.HasPrefix(name, "=?") {
				st.rfc2047Names++
				if name, err = wordDecoder.DecodeHeader(name); err != nil {
					return fmt.Errorf("filename %q: %w", dp["filename"], err)
				}
			}
			if name == "" || !utf8.ValidString(name) || strings.Contains(name, "=?") {
				return fmt.Errorf("attachment file name %q not decodable", dp["filename"])
			}
			if len(data) == 0 {
				return fmt.Errorf("attachment %q is empty", name)
			}
		}
	}
	return nil
}

func addrs(h mail.Header, keys ...string) ([]string, error) {
	var out []string
	for _, k := range keys {
		if h.Get(k) == "" {
			continue
		}
		list, err := h.AddressList(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out, nil
}

// checkOriginal parses an original and checks it against the envelope.
func checkOriginal(orig []byte, env Envelope, st *mimeStats) error {
	msg, err := mail.ReadMessage(bytes.NewReader(orig))
	if err != nil {
		return fmt.Errorf("read original: %w", err)
	}
	h := msg.Header
	if _, err := h.Date(); err != nil {
		return fmt.Errorf("original Date: %w", err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 {
		return fmt.Errorf("original From %q: %v", h.Get("From"), err)
	}
	if id := h.Get("Message-ID"); id == "" || id != env.MessageID {
		return fmt.Errorf("original Message-ID = %q; want %q", id, env.MessageID)
	}
	subj, err := wordDecoder.DecodeHeader(h.Get("Subject"))
	if err != nil || subj != env.Subject {
		return fmt.Errorf("original Subject = %q (%v); want envelope's %q", subj, err, env.Subject)
	}
	// Sender / On-Behalf-Of.
	if env.OnBehalfOf != "" {
		s, err := mail.ParseAddress(h.Get("Sender"))
		if err != nil || s.Address != env.Sender || from[0].Address != env.OnBehalfOf {
			return fmt.Errorf("delegate send: Sender %q, From %q; want %s on behalf of %s",
				h.Get("Sender"), from[0].Address, env.Sender, env.OnBehalfOf)
		}
	} else if from[0].Address != env.Sender {
		return fmt.Errorf("envelope Sender %q; want From %q", env.Sender, from[0].Address)
	}
	visible, err := addrs(h, "To", "Cc")
	if err != nil {
		return fmt.Errorf("original: %w", err)
	}
	for _, r := range env.Recipients {
		switch {
		case r.Field == "bcc" && r.ExpandedFrom == "" && r.ForwardedFrom == "" && slices.Contains(visible, r.Addr):
			return fmt.Errorf("bcc recipient %s is in the original's To/Cc", r.Addr)
		case r.Field == "bcc" && r.ExpandedFrom != "" && slices.Contains(visible, r.ExpandedFrom):
			return fmt.Errorf("bcc group %s is in the original's To/Cc", r.ExpandedFrom)
		case r.Field != "bcc" && r.ExpandedFrom != "" && !slices.Contains(visible, r.ExpandedFrom):
			return fmt.Errorf("group %s is not in the original's To/Cc", r.ExpandedFrom)
		case (r.Field == "to" || r.Field == "cc") && r.ExpandedFrom == "" && r.ForwardedFrom == "" &&
			!slices.Contains(visible, r.Addr):
			return fmt.Errorf("%s recipient %s is not in the original's To/Cc", r.Field, r.Addr)
		}
	}
	return walkMIME(textproto.MIMEHeader(h), msg.Body, st, 0)
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

func TestDeterminism(t *testing.T) {
	stream := func(opts Options) [][32]byte {
		g := New(opts)
		var out [][32]byte
		for range 300 {
			m := g.Next()
			out = append(out, sum(m.Report), sum(m.Original), sum([]byte(fmt.Sprint(m.Envelope, m.Seq, m.Date, m.Duplicate))))
		}
		return out
	}
	a := stream(Options{Seed: 7})
	b := stream(Options{Seed: 7})
	if !slices.Equal(a, b) {
		t.Fatalf("two generators with Seed 7 differ")
	}
	c := stream(Options{Seed: 8})
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("Seed 7 and Seed 8 share %d of %d hashes; want 0", same, len(a))
	}
	if !slices.Equal(New(Options{Seed: 7}).Users(), New(Options{Seed: 7}).Users()) {
		t.Errorf("Users() differ for equal Options")
	}
}

func TestOptions(t *testing.T) {
	start := time.Date(2024, 7, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		opts   Options
		users  int
		domain string
		start  time.Time
	}{
		{Options{}, 40, "contoso.com", time.Date(2024, 1, 2, 8, 0, 0, 0, time.UTC)},
		{Options{Seed: 3, Domain: "Example.NET", Users: 5, Start: start}, 5, "example.net", start},
		{Options{Users: 1}, 3, "contoso.com", time.Date(2024, 1, 2, 8, 0, 0, 0, time.UTC)},
		{Options{Seed: -1, Users: 250}, 250, "contoso.com", time.Date(2024, 1, 2, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		g := New(tt.opts)
		users := g.Users()
		if len(users) != tt.users {
			t.Errorf("New(%+v).Users() has %d addresses; want %d", tt.opts, len(users), tt.users)
		}
		seen := map[string]bool{}
		for _, u := range users {
			if seen[u] || !strings.HasSuffix(u, "@"+tt.domain) || !isASCII(u) {
				t.Errorf("New(%+v).Users(): bad or repeated address %q", tt.opts, u)
			}
			seen[u] = true
		}
		var prev time.Time
		for i := range 150 {
			m := g.Next()
			msg, err := mail.ReadMessage(bytes.NewReader(m.Original))
			if err != nil {
				t.Fatalf("New(%+v) message %d: %v", tt.opts, i, err)
			}
			d, err := msg.Header.Date()
			if err != nil {
				t.Fatalf("New(%+v) message %d: Date: %v", tt.opts, i, err)
			}
			if i == 0 && !d.Equal(tt.start) {
				t.Errorf("New(%+v): first Date = %v; want %v", tt.opts, d, tt.start)
			}
			if !m.Duplicate {
				if d.Before(prev) {
					t.Errorf("New(%+v) message %d: Date %v before previous %v", tt.opts, i, d, prev)
				}
				prev = d
			}
			if _, _, _, err := checkReport(m.Report); err != nil {
				t.Fatalf("New(%+v) message %d: %v", tt.opts, i, err)
			}
			if tt.opts.Domain != "" && !strings.Contains(string(m.Report), "journal-ndr@"+tt.domain) {
				t.Errorf("New(%+v) message %d: report does not name tenant %s", tt.opts, i, tt.domain)
			}
		}
	}
}

// TestStream checks every report and original of a long stream and that the realism
// features the package promises all occur.
func TestStream(t *testing.T) {
	const n = 1200
	g := New(Options{Seed: 42})
	var st mimeStats
	ids := map[string]int{}
	originals := map[[32]byte]int{}
	var sizes []int
	count := map[string]int{}
	for i := range n {
		m := g.Next()
		if m.Seq != i {
			t.Fatalf("message %d: Seq = %d", i, m.Seq)
		}
		env, raw, viaMP, err := checkReport(m.Report)
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, m.Report)
		}
		if !equalEnvelope(env, m.Envelope) {
			t.Fatalf("message %d: envelope part = %+v; want %+v", i, env, m.Envelope)
		}
		if !bytes.Equal(raw, m.Original) || !bytes.Equal(viaMP, m.Original) {
			t.Fatalf("message %d: rfc822 part differs from Original (offsets %v, multipart %v)", i,
				bytes.Equal(raw, m.Original), bytes.Equal(viaMP, m.Original))
		}
		if !bytes.Equal(CRLF(m.Original), m.Original) {
			t.Fatalf("message %d: Original has bare CR or LF", i)
		}
		if err := checkOriginal(m.Original, m.Envelope, &st); err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, m.Original)
		}

		// Duplicates are exactly the repeated originals.
		h := sum(m.Original)
		first, seen := originals[h]
		switch {
		case m.Duplicate && (!seen || first != m.DuplicateOf):
			t.Errorf("message %d: Duplicate of %d, but the Original first appeared at %v (seen %v)", i, m.DuplicateOf, first, seen)
		case !m.Duplicate && seen:
			t.Errorf("message %d: Original repeats message %d but Duplicate is false", i, first)
		}
		if !seen {
			originals[h] = i
			sizes = append(sizes, len(m.Original))
		}
		if m.Duplicate {
			count["duplicate"]++
			if m.Envelope.MessageID == "" || i-m.DuplicateOf > 4 {
				t.Errorf("message %d: duplicate of %d too far back or without Message-ID", i, m.DuplicateOf)
			}
			external := true
			for _, r := range m.Envelope.Recipients {
				external = external && !strings.HasSuffix(r.Addr, "@contoso.com")
			}
			if external {
				count["fork"]++
			}
		}

		msg, _ := mail.ReadMessage(bytes.NewReader(m.Original))
		id := msg.Header.Get("Message-ID")
		if j, ok := ids[id]; ok && !m.Duplicate {
			t.Errorf("message %d: Message-ID %s already used by message %d", i, id, j)
		}
		ids[id] = i
		if irt := msg.Header.Get("In-Reply-To"); irt != "" {
			count["reply"]++
			if _, ok := ids[irt]; !ok {
				t.Errorf("message %d: In-Reply-To %s names no earlier message", i, irt)
			}
			if msg.Header.Get("References") == "" {
				t.Errorf("message %d: In-Reply-To without References", i)
			}
			subj := m.Envelope.Subject
			if !strings.HasPrefix(subj, "RE") && !strings.HasPrefix(subj, "Re:") && !strings.HasPrefix(subj, "AW:") &&
				!strings.HasPrefix(subj, "FW") && !strings.HasPrefix(subj, "Fwd:") && !strings.HasPrefix(subj, "WG:") &&
				!strings.HasPrefix(subj, "TR") {
				t.Errorf("message %d: reply subject %q has no RE:/FW: prefix", i, subj)
			}
		}
		if strings.HasPrefix(msg.Header.Get("Subject"), "=?") {
			count["encoded subject"]++
		}
		if strings.Contains(msg.Header.Get("From"), "=?") || strings.Contains(msg.Header.Get("To"), "=?") {
			count["encoded name"]++
		}
		if strings.Contains(msg.Header.Get("Message-ID"), ".prod.outlook.com>") {
			count["exchange message-id"]++
		}
		for _, k := range []string{"Thread-Topic", "Content-Language", "X-MS-Exchange-Organization-AuthAs", "Received"} {
			if msg.Header.Get(k) != "" {
				count[k]++
			}
		}
		if ct := msg.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
			count["text/plain only"]++
		}
		if strings.Contains(string(m.Report), "Content-Transfer-Encoding: quoted-printable\r\n\r\nSender:") {
			count["qp envelope"]++
		}
		if m.Envelope.OnBehalfOf != "" {
			count["on-behalf-of"]++
		}
		internal, external := false, false
		for _, r := range m.Envelope.Recipients {
			count["field "+r.Field]++
			if r.ExpandedFrom != "" {
				count["expanded"]++
			}
			if r.ForwardedFrom != "" {
				count["forwarded"]++
			}
			if strings.HasSuffix(r.Addr, "@contoso.com") {
				internal = true
			} else {
				external = true
			}
		}
		fromExt := !strings.HasSuffix(m.Envelope.Sender, "@contoso.com")
		switch {
		case fromExt:
			count["inbound"]++
		case external:
			count["outbound"]++
		case internal:
			count["internal"]++
		}
	}
	count["alternative"] = st.alternatives
	count["attachment"] = st.attachments
	count["rfc2231 name"] = st.rfc2231
	count["rfc2047 name"] = st.rfc2047Names
	count["8bit body"] = st.eightBit
	count["utf-8 text"] = st.qpUTF8

	sort.Ints(sizes)
	inRange, big := 0, 0
	for _, s := range sizes {
		if s >= 2<<10 && s <= 30<<10 {
			inRange++
		}
		if s >= 150<<10 {
			big++
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, count[k])
	}
	t.Logf("%d messages:%s", n, b.String())
	t.Logf("original sizes: min %d, median %d, p90 %d, p99 %d, max %d; %d of %d in 2-30 KB, %d >= 150 KB",
		sizes[0], sizes[len(sizes)/2], sizes[len(sizes)*9/10], sizes[len(sizes)*99/100], sizes[len(sizes)-1],
		inRange, len(sizes), big)

	for _, k := range []string{
		"reply", "encoded subject", "encoded name", "exchange message-id", "Thread-Topic", "qp envelope",
		"on-behalf-of", "field to", "field cc", "field bcc", "field recipient", "expanded", "forwarded",
		"inbound", "outbound", "internal", "alternative", "attachment", "rfc2231 name", "rfc2047 name",
		"8bit body", "utf-8 text", "text/plain only", "fork",
	} {
		if count[k] == 0 {
			t.Errorf("no %q in %d messages", k, n)
		}
	}
	if rate := float64(count["duplicate"]) / n; rate < 0.008 || rate > 0.04 {
		t.Errorf("duplicate rate %.3f; want about 0.02", rate)
	}
	if float64(inRange) < 0.85*float64(len(sizes)) {
		t.Errorf("%d of %d originals are 2-30 KB; want at least 85%%", inRange, len(sizes))
	}
	if big == 0 {
		t.Errorf("no original of 150 KB or more in %d messages", n)
	}
}

func TestEnvelopeLines(t *testing.T) {
	tests := []struct {
		env  Envelope
		want string
	}{
		{
			Envelope{Sender: "a@contoso.com", Subject: "Hi", MessageID: "<1@x>", Recipients: []Recipient{
				{Addr: "b@contoso.com", Field: "to"},
				{Addr: "c@contoso.com", Field: "to", ExpandedFrom: "sales@contoso.com"},
				{Addr: "d@contoso.com", Field: "cc", ForwardedFrom: "b@contoso.com"},
				{Addr: "e@contoso.com", Field: "bcc"},
			}},
			"Sender: a@contoso.com\r\nSubject: Hi\r\nMessage-Id: <1@x>\r\nTo: b@contoso.com\r\n" +
				"To: c@contoso.com, Expanded: sales@contoso.com\r\nCc: d@contoso.com, Forwarded: b@contoso.com\r\n" +
				"Bcc: e@contoso.com\r\n",
		},
		{
			Envelope{Sender: "max@contoso.com", OnBehalfOf: "laura@contoso.com", Subject: "", Recipients: []Recipient{
				{Addr: "x@contoso.com", Field: "recipient"},
			}},
			"Sender: max@contoso.com\r\nOn-Behalf-Of: laura@contoso.com\r\nSubject: \r\n" +
				"Message-Id: Unknown Message-ID\r\nRecipient: x@contoso.com\r\n",
		},
	}
	for _, tt := range tests {
		if got := envelopeText(tt.env); got != tt.want {
			t.Errorf("envelopeText(%+v) = %q; want %q", tt.env, got, tt.want)
		}
	}
}

func TestWrapJournalNonASCII(t *testing.T) {
	orig := CRLF([]byte("From: =?utf-8?Q?J=C3=BCrgen?= <j@contoso.com>\nTo: z@fabrikam.com\n" +
		"Subject: =?utf-8?B?R3LDtsOfZQ==?=\nMessage-ID: <1@contoso.com>\nDate: Tue, 14 May 2024 07:12:04 +0000\n\nGrüße\n"))
	env := Envelope{Sender: "j@contoso.com", Subject: "Größe – Zürich 東京", MessageID: "<1@contoso.com>",
		Recipients: []Recipient{{Addr: "zoë.lefèvre@fabrikam.com", Field: "to"}}}
	rep := WrapJournal(orig, env, time.Date(2024, 5, 14, 7, 12, 6, 0, time.UTC))
	got, raw, _, err := checkReport(rep)
	if err != nil {
		t.Fatalf("WrapJournal: %v\n%s", err, rep)
	}
	if !equalEnvelope(got, env) {
		t.Errorf("envelope = %+v; want %+v", got, env)
	}
	if !bytes.Equal(raw, orig) {
		t.Errorf("rfc822 part = %q; want %q", raw, orig)
	}
	if !bytes.Contains(rep, []byte("charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n")) {
		t.Errorf("non-ASCII envelope is not utf-8 quoted-printable:\n%s", rep)
	}
	for _, h := range []string{"\r\nSubject: =?utf-8?B?R3LDtsOfZQ==?=\r\n", "\r\nFrom: =?utf-8?Q?J=C3=BCrgen?= <j@contoso.com>\r\n",
		"\r\nTo: z@fabrikam.com\r\n", "\r\nX-MS-Exchange-Parent-Message-Id:\r\n\t<1@contoso.com>\r\n"} {
		if !bytes.Contains(rep, []byte(h)) {
			t.Errorf("report lacks %q", h)
		}
	}
	if !bytes.Equal(rep, WrapJournal(orig, env, time.Date(2024, 5, 14, 7, 12, 6, 0, time.UTC))) {
		t.Errorf("WrapJournal is not deterministic")
	}
}

func TestJournalBoundary(t *testing.T) {
	h := sha256.Sum256([]byte("seed"))
	first := journalBoundary(h)
	orig := []byte("Subject: x\r\n\r\n--" + first + "\r\n")
	got := journalBoundary(h, orig)
	if got == first || bytes.Contains(orig, []byte(got)) {
		t.Errorf("journalBoundary with a clash = %q; want a boundary other than %q", got, first)
	}
	if !strings.HasPrefix(got, "_") || !strings.HasSuffix(got, "_") || len(got) != 38 {
		t.Errorf("journalBoundary = %q; want _<guid>_", got)
	}
}

func TestCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb", "a\r\nb"},
		{"\r\r\n", "\r\n\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"a\r", "a\r\n"},
		{"\n\r", "\r\n\r\n"},
		{"x\r\n\ny", "x\r\n\r\ny"},
	}
	for _, tt := range tests {
		in := []byte(tt.in)
		if got := string(CRLF(in)); got != tt.want {
			t.Errorf("CRLF(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if string(in) != tt.in {
			t.Errorf("CRLF(%q) modified its argument", tt.in)
		}
	}
}

func TestEncodeWords(t *testing.T) {
	tests := []struct {
		s string
		q bool
	}{
		{"plain ascii", false},
		{"Jürgen Müller", true},
		{"Größenänderung – Angebot für Zürich 東京", false},
		{strings.Repeat("Ünïcödé ", 20), false},
		{strings.Repeat("Ünïcödé ?=_ ", 12), true},
	}
	for _, tt := range tests {
		enc := encodeWords("utf-8", tt.q, tt.s)
		for _, line := range strings.Split(enc, "\r\n ") {
			for _, w := range strings.Fields(line) {
				if len(w) > 75 {
					t.Errorf("encodeWords(%q): word %q longer than 75", tt.s, w)
				}
			}
		}
		got, err := wordDecoder.DecodeHeader(strings.ReplaceAll(enc, "\r\n", ""))
		if err != nil || got != tt.s {
			t.Errorf("decode(encodeWords(%q, q=%v)) = %q, %v; want the input", tt.s, tt.q, got, err)
		}
	}
}

func TestSummerTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		z    zoneKind
		want string
	}{
		{time.Date(2024, 3, 31, 0, 59, 0, 0, time.UTC), zoneCET, "+0100"},
		{time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC), zoneCET, "+0200"},
		{time.Date(2024, 10, 27, 0, 59, 0, 0, time.UTC), zoneCET, "+0200"},
		{time.Date(2024, 10, 27, 1, 0, 0, 0, time.UTC), zoneCET, "+0100"},
		{time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC), zoneUK, "+0100"},
		{time.Date(2024, 3, 10, 6, 59, 0, 0, time.UTC), zoneUS, "-0500"},
		{time.Date(2024, 3, 10, 7, 0, 0, 0, time.UTC), zoneUS, "-0400"},
		{time.Date(2024, 11, 3, 6, 0, 0, 0, time.UTC), zoneUS, "-0500"},
	}
	for _, tt := range tests {
		if got := local(tt.t, tt.z).Format("-0700"); got != tt.want {
			t.Errorf("local(%v, %d) offset = %s; want %s", tt.t, tt.z, got, tt.want)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Options{Seed: 1})
	var n int64
	start := time.Now()
	for b.Loop() {
		n += int64(len(g.Next().Report))
	}
	b.ReportMetric(float64(n)/1e6/time.Since(start).Seconds(), "MB/s")
	b.ReportMetric(float64(n)/float64(b.N), "B/report")
}
