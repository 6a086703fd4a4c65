package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// directory checks [directory], [directory.ldap], [[users]], [[groups]] and
// [[shared_mailboxes]] and fills in their defaults.
func (v *validator) directory() {
	d := &v.cfg.Directory
	if kv := v.present("directory.sync_interval"); kv == nil {
		d.SyncInterval = DefaultSyncInterval
	} else if d.SyncInterval < MinSyncInterval {
		v.errf("directory.sync_interval", "%q is too short: the minimum is %s", kv.text, MinSyncInterval)
	}
	if v.present("directory.plus_addressing") == nil {
		d.PlusAddressing = true
	}
	if _, ok := v.ps.idx.tables["directory.ldap"]; ok || v.present("directory.ldap") != nil {
		v.ldap()
	}

	// Names and addresses of users, groups and shared mailboxes: unique
	// without regard to case, across all three where they could mix up.
	names := map[string]string{} // lower-case name -> "users[0]"
	addrs := map[string]string{} // lower-case address -> "users[0]"
	for i := range v.cfg.Users {
		u := &v.cfg.Users[i]
		p := fmt.Sprintf("users[%d]", i)
		v.dirName(p, u.Name, names)
		for j, a := range u.Addresses {
			v.dirAddress(p+".addresses", j, a, addrs, p)
		}
		if v.present(p+".password_hash") != nil {
			if msg := checkPasswordHash(u.PasswordHash); msg != "" {
				v.err(p+".password_hash", msg)
			}
		}
	}
	for i := range v.cfg.Groups {
		g := &v.cfg.Groups[i]
		p := fmt.Sprintf("groups[%d]", i)
		v.dirName(p, g.Name, names)
		if g.Address != "" {
			v.dirAddress(p+".address", -1, g.Address, addrs, p)
		} else if v.present(p+".address") != nil {
			v.err(p+".address", "must not be empty (remove the key for a group without an address)")
		}
	}
	for i := range v.cfg.SharedMailboxes {
		s := &v.cfg.SharedMailboxes[i]
		p := fmt.Sprintf("shared_mailboxes[%d]", i)
		if v.required(p+".address", s.Address) {
			v.dirAddress(p+".address", -1, s.Address, addrs, p)
		}
		if len(s.Members) == 0 {
			if v.present(p+".members") != nil {
				v.err(p+".members", "must name at least one user or group")
			} else {
				v.err(p+".members", "required key is missing (the users and groups who own the mailbox's mail)")
			}
		}
	}
	// Members must be known, unless the directory may know them.
	ldap := v.cfg.Directory.LDAP.Enabled()
	for i := range v.cfg.Groups {
		v.dirMembers(fmt.Sprintf("groups[%d].members", i), v.cfg.Groups[i].Members, names, ldap)
	}
	for i := range v.cfg.SharedMailboxes {
		v.dirMembers(fmt.Sprintf("shared_mailboxes[%d].members", i), v.cfg.SharedMailboxes[i].Members, names, ldap)
	}
}

// dirNameRE is what a user or group name of the file may be.
var dirNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+'-]*$`)

const maxDirName = 256

func (v *validator) dirName(p, name string, names map[string]string) {
	key := p + ".name"
	if !v.required(key, name) {
		return
	}
	if !dirNameRE.MatchString(name) || len(name) > maxDirName {
		v.errf(key, "%q is not a valid name: use letters, digits and . _ - @ + ' (starting with a letter or digit)", name)
		return
	}
	l := strings.ToLower(name)
	if other, dup := names[l]; dup {
		v.errf(key, "duplicate name %q (also used by %s; names of users and groups are one namespace, without regard to case)", name, other)
		return
	}
	names[l] = p
}

// dirAddress checks one address; j is its index in an array, or -1.
func (v *validator) dirAddress(key string, j int, a string, addrs map[string]string, owner string) {
	shown := key
	if j >= 0 {
		shown = fmt.Sprintf("%s[%d]", key, j)
	}
	if msg := checkAddress(a); msg != "" {
		v.errElem(key, j, shown, msg)
		return
	}
	l := strings.ToLower(a)
	if other, dup := addrs[l]; dup {
		if other == owner {
			v.errElem(key, j, shown, fmt.Sprintf("duplicate address %q", a))
		} else {
			v.errElem(key, j, shown, fmt.Sprintf("address %q also belongs to %s (for an address of several users, add a [[shared_mailboxes]] entry)", a, other))
		}
		return
	}
	addrs[l] = owner
}

