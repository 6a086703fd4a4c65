package slapdtest

import (
	"fmt"
	"strings"
)

// Test trees of the Contoso company for Options.LDIF: a few people of the
// shared journal corpus, and bulkUsers more (user0000@contoso.com, ...),
// all of them in an all-staff group.

// ContosoOpenLDAP is an OpenLDAP-shaped tree for the suffix
// dc=contoso,dc=com: inetOrgPerson users with mail and
// mailAlternateAddress, groupOfNames and groupOfUniqueNames groups,
// nested, with a cycle, and bulkUsers users in all-staff.
func ContosoOpenLDAP(bulkUsers int) string {
	var b strings.Builder
	b.WriteString("dn: ou=people,dc=contoso,dc=com\nobjectClass: organizationalUnit\nou: people\n\n")
	b.WriteString("dn: ou=groups,dc=contoso,dc=com\nobjectClass: organizationalUnit\nou: groups\n\n")
	person := func(uid, cn, mail string, alt ...string) {
		fmt.Fprintf(&b, "dn: uid=%s,ou=people,dc=contoso,dc=com\nobjectClass: inetOrgPerson\nobjectClass: mailRecipient\nuid: %s\ncn: %s\nsn: %s\nmail: %s\n", uid, uid, cn, cn, mail)
		for _, a := range alt {
			fmt.Fprintf(&b, "mailAlternateAddress: %s\n", a)
		}
		b.WriteString("\n")
	}
	person("anna", "Anna Berg", "anna.berg@contoso.com", "a.berg@contoso.com", "Anna@Contoso.com")
	person("ivan", "Ivan Petrov", "ivan.petrov@contoso.com")
	person("julia", "Julia Weiss", "julia.weiss@contoso.com")
	person("ben", "Ben Okafor", "ben.okafor@contoso.com")
	for i := range bulkUsers {
		person(fmt.Sprintf("user%04d", i), fmt.Sprintf("User %d", i), fmt.Sprintf("user%04d@contoso.com", i))
	}
	b.WriteString("dn: cn=sales-team,ou=groups,dc=contoso,dc=com\nobjectClass: groupOfNames\nobjectClass: mailRecipient\ncn: sales-team\nmail: sales-team@contoso.com\n" +
		"member: uid=anna,ou=people,dc=contoso,dc=com\nmember: UID=Ivan, OU=People, DC=Contoso, DC=Com\nmember: cn=emea,ou=groups,dc=contoso,dc=com\n" +
		"member: cn=printer,ou=devices,dc=contoso,dc=com\n\n")
	b.WriteString("dn: cn=emea,ou=groups,dc=contoso,dc=com\nobjectClass: groupOfUniqueNames\ncn: emea\n" +
		"uniqueMember: uid=julia,ou=people,dc=contoso,dc=com#'0101'B\nuniqueMember: cn=sales-team,ou=groups,dc=contoso,dc=com\n\n")
	b.WriteString("dn: cn=all-staff,ou=groups,dc=contoso,dc=com\nobjectClass: groupOfNames\nobjectClass: mailRecipient\ncn: all-staff\nmail: all-staff@contoso.com\n")
	for i := range bulkUsers {
		fmt.Fprintf(&b, "member: uid=user%04d,ou=people,dc=contoso,dc=com\n", i)
	}
	b.WriteString("\n")
	return b.String()
}

