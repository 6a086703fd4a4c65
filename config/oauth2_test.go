package config

import (
	"strings"
	"testing"
)

// TestOAuth2Defaults checks what an oauth2 account gets when only the
// required keys are set.
func TestOAuth2Defaults(t *testing.T) {
	t.Setenv("JARCHIVE_TEST_SECRET", "from the environment")
	doc := `[archive]
dir = "/a"

[[accounts]]
name = "m365"
protocol = "pop3-oauth2"
username = "journal@contoso.com"
tenant_id = "contoso.onmicrosoft.com"
client_id = "c"
client_secret_env = "JARCHIVE_TEST_SECRET"
security = "tls"

[[accounts]]
name = "other-cloud"
protocol = "imap-oauth2"
server = "imap.example.com"
username = "journal@example.com"
client_id = "c"
client_secret = "s"
token_url = "http://127.0.0.1:8080/token"
`
	cfg, err := Parse("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Accounts[0]
	if a.Server != DefaultOAuth2Server || a.Addr() != "outlook.office365.com:995" || a.Mailbox != "" ||
		a.ClientSecret.Reveal() != "from the environment" || !a.IsOAuth2() || !a.IsPOP3() ||
		a.OAuth2TokenURL() != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		a.OAuth2Scope() != "https://outlook.office365.com/.default" {
		t.Errorf("defaults: %s", dump(cfg))
	}
	b := cfg.Accounts[1]
	if b.Addr() != "imap.example.com:143" || b.Mailbox != "INBOX" || b.OAuth2TokenURL() != "http://127.0.0.1:8080/token" || b.IsPOP3() {
		t.Errorf("token_url account: %s", dump(cfg))
	}
	if w := strings.Join(cfg.Warnings(), "\n"); w != "" {
		t.Errorf("warnings: %s", w)
	}
}
