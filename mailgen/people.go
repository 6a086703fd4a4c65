package mailgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// client is the mail program whose header and MIME habits a person's mail copies.
type client uint8

const (
	clientOutlook     client = iota // Outlook / Exchange Online (all internal users)
	clientGmail                     // Google Workspace (fabrikam.com)
	clientThunderbird               // Thunderbird behind Postfix (example.org)
	clientNotify                    // automated sender (billing, newsletter)
)

type person struct {
	name     string // display name, may be non-ASCII
	first    string
	addr     string
	lang     *language
	internal bool
	dept     int
	title    string
	server   string // Exchange mailbox server (internal users), e.g. AM0PR04MB6234
	region   string // its region label, e.g. eurprd04
	client   client
	zone     zoneKind
	phone    string
	ip       string // sending MTA address (external senders)

	forwardTo *person // deliver-and-forward rule (internal users)
	delegate  *person // assistant who sometimes sends on this person's behalf
}

type group struct {
	name, addr string
	members    []*person
}

// addressee is one header address: a person or a distribution group.
type addressee struct {
	p *person
	g *group
}

func (a addressee) addr() string {
	if a.g != nil {
		return a.g.addr
	}
	return a.p.addr
}

func (a addressee) name() string {
	if a.g != nil {
		return a.g.name
	}
	return a.p.name
}

var staffNames = []struct{ name, lang string }{
	{"Anna Berg", "en"}, {"Jürgen Müller", "de"}, {"François Dubois", "fr"}, {"Zoë Andersson", "en"},
	{"Ben Okafor", "en"}, {"Chloé Martin", "fr"}, {"David Lee", "en"}, {"Gina Vogel", "de"},
	{"Hugo Brandt", "de"}, {"Ivan Petrov", "en"}, {"Julia Weiß", "de"}, {"Kai Nowak", "de"},
	{"Laura Schmidt", "de"}, {"Max Keller", "de"}, {"Nina Ortiz", "en"}, {"Olga Berger", "de"},
	{"Paul Meyer", "de"}, {"Sam Ito", "en"}, {"Erik Sand", "en"}, {"Wendy Cho", "en"},
	{"Xavier Blum", "fr"}, {"Yara Haddad", "en"}, {"Victor Hale", "en"}, {"Pat Coleman", "en"},
	{"Renée Fontaine", "fr"}, {"Björn Lindqvist", "en"}, {"Mónica García", "en"}, {"João Silva", "en"},
	{"Ömer Yılmaz", "de"}, {"Łukasz Kowalski", "en"}, {"Hélène Rousseau", "fr"}, {"Dagmar Schröder", "de"},
	{"Priya Nair", "en"}, {"Chen Wei", "en"}, {"Aoife Byrne", "en"}, {"Mateo Rossi", "en"},
	{"Théo Lambert", "fr"}, {"Käthe Fuchs", "de"}, {"Nikolaj Sørensen", "en"}, {"Amélie Durand", "fr"},
	{"Tomáš Novák", "en"}, {"Sofia Papadopoulou", "en"}, {"Kwame Mensah", "en"}, {"Ana Kovačević", "en"},
	{"Sébastien Girard", "fr"}, {"Günther Maier", "de"}, {"Ingrid Størseth", "en"}, {"Fatma Demir", "de"},
}

var externalPeople = []struct {
	name, domain, lang string
	zone               zoneKind
}{
	{"Uma Reddy", "fabrikam.com", "en", zoneCET},
	{"Quentin Roy", "fabrikam.com", "fr", zoneCET},
	{"Rita Alves", "fabrikam.com", "en", zoneCET},
	{"Fatima Khan", "fabrikam.com", "en", zoneUK},
	{"Zoë Lefèvre", "fabrikam.com", "fr", zoneCET},
	{"Matthias Köhler", "fabrikam.com", "de", zoneCET},
	{"Lars Ødegaard", "fabrikam.com", "en", zoneCET},
	{"Carmen Jiménez", "fabrikam.com", "en", zoneCET},
	{"Tara Nash", "example.org", "en", zoneUS},
	{"Oliver Grant", "example.org", "en", zoneUK},
	{"Émilie Caron", "example.org", "fr", zoneCET},
	{"Stefan Bäcker", "example.org", "de", zoneCET},
	{"Marta Wiśniewska", "example.org", "en", zoneCET},
	{"Jean-Luc Perrin", "example.org", "fr", zoneCET},
	{"Grace O'Neill", "example.org", "en", zoneUK},
}

var departments = []struct{ name, list, listName, title, head string }{
	{"Sales", "sales", "Sales Team", "Account Manager", "Head of Sales"},
	{"Finance", "finance", "Finance", "Financial Controller", "CFO"},
	{"Legal", "legal", "Legal", "Legal Counsel", "General Counsel"},
	{"Engineering", "engineering", "Engineering", "Software Engineer", "CTO"},
	{"Human Resources", "hr", "Human Resources", "HR Business Partner", "Head of HR"},
	{"Marketing", "marketing", "Marketing", "Marketing Manager", "Head of Marketing"},
	{"Operations", "operations", "Operations", "Operations Lead", "COO"},
	{"Purchasing", "purchasing", "Purchasing", "Buyer", "Head of Purchasing"},
}

