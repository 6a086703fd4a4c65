package web

import (
	"fmt"
	"net/http"
	"strings"

	"jarchive/audit"
	"jarchive/config"
)

// tokensPage lists the API tokens (admins).
func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, p *principal) {
	s.showTokens(w, r, p, http.StatusOK, "", "", "")
}

func (s *Server) showTokens(w http.ResponseWriter, r *http.Request, p *principal, status int, created, secret, msg string) {
	data := map[string]any{"Created": created, "Secret": secret, "Error": msg, "Self": p.Name}
	if s.opts.Tokens != nil {
		list, err := s.opts.Tokens.List()
		if err != nil {
			s.logger.Error("web: tokens", "err", err)
			msg = "the token file cannot be read"
		}
		data["Tokens"], data["Error"] = list, msg
	}
	s.render(w, r, status, "tokens", p, data)
}

// canGrant reports why p may not make a token of role for user, or "".
// Nobody gives a token more than they have: an admin who is not an
// auditor makes admin or user tokens for themselves only.
func canGrant(p *principal, role config.Role, user string) string {
	if role&^p.Role != 0 {
		return fmt.Sprintf("you cannot give a token the role %s, which you do not have", role)
	}
	if !p.Role.SeesAll() && user != "" && !strings.EqualFold(user, p.Name) {
		return "only auditors make tokens that act as another user"
	}
	return ""
}

// createToken makes an API token and shows its secret once (admins).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *principal) {
	if s.opts.Tokens == nil {
		s.errorPage(w, r, http.StatusNotFound, "API tokens are not enabled")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	user := strings.TrimSpace(r.PostFormValue("user"))
	var role config.Role
	if err := role.UnmarshalText([]byte(r.PostFormValue("role"))); err != nil {
		s.showTokens(w, r, p, http.StatusBadRequest, "", "", "role: "+err.Error())
		return
	}
	if user != "" {
		u, ok := s.opts.Directory().Lookup(user)
		if !ok {
			s.showTokens(w, r, p, http.StatusBadRequest, "", "", fmt.Sprintf("no such user %q", user))
			return
		}
		user = u.Name
	}
	if msg := canGrant(p, role, user); msg != "" {
		s.record(r, p, audit.ActionTokenCreate, name, audit.Denied, msg)
		s.showTokens(w, r, p, http.StatusForbidden, "", "", msg)
		return
	}
	secret, err := s.opts.Tokens.Add(name, role, user, p.actor()+" (web)", s.now())
	if err != nil {
		s.record(r, p, audit.ActionTokenCreate, name, audit.Failure, err.Error())
		s.showTokens(w, r, p, http.StatusBadRequest, "", "", err.Error())
		return
	}
	detail := "role " + role.String()
	if user != "" {
		detail += ", user " + user
	}
	s.record(r, p, audit.ActionTokenCreate, name, audit.Success, detail)
	s.showTokens(w, r, p, http.StatusOK, name, secret, "")
}

// revokeToken removes an API token (admins).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *principal) {
	if s.opts.Tokens == nil {
		s.errorPage(w, r, http.StatusNotFound, "API tokens are not enabled")
		return
	}
	name := r.PostFormValue("name")
	if err := s.opts.Tokens.Revoke(name); err != nil {
		s.record(r, p, audit.ActionTokenRevoke, name, audit.Failure, err.Error())
		s.showTokens(w, r, p, http.StatusBadRequest, "", "", err.Error())
		return
	}
	s.record(r, p, audit.ActionTokenRevoke, name, audit.Success, "")
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
}