// ContosoAD is an Active-Directory-shaped tree for the suffix
// dc=contoso,dc=com (with Options.ActiveDirectory): users with
// sAMAccountName, userPrincipalName, mail and proxyAddresses (SMTP:,
// smtp:, X500:), memberOf kept on the member as a domain controller does;
// groups with member and proxyAddresses, nested; a disabled shared
// mailbox user; a computer; the Archive Auditors group; and bulkUsers
// users in All Staff.
func ContosoAD(bulkUsers int) string {
	var b strings.Builder
	b.WriteString("dn: ou=Users,dc=contoso,dc=com\nobjectClass: organizationalUnit\nou: Users\n\n")
	b.WriteString("dn: ou=Groups,dc=contoso,dc=com\nobjectClass: organizationalUnit\nou: Groups\n\n")
	const common = "instanceType: 4\nnTSecurityDescriptor:: AQAEgA==\n"
	user := func(cn, sam, mail string, proxies []string, memberOf ...string) {
		fmt.Fprintf(&b, "dn: CN=%s,OU=Users,DC=contoso,DC=com\nobjectClass: user\nobjectClass: securityPrincipal\ncn: %s\nsn: %s\n%sobjectCategory: CN=Person,CN=Schema,CN=Configuration,DC=contoso,DC=com\n"+
			"sAMAccountName: %s\nuserPrincipalName: %s@contoso.com\n", cn, cn, cn, common, sam, sam)
		if mail != "" {
			fmt.Fprintf(&b, "mail: %s\n", mail)
		}
		for _, p := range proxies {
			fmt.Fprintf(&b, "proxyAddresses: %s\n", p)
		}
		for _, g := range memberOf {
			fmt.Fprintf(&b, "memberOf: CN=%s,OU=Groups,DC=contoso,DC=com\n", g)
		}
		b.WriteString("\n")
	}
	group := func(cn, sam, mail string, members []string, memberOf ...string) {
		fmt.Fprintf(&b, "dn: CN=%s,OU=Groups,DC=contoso,DC=com\nobjectClass: group\nobjectClass: securityPrincipal\ncn: %s\ngroupType: -2147483646\n%sobjectCategory: CN=Group,CN=Schema,CN=Configuration,DC=contoso,DC=com\nsAMAccountName: %s\n", cn, cn, common, sam)
		if mail != "" {
			fmt.Fprintf(&b, "mail: %s\nproxyAddresses: SMTP:%s\n", mail, mail)
		}
		for _, m := range members {
			fmt.Fprintf(&b, "member: %s\n", m)
		}
		for _, g := range memberOf {
			fmt.Fprintf(&b, "memberOf: CN=%s,OU=Groups,DC=contoso,DC=com\n", g)
		}
		b.WriteString("\n")
	}
	u := func(cn string) string { return "CN=" + cn + ",OU=Users,DC=contoso,DC=com" }
	g := func(cn string) string { return "CN=" + cn + ",OU=Groups,DC=contoso,DC=com" }
	user("Anna Berg", "anna", "anna.berg@contoso.com", []string{"SMTP:anna.berg@contoso.com", "smtp:a.berg@contoso.com", "X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=anna", "SIP:anna.berg@contoso.com"}, "Sales Team")
	user("Ivan Petrov", "ivan", "ivan.petrov@contoso.com", []string{"SMTP:ivan.petrov@contoso.com"}, "Sales Team")
	user("Julia Weiss", "julia", "", []string{"smtp:jw@contoso.com", "SMTP:julia.weiss@contoso.com"}, "EMEA")
	user("Hugo Brandt", "hugo", "hugo.brandt@contoso.com", nil, "Sales Team") // only memberOf says so
	user("Kim Akers", "kim", "kim.akers@contoso.com", nil, "Archive Auditors")
	user("Ben Okafor", "ben", "ben.okafor@contoso.com", []string{"SMTP:ben.okafor@contoso.com"})
	user("Info", "info", "info@contoso.com", []string{"SMTP:info@contoso.com"}) // a shared mailbox: a disabled user in AD
	for i := range bulkUsers {
		user(fmt.Sprintf("User %04d", i), fmt.Sprintf("user%04d", i), fmt.Sprintf("user%04d@contoso.com", i), nil, "All Staff")
	}
	fmt.Fprintf(&b, "dn: CN=PC1,OU=Users,DC=contoso,DC=com\nobjectClass: computer\nobjectClass: securityPrincipal\ncn: PC1\nsn: PC1\n%sobjectCategory: CN=Computer,CN=Schema,CN=Configuration,DC=contoso,DC=com\nsAMAccountName: PC1$\nmail: pc1@contoso.com\n\n", common)
	group("Sales Team", "sales-team", "sales-team@contoso.com", []string{u("Anna Berg"), u("Ivan Petrov"), g("EMEA"), "CN=External Contact,OU=Contacts,DC=contoso,DC=com"}, "EMEA")
	group("EMEA", "emea", "", []string{u("Julia Weiss"), g("Sales Team")}, "Sales Team")
	group("Archive Auditors", "archive-auditors", "", []string{u("Kim Akers")})
	var staff []string
	for i := range bulkUsers {
		staff = append(staff, u(fmt.Sprintf("User %04d", i)))
	}
	group("All Staff", "all-staff", "all-staff@contoso.com", staff)
	return b.String()
}
