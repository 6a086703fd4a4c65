package config

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// badFiles maps every testdata/bad-*.toml to the exact error text Load
// gives for it. The environment is set up by setBadEnv.
var badFiles = map[string]string{
	"bad-syntax.toml": `
testdata/bad-syntax.toml:6:32: accounts[0].server: syntax error: basic strings cannot have new lines`,
	"bad-syntax-header.toml": `
testdata/bad-syntax-header.toml:4:11: accounts: syntax error: expected ']]' to close array table name`,
	"bad-unknown-top.toml": `
testdata/bad-unknown-top.toml:2:1: dir: unknown key (it belongs in [archive])`,
	"bad-unknown-account.toml": `
testdata/bad-unknown-account.toml:9:1: accounts[0].passwd_file: unknown key; did you mean "password_file"?`,
	"bad-unknown-table.toml": `
testdata/bad-unknown-table.toml:4:1: archive.options: unknown table`,
	"bad-case.toml": `
testdata/bad-case.toml:9:1: accounts[0].Security: unknown key; did you mean "security"? (keys are case-sensitive)`,
	"bad-security.toml": `
testdata/bad-security.toml:9:12: accounts[0].security: "startls" is not one of starttls, tls, none`,
	"bad-protocol.toml": `
testdata/bad-protocol.toml:9:12: accounts[0].protocol: "imaps" is not one of imap, pop3, imap-oauth2, pop3-oauth2`,
	"bad-envelope.toml": `
testdata/bad-envelope.toml:9:12: accounts[0].envelope: "x-envelope" is not one of journal, off, x-envelope-to, x-original-to, delivered-to, header:NAME`,
	"bad-envelope-header.toml": `
testdata/bad-envelope-header.toml:9:12: accounts[0].envelope: "header:" needs a header name, e.g. "header:X-Envelope-To"
testdata/bad-envelope-header.toml:16:12: accounts[1].envelope: "header:X Rcpt": "X Rcpt" is not a valid header field name`,
	"bad-size.toml": `
testdata/bad-size.toml:9:20: accounts[0].max_message_size: "50 MiB/s" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)
testdata/bad-size.toml:16:20: accounts[1].max_message_size: 0: size must be greater than 0`,
	"bad-time-zone.toml": `
testdata/bad-time-zone.toml:3:13: archive.time_zone: "Europe/Berln" is not a time zone (an IANA name such as "Europe/Berlin", "UTC" or "Local")`,
	"bad-interval.toml": `
testdata/bad-interval.toml:9:12: accounts[0].interval: "1 minute" is not a duration (write e.g. "30s", "1m", "1h30m")
testdata/bad-interval.toml:16:12: accounts[1].interval: "500ms" is too short: the minimum is 1s
testdata/bad-interval.toml:23:12: accounts[2].interval: expected a duration such as "1m", got an integer`,
	"bad-types.toml": `
testdata/bad-types.toml:9:14: accounts[0].keep_mails: expected true or false, got a string
testdata/bad-types.toml:10:12: accounts[0].security: expected a string, got an integer
testdata/bad-types.toml:11:11: accounts[0].mailbox: expected a string, got an array`,
	"bad-missing-archive.toml": `
testdata/bad-missing-archive.toml:1:1: archive.dir: required key is missing (add an [archive] table with dir = "/path/to/archive")`,
	"bad-missing-dir.toml": `
testdata/bad-missing-dir.toml:1:1: archive.dir: required key is missing`,
	"bad-missing-keys.toml": `
testdata/bad-missing-keys.toml:4:1: accounts[0].name: required key is missing
testdata/bad-missing-keys.toml:4:1: accounts[0].server: required key is missing
testdata/bad-missing-keys.toml:4:1: accounts[0].username: required key is missing
testdata/bad-missing-keys.toml:9:8: accounts[1].name: must not be empty
testdata/bad-missing-keys.toml:10:10: accounts[1].server: must not be empty
testdata/bad-missing-keys.toml:11:12: accounts[1].username: must not be empty
testdata/bad-missing-keys.toml:12:12: accounts[1].password: must not be empty`,
	"bad-name.toml": `
testdata/bad-name.toml:5:8: accounts[0].name: "journal box" is not a valid account name: use letters, digits, '.', '_' and '-'`,
	"bad-duplicate-name.toml": `
testdata/bad-duplicate-name.toml:11:8: accounts[1].name: duplicate account name "journal" (also used by accounts[0])`,
	"bad-duplicate-key.toml": `
testdata/bad-duplicate-key.toml:9:1: accounts[0].server: duplicate key (first set on line 6)`,
	"bad-table-redefined.toml": `
testdata/bad-table-redefined.toml:10:1: archive: table defined twice (first on line 1)`,
	"bad-server.toml": `
testdata/bad-server.toml:6:10: accounts[0].server: "outlook.office365.com:99999": port "99999" is not a number from 1 to 65535
testdata/bad-server.toml:12:10: accounts[1].server: "mail server" is not host or host:port`,
	"bad-no-password.toml": `
testdata/bad-no-password.toml:4:1: accounts[0].password: required key is missing (set one of password, password_file or password_env)`,
	"bad-two-passwords.toml": `
testdata/bad-two-passwords.toml:9:17: accounts[0].password_file: only one of password, password_file and password_env may be set (password is set on line 8)
testdata/bad-two-passwords.toml:10:16: accounts[0].password_env: only one of password, password_file and password_env may be set (password is set on line 8)`,
	"bad-password-env-unset.toml": `
testdata/bad-password-env-unset.toml:8:16: accounts[0].password_env: environment variable JARCHIVE_TEST_UNSET is not set
testdata/bad-password-env-unset.toml:14:16: accounts[1].password_env: environment variable JARCHIVE_TEST_EMPTY is empty`,
	"bad-password-file-missing.toml": `
testdata/bad-password-file-missing.toml:8:17: accounts[0].password_file: cannot read password file "does-not-exist.txt": no such file or directory`,
	"bad-tls-ca.toml": `
testdata/bad-tls-ca.toml:9:15: accounts[0].tls_ca_file: CA file "not-a-cert.pem" contains no PEM certificate
testdata/bad-tls-ca.toml:16:15: accounts[1].tls_ca_file: cannot read CA file "missing-ca.pem": no such file or directory`,
	"bad-pop3.toml": `
testdata/bad-pop3.toml:10:11: accounts[0].mailbox: not used with protocol pop3: POP3 has only the one maildrop
testdata/bad-pop3.toml:11:8: accounts[0].idle: needs IMAP: protocol pop3 cannot announce new mail (use imap or imap-oauth2, or a shorter interval)
testdata/bad-pop3.toml:20:8: accounts[1].idle: needs IMAP: protocol pop3-oauth2 cannot announce new mail (use imap or imap-oauth2, or a shorter interval)`,
	"bad-oauth2.toml": `
testdata/bad-oauth2.toml:4:1: accounts[0].tenant_id: required key is missing (the Directory (tenant) ID of the app registration; or set token_url)
testdata/bad-oauth2.toml:4:1: accounts[0].client_id: required key is missing
testdata/bad-oauth2.toml:4:1: accounts[0].client_secret: required key is missing (set one of client_secret, client_secret_file or client_secret_env)
testdata/bad-oauth2.toml:8:12: accounts[0].password: not used with protocol imap-oauth2, which logs in with client_id and client_secret
testdata/bad-oauth2.toml:14:13: accounts[1].tenant_id: "contoso tenant" is not a tenant ID (the Directory (tenant) ID, a GUID) or domain
testdata/bad-oauth2.toml:15:13: accounts[1].client_id: must not be empty
testdata/bad-oauth2.toml:17:21: accounts[1].client_secret_env: only one of client_secret, client_secret_file and client_secret_env may be set (client_secret is set on line 16)
testdata/bad-oauth2.toml:18:13: accounts[1].token_url: "http://login.example.com/token": the client secret would cross the network in clear text; use https (http is allowed only to a loopback address)
testdata/bad-oauth2.toml:19:9: accounts[1].scope: must not be empty
testdata/bad-oauth2.toml:25:13: accounts[2].token_url: "ftp://127.0.0.1/token" is not an https URL
testdata/bad-oauth2.toml:27:22: accounts[2].client_secret_file: cannot read client secret file "does-not-exist.txt": no such file or directory
testdata/bad-oauth2.toml:35:21: accounts[3].client_secret_env: environment variable JARCHIVE_TEST_UNSET is not set
testdata/bad-oauth2.toml:42:13: accounts[4].tenant_id: only used with protocol imap-oauth2 or pop3-oauth2 (protocol is imap)
testdata/bad-oauth2.toml:43:17: accounts[4].client_secret: only used with protocol imap-oauth2 or pop3-oauth2 (protocol is imap)`,
	"bad-users.toml": `
testdata/bad-users.toml:6:39: users[0].addresses[1]: "Anna Berg <anna@contoso.com>" is not a mail address (write the bare address, e.g. "anna@example.com")
testdata/bad-users.toml:7:8: users[0].role: "auditr" is not one of user, auditor, admin
testdata/bad-users.toml:10:8: users[1].name: duplicate name "Anna" (also used by users[0]; names of users and groups are one namespace, without regard to case)
testdata/bad-users.toml:11:14: users[1].addresses[0]: address "ANNA.BERG@contoso.com" also belongs to users[0] (for an address of several users, add a [[shared_mailboxes]] entry)
testdata/bad-users.toml:13:1: users[2].name: required key is missing
testdata/bad-users.toml:17:8: users[3].name: "chloe martin" is not a valid name: use letters, digits and . _ - @ + ' (starting with a letter or digit)
testdata/bad-users.toml:18:14: users[3].addresses[0]: "chloe@" is not a mail address (write the bare address, e.g. "anna@example.com")
testdata/bad-users.toml:22:11: groups[0].address: address "ben@contoso.com" also belongs to users[2] (for an address of several users, add a [[shared_mailboxes]] entry)
testdata/bad-users.toml:23:20: groups[0].members[1]: "nobody" is not the name of a user or group
testdata/bad-users.toml:23:30: groups[0].members[2]: must not be empty
testdata/bad-users.toml:25:1: shared_mailboxes[0].members: required key is missing (the users and groups who own the mailbox's mail)
testdata/bad-users.toml:30:11: shared_mailboxes[1].members: must name at least one user or group`,
	"bad-ldap.toml": `
testdata/bad-ldap.toml:5:17: directory.sync_interval: "10s" is too short: the minimum is 1m
testdata/bad-ldap.toml:7:1: directory.ldap.base_dn: required key is missing
testdata/bad-ldap.toml:8:7: directory.ldap.url: "ldaps://dc1.contoso.com/DC=contoso,DC=com": give only the scheme, host and port (the base is base_dn)
testdata/bad-ldap.toml:10:17: directory.ldap.bind_password: needs bind_dn (without it jarchive binds anonymously)
testdata/bad-ldap.toml:11:8: directory.ldap.kind: "samba" is not one of active-directory, openldap
testdata/bad-ldap.toml:12:15: directory.ldap.user_filter: "objectClass=user" is not an LDAP filter: it must be in parentheses, e.g. "(objectClass=user)"
testdata/bad-ldap.toml:13:16: directory.ldap.group_filter: "(|(objectClass=group)" is not an LDAP filter: unbalanced parentheses (write a literal parenthesis as \28 or \29)
testdata/bad-ldap.toml:14:31: directory.ldap.address_attributes[1]: "proxy addresses" is not an attribute name
testdata/bad-ldap.toml:15:13: directory.ldap.page_size: 0 is not between 1 and 10000
testdata/bad-ldap.toml:16:17: directory.ldap.nested_groups: "deep" is not one of auto, in-chain, recursive`,
	"bad-ldap-url.toml": `
testdata/bad-ldap-url.toml:4:1: directory.ldap.bind_password: required key is missing (set one of bind_password, bind_password_file or bind_password_env)
testdata/bad-ldap-url.toml:5:7: directory.ldap.url: "https://dc1.contoso.com" is not an LDAP URL (ldaps://host[:port] or ldap://host[:port])
testdata/bad-ldap-url.toml:7:11: directory.ldap.base_dn: "contoso.com" is not a DN (e.g. "DC=contoso,DC=com")`,
	"bad-http.toml": `
testdata/bad-http.toml:5:10: http.listen: "localhost:http": port "http" is not a number from 0 to 65535
testdata/bad-http.toml:7:21: http.metrics_token_env: only one of metrics_token, metrics_token_file and metrics_token_env may be set (metrics_token is set on line 6)
testdata/bad-http.toml:8:1: http.metrics_tokn: unknown key; did you mean "metrics_token"?`,
	"bad-several.toml": `
testdata/bad-several.toml:4:1: archive.compress: unknown key
testdata/bad-several.toml:6:1: accounts[0].username: required key is missing
testdata/bad-several.toml:11:12: accounts[0].security: "startls" is not one of starttls, tls, none
testdata/bad-several.toml:12:20: accounts[0].max_message_size: "huge" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)
testdata/bad-several.toml:15:8: accounts[1].name: duplicate account name "journal" (also used by accounts[0])
testdata/bad-several.toml:19:16: accounts[1].password_env: only one of password, password_file and password_env may be set (password is set on line 18)
testdata/bad-several.toml:20:12: accounts[1].interval: "0s" is too short: the minimum is 1s
testdata/bad-several.toml:21:12: accounts[1].envelope: "bcc" is not one of journal, off, x-envelope-to, x-original-to, delivered-to, header:NAME`,
}

