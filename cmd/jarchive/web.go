package main

// The web interface and JSON API (package web) on the HTTP listener of
// jarchive serve and jarchive demo, its audit trail (package audit) in
// <archive dir>/audit.log, which verify checks, and the API tokens of
// "jarchive token".

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"jarchive/archive"
	"jarchive/audit"
	"jarchive/config"
	"jarchive/web"
)

// webUI is the web interface of a daemon.
type webUI struct {
	srv *web.Server
	log *audit.Log
	cfg atomic.Pointer[config.Config] // in force; set again by a reload
}

// startWeb opens the audit log and makes the web interface of st.
func startWeb(a *app, cfg *config.Config, st *store) (*webUI, error) {
	log, err := audit.Open(filepath.Join(cfg.Archive.Dir, audit.File))
	if err != nil {
		return nil, err
	}
	w := &webUI{log: log}
	w.cfg.Store(cfg)
	w.srv, err = web.New(web.Options{
		Archive:         st.arc,
		Index:           st.idx,
		Audit:           log,
		Tokens:          web.OpenTokens(filepath.Join(cfg.Archive.Dir, web.TokensFile)),
		Config:          w.cfg.Load,
		Directory:       st.dir.Directory,
		DirectoryStatus: st.dir.Status,
		Accounts:        st.webAccounts,
		Retention:       st.webRetention,
		Logger:          a.logger,
	})
	if err != nil {
		log.Close()
		return nil, err
	}
	return w, nil
}

// handler is the web interface; nil for a nil webUI.
func (w *webUI) handler() http.Handler {
	if w == nil {
		return nil
	}
	return w.srv
}

// setConfig puts a reloaded configuration in force.
func (w *webUI) setConfig(cfg *config.Config) {
	if w != nil {
		w.cfg.Store(cfg)
	}
}

func (w *webUI) close() {
	if w != nil {
		w.log.Close()
	}
}

// webAccounts is the accounts page's view of the daemon's fetcher.
func (st *store) webAccounts() []web.AccountStatus {
	f := st.fetcher.Load()
	if f == nil {
		return nil
	}
	var out []web.AccountStatus
	for _, s := range f.Status() {
		out = append(out, web.AccountStatus{Account: s.Account, Protocol: s.Protocol, Server: s.Server, State: string(s.State),
			LastSuccess: s.LastSuccess, LastError: s.LastError, Messages: s.Messages, Bytes: s.Bytes, TooLarge: s.TooLarge})
	}
	return out
}

// verifyAudit checks the audit trail's hash chain for verify: its
// problems join the archive's, as audit-<kind>.
func (st *store) verifyAudit(out *verifyOutput) error {
	rep, err := audit.Verify(filepath.Join(st.config().Archive.Dir, audit.File))
	if err != nil {
		return err
	}
	out.AuditRecords = rep.Records
	for _, p := range rep.Problems {
		detail := p.Msg
		if p.Line > 0 {
			detail = fmt.Sprintf("line %d: %s", p.Line, p.Msg)
		}
		out.Problems = append(out.Problems, archive.Problem{Type: archive.ProblemType("audit-" + string(p.Kind)), Seq: p.Seq, Detail: detail})
	}
	return nil
}

// demoAuditor is the user name of the demo's web login.
const demoAuditor = "auditor"

// demoWebUser makes the demo auditor's password and returns the [[users]]
// entry of the demo configuration.
func demoWebUser(res *demoResult) (string, error) {
	res.WebUser, res.WebPassword = demoAuditor, rand.Text()
	h, err := bcrypt.GenerateFromPassword([]byte(res.WebPassword), bcrypt.MinCost+2)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("\n# The web interface's login (jarchive passwd makes such hashes).\n[[users]]\nname = %q\naddresses = [\"auditor@contoso.com\"]\nrole = \"auditor\"\npassword_hash = %q\n", demoAuditor, h), nil
}

// demoWeb starts the web interface of the demo's archive on a free
// loopback port and prints its address and login; with keep it serves
// until ctx ends, else it stops at once (the demo ends by itself).
func demoWeb(ctx context.Context, a *app, cfg *config.Config, st *store, res *demoResult, keep bool) error {
	ui, err := startWeb(a, cfg, st)
	if err != nil {
		return err
	}
	defer ui.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: web: %w", err)
	}
	hs := &http.Server{Handler: ui.handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	res.WebURL = "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(a.stdout, "\nWeb interface: %s\n  user:     %s (role auditor)\n  password: %s\n", res.WebURL, res.WebUser, res.WebPassword)
	if !keep {
		fmt.Fprintf(a.stdout, "  (stopped with the demo; run \"jarchive demo -web\" to keep it running until Ctrl-C)\n")
		return nil
	}
	fmt.Fprintf(a.stdout, "  serving until Ctrl-C\n")
	<-ctx.Done()
	return nil
}
