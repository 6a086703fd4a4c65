package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"jarchive/config"
	"jarchive/journal"
)

// Unassigned is the owner the search index gives a message that no user
// owns: the "unassigned" view, which auditors see. No user name can be it
// (see ValidName).
const Unassigned = "(unassigned)"

// User is a person who owns mail: the mail sent or received under any of
// Addresses.
type User struct {
	// Name identifies the user: it is what the archive records as an
	// owner and what "jarchive search -as" takes.
	Name string `json:"name"`
	// Addresses are the user's mail addresses, primary first, in normal
	// form (journal.NormalizeAddr).
	Addresses []string `json:"addresses,omitempty"`
	// Principal is another name to look the user up by (Active
	// Directory's userPrincipalName); not a mail address as such.
	Principal string      `json:"principal,omitempty"`
	Role      config.Role `json:"role,omitzero"`
	// DN is the user's entry in an LDAP directory.
	DN string `json:"dn,omitempty"`
}

// Group is a distribution list or team: the members of a group whose
// address a message names own it.
type Group struct {
	Name      string   `json:"name"`
	Addresses []string `json:"addresses,omitempty"`
	// Users and Groups are its direct members, by name; the members of
	// member groups are members too, at any depth.
	Users  []string `json:"users,omitempty"`
	Groups []string `json:"groups,omitempty"`
	DN     string   `json:"dn,omitempty"`
}

