package config

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDirectoryTOML(t *testing.T) {
	doc := `
[archive]
dir = "/a"

[directory]
plus_addressing = false

[[users]]
name = "anna"
addresses = ["anna.berg@contoso.com", "a.berg@contoso.com"]

[[users]]
name = "kim@contoso.com"
role = "Auditor"

[[groups]]
name = "sales"
address = "sales@contoso.com"
members = ["anna", "emea"]

[[groups]]
name = "emea"
members = ["sales"]

[[shared_mailboxes]]
address = "info@contoso.com"
members = ["sales", "KIM@contoso.com"]
`
	cfg, err := Parse("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Directory{SyncInterval: DefaultSyncInterval}
	if !reflect.DeepEqual(cfg.Directory, want) {
		t.Errorf("directory %+v; want %+v", cfg.Directory, want)
	}
	if len(cfg.Users) != 2 || cfg.Users[1].Role != RoleAuditor || cfg.Users[0].Role != RoleUser || !cfg.Users[1].Role.SeesAll() || cfg.Users[0].Role.SeesAll() ||
		!reflect.DeepEqual(cfg.Users[0].Addresses, []string{"anna.berg@contoso.com", "a.berg@contoso.com"}) {
		t.Errorf("users %+v", cfg.Users)
	}
	if len(cfg.Groups) != 2 || cfg.Groups[0].Address != "sales@contoso.com" || len(cfg.Groups[1].Members) != 1 {
		t.Errorf("groups %+v", cfg.Groups)
	}
	if len(cfg.SharedMailboxes) != 1 || cfg.SharedMailboxes[0].Members[1] != "KIM@contoso.com" {
		t.Errorf("shared mailboxes %+v", cfg.SharedMailboxes)
	}
}

func TestDirectoryLDAP(t *testing.T) {
	t.Setenv("JARCHIVE_TEST_BIND", "bind secret")
	head := "[archive]\ndir = \"/a\"\n[directory]\nsync_interval = \"15m\"\n[directory.ldap]\n"
	cfg, err := Parse("x.toml", []byte(head+`url = "ldaps://dc1.contoso.com"
bind_dn = "CN=svc-jarchive,OU=Service,DC=contoso,DC=com"
bind_password_env = "JARCHIVE_TEST_BIND"
base_dn = "DC=contoso,DC=com"
auditor_group = "Archive Auditors"
tls_ca_file = "testdata/ca.pem"

[[users]]
name = "external-auditor"
addresses = ["auditor@example.org"]
role = "auditor"

[[shared_mailboxes]]
address = "info@contoso.com"
members = ["anna"]
`))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Directory.LDAP
	if !l.Enabled() || l.Security != SecurityTLS || l.BindPassword.Reveal() != "bind secret" || l.Kind != LDAPActiveDirectory ||
		l.UserFilter != "(&(objectClass=user)(!(objectClass=computer)))" || l.GroupFilter != "(objectClass=group)" ||
		l.NameAttribute != "sAMAccountName" || l.PrincipalAttribute != "userPrincipalName" || l.MemberOfAttribute != "memberOf" ||
		!reflect.DeepEqual(l.AddressAttributes, []string{"mail", "proxyAddresses"}) || !reflect.DeepEqual(l.MemberAttributes, []string{"member"}) ||
		l.NestedGroups != NestedAuto || l.PageSize != 500 || l.Timeout != Duration(30*time.Second) || l.AuditorGroup != "Archive Auditors" ||
		cfg.Directory.SyncInterval != Duration(15*time.Minute) || !cfg.Directory.PlusAddressing || !strings.HasSuffix(l.TLSCAFile, "/testdata/ca.pem") {
		t.Errorf("active directory: %+v", l)
	}
	tc, err := l.TLSConfig()
	if err != nil || tc.ServerName != "dc1.contoso.com" || tc.RootCAs == nil || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLS config %+v, %v", tc, err)
	}
	// The bind password is a Secret: printing the configuration hides it.
	if s := fmt.Sprintf("%+v %v", cfg, l); strings.Contains(s, "bind secret") {
		t.Errorf("bind password printed: %s", s)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}

	cfg, err = Parse("x.toml", []byte(head+`url = "ldap://ldap.example.org:3389"
base_dn = "dc=example,dc=org"
kind = "openldap"
page_size = 1000
member_of_attribute = "memberOf"
`))
	if err != nil {
		t.Fatal(err)
	}
	l = cfg.Directory.LDAP
	if l.Security != SecuritySTARTTLS || l.BindDN != "" || l.UserFilter != "(objectClass=inetOrgPerson)" ||
		l.GroupFilter != "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))" || l.NameAttribute != "uid" ||
		l.PrincipalAttribute != "" || l.MemberOfAttribute != "memberOf" || l.PageSize != 1000 ||
		!reflect.DeepEqual(l.AddressAttributes, []string{"mail", "mailAlternateAddress"}) ||
		!reflect.DeepEqual(l.MemberAttributes, []string{"member", "uniqueMember"}) {
		t.Errorf("openldap: %+v", l)
	}

	cfg, err = Parse("x.toml", []byte(head+"url = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=x\"\nsecurity = \"none\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "clear text") {
		t.Errorf("warnings %q", w)
	}
}

// TestDirectoryErrors covers the directory errors that read better inline.
func TestDirectoryErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[directory.ldap]\nbase_dn = \"dc=x\"\n"
	for _, tc := range []struct{ doc, want string }{
		{head + "url = \"ldaps://h\"\nsecurity = \"starttls\"\n", `x.toml:6:12: directory.ldap.security: "starttls" does not go with an ldaps:// URL, which is TLS from the start (remove the key, or use an ldap:// URL)`},
		{head + "url = \"ldap://h\"\nsecurity = \"tls\"\n", `x.toml:6:12: directory.ldap.security: "tls" needs an ldaps:// URL (or use starttls with ldap://)`},
		{head + "url = \"ldap://h:0\"\n", `x.toml:5:7: directory.ldap.url: "ldap://h:0": "h:0": port "0" is not a number from 1 to 65535`},
		{head + "url = \"ldap://h\"\nbind_dn = \"\"\n", `x.toml:6:11: directory.ldap.bind_dn: must not be empty (remove the key for an anonymous bind)`},
		{head + "url = \"ldap://h\"\nbind_dn = \"cn=a\"\nbind_password = \"p\"\nbind_password_file = \"f\"\n", `x.toml:8:22: directory.ldap.bind_password_file: only one of bind_password, bind_password_file and bind_password_env may be set (bind_password is set on line 7)`},
		{head + "url = \"ldap://h\"\nmember_attributes = []\n", `x.toml:6:21: directory.ldap.member_attributes: must name at least one attribute`},
		{head + "url = \"ldap://h\"\nname_attribute = \"\"\n", `x.toml:6:18: directory.ldap.name_attribute: must not be empty`},
		{head + "url = \"ldap://h\"\nauditor_group = \" \"\n", `x.toml:6:17: directory.ldap.auditor_group: must not be empty`},
		{head + "url = \"ldap://h\"\ntimeout = \"0s\"\n", `x.toml:6:11: directory.ldap.timeout: "0s" is too short: the minimum is 1s`},
		{head + "url = \"ldap://h\"\nuser_filter = \"(a=b))(c=d)\"\n", `x.toml:6:15: directory.ldap.user_filter: "(a=b))(c=d)" is not an LDAP filter: unbalanced parentheses (write a literal parenthesis as \28 or \29)`},
		{head + "url = \"ldap://h\"\nbogus = 1\n", `x.toml:6:1: directory.ldap.bogus: unknown key`},
		{"[archive]\ndir = \"/a\"\n[directory]\nldap = 5\n", `x.toml:4:8: directory.ldap: expected a table, got an integer`},
		{"[archive]\ndir = \"/a\"\n[directory.ldap]\n", strings.Join([]string{
			`x.toml:3:1: directory.ldap.url: required key is missing`,
			`x.toml:3:1: directory.ldap.base_dn: required key is missing`,
		}, "\n")},
		{"[archive]\ndir = \"/a\"\n[[users]]\nname = \"a\"\naddresses = [\"a@x\", \"A@X\"]\n[[groups]]\nname = \"g\"\naddress = \"\"\n", strings.Join([]string{
			`x.toml:5:21: users[0].addresses[1]: duplicate address "A@X"`,
			`x.toml:8:11: groups[0].address: must not be empty (remove the key for a group without an address)`,
		}, "\n")},
		{"[archive]\ndir = \"/a\"\n[[users]]\nname = \"a\"\nrole = \"root\"\n", `x.toml:5:8: users[0].role: "root" is not one of user, auditor, admin`},
		{"[archive]\ndir = \"/a\"\n[[users]]\nname = \"a\"\naddresses = \"a@x\"\n", `x.toml:5:13: users[0].addresses: expected an array, got a string`},
		{"[archive]\ndir = \"/a\"\n[[user]]\nname = \"a\"\n", `x.toml:3:1: user: unknown table; did you mean "users"?`},
	} {
		_, err := Parse("x.toml", []byte(tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}

// TestSampleDirectory: the README's sample sets the directory defaults.
func TestSampleDirectory(t *testing.T) {
	t.Setenv("JARCHIVE_M365_CLIENT_SECRET", "sample secret")
	cfg, err := Load("testdata/sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Directory; d.SyncInterval != DefaultSyncInterval || !d.PlusAddressing || d.LDAP.Enabled() || len(cfg.Users) != 0 {
		t.Errorf("directory %+v, users %+v", d, cfg.Users)
	}
}
