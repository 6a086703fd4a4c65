package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// TestOAuth2 logs in with XOAUTH2 over IMAP and POP3 against Dovecot's
// oauth2 passdb, with tokens of the client-credentials flow.
func TestOAuth2(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{OAuth2: true})
	idp := srv.OAuth2
	msgs := corpusMessages(t, 4)
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
	imapAcct := srv.OAuth2Account("m365", config.ProtocolIMAPOAuth2, config.SecurityTLS)
	popAcct := srv.OAuth2Account("m365-pop", config.ProtocolPOP3OAuth2, config.SecuritySTARTTLS)

	srv.Deliver(t, srv.User, msgs[0])
	checkResult(t, poll(t, f, imapAcct), Result{Account: "m365", Seen: 1, Archived: 1, Deleted: 1})
	srv.Deliver(t, srv.User, msgs[1])
	checkResult(t, poll(t, f, popAcct), Result{Account: "m365-pop", Seen: 1, Archived: 1, Deleted: 1})
	if got := idp.TokenRequests(); got != 2 {
		t.Fatalf("%d token requests for two accounts; want 2", got)
	}

	// The token is cached while it is valid.
	srv.Deliver(t, srv.User, msgs[2])
	checkResult(t, poll(t, f, imapAcct), Result{Account: "m365", Seen: 1, Archived: 1, Deleted: 1})
	checkResult(t, poll(t, f, popAcct), Result{Account: "m365-pop"})
	if got := idp.TokenRequests(); got != 2 {
		t.Fatalf("%d token requests after more passes; want the cached tokens used (2)", got)
	}

	t.Run("expired token is renewed", func(t *testing.T) {
		f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
		f.tokenMargin = 0
		idp.SetExpiresIn(2 * time.Second)
		defer idp.SetExpiresIn(time.Hour)
		before := idp.TokenRequests()
		poll(t, f, imapAcct)
		time.Sleep(2100 * time.Millisecond)
		srv.Deliver(t, srv.User, msgs[3])
		checkResult(t, poll(t, f, popAcct), Result{Account: "m365-pop", Seen: 1, Archived: 1, Deleted: 1})
		if got := idp.TokenRequests() - before; got != 2 {
			t.Fatalf("%d token requests; want 2 (the second after expiry)", got)
		}
	})

	t.Run("revoked token is replaced", func(t *testing.T) {
		before := idp.TokenRequests()
		idp.RevokeAll()
		checkResult(t, poll(t, f, imapAcct), Result{Account: "m365"})
		if got := idp.TokenRequests() - before; got != 1 {
			t.Fatalf("%d token requests; want 1", got)
		}
	})

	all := append(sink.sums("m365"), sink.sums("m365-pop")...)
	slices.Sort(all)
	if want := sortedSums(msgs); !slices.Equal(all, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
}

