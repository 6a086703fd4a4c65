package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"jarchive/archive"
	"jarchive/audit"
	"jarchive/config"
	"jarchive/directory"
	"jarchive/index"
)

//go:embed templates/*.html static/*
var assets embed.FS

// AccountStatus is what the accounts page shows of one fetched account.
type AccountStatus struct {
	Account     string    `json:"account"`
	Protocol    string    `json:"protocol"`
	Server      string    `json:"server"`
	State       string    `json:"state"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Messages    int64     `json:"messages"`
	Bytes       int64     `json:"bytes"`
	TooLarge    int       `json:"too_large"`
}

// Options are what a Server works with. Archive, Index, Audit, Config and
// Directory are required.
type Options struct {
	Archive *archive.Archive
	Index   *index.Index
	Audit   *audit.Log
	// Tokens are the API tokens; nil: none are accepted.
	Tokens *Tokens
	// Config returns the configuration in force: the users' password
	// hashes, [directory.ldap], [http] and the archive's time zone.
	Config func() *config.Config
	// Directory returns the directory in force: users and roles.
	Directory func() *directory.Directory
	// DirectoryStatus, if set, describes the directory for admins.
	DirectoryStatus func() directory.Status
	// Accounts, if set, returns the state of the fetched accounts.
	Accounts func() []AccountStatus
	// Retention, if set, tells what the next retention run would delete
	// (admins see it on the accounts page and in /api/v1/stats); nil
	// status: retention is not configured.
	Retention func(ctx context.Context) (*RetentionStatus, error)
	// Authenticate checks a password against LDAP; default
	// directory.Authenticate.
	Authenticate func(ctx context.Context, cfg *config.LDAP, dn, password string) error
	Logger       *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// RetentionStatus is the effect the next retention run would have, as
// things are now.
type RetentionStatus struct {
	Schedule    string `json:"schedule"`           // off, daily or weekly
	WouldDelete int    `json:"would_delete"`       // messages
	Bytes       int64  `json:"would_delete_bytes"` // their size
	Held        int    `json:"held"`               // messages a hold keeps that would go otherwise
	Holds       int    `json:"holds"`              // active legal holds
	Error       string `json:"error,omitempty"`    // why the run cannot be planned
}

// Server is the web interface and API, an http.Handler.
type Server struct {
	opts     Options
	logger   *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	userLim  *limiter
	ipLim    *limiter
}

// New returns the web interface.
func New(opts Options) (*Server, error) {
	if opts.Archive == nil || opts.Index == nil || opts.Audit == nil || opts.Config == nil || opts.Directory == nil {
		return nil, errors.New("web: Archive, Index, Audit, Config and Directory are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Authenticate == nil {
		opts.Authenticate = directory.Authenticate
	}
	s := &Server{
		opts:     opts,
		logger:   opts.Logger,
		mux:      http.NewServeMux(),
		sessions: newSessions(),
		userLim:  newLimiter(5, time.Minute),
		ipLim:    newLimiter(20, time.Minute),
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// perm is what a route requires of its caller.
type perm int

const (
	permPublic  perm = iota // no login: the login page, style sheet
	permLogin               // any caller: search and messages, scoped to what they may see
	permAuditor             // all mail, export, the audit trail
	permAdmin               // accounts, directory, users
	permStats               // auditor or admin
)

func (p perm) allows(r config.Role) bool {
	switch p {
	case permPublic, permLogin:
		return true
	case permAuditor:
		return r.SeesAll()
	case permAdmin:
		return r.IsAdmin()
	case permStats:
		return r.SeesAll() || r.IsAdmin()
	}
	return false
}

// handlerFunc is a handler that knows its caller (nil on public routes).
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal)

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	s.mux.Handle("GET /static/", s.secure(fileServer))

	s.route("GET /{$}", permPublic, false, func(w http.ResponseWriter, r *http.Request, _ *principal) {
		http.Redirect(w, r, "/search", http.StatusSeeOther)
	})
	s.route("GET /login", permPublic, false, s.loginPage)
	s.route("POST /login", permPublic, false, s.login)
	s.route("POST /logout", permLogin, false, s.logout)
	s.route("GET /search", permLogin, false, s.searchPage)
	s.route("GET /messages/{id}", permLogin, false, s.message(s.messagePage))
	s.route("GET /messages/{id}/body.html", permLogin, false, s.message(s.messageHTML))
	s.route("GET /messages/{id}/raw", permLogin, false, s.message(s.raw))
	s.route("GET /messages/{id}/attachments/{n}", permLogin, false, s.message(s.attachment))
	s.route("POST /export", permAuditor, false, s.export)
	s.route("GET /audit", permAuditor, false, s.auditPage)
	s.route("GET /accounts", permAdmin, false, s.accountsPage)
	s.route("GET /tokens", permAdmin, false, s.tokensPage)
	s.route("POST /tokens", permAdmin, false, s.createToken)
	s.route("POST /tokens/revoke", permAdmin, false, s.revokeToken)

	s.route("GET /api/v1/search", permLogin, true, s.apiSearch)
	s.route("GET /api/v1/messages/{id}", permLogin, true, s.message(s.apiMessage))
	s.route("GET /api/v1/messages/{id}/raw", permLogin, true, s.message(s.raw))
	s.route("GET /api/v1/messages/{id}/attachments/{n}", permLogin, true, s.message(s.attachment))
	s.route("GET /api/v1/stats", permStats, true, s.apiStats)
	s.route("GET /api/v1/accounts", permAdmin, true, s.apiAccounts)
	s.mux.Handle("/api/", s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such endpoint")
	})))
	s.mux.Handle("/", s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "there is no such page")
	})))
}

// route registers h for pattern behind the one authorization check every
// handler gets: the caller is identified (session cookie, or for api
// routes also a bearer token), must be logged in unless the route is
// public, and must have the role the route needs. POST routes other than
// the login also need the session's CSRF token.
func (s *Server) route(pattern string, need perm, api bool, h handlerFunc) {
	s.mux.Handle(pattern, s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if need == permPublic {
			h(w, r, nil)
			return
		}
		p, status := s.identify(r, api)
		if p == nil {
			if api {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jarchive"`)
				apiError(w, status, "log in or send \"Authorization: Bearer TOKEN\"")
				return
			}
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !need.allows(p.Role) {
			s.record(r, p, audit.ActionAccess, r.Method+" "+r.URL.Path, audit.Denied, "the route needs another role")
			s.fail(w, r, api, http.StatusForbidden, "your role does not allow this")
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(r, p) {
			s.record(r, p, audit.ActionAccess, r.Method+" "+r.URL.Path, audit.Denied, "missing or wrong CSRF token")
			s.fail(w, r, api, http.StatusForbidden, "the form has expired or did not come from this site: reload the page and try again")
			return
		}
		h(w, r, p)
	})))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// pageCSP is the Content-Security-Policy of every page.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// secure sets the headers every response gets.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		if s.isHTTPS(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// cfg is the configuration in force.
