package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"jarchive/audit"
	"jarchive/config"
	"jarchive/directory"
)

// guessedID is a well-formed id of no message.
const guessedID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestRoles: every role against every handler, including messages of other
// users (404, exactly as for ids that do not exist).
func TestRoles(t *testing.T) {
	e := newEnv(t)
	roles := []string{"anon", "anna", "bob", "audrey", "adam", "root"}
	clients := map[string]*client{"anon": e.client()}
	for _, r := range roles[1:] {
		clients[r] = e.login(r)
	}
	const (
		ok  = http.StatusOK
		nf  = http.StatusNotFound
		fb  = http.StatusForbidden
		lg  = http.StatusSeeOther // to the login page
		una = http.StatusUnauthorized
	)
	type want [6]int // anon, anna, bob, audrey, adam, root
	msgRoutes := []string{"/messages/%s", "/messages/%s/raw", "/messages/%s/attachments/1", "/messages/%s/body.html",
		"/api/v1/messages/%s", "/api/v1/messages/%s/raw", "/api/v1/messages/%s/attachments/1"}
	cases := []struct {
		path string
		want want
	}{
		{"/search", want{lg, ok, ok, ok, ok, ok}},
		{"/search?q=numbers", want{lg, ok, ok, ok, ok, ok}},
		{"/audit", want{lg, fb, fb, ok, fb, ok}},
		{"/accounts", want{lg, fb, fb, fb, ok, ok}},
		{"/api/v1/search?q=", want{una, ok, ok, ok, ok, ok}},
		{"/api/v1/stats", want{una, fb, fb, ok, ok, ok}},
		{"/api/v1/accounts", want{una, fb, fb, fb, ok, ok}},
		{"/api/v1/nothing", want{nf, nf, nf, nf, nf, nf}},
		{"/static/style.css", want{ok, ok, ok, ok, ok, ok}},
	}
	// Who sees each message: anna-bob (anna, bob), bob-only (bob),
	// journal (anna, bob as Bcc), unassigned (no one), and guessed ids.
	sees := map[string]want{
		"anna-bob":   {lg, ok, ok, ok, nf, ok},
		"bob-only":   {lg, nf, ok, ok, nf, ok},
		"journal":    {lg, ok, ok, ok, nf, ok},
		"unassigned": {lg, nf, nf, ok, nf, ok},
		"guessed":    {lg, nf, nf, nf, nf, nf},
		"short":      {lg, nf, nf, nf, nf, nf},
	}
	for name, w := range sees {
		id := e.ids[name]
		switch name {
		case "guessed":
			id = guessedID
		case "short":
			id = e.ids["bob-only"][:16] // a prefix is not an id here
		}
		for _, route := range msgRoutes {
			ww := w
			if strings.HasPrefix(route, "/api/") && ww[0] == lg {
				ww[0] = una
			}
			// Messages without attachments: 404 from whoever may see them.
			if strings.Contains(route, "attachments") && name != "anna-bob" {
				for i := range ww {
					if ww[i] == ok {
						ww[i] = nf
					}
				}
			}
			cases = append(cases, struct {
				path string
				want want
			}{fmt.Sprintf(route, id), ww})
		}
	}
	for _, tc := range cases {
		for i, role := range roles {
			code, body := clients[role].get(tc.path)
			if code != tc.want[i] {
				t.Errorf("%s GET %s: status %d; want %d\n%.300s", role, tc.path, code, tc.want[i], body)
			}
			if code == http.StatusNotFound && strings.Contains(tc.path, "/messages/") {
				// The same answer for "not yours" and "does not exist".
				if strings.Contains(body, "Private offer") || strings.Contains(body, "Stray") {
					t.Errorf("%s GET %s: the 404 shows the message", role, tc.path)
				}
			}
		}
	}
	// Admins see the accounts, the directory and the users.
	if _, page := clients["adam"].get("/accounts"); !strings.Contains(page, "m365-journal") || !strings.Contains(page, "<td>root</td><td>auditor&#43;admin</td>") ||
		!strings.Contains(page, "password") {
		t.Errorf("accounts page lacks the account or the users:\n%s", page)
	}
	// ... and the next retention run's effect, also in /api/v1/stats.
	if _, page := clients["adam"].get("/accounts"); !strings.Contains(page, "would delete 17 messages (4 kB)") || !strings.Contains(page, "1 active, keeping 2 messages") {
		t.Errorf("accounts page lacks the retention summary:\n%s", page)
	}
	if _, body := clients["adam"].get("/api/v1/stats"); !strings.Contains(body, `"would_delete": 17,`) {
		t.Errorf("/api/v1/stats lacks the retention summary: %s", body)
	}
	// The 404 of someone else's message is byte for byte the 404 of a
	// message that does not exist.
	_, other := clients["anna"].get("/api/v1/messages/" + e.ids["bob-only"])
	_, none := clients["anna"].get("/api/v1/messages/" + guessedID)
	if other != none {
		t.Errorf("404 bodies differ:\n%s\n%s", other, none)
	}

	// Searches are scoped: anna finds her mail only.
	for role, want := range map[string]int{"anna": 3, "bob": 3, "audrey": 5, "adam": 0, "root": 5} {
		_, body := clients[role].get("/api/v1/search?q=")
		var res results
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatalf("%s: %v\n%s", role, err, body)
		}
		if int(res.Total) != want || len(res.Hits) != want {
			t.Errorf("%s: search total %d, %d hits; want %d", role, res.Total, len(res.Hits), want)
		}
	}
	// A user cannot widen the scope with as=; an auditor can narrow it.
	if code, _ := clients["anna"].get("/api/v1/search?q=&as=bob"); code != http.StatusForbidden {
		t.Errorf("anna searching as bob: %d; want 403", code)
	}
	_, body := clients["audrey"].get("/api/v1/search?q=&as=bob")
	if !strings.Contains(body, `"total": 3`) {
		t.Errorf("audrey as bob: %s; want 3 hits", body)
	}
	// The attachment marker.
	_, body = clients["anna"].get("/api/v1/search?q=numbers")
	if !strings.Contains(body, `"has_attachment": true`) || !strings.Contains(body, `"subject": "Quarterly numbers"`) {
		t.Errorf("search numbers: %s", body)
	}
}

