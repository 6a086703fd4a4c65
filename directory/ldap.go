package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"jarchive/config"
)

// Object identifiers of Active Directory.
const (
	// oidActiveDirectory in the root DSE's supportedCapabilities marks an
	// Active Directory domain controller (LDAP_CAP_ACTIVE_DIRECTORY_OID).
	oidActiveDirectory = "1.2.840.113556.1.4.800"
	// oidInChain is LDAP_MATCHING_RULE_IN_CHAIN: memberOf:<oid>:=<group
	// DN> matches the members of the group at any depth.
	oidInChain = "1.2.840.113556.1.4.1941"
)

// LDAPStats describe one read of a directory.
type LDAPStats struct {
	Users, Groups int
	Pages         int           // pages of paged searches (RFC 2696)
	Skipped       int           // entries without a usable name
	Unknown       int           // member DNs that are neither a user nor a group read (contacts, computers, other trees)
	Nested        string        // how nested groups were resolved: in-chain or recursive
	Took          time.Duration // the whole read
}

// ErrEmpty is returned by ReadLDAP when the directory answers with no
// users at all: more likely a wrong filter, base or permission than a
// company without staff, and never a reason to empty the user list.
var ErrEmpty = errors.New("the directory returned no users")

// ReadLDAP reads the users and groups of [directory.ldap]: it connects
// (TLS verified), binds, and reads users and groups with paged searches,
// resolving group members (DNs) to names. Members of nested groups are
// found as the configuration says (config.NestedGroups). Closing ctx ends
// the read at once.
func ReadLDAP(ctx context.Context, cfg *config.LDAP, logger *slog.Logger) (*Snapshot, *LDAPStats, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	r := &ldapReader{cfg: cfg, logger: logger, stats: &LDAPStats{}}
	if err := r.connect(ctx); err != nil {
		return nil, nil, err
	}
	defer r.conn.Close()
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	snap, err := r.read()
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("ldap %s: %w", cfg.URL, ctx.Err())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ldap %s: %w", cfg.URL, err)
	}
	r.stats.Took = time.Since(start)
	return snap, r.stats, nil
}

type ldapReader struct {
	cfg    *config.LDAP
	logger *slog.Logger
	conn   *ldap.Conn
	stats  *LDAPStats
}

func (r *ldapReader) timeout() time.Duration {
	if r.cfg.Timeout > 0 {
		return time.Duration(r.cfg.Timeout)
	}
	return time.Duration(config.DefaultLDAPTimeout)
}

func (r *ldapReader) connect(ctx context.Context) error {
	cfg := r.cfg
	tc, err := cfg.TLSConfig()
	if err != nil {
		return err
	}
	d := &net.Dialer{Timeout: r.timeout()}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if cfg.Security == config.SecurityTLS {
		opts = append(opts, ldap.DialWithTLSConfig(tc))
	}
	type result struct {
		c   *ldap.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ldap.DialURL(cfg.URL, opts...)
		ch <- result{c, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		go func() {
			if res := <-ch; res.c != nil {
				res.c.Close()
			}
		}()
		return fmt.Errorf("ldap %s: %w", cfg.URL, ctx.Err())
	}
	if res.err != nil {
		return fmt.Errorf("ldap %s: connect: %w", cfg.URL, res.err)
	}
	r.conn = res.c
	r.conn.SetTimeout(r.timeout())
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	fail := func(err error) error {
		r.conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("ldap %s: %w", cfg.URL, err)
	}
	if cfg.Security == config.SecuritySTARTTLS {
		if err := r.conn.StartTLS(tc); err != nil {
			return fail(fmt.Errorf("StartTLS: %w", err))
		}
	}
	if cfg.BindDN != "" {
		if err := r.conn.Bind(cfg.BindDN, cfg.BindPassword.Reveal()); err != nil {
			return fail(fmt.Errorf("bind as %q: %w", cfg.BindDN, err))
		}
	}
	return nil
}

// search runs a paged subtree search below the base DN and calls fn for
// each entry. Referrals (Active Directory returns them for its DNS zones)
// are ignored.
func (r *ldapReader) search(filter string, attrs []string, fn func(*ldap.Entry)) error {
	paging := ldap.NewControlPaging(uint32(max(r.cfg.PageSize, 1)))
	req := ldap.NewSearchRequest(r.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, []ldap.Control{paging})
	for {
		res, err := r.conn.Search(req)
		if err != nil {
			return fmt.Errorf("search %s under %q: %w", filter, r.cfg.BaseDN, err)
		}
		r.stats.Pages++
		for _, e := range res.Entries {
			fn(e)
		}
		c, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(c.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(c.Cookie)
	}
}

// isActiveDirectory reads the root DSE's supportedCapabilities.
func (r *ldapReader) isActiveDirectory() bool {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"supportedCapabilities"}, nil)
	res, err := r.conn.Search(req)
	if err != nil || len(res.Entries) == 0 {
		return false
	}
	return slices.Contains(res.Entries[0].GetEqualFoldAttributeValues("supportedCapabilities"), oidActiveDirectory)
}