func setBadEnv(t *testing.T) {
	t.Setenv("JARCHIVE_TEST_UNSET", "")
	os.Unsetenv("JARCHIVE_TEST_UNSET") // t.Setenv restores it afterwards
	t.Setenv("JARCHIVE_TEST_EMPTY", "")
}

func TestBadFiles(t *testing.T) {
	setBadEnv(t)
	files, err := filepath.Glob("testdata/bad-*.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badFiles[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error in badFiles", f)
		}
	}
	for name, want := range badFiles {
		t.Run(name, func(t *testing.T) {
			want = strings.TrimPrefix(want, "\n")
			cfg, err := Load(filepath.Join("testdata", name))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a Config with an error")
			}
			if got := err.Error(); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is a %T, not Errors", err)
			}
			lines := strings.Split(want, "\n")
			if len(errs) != len(lines) {
				t.Fatalf("%d errors, want %d", len(errs), len(lines))
			}
			for i, e := range errs {
				if e.File != filepath.Join("testdata", name) || e.Line < 1 || e.Col < 1 || e.Msg == "" {
					t.Errorf("error %d has fields %+v", i, *e)
				}
				if e.Error() != lines[i] {
					t.Errorf("error %d is %q, want %q", i, e.Error(), lines[i])
				}
			}
			var one *Error
			if !errors.As(err, &one) || one != errs[0] {
				t.Errorf("errors.As(*Error) does not give the first error")
			}
		})
	}
}

