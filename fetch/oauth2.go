package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"jarchive/config"
)

// OAuth2 (protocols imap-oauth2 and pop3-oauth2) is the client-credentials
// flow of the Microsoft identity platform (RFC 6749 section 4.4): the
// account's client_id and client_secret buy an access token for scope
// (https://outlook.office365.com/.default) at token_url, and the token
// logs in as the mailbox username with SASL XOAUTH2
// ("user=NAME^Aauth=Bearer TOKEN^A^A"). Tokens are cached per account and
// fetched again tokenMargin before they expire; a login that fails with a
// cached token is retried once with a new one.

const (
	// tokenTimeout bounds one request to the token endpoint.
	tokenTimeout = 30 * time.Second
	// defaultTokenMargin: a token that expires sooner than this is not
	// used any more (Microsoft's live 60 to 90 minutes).
	defaultTokenMargin = 5 * time.Minute
)

// tokenCache holds one account's access token.
type tokenCache struct {
	key string // hash of what the token was got with
	mu  sync.Mutex
	tok *oauth2.Token
}

// tokenKey identifies the settings a token was got with, so that a
// changed secret or tenant does not reuse an old token.
func tokenKey(acct *config.Account) string {
	h := sha256.New()
	for _, s := range []string{acct.TenantID, acct.ClientID, acct.ClientSecret.Reveal(), acct.OAuth2TokenURL(), acct.OAuth2Scope()} {
		fmt.Fprintf(h, "%d:%s,", len(s), s)
	}
	return string(h.Sum(nil))
}

