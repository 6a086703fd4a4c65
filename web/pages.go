package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"jarchive/archive"
	"jarchive/audit"
	"jarchive/index"
)

// queryHelp is the query language, as the search page explains it.
var queryHelp = [][2]string{
	{"invoice", "the word anywhere: subject, body, attachments, names and addresses"},
	{`"signed agreement"`, "the exact phrase"},
	{"invoic*", "words starting with invoic"},
	{"from:anna  from:contoso.com", "the sender, by address, local part, domain or name"},
	{"to:  cc:", "the To and Cc headers"},
	{"bcc:", "envelope Bcc recipients"},
	{"rcpt:", "any envelope recipient, group members included"},
	{"subject:  body:", "the subject, the body text"},
	{"attachment:  filename:", "an attachment's name or text; any part's file name"},
	{"has:attachment", "messages with an attachment"},
	{"after:2024-01-31  before:2024-02", "dates (after: includes the day, before: excludes it)"},
	{"larger:5MB  smaller:200KB", "size"},
	{"id:3f2a9c01  msgid:<x@y>", "a message id (prefix), the Message-ID header"},
	{"-word  a OR b  ( )", "exclude; either; grouping"},
}

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.In(s.location()).Format("2006-01-02 15:04")
		},
		"fulldate": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.In(s.location()).Format("Mon, 02 Jan 2006 15:04:05 -0700")
		},
		"size": humanSize,
		"join": strings.Join,
		"first": func(l []string) string {
			if len(l) == 0 {
				return "-"
			}
			if len(l) > 1 {
				return l[0] + " +" + strconv.Itoa(len(l)-1)
			}
			return l[0]
		},
	}
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"login", "search", "message", "audit", "accounts", "tokens", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("web: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

// page is what every page template gets.
type page struct {
	Title   string
	User    string
	Role    string
	Auditor bool
	Admin   bool
	CSRF    string
	Data    any
}

// render writes the page name with data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *principal, data any) {
	pg := page{Title: name, Data: data}
	if p != nil {
		pg.User, pg.Role, pg.Auditor, pg.Admin = p.actor(), p.Role.String(), p.Role.SeesAll(), p.Role.IsAdmin()
		if p.Session != nil {
			pg.CSRF = p.Session.csrf
		}
	}
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, pg); err != nil {
		s.logger.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p, _ := s.identify(r, false)
	s.render(w, r, status, "error", p, map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

// searchPage is the search box, the query help and, with q, the results.
func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, p *principal) {
	v := r.URL.Query()
	data := map[string]any{"Q": v.Get("q"), "Sort": v.Get("sort"), "As": v.Get("as"), "Help": queryHelp}
	if !v.Has("q") {
		s.render(w, r, http.StatusOK, "search", p, data)
		return
	}
	q, err := s.query(p, v)
	if err != nil {
		data["Error"] = err.Error()
		s.record(r, p, audit.ActionSearch, v.Get("q"), audit.Failure, err.Error())
		s.render(w, r, http.StatusBadRequest, "search", p, data)
		return
	}
	res, err := s.search(r.Context(), p, q)
	var qe *index.QueryError
	if errors.As(err, &qe) {
		data["Error"] = qe.Error()
		data["Caret"] = qe.Caret()
		s.record(r, p, audit.ActionSearch, q.Text, audit.Failure, qe.Error())
		s.render(w, r, http.StatusBadRequest, "search", p, data)
		return
	} else if err != nil {
		s.logger.Error("web: search", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "the search failed")
		return
	}
	s.record(r, p, audit.ActionSearch, q.Text, audit.Success, fmt.Sprintf("%d hits", res.Total))
	data["Results"] = res
	if res.Next != "" {
		nv := url.Values{"q": {q.Text}, "after": {res.Next}}
		if v.Get("sort") != "" {
			nv.Set("sort", v.Get("sort"))
		}
		if v.Get("as") != "" {
			nv.Set("as", v.Get("as"))
		}
		data["NextURL"] = "/search?" + nv.Encode()
	}
	s.render(w, r, http.StatusOK, "search", p, data)
}

// query reads the search parameters q, as, sort, after and limit.
func (s *Server) query(p *principal, v url.Values) (index.Query, error) {
	scope, err := s.scope(p, v.Get("as"))
	if err != nil {
		return index.Query{}, err
	}
	sort, err := parseSort(v.Get("sort"))
	if err != nil {
		return index.Query{}, err
	}
	limit := index.DefaultLimit
	if l := v.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > index.MaxLimit {
			return index.Query{}, fmt.Errorf("limit %q is not a number from 1 to %d", l, index.MaxLimit)
		}
	}
	return index.Query{Text: v.Get("q"), Scope: scope, Sort: sort, Limit: limit, After: v.Get("after"), Location: s.location()}, nil
}