// TestEnumTextUnmarshal checks that go-toml calls UnmarshalText on the
// int-based enums (it silently skips it for string-based types), with the
// error of the package documentation.
func TestEnumTextUnmarshal(t *testing.T) {
	doc := `# Line 1
[archive]
dir = "/var/lib/jarchive"

# Line 5



[[accounts]]
name = "journal"
server = "outlook.office365.com"
username = "journal@example.com"
password = "secret"
security = "startls"
`
	_, err := Parse("jarchive.toml", []byte(doc))
	want := `jarchive.toml:14:12: accounts[0].security: "startls" is not one of starttls, tls, none`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}

	var s struct {
		Security Security
		Protocol Protocol
	}
	if err := toml.Unmarshal([]byte("Security = \"startls\""), &s); err == nil {
		t.Errorf("go-toml accepted security %q", "startls")
	}
	if err := toml.Unmarshal([]byte("Security = \"TLS\"\nProtocol = \"pop3\""), &s); err != nil || s.Security != SecurityTLS || s.Protocol != ProtocolPOP3 {
		t.Errorf("got %v, %v, %v", s.Security, s.Protocol, err)
	}
}

func TestEnumParse(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
		err  string
	}{
		{"starttls", 0, ""},
		{"TLS", 1, ""},
		{"None", 2, ""},
		{"startls", 0, `"startls" is not one of starttls, tls, none`},
		{"", 0, `"" is not one of starttls, tls, none`},
		{" tls", 0, `" tls" is not one of starttls, tls, none`},
	} {
		got, err := enumParse(securityNames, tc.s)
		if got != tc.want || errString(err) != tc.err {
			t.Errorf("enumParse(%q) = %d, %v; want %d, %s", tc.s, got, err, tc.want, tc.err)
		}
	}
	for i, n := range protocolNames {
		if Protocol(i).String() != n {
			t.Errorf("Protocol(%d) = %s", i, Protocol(i))
		}
	}
	if Security(9).String() != "unknown(9)" {
		t.Errorf("Security(9) = %s", Security(9))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGoodFile(t *testing.T) {
	t.Setenv("JARCHIVE_TEST_GOOD_PASSWORD", "from the environment")
	cfg, err := Load("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(filepath.Join("testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	want := &Config{
		Path:      "testdata/good.toml",
		Archive:   Archive{Dir: abs("archive"), Location: time.Local},
		Directory: Directory{SyncInterval: DefaultSyncInterval, PlusAddressing: true},
		HTTP:      HTTP{Listen: "127.0.0.1:9587", MetricsToken: NewSecret("0123456789abcdef0123")},
		Accounts: []Account{
			{
				Name:           "journal-imap",
				Protocol:       ProtocolIMAP,
				Server:         "outlook.office365.com:993",
				Username:       "journal@example.com",
				Password:       NewSecret("s3cret pass"),
				PasswordFile:   abs("password.txt"),
				Security:       SecurityTLS,
				TLSCAFile:      abs("ca.pem"),
				Mailbox:        "Journal",
				KeepMails:      true,
				MaxMessageSize: 512 * KiB,
				Interval:       Duration(90 * time.Minute),
				Envelope:       EnvelopeMode{Kind: EnvelopeHeader, Header: "X-Original-To"},
			},
			{
				Name:           "legacy.box_2",
				Protocol:       ProtocolIMAP,
				Server:         "10.0.0.7",
				Username:       "archiver",
				Password:       NewSecret("from the environment"),
				PasswordEnv:    "JARCHIVE_TEST_GOOD_PASSWORD",
				Security:       SecuritySTARTTLS,
				Mailbox:        "INBOX",
				MaxMessageSize: 1048576,
				Interval:       Duration(30 * time.Second),
				Envelope:       EnvelopeMode{Kind: EnvelopeHeader, Header: "X-Rcpt-To"},
			},
			{
				Name:           "defaults",
				Protocol:       ProtocolIMAP,
				Server:         "[::1]:143",
				Username:       "u",
				Password:       NewSecret(`inline "secret"`),
				Security:       SecuritySTARTTLS,
				Mailbox:        "INBOX",
				KeepMails:      false,
				MaxMessageSize: 50 * 1000 * 1000,
				Interval:       Duration(time.Minute),
				Envelope:       EnvelopeMode{Kind: EnvelopeJournal},
			},
			{
				Name:             "m365",
				Protocol:         ProtocolIMAPOAuth2,
				Server:           "outlook.office365.com",
				Username:         "journal@contoso.com",
				TenantID:         "contoso.onmicrosoft.com",
				ClientID:         "00000000-0000-0000-0000-000000000001",
				ClientSecret:     NewSecret("s3cret pass"),
				ClientSecretFile: abs("password.txt"),
				TokenURL:         "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token",
				Scope:            "https://outlook.office365.us/.default",
				Security:         SecurityTLS,
				Mailbox:          "INBOX",
				MaxMessageSize:   50 * 1000 * 1000,
				Interval:         Duration(time.Minute),
				Idle:             true,
			},
			{
				Name:           "pop",
				Protocol:       ProtocolPOP3,
				Server:         "pop.example.com",
				Username:       "journal",
				Password:       NewSecret("pop secret"),
				Security:       SecurityTLS,
				MaxMessageSize: 50 * 1000 * 1000,
				Interval:       Duration(time.Minute),
			},
		},
	}
	// reflect.DeepEqual follows the Secrets' pointers: the passwords are
	// compared too.
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(cfg), dump(want))
	}
	for i, a := range cfg.Accounts {
		if got, w := a.Password.Reveal(), want.Accounts[i].Password.Reveal(); got != w {
			t.Errorf("account %d: password %q, want %q", i, got, w)
		}
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}

	addrs := []string{"outlook.office365.com:993", "10.0.0.7:143", "[::1]:143", "outlook.office365.com:993", "pop.example.com:995"}
	names := []string{"outlook.office365.com", "10.0.0.7", "::1", "outlook.office365.com", "pop.example.com"}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if got := a.Addr(); got != addrs[i] {
			t.Errorf("account %d: Addr %q, want %q", i, got, addrs[i])
		}
		tc, err := a.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		if tc.ServerName != names[i] || tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify {
			t.Errorf("account %d: TLS config %+v", i, tc)
		}
		if (tc.RootCAs != nil) != (a.TLSCAFile != "") {
			t.Errorf("account %d: RootCAs %v with tls_ca_file %q", i, tc.RootCAs, a.TLSCAFile)
		}
	}
}