// Exchange Online mailbox servers; a user's Message-IDs name the server.
var exchangeServers = [][2]string{
	{"AM0PR04MB6234", "eurprd04"}, {"DB9PR08MB7001", "eurprd08"}, {"VI1PR02MB5912", "eurprd02"},
	{"PAXPR10MB5402", "eurprd10"}, {"AS8PR07MB7976", "eurprd07"}, {"DU2PR03MB8020", "eurprd03"},
	{"GV1PR09MB6813", "eurprd09"}, {"FR3P281MB1587", "deup281"},
}

// buildPeople creates the organisation: users, distribution groups, forwarding and delegate
// rules, and the external contacts. It uses its own random source so the user list does not
// depend on how many random numbers message generation draws.
func (g *Generator) buildPeople(r *rand.Rand, n int) {
	seen := make(map[string]bool)
	add := func(name, lang string) {
		first, _, _ := strings.Cut(name, " ")
		local := addrLocal(name)
		addr := local + "@" + g.domain
		for i := 2; seen[addr]; i++ {
			addr = fmt.Sprintf("%s%d@%s", local, i, g.domain)
		}
		seen[addr] = true
		i := len(g.users)
		srv := exchangeServers[(i*5+3)%len(exchangeServers)]
		p := &person{
			name: name, first: first, addr: addr, lang: langByCode(lang), internal: true,
			dept: i % len(departments), server: srv[0], region: srv[1],
			client: clientOutlook, zone: zoneCET,
		}
		if l := p.lang; l.code == "fr" {
			p.phone = fmt.Sprintf(l.phone, 40+r.IntN(50), r.IntN(100), r.IntN(100), r.IntN(100))
		} else {
			p.phone = fmt.Sprintf(l.phone, 2000+r.IntN(8000), r.IntN(10000))
		}
		if i < len(departments) {
			p.title = departments[p.dept].head
		} else {
			p.title = departments[p.dept].title
		}
		g.users = append(g.users, p)
	}
	for i := 0; i < n && i < len(staffNames); i++ {
		add(staffNames[i].name, staffNames[i].lang)
	}
	for len(g.users) < n {
		f := staffNames[r.IntN(len(staffNames))]
		l := staffNames[r.IntN(len(staffNames))]
		first, _, _ := strings.Cut(f.name, " ")
		_, last, _ := strings.Cut(l.name, " ")
		add(first+" "+last, f.lang)
	}

	// Distribution groups: one per department, management (department heads), all staff.
	for d, dep := range departments {
		grp := &group{name: dep.listName, addr: dep.list + "@" + g.domain}
		for _, u := range g.users {
			if u.dept == d {
				grp.members = append(grp.members, u)
			}
		}
		if len(grp.members) > 0 {
			g.groups = append(g.groups, grp)
		}
	}
	mgmt := &group{name: "Management", addr: "management@" + g.domain}
	for i := 0; i < len(g.users) && i < len(departments); i++ {
		mgmt.members = append(mgmt.members, g.users[i])
	}
	g.groups = append(g.groups, mgmt)
	g.allStaff = &group{name: "All Staff", addr: "all-staff@" + g.domain, members: g.users}
	g.groups = append(g.groups, g.allStaff)

	// Two deliver-and-forward rules and two delegates (assistant sends for the head of a
	// department), when there are enough users.
	if len(g.users) >= 6 {
		a, b := g.users[len(g.users)-1], g.users[len(g.users)-2]
		a.forwardTo = b
		c, d := g.users[len(g.users)/2], g.users[len(g.users)/2+1]
		c.forwardTo = d
	}
	if len(g.users) >= 12 {
		g.users[0].delegate = g.users[len(departments)]
		g.users[1].delegate = g.users[len(departments)+1]
	}

	for i, e := range externalPeople {
		first, _, _ := strings.Cut(e.name, " ")
		p := &person{
			name: e.name, first: first, addr: addrLocal(e.name) + "@" + e.domain,
			lang: langByCode(e.lang), zone: e.zone, client: clientGmail,
			ip: fmt.Sprintf("198.51.100.%d", 20+i%3),
		}
		if e.domain == "example.org" {
			p.client = clientThunderbird
			p.ip = fmt.Sprintf("203.0.113.%d", 40+i%2)
		}
		g.ext = append(g.ext, p)
	}
	g.notifiers = []*person{
		{name: "Example Billing", first: "Billing", addr: "billing@example.org", lang: langByCode("en"),
			client: clientNotify, zone: zoneUS, ip: "203.0.113.80"},
		{name: "Fabrikam Newsletter", first: "Fabrikam", addr: "newsletter@fabrikam.com", lang: langByCode("en"),
			client: clientNotify, zone: zoneCET, ip: "198.51.100.90"},
	}
}

// addrLocal turns a display name into an address local part: "Jürgen Müller" → "juergen.mueller".
func addrLocal(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('.')
		default:
			if s, ok := translit[r]; ok {
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

var translit = map[rune]string{
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'ß': "ss", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e",
	'á': "a", 'à': "a", 'â': "a", 'ã': "a", 'å': "a", 'æ': "ae", 'ó': "o", 'ò': "o", 'ô': "o",
	'õ': "o", 'ø': "o", 'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'ı': "i", 'ú': "u", 'ù': "u",
	'û': "u", 'ç': "c", 'č': "c", 'ć': "c", 'ñ': "n", 'ń': "n", 'ł': "l", 'š': "s", 'ş': "s",
	'ś': "s", 'ž': "z", 'ź': "z", 'ż': "z", 'ý': "y", 'ğ': "g", 'ř': "r", 'œ': "oe",
}