func (v *validator) dirMembers(key string, members []string, names map[string]string, ldap bool) {
	for j, m := range members {
		shown := fmt.Sprintf("%s[%d]", key, j)
		switch {
		case m == "":
			v.errElem(key, j, shown, "must not be empty")
		case !ldap && names[strings.ToLower(m)] == "":
			v.errElem(key, j, shown, fmt.Sprintf("%q is not the name of a user or group", m))
		}
	}
}

// errElem records a problem of element j of the array key (j < 0: of key
// itself) at the element's position.
func (v *validator) errElem(key string, j int, shown, msg string) {
	if v.ps.isSuppressed(key) {
		return
	}
	if kv := v.present(key); kv != nil && j >= 0 && j < len(kv.elems) && kv.elems[j].off > 0 {
		v.ps.errAt(kv.elems[j].off, shown, msg)
		return
	}
	if j < 0 {
		v.err(key, msg)
		return
	}
	off := 0
	if kv := v.present(key); kv != nil {
		off = kv.valOff
	}
	v.ps.errAt(off, shown, msg)
}

// checkAddress returns what is wrong with a mail address of the file, or
// "". Package directory normalises it (IDN domains and all).
func checkAddress(a string) string {
	at := strings.LastIndexByte(a, '@')
	switch {
	case strings.TrimSpace(a) != a || strings.ContainsAny(a, " \t\r\n<>(),;:\"[]\\"):
		return fmt.Sprintf("%q is not a mail address (write the bare address, e.g. \"anna@example.com\")", a)
	case at <= 0 || at == len(a)-1 || strings.Contains(a[at+1:], ".."):
		return fmt.Sprintf("%q is not a mail address (write the bare address, e.g. \"anna@example.com\")", a)
	}
	return ""
}

// ldap checks [directory.ldap] and fills in the defaults of its kind.
func (v *validator) ldap() {
	l := &v.cfg.Directory.LDAP
	const p = "directory.ldap"
	key := func(k string) string { return p + "." + k }

	if v.required(key("url"), l.URL) {
		u, err := url.Parse(l.URL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps"):
			v.errf(key("url"), "%q is not an LDAP URL (ldaps://host[:port] or ldap://host[:port])", l.URL)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
			v.errf(key("url"), "%q: give only the scheme, host and port (the base is base_dn)", l.URL)
		default:
			if msg := checkServer(u.Host); msg != "" {
				v.errf(key("url"), "%q: %s", l.URL, msg)
			}
			secKV := v.present(key("security"))
			switch {
			case secKV == nil && u.Scheme == "ldaps":
				l.Security = SecurityTLS
			case secKV == nil:
				l.Security = SecuritySTARTTLS
			case u.Scheme == "ldaps" && l.Security != SecurityTLS:
				v.errf(key("security"), "%q does not go with an ldaps:// URL, which is TLS from the start (remove the key, or use an ldap:// URL)", l.Security)
			case u.Scheme == "ldap" && l.Security == SecurityTLS:
				v.errf(key("security"), "%q needs an ldaps:// URL (or use starttls with ldap://)", l.Security)
			}
		}
	}
	switch {
	case l.TLSCAFile != "":
		path := v.resolve(l.TLSCAFile)
		if _, err := loadCAFile(path, l.TLSCAFile); err != nil {
			v.err(key("tls_ca_file"), err.Error())
		}
		l.TLSCAFile = path
	case v.present(key("tls_ca_file")) != nil:
		v.err(key("tls_ca_file"), "must not be empty")
	}

	if l.BindDN != "" {
		v.secret(p, "bind_password", "bind password", &l.BindPassword, &l.BindPasswordFile, l.BindPasswordEnv)
	} else {
		if v.present(key("bind_dn")) != nil {
			v.err(key("bind_dn"), "must not be empty (remove the key for an anonymous bind)")
		}
		for _, k := range []string{"bind_password", "bind_password_file", "bind_password_env"} {
			if v.present(key(k)) != nil {
				v.err(key(k), "needs bind_dn (without it jarchive binds anonymously)")
			}
		}
	}
	if v.required(key("base_dn"), l.BaseDN) && !strings.Contains(l.BaseDN, "=") {
		v.errf(key("base_dn"), "%q is not a DN (e.g. \"DC=contoso,DC=com\")", l.BaseDN)
	}

	ad := l.Kind == LDAPActiveDirectory
	pick := func(adv, ol string) string {
		if ad {
			return adv
		}
		return ol
	}
	defString := func(k string, dst *string, def string, optional bool) {
		switch {
		case *dst != "":
		case v.present(key(k)) == nil:
			*dst = def
		case !optional:
			v.err(key(k), "must not be empty")
		}
	}
	defString("user_filter", &l.UserFilter, pick("(&(objectClass=user)(!(objectClass=computer)))", "(objectClass=inetOrgPerson)"), false)
	defString("group_filter", &l.GroupFilter, pick("(objectClass=group)", "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"), false)
	defString("name_attribute", &l.NameAttribute, pick("sAMAccountName", "uid"), false)
	defString("principal_attribute", &l.PrincipalAttribute, pick("userPrincipalName", ""), true)
	defString("member_of_attribute", &l.MemberOfAttribute, pick("memberOf", ""), true)
	for _, k := range []string{"user_filter", "group_filter"} {
		f := l.UserFilter
		if k == "group_filter" {
			f = l.GroupFilter
		}
		if msg := checkFilter(f); msg != "" && f != "" {
			v.err(key(k), msg)
		}
	}
	defList := func(k string, dst *[]string, def []string) {
		switch {
		case v.present(key(k)) == nil:
			*dst = def
		case len(*dst) == 0:
			v.err(key(k), "must name at least one attribute")
		}
		for j, a := range *dst {
			if !attrRE.MatchString(a) {
				v.errElem(key(k), j, fmt.Sprintf("%s[%d]", key(k), j), fmt.Sprintf("%q is not an attribute name", a))
			}
		}
	}
	if ad {
		defList("address_attributes", &l.AddressAttributes, []string{"mail", "proxyAddresses"})
		defList("member_attributes", &l.MemberAttributes, []string{"member"})
	} else {
		defList("address_attributes", &l.AddressAttributes, []string{"mail", "mailAlternateAddress"})
		defList("member_attributes", &l.MemberAttributes, []string{"member", "uniqueMember"})
	}
	for _, k := range []string{"name_attribute", "principal_attribute", "member_of_attribute"} {
		a := map[string]string{"name_attribute": l.NameAttribute, "principal_attribute": l.PrincipalAttribute, "member_of_attribute": l.MemberOfAttribute}[k]
		if a != "" && !attrRE.MatchString(a) {
			v.errf(key(k), "%q is not an attribute name", a)
		}
	}
	for _, k := range []string{"auditor_group", "admin_group"} {
		if v.present(key(k)) != nil && strings.TrimSpace(map[string]string{"auditor_group": l.AuditorGroup, "admin_group": l.AdminGroup}[k]) == "" {
			v.err(key(k), "must not be empty")
		}
	}
	if kv := v.present(key("page_size")); kv == nil {
		l.PageSize = DefaultLDAPPageSize
	} else if l.PageSize < 1 || l.PageSize > MaxLDAPPageSize {
		v.errf(key("page_size"), "%d is not between 1 and %d", l.PageSize, MaxLDAPPageSize)
	}
	if kv := v.present(key("timeout")); kv == nil {
		l.Timeout = DefaultLDAPTimeout
	} else if l.Timeout < MinInterval {
		v.errf(key("timeout"), "%q is too short: the minimum is %s", kv.text, MinInterval)
	}
}