// dump prints a Config with its secrets revealed, for test failures.
func dump(c *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Path=%q Archive=%+v\n", c.Path, c.Archive)
	for _, a := range c.Accounts {
		pw := a.Password.Reveal()
		a.Password = Secret{}
		fmt.Fprintf(&b, "  %+v password=%q\n", a, pw)
	}
	return b.String()
}

// TestSample loads the annotated sample of the README.
func TestSample(t *testing.T) {
	t.Setenv("JARCHIVE_M365_CLIENT_SECRET", "sample secret")
	cfg, err := Load("testdata/sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Archive.Dir != "/var/lib/jarchive" || len(cfg.Accounts) != 1 || cfg.Archive.Location.String() != "Europe/Berlin" ||
		cfg.HTTP.Listen != "127.0.0.1:9587" || !cfg.HTTP.MetricsToken.IsZero() {
		t.Fatalf("got %s", dump(cfg))
	}
	a := cfg.Accounts[0]
	if a.Name != "m365-journal" || a.Protocol != ProtocolIMAPOAuth2 || a.Server != "outlook.office365.com" ||
		a.Username != "journal@example.com" || a.ClientSecret.Reveal() != "sample secret" || !a.Password.IsZero() ||
		a.TenantID != "11111111-2222-3333-4444-555555555555" || a.ClientID != "66666666-7777-8888-9999-000000000000" ||
		a.OAuth2TokenURL() != "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token" ||
		a.OAuth2Scope() != "https://outlook.office365.com/.default" || !a.Idle ||
		a.Security != SecurityTLS || a.Mailbox != "INBOX" || a.KeepMails ||
		a.MaxMessageSize != DefaultMaxMessageSize || a.Interval != DefaultInterval ||
		a.Envelope != (EnvelopeMode{}) || a.Addr() != "outlook.office365.com:993" {
		t.Errorf("got %s", dump(cfg))
	}
}

func TestDefaultsAndWarnings(t *testing.T) {
	doc := `
archive.dir = "/srv/archive"

[[accounts]]
name = "plain"
server = "mail.internal"
username = "u"
password = "p"
security = "none"
tls_ca_file = "testdata/ca.pem"
`
	cfg, err := Parse("jarchive.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Accounts[0]
	if a.Protocol != ProtocolIMAP || a.Mailbox != "INBOX" || a.MaxMessageSize != 50*MB ||
		a.Interval != Duration(time.Minute) || a.Envelope.Kind != EnvelopeJournal || a.KeepMails ||
		a.Addr() != "mail.internal:143" {
		t.Errorf("defaults: %+v", a)
	}
	want := []string{
		`account "plain": security = "none": password and mail travel in clear text`,
		`account "plain": tls_ca_file is not used with security = "none"`,
	}
	if got := cfg.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}

	// No accounts at all is a valid, import-only configuration.
	cfg, err = Parse("/etc/jarchive/jarchive.toml", []byte("[archive]\ndir = \"data\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Archive.Dir != "/etc/jarchive/data" || len(cfg.Accounts) != 0 || cfg.Path != "/etc/jarchive/jarchive.toml" {
		t.Errorf("got %+v", cfg)
	}
}

// TestMoreErrors covers errors that are easier to read inline than as files.
func TestMoreErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[[accounts]]\nname = \"n\"\nserver = \"h\"\nusername = \"u\"\n"
	for _, tc := range []struct{ doc, want string }{
		{"", `x.toml:1:1: archive.dir: required key is missing (add an [archive] table with dir = "/path/to/archive")`},
		{"[archive]\ndir = \"\"\n", `x.toml:2:7: archive.dir: must not be empty`},
		{"[archive]\ndir = \"~/a\"\n", `x.toml:2:7: archive.dir: "~/a": ~ is not expanded; write the full path`},
		{"archive = \"/a\"\n", `x.toml:1:11: archive: expected a table, got a string`},
		{"[archive]\ndir = 5\n", `x.toml:2:7: archive.dir: expected a string, got an integer`},
		{"@\n", `x.toml:1:1: syntax error: invalid character at start of key: U+0040 '@'`},
		{"[archive]\ndir = \"/a\"\nx = [1,\n", `x.toml:3:8: archive.x: syntax error: array is incomplete`},
		{"[Archive]\ndir = \"/a\"\n", `x.toml:1:1: Archive: unknown table; did you mean "archive"? (keys are case-sensitive)`},
		{"[archive]\ndir = \"/a\"\n[[accounts]]\n[[accounts.folders]]\nname = \"x\"\n", strings.Join([]string{
			`x.toml:3:1: accounts[0].name: required key is missing`,
			`x.toml:3:1: accounts[0].server: required key is missing`,
			`x.toml:3:1: accounts[0].username: required key is missing`,
			`x.toml:3:1: accounts[0].password: required key is missing (set one of password, password_file or password_env)`,
			`x.toml:4:1: accounts[0].folders: unknown table`,
		}, "\n")},
		{head + "password = 'p'\nmax_message_size = 1.5\n", `x.toml:8:20: accounts[0].max_message_size: expected a size such as "50MB" or a number of bytes, got a float`},
		{head + "password = 'p'\nmax_message_size = -1\n", `x.toml:8:20: accounts[0].max_message_size: -1: size must be greater than 0`},
		{head + "password = 'p'\nmailbox = ''\n", `x.toml:8:11: accounts[0].mailbox: must not be empty`},
		{head + "password = 'p'\ntls_ca_file = ''\n", `x.toml:8:15: accounts[0].tls_ca_file: must not be empty`},
		{head + "password = 'p'\nprotocol = 'pop3-oauth2'\nclient_id = 'c'\nclient_secret = 's'\ntoken_url = 'https://login.example.com/t'\n",
			`x.toml:7:12: accounts[0].password: not used with protocol pop3-oauth2, which logs in with client_id and client_secret`},
		{head + "protocol = 'imap-oauth2'\nclient_id = 'c'\nclient_secret = 's'\ntoken_url = 'http://[::1]:8080/t'\nidle = 1\n",
			`x.toml:11:8: accounts[0].idle: expected true or false, got an integer`},
		{head + "protocol = 'pop3'\npassword = 'p'\nmailbox = ''\n", `x.toml:9:11: accounts[0].mailbox: not used with protocol pop3: POP3 has only the one maildrop`},
		{head + "password_env = ''\n", `x.toml:7:16: accounts[0].password_env: must not be empty`},
		{head + "password_file = ''\n", `x.toml:7:17: accounts[0].password_file: must not be empty`},
		{head + "password_file = 'testdata'\n", `x.toml:7:17: accounts[0].password_file: cannot read password file "testdata": not a regular file`},
		{head + "password = 5\n", `x.toml:7:12: accounts[0].password: expected a string, got an integer`},
		{head + "password = 'p'\nserver = 'x'\n", `x.toml:8:1: accounts[0].server: duplicate key (first set on line 5)`},
		{head + "password = 'p'\ninterval = '-5m'\n", `x.toml:8:12: accounts[0].interval: "-5m" is too short: the minimum is 1s`},
		{head + "password = 'p'\nkeep_mails = true\nkeep_mails = false\nkeep_mail = 1\n", strings.Join([]string{
			`x.toml:9:1: accounts[0].keep_mails: duplicate key (first set on line 8)`,
			`x.toml:10:1: accounts[0].keep_mail: unknown key; did you mean "keep_mails"?`,
		}, "\n")},
		{"[archive]\ndir = \"/a\"\n[[accounts]]\nname = \"..\"\nserver = \"h:\"\nusername = \"u\"\npassword = \"p\"\n", strings.Join([]string{
			`x.toml:4:8: accounts[0].name: ".." is not a valid account name: use letters, digits, '.', '_' and '-'`,
			`x.toml:5:10: accounts[0].server: "h:": port "" is not a number from 1 to 65535`,
		}, "\n")},
		{"accounts = [\n  { name = \"a\", server = \"h\", username = \"u\", password = \"p\", security = \"tsl\" },\n  { name = \"b\", server = 5 },\n  7,\n]\n[archive]\ndir = \"/a\"\n", strings.Join([]string{
			`x.toml:2:74: accounts[0].security: "tsl" is not one of starttls, tls, none`,
			`x.toml:3:26: accounts[1].server: expected a string, got an integer`,
			`x.toml:4:3: accounts[2]: expected a table, got an integer`,
		}, "\n")},
		{"[archive]\r\ndir = \"/a\"\r\nbogus = 1\r\n", `x.toml:3:1: archive.bogus: unknown key`},
		{"[archive]\ndir = \"/a\"\n\"pass word\" = 1\n", `x.toml:3:1: archive."pass word": unknown key`},
		{"[archive]\ndir = 2024-01-01\n", `x.toml:2:7: archive.dir: expected a string, got a date-time`},
		{head + "password = 'p'\nmax_message_size = 99999999999999999999\n", `x.toml:8:20: accounts[0].max_message_size: decimal number is too large to fit in a 64-bit signed integer`},
	} {
		_, err := Parse("x.toml", []byte(tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}

func TestTLSConfigError(t *testing.T) {
	a := &Account{Name: "x", Server: "h:993", TLSCAFile: "testdata/missing-ca.pem"}
	_, err := a.TLSConfig()
	if errString(err) != `account "x": tls_ca_file: cannot read CA file "testdata/missing-ca.pem": no such file or directory` {
		t.Errorf("error %v", err)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("JARCHIVE_CONFIG", "")

	if got := Find(""); got != "/etc/jarchive/jarchive.toml" {
		t.Errorf("nothing set: %q", got)
	}
	if err := os.WriteFile("jarchive.toml", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Find(""); got != "jarchive.toml" {
		t.Errorf("./jarchive.toml exists: %q", got)
	}
	t.Setenv("JARCHIVE_CONFIG", "/env/jarchive.toml")
	if got := Find(""); got != "/env/jarchive.toml" {
		t.Errorf("$JARCHIVE_CONFIG set: %q", got)
	}
	if got := Find("flag.toml"); got != "flag.toml" {
		t.Errorf("flag given: %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.toml")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "testdata/no-such-file.toml") {
		t.Errorf("error %v", err)
	}
}

func TestEnvelopeMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want EnvelopeMode
		err  string
	}{
		{"journal", EnvelopeMode{Kind: EnvelopeJournal}, ""},
		{"JOURNAL", EnvelopeMode{Kind: EnvelopeJournal}, ""},
		{"off", EnvelopeMode{Kind: EnvelopeOff}, ""},
		{"x-envelope-to", EnvelopeMode{Kind: EnvelopeHeader, Header: "X-Envelope-To"}, ""},
		{"X-Original-To", EnvelopeMode{Kind: EnvelopeHeader, Header: "X-Original-To"}, ""},
		{"delivered-to", EnvelopeMode{Kind: EnvelopeHeader, Header: "Delivered-To"}, ""},
		{"header:x-ms-exchange-recipient", EnvelopeMode{Kind: EnvelopeHeader, Header: "X-Ms-Exchange-Recipient"}, ""},
		{"Header:Envelope-To", EnvelopeMode{Kind: EnvelopeHeader, Header: "Envelope-To"}, ""},
		{"header:", EnvelopeMode{}, `"header:" needs a header name, e.g. "header:X-Envelope-To"`},
		{"header:A:B", EnvelopeMode{}, `"header:A:B": "A:B" is not a valid header field name`},
		{"header:Ä", EnvelopeMode{}, `"header:Ä": "Ä" is not a valid header field name`},
		{"", EnvelopeMode{}, `"" is not one of journal, off, x-envelope-to, x-original-to, delivered-to, header:NAME`},
		{"bcc", EnvelopeMode{}, `"bcc" is not one of journal, off, x-envelope-to, x-original-to, delivered-to, header:NAME`},
	} {
		var m EnvelopeMode
		err := m.UnmarshalText([]byte(tc.in))
		if m != tc.want || errString(err) != tc.err {
			t.Errorf("%q: got %+v, %v; want %+v, %s", tc.in, m, err, tc.want, tc.err)
		}
		if err == nil {
			// String gives back a value UnmarshalText reads as the same mode.
			var again EnvelopeMode
			if err := again.UnmarshalText([]byte(m.String())); err != nil || again != m {
				t.Errorf("%q: String %q reads back as %+v, %v", tc.in, m.String(), again, err)
			}
		}
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  string
	}{
		{"50MB", 50_000_000, ""},
		{"50 MB", 50_000_000, ""},
		{"50mb", 50_000_000, ""},
		{"512KiB", 512 * 1024, ""},
		{"512K", 512 * 1024, ""},
		{"1GB", 1_000_000_000, ""},
		{"1GiB", 1 << 30, ""},
		{"2T", 2 << 40, ""},
		{"1TB", 1_000_000_000_000, ""},
		{"1048576", 1048576, ""},
		{"100B", 100, ""},
		{"1.5MB", 1_500_000, ""},
		{" 7 KB ", 7000, ""},
		{"0", 0, `"0": size must be greater than 0`},
		{"0MB", 0, `"0MB": size must be greater than 0`},
		{"0.1B", 0, `"0.1B": size must be greater than 0`},
		{"-1MB", 0, `"-1MB" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)`},
		{"", 0, `"" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)`},
		{"MB", 0, `"MB" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)`},
		{"5XB", 0, `"5XB" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)`},
		{"1.MB", 0, `"1.MB" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)`},
		{"1.2.3MB", 0, `"1.2.3MB" is not a size (write e.g. "50MB", "512KiB", "1GB" or a number of bytes)`},
		{"9999999TB", 0, `"9999999TB": size is too large`},
		{"99999999999999999999", 0, `"99999999999999999999": size is too large`},
	} {
		var s ByteSize
		err := s.UnmarshalText([]byte(tc.in))
		if s != tc.want || errString(err) != tc.err {
			t.Errorf("%q: got %d, %v; want %d, %s", tc.in, s, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		in   ByteSize
		want string
	}{
		{50 * MB, "50MB"}, {512 * KiB, "512KiB"}, {GiB, "1GiB"}, {3 * TB, "3TB"},
		{1536 * KiB, "1536KiB"}, {1234, "1234B"}, {1, "1B"}, {0, "0B"}, {1000 * MiB, "1000MiB"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%d: String %q, want %q", int64(tc.in), got, tc.want)
		}
		if tc.in > 0 {
			var back ByteSize
			if err := back.UnmarshalText([]byte(tc.in.String())); err != nil || back != tc.in {
				t.Errorf("%d: %q reads back as %d, %v", int64(tc.in), tc.in.String(), back, err)
			}
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"1m", time.Minute, "1m"},
		{"30s", 30 * time.Second, "30s"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"2h", 2 * time.Hour, "2h"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
		{"500ms", 500 * time.Millisecond, "500ms"},
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil || time.Duration(d) != tc.want || d.String() != tc.str {
			t.Errorf("%q: got %v (%q), %v", tc.in, time.Duration(d), d.String(), err)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("5 minutes")); errString(err) != `"5 minutes" is not a duration (write e.g. "30s", "1m", "1h30m")` {
		t.Errorf("error %v", err)
	}
}

// TestMarshal checks that the text types marshal to what they read.
func TestMarshal(t *testing.T) {
	a := Account{
		Security:       SecurityNone,
		Protocol:       ProtocolPOP3,
		MaxMessageSize: 512 * KiB,
		Interval:       Duration(90 * time.Second),
		Envelope:       EnvelopeMode{Kind: EnvelopeHeader, Header: "X-Original-To"},
	}
	b, err := toml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`security = 'none'`, `protocol = 'pop3'`, `max_message_size = '512KiB'`,
		`interval = '1m30s'`, `envelope = 'header:X-Original-To'`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("toml.Marshal gives\n%s\nwithout %s", b, want)
		}
	}
	var back Account
	if err := toml.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Security != a.Security || back.Protocol != a.Protocol || back.MaxMessageSize != a.MaxMessageSize ||
		back.Interval != a.Interval || back.Envelope != a.Envelope {
		t.Errorf("read back %+v", back)
	}
}

func TestSecretRedacted(t *testing.T) {
	const pw = "hunter2-TOP-secret"
	cfg := &Config{
		Archive:  Archive{Dir: "/a"},
		Accounts: []Account{{Name: "x", Server: "h", Username: "u", Password: NewSecret(pw), ClientSecret: NewSecret(pw + "-client")}},
	}
	s := cfg.Accounts[0].Password
	if s.Reveal() != pw || s.IsZero() || !(Secret{}).IsZero() || (Secret{}).Reveal() != "" || !NewSecret("").IsZero() {
		t.Fatal("Reveal/IsZero")
	}

	var outs []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs = append(outs, fmt.Sprintf(format, cfg), fmt.Sprintf(format, *cfg), fmt.Sprintf(format, s), fmt.Sprintf(format, &s))
	}
	outs = append(outs, fmt.Sprint(cfg.Accounts), fmt.Sprintln(s), s.String(), s.GoString())
	// A Secret where fmt cannot call its methods (an unexported field)
	// prints a pointer, not the value.
	outs = append(outs, fmt.Sprintf("%+v", struct{ s Secret }{s}), fmt.Sprintf("%#v", struct{ a []Account }{cfg.Accounts}))
	if got := fmt.Sprintf("%v|%q|%x|%#v", s, s, s, s); got != `<redacted>|"<redacted>"|<redacted>|<redacted>` {
		t.Errorf("fmt gives %s", got)
	}

	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Accounts []struct{ Password string } }
	if err := json.Unmarshal(j, &back); err != nil || back.Accounts[0].Password != "<redacted>" {
		t.Errorf("json: %s", j)
	}
	outs = append(outs, string(j))
	if j, err = json.Marshal(map[Secret]Secret{s: s}); err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))

	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("config", "cfg", cfg, "account", cfg.Accounts[0], "password", s, slog.Any("ptr", &s))
		log.Info("group", slog.Group("g", "password", s))
		outs = append(outs, buf.String())
		if !strings.Contains(buf.String(), "<redacted>") {
			t.Errorf("slog output without <redacted>: %s", buf.String())
		}
	}

	tb, err := toml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tb), "password = '<redacted>'") {
		t.Errorf("toml: %s", tb)
	}
	outs = append(outs, string(tb))

	for _, o := range outs {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret printed: %s", o)
		}
	}
}

// FuzzParse checks that Parse never panics and that its errors are all
// well-formed.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("testdata/fuzz.toml", data)
		if err == nil {
			if cfg == nil || cfg.Path != "testdata/fuzz.toml" {
				t.Fatalf("no error and Config %v", cfg)
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %v", err, err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range errs {
			if e.File != "testdata/fuzz.toml" || e.Line < 1 || e.Line > lines || e.Col < 1 || e.Msg == "" {
				t.Fatalf("bad error %+v", *e)
			}
		}
	})
}