// messagePage shows a message: header, envelope, body and attachments.
func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, p *principal, rec *archive.Record) {
	c, err := s.content(rec)
	if err != nil {
		s.logger.Error("web: read message", "msg_id", rec.ID, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "the message cannot be read")
		return
	}
	s.record(r, p, audit.ActionView, rec.ID, audit.Success, "")
	s.render(w, r, http.StatusOK, "message", p, map[string]any{"Rec": rec, "Content": c})
}

// content reads the body and attachment list of rec.
func (s *Server) content(rec *archive.Record) (*content, error) {
	rc, err := s.opts.Archive.Open(rec.ID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readContent(rc), nil
}

// htmlPolicy keeps formatting and nothing that runs or loads: no scripts,
// styles sheets, event handlers, forms or frames, and only data: images
// and mailto: links.
var htmlPolicy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "div",
		"dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q",
		"s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul")
	p.AllowStandardAttributes()
	p.AllowAttrs("align", "valign", "width", "height", "bgcolor", "border", "cellpadding", "cellspacing", "colspan", "rowspan").Globally()
	p.AllowAttrs("color", "face", "size").OnElements("font")
	p.AllowAttrs("alt", "src").OnElements("img")
	p.AllowDataURIImages()
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	return p
}()

// frameCSP is the policy of a message's HTML: a sandbox without scripts,
// nothing loaded but inline styles and data: images.
const frameCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

// messageHTML is the sanitized HTML body, for the sandboxed frame of the
// message page.
func (s *Server) messageHTML(w http.ResponseWriter, r *http.Request, p *principal, rec *archive.Record) {
	c, err := s.content(rec)
	if err != nil {
		s.logger.Error("web: read message", "msg_id", rec.ID, "err", err)
		http.Error(w, "the message cannot be read", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", frameCSP)
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, "<!DOCTYPE html><meta charset=\"utf-8\"><base target=\"_blank\">")
	io.WriteString(w, htmlPolicy.Sanitize(c.HTML))
}

// raw sends the original message, byte for byte, as a download.
func (s *Server) raw(w http.ResponseWriter, r *http.Request, p *principal, rec *archive.Record) {
	rc, err := s.opts.Archive.Open(rec.ID)
	if err != nil {
		s.logger.Error("web: read message", "msg_id", rec.ID, "err", err)
		s.fail(w, r, strings.HasPrefix(r.URL.Path, "/api/"), http.StatusInternalServerError, "the message cannot be read")
		return
	}
	defer rc.Close()
	s.record(r, p, audit.ActionDownload, rec.ID, audit.Success, "")
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": rec.ID + ".eml"}))
	w.Header().Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	if _, err := io.Copy(w, rc); err != nil {
		s.logger.Warn("web: send message", "msg_id", rec.ID, "err", err)
	}
}

// attachment sends attachment n as a download.
func (s *Server) attachment(w http.ResponseWriter, r *http.Request, p *principal, rec *archive.Record) {
	api := strings.HasPrefix(r.URL.Path, "/api/")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		s.fail(w, r, api, http.StatusNotFound, "no such attachment")
		return
	}
	rc, err := s.opts.Archive.Open(rec.ID)
	if err != nil {
		s.logger.Error("web: read message", "msg_id", rec.ID, "err", err)
		s.fail(w, r, api, http.StatusInternalServerError, "the message cannot be read")
		return
	}
	defer rc.Close()
	found, err := openAttachment(rc, n, func(a Attachment, body io.Reader) error {
		s.record(r, p, audit.ActionAttachment, rec.ID+"#"+strconv.Itoa(n), audit.Success, a.Filename)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", contentDisposition(a.Filename))
		_, err := io.Copy(w, body)
		return err
	})
	if !found {
		if err != nil {
			s.logger.Warn("web: attachment", "msg_id", rec.ID, "n", n, "err", err)
		}
		s.fail(w, r, api, http.StatusNotFound, "no such attachment")
	}
}

