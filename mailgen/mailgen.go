package mailgen

import (
	"math/rand/v2"
	"strings"
	"time"
)

// Recipient is one envelope recipient line of a journal report.
type Recipient struct {
	Addr          string
	Field         string // "to", "cc", "bcc" or "recipient"
	ExpandedFrom  string // distribution group this recipient was expanded from
	ForwardedFrom string // recipient whose forwarding rule added this one
}

// Envelope is what a journal report says about the original: who sent it and who got it.
type Envelope struct {
	Sender     string // address of the original's Sender, else From
	OnBehalfOf string // From address when a delegate sent the message
	Subject    string // decoded subject
	MessageID  string // the original's Message-ID, angle brackets included
	Recipients []Recipient
}

// Message is one generated journal report.
type Message struct {
	Original []byte   // the original message (CRLF), RFC 5322
	Envelope Envelope // what a correct journal parser must extract from Report
	Report   []byte   // the journal report wrapping Original (CRLF)

	Seq  int       // position in the generator's stream, from 0
	Date time.Time // the report's Date (the original's Date is a few seconds earlier)

	// Duplicate means Original is byte-identical to the Original of the earlier message
	// DuplicateOf (a forked or doubly journaled report); Envelope and Report differ.
	Duplicate   bool
	DuplicateOf int
}

// Options configure a Generator. The zero value gives the defaults.
type Options struct {
	Seed   int64
	Domain string    // internal domain, default "contoso.com"
	Users  int       // internal users, default 40 (at least 3)
	Start  time.Time // first Date, default 2024-01-02 08:00 UTC; messages move forward in time
}

// Generator produces an endless deterministic stream of journal reports. It is not safe for
// concurrent use.
type Generator struct {
	rng       *rand.Rand
	domain    string
	company   string
	users     []*person
	ext       []*person
	notifiers []*person
	groups    []*group
	allStaff  *group

	clock   time.Time
	started bool
	seq     int
	threads []*sent

	pending    *Message // duplicate report waiting for its turn
	pendingDue int
}

// New returns a generator for opts.
func New(opts Options) *Generator {
	if opts.Domain == "" {
		opts.Domain = "contoso.com"
	}
	if opts.Users <= 0 {
		opts.Users = 40
	}
	opts.Users = max(opts.Users, 3)
	if opts.Start.IsZero() {
		opts.Start = time.Date(2024, 1, 2, 8, 0, 0, 0, time.UTC)
	}
	seed := uint64(opts.Seed)
	g := &Generator{
		rng:    rand.New(rand.NewPCG(seed, 0x6d61696c67656e01)),
		domain: strings.ToLower(opts.Domain),
		clock:  opts.Start.UTC().Truncate(time.Second),
	}
	label, _, _ := strings.Cut(g.domain, ".")
	if label == "" {
		label = "contoso"
	}
	g.company = strings.ToUpper(label[:1]) + label[1:] + " Ltd."
	g.buildPeople(rand.New(rand.NewPCG(seed, 0x6d61696c67656e02)), opts.Users)
	return g
}

// Users returns the internal users' addresses.
func (g *Generator) Users() []string {
	out := make([]string, len(g.users))
	for i, u := range g.users {
		out[i] = u.addr
	}
	return out
}

// Next returns the next journal report.
func (g *Generator) Next() *Message {
	var m *Message
	if g.pending != nil && g.pendingDue <= g.seq {
		m, g.pending = g.pending, nil
	} else {
		m = g.generate()
	}
	m.Seq = g.seq
	g.seq++
	return m
}

type kind uint8

const (
	kindInternal kind = iota
	kindOutbound
	kindInbound
)

// draft is a message before rendering.
type draft struct {
	kind        kind
	from        *person
	sender      *person // delegate who sent on behalf of from
	to, cc, bcc []addressee
	lang        *language
	topic       string // subject without RE:/FW:
	theme       string // what the thread is about, for {topic} in sentences
	subject     string
	date        time.Time
	msgID       string
	inReplyTo   string
	refs        []string
	threadIndex []byte
	body        []string // new text, one paragraph per line, signature included
	quote       *sent    // replied-to or forwarded message
	fwd         bool
	attach      []attachment
	notify      int // automated mail: 0 invoice, 1 newsletter
	lines       []string
}