func (s *Server) cfg() *config.Config { return s.opts.Config() }

// location is the archive's time zone.
func (s *Server) location() *time.Location {
	if l := s.cfg().Archive.Location; l != nil {
		return l
	}
	return time.Local
}

// clientIP is the address of the client: the connection's peer, or, when
// that is a trusted proxy, the last address of X-Forwarded-For that is
// not one.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if net.ParseIP(h) == nil {
			break
		}
		host = h
		if !s.trusted(h) {
			break
		}
	}
	return host
}

func (s *Server) trusted(host string) bool {
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range s.cfg().HTTP.Networks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// isHTTPS reports whether the client's connection is TLS: ours, or a
// trusted proxy's that says so.
func (s *Server) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return s.trusted(host) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// record appends to the audit log; a failure is logged (the request has
// been answered or is being answered).
func (s *Server) record(r *http.Request, p *principal, action, target, outcome, detail string) {
	e := audit.Entry{Remote: s.clientIP(r), Action: action, Target: target, Outcome: outcome, Detail: detail}
	if p != nil {
		e.Actor, e.Role = p.actor(), p.Role.String()
	}
	if _, err := s.opts.Audit.Append(e); err != nil {
		s.logger.Error("web: audit log", "err", err, "action", action)
	}
}

// fail answers an error: JSON for the API, a page otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, api bool, status int, msg string) {
	if api {
		apiError(w, status, msg)
		return
	}
	s.errorPage(w, r, status, msg)
}

func (s *Server) now() time.Time { return s.opts.Now() }
