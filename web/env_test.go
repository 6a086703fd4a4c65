package web

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"jarchive/archive"
	"jarchive/audit"
	"jarchive/config"
	"jarchive/directory"
	"jarchive/index"
	"jarchive/journal"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery"

// env is a web server over a small archive with five users:
// anna and bob (user), audrey (auditor), adam (admin), root
// (auditor+admin).
type env struct {
	t      *testing.T
	dir    string
	cfg    *config.Config
	srv    *Server
	ts     *httptest.Server
	arc    *archive.Archive
	idx    *index.Index
	log    *audit.Log
	tokens *Tokens
	now    time.Time
	ids    map[string]string // name -> message id
}

// The messages of the test archive.
var testMessages = map[string]string{
	// anna writes to bob: both own it.
	"anna-bob": "From: Anna Berg <anna@contoso.com>\r\nTo: Bob Stone <bob@contoso.com>\r\nSubject: Quarterly numbers\r\n" +
		"Date: Mon, 05 Feb 2024 10:00:00 +0100\r\nMessage-ID: <q1@contoso.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hi Bob, the numbers are attached.\r\n--b1\r\nContent-Type: application/pdf; name=\"numbers.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"numbers.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--b1--\r\n",
	// Only bob's.
	"bob-only": "From: Carl <carl@fabrikam.com>\r\nTo: bob@contoso.com\r\nSubject: Private offer\r\n" +
		"Date: Tue, 06 Feb 2024 11:00:00 +0100\r\nMessage-ID: <p1@fabrikam.com>\r\n\r\nFor Bob only.\r\n",
	// Hostile content, to anna.
	"xss": "From: \"<img src=x onerror=alert('from')>\" <mallory@evil.example>\r\nTo: anna@contoso.com\r\n" +
		"Subject: <script>alert('subject')</script>\r\nDate: Wed, 07 Feb 2024 12:00:00 +0100\r\nMessage-ID: <x1@evil.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=xx\r\n\r\n--xx\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain\r\n\r\n<script>alert('text')</script>\r\n--alt\r\nContent-Type: text/html\r\n\r\n" +
		"<p onclick=\"alert('click')\">Hello<script>alert('html')</script><img src=\"https://evil.example/track.png\" onerror=\"alert('img')\">" +
		"<a href=\"javascript:alert('link')\">x</a><a href=\"https://evil.example/\">remote</a><iframe src=\"https://evil.example/\"></iframe>" +
		"<img src=\"data:image/png;base64,iVBORw0KGgo=\"></p>\r\n--alt--\r\n" +
		"--xx\r\nContent-Type: text/plain; name=\"<svg onload=alert('att')>.txt\"\r\nContent-Disposition: attachment; filename=\"<svg onload=alert('att')>.txt\"\r\n\r\n" +
		"<script>alert('attachment')</script>\r\n--xx--\r\n",
	// A journal report: bob in Bcc, julia through a group, pat forwarded.
	"journal": "X-MS-Journal-Report:\r\nFrom: Anna Berg <anna@contoso.com>\r\nSubject: Board agenda\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"jr\"\r\n\r\n--jr\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
		"Sender: anna@contoso.com\r\nSubject: Board agenda\r\nMessage-Id: <b1@contoso.com>\r\nTo: julia@contoso.com, Expanded: sales@contoso.com\r\n" +
		"Cc: pat@contoso.com, Forwarded: victor@contoso.com\r\nBcc: bob@contoso.com\r\n\r\n--jr\r\nContent-Type: message/rfc822\r\n\r\n" +
		"From: Anna Berg <anna@contoso.com>\r\nTo: sales@contoso.com\r\nSubject: Board agenda\r\nDate: Thu, 08 Feb 2024 09:00:00 +0100\r\n" +
		"Message-ID: <b1@contoso.com>\r\n\r\nThe agenda.\r\n\r\n--jr--\r\n",
	// No one's.
	"unassigned": "From: x@outside.example\r\nTo: y@outside.example\r\nSubject: Nobody's mail\r\nDate: Fri, 09 Feb 2024 09:00:00 +0100\r\n" +
		"Message-ID: <u1@outside.example>\r\n\r\nStray.\r\n",
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	toml := "[archive]\ndir = \"" + dir + "\"\ntime_zone = \"Europe/Berlin\"\n[http]\nlisten = \"127.0.0.1:0\"\nsession_ttl = \"10m\"\n"
	for _, u := range []struct{ name, addr, role string }{
		{"anna", "anna@contoso.com", "user"}, {"bob", "bob@contoso.com", "user"}, {"audrey", "audrey@contoso.com", "auditor"},
		{"adam", "adam@contoso.com", "admin"}, {"root", "root@contoso.com", "auditor+admin"},
		{"julia", "julia@contoso.com", "user"}, {"pat", "pat@contoso.com", "user"},
	} {
		toml += "[[users]]\nname = \"" + u.name + "\"\naddresses = [\"" + u.addr + "\"]\nrole = \"" + u.role + "\"\npassword_hash = \"" + string(hash) + "\"\n"
	}
	cfg, err := config.Parse(filepath.Join(dir, "jarchive.toml"), []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	d := directory.Build(cfg, nil)
	e := &env{t: t, dir: dir, cfg: cfg, now: time.Now(), ids: map[string]string{}}
	e.arc = archive.TestOpen(t, filepath.Join(dir, "archive"), archive.Options{})
	e.idx, err = index.Open(filepath.Join(dir, "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.idx.Close() })
	b := e.idx.Batch()
	for name, msg := range testMessages {
		r := bytes.NewReader([]byte(msg))
		envl := journal.Parse(r, int64(len(msg)), config.EnvelopeMode{})
		owners := d.Owners(directory.Parties{Sender: envl.Sender, OnBehalfOf: envl.OnBehalfOf, Recipients: envl.Recipients})
		id, _, err := e.arc.Put(context.Background(), &archive.Incoming{Body: r, Size: int64(len(msg)), Envelope: envl,
			Source: archive.Source{Account: "test", Path: name + ".eml", Fetched: time.Now()}, Owners: owners})
		if err != nil {
			t.Fatal(err)
		}
		e.ids[name] = id
		rec, err := e.arc.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.arc.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		doc := &index.Document{ID: id, Date: rec.Header.Date, From: rec.Header.From, To: rec.Header.To, Cc: rec.Header.Cc,
			Sender: rec.Sender, Subject: rec.Header.Subject, Size: rec.Size, MessageID: rec.MessageID,
			Body: bytes.NewReader(body), BodySize: int64(len(body)), Owners: []string{directory.Unassigned}}
		if len(rec.Owners) > 0 {
			doc.Owners = nil
			for _, o := range rec.Owners {
				doc.Owners = append(doc.Owners, strings.ToLower(o))
			}
		}
		for _, rc := range rec.Recipients {
			doc.Rcpt = append(doc.Rcpt, rc.Addr)
		}
		if err := b.Add(doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(1); err != nil {
		t.Fatal(err)
	}
	e.log, err = audit.Open(filepath.Join(dir, audit.File))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.log.Close() })
	e.tokens = OpenTokens(filepath.Join(dir, TokensFile))
	e.srv, err = New(Options{Archive: e.arc, Index: e.idx, Audit: e.log, Tokens: e.tokens,
		Config: func() *config.Config { return cfg }, Directory: func() *directory.Directory { return d },
		DirectoryStatus: func() directory.Status { return directory.Status{Source: "file", Users: 7} },
		Accounts: func() []AccountStatus {
			return []AccountStatus{{Account: "m365-journal", Protocol: "imap", Server: "outlook.office365.com:993", State: "waiting", Messages: 5}}
		},
		Retention: func(context.Context) (*RetentionStatus, error) {
			return &RetentionStatus{Schedule: "daily", WouldDelete: 17, Bytes: 4096, Held: 2, Holds: 1}, nil
		},
		Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close)
	return e
}

// client is a browser: a cookie jar, redirects not followed.
type client struct {
	e *env
	c *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in as user and returns the client; it fails the test unless
// the login works.
func (e *env) login(user string) *client {
	e.t.Helper()
	c := e.client()
	if code := c.tryLogin(user, testPassword); code != http.StatusSeeOther {
		e.t.Fatalf("login as %s: status %d; want 303", user, code)
	}
	return c
}

// tryLogin posts the login form and returns the status.
func (c *client) tryLogin(user, password string) int {
	c.e.t.Helper()
	_, body := c.get("/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.e.t.Fatalf("no csrf token in the login page:\n%s", body)
	}
	code, _ := c.post("/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}})
	return code
}

// csrf returns the session's CSRF token from the search page.
func (c *client) csrf() string {
	c.e.t.Helper()
	_, body := c.get("/search")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.e.t.Fatalf("no csrf token in the search page")
	}
	return m[1]
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.e.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (int, string) {
	c.e.t.Helper()
	req, _ := http.NewRequest("GET", c.e.ts.URL+path, nil)
	resp, body := c.do(req)
	return resp.StatusCode, body
}

func (c *client) post(path string, form url.Values) (int, string) {
	c.e.t.Helper()
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := c.do(req)
	return resp.StatusCode, body
}

// bearer does a GET with an API token.
func (e *env) bearer(token, path string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// auditRecords returns the audit log's records, oldest first.
func (e *env) auditRecords() []audit.Record {
	e.t.Helper()
	recs, _, err := audit.Tail(e.log.Path(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

func init() {
	// Unknown users are checked against a hash of the cheapest cost in
	// tests, as the test users' are.
	dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.MinCost)
}

// TestDummyHash: the hash unknown users are checked against costs what a
// real user's does (the tests above use a cheaper one).
func TestDummyHash(t *testing.T) {
	if cost, err := bcrypt.Cost([]byte(dummyHashDefault)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("bcrypt.Cost(dummyHashDefault) = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(dummyHashDefault), []byte("no such user")); err != nil {
		t.Errorf("dummyHashDefault is not the hash of %q: %v", "no such user", err)
	}
}

func parseNetForTest(s string) (*net.IPNet, error) {
	_, n, err := net.ParseCIDR(s)
	return n, err
}
