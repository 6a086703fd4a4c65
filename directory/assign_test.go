package directory

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"jarchive/config"
	"jarchive/journal"
	"jarchive/testcorpus"
)

// corpusConfig is the directory of the assignment tests, in the
// configuration file's terms: the people of the shared journal corpus.
const corpusConfig = `
[archive]
dir = "/a"

[[users]]
name = "anna"
addresses = ["A.Berg@Contoso.com", "anna.berg@contoso.com"]
[[users]]
name = "ben"
addresses = ["ben.okafor@contoso.com"]
[[users]]
name = "chloe"
addresses = ["chloe.martin@contoso.com"]
[[users]]
name = "david"
addresses = ["David.Lee@CONTOSO.com"]
[[users]]
name = "erik"
addresses = ["erik.sand@contoso.com"]
[[users]]
name = "gina"
addresses = ["gina.vogel@contoso.com"]
[[users]]
name = "hugo"
addresses = ["hugo.brandt@contoso.com"]
[[users]]
name = "ivan"
addresses = ["ivan.petrov@contoso.com"]
[[users]]
name = "julia"
addresses = ["julia.weiss@contoso.com"]
[[users]]
name = "zed"
addresses = ["zed@contoso.com"]
[[users]]
name = "pat"
addresses = ["pat.coleman@contoso.com"]
[[users]]
name = "pat-assistant"
addresses = ["pat.assistant@contoso.com"]
[[users]]
name = "max"
addresses = ["max.keller@contoso.com"]
[[users]]
name = "laura"
addresses = ["laura.schmidt@contoso.com"]
[[users]]
name = "olga"
addresses = ["olga.berger@contoso.com"]
[[users]]
name = "paul"
addresses = ["paul.meyer@contoso.com"]
[[users]]
name = "sam"
addresses = ["sam.ito@contoso.com"]
[[users]]
name = "juergen"
addresses = ["juergen.mueller@contoso.com"]
[[users]]
name = "lena"
addresses = ["lena.fischer@contoso.com"]
[[users]]
name = "marc"
addresses = ["marc.dubois@contoso.com"]
[[users]]
name = "kim"
addresses = ["kim.akers@contoso.com"]
role = "auditor"
[[users]]
name = "adrian"
addresses = ["adrian.adler@contoso.com"]
[[users]]
name = "carol"
addresses = ["carol.diaz@contoso.com"]

[[groups]]
name = "sales-team"
address = "sales-team@contoso.com"
members = ["anna", "ivan", "julia", "zed"]
[[groups]]
name = "sales"
address = "sales@contoso.com"
members = ["sales-team", "sales"]
[[groups]]
name = "legal"
members = ["marc"]

[[shared_mailboxes]]
address = "legal-review@contoso.com"
members = ["lena", "legal"]
[[shared_mailboxes]]
address = "info@xn--mnchen-3ya.example.org"
members = ["juergen"]
[[shared_mailboxes]]
address = "info@contoso.com"
members = ["ben", "carol"]
`

func parseConfig(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("jarchive.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// corpusEnvelope parses a file of the journal corpus.
func corpusEnvelope(t *testing.T, name string, mode config.EnvelopeMode) *journal.Envelope {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testcorpus.Dir(t, "journal"), name))
	if err != nil {
		t.Fatal(err)
	}
	return journal.Parse(bytes.NewReader(b), int64(len(b)), mode)
}

func partiesOf(e *journal.Envelope) Parties {
	return Parties{Sender: e.Sender, OnBehalfOf: e.OnBehalfOf, Recipients: e.Recipients}
}

