package directory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"jarchive/config"
	"jarchive/directory/slapdtest"
)

// bulkUsers is the number of extra users of the test trees: more than
// the 1,000 entries a search returns without paging.
const bulkUsers = 1200

// ldapConfig parses a configuration with the server's [directory.ldap]
// and extra keys of that table.
func ldapConfig(t *testing.T, srv *slapdtest.Server, extra string) *config.Config {
	t.Helper()
	return parseConfig(t, "[archive]\ndir = \"/a\"\n"+srv.TOML()+extra)
}

func TestReadOpenLDAP(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.ContosoOpenLDAP(bulkUsers)})
	cfg := ldapConfig(t, srv, "")
	snap, stats, err := ReadLDAP(context.Background(), &cfg.Directory.LDAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d users and %d groups in %d pages in %s", stats.Users, stats.Groups, stats.Pages, stats.Took)
	if stats.Users != bulkUsers+4 || stats.Groups != 3 || stats.Pages < 4 || stats.Unknown != 1 || stats.Nested != "recursive" {
		t.Errorf("stats %+v", stats)
	}
	d := Build(cfg, snap)
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
	anna, _ := d.Lookup("Anna@contoso.com")
	if want := []string{"anna.berg@contoso.com", "a.berg@contoso.com", "anna@contoso.com"}; anna.Name != "anna" || !reflect.DeepEqual(anna.Addresses, want) || anna.DN != "uid=anna,ou=people,dc=contoso,dc=com" {
		t.Errorf("anna: %+v", anna)
	}
	if got := d.OwnersOf("sales-team@contoso.com"); !reflect.DeepEqual(got, []string{"anna", "ivan", "julia"}) {
		t.Errorf("sales-team (nested, a cycle, a uniqueMember with a UID): %q", got)
	}
	if got := d.OwnersOf("all-staff@contoso.com"); len(got) != bulkUsers || got[0] != "user0000" {
		t.Errorf("all-staff: %d owners", len(got))
	}

	// Without paging the service account gets at most 1,000 entries.
	conn, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(srv.BindDN, srv.BindPW); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Search(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"uid"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Errorf("unpaged search: %v; want size limit exceeded", err)
	}
}

func TestReadActiveDirectory(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{ActiveDirectory: true, LDIF: slapdtest.ContosoAD(bulkUsers)})
	// slapd does not know LDAP_MATCHING_RULE_IN_CHAIN: forced, it falls
	// back to the member lists.
	cfg := ldapConfig(t, srv, "auditor_group = \"CN=Archive Auditors,OU=Groups,DC=contoso,DC=com\"\nadmin_group = \"nonexistent\"\nnested_groups = \"in-chain\"\npage_size = 1000\n")
	start := time.Now()
	snap, stats, err := ReadLDAP(context.Background(), &cfg.Directory.LDAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d users and %d groups in %d pages in %s", stats.Users, stats.Groups, stats.Pages, time.Since(start))
	if stats.Users != bulkUsers+7 || stats.Groups != 4 || stats.Unknown != 1 || stats.Nested != "recursive" {
		t.Errorf("stats %+v", stats)
	}
	d := Build(cfg, snap)
	for _, tc := range []struct {
		lookup, name string
		addrs        []string
		role         config.Role
	}{
		{"anna@contoso.com", "anna", []string{"anna.berg@contoso.com", "a.berg@contoso.com"}, config.RoleUser},
		{"JW@contoso.com", "julia", []string{"julia.weiss@contoso.com", "jw@contoso.com"}, config.RoleUser},
		{"kim", "kim", []string{"kim.akers@contoso.com"}, config.RoleAuditor},
		{"info@contoso.com", "info", []string{"info@contoso.com"}, config.RoleUser},
	} {
		u, ok := d.Lookup(tc.lookup)
		if !ok || u.Name != tc.name || !reflect.DeepEqual(u.Addresses, tc.addrs) || u.Role != tc.role {
			t.Errorf("Lookup(%q) = %+v, %v; want %s %q %s", tc.lookup, u, ok, tc.name, tc.addrs, tc.role)
		}
	}
	if _, ok := d.Lookup("PC1$"); ok {
		t.Error("a computer is a user")
	}
	if got := d.OwnersOf("sales-team@contoso.com"); !reflect.DeepEqual(got, []string{"anna", "hugo", "ivan", "julia"}) {
		t.Errorf("sales-team: %q", got)
	}
	if got := d.OwnersOf("all-staff@contoso.com"); len(got) != bulkUsers {
		t.Errorf("all-staff: %d owners", len(got))
	}
}

