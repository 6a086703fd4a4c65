package web

import (
	"errors"
	"net/http"
	"strings"

	"jarchive/archive"
	"jarchive/audit"
)

// canSee is the ownership rule, the same for every route that shows
// anything of a message: auditors see every message; everyone else (admins
// included) the messages they own.
func canSee(p *principal, rec *archive.Record) bool {
	if p.Role.SeesAll() {
		return true
	}
	if p.Name == "" {
		return false
	}
	for _, o := range rec.Owners {
		if strings.EqualFold(o, p.Name) {
			return true
		}
	}
	return false
}

// messageHandler is a handler of one message the caller may see.
type messageHandler func(w http.ResponseWriter, r *http.Request, p *principal, rec *archive.Record)

// message wraps the handler of a route with an {id}: it loads the message
// and answers 404 when there is none or the caller may not see it (the
// same answer, so that guessing ids tells nothing), before h runs.
func (s *Server) message(h messageHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		api := strings.HasPrefix(r.URL.Path, "/api/")
		id := r.PathValue("id")
		var rec *archive.Record
		err := archive.ErrNotFound
		if validID(id) {
			rec, err = s.opts.Archive.Get(id)
		}
		switch {
		case err == nil && canSee(p, rec):
			h(w, r, p, rec)
			return
		case err == nil:
			s.record(r, p, audit.ActionView, id, audit.NotFound, "not one of the caller's messages")
		case errors.Is(err, archive.ErrNotFound):
			s.record(r, p, audit.ActionView, id, audit.NotFound, "")
		default:
			s.logger.Error("web: read message", "msg_id", id, "err", err)
			s.fail(w, r, api, http.StatusInternalServerError, "the archive cannot be read")
			return
		}
		s.fail(w, r, api, http.StatusNotFound, "no such message")
	}
}

// validID reports whether id is a full message id: 64 lower-case hex
// digits.
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
