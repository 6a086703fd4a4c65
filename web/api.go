package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"jarchive/archive"
	"jarchive/audit"
	"jarchive/index"
	"jarchive/journal"
)

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError answers {"error": msg}.
func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// apiSearch: GET /api/v1/search?q=&as=&sort=&after=&limit=.
func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request, p *principal) {
	v := r.URL.Query()
	q, err := s.query(p, v)
	if errors.Is(err, errForbiddenScope) {
		s.record(r, p, audit.ActionSearch, v.Get("q"), audit.Denied, err.Error())
		apiError(w, http.StatusForbidden, err.Error())
		return
	} else if err != nil {
		s.record(r, p, audit.ActionSearch, v.Get("q"), audit.Failure, err.Error())
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.search(r.Context(), p, q)
	var qe *index.QueryError
	if errors.As(err, &qe) {
		s.record(r, p, audit.ActionSearch, q.Text, audit.Failure, qe.Error())
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": qe.Error(), "column": qe.Column})
		return
	} else if err != nil {
		s.logger.Error("web: search", "err", err)
		apiError(w, http.StatusInternalServerError, "the search failed")
		return
	}
	s.record(r, p, audit.ActionSearch, q.Text, audit.Success, fmt.Sprintf("%d hits", res.Total))
	writeJSON(w, http.StatusOK, res)
}

// messageMeta is what GET /api/v1/messages/{id} returns.
type messageMeta struct {
	ID          string              `json:"id"`
	Date        time.Time           `json:"date,omitzero"`
	From        []string            `json:"from,omitempty"`
	To          []string            `json:"to,omitempty"`
	Cc          []string            `json:"cc,omitempty"`
	Subject     string              `json:"subject"`
	MessageID   string              `json:"message_id,omitempty"`
	Size        int64               `json:"size"`
	Sender      string              `json:"sender,omitempty"`
	OnBehalfOf  string              `json:"on_behalf_of,omitempty"`
	Recipients  []journal.Recipient `json:"recipients"`
	Status      string              `json:"status"`
	Owners      []string            `json:"owners,omitempty"` // auditors only
	Attachments []Attachment        `json:"attachments"`
	Added       time.Time           `json:"added"`
}

func (s *Server) apiMessage(w http.ResponseWriter, r *http.Request, p *principal, rec *archive.Record) {
	c, err := s.content(rec)
	if err != nil {
		s.logger.Error("web: read message", "msg_id", rec.ID, "err", err)
		apiError(w, http.StatusInternalServerError, "the message cannot be read")
		return
	}
	m := messageMeta{ID: rec.ID, Date: rec.Header.Date, From: rec.Header.From, To: rec.Header.To, Cc: rec.Header.Cc,
		Subject: rec.Header.Subject, MessageID: rec.MessageID, Size: rec.Size, Sender: rec.Sender, OnBehalfOf: rec.OnBehalfOf,
		Recipients: rec.Recipients, Status: rec.Status, Attachments: c.Attachments, Added: rec.Added}
	if m.Recipients == nil {
		m.Recipients = []journal.Recipient{}
	}
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
	if p.Role.SeesAll() {
		m.Owners = rec.Owners
	}
	s.record(r, p, audit.ActionView, rec.ID, audit.Success, "api")
	writeJSON(w, http.StatusOK, m)
}

// apiStats: the archive's and the index's figures.
func (s *Server) apiStats(w http.ResponseWriter, r *http.Request, p *principal) {
	st, err := s.opts.Archive.Stats()
	if err != nil {
		s.logger.Error("web: stats", "err", err)
		apiError(w, http.StatusInternalServerError, "the archive cannot be read")
		return
	}
	docs, err := s.opts.Index.Count()
	if err != nil {
		s.logger.Error("web: stats", "err", err)
		apiError(w, http.StatusInternalServerError, "the index cannot be read")
		return
	}
	mark, _ := s.opts.Index.Watermark()
	lag := uint64(0)
	if st.LastSeq > mark {
		lag = st.LastSeq - mark
	}
	s.record(r, p, audit.ActionStats, "", audit.Success, "")
	writeJSON(w, http.StatusOK, struct {
		archive.Stats
		IndexDocuments uint64           `json:"index_documents"`
		IndexLag       uint64           `json:"index_lag"`
		Retention      *RetentionStatus `json:"retention,omitempty"` // the next run's effect
	}{st, docs, lag, s.retention(r.Context())})
}

// apiAccounts: the accounts, the directory and the users.
func (s *Server) apiAccounts(w http.ResponseWriter, r *http.Request, p *principal) {
	s.record(r, p, audit.ActionAccounts, "", audit.Success, "api")
	writeJSON(w, http.StatusOK, s.accountsData(r.Context()))
}
