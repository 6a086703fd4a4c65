package directory

import (
	"context"
	"errors"
	"testing"

	"jarchive/directory/slapdtest"
)

func TestAuthenticate(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: `
dn: ou=people,dc=contoso,dc=com
objectClass: organizationalUnit
ou: people

dn: uid=anna,ou=people,dc=contoso,dc=com
objectClass: inetOrgPerson
uid: anna
cn: Anna Berg
sn: Berg
mail: anna.berg@contoso.com
userPassword: anna-secret
`})
	cfg := ldapConfig(t, srv, "")
	ctx := context.Background()
	const dn = "uid=anna,ou=people,dc=contoso,dc=com"
	for _, tc := range []struct {
		dn, password string
		want         error
	}{
		{dn, "anna-secret", nil},
		{dn, "wrong", ErrBadCredentials},
		{dn, "", ErrBadCredentials}, // an unauthenticated bind would succeed
		{"uid=nobody,ou=people,dc=contoso,dc=com", "anna-secret", ErrBadCredentials},
		{"", "anna-secret", ErrBadCredentials},
	} {
		if err := Authenticate(ctx, &cfg.Directory.LDAP, tc.dn, tc.password); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Authenticate(%q, %q) = %v; want %v", tc.dn, tc.password, err, tc.want)
		}
	}
	// An unreachable directory is an error, not bad credentials.
	bad := cfg.Directory.LDAP
	bad.URL = "ldap://127.0.0.1:1"
	if err := Authenticate(ctx, &bad, dn, "anna-secret"); err == nil || errors.Is(err, ErrBadCredentials) {
		t.Errorf("Authenticate with the server down = %v; want a connection error", err)
	}
}