func TestReadLDAPTLS(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.ContosoOpenLDAP(bulkUsers)})
	ctx := context.Background()

	// StartTLS on the ldap:// port.
	cfg := ldapConfig(t, srv, "")
	cfg.Directory.LDAP.URL, cfg.Directory.LDAP.Security = srv.URL, config.SecuritySTARTTLS
	if _, _, err := ReadLDAP(ctx, &cfg.Directory.LDAP, nil); err != nil {
		t.Errorf("StartTLS: %v", err)
	}
	// The certificate is verified: without the test CA it is refused.
	cfg = ldapConfig(t, srv, "")
	cfg.Directory.LDAP.TLSCAFile = ""
	if _, _, err := ReadLDAP(ctx, &cfg.Directory.LDAP, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
	cfg.Directory.LDAP.URL, cfg.Directory.LDAP.Security = srv.URL, config.SecuritySTARTTLS
	if _, _, err := ReadLDAP(ctx, &cfg.Directory.LDAP, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("StartTLS, unknown CA: %v", err)
	}
	// A wrong password, a filter that finds no one, a closed context.
	cfg = ldapConfig(t, srv, "")
	cfg.Directory.LDAP.BindPassword = config.NewSecret("wrong")
	if _, _, err := ReadLDAP(ctx, &cfg.Directory.LDAP, nil); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	cfg = ldapConfig(t, srv, "user_filter = \"(uid=nobody)\"\n")
	if _, _, err := ReadLDAP(ctx, &cfg.Directory.LDAP, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("no users: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := ReadLDAP(cctx, &ldapConfig(t, srv, "").Directory.LDAP, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("closed context: %v", err)
	}
}

// TestSyncDirectoryDown: a directory that cannot be reached keeps the last
// good snapshot in force, also after a restart; once back, a change shows.
func TestSyncDirectoryDown(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{ActiveDirectory: true, LDIF: slapdtest.ContosoAD(bulkUsers)})
	cfg := ldapConfig(t, srv, "timeout = \"2s\"\n")
	path := filepath.Join(t.TempDir(), StateFile)
	ctx := context.Background()

	s := Open(cfg, path, nil)
	if n := len(s.Directory().Users()); n != 0 {
		t.Fatalf("%d users before the first sync", n)
	}
	if !s.NeedsReassign() || s.Applied() != nil {
		t.Error("nothing applied yet, but no reassignment needed")
	}
	res, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := s.Directory()
	if !res.Read || res.Stats.Users != bulkUsers+7 || len(res.Changes) == 0 || len(good.Users()) != bulkUsers+7 {
		t.Fatalf("sync: %+v; %d users", res, len(good.Users()))
	}
	if err := s.MarkApplied(good); err != nil {
		t.Fatal(err)
	}
	if s.NeedsReassign() {
		t.Error("needs a reassignment right after MarkApplied")
	}

	srv.Stop(t)
	if _, err := s.Sync(ctx); err == nil {
		t.Fatal("sync with the directory down succeeded")
	}
	if s.Directory() != good || s.NeedsReassign() {
		t.Error("a failed sync changed the directory in force")
	}
	st := s.Status()
	if st.Source != "ldap" || st.LastErr == nil || st.Synced.IsZero() || st.Pending || st.Users != bulkUsers+7 {
		t.Errorf("status %+v", st)
	}
	// A restart while the directory is down starts with the snapshot.
	s2 := Open(cfg, path, nil)
	if s2.Directory().Digest() != good.Digest() || s2.NeedsReassign() {
		t.Error("the persisted snapshot is not in force after a restart")
	}

	srv.Restart(t)
	srv.Modify(t, `dn: CN=Sales Team,OU=Groups,DC=contoso,DC=com
changetype: modify
delete: member
member: CN=Ivan Petrov,OU=Users,DC=contoso,DC=com
-
add: member
member: CN=Ben Okafor,OU=Users,DC=contoso,DC=com

dn: CN=Ivan Petrov,OU=Users,DC=contoso,DC=com
changetype: modify
delete: memberOf
`)
	res, err = s2.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"~ group sales-team: +ben, -ivan", "owners changed for 1 address"}; !reflect.DeepEqual(res.Changes, want) {
		t.Errorf("changes %q; want %q", res.Changes, want)
	}
	if !s2.NeedsReassign() {
		t.Error("a changed group needs no reassignment")
	}
	if got := s2.Directory().OwnersOf("sales-team@contoso.com"); !reflect.DeepEqual(got, []string{"anna", "ben", "hugo", "julia"}) {
		t.Errorf("sales-team after the change: %q", got)
	}
	if diff := Diff(s2.Applied(), s2.Directory()); !slices.Equal(diff, res.Changes) {
		t.Errorf("Diff(applied, current) = %q", diff)
	}

	// A corrupt state file is ignored (and logged).
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s3 := Open(cfg, path, nil); len(s3.Directory().Users()) != 0 {
		t.Error("users from a corrupt state file")
	}
}
