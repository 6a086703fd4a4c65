package smtpserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"jarchive/fetch"
)

// The replies of the package (see the package documentation).
var (
	errRecipient = func(rcpt string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + rcpt + ">: recipient not accepted here"}
	}
	errNeedTLS  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errNeedAuth = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message size exceeds the limit"}
	errLongLine = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message has a line over the limit"}
	errStorage  = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage: the archive cannot store messages now, try again later"}
	errBusy     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "The archive cannot keep up, try again later"}
	errFailed   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error: the message could not be stored, try again later"}
	errTimeout  = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout while reading the message"}
	errBadFrom  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	errBadRcpt  = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errShutdown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down, try again later"}
)

// backend creates a session per connection (at HELO/EHLO/LHLO).
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := b.s
	if s.isClosing() {
		return nil, errShutdown
	}
	nc := c.Conn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	tc, _ := nc.(*trackedConn)
	se := &session{s: s, c: c, tc: tc}
	se.log = s.log.With("remote", c.Conn().RemoteAddr().String(), "helo", c.Hostname())
	if tc != nil {
		se.log = se.log.With("session", tc.id)
	}
	return se, nil
}

// session is one client connection's state.
type session struct {
	s   *Server
	c   *smtp.Conn
	tc  *trackedConn // nil only for a connection not accepted by Serve
	log *slog.Logger

	authed   bool
	from     string
	hasFrom  bool
	rcpts    []string
	closeNow bool // after the reply: close the connection (421)

	// Per session, for the log line at the end.
	accepted, rejected int
	bytes              int64
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.LMTPSession = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func (se *session) isTLS() bool {
	_, ok := se.c.TLSConnectionState()
	return ok
}

func (se *session) refuse(reason string, err error) error {
	se.rejected++
	se.s.reject(reason)
	return err
}

// AuthMechanisms implements smtp.AuthSession: PLAIN when configured.
func (se *session) AuthMechanisms() []string {
	if !se.s.cfg.HasAuth() {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (se *session) Auth(mech string) (sasl.Server, error) {
	if !se.s.cfg.HasAuth() || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		c := &se.s.cfg
		okUser := subtle.ConstantTimeCompare([]byte(username), []byte(c.AuthUsername)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(password), []byte(c.AuthPassword.Reveal())) == 1
		if !okUser || !okPass || identity != "" && identity != username {
			se.log.Warn("smtp authentication failed", "user", username)
			return se.refuse("auth", smtp.ErrAuthFailed)
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, opts *smtp.MailOptions) error {
	if se.s.cfg.RequireTLS && !se.isTLS() {
		return se.refuse("tls", errNeedTLS)
	}
	if se.s.cfg.HasAuth() && !se.authed {
		return se.refuse("auth", errNeedAuth)
	}
	if hasControl(from) {
		return se.refuse("syntax", errBadFrom)
	}
	se.from, se.hasFrom = from, true
	se.rcpts = se.rcpts[:0]
	return nil
}

func (se *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if hasControl(to) {
		return se.refuse("syntax", errBadRcpt)
	}
	if !se.s.cfg.Accepts(to) {
		se.log.Info("smtp recipient refused: not in accept_recipients", "rcpt", to)
		return se.refuse("recipient", errRecipient(to))
	}
	se.rcpts = append(se.rcpts, to)
	return nil
}

// Reset is called by go-smtp at RSET, at a new EHLO, and after the final
// reply to a message: then a connection that must end (421, shutdown) is
// closed.
func (se *session) Reset() {
	se.from, se.hasFrom = "", false
	se.rcpts = nil
	if se.tc != nil && se.tc.busy.Swap(false) && (se.closeNow || se.s.isClosing()) {
		se.tc.Close()
	}
}

func (se *session) Logout() error {
	if se.accepted > 0 || se.rejected > 0 {
		se.log.Info("smtp session", "accepted", se.accepted, "rejected", se.rejected, "bytes", se.bytes)
	}
	return nil
}

// Data implements smtp.Session.
func (se *session) Data(r io.Reader) error { return se.data(r) }

// LMTPData implements smtp.LMTPSession: one archive commit, and its result
// as the reply for each recipient.
func (se *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	err := se.data(r)
	for _, rcpt := range se.rcpts {
		status.SetStatus(rcpt, err)
	}
	return err
}

// data spools the message and archives it; nil only once the sink
// committed it.
func (se *session) data(r io.Reader) error {
	s := se.s
	if se.tc != nil {
		se.tc.busy.Store(true)
	}
	spool, err := os.CreateTemp(s.opts.TempDir, "jarchive-smtp-*")
	if err != nil {
		se.log.Error("smtp spool", "err", err)
		return se.refuse("failed", errFailed)
	}
	defer func() {
		name := spool.Name()
		if err := spool.Close(); err != nil {
			se.log.Warn("closing spool file", "path", name, "err", err)
		}
		if err := os.Remove(name); err != nil {
			se.log.Warn("removing spool file", "path", name, "err", err)
		}
	}()
	max := int64(s.cfg.MaxMessageSize)
	hash := sha256.New()
	n, err := io.Copy(io.MultiWriter(spool, hash), io.LimitReader(&deadlineReader{r: r, c: se.c.Conn(), d: time.Duration(s.cfg.ReadTimeout)}, max+1))
	switch {
	case err == nil && n > max, errors.Is(err, smtp.ErrDataTooLarge):
		se.log.Warn("smtp message refused: over max_message_size", "from", se.from, "max_message_size", max)
		return se.refuse("size", errTooLarge)
	case errors.Is(err, smtp.ErrTooLongLine):
		se.log.Warn("smtp message refused: line too long", "from", se.from, "max_line", MaxLineLength)
		return se.refuse("line", errLongLine)
	case isTimeout(err):
		se.closeNow = true
		return se.refuse("timeout", errTimeout)
	case errors.Is(err, smtp.ErrDataReset), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return errFailed // the client went away or reset: no reply reaches it
	case err != nil:
		// Most likely the spool's file system (full?): nothing was
		// acknowledged, the sender retries.
		se.log.Error("smtp spool", "err", err)
		var pe *os.PathError
		if errors.As(err, &pe) {
			return se.refuse("storage", errStorage)
		}
		return se.refuse("failed", errFailed)
	}
	m := &fetch.Message{
		Account:  s.cfg.Name,
		Size:     n,
		Fetched:  time.Now(),
		Body:     spool,
		MailFrom: se.from,
		RcptTo:   append([]string(nil), se.rcpts...),
		Delivery: hex.EncodeToString(hash.Sum(nil)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.cfg.CommitTimeout))
	defer cancel()
	began := time.Now()
	err = s.opts.Sink.Archive(ctx, m)
	took := time.Since(began)
	switch {
	case err == nil:
		se.accepted++
		se.bytes += n
		if s.opts.Observer != nil {
			s.opts.Observer.Accepted(n, took)
		}
		se.log.Debug("smtp message archived", "from", se.from, "rcpt", se.rcpts, "size", n, "commit", took)
		return nil
	case errors.Is(err, ErrStorage):
		se.log.Warn("smtp message deferred (452): archive storage", "from", se.from, "size", n, "err", err)
		return se.refuse("storage", errStorage)
	case errors.Is(err, ErrBusy), errors.Is(err, context.DeadlineExceeded):
		se.closeNow = true
		se.log.Warn("smtp message deferred (421): no commit within commit_timeout", "from", se.from, "size", n, "waited", took, "err", err)
		return se.refuse("busy", errBusy)
	default:
		se.log.Error("smtp message deferred (451)", "from", se.from, "size", n, "err", err)
		return se.refuse("failed", errFailed)
	}
}

// hasControl reports whether an address has a control character (a NUL,
// say), which no address may have (RFC 5321 section 4.1.2).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deadlineReader renews the connection's read deadline before each read of
// the data, so that read_timeout bounds silence, not the whole transfer.
type deadlineReader struct {
	r io.Reader
	c net.Conn
	d time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.c.SetReadDeadline(time.Now().Add(d.d))
	return d.r.Read(p)
}
