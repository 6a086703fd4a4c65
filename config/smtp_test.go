package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestSMTP(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[smtp]\n"
	cert, key := writeKeyPair(t, t.TempDir())
	t.Setenv("JARCHIVE_TEST_SMTP_PASSWORD", "relay-secret")
	cfg, err := Parse("x.toml", []byte(head+"listen = ':25'\naccept_recipients = ['journal@archive.example.com']\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := SMTP{
		Listen: ":25", Name: "smtp", AcceptRecipients: []string{"journal@archive.example.com"},
		Networks:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		MaxMessageSize: DefaultMaxMessageSize, MaxConnections: 100, MaxRecipients: 1000,
		ReadTimeout: DefaultSMTPReadTimeout, WriteTimeout: DefaultSMTPWriteTimeout, CommitTimeout: DefaultSMTPCommitTimeout,
	}
	if !reflect.DeepEqual(cfg.SMTP, want) {
		t.Errorf("defaults: got %+v; want %+v", cfg.SMTP, want)
	}

	doc := head + `listen = "127.0.0.1:2525"
lmtp = true
name = "exchange-journal"
hostname = "archive.example.com"
tls_cert_file = "` + cert + `"
tls_key_file = "` + key + `"
require_tls = true
accept_recipients = ["journal@archive.example.com", "@journal.example.com"]
allowed_networks = ["40.92.0.0/15", "2a01:111:f400::/48", "192.0.2.7"]
auth_username = "relay"
auth_password_env = "JARCHIVE_TEST_SMTP_PASSWORD"
max_message_size = "150MB"
max_connections = 20
max_recipients = 50
read_timeout = "2m"
write_timeout = "30s"
commit_timeout = "1m"
envelope = "smtp"
`
	cfg, err = Parse("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SMTP
	if !s.LMTP || s.Name != "exchange-journal" || s.Hostname != "archive.example.com" || !s.RequireTLS || s.TLSCertFile != cert ||
		s.AuthPassword.Reveal() != "relay-secret" || s.MaxMessageSize != 150*MB || s.MaxConnections != 20 || s.MaxRecipients != 50 ||
		s.Envelope.Kind != EnvelopeSMTP || s.CommitTimeout != Duration(60e9) {
		t.Errorf("got %+v", s)
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{{"40.93.1.2", true}, {"::ffff:40.92.0.1", true}, {"2a01:111:f400:7e00::1", true}, {"192.0.2.7", true}, {"192.0.2.8", false}, {"127.0.0.1", false}} {
		if got := s.Allowed(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Allowed(%s) = %v; want %v", tc.addr, got, tc.want)
		}
	}
	for _, tc := range []struct {
		rcpt string
		want bool
	}{{"journal@archive.example.com", true}, {"JOURNAL@Archive.Example.com", true}, {"x@journal.example.com", true},
		{"journal@archive.example.com.evil", false}, {"x@sub.journal.example.com", false}, {"other@archive.example.com", false}, {"", false}} {
		if got := s.Accepts(tc.rcpt); got != tc.want {
			t.Errorf("Accepts(%q) = %v; want %v", tc.rcpt, got, tc.want)
		}
	}
	if out := dump(cfg); strings.Contains(out, "relay-secret") {
		t.Errorf("the printed configuration shows the AUTH password:\n%s", out)
	}
}

func TestSMTPErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[smtp]\n"
	const ok = "listen = ':25'\naccept_recipients = ['j@a.example']\n"
	setBadEnv(t)
	for _, tc := range []struct{ doc, want string }{
		{"accept_recipients = ['j@a.example']\n", `x.toml:4:21: smtp.accept_recipients: not used without listen (the address of the SMTP receiver)`},
		{"listen = ''\naccept_recipients = ['j@a.example']\n", `x.toml:4:10: smtp.listen: must not be empty (leave listen out for no SMTP receiver)`},
		{"listen = '25'\naccept_recipients = ['j@a.example']\n", `x.toml:4:10: smtp.listen: "25" is not host:port (e.g. "127.0.0.1:9587" or ":9587")`},
		{"listen = ':25'\n", `x.toml:3:1: smtp.accept_recipients: required: the journal addresses to accept, e.g. ["journal@archive.example.com"]`},
		{"listen = ':25'\naccept_recipients = ['journal', 'a b@c']\n", "x.toml:5:21: smtp.accept_recipients: \"journal\" is not an address (user@example.com) or a domain (@example.com)\n" +
			`x.toml:5:21: smtp.accept_recipients: "a b@c" is not an address (user@example.com) or a domain (@example.com)`},
		{ok + "allowed_networks = ['10.0.0.0/33', 'example.com']\n", "x.toml:6:20: smtp.allowed_networks: \"10.0.0.0/33\" is not a CIDR (\"10.0.0.0/8\") or an IP address\n" +
			`x.toml:6:20: smtp.allowed_networks: "example.com" is not a CIDR ("10.0.0.0/8") or an IP address`},
		{ok + "allowed_networks = []\n", `x.toml:6:20: smtp.allowed_networks: must not be empty (no client could deliver)`},
		{ok + "require_tls = true\n", `x.toml:6:15: smtp.require_tls: needs tls_cert_file and tls_key_file (a certificate for STARTTLS)`},
		{ok + "tls_cert_file = 'testdata/ca.pem'\n", `x.toml:3:1: smtp.tls_key_file: required key is missing (tls_cert_file is set)`},
		{ok + "tls_cert_file = 'testdata/ca.pem'\ntls_key_file = 'testdata/not-a-cert.pem'\n", `x.toml:6:17: smtp.tls_cert_file: cannot load the certificate and key: tls: failed to find any PEM data in key input`},
		{ok + "auth_password = 'x'\n", `x.toml:6:17: smtp.auth_password: not used without auth_username`},
		{ok + "auth_username = 'relay'\n", `x.toml:3:1: smtp.auth_password: required key is missing (set one of auth_password, auth_password_file or auth_password_env)`},
		{ok + "auth_username = 'relay'\nauth_password_env = 'JARCHIVE_TEST_EMPTY'\n", `x.toml:7:21: smtp.auth_password_env: environment variable JARCHIVE_TEST_EMPTY is empty`},
		{ok + "max_message_size = 0\n", `x.toml:6:20: smtp.max_message_size: 0: size must be greater than 0`},
		{ok + "max_connections = 0\n", `x.toml:6:19: smtp.max_connections: 0: must be greater than 0`},
		{ok + "read_timeout = '10ms'\n", `x.toml:6:16: smtp.read_timeout: "10ms" is too short: the minimum is 1s`},
		{ok + "name = 'a b'\n", `x.toml:6:8: smtp.name: "a b" is not a valid name: use letters, digits, '.', '_' and '-'`},
		{ok + "hostname = 'not a host'\n", `x.toml:6:12: smtp.hostname: "not a host" is not a host name`},
		{ok + "envelope = 'bcc'\n", `x.toml:6:12: smtp.envelope: "bcc" is not one of journal, off, x-envelope-to, x-original-to, delivered-to, header:NAME`},
		{ok + "lmtp = 'yes'\n", `x.toml:6:8: smtp.lmtp: expected true or false, got a string`},
		{ok + "listn = ':26'\n", `x.toml:6:1: smtp.listn: unknown key; did you mean "listen"?`},
	} {
		_, err := Parse("x.toml", []byte(head+tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}

// TestSMTPEnvelopeOnlyInSMTP: envelope = "smtp" is refused for an account,
// and [smtp] name must not be an account's.
func TestSMTPEnvelopeOnlyInSMTP(t *testing.T) {
	const doc = "[archive]\ndir = \"/a\"\n[smtp]\nlisten = ':25'\naccept_recipients = ['j@a.example']\nname = 'journal'\n" +
		"[[accounts]]\nname = 'journal'\nserver = 'imap.example.com'\nusername = 'u'\npassword = 'p'\nenvelope = 'smtp'\n"
	_, err := Parse("x.toml", []byte(doc))
	want := "x.toml:6:8: smtp.name: \"journal\" is also the name of accounts[0] (set [smtp] name to another name)\n" +
		`x.toml:12:12: accounts[0].envelope: "smtp" is for the [smtp] receiver only: a fetched message has no SMTP envelope`
	if got := errString(err); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