// SharedMailbox is an address whose mail belongs to several users: its
// users and the members of its groups.
type SharedMailbox struct {
	Address string   `json:"address"`
	Users   []string `json:"users,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// Snapshot is a directory as read from its sources at one time.
type Snapshot struct {
	Users  []User          `json:"users"`
	Groups []Group         `json:"groups,omitempty"`
	Shared []SharedMailbox `json:"shared,omitempty"`
}

// Options of a Directory.
type Options struct {
	// PlusAddressing: user+tag@domain reaches the owners of user@domain
	// when no one has the tagged address itself.
	PlusAddressing bool
}

// Parties are the addresses of a message that decide who owns it: its
// envelope sender, the user it was sent on behalf of and its envelope
// recipients (all fields, Bcc included, and the recipient a forwarded
// copy was for). A recipient's ExpandedFrom is not a party: the expansion
// already lists the group's members at the time.
type Parties struct {
	Sender     string
	OnBehalfOf string
	Recipients []journal.Recipient
}

func (p *Parties) each(fn func(addr string)) {
	for _, a := range []string{p.Sender, p.OnBehalfOf} {
		if a != "" {
			fn(a)
		}
	}
	for i := range p.Recipients {
		fn(p.Recipients[i].Addr)
		if f := p.Recipients[i].ForwardedFrom; f != "" {
			fn(f)
		}
	}
}

// Directory answers who owns a message. It is built once from a Snapshot
// and never changes; its methods are safe for concurrent use.
type Directory struct {
	opts     Options
	implicit bool
	snap     *Snapshot
	users    map[string]*User    // by lower-case name
	lookup   map[string]*User    // lower-case name, principal and address key
	owners   map[string][]string // address key -> sorted user names
	groupsOf map[string][]string // lower-case user name -> names of the groups it is in, at any depth
	warnings []string
	digest   string
}

// Implicit returns the directory of an archive without users: every
// address is a user of its own, named by the address in normal form
// (lower-cased; with PlusAddressing without its +tag).
func Implicit(opts Options) *Directory {
	d := &Directory{opts: opts, implicit: true, snap: &Snapshot{}}
	d.digest = d.computeDigest()
	return d
}

// IsImplicit reports whether the directory is Implicit.
func (d *Directory) IsImplicit() bool { return d.implicit }

// New compiles a snapshot. Entries it cannot use (a user without a valid
// name, an address that is not one, a member that names no one) are left
// out and described by Warnings.
func New(s *Snapshot, opts Options) *Directory {
	d := &Directory{
		opts:     opts,
		snap:     s,
		users:    map[string]*User{},
		lookup:   map[string]*User{},
		owners:   map[string][]string{},
		groupsOf: map[string][]string{},
	}
	warn := func(format string, args ...any) { d.warnings = append(d.warnings, fmt.Sprintf(format, args...)) }

	users := slices.Clone(s.Users)
	sort.SliceStable(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	for i := range users {
		u := &users[i]
		if !ValidName(u.Name) {
			warn("user %q (%s): not a usable name; left out", u.Name, u.DN)
			continue
		}
		l := strings.ToLower(u.Name)
		if d.users[l] != nil {
			warn("user %q: a second user of that name; left out", u.Name)
			continue
		}
		cp := *u
		cp.Addresses = nil
		for _, a := range u.Addresses {
			k, ok := addrKey(a)
			if !ok {
				warn("user %q: %q is not a mail address; left out", u.Name, a)
				continue
			}
			if !slices.Contains(cp.Addresses, k) {
				cp.Addresses = append(cp.Addresses, k)
			}
		}
		d.users[l] = &cp
	}
	groups := map[string]*Group{}
	for i := range s.Groups {
		g := &s.Groups[i]
		l := strings.ToLower(g.Name)
		if g.Name == "" || groups[l] != nil {
			warn("group %q (%s): no name or a second group of that name; left out", g.Name, g.DN)
			continue
		}
		groups[l] = g
	}

	add := func(key, name string) {
		if !slices.Contains(d.owners[key], name) {
			d.owners[key] = append(d.owners[key], name)
		}
	}
	for _, l := range sortedKeys(d.users) {
		u := d.users[l]
		d.lookup[l] = u
		for _, k := range u.Addresses {
			add(k, u.Name)
		}
	}
	// members returns the user names of the given users and groups, the
	// members of nested groups included; a cycle of groups ends where it
	// closes.
	members := func(what string, userNames, groupNames []string) []string {
		var out []string
		seenU, seenG := map[string]bool{}, map[string]bool{}
		addUsers := func(of string, names []string) {
			for _, n := range names {
				u := d.users[strings.ToLower(n)]
				if u == nil {
					warn("%s: member %q is not a user; left out", of, n)
					continue
				}
				if !seenU[u.Name] {
					seenU[u.Name] = true
					out = append(out, u.Name)
				}
			}
		}
		addUsers(what, userNames)
		queue := slices.Clone(groupNames)
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			l := strings.ToLower(n)
			if seenG[l] {
				continue
			}
			seenG[l] = true
			g := groups[l]
			if g == nil {
				warn("%s: member group %q does not exist; left out", what, n)
				continue
			}
			addUsers(fmt.Sprintf("group %q", g.Name), g.Users)
			queue = append(queue, g.Groups...)
		}
		sort.Strings(out)
		return out
	}
	for _, l := range sortedKeys(groups) {
		g := groups[l]
		us := members(fmt.Sprintf("group %q", g.Name), g.Users, g.Groups)
		for _, u := range us {
			ul := strings.ToLower(u)
			d.groupsOf[ul] = append(d.groupsOf[ul], g.Name)
		}
		for _, a := range g.Addresses {
			k, ok := addrKey(a)
			if !ok {
				warn("group %q: %q is not a mail address; left out", g.Name, a)
				continue
			}
			for _, u := range us {
				add(k, u)
			}
		}
	}
	for _, sm := range s.Shared {
		k, ok := addrKey(sm.Address)
		if !ok {
			warn("shared mailbox %q: not a mail address; left out", sm.Address)
			continue
		}
		for _, u := range members(fmt.Sprintf("shared mailbox %q", sm.Address), sm.Users, sm.Groups) {
			add(k, u)
		}
	}
	for k, names := range d.owners {
		sort.Strings(names)
		d.owners[k] = names
	}
	// Lookups by principal, then by address; a name wins over both.
	for _, l := range sortedKeys(d.users) {
		u := d.users[l]
		if u.Principal == "" {
			continue
		}
		p := strings.ToLower(u.Principal)
		if k, ok := addrKey(u.Principal); ok {
			p = k
		}
		if _, taken := d.lookup[p]; !taken {
			d.lookup[p] = u
		}
	}
	for _, l := range sortedKeys(d.users) {
		u := d.users[l]
		for _, k := range u.Addresses {
			if _, taken := d.lookup[k]; !taken {
				d.lookup[k] = u
			}
		}
	}
	d.digest = d.computeDigest()
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidName reports whether s can be a user name: printable, without
// surrounding spaces and without any of <>()[]",;:\*, so that it reads back
// unchanged wherever an owner is compared (the search index compares
// owners as addresses in normal form, lower-cased).
func ValidName(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || strings.ContainsRune(`<>()[]",;:\*`, r) {
			return false
		}
	}
	n, _ := journal.NormalizeAddr(s)
	return strings.EqualFold(n, s)
}