// contentDisposition makes a download header for a file name from a
// message: control characters and path separators are replaced.
func contentDisposition(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	if h := mime.FormatMediaType("attachment", map[string]string{"filename": name}); h != "" {
		return h
	}
	return "attachment"
}

// auditPage shows the latest records of the audit trail.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, p *principal) {
	recs, total, err := audit.Tail(s.opts.Audit.Path(), 500)
	if err != nil {
		s.logger.Error("web: audit page", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "the audit trail cannot be read")
		return
	}
	s.record(r, p, audit.ActionAudit, "", audit.Success, "")
	s.render(w, r, http.StatusOK, "audit", p, map[string]any{"Records": recs, "Total": total})
}

// accountsPage shows the accounts, the directory and the users.
func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, p *principal) {
	data := s.accountsData(r.Context())
	s.record(r, p, audit.ActionAccounts, "", audit.Success, "")
	s.render(w, r, http.StatusOK, "accounts", p, data)
}

// accountsData is what the accounts page and API show.
type accountsData struct {
	Accounts  []AccountStatus `json:"accounts"`
	Fetching  bool            `json:"fetching"` // this process fetches
	Directory *dirStatus      `json:"directory,omitempty"`
	Users     []userLine      `json:"users"`
	// Retention is the next retention run's effect; nil when retention
	// is not configured.
	Retention *RetentionStatus `json:"retention,omitempty"`
}

type dirStatus struct {
	Source    string    `json:"source"`
	Server    string    `json:"server,omitempty"`
	Synced    time.Time `json:"synced,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Pending   bool      `json:"reassignment_pending"`
	Users     int       `json:"users"`
	Warnings  int       `json:"warnings"`
}

type userLine struct {
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	Addresses []string `json:"addresses,omitempty"`
	Login     string   `json:"login"` // password, ldap or none
}

func (s *Server) accountsData(ctx context.Context) *accountsData {
	out := &accountsData{Accounts: []AccountStatus{}, Users: []userLine{}}
	out.Retention = s.retention(ctx)
	if s.opts.Accounts != nil {
		out.Fetching = true
		out.Accounts = append(out.Accounts, s.opts.Accounts()...)
	}
	if s.opts.DirectoryStatus != nil {
		st := s.opts.DirectoryStatus()
		out.Directory = &dirStatus{Source: st.Source, Server: st.Server, Synced: st.Synced, Pending: st.Pending, Users: st.Users, Warnings: st.Warnings}
		if st.LastErr != nil {
			out.Directory.LastError = st.LastErr.Error()
		}
	}
	cfg := s.cfg()
	hashes := map[string]bool{}
	for _, u := range cfg.Users {
		if u.PasswordHash != "" {
			hashes[strings.ToLower(u.Name)] = true
		}
	}
	d := s.opts.Directory()
	if !d.IsImplicit() {
		for _, u := range d.Users() {
			login := "none"
			switch {
			case hashes[strings.ToLower(u.Name)]:
				login = "password"
			case u.DN != "" && cfg.Directory.LDAP.Enabled():
				login = "ldap"
			}
			out.Users = append(out.Users, userLine{Name: u.Name, Role: u.Role.String(), Addresses: u.Addresses, Login: login})
		}
	}
	return out
}

// humanSize formats a byte count.
func humanSize(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1000*1000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 0, 64) + " kB"
	case n < 1000*1000*1000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
}

func itoa(n int) string { return strconv.Itoa(n) }

// retention returns the next retention run's effect, nil when retention
// is not configured; a failure to plan is in its Error.
func (s *Server) retention(ctx context.Context) *RetentionStatus {
	if s.opts.Retention == nil {
		return nil
	}
	rs, err := s.opts.Retention(ctx)
	if err != nil {
		s.logger.Error("web: retention", "err", err)
		return &RetentionStatus{Error: "the next run cannot be planned: see the log"}
	}
	return rs
}