// TestAssignCorpus assigns the messages of the shared journal corpus.
func TestAssignCorpus(t *testing.T) {
	d := Build(parseConfig(t, corpusConfig), nil)
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	header := func(h string) config.EnvelopeMode { return config.EnvelopeMode{Kind: config.EnvelopeHeader, Header: h} }
	for _, tc := range []struct {
		file string
		mode config.EnvelopeMode
		want []string
		why  string
	}{
		{"jr-simple-to-cc.eml", config.EnvelopeMode{}, []string{"anna", "ben", "chloe", "david"}, "sender, To and Cc; an address in other case"},
		{"jr-bcc-only-in-envelope.eml", config.EnvelopeMode{}, []string{"erik", "lena", "marc"}, "a Bcc only in the envelope, to a shared mailbox of a user and a group; the external To owns nothing"},
		{"jr-dl-expanded.eml", config.EnvelopeMode{}, []string{"anna", "gina", "hugo", "ivan", "julia"}, "the members the expansion lists; zed, in the group now, was not sent it"},
		{"jr-forwarded.eml", config.EnvelopeMode{}, []string{"pat", "pat-assistant"}, "the forwarding target and the recipient it was forwarded for"},
		{"jr-on-behalf-of.eml", config.EnvelopeMode{}, []string{"laura", "max"}, "the delegate and the user sent on behalf of"},
		{"jr-split-1of2.eml", config.EnvelopeMode{}, []string{"olga", "paul", "sam"}, "the internal fork"},
		{"jr-split-2of2.eml", config.EnvelopeMode{}, []string{"olga"}, "the external fork: only the sender"},
		{"jr-external-inbound.eml", config.EnvelopeMode{}, nil, "no one of the directory: unassigned"},
		{"jr-malformed-no-envelope.eml", config.EnvelopeMode{}, nil, "no envelope at all: unassigned"},
		{"jr-malformed-truncated.eml", config.EnvelopeMode{}, []string{"anna", "ben"}, "the envelope of a truncated report"},
		{"jr-nonascii-idn.eml", config.EnvelopeMode{}, []string{"juergen"}, "an IDN shared mailbox written in Unicode, configured in punycode"},
		{"jr-legacy-exchange2003.eml", config.EnvelopeMode{}, []string{"kim", "lena", "marc"}, "Exchange 2003 recipients list"},
		{"jr-300-recipients.eml", config.EnvelopeMode{}, []string{"adrian"}, "one of 295 expanded recipients"},
		{"plain-x-original-to.eml", header("X-Original-To"), []string{"anna", "ivan", "julia", "zed"}, "a group address itself, nested groups and a cycle"},
		{"plain-multi-delivered-to.eml", header("Delivered-To"), []string{"ben", "carol"}, "a shared mailbox and one of its users"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			env := corpusEnvelope(t, tc.file, tc.mode)
			if got := d.Owners(partiesOf(env)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Owners = %q; want %q (%s)\nparties: %+v", got, tc.want, tc.why, partiesOf(env))
			}
		})
	}

	// The split pair is one stored message: its owners are the union.
	p1 := partiesOf(corpusEnvelope(t, "jr-split-1of2.eml", config.EnvelopeMode{}))
	p2 := partiesOf(corpusEnvelope(t, "jr-split-2of2.eml", config.EnvelopeMode{}))
	p1.Recipients = journal.MergeRecipients(p1.Recipients, p2.Recipients)
	if got := d.Owners(p1); !reflect.DeepEqual(got, []string{"olga", "paul", "sam"}) {
		t.Errorf("split pair: %q", got)
	}
}

