package dovecottest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// OAuth2 is a test identity provider on 127.0.0.1. It plays the Microsoft
// identity platform's client-credentials token endpoint
//
//	POST /TENANT/oauth2/v2.0/token  grant_type=client_credentials, client_id, client_secret, scope
//
// answering {"token_type":"Bearer","expires_in":N,"access_token":JWT} or
// Microsoft's errors (a wrong secret gives HTTP 401 invalid_client
// AADSTS7000215), and the token introspection endpoint Dovecot's oauth2
// passdb asks (POST /introspect, token=...).
//
// Access tokens are unsigned JWTs with Microsoft's claims, among them the
// roles of the app (its application permissions, by default IMAP.AccessAsApp
// and POP.AccessAsApp). Introspection finds a token active when it was
// issued here, has not expired or been revoked, carries at least one role,
// and the app has access to the mailbox (SetMailboxAccess); as in Exchange
// Online, the login then fails otherwise.
type OAuth2 struct {
	URL          string // http://127.0.0.1:PORT
	TokenURL     string // URL/TENANT/oauth2/v2.0/token
	TenantID     string
	ClientID     string
	ClientSecret string
	Scope        string // the only scope granted

	user string // the mailbox the tokens may open

	mu             sync.Mutex
	tokens         map[string]issued
	expiresIn      time.Duration
	roles          []string
	mailboxAccess  bool
	tokenRequests  int
	introspections int
}

type issued struct {
	expiry  time.Time
	roles   []string
	revoked bool
}

func startOAuth2(t testing.TB, user string) *OAuth2 {
	o := &OAuth2{
		TenantID:      "11111111-2222-3333-4444-555555555555",
		ClientID:      "66666666-7777-8888-9999-000000000000",
		ClientSecret:  "test~client~secret",
		Scope:         "https://outlook.office365.com/.default",
		user:          user,
		tokens:        map[string]issued{},
		expiresIn:     time.Hour,
		roles:         []string{"IMAP.AccessAsApp", "POP.AccessAsApp"},
		mailboxAccess: true,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", o.token)
	mux.HandleFunc("POST /introspect", o.introspect)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	o.TokenURL = srv.URL + "/" + o.TenantID + "/oauth2/v2.0/token"
	return o
}

// SetExpiresIn sets the lifetime of the tokens issued from now on.
func (o *OAuth2) SetExpiresIn(d time.Duration) {
	o.mu.Lock()
	o.expiresIn = d
	o.mu.Unlock()
}

// SetRoles sets the roles (application permissions) of the tokens issued
// from now on.
func (o *OAuth2) SetRoles(roles ...string) {
	o.mu.Lock()
	o.roles = roles
	o.mu.Unlock()
}

// SetMailboxAccess says whether the app may open the mailbox
// (Add-MailboxPermission in Exchange Online).
func (o *OAuth2) SetMailboxAccess(ok bool) {
	o.mu.Lock()
	o.mailboxAccess = ok
	o.mu.Unlock()
}

// RevokeAll makes every token issued so far inactive.
func (o *OAuth2) RevokeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range o.tokens {
		v.revoked = true
		o.tokens[k] = v
	}
}

// TokenRequests is the number of requests to the token endpoint.
func (o *OAuth2) TokenRequests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tokenRequests
}

// Introspections is the number of introspection requests (logins).
func (o *OAuth2) Introspections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.introspections
}

// aadError answers like the Microsoft identity platform does.
func aadError(w http.ResponseWriter, status int, code, aadsts, text string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("%s: %s\r\nTrace ID: 0f1e2d3c-0000-0000-0000-000000000000\r\n"+
			"Correlation ID: 0a1b2c3d-0000-0000-0000-000000000000\r\nTimestamp: %s", aadsts, text, time.Now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes": []int{0},
		"timestamp":   time.Now().UTC().Format("2006-01-02 15:04:05Z"),
	})
}

func (o *OAuth2) token(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.tokenRequests++
	o.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144", "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	switch {
	case r.PathValue("tenant") != o.TenantID:
		aadError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002", fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant")))
	case f.Get("grant_type") != "client_credentials":
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type.")
	case f.Get("client_id") != o.ClientID:
		aadError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016",
			fmt.Sprintf("Application with identifier '%s' was not found in the directory.", f.Get("client_id")))
	case f.Get("client_secret") != o.ClientSecret:
		aadError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215",
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+o.ClientID+"'.")
	case f.Get("scope") != o.Scope:
		aadError(w, http.StatusBadRequest, "invalid_scope", "AADSTS70011", fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", f.Get("scope")))
	default:
		o.mu.Lock()
		exp := o.expiresIn
		roles := slices.Clone(o.roles)
		now := time.Now()
		tok := o.jwt(now, exp, roles)
		o.tokens[tok] = issued{expiry: now.Add(exp), roles: roles}
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{
			"token_type":     "Bearer",
			"expires_in":     int(exp.Seconds()),
			"ext_expires_in": int(exp.Seconds()),
			"access_token":   tok,
		})
	}
}

// jwt makes an unsigned access token with Microsoft's claims.
func (o *OAuth2) jwt(now time.Time, exp time.Duration, roles []string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	jti := make([]byte, 12)
	rand.Read(jti)
	claims := map[string]any{
		"aud":   "https://outlook.office.com",
		"iss":   "https://sts.windows.net/" + o.TenantID + "/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(exp).Unix(),
		"appid": o.ClientID,
		"tid":   o.TenantID,
		"roles": roles,
		"uti":   base64.RawURLEncoding.EncodeToString(jti),
	}
	sig := make([]byte, 32)
	rand.Read(sig)
	return enc(map[string]string{"typ": "JWT", "alg": "RS256"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (o *OAuth2) introspect(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	o.mu.Lock()
	o.introspections++
	it, ok := o.tokens[tok]
	active := ok && !it.revoked && time.Now().Before(it.expiry) && len(it.roles) > 0 && o.mailboxAccess
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !active {
		json.NewEncoder(w).Encode(map[string]string{"active": "false"})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"active": "true", "username": o.user})
}
