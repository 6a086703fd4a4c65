package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"jarchive/audit"
	"jarchive/config"
	"jarchive/directory"
)

// Cookie names.
const (
	sessionCookie = "jarchive_session"
	loginCookie   = "jarchive_login" // the login form's CSRF token
)

// principal is who makes a request.
type principal struct {
	Name    string      // the user's name; for a token without a user, ""
	Role    config.Role // as the directory (or the token) says now
	Session *session    // nil for a token
	Token   string      // the token's name
}

// actor is the name the audit trail gives the caller.
func (p *principal) actor() string {
	switch {
	case p.Token != "" && p.Name != "":
		return p.Name + " (token " + p.Token + ")"
	case p.Token != "":
		return "token " + p.Token
	}
	return p.Name
}

// identify finds the caller of r: a bearer token (api routes) or a
// session. The role is the directory's at this moment, so a user removed
// or demoted loses access at once. The status is for a failure.
func (s *Server) identify(r *http.Request, api bool) (*principal, int) {
	if auth := r.Header.Get("Authorization"); api && auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || s.opts.Tokens == nil {
			return nil, http.StatusUnauthorized
		}
		t, ok := s.opts.Tokens.Check(strings.TrimSpace(tok))
		if !ok {
			return nil, http.StatusUnauthorized
		}
		p := &principal{Name: t.User, Role: t.Role, Token: t.Name}
		if t.User != "" {
			u, ok := s.opts.Directory().Lookup(t.User)
			if !ok {
				return nil, http.StatusUnauthorized
			}
			p.Name = u.Name
		}
		return p, 0
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, http.StatusUnauthorized
	}
	sess := s.sessions.get(c.Value, s.now(), s.ttl())
	if sess == nil {
		return nil, http.StatusUnauthorized
	}
	u, ok := s.opts.Directory().Lookup(sess.user)
	if !ok {
		s.sessions.remove(c.Value)
		return nil, http.StatusUnauthorized
	}
	return &principal{Name: u.Name, Role: u.Role, Session: sess}, 0
}

func (s *Server) ttl() time.Duration {
	if t := s.cfg().HTTP.SessionTTL; t > 0 {
		return time.Duration(t)
	}
	return time.Duration(config.DefaultSessionTTL)
}

// session is one login.
type session struct {
	id      string
	user    string
	csrf    string
	created time.Time
	mu      sync.Mutex
	seen    time.Time
}

// sessions are the sessions of the server, in memory.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create(user string, now time.Time) *session {
	sess := &session{id: randomToken(), user: user, csrf: randomToken(), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.m[sess.id] = sess
	// Drop expired sessions now and then.
	if len(ss.m)%64 == 0 {
		for id, o := range ss.m {
			o.mu.Lock()
			old := now.Sub(o.seen) > 30*24*time.Hour
			o.mu.Unlock()
			if old {
				delete(ss.m, id)
			}
		}
	}
	return sess
}

// get returns the session with id if it has not expired, and marks it
// used.
func (ss *sessions) get(id string, now time.Time, ttl time.Duration) *session {
	ss.mu.Lock()
	sess := ss.m[id]
	ss.mu.Unlock()
	if sess == nil {
		return nil
	}
	sess.mu.Lock()
	expired := now.Sub(sess.seen) > ttl
	if !expired {
		sess.seen = now
	}
	sess.mu.Unlock() // before remove: create locks ss.mu, then a session's mu
	if expired {
		ss.remove(id)
		return nil
	}
	return sess
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// checkCSRF compares the form's csrf field with the session's token.
func (s *Server) checkCSRF(r *http.Request, p *principal) bool {
	if p.Session == nil {
		return false // tokens do not post forms
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.csrf)) == 1
}

// setCookie sets a cookie of the interface: HttpOnly, SameSite=Lax,
// Secure over HTTPS.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.isHTTPS(r), SameSite: http.SameSiteLaxMode})
}

// loginPage shows the login form with a fresh CSRF token in a cookie.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, _ *principal) {
	s.showLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, user, msg string) {
	tok := randomToken()
	s.setCookie(w, r, loginCookie, tok, 3600)
	s.render(w, r, status, "login", nil, map[string]any{"CSRF": tok, "User": user, "Error": msg, "Next": safeNext(r.FormValue("next"))})
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/search"
	}
	return next
}

// dummyHash is compared against for unknown users, so that a login takes
// as long whether the user exists or not: the bcrypt hash, at the default
// cost, of "no such user". A constant: making it at start cost every
// command of the binary 47 ms (a CLI search took 67 ms, 20 without).
var dummyHash = []byte(dummyHashDefault)