// sent is a generated message that later messages can reply to.
type sent struct {
	d     *draft
	lines []string // its whole plain text, quoted history included
	depth int
}

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *Generator) advanceClock() {
	if !g.started {
		g.started = true
		return
	}
	gap := time.Duration((15 + g.rng.ExpFloat64()*330) * float64(time.Second))
	t := g.clock.Add(gap).Truncate(time.Second)
	lt := local(t, zoneCET)
	if lt.Hour() >= 19 || lt.Hour() < 7 || lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday {
		day := lt
		if lt.Hour() >= 7 {
			day = day.AddDate(0, 0, 1)
		}
		for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			day = day.AddDate(0, 0, 1)
		}
		noon := time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, time.UTC)
		off := 3600
		if euSummer(noon) {
			off = 7200
		}
		t = time.Date(day.Year(), day.Month(), day.Day(), 7, g.rng.IntN(60), g.rng.IntN(60), 0, time.UTC).
			Add(-time.Duration(off) * time.Second)
	}
	g.clock = t
}

// nextDraft advances the clock and composes the next message: a reply or forward in a recent
// thread, or a new internal, outbound, inbound or automated message.
func (g *Generator) nextDraft() *draft {
	g.advanceClock()
	var d *draft
	if len(g.threads) > 0 && g.chance(0.35) {
		parent := g.threads[len(g.threads)-1-g.rng.IntN(min(len(g.threads), 25))]
		if g.chance(0.12) {
			d = g.forwardDraft(parent)
		} else {
			d = g.replyDraft(parent)
		}
	}
	if d == nil {
		switch r := g.rng.Float64(); {
		case r < 0.46:
			d = g.internalDraft()
		case r < 0.70:
			d = g.outboundDraft()
		case r < 0.93:
			d = g.inboundDraft(pick(g.rng, g.ext))
		default:
			d = g.notifyDraft()
		}
	}
	d.date = g.clock
	g.finish(d)
	return d
}

func (g *Generator) generate() *Message {
	d := g.nextDraft()
	original := g.render(d)
	env := g.envelope(d)
	reportDate := d.date.Add(time.Duration(2+g.rng.IntN(3)) * time.Second)
	binaryCTE := len(d.attach) > 0

	m := &Message{Original: original, Envelope: env, Date: reportDate}
	if g.pending == nil {
		seq := g.seq
		switch {
		case d.kind == kindOutbound && g.chance(0.09):
			// Exchange Online forks internal and external recipients into two reports.
			in, ex := g.splitEnvelope(env)
			if len(in.Recipients) > 0 && len(ex.Recipients) > 0 {
				m.Envelope = in
				dupDate := reportDate.Add(time.Duration(1+g.rng.IntN(40)) * time.Second)
				g.pending = &Message{Original: original, Envelope: ex, Date: dupDate, Duplicate: true, DuplicateOf: seq,
					Report: wrapJournal(original, ex, dupDate, g.domain, binaryCTE)}
				g.pendingDue = seq + 1 + g.rng.IntN(3)
			}
		case g.chance(0.011):
			// Journaled twice (hybrid on-premises and cloud journaling): same envelope, new report.
			dupDate := reportDate.Add(time.Duration(30+g.rng.IntN(600)) * time.Second)
			g.pending = &Message{Original: original, Envelope: env, Date: dupDate, Duplicate: true, DuplicateOf: seq,
				Report: wrapJournal(original, env, dupDate, g.domain, binaryCTE)}
			g.pendingDue = seq + 1 + g.rng.IntN(3)
		}
	}
	m.Report = wrapJournal(original, m.Envelope, reportDate, g.domain, binaryCTE)
	g.remember(d)
	return m
}

// remember keeps d as a possible parent for replies.
func (g *Generator) remember(d *draft) {
	if d.from.client == clientNotify {
		return
	}
	depth := 0
	if d.quote != nil {
		depth = d.quote.depth + 1
	}
	if depth >= 7 || len(d.lines) > 400 {
		return
	}
	g.threads = append(g.threads, &sent{d: d, lines: d.lines, depth: depth})
	if len(g.threads) > 60 {
		g.threads = append(g.threads[:0], g.threads[len(g.threads)-40:]...)
	}
}

