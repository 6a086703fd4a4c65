package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"jarchive/config"
)

// ErrBadCredentials is the error of Authenticate for a wrong password or
// an unknown DN.
var ErrBadCredentials = errors.New("invalid credentials")

// Authenticate checks a user's password against [directory.ldap] (the web
// interface's login): on a connection of its own (TLS as configured,
// certificate verified) it binds as the service account, if one is
// configured, then as dn, the user's entry (User.DN) with password. An
// empty password is refused before anything is sent: LDAP treats a bind
// with a DN and no password as an anonymous bind that succeeds (RFC 4513
// section 5.1.2). A wrong password or DN is ErrBadCredentials; other
// errors are the directory's (unreachable, TLS).
func Authenticate(ctx context.Context, cfg *config.LDAP, dn, password string) error {
	if dn == "" || password == "" {
		return ErrBadCredentials
	}
	r := &ldapReader{cfg: cfg}
	if err := r.connect(ctx); err != nil {
		return err
	}
	defer r.conn.Close()
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	err := r.conn.Bind(dn, password)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("ldap %s: %w", cfg.URL, ctx.Err())
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials), ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidDNSyntax),
		ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject), ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform):
		return ErrBadCredentials
	}
	return fmt.Errorf("ldap %s: bind as %q: %w", cfg.URL, dn, err)
}