const dummyHashDefault = "$2a$10$ve8AsjDMwb8k7MMS8s1Ed.An2Xg8pXjEcch06WgmftTaLozVcd01m"

// errLoginFailed is what any failed login says, whatever the reason.
var errLoginFailed = errors.New("wrong user name or password")

// login checks the form, the rate limits and the password, and starts a
// session.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *principal) {
	name := strings.TrimSpace(r.PostFormValue("user"))
	password := r.PostFormValue("password")
	ip := s.clientIP(r)
	c, err := r.Cookie(loginCookie)
	if err != nil || r.PostFormValue("csrf") == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.record(r, nil, audit.ActionLogin, name, audit.Denied, "missing or wrong CSRF token")
		s.showLogin(w, r, http.StatusForbidden, name, "The form has expired: please try again.")
		return
	}
	now := s.now()
	// Limits count per user, whichever of their names or addresses is
	// given.
	userKey := strings.ToLower(name)
	if u, ok := s.opts.Directory().Lookup(name); ok && name != "" {
		userKey = strings.ToLower(u.Name)
	}
	if ok, wait := s.userLim.allow(userKey, now); !ok {
		s.loginLimited(w, r, name, wait, "user")
		return
	}
	if ok, wait := s.ipLim.allow(ip, now); !ok {
		s.loginLimited(w, r, name, wait, "address")
		return
	}
	u, err := s.checkPassword(r, name, password)
	if err != nil {
		s.userLim.fail(userKey, now)
		s.ipLim.fail(ip, now)
		detail := "wrong user name or password"
		if !errors.Is(err, errLoginFailed) {
			detail = err.Error()
			s.logger.Error("web: login", "user", name, "err", err)
		}
		s.record(r, nil, audit.ActionLogin, name, audit.Failure, detail)
		msg := "Wrong user name or password."
		if !errors.Is(err, errLoginFailed) {
			msg = "The directory cannot be reached: please try again later."
		}
		s.showLogin(w, r, http.StatusUnauthorized, name, msg)
		return
	}
	s.userLim.reset(userKey)
	sess := s.sessions.create(u.Name, now)
	s.setCookie(w, r, sessionCookie, sess.id, 0)
	s.setCookie(w, r, loginCookie, "", -1)
	s.record(r, &principal{Name: u.Name, Role: u.Role}, audit.ActionLogin, u.Name, audit.Success, "")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) loginLimited(w http.ResponseWriter, r *http.Request, name string, wait time.Duration, what string) {
	s.record(r, nil, audit.ActionLogin, name, audit.Denied, "too many failed logins from this "+what)
	w.Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
	s.showLogin(w, r, http.StatusTooManyRequests, name, "Too many failed logins: try again in "+wait.Round(time.Second).String()+".")
}

// checkPassword verifies a login: the bcrypt hash of the user's [[users]]
// entry, else a bind to the directory as the user's entry.
func (s *Server) checkPassword(r *http.Request, name, password string) (directory.User, error) {
	u, ok := s.opts.Directory().Lookup(name)
	if name == "" || password == "" || !ok || s.opts.Directory().IsImplicit() {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return directory.User{}, errLoginFailed
	}
	cfg := s.cfg()
	for _, cu := range cfg.Users {
		if strings.EqualFold(cu.Name, u.Name) && cu.PasswordHash != "" {
			if bcrypt.CompareHashAndPassword([]byte(cu.PasswordHash), []byte(password)) != nil {
				return directory.User{}, errLoginFailed
			}
			return u, nil
		}
	}
	if cfg.Directory.LDAP.Enabled() && u.DN != "" {
		err := s.opts.Authenticate(r.Context(), &cfg.Directory.LDAP, u.DN, password)
		if errors.Is(err, directory.ErrBadCredentials) {
			return directory.User{}, errLoginFailed
		}
		if err != nil {
			return directory.User{}, err
		}
		return u, nil
	}
	bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
	return directory.User{}, errLoginFailed
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.Session != nil {
		s.sessions.remove(p.Session.id)
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	s.record(r, p, audit.ActionLogout, "", audit.Success, "")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// limiter is a token bucket per key for failed logins: burst attempts,
// then one per every.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// refill brings b up to now; callers hold l.mu.
func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.last = now
	}
}

// allow reports whether key may try now, and if not how long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return true, 0
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// fail takes a token of key's bucket.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) > 100000 {
			// Forget the buckets that are full again.
			for k, o := range l.buckets {
				if l.refill(o, now); o.tokens >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens = max(b.tokens-1, 0)
}

// reset forgets key (a successful login of the user).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