// pickUsers returns up to n distinct random users other than not.
func (g *Generator) pickUsers(n int, not ...*person) []addressee {
	var out []addressee
	for tries := 0; len(out) < n && tries < 20; tries++ {
		u := pick(g.rng, g.users)
		if !containsPerson(out, u) && !personIn(not, u) {
			out = append(out, addressee{p: u})
		}
	}
	for _, u := range g.users {
		if len(out) >= n {
			break
		}
		if !containsPerson(out, u) && !personIn(not, u) {
			out = append(out, addressee{p: u})
		}
	}
	return out
}

func containsPerson(list []addressee, p *person) bool {
	for _, a := range list {
		if a.p == p {
			return true
		}
	}
	return false
}

func personIn(list []*person, p *person) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

// colleagues returns external contacts of the same organisation as p.
func (g *Generator) colleagues(p *person) []*person {
	dom := domainOf(p.addr)
	var out []*person
	for _, e := range g.ext {
		if e != p && domainOf(e.addr) == dom {
			out = append(out, e)
		}
	}
	return out
}

func (g *Generator) groupByList(list string) *group {
	for _, gr := range g.groups {
		if gr.addr == list+"@"+g.domain {
			return gr
		}
	}
	return nil
}

func (g *Generator) deptGroup(from *person) *group {
	if g.chance(0.5) {
		if gr := g.groupByList(departments[from.dept].list); gr != nil {
			return gr
		}
	}
	return g.groups[g.rng.IntN(len(g.groups)-1)] // any but all-staff
}

func (g *Generator) newTopic(d *draft) {
	l := d.lang
	d.theme = g.fill(pick(g.rng, l.topics), l, "", g.clock)
	d.topic = g.fill(pick(g.rng, l.subjects), l, d.theme, g.clock)
	if len(d.topic) > 1 && d.topic[0] >= 'a' && d.topic[0] <= 'z' {
		d.topic = strings.ToUpper(d.topic[:1]) + d.topic[1:]
	}
	d.subject = d.topic
}

func (g *Generator) maybeDelegate(d *draft) {
	if d.from.delegate != nil && g.chance(0.3) {
		d.sender = d.from.delegate
	}
}

func (g *Generator) internalDraft() *draft {
	from := pick(g.rng, g.users)
	d := &draft{kind: kindInternal, from: from, lang: from.lang}
	g.maybeDelegate(d)
	switch r := g.rng.Float64(); {
	case r < 0.55:
		d.to = g.pickUsers(1+g.rng.IntN(3), from)
		if g.chance(0.4) {
			d.cc = g.pickUsers(1+g.rng.IntN(2), append(people(d.to), from)...)
		}
	case r < 0.80:
		d.to = []addressee{{g: g.deptGroup(from)}}
		if g.chance(0.3) {
			d.cc = g.pickUsers(1, from)
		}
	case r < 0.84:
		d.to = []addressee{{g: g.allStaff}}
	default:
		d.to = g.pickUsers(1, from)
		d.cc = []addressee{{g: g.deptGroup(from)}}
	}
	if g.chance(0.08) {
		d.bcc = g.pickUsers(1, append(people(d.to), from)...)
	}
	g.newTopic(d)
	g.attachMaybe(d, 0.2)
	return d
}

func people(list []addressee) []*person {
	var out []*person
	for _, a := range list {
		if a.p != nil {
			out = append(out, a.p)
		}
	}
	return out
}