func TestPlusAddressing(t *testing.T) {
	env := corpusEnvelope(t, "jr-simple-to-cc.eml", config.EnvelopeMode{})
	p := partiesOf(env)
	p.Recipients = slices.Clone(p.Recipients)
	p.Recipients[1].Addr = "Ben.Okafor+Pipeline@contoso.com"
	p.Recipients = append(p.Recipients, journal.Recipient{Addr: "sales-team+q2@contoso.com", Field: "bcc"})

	on := Build(parseConfig(t, corpusConfig), nil)
	if got, want := on.Owners(p), []string{"anna", "ben", "chloe", "david", "ivan", "julia", "zed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("plus addressing on: %q; want %q", got, want)
	}
	off := Build(parseConfig(t, strings.Replace(corpusConfig, "[archive]", "[directory]\nplus_addressing = false\n[archive]", 1)), nil)
	if got, want := off.Owners(p), []string{"anna", "chloe", "david"}; !reflect.DeepEqual(got, want) {
		t.Errorf("plus addressing off: %q; want %q", got, want)
	}
	if on.Digest() == off.Digest() {
		t.Error("the digest does not change with plus_addressing")
	}

	// An address that has a + of its own is its owner's, not the
	// untagged address's.
	d := Build(parseConfig(t, "[archive]\ndir = \"/a\"\n[[users]]\nname = \"a\"\naddresses = [\"a@x.org\"]\n[[users]]\nname = \"b\"\naddresses = [\"a+b@x.org\"]\n"), nil)
	for addr, want := range map[string][]string{"a+b@x.org": {"b"}, "A+B@X.ORG": {"b"}, "a+c@x.org": {"a"}, "+a@x.org": nil, "a@x.org": {"a"}} {
		if got := d.OwnersOf(addr); !reflect.DeepEqual(got, want) {
			t.Errorf("OwnersOf(%q) = %q; want %q", addr, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	d := Build(parseConfig(t, corpusConfig), nil)
	for _, tc := range []struct{ in, want string }{
		{"anna", "anna"},
		{"ANNA", "anna"},
		{"a.berg@contoso.com", "anna"},
		{"Anna Berg <ANNA.BERG@contoso.com>", "anna"},
		{"anna.berg+news@contoso.com", "anna"},
		{"kim.akers@contoso.com", "kim"},
		{"info@contoso.com", ""}, // a shared mailbox is not a user
		{"sales-team", ""},       // nor is a group
		{"nobody@contoso.com", ""},
		{"", ""},
	} {
		u, ok := d.Lookup(tc.in)
		if u.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.in, u.Name, ok, tc.want)
		}
	}
	if u, _ := d.Lookup("kim"); !u.Role.SeesAll() {
		t.Errorf("kim: role %v", u.Role)
	}
	if u, _ := d.Lookup("anna"); !reflect.DeepEqual(u.Addresses, []string{"a.berg@contoso.com", "anna.berg@contoso.com"}) {
		t.Errorf("anna: addresses %q", u.Addresses)
	}
	if g := d.GroupsOf("zed"); !reflect.DeepEqual(g, []string{"sales", "sales-team"}) {
		t.Errorf("GroupsOf(zed) = %q", g)
	}
}

// TestImplicit: without users, every address owns its own mail.
func TestImplicit(t *testing.T) {
	cfg := parseConfig(t, "[archive]\ndir = \"/a\"\n")
	d := Build(cfg, &Snapshot{Users: []User{{Name: "ignored"}}})
	if !d.IsImplicit() {
		t.Fatal("not implicit")
	}
	env := corpusEnvelope(t, "jr-simple-to-cc.eml", config.EnvelopeMode{})
	p := partiesOf(env)
	p.Recipients = append(slices.Clone(p.Recipients), journal.Recipient{Addr: "Anna.Berg+x@Contoso.COM", Field: "bcc"}, journal.Recipient{Addr: "not an address", Field: "bcc"})
	want := []string{"anna.berg@contoso.com", "ben.okafor@contoso.com", "chloe.martin@contoso.com", "david.lee@contoso.com"}
	if got := d.Owners(p); !reflect.DeepEqual(got, want) {
		t.Errorf("Owners = %q; want %q", got, want)
	}
	if u, ok := d.Lookup("Ben <Ben.Okafor@CONTOSO.com>"); !ok || u.Name != "ben.okafor@contoso.com" {
		t.Errorf("Lookup = %+v, %v", u, ok)
	}
	if _, ok := d.Lookup("ben"); ok {
		t.Error("Lookup of a name in an implicit directory")
	}
	if Implicit(Options{PlusAddressing: true}).Digest() == Build(parseConfig(t, corpusConfig), nil).Digest() {
		t.Error("same digest")
	}
}

func TestValidName(t *testing.T) {
	for _, s := range []string{"anna", "Anna.Berg", "kim@contoso.com", "o'brien", "Kim Akers", "pc1$", "jürgen"} {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
	for _, s := range []string{"", " anna", "anna ", Unassigned, "a<b", "smtp:anna", "a,b", "kim@MÜNCHEN.example.org", "tab\tname", strings.Repeat("a", 257)} {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
}

func TestMergeAndWarnings(t *testing.T) {
	ldap := &Snapshot{
		Users: []User{
			{Name: "anna", Addresses: []string{"anna.berg@contoso.com"}, DN: "cn=anna"},
			{Name: "bad name;", Addresses: []string{"x@contoso.com"}, DN: "cn=bad"},
			{Name: "ben", Addresses: []string{"ben@contoso.com", "not-an-address"}},
		},
		Groups: []Group{{Name: "Sales", Addresses: []string{"sales@contoso.com"}, Users: []string{"anna", "ghost"}, Groups: []string{"missing"}}},
	}
	cfg := parseConfig(t, `
[archive]
dir = "/a"
[directory.ldap]
url = "ldap://127.0.0.1"
base_dn = "dc=contoso,dc=com"
[[users]]
name = "ANNA"
addresses = ["a.berg@contoso.com"]
role = "admin"
[[users]]
name = "auditor"
role = "auditor"
[[groups]]
name = "sales"
members = ["auditor", "nobody"]
[[shared_mailboxes]]
address = "info@contoso.com"
members = ["Sales"]
`)
	d := Build(cfg, ldap)
	anna, _ := d.Lookup("anna")
	if anna.Name != "anna" || anna.Role != config.RoleAdmin || !reflect.DeepEqual(anna.Addresses, []string{"anna.berg@contoso.com", "a.berg@contoso.com"}) || anna.DN != "cn=anna" {
		t.Errorf("anna: %+v", anna)
	}
	if got := d.OwnersOf("sales@contoso.com"); !reflect.DeepEqual(got, []string{"anna", "auditor"}) {
		t.Errorf("sales: %q", got)
	}
	if got := d.OwnersOf("info@contoso.com"); !reflect.DeepEqual(got, []string{"anna", "auditor"}) {
		t.Errorf("info: %q", got)
	}
	wantWarnings := []string{
		`group "sales": member "nobody" is not a user or group; left out`,
		`user "bad name;" (cn=bad): not a usable name; left out`,
		`user "ben": "not-an-address" is not a mail address; left out`,
		`group "Sales": member "ghost" is not a user; left out`,
		`group "Sales": member group "missing" does not exist; left out`,
	}
	got := d.Warnings()
	for _, w := range wantWarnings {
		if !slices.Contains(got, w) {
			t.Errorf("warning %q missing in %q", w, got)
		}
	}
	// Without [directory.ldap] a persisted LDAP snapshot is not used.
	cfg.Directory.LDAP.URL = ""
	if d := Build(cfg, ldap); len(d.Users()) != 2 {
		t.Errorf("users without LDAP: %+v", d.Users())
	}
}

func TestDiff(t *testing.T) {
	cfg := parseConfig(t, corpusConfig)
	old := Build(cfg, nil)
	doc := strings.Replace(corpusConfig, `members = ["anna", "ivan", "julia", "zed"]`, `members = ["anna", "ivan", "julia", "legal"]`, 1)
	doc = strings.Replace(doc, `addresses = ["zed@contoso.com"]`, `addresses = ["zed@contoso.com", "z@contoso.com"]`+"\nrole = \"admin\"", 1)
	doc = strings.Replace(doc, "[[users]]\nname = \"carol\"\naddresses = [\"carol.diaz@contoso.com\"]\n", "[[users]]\nname = \"dora\"\n", 1)
	doc = strings.Replace(doc, `members = ["ben", "carol"]`, `members = ["ben"]`, 1)
	d := Build(parseConfig(t, doc), nil)
	want := []string{
		"+ user dora",
		"~ user zed: +z@contoso.com, role admin",
		"- user carol",
		"~ group sales-team: +group legal, -zed",
		"~ shared mailbox info@contoso.com: -carol",
		"owners changed for 5 addresses",
	}
	if got := Diff(old, d); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := Diff(d, d); len(got) != 0 {
		t.Errorf("Diff of the same: %q", got)
	}
	if got := Diff(nil, Build(parseConfig(t, "[archive]\ndir = \"/a\"\n[[users]]\nname = \"a\"\naddresses = [\"a@x.org\"]\n"), nil)); !reflect.DeepEqual(got, []string{"+ user a: a@x.org", "owners changed for 1 address"}) {
		t.Errorf("Diff from nothing: %q", got)
	}
	if got := Diff(Implicit(Options{PlusAddressing: true}), old); !slices.Contains(got, "users defined: mail belongs to them, not to every address") {
		t.Errorf("Diff from implicit: %q", got)
	}
}

// TestSyncerFile: without [directory.ldap] the configuration file is the
// directory; MarkApplied persists, SetConfig (a reload) rebuilds.
func TestSyncerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFile)
	cfg := parseConfig(t, corpusConfig)
	s := Open(cfg, path, nil)
	res, err := s.Sync(t.Context())
	if err != nil || res.Read || len(res.Changes) != 0 {
		t.Errorf("Sync = %+v, %v; want nothing read, no changes", res, err)
	}
	if st := s.Status(); st.Source != "file" || !st.Pending || st.Users != 23 {
		t.Errorf("status %+v", st)
	}
	if err := s.MarkApplied(s.Directory()); err != nil {
		t.Fatal(err)
	}
	if s := Open(cfg, path, nil); s.NeedsReassign() || s.Status().Applied.IsZero() {
		t.Error("MarkApplied not persisted")
	}
	s.SetConfig(parseConfig(t, strings.Replace(corpusConfig, `name = "carol"`, `name = "caroline"`, 1)+"[[users]]\nname = \"carol\"\n"))
	if _, ok := s.Directory().Lookup("caroline"); !ok || !s.NeedsReassign() {
		t.Error("SetConfig did not rebuild the directory")
	}
	select {
	case <-s.Changed():
	default:
		t.Error("SetConfig did not signal Changed")
	}
	s.SetConfig(parseConfig(t, "[archive]\ndir = \"/a\"\n"))
	if st := s.Status(); st.Source != "implicit" || !st.Pending {
		t.Errorf("status %+v", st)
	}
}