// attrRE matches an LDAP attribute description: a name or OID, with
// options.
var attrRE = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$`)

// checkFilter returns what is wrong with the shape of an LDAP filter
// (RFC 4515), or "". The server judges the rest.
func checkFilter(f string) string {
	if !strings.HasPrefix(f, "(") || !strings.HasSuffix(f, ")") {
		return fmt.Sprintf("%q is not an LDAP filter: it must be in parentheses, e.g. \"(objectClass=user)\"", f)
	}
	depth := 0
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 || depth == 0 && i != len(f)-1 {
				return fmt.Sprintf("%q is not an LDAP filter: unbalanced parentheses (write a literal parenthesis as \\28 or \\29)", f)
			}
		}
	}
	if depth != 0 {
		return fmt.Sprintf("%q is not an LDAP filter: unbalanced parentheses (write a literal parenthesis as \\28 or \\29)", f)
	}
	return ""
}

// ldapWarnings are the problems of a usable [directory.ldap].
func (l *LDAP) warnings() []string {
	if !l.Enabled() || l.Security != SecurityNone {
		return nil
	}
	return []string{`directory.ldap: security = "none": the bind password and the directory travel in clear text`}
}

// TLSConfig returns the TLS configuration to reach the LDAP server with
// (security tls and starttls): certificates verified against TLSCAFile if
// set, else the system roots, for the host of URL, with TLS 1.2 at least.
func (l *LDAP) TLSConfig() (*tls.Config, error) {
	u, err := url.Parse(l.URL)
	if err != nil {
		return nil, fmt.Errorf("directory.ldap.url: %w", err)
	}
	host := u.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if l.TLSCAFile != "" {
		pool, err := loadCAFile(l.TLSCAFile, l.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("directory.ldap.tls_ca_file: %w", err)
		}
		c.RootCAs = pool
	}
	return c, nil
}