func (g *Generator) outboundDraft() *draft {
	from := pick(g.rng, g.users)
	ext := pick(g.rng, g.ext)
	d := &draft{kind: kindOutbound, from: from, lang: ext.lang}
	if g.chance(0.4) {
		d.lang = from.lang
	}
	g.maybeDelegate(d)
	d.to = []addressee{{p: ext}}
	if col := g.colleagues(ext); len(col) > 0 && g.chance(0.3) {
		d.to = append(d.to, addressee{p: pick(g.rng, col)})
	}
	if g.chance(0.45) {
		d.cc = g.pickUsers(1+g.rng.IntN(2), from)
	}
	if col := g.colleagues(ext); len(col) > 0 && g.chance(0.15) {
		c := pick(g.rng, col)
		if !containsPerson(d.to, c) {
			d.cc = append(d.cc, addressee{p: c})
		}
	}
	if g.chance(0.1) {
		if g.chance(0.5) {
			d.bcc = g.pickUsers(1, append(people(d.cc), from)...)
		} else if legal := g.groupByList("legal"); legal != nil {
			d.bcc = []addressee{{g: legal}}
		}
	}
	g.newTopic(d)
	g.attachMaybe(d, 0.25)
	return d
}

func (g *Generator) inboundDraft(from *person) *draft {
	d := &draft{kind: kindInbound, from: from, lang: from.lang}
	switch r := g.rng.Float64(); {
	case r < 0.7:
		d.to = g.pickUsers(1 + g.rng.IntN(2))
	case r < 0.9:
		d.to = []addressee{{g: g.groups[g.rng.IntN(min(3, len(g.groups)))]}}
	default:
		d.to = g.pickUsers(1)
		d.cc = []addressee{{g: g.groups[g.rng.IntN(len(g.groups)-1)]}}
	}
	if g.chance(0.3) {
		if col := g.colleagues(from); len(col) > 0 && g.chance(0.5) {
			d.cc = append(d.cc, addressee{p: pick(g.rng, col)})
		} else {
			d.cc = append(d.cc, g.pickUsers(1, people(d.to)...)...)
		}
	}
	if g.chance(0.05) {
		d.bcc = g.pickUsers(1, append(people(d.to), people(d.cc)...)...)
	}
	g.newTopic(d)
	g.attachMaybe(d, 0.18)
	return d
}

func (g *Generator) notifyDraft() *draft {
	n := g.rng.IntN(len(g.notifiers))
	from := g.notifiers[n]
	d := &draft{kind: kindInbound, from: from, lang: from.lang, notify: n}
	if n == 0 {
		if fin := g.groupByList("finance"); fin != nil {
			d.to = []addressee{{g: fin}}
		} else {
			d.to = g.pickUsers(1)
		}
		d.topic = g.fill("Your invoice {inv} is available", d.lang, "", g.clock)
		g.attachOne(d, "Invoice_"+strings.Fields(d.topic)[2]+".pdf")
	} else {
		d.to = g.pickUsers(1)
		d.topic = "Fabrikam Newsletter – " + d.lang.months[g.clock.Month()-1] + " " + g.clock.Format("2006")
		d.theme = g.fill(pick(g.rng, d.lang.topics), d.lang, "", g.clock)
	}
	d.subject = d.topic
	return d
}

// replyParticipants returns the people a message reached (groups expanded).
func replyParticipants(d *draft) []*person {
	var out []*person
	for _, list := range [][]addressee{d.to, d.cc} {
		for _, a := range list {
			if a.g != nil {
				out = append(out, a.g.members...)
			} else {
				out = append(out, a.p)
			}
		}
	}
	return out
}

func (g *Generator) replyDraft(parent *sent) *draft {
	pd := parent.d
	var cands []*person
	for _, p := range replyParticipants(pd) {
		if p == pd.from {
			continue
		}
		// Mail between two outsiders never reaches the journal.
		if !p.internal && !pd.from.internal {
			continue
		}
		cands = append(cands, p)
	}
	if len(cands) == 0 {
		return nil
	}
	from := pick(g.rng, cands)
	d := &draft{from: from, lang: pd.lang, topic: pd.topic, theme: pd.theme, quote: parent}
	d.to = []addressee{{p: pd.from}}
	if g.chance(0.5) {
		for _, list := range [][]addressee{pd.to, pd.cc} {
			for _, a := range list {
				if a.p == from || a.p == pd.from {
					continue
				}
				if a.g != nil && personIn(a.g.members, from) && g.chance(0.5) {
					continue
				}
				d.cc = append(d.cc, a)
			}
		}
	}
	d.kind = directionOf(d)
	d.subject = g.prefix(from, d.lang, false) + " " + d.topic
	g.threadFrom(d, pd)
	if from.internal {
		g.maybeDelegate(d)
	}
	return d
}