// addrKey is the form addresses are compared in: the normal form
// (journal.NormalizeAddr: domain lower-cased and in ASCII), local part
// lower-cased too, as Exchange and nearly every mail server compare it.
func addrKey(s string) (string, bool) {
	n, ok := journal.NormalizeAddr(s)
	if !ok {
		return "", false
	}
	return strings.ToLower(n), true
}

// untagged returns key without the +tag of its local part, if it has one.
func untagged(key string) (string, bool) {
	at := strings.LastIndexByte(key, '@')
	if at <= 0 {
		return "", false
	}
	i := strings.IndexByte(key[:at], '+')
	if i <= 0 {
		return "", false
	}
	return key[:i] + key[at:], true
}

// Owners returns the names of the users who own a message with these
// parties, sorted; nil when no one does (the message is unassigned). A
// user owns it when one of their addresses is a party, when they are a
// member (at any depth) of a group whose address is one, and when they
// are a user of a shared mailbox that is one.
func (d *Directory) Owners(p Parties) []string {
	var out []string
	p.each(func(a string) {
		for _, o := range d.ownersOf(a) {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	})
	sort.Strings(out)
	return out
}

// OwnersOf returns the names of the users who own mail to or from addr.
func (d *Directory) OwnersOf(addr string) []string { return slices.Clone(d.ownersOf(addr)) }

func (d *Directory) ownersOf(a string) []string {
	k, ok := addrKey(a)
	if !ok {
		return nil
	}
	if d.implicit {
		if d.opts.PlusAddressing {
			if u, ok := untagged(k); ok {
				k = u
			}
		}
		return []string{k}
	}
	if o := d.owners[k]; o != nil {
		return o
	}
	if d.opts.PlusAddressing {
		if u, ok := untagged(k); ok {
			return d.owners[u]
		}
	}
	return nil
}

// Lookup finds a user by name, principal or address (any case; with
// PlusAddressing, a tagged address too). In an Implicit directory every
// address is a user.
func (d *Directory) Lookup(s string) (User, bool) {
	s = strings.TrimSpace(s)
	if d.implicit {
		o := d.ownersOf(s)
		if len(o) == 0 {
			return User{}, false
		}
		return User{Name: o[0], Addresses: o}, true
	}
	if u := d.lookup[strings.ToLower(s)]; u != nil {
		return *u, true
	}
	k, ok := addrKey(s)
	if !ok {
		return User{}, false
	}
	if u := d.lookup[k]; u != nil {
		return *u, true
	}
	if d.opts.PlusAddressing {
		if un, ok := untagged(k); ok {
			if u := d.lookup[un]; u != nil {
				return *u, true
			}
		}
	}
	return User{}, false
}

// Users returns the users, sorted by name.
func (d *Directory) Users() []User {
	out := make([]User, 0, len(d.users))
	for _, l := range sortedKeys(d.users) {
		out = append(out, *d.users[l])
	}
	return out
}

// GroupsOf returns the names of the groups the user is in, at any depth,
// sorted.
func (d *Directory) GroupsOf(name string) []string {
	g := slices.Clone(d.groupsOf[strings.ToLower(name)])
	sort.Strings(g)
	return g
}

// Snapshot returns what the directory was built from. Do not modify it.
func (d *Directory) Snapshot() *Snapshot { return d.snap }

// Warnings describe what New left out.
func (d *Directory) Warnings() []string { return d.warnings }

// Options returns the options the directory was built with.
func (d *Directory) Options() Options { return d.opts }

// Digest identifies what Owners answers: two directories with the same
// digest give every message the same owners.
func (d *Directory) Digest() string { return d.digest }

func (d *Directory) computeDigest() string {
	h := sha256.New()
	fmt.Fprintf(h, "jarchive directory v1 implicit=%t plus=%t\n", d.implicit, d.opts.PlusAddressing)
	for _, k := range sortedKeys(d.owners) {
		fmt.Fprintf(h, "%s\t%s\n", k, strings.Join(d.owners[k], "\t"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