// TestOAuth2Errors checks the one-line messages the admin gets, and that
// they are permanent.
func TestOAuth2Errors(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{OAuth2: true})
	idp := srv.OAuth2
	for _, tc := range []struct {
		name   string
		proto  config.Protocol
		modify func(a *config.Account)
		setup  func()
		want   string
	}{
		{"wrong secret", config.ProtocolIMAPOAuth2, func(a *config.Account) { a.ClientSecret = config.NewSecret("wrong~secret") }, nil,
			`oauth2 token from 127.0.0.1:PORT: invalid_client: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '66666666-7777-8888-9999-000000000000'. (hint: client_secret is wrong: use the secret's Value (shown once, when it is created under Certificates & secrets), not its Secret ID)`},
		{"wrong client id", config.ProtocolPOP3OAuth2, func(a *config.Account) { a.ClientID = "0" }, nil,
			`AADSTS700016: Application with identifier '0' was not found in the directory. (hint: no application with this client_id in the tenant`},
		{"wrong tenant", config.ProtocolIMAPOAuth2, func(a *config.Account) {
			a.TokenURL = strings.Replace(a.TokenURL, a.TenantID, "contoso.onmicrosoft.com", 1)
		}, nil, `AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found. (hint: tenant_id is wrong`},
		{"wrong scope", config.ProtocolIMAPOAuth2, func(a *config.Account) { a.Scope = "https://graph.microsoft.com/.default" }, nil,
			`(hint: scope is not valid: for Exchange Online it is https://outlook.office365.com/.default)`},
		{"no IMAP permission", config.ProtocolIMAPOAuth2, nil, func() { idp.SetRoles() },
			`login as "journal" with XOAUTH2: imap: NO [AUTHENTICATIONFAILED] Authentication failed. (status 401) (hint: the access token has no IMAP.AccessAsApp role: give the app registration the API permission Office 365 Exchange Online > Application permissions > IMAP.AccessAsApp and grant admin consent)`},
		{"no POP permission", config.ProtocolPOP3OAuth2, nil, func() { idp.SetRoles() },
			`login as "journal" with XOAUTH2: AUTH XOAUTH2: server said: -ERR [AUTH] Authentication failed. (status 401) (hint: the access token has no POP.AccessAsApp role`},
		{"no mailbox permission", config.ProtocolPOP3OAuth2, nil, func() { idp.SetMailboxAccess(false) },
			`(hint: the app has POP.AccessAsApp but no access to mailbox "journal": in Exchange Online PowerShell run New-ServicePrincipal for the app, then Add-MailboxPermission -Identity "journal" -User <service principal id> -AccessRights FullAccess; username must be that mailbox's address)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp.SetRoles("IMAP.AccessAsApp", "POP.AccessAsApp")
			idp.SetMailboxAccess(true)
			if tc.setup != nil {
				tc.setup()
			}
			acct := srv.OAuth2Account("m365", tc.proto, config.SecurityTLS)
			if tc.modify != nil {
				tc.modify(acct)
			}
			f := New(Options{Sink: &testSink{}, Logger: testLogger(t, nil)})
			_, err := f.Poll(context.Background(), acct)
			if !errors.Is(err, ErrPermanent) {
				t.Fatalf("Poll = %v; want a permanent error", err)
			}
			msg := strings.ReplaceAll(err.Error(), strings.TrimPrefix(idp.URL, "http://"), "127.0.0.1:PORT")
			if !strings.HasPrefix(msg, "fetch m365: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("Poll error:\n%s\nwant one line starting \"fetch m365: \" and holding\n%s", msg, tc.want)
			}
			if strings.Contains(msg, idp.ClientSecret) || strings.Contains(msg, "wrong~secret") || strings.Contains(msg, "eyJ") {
				t.Fatalf("error shows a secret or token: %s", msg)
			}
			t.Log(msg)
		})
	}
}

// TestOAuth2TokenEndpointDown: errors of the token endpoint's server and of
// the network are temporary.
func TestOAuth2TokenEndpointDown(t *testing.T) {
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, tc := range []struct{ url, want string }{
		{busy.URL + "/t/oauth2/v2.0/token", "HTTP 503 Service Unavailable: busy"},
		{down.URL + "/t/oauth2/v2.0/token", "connection refused"},
	} {
		acct := &config.Account{Name: "m365", Protocol: config.ProtocolIMAPOAuth2, Server: "127.0.0.1:1",
			Username: "journal", ClientID: "c", ClientSecret: config.NewSecret("s"), TokenURL: tc.url}
		f := New(Options{Sink: &testSink{}})
		_, _, err := f.token(context.Background(), acct)
		if err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("token from %s = %v; want a temporary error with %q", tc.url, err, tc.want)
		}
		t.Log(err)
	}
}

func TestTokenRoles(t *testing.T) {
	for _, tc := range []struct {
		token string
		roles []string
		ok    bool
	}{
		{"opaque-token", nil, false},
		{"a.b.c", nil, false},
		{"eyJhbGciOiJub25lIn0.eyJyb2xlcyI6WyJJTUFQLkFjY2Vzc0FzQXBwIl19.sig", []string{"IMAP.AccessAsApp"}, true},
		{"eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.sig", nil, true},
	} {
		roles, ok := tokenRoles(tc.token)
		if ok != tc.ok || !slices.Equal(roles, tc.roles) {
			t.Errorf("tokenRoles(%q) = %v, %v; want %v, %v", tc.token, roles, ok, tc.roles, tc.ok)
		}
	}
}