func (g *Generator) forwardDraft(parent *sent) *draft {
	pd := parent.d
	var cands []*person
	if pd.from.internal {
		cands = append(cands, pd.from)
	}
	for _, p := range replyParticipants(pd) {
		if p.internal {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	from := pick(g.rng, cands)
	d := &draft{from: from, lang: pd.lang, topic: pd.topic, theme: pd.theme, quote: parent, fwd: true}
	if g.chance(0.7) {
		d.to = g.pickUsers(1, from)
	} else {
		d.to = []addressee{{p: pick(g.rng, g.ext)}}
	}
	d.kind = directionOf(d)
	d.subject = g.prefix(from, d.lang, true) + " " + d.topic
	g.threadFrom(d, pd)
	d.attach = pd.attach
	return d
}

// directionOf derives the kind from the addressing of a reply or forward.
func directionOf(d *draft) kind {
	if !d.from.internal {
		return kindInbound
	}
	for _, list := range [][]addressee{d.to, d.cc, d.bcc} {
		for _, a := range list {
			if a.p != nil && !a.p.internal {
				return kindOutbound
			}
		}
	}
	return kindInternal
}

func (g *Generator) prefix(from *person, l *language, fwd bool) string {
	switch from.client {
	case clientGmail:
		if fwd {
			return "Fwd:"
		}
		return "Re:"
	case clientThunderbird:
		if fwd {
			return "Fwd:"
		}
		if l.code == "de" {
			return "AW:"
		}
		return "Re:"
	}
	if fwd {
		return l.fw
	}
	return l.re
}

func (g *Generator) threadFrom(d, pd *draft) {
	d.inReplyTo = pd.msgID
	d.refs = append(append([]string(nil), pd.refs...), pd.msgID)
	if len(pd.threadIndex) > 0 {
		d.threadIndex = append(append([]byte(nil), pd.threadIndex...),
			byte(g.rng.IntN(0x7f)), byte(g.rng.Uint32()), byte(g.rng.Uint32()), byte(g.rng.Uint32()), byte(g.rng.Uint32()))
	}
}

// envelope lists the recipients the way Exchange journals them: To, then Cc, then Bcc lines,
// groups expanded in place, each address once, a forwarding target right after the
// recipient whose rule added it. Inbound mail uses basic "recipient" lines and lists only
// internal recipients.
func (g *Generator) envelope(d *draft) Envelope {
	env := Envelope{Sender: d.from.addr, Subject: d.subject, MessageID: d.msgID}
	if d.sender != nil {
		env.Sender, env.OnBehalfOf = d.sender.addr, d.from.addr
	}
	seen := make(map[string]bool)
	add := func(field string, p *person, expanded string) {
		if (d.kind == kindInbound && !p.internal) || seen[p.addr] {
			return
		}
		seen[p.addr] = true
		env.Recipients = append(env.Recipients, Recipient{Addr: p.addr, Field: field, ExpandedFrom: expanded})
		if t := p.forwardTo; t != nil && !seen[t.addr] {
			seen[t.addr] = true
			env.Recipients = append(env.Recipients, Recipient{Addr: t.addr, Field: field, ForwardedFrom: p.addr})
		}
	}
	for i, list := range [][]addressee{d.to, d.cc, d.bcc} {
		field := [...]string{"to", "cc", "bcc"}[i]
		if d.kind == kindInbound {
			field = "recipient"
		}
		for _, a := range list {
			if a.g != nil {
				for _, m := range a.g.members {
					add(field, m, a.g.addr)
				}
				continue
			}
			add(field, a.p, "")
		}
	}
	return env
}

// splitEnvelope divides env into the internal and the external fork.
func (g *Generator) splitEnvelope(env Envelope) (in, ex Envelope) {
	in, ex = env, env
	in.Recipients, ex.Recipients = nil, nil
	for _, r := range env.Recipients {
		if domainOf(r.Addr) == g.domain {
			in.Recipients = append(in.Recipients, r)
		} else {
			ex.Recipients = append(ex.Recipients, r)
		}
	}
	return in, ex
}