// TestExportRoles: only auditors export, and only with the CSRF token.
func TestExport(t *testing.T) {
	e := newEnv(t)
	audrey := e.login("audrey")
	code, body := audrey.post("/export", url.Values{"csrf": {audrey.csrf()}, "q": {""}, "format": {"mbox"}})
	if code != http.StatusOK || !strings.HasPrefix(body, "PK") || !strings.Contains(body, "manifest.json") || !strings.Contains(body, "messages.mbox") {
		t.Fatalf("export: %d, %.200q", code, body)
	}
	anna := e.login("anna")
	if code, _ := anna.post("/export", url.Values{"csrf": {anna.csrf()}, "q": {""}, "format": {"mbox"}}); code != http.StatusForbidden {
		t.Errorf("anna's export: %d; want 403", code)
	}
	recs := e.auditRecords()
	last := recs[len(recs)-1]
	found := false
	for _, r := range recs {
		if r.Action == audit.ActionExport && r.Actor == "audrey" && r.Outcome == audit.Success && strings.HasPrefix(r.Detail, "5 of 5 messages") {
			found = true
		}
	}
	if !found || last.Actor != "anna" || last.Outcome != audit.Denied {
		t.Errorf("audit records: %+v", recs)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.login("audrey")
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"missing", url.Values{"q": {""}, "format": {"mbox"}}},
		{"wrong", url.Values{"csrf": {"x" + c.csrf()}, "q": {""}, "format": {"mbox"}}},
		{"other session's", url.Values{"csrf": {e.login("root").csrf()}, "q": {""}, "format": {"mbox"}}},
	} {
		if code, _ := c.post("/export", tc.form); code != http.StatusForbidden {
			t.Errorf("export with a %s token: %d; want 403", tc.name, code)
		}
		if code, _ := c.post("/logout", tc.form); code != http.StatusForbidden {
			t.Errorf("logout with a %s token: %d; want 403", tc.name, code)
		}
	}
	// The session still works, and logs out with the right token.
	if code, _ := c.get("/audit"); code != http.StatusOK {
		t.Fatalf("after refused posts: %d", code)
	}
	if code, _ := c.post("/logout", url.Values{"csrf": {c.csrf()}}); code != http.StatusSeeOther {
		t.Errorf("logout: %d", code)
	}
	if code, _ := c.get("/audit"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d; want 303 to the login page", code)
	}
	// The login form has its own token.
	c = e.client()
	c.get("/login")
	if code, _ := c.post("/login", url.Values{"user": {"anna"}, "password": {testPassword}}); code != http.StatusForbidden {
		t.Errorf("login without the form's token: %d; want 403", code)
	}
	if code, _ := c.post("/login", url.Values{"csrf": {"forged"}, "user": {"anna"}, "password": {testPassword}}); code != http.StatusForbidden {
		t.Errorf("login with a wrong token: %d; want 403", code)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.login("anna")
	e.now = e.now.Add(9 * time.Minute) // used: the session lives on
	if code, _ := c.get("/search"); code != http.StatusOK {
		t.Fatalf("after 9 minutes: %d", code)
	}
	e.now = e.now.Add(11 * time.Minute) // session_ttl is 10m
	if code, _ := c.get("/search"); code != http.StatusSeeOther {
		t.Errorf("after 11 idle minutes: %d; want 303 to the login page", code)
	}
	if code, _ := c.get("/api/v1/search?q="); code != http.StatusUnauthorized {
		t.Errorf("API after expiry: %d; want 401", code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for i := range 5 {
		if code := c.tryLogin("anna", "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d; want 401", i+1, code)
		}
	}
	// Locked out, even with the right password, and under another of her
	// names.
	if code := c.tryLogin("anna", testPassword); code != http.StatusTooManyRequests {
		t.Errorf("6th attempt: %d; want 429", code)
	}
	if code := c.tryLogin("Anna@Contoso.com", "wrong"); code != http.StatusTooManyRequests {
		t.Errorf("7th attempt, by address: %d; want 429", code)
	}
	// Other users are not locked out (the address has attempts left).
	if code := c.tryLogin("bob", testPassword); code != http.StatusSeeOther {
		t.Errorf("bob: %d; want 303", code)
	}
	// A minute later anna has one attempt.
	e.now = e.now.Add(time.Minute)
	if code := c.tryLogin("anna", testPassword); code != http.StatusSeeOther {
		t.Errorf("a minute later: %d; want 303", code)
	}
	// Per address: 20 failures over many names lock the address.
	c = e.client()
	for i := range 20 {
		c.tryLogin(fmt.Sprintf("nobody%d", i), "x")
	}
	if code := c.tryLogin("root", testPassword); code != http.StatusTooManyRequests {
		t.Errorf("after 20 failures from one address: %d; want 429", code)
	}
	var fails, denied int
	for _, r := range e.auditRecords() {
		if r.Action == audit.ActionLogin && r.Outcome == audit.Failure {
			fails++
		}
		if r.Action == audit.ActionLogin && r.Outcome == audit.Denied {
			denied++
		}
	}
	// anna's 5 failures count for the address too: with the minute's
	// refill it had 16 attempts left for the 20 names, so 21 failures and
	// 7 refusals in all (anna's 2, 4 names, root's).
	if fails != 21 || denied != 7 {
		t.Errorf("audit: %d failed and %d denied logins; want 21 and 7", fails, denied)
	}
}

// TestXSS: hostile subject, sender name, body and attachment name are
// escaped or removed, never executable.
func TestXSS(t *testing.T) {
	e := newEnv(t)
	c := e.login("anna")
	id := e.ids["xss"]
	for _, path := range []string{"/search?q=", "/messages/" + id} {
		_, body := c.get(path)
		for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;") {
			t.Errorf("%s: the subject is not shown escaped", path)
		}
		if !strings.Contains(body, "&lt;img src=x onerror=alert(&#39;from&#39;)&gt;") {
			t.Errorf("%s: the sender's name is not shown escaped", path)
		}
	}
	_, page := c.get("/messages/" + id)
	if !strings.Contains(page, "&lt;svg onload=alert(&#39;att&#39;)&gt;.txt") || !strings.Contains(page, `<iframe class="body" sandbox=""`) {
		t.Errorf("message page: attachment name not escaped or no sandboxed frame:\n%s", page)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/messages/"+id+"/body.html", nil)
	resp, html := c.do(req)
	if got := resp.Header.Get("Content-Security-Policy"); got != frameCSP {
		t.Errorf("frame CSP %q; want %q", got, frameCSP)
	}
	for _, bad := range []string{"<script", "onclick", "onerror", "javascript:", "https://evil.example", "<iframe"} {
		if strings.Contains(html, bad) {
			t.Errorf("sanitized HTML contains %q:\n%s", bad, html)
		}
	}
	if !strings.Contains(html, "Hello") || !strings.Contains(html, `src="data:image/png;base64,iVBORw0KGgo="`) {
		t.Errorf("sanitized HTML lost its content:\n%q", html)
	}
	// The attachment is a download, never rendered.
	req, _ = http.NewRequest("GET", e.ts.URL+"/messages/"+id+"/attachments/1", nil)
	resp, att := c.do(req)
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") ||
		!strings.Contains(att, "<script>alert('attachment')</script>") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("attachment: %q, %q, %q", ct, cd, att)
	}
	// Every page has the strict policy.
	req, _ = http.NewRequest("GET", e.ts.URL+"/messages/"+id, nil)
	resp, _ = c.do(req)
	if got := resp.Header.Get("Content-Security-Policy"); got != pageCSP || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("page headers: CSP %q, Referrer-Policy %q", got, resp.Header.Get("Referrer-Policy"))
	}
}