func (r *ldapReader) read() (*Snapshot, error) {
	cfg := r.cfg
	snap := &Snapshot{}
	userByDN := map[string]int{}
	userMemberOf := map[int][]string{}

	attrs := []string{cfg.NameAttribute}
	if cfg.PrincipalAttribute != "" {
		attrs = append(attrs, cfg.PrincipalAttribute)
	}
	attrs = append(attrs, cfg.AddressAttributes...)
	if cfg.MemberOfAttribute != "" {
		attrs = append(attrs, cfg.MemberOfAttribute)
	}
	err := r.search(cfg.UserFilter, attrs, func(e *ldap.Entry) {
		name := strings.TrimSpace(e.GetEqualFoldAttributeValue(cfg.NameAttribute))
		if !ValidName(name) {
			r.stats.Skipped++
			r.logger.Debug("directory: user without a usable name", "dn", e.DN, "name", name)
			return
		}
		u := User{Name: name, DN: e.DN, Addresses: addressesOf(e, cfg.AddressAttributes)}
		if cfg.PrincipalAttribute != "" {
			u.Principal = strings.TrimSpace(e.GetEqualFoldAttributeValue(cfg.PrincipalAttribute))
		}
		snap.Users = append(snap.Users, u)
		i := len(snap.Users) - 1
		userByDN[dnKey(e.DN)] = i
		if cfg.MemberOfAttribute != "" {
			userMemberOf[i] = e.GetEqualFoldAttributeValues(cfg.MemberOfAttribute)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(snap.Users) == 0 {
		return nil, fmt.Errorf("%w (user_filter %s under %q)", ErrEmpty, cfg.UserFilter, cfg.BaseDN)
	}

	groupByDN := map[string]int{}
	type rawGroup struct{ members, memberOf []string }
	var raw []rawGroup
	gattrs := []string{cfg.NameAttribute, "cn"}
	gattrs = append(gattrs, cfg.AddressAttributes...)
	gattrs = append(gattrs, cfg.MemberAttributes...)
	if cfg.MemberOfAttribute != "" {
		gattrs = append(gattrs, cfg.MemberOfAttribute)
	}
	var rangeErr error
	err = r.search(cfg.GroupFilter, gattrs, func(e *ldap.Entry) {
		name := strings.TrimSpace(e.GetEqualFoldAttributeValue(cfg.NameAttribute))
		if name == "" {
			name = strings.TrimSpace(e.GetEqualFoldAttributeValue("cn"))
		}
		if name == "" {
			r.stats.Skipped++
			return
		}
		var rg rawGroup
		for _, a := range cfg.MemberAttributes {
			vals, err := r.values(e, a)
			if err != nil && rangeErr == nil {
				rangeErr = err
			}
			rg.members = append(rg.members, vals...)
		}
		if cfg.MemberOfAttribute != "" {
			rg.memberOf = e.GetEqualFoldAttributeValues(cfg.MemberOfAttribute)
		}
		snap.Groups = append(snap.Groups, Group{Name: name, DN: e.DN, Addresses: addressesOf(e, cfg.AddressAttributes)})
		raw = append(raw, rg)
		groupByDN[dnKey(e.DN)] = len(snap.Groups) - 1
	})
	if err == nil {
		err = rangeErr
	}
	if err != nil {
		return nil, err
	}

	// Direct memberships, from both sides: member on the group, memberOf
	// on the member.
	addUser := func(g *Group, u string) {
		if !slices.Contains(g.Users, u) {
			g.Users = append(g.Users, u)
		}
	}
	addGroup := func(g *Group, c string) {
		if !slices.Contains(g.Groups, c) && !strings.EqualFold(g.Name, c) {
			g.Groups = append(g.Groups, c)
		}
	}
	for i, rg := range raw {
		g := &snap.Groups[i]
		for _, m := range rg.members {
			k := dnKey(stripUID(m))
			if u, ok := userByDN[k]; ok {
				addUser(g, snap.Users[u].Name)
			} else if c, ok := groupByDN[k]; ok {
				addGroup(g, snap.Groups[c].Name)
			} else {
				r.stats.Unknown++
			}
		}
		for _, p := range rg.memberOf {
			if pi, ok := groupByDN[dnKey(p)]; ok {
				addGroup(&snap.Groups[pi], g.Name)
			}
		}
	}
	for i, groups := range userMemberOf {
		for _, p := range groups {
			if pi, ok := groupByDN[dnKey(p)]; ok {
				addUser(&snap.Groups[pi], snap.Users[i].Name)
			}
		}
	}

	r.stats.Nested = "recursive"
	inChain := cfg.NestedGroups == config.NestedInChain || cfg.NestedGroups == config.NestedAuto && r.isActiveDirectory()
	if inChain {
		if err := r.inChain(snap, userByDN); err != nil {
			r.logger.Warn("directory: LDAP_MATCHING_RULE_IN_CHAIN does not work here; resolving nested groups from their member lists", "err", err)
		} else {
			r.stats.Nested = "in-chain"
		}
	}

	// Roles from groups.
	for _, rg := range []struct {
		group string
		role  config.Role
	}{{cfg.AuditorGroup, config.RoleAuditor}, {cfg.AdminGroup, config.RoleAdmin}} {
		if rg.group == "" {
			continue
		}
		members, ok := groupMembers(snap, rg.group)
		if !ok {
			r.logger.Warn("directory: the role group is not among the groups read", "group", rg.group, "role", rg.role.String())
			continue
		}
		for i := range snap.Users {
			if members[strings.ToLower(snap.Users[i].Name)] {
				snap.Users[i].Role |= rg.role
			}
		}
	}
	r.stats.Users, r.stats.Groups = len(snap.Users), len(snap.Groups)
	return snap, nil
}

// inChain replaces the members of every group that has an address by its
// users at any depth, as Active Directory's in-chain matching rule finds
// them. It changes nothing and fails when the rule does not work.
func (r *ldapReader) inChain(snap *Snapshot, userByDN map[string]int) error {
	memberOf := r.cfg.MemberOfAttribute
	if memberOf == "" {
		memberOf = "memberOf"
	}
	found := make(map[int][]string)
	for i := range snap.Groups {
		g := &snap.Groups[i]
		if len(g.Addresses) == 0 {
			continue
		}
		filter := fmt.Sprintf("(&%s(%s:%s:=%s))", r.cfg.UserFilter, memberOf, oidInChain, ldap.EscapeFilter(g.DN))
		var users []string
		err := r.search(filter, []string{"1.1"}, func(e *ldap.Entry) {
			if u, ok := userByDN[dnKey(e.DN)]; ok {
				users = append(users, snap.Users[u].Name)
			}
		})
		if err != nil {
			return err
		}
		if len(users) == 0 && len(g.Users) > 0 {
			return fmt.Errorf("group %q has members but the in-chain search finds none", g.Name)
		}
		found[i] = users
	}
	for i, users := range found {
		slices.Sort(users)
		snap.Groups[i].Users, snap.Groups[i].Groups = slices.Compact(users), nil
	}
	return nil
}

// groupMembers returns the lower-case names of the users of the group
// named by its name, its DN or the value of its RDN (its cn), at any
// depth.
func groupMembers(snap *Snapshot, group string) (map[string]bool, bool) {
	byName := map[string]*Group{}
	var start *Group
	for i := range snap.Groups {
		g := &snap.Groups[i]
		byName[strings.ToLower(g.Name)] = g
		if strings.EqualFold(g.Name, group) || dnKey(g.DN) == dnKey(group) || strings.EqualFold(rdnValue(g.DN), group) {
			start = g
		}
	}
	if start == nil {
		return nil, false
	}
	out := map[string]bool{}
	seen := map[*Group]bool{}
	queue := []*Group{start}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if seen[g] {
			continue
		}
		seen[g] = true
		for _, u := range g.Users {
			out[strings.ToLower(u)] = true
		}
		for _, c := range g.Groups {
			if cg := byName[strings.ToLower(c)]; cg != nil {
				queue = append(queue, cg)
			}
		}
	}
	return out, true
}

// rangeRE matches Active Directory's ranged attribute description
// "member;range=0-1499" (and its last part, "member;range=1500-*").
var rangeRE = regexp.MustCompile(`(?i)^(.+);range=([0-9]+)-([0-9]+|\*)$`)

// values returns all values of attr of e. Active Directory hands out at
// most 1,500 values of a large attribute at a time (MaxValRange) as
// "member;range=0-1499": the rest is fetched range by range.
func (r *ldapReader) values(e *ldap.Entry, attr string) ([]string, error) {
	vals := e.GetEqualFoldAttributeValues(attr)
	for _, a := range e.Attributes {
		m := rangeRE.FindStringSubmatch(a.Name)
		if m == nil || !strings.EqualFold(m[1], attr) {
			continue
		}
		vals = append(vals, a.Values...)
		end := m[3]
		for end != "*" {
			n, err := strconv.Atoi(end)
			if err != nil {
				return vals, fmt.Errorf("%s of %q: bad range %q", attr, e.DN, a.Name)
			}
			want := fmt.Sprintf("%s;range=%d-*", attr, n+1)
			req := ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
				"(objectClass=*)", []string{want}, nil)
			res, err := r.conn.Search(req)
			if err != nil {
				return vals, fmt.Errorf("%s of %q from %d: %w", attr, e.DN, n+1, err)
			}
			end = "*"
			if len(res.Entries) == 1 {
				for _, ra := range res.Entries[0].Attributes {
					if mm := rangeRE.FindStringSubmatch(ra.Name); mm != nil && strings.EqualFold(mm[1], attr) {
						vals = append(vals, ra.Values...)
						end = mm[3]
					}
				}
			}
		}
	}
	return vals, nil
}

// addressesOf returns the mail addresses of an entry's address
// attributes: plain values as they are; of typed values ("SMTP:a@x",
// "smtp:b@x", "X500:/o=...", "SIP:...") only the SMTP ones, the one in
// capitals (the primary address) first.
func addressesOf(e *ldap.Entry, attrs []string) []string {
	var primary, rest []string
	for _, attr := range attrs {
		for _, v := range e.GetEqualFoldAttributeValues(attr) {
			v = strings.TrimSpace(v)
			if i := strings.IndexByte(v, ':'); i > 0 && !strings.ContainsAny(v[:i], "@\"") {
				typ := v[:i]
				switch {
				case typ == "SMTP":
					primary = append(primary, v[i+1:])
				case strings.EqualFold(typ, "smtp"):
					rest = append(rest, v[i+1:])
				}
				continue
			}
			if v != "" {
				rest = append(rest, v)
			}
		}
	}
	var out []string
	for _, a := range append(primary, rest...) {
		if k, ok := addrKey(a); ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// dnKey is the form DNs are compared in: attribute types and values
// lower-cased, no spaces around separators.
func dnKey(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, rdn := range p.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(strings.ToLower(a.Value))
		}
	}
	return b.String()
}

// rdnValue is the value of the first attribute of the first RDN of dn:
// "Archive Auditors" of "CN=Archive Auditors,OU=Groups,DC=contoso,DC=com".
func rdnValue(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return ""
	}
	return p.RDNs[0].Attributes[0].Value
}

// uidRE matches the optional unique identifier of a uniqueMember value
// (RFC 4517 NameAndOptionalUID): "cn=a,dc=x#'0101'B".
var uidRE = regexp.MustCompile(`#'[01]*'B$`)

func stripUID(dn string) string { return uidRE.ReplaceAllString(dn, "") }