// token returns an access token for the account; fresh is true when it was
// just got from the token endpoint rather than from the cache.
func (f *Fetcher) token(ctx context.Context, acct *config.Account) (token string, fresh bool, err error) {
	key := tokenKey(acct)
	v, _ := f.tokens.Load(acct.Name)
	tc, _ := v.(*tokenCache)
	if tc == nil || tc.key != key {
		tc = &tokenCache{key: key}
		f.tokens.Store(acct.Name, tc)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.tok != nil && (tc.tok.Expiry.IsZero() || time.Until(tc.tok.Expiry) > f.tokenMargin) {
		return tc.tok.AccessToken, false, nil
	}
	conf := clientcredentials.Config{
		ClientID:     acct.ClientID,
		ClientSecret: acct.ClientSecret.Reveal(),
		TokenURL:     acct.OAuth2TokenURL(),
		Scopes:       []string{acct.OAuth2Scope()},
		// Microsoft documents the secret in the form body.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	hctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	hctx = context.WithValue(hctx, oauth2.HTTPClient, f.httpClient)
	tok, err := conf.Token(hctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, ctx.Err()
		}
		return "", false, tokenError(acct, err)
	}
	if tok.AccessToken == "" {
		return "", false, permanent(fmt.Errorf("oauth2 token from %s: the answer holds no access_token", urlHost(conf.TokenURL)))
	}
	f.log.Debug("got an oauth2 access token", "account", acct.Name, "expiry", tok.Expiry)
	tc.tok = tok
	return tok.AccessToken, true, nil
}

// dropToken forgets the account's cached token.
func (f *Fetcher) dropToken(acct *config.Account) {
	if v, ok := f.tokens.Load(acct.Name); ok {
		tc := v.(*tokenCache)
		tc.mu.Lock()
		tc.tok = nil
		tc.mu.Unlock()
	}
}

var aadstsRE = regexp.MustCompile(`\bAADSTS[0-9]+\b`)

// tokenHints are what to do about the Microsoft identity platform's
// errors, by AADSTS code.
var tokenHints = map[string]string{
	"AADSTS7000215": "client_secret is wrong: use the secret's Value (shown once, when it is created under Certificates & secrets), not its Secret ID",
	"AADSTS7000222": "the client secret has expired: create a new one under Certificates & secrets of the app registration and update client_secret",
	"AADSTS700016":  "no application with this client_id in the tenant: client_id is the app registration's Application (client) ID, tenant_id its Directory (tenant) ID",
	"AADSTS90002":   "tenant_id is wrong: use the Directory (tenant) ID shown on the app registration's overview",
	"AADSTS900023":  "tenant_id is wrong: use the Directory (tenant) ID shown on the app registration's overview",
	"AADSTS90013":   "tenant_id is wrong: use the Directory (tenant) ID shown on the app registration's overview",
	"AADSTS70011":   "scope is not valid: for Exchange Online it is https://outlook.office365.com/.default",
	"AADSTS1002012": "scope is not valid: for Exchange Online it is https://outlook.office365.com/.default",
	"AADSTS500011":  "scope names a resource the tenant does not have: for Exchange Online it is https://outlook.office365.com/.default",
	"AADSTS7000112": "the application is disabled in the tenant: enable it under Enterprise applications",
	"AADSTS7000218": "client_secret is missing in the request",
}

// tokenError turns an error of the token endpoint into one line for the
// admin, with a hint where the error is known. Errors of the server (5xx,
// 429) and of the network are temporary, the others permanent.
func tokenError(acct *config.Account, err error) error {
	host := urlHost(acct.OAuth2TokenURL())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("oauth2 token from %s: %w", host, err)
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "oauth2 token from %s: ", host)
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	desc := firstLine(re.ErrorDescription)
	switch {
	case re.ErrorCode != "" && desc != "":
		fmt.Fprintf(&msg, "%s: %s", re.ErrorCode, desc)
	case re.ErrorCode != "":
		msg.WriteString(re.ErrorCode)
	case re.Response != nil:
		fmt.Fprintf(&msg, "HTTP %s: %s", re.Response.Status, firstLine(truncate(re.Body, 200)))
	default:
		msg.WriteString(firstLine(re.Error()))
	}
	hint := tokenHints[aadstsRE.FindString(re.ErrorDescription)]
	if hint == "" && re.ErrorCode == "invalid_client" {
		hint = "check client_id and client_secret"
	}
	if hint == "" && re.ErrorCode == "invalid_scope" {
		hint = "scope is not valid: for Exchange Online it is https://outlook.office365.com/.default"
	}
	if hint != "" {
		fmt.Fprintf(&msg, " (hint: %s)", hint)
	}
	e := errors.New(msg.String())
	if status >= 500 || status == 429 || status == 408 {
		return e
	}
	return permanent(e)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

func urlHost(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

// xoauth2Response is the client response of SASL XOAUTH2.
func xoauth2Response(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

// xoauth2Client is SASL XOAUTH2 for go-imap's Authenticate (it has the
// methods of go-sasl's Client). An error challenge (a JSON object) is kept
// for the error message. It should be answered with an empty response, but
// go-imap sends an empty response as "=", which servers reject as bad
// base64; a single %x01, the error answer of OAUTHBEARER (RFC 7628
// section 3.2.3), makes the server end the exchange with NO.
type xoauth2Client struct {
	ir        []byte
	challenge []byte
}

func (x *xoauth2Client) Start() (string, []byte, error) { return "XOAUTH2", x.ir, nil }

func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	x.challenge = challenge
	return []byte{1}, nil
}

// tokenRoles returns the roles claim of a JWT access token (Microsoft's
// are JWTs; the app's application permissions are its roles). ok is false
// when the token is not a readable JWT.
func tokenRoles(token string) (roles []string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		return nil, false
	}
	return claims.Roles, true
}

// oauthLoginError explains a login with a valid token that the mail server
// refused. proto is "IMAP" or "POP": the application permission needed is
// proto + ".AccessAsApp".
func oauthLoginError(acct *config.Account, proto, token string, challenge []byte, err error) error {
	role := proto + ".AccessAsApp"
	var hint string
	roles, ok := tokenRoles(token)
	switch {
	case ok && !slices.Contains(roles, role):
		hint = fmt.Sprintf("the access token has no %s role: give the app registration the API permission "+
			"Office 365 Exchange Online > Application permissions > %s and grant admin consent", role, role)
	case ok:
		hint = fmt.Sprintf("the app has %s but no access to mailbox %q: in Exchange Online PowerShell run "+
			"New-ServicePrincipal for the app, then Add-MailboxPermission -Identity %q -User <service principal id> -AccessRights FullAccess; "+
			"username must be that mailbox's address", role, acct.Username, acct.Username)
	default:
		hint = fmt.Sprintf("the app needs the application permission %s (Office 365 Exchange Online) with admin consent, "+
			"and its service principal FullAccess to mailbox %q (New-ServicePrincipal, Add-MailboxPermission); "+
			"username must be that mailbox's address", role, acct.Username)
	}
	detail := ""
	var ch struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(challenge, &ch) == nil && ch.Status != "" {
		detail = fmt.Sprintf(" (status %s)", ch.Status)
	}
	return fmt.Errorf("login as %q with XOAUTH2: %w%s (hint: %s)", acct.Username, err, detail, hint)
}