// TestMessagePage: envelope recipients with their annotations, raw
// download byte for byte, attachment bytes.
func TestMessagePage(t *testing.T) {
	e := newEnv(t)
	c := e.login("bob")
	_, page := c.get("/messages/" + e.ids["journal"])
	for _, want := range []string{"Board agenda", "julia@contoso.com", "Expanded from sales@contoso.com", "Forwarded from victor@contoso.com",
		`bob@contoso.com <span class="tag bcc">Bcc</span>`, "The agenda."} {
		if !strings.Contains(page, want) {
			t.Errorf("journal message page lacks %q:\n%s", want, page)
		}
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/messages/"+e.ids["anna-bob"]+"/raw", nil)
	resp, raw := c.do(req)
	if raw != testMessages["anna-bob"] || resp.Header.Get("Content-Type") != "message/rfc822" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename=`+e.ids["anna-bob"]+`.eml` {
		t.Errorf("raw: %q %q\n%q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), raw)
	}
	_, pdf := c.get("/messages/" + e.ids["anna-bob"] + "/attachments/1")
	if pdf != "%PDF-1.4\n%\xc7\xec\x8f\xa2\n" {
		t.Errorf("attachment bytes %q", pdf)
	}
	_, meta := c.get("/api/v1/messages/" + e.ids["anna-bob"])
	var m messageMeta
	if err := json.Unmarshal([]byte(meta), &m); err != nil || m.Subject != "Quarterly numbers" || len(m.Attachments) != 1 ||
		m.Attachments[0].Filename != "numbers.pdf" || m.Attachments[0].Size != 15 || m.Owners != nil {
		t.Errorf("metadata: %v\n%s", err, meta)
	}
}

// TestTokens: API access with a bearer token, scoped to its role.
func TestTokens(t *testing.T) {
	e := newEnv(t)
	aud, err := e.tokens.Add("backup", config.RoleAuditor, "", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	user, err := e.tokens.Add("bob-script", config.RoleUser, "bob", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens.Add("nobody", config.RoleUser, "", "test", time.Now()); err == nil {
		t.Errorf("a user token without a user was made")
	}
	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{aud, "/api/v1/messages/" + e.ids["unassigned"], http.StatusOK},
		{aud, "/api/v1/stats", http.StatusOK},
		{aud, "/api/v1/accounts", http.StatusForbidden},
		{user, "/api/v1/messages/" + e.ids["bob-only"], http.StatusOK},
		{user, "/api/v1/messages/" + e.ids["unassigned"], http.StatusNotFound},
		{user, "/api/v1/stats", http.StatusForbidden},
		{"jat_wrong", "/api/v1/search?q=", http.StatusUnauthorized},
		{aud, "/search", http.StatusSeeOther}, // tokens are for the API only
	} {
		if code, body := e.bearer(tc.token, tc.path); code != tc.want {
			t.Errorf("token %.8s… GET %s: %d; want %d\n%s", tc.token, tc.path, code, tc.want, body)
		}
	}
	if err := e.tokens.Revoke("backup"); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.bearer(aud, "/api/v1/stats"); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d; want 401", code)
	}
	list, _ := e.tokens.List()
	if len(list) != 1 || list[0].Name != "bob-script" || strings.Contains(fmt.Sprint(list), user) {
		t.Errorf("List() = %+v", list)
	}
	var found bool
	for _, r := range e.auditRecords() {
		if r.Actor == "bob (token bob-script)" && r.Action == audit.ActionView {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit record of the token's view")
	}
}

// TestAuditTrail: the actions land in a valid chain, with who and where.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	e.client().tryLogin("anna", "wrong")
	c := e.login("anna")
	c.get("/search?q=numbers")
	c.get("/messages/" + e.ids["anna-bob"])
	c.get("/messages/" + e.ids["anna-bob"] + "/raw")
	c.get("/messages/" + e.ids["bob-only"])
	root := e.login("root")
	root.get("/audit")
	var got []string
	for _, r := range e.auditRecords() {
		if r.Remote != "127.0.0.1" {
			t.Errorf("record %d: remote %q", r.Seq, r.Remote)
		}
		got = append(got, r.Actor+" "+r.Action+" "+r.Outcome)
	}
	want := []string{" login failure", "anna login success", "anna search success", "anna view success", "anna download success",
		"anna view not found", "root login success", "root audit-read success"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, page := root.get("/audit")
	if !strings.Contains(page, "numbers") || !strings.Contains(page, e.ids["bob-only"]) {
		t.Errorf("audit page lacks the search or the refused view")
	}
	rep, err := audit.Verify(e.log.Path())
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("Verify: %+v, %v", rep, err)
	}
}

// TestTrustedProxy: X-Forwarded-For and -Proto count only from a trusted
// proxy.
func TestTrustedProxy(t *testing.T) {
	e := newEnv(t)
	req := func(remote string) *http.Request {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote + ":1234"
		r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.5")
		r.Header.Set("X-Forwarded-Proto", "https")
		return r
	}
	if got := e.srv.clientIP(req("198.51.100.1")); got != "198.51.100.1" {
		t.Errorf("untrusted: client %q", got)
	}
	if e.srv.isHTTPS(req("198.51.100.1")) {
		t.Errorf("untrusted proxy made the request https")
	}
	n, _ := parseNetForTest("10.0.0.0/8")
	e.cfg.HTTP.Networks = append(e.cfg.HTTP.Networks, n)
	if got := e.srv.clientIP(req("10.0.0.1")); got != "203.0.113.9" {
		t.Errorf("trusted: client %q; want 203.0.113.9", got)
	}
	if !e.srv.isHTTPS(req("10.0.0.1")) {
		t.Errorf("trusted proxy's https not seen")
	}
}

// TestUnknownPaths: unknown pages and endpoints are 404 with the security
// headers.
func TestUnknownPaths(t *testing.T) {
	e := newEnv(t)
	c := e.login("anna")
	for _, path := range []string{"/nothing", "/messages", "/api/v1/messages", "/static/nothing.css"} {
		req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
		resp, _ := c.do(req)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Security-Policy") != pageCSP {
			t.Errorf("GET %s: %d, CSP %q; want 404 with the page policy", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestLDAPLogin: a directory user without a password_hash logs in by a
// bind as their entry.
func TestLDAPLogin(t *testing.T) {
	e := newEnv(t)
	cfg, err := config.Parse(filepath.Join(e.dir, "ldap.toml"), []byte("[archive]\ndir = \""+e.dir+"\"\n[http]\nlisten = \"127.0.0.1:0\"\n"+
		"[directory.ldap]\nurl = \"ldap://127.0.0.1:1\"\nbase_dn = \"dc=contoso,dc=com\"\nauditor_group = \"auditors\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := directory.Build(cfg, &directory.Snapshot{Users: []directory.User{
		{Name: "lena", Addresses: []string{"lena@contoso.com"}, DN: "uid=lena,dc=contoso,dc=com", Role: config.RoleAuditor},
		{Name: "nodn", Addresses: []string{"nodn@contoso.com"}},
	}})
	var binds []string
	srv, err := New(Options{Archive: e.arc, Index: e.idx, Audit: e.log, Config: func() *config.Config { return cfg },
		Directory: func() *directory.Directory { return d }, Now: func() time.Time { return e.now },
		Authenticate: func(_ context.Context, l *config.LDAP, dn, password string) error {
			binds = append(binds, dn)
			switch {
			case l.URL != "ldap://127.0.0.1:1":
				return errors.New("wrong server")
			case password == "down":
				return errors.New("ldap: connection refused")
			case dn == "uid=lena,dc=contoso,dc=com" && password == "lena-secret":
				return nil
			}
			return directory.ErrBadCredentials
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = srv
	for _, tc := range []struct {
		user, password string
		want           int
	}{
		{"lena", "lena-secret", http.StatusSeeOther},
		{"LENA@contoso.com", "lena-secret", http.StatusSeeOther}, // any name the directory knows
		{"lena", "wrong", http.StatusUnauthorized},
		{"lena", "down", http.StatusUnauthorized},
		{"nodn", "x", http.StatusUnauthorized},          // no entry to bind as
		{"anna", testPassword, http.StatusUnauthorized}, // not in this directory
	} {
		if code := e.client().tryLogin(tc.user, tc.password); code != tc.want {
			t.Errorf("login %s/%s: %d; want %d", tc.user, tc.password, code, tc.want)
		}
	}
	if want := "uid=lena,dc=contoso,dc=com"; len(binds) != 4 || binds[0] != want || binds[3] != want {
		t.Errorf("binds %q; want 4 as %s", binds, want)
	}
	c := e.client()
	c.tryLogin("lena", "lena-secret")
	if code, _ := c.get("/audit"); code != http.StatusOK {
		t.Errorf("lena (auditor by group) on /audit: %d", code)
	}
	recs := e.auditRecords()
	var sawDown bool
	for _, r := range recs {
		if r.Actor == "" && r.Target == "lena" && r.Outcome == audit.Failure && strings.Contains(r.Detail, "connection refused") {
			sawDown = true
		}
	}
	if !sawDown {
		t.Errorf("no audit record of the failed directory login")
	}
}

// TestTokenPages: admins make and revoke tokens in the browser, never
// with more than they have.
func TestTokenPages(t *testing.T) {
	e := newEnv(t)
	adam := e.login("adam")
	csrf := adam.csrf()
	secretRE := regexp.MustCompile(`<pre class="caret" id="secret">(jat_[^<]+)</pre>`)
	for _, tc := range []struct {
		form url.Values
		want int
	}{
		{url.Values{"name": {"mine"}, "role": {"admin"}, "user": {"adam"}}, http.StatusOK},
		{url.Values{"name": {"grab"}, "role": {"auditor"}}, http.StatusForbidden},                  // a role adam lacks
		{url.Values{"name": {"bobs"}, "role": {"user"}, "user": {"bob"}}, http.StatusForbidden},    // another user's mail
		{url.Values{"name": {"bad"}, "role": {"root"}}, http.StatusBadRequest},                     // no such role
		{url.Values{"name": {"mine"}, "role": {"admin"}, "user": {"adam"}}, http.StatusBadRequest}, // exists
	} {
		tc.form.Set("csrf", csrf)
		code, body := adam.post("/tokens", tc.form)
		if code != tc.want {
			t.Errorf("create %v: %d; want %d", tc.form, code, tc.want)
		}
		if code == http.StatusOK {
			m := secretRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no secret shown:\n%s", body)
			}
			if code, _ := e.bearer(m[1], "/api/v1/accounts"); code != http.StatusOK {
				t.Errorf("the new admin token on /api/v1/accounts: %d", code)
			}
			if code, _ := e.bearer(m[1], "/api/v1/messages/"+e.ids["bob-only"]); code != http.StatusNotFound {
				t.Errorf("the new admin token on bob's message: %d; want 404", code)
			}
		}
	}
	if code, _ := adam.post("/tokens/revoke", url.Values{"name": {"mine"}}); code != http.StatusForbidden {
		t.Errorf("revoke without CSRF: %d; want 403", code)
	}
	if code, _ := adam.post("/tokens/revoke", url.Values{"name": {"mine"}, "csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("revoke: %d; want 303", code)
	}
	if list, _ := e.tokens.List(); len(list) != 0 {
		t.Errorf("tokens left: %+v", list)
	}
	// Auditors who are admins may give any role and user.
	root := e.login("root")
	if code, _ := root.post("/tokens", url.Values{"csrf": {root.csrf()}, "name": {"bobs"}, "role": {"user"}, "user": {"bob"}}); code != http.StatusOK {
		t.Errorf("root making bob's token: %d", code)
	}
	if code, _ := e.login("audrey").get("/tokens"); code != http.StatusForbidden {
		t.Errorf("auditor on /tokens: %d; want 403", code)
	}
	var got []string
	for _, r := range e.auditRecords() {
		if strings.HasPrefix(r.Action, "token-") {
			got = append(got, r.Actor+" "+r.Action+" "+r.Target+" "+r.Outcome)
		}
	}
	want := "adam token-create mine success|adam token-create grab denied|adam token-create bobs denied|adam token-create mine failure|adam token-revoke mine success|root token-create bobs success"
	if strings.Join(got, "|") != want {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}
