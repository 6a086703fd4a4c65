package fetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"jarchive/config"
)

// This file is a POP3 client: RFC 1939 with CAPA and RESP-CODES (RFC
// 2449), STLS (RFC 2595) and SASL AUTH (RFC 5034). Every read has a
// deadline (deadlineConn), every line is read into a fixed buffer, and
// multi-line listings are bounded by the message count of STAT, so a
// hostile server can make a pass fail but never make it hold more memory.

const (
	// pop3LineMax is the longest status or listing line accepted. RFC
	// 2449 section 4 allows 512 octets for a response line; UIDL and LIST
	// lines are shorter still. Message lines (RETR) have no limit.
	pop3LineMax = 4096
	// pop3MaxMessages is the largest mailbox a pass lists (its UIDLs and
	// sizes are held in memory, about 100 bytes each).
	pop3MaxMessages = 250_000
	// pop3MaxUIDL is the longest unique-id RFC 1939 section 7 allows.
	pop3MaxUIDL = 70
)

// pop3Error is a -ERR response. Code is the RFC 2449 response code in
// brackets, if any ("AUTH", "IN-USE", "SYS/TEMP", "LOGIN-DELAY", ...).
type pop3Error struct {
	cmd  string // the command, without arguments (never a password)
	code string
	text string // the whole text after -ERR
}

func (e *pop3Error) Error() string {
	if e.cmd == "" {
		return "server said: -ERR " + e.text
	}
	return fmt.Sprintf("%s: server said: -ERR %s", e.cmd, e.text)
}

// temporary reports whether the server says that trying again later may
// work (RFC 2449 IN-USE and LOGIN-DELAY, RFC 3206 SYS/TEMP).
func (e *pop3Error) temporary() bool {
	switch strings.ToUpper(e.code) {
	case "IN-USE", "LOGIN-DELAY", "SYS/TEMP":
		return true
	}
	return false
}

// errPOP3Protocol marks responses that break the protocol: the connection
// cannot be used any more.
var errPOP3Protocol = errors.New("pop3 protocol error")

type pop3Conn struct {
	d    *dialed
	conn net.Conn
	br   *bufio.Reader
	caps map[string]string // CAPA: upper-case tag -> its arguments
	// broken is set once a read or write failed or the server broke the
	// protocol: no command may be sent any more.
	broken bool
	bw     *bufio.Writer // RETR's buffer to the spool file
}

func newPOP3Conn(d *dialed) *pop3Conn {
	return &pop3Conn{d: d, conn: d.conn, br: bufio.NewReaderSize(d.conn, pop3LineMax)}
}

func (c *pop3Conn) Close() error { return c.conn.Close() }

// readLine reads one line without its CRLF (or LF). The returned slice is
// valid until the next read.
func (c *pop3Conn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		c.broken = true
		return nil, fmt.Errorf("%w: response line longer than %d bytes", errPOP3Protocol, pop3LineMax)
	case err == io.EOF && len(line) > 0:
		c.broken = true
		return nil, fmt.Errorf("connection closed in the middle of a line: %w", io.ErrUnexpectedEOF)
	case err == io.EOF:
		c.broken = true
		return nil, fmt.Errorf("connection closed: %w", io.ErrUnexpectedEOF)
	case err != nil:
		c.broken = true
		return nil, err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	return line, nil
}

// status reads a status line: +OK (its text is returned), -ERR (a
// *pop3Error), or, when cont is set, a "+ " continuation (returned with
// isCont).
func (c *pop3Conn) status(cmd string, cont bool) (text string, isCont bool, err error) {
	line, err := c.readLine()
	if err != nil {
		if cmd != "" {
			err = fmt.Errorf("%s: %w", cmd, err)
		}
		return "", false, err
	}
	switch {
	case bytes.HasPrefix(line, []byte("+OK")) && (len(line) == 3 || line[3] == ' '):
		return strings.TrimPrefix(string(line[3:]), " "), false, nil
	case bytes.HasPrefix(line, []byte("-ERR")) && (len(line) == 4 || line[4] == ' '):
		e := &pop3Error{cmd: cmd, text: strings.TrimPrefix(string(line[4:]), " ")}
		if t := e.text; strings.HasPrefix(t, "[") {
			if i := strings.IndexByte(t, ']'); i > 0 {
				e.code = t[1:i]
			}
		}
		return "", false, e
	case cont && (len(line) == 1 && line[0] == '+' || bytes.HasPrefix(line, []byte("+ "))):
		return strings.TrimPrefix(string(line[1:]), " "), true, nil
	}
	c.broken = true
	err = fmt.Errorf("%w: unexpected response %q", errPOP3Protocol, truncate(line, 80))
	if cmd != "" {
		err = fmt.Errorf("%s: %w", cmd, err)
	}
	return "", false, err
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// send writes one command line. shown is what errors call the command.
func (c *pop3Conn) send(shown, line string) error {
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.broken = true
		return fmt.Errorf("%s: %w", shown, err)
	}
	return nil
}

// cmd sends a command and reads its status line. The command's first word
// names it in errors; its arguments are never shown.
func (c *pop3Conn) cmd(line string) (string, error) {
	name, _, _ := strings.Cut(line, " ")
	if err := c.send(name, line); err != nil {
		return "", err
	}
	text, _, err := c.status(name, false)
	return text, err
}

// lines reads the body of a multi-line listing (CAPA, UIDL, LIST) up to
// the terminating ".", calling fn for each dot-unstuffed line. More than
// max lines is an error.
func (c *pop3Conn) lines(cmd string, max int, fn func(line []byte) error) error {
	for n := 0; ; n++ {
		line, err := c.readLine()
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if len(line) > 0 && line[0] == '.' {
			if len(line) == 1 {
				return nil
			}
			line = line[1:]
		}
		if n >= max {
			c.broken = true
			return fmt.Errorf("%s: %w: more than %d lines", cmd, errPOP3Protocol, max)
		}
		if err := fn(line); err != nil {
			c.broken = true
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
}

// capa asks for the capabilities (RFC 2449). A server without CAPA has
// none.
func (c *pop3Conn) capa() error {
	c.caps = map[string]string{}
	if _, err := c.cmd("CAPA"); err != nil {
		var pe *pop3Error
		if errors.As(err, &pe) {
			return nil
		}
		return err
	}
	return c.lines("CAPA", 200, func(line []byte) error {
		tag, args, _ := strings.Cut(string(line), " ")
		c.caps[strings.ToUpper(tag)] = args
		return nil
	})
}

// hasSASL reports whether CAPA lists the SASL mechanism mech.
func (c *pop3Conn) hasSASL(mech string) bool {
	for _, m := range strings.Fields(c.caps["SASL"]) {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// stls upgrades the connection to TLS (RFC 2595 section 4).
func (c *pop3Conn) stls(ctx context.Context) error {
	if _, err := c.cmd("STLS"); err != nil {
		var pe *pop3Error
		if errors.As(err, &pe) {
			// The server cannot do TLS: configuration, not network.
			return permanent(fmt.Errorf("%w (set security = \"tls\" for port 995, or \"none\")", err))
		}
		return err
	}
	if c.br.Buffered() > 0 {
		// Bytes after +OK would be read as if they came over TLS: a
		// STARTTLS command injection (RFC 3207 section 6 in spirit).
		c.broken = true
		return permanent(fmt.Errorf("STLS: %w: data after the response", errPOP3Protocol))
	}
	cfg := c.d.tls.Clone()
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"pop3"}
	}
	tconn := tls.Client(c.d.conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, tlsTimeout)
	err := tconn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		c.broken = true
		return classifyTLS(fmt.Errorf("stls with %s: %w", c.d.addr, err))
	}
	c.conn = tconn
	c.br = bufio.NewReaderSize(tconn, pop3LineMax)
	return c.capa()
}

// pop3MaxCommand is the longest command line, CRLF included (RFC 2449
// section 4).
const pop3MaxCommand = 255

// auth runs a SASL exchange (RFC 5034) with an initial response: on the
// command line when it fits into 255 octets, else (OAuth2 tokens) after the
// server's first "+" (RFC 5034 section 4). On a challenge the client
// answers with an empty response, as XOAUTH2 wants after its error
// challenge; the challenge is returned for the error message.
func (c *pop3Conn) auth(mech string, ir []byte) (challenge []byte, err error) {
	shown := "AUTH " + mech
	resp := base64.StdEncoding.EncodeToString(ir)
	if len(shown)+1+len(resp)+2 <= pop3MaxCommand {
		if err := c.send(shown, shown+" "+resp); err != nil {
			return nil, err
		}
	} else {
		if err := c.send(shown, shown); err != nil {
			return nil, err
		}
		_, isCont, err := c.status(shown, true)
		if err != nil {
			return nil, err
		}
		if !isCont {
			c.broken = true
			return nil, fmt.Errorf("%s: %w: +OK before the credentials", shown, errPOP3Protocol)
		}
		if err := c.send(shown, resp); err != nil {
			return nil, err
		}
	}
	for range 3 {
		text, isCont, err := c.status(shown, true)
		if err != nil || !isCont {
			return challenge, err
		}
		if b, derr := base64.StdEncoding.DecodeString(text); derr == nil {
			challenge = b
		}
		if err := c.send(shown, ""); err != nil {
			return challenge, err
		}
	}
	c.broken = true
	return challenge, fmt.Errorf("%s: %w: too many challenges", shown, errPOP3Protocol)
}

// login authenticates with a password: SASL PLAIN when the server lists
// it, else USER and PASS (RFC 1939 section 7).
func (c *pop3Conn) login(user, pass string) error {
	if c.hasSASL("PLAIN") {
		_, err := c.auth("PLAIN", []byte("\x00"+user+"\x00"+pass))
		return err
	}
	if _, err := c.cmd("USER " + user); err != nil {
		return err
	}
	if err := c.send("PASS", "PASS "+pass); err != nil {
		return err
	}
	_, _, err := c.status("PASS", false)
	return err
}

// stat returns the number of messages (STAT, RFC 1939 section 5).
func (c *pop3Conn) stat() (int, error) {
	text, err := c.cmd("STAT")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(text)
	if len(f) < 1 {
		c.broken = true
		return 0, fmt.Errorf("STAT: %w: %q", errPOP3Protocol, text)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		c.broken = true
		return 0, fmt.Errorf("STAT: %w: %q", errPOP3Protocol, text)
	}
	return n, nil
}

// pop3Msg is one message of the maildrop.
type pop3Msg struct {
	num  int
	size int64
	uidl string
}

// list fills in the size (LIST) and unique-id (UIDL) of messages 1..n.
// Without UIDL support the unique-ids stay empty.
func (c *pop3Conn) list(n int) ([]pop3Msg, bool, error) {
	msgs := make([]pop3Msg, n)
	for i := range msgs {
		msgs[i].num = i + 1
		msgs[i].size = -1
	}
	parse := func(cmd string, line []byte) (int, string, error) {
		a, b, ok := bytes.Cut(line, []byte(" "))
		num, err := strconv.Atoi(string(a))
		if !ok || err != nil || num < 1 || num > n {
			return 0, "", fmt.Errorf("%w: bad line %q", errPOP3Protocol, truncate(line, 80))
		}
		return num, string(bytes.TrimSpace(b)), nil
	}
	if _, err := c.cmd("LIST"); err != nil {
		return nil, false, err
	}
	err := c.lines("LIST", n, func(line []byte) error {
		num, s, err := parse("LIST", line)
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(s, 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: bad size in %q", errPOP3Protocol, truncate(line, 80))
		}
		msgs[num-1].size = size
		return nil
	})
	if err != nil {
		return nil, false, err
	}

	if _, err := c.cmd("UIDL"); err != nil {
		var pe *pop3Error
		if errors.As(err, &pe) {
			return msgs, false, nil
		}
		return nil, false, err
	}
	err = c.lines("UIDL", n, func(line []byte) error {
		num, uidl, err := parse("UIDL", line)
		if err != nil {
			return err
		}
		if len(uidl) < 1 || len(uidl) > pop3MaxUIDL || strings.ContainsFunc(uidl, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return fmt.Errorf("%w: bad unique-id in %q", errPOP3Protocol, truncate(line, 80))
		}
		msgs[num-1].uidl = uidl
		return nil
	})
	return msgs, true, err
}

// retr streams message num (RETR, RFC 1939 section 7) into w, removing the
// byte-stuffing dots and the terminating line, and returns its size. It
// returns errTooLarge once more than max bytes arrived; the connection is
// then in the middle of the response and must be closed.
func (c *pop3Conn) retr(num int, out io.Writer, max int64) (int64, error) {
	if _, err := c.cmd("RETR " + strconv.Itoa(num)); err != nil {
		return 0, err
	}
	// Lines are short: write them to the spool file in bigger pieces.
	if c.bw == nil {
		c.bw = bufio.NewWriterSize(out, 64<<10)
	}
	w := c.bw
	w.Reset(out)
	defer w.Reset(nil)
	var size int64
	atStart := true
	for {
		frag, err := c.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			c.broken = true
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return size, fmt.Errorf("RETR: connection lost after %d bytes: %w", size, err)
		}
		complete := err == nil
		if atStart && len(frag) > 0 && frag[0] == '.' {
			if complete && (len(frag) == 2 && frag[1] == '\n' || len(frag) == 3 && frag[1] == '\r' && frag[2] == '\n') {
				if err := w.Flush(); err != nil {
					c.broken = true
					return size, err
				}
				return size, nil
			}
			frag = frag[1:]
		}
		atStart = complete
		if size+int64(len(frag)) > max {
			c.broken = true
			return size + int64(len(frag)), errTooLarge
		}
		n, err := w.Write(frag)
		size += int64(n)
		if err != nil {
			// A failed write to the spool file.
			c.broken = true // the response is not read to its end
			return size, err
		}
	}
}

// login logs in with the account's credentials: a password, or an
// OAuth2 token with XOAUTH2.
func (p *pop3Pass) login(ctx context.Context) error {
	acct := p.acct
	if !acct.IsOAuth2() {
		err := p.c.login(acct.Username, acct.Password.Reveal())
		if err == nil {
			return nil
		}
		err = fmt.Errorf("login as %q: %w", acct.Username, err)
		var pe *pop3Error
		if errors.As(err, &pe) && !pe.temporary() {
			err = permanent(err)
		}
		return err
	}
	for {
		tok, fresh, err := p.f.token(ctx, acct)
		if err != nil {
			return err
		}
		challenge, err := p.c.auth("XOAUTH2", xoauth2Response(acct.Username, tok))
		if err == nil {
			return nil
		}
		var pe *pop3Error
		if !errors.As(err, &pe) || pe.temporary() {
			return fmt.Errorf("login as %q with XOAUTH2: %w", acct.Username, err)
		}
		if !fresh {
			// A cached token may have been revoked: once more with a new one.
			p.f.dropToken(acct)
			continue
		}
		return permanent(oauthLoginError(acct, "POP", tok, challenge, err))
	}
}

// pop3Pass is the state of one pass over one POP3 account.
type pop3Pass struct {
	f    *Fetcher
	acct *config.Account
	log  *slog.Logger
	c    *pop3Conn
	max  int64
	res  Result
	win  *window
	seen *uidlSet // keep_mails: UIDLs archived before

	mu      sync.Mutex
	pending []int // archived, DELE not sent yet
	deleted int   // DELE sent; deleted at QUIT
}

func (f *Fetcher) pollPOP3(ctx context.Context, acct *config.Account, log *slog.Logger) (Result, error) {
	p := &pop3Pass{
		f:    f,
		acct: acct,
		log:  log,
		max:  maxMessageSize(acct),
		res:  Result{Account: acct.Name},
		win:  newWindow(f.window),
	}
	hard, cancel := f.twoPhase(ctx)
	defer cancel()
	err := p.run(ctx, hard)
	return p.res, f.passError(ctx, acct, err)
}

func (p *pop3Pass) run(ctx, hard context.Context) error {
	d, err := p.f.dial(ctx, p.acct, p.log, "pop3")
	if err != nil {
		return err
	}
	p.c = newPOP3Conn(d)
	// Until the session is set up, the end of ctx ends it at once; after
	// that only hard does.
	stopSetup := context.AfterFunc(ctx, func() { d.conn.Close() })
	stop := context.AfterFunc(hard, func() { d.conn.Close() })
	defer stop()
	defer func() { p.c.Close() }()

	err = p.setup(ctx)
	if !stopSetup() {
		err = cmp2(err, ctx.Err())
	}
	if err != nil {
		return err
	}

	n, err := p.c.stat()
	if err != nil {
		return err
	}
	if n > pop3MaxMessages {
		return permanent(fmt.Errorf("the mailbox holds %d messages, more than the %d a POP3 pass lists; use IMAP, or empty it in parts", n, pop3MaxMessages))
	}
	if n > 0 {
		if err := p.messages(ctx, hard, n); err != nil {
			return err
		}
	}
	if _, err := p.c.cmd("QUIT"); err != nil {
		return fmt.Errorf("deleting archived messages: %w", err)
	}
	p.count(func(r *Result) { r.Deleted += p.deleted })
	return nil
}

// cmp2 returns the first non-nil error.
func cmp2(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// setup reads the greeting, upgrades to TLS for starttls and logs in.
func (p *pop3Pass) setup(ctx context.Context) error {
	if _, _, err := p.c.status("", false); err != nil {
		return fmt.Errorf("greeting from %s: %w", p.c.d.addr, err)
	}
	if err := p.c.capa(); err != nil {
		return err
	}
	if p.acct.Security == config.SecuritySTARTTLS {
		if err := p.c.stls(ctx); err != nil {
			return err
		}
	}
	return p.login(ctx)
}

// messages fetches, archives and marks for deletion the n messages.
func (p *pop3Pass) messages(ctx, hard context.Context, n int) error {
	msgs, haveUIDL, err := p.c.list(n)
	if err != nil {
		return err
	}
	if p.acct.KeepMails {
		if !haveUIDL {
			p.log.Warn("the server does not support UIDL: with keep_mails every message is fetched on every pass")
		}
		p.seen = p.f.uidls(p.acct.Name)
		p.seen.retain(msgs)
	}
	var loopErr error
	for _, m := range msgs {
		loopErr = ctx.Err()
		if loopErr == nil {
			loopErr = p.dele()
		}
		if loopErr == nil {
			loopErr = p.message(hard, m)
		}
		if loopErr != nil {
			break
		}
	}
	// Finish the messages in flight; unless the connection is unusable,
	// mark what was archived for deletion (QUIT deletes it).
	werr := p.win.wait()
	if loopErr == nil {
		loopErr = werr
	} else if werr != nil && werr != loopErr {
		p.log.Warn("archiving", "err", werr)
	}
	if derr := p.dele(); loopErr == nil {
		loopErr = derr
	}
	if loopErr != nil && !p.c.broken {
		if _, err := p.c.cmd("QUIT"); err == nil {
			p.count(func(r *Result) { r.Deleted += p.deleted })
		} else {
			p.log.Warn("quit after an error: archived messages stay on the server", "err", err)
		}
	}
	return loopErr
}

// message fetches one message and hands it to the window. An error ends
// the pass.
func (p *pop3Pass) message(ctx context.Context, m pop3Msg) error {
	log := p.log.With("msg", m.num, "uidl", m.uidl)
	if p.seen != nil && m.uidl != "" {
		seen, err := p.seen.has(p.f.checkpoints, p.acct.Name, m.uidl)
		if err != nil {
			return fmt.Errorf("checking uidl %s: %w", m.uidl, err)
		}
		if seen {
			return nil
		}
	}
	// Failures are counted by UIDL only: message numbers change when
	// messages are deleted.
	key := p.key(m)
	if m.uidl != "" && p.f.failures.passedOver(key) {
		p.res.Seen++
		p.count(func(r *Result) { r.Failed++ })
		log.Debug("passed over: archiving it failed in passes in a row")
		return nil
	}
	if m.size > p.max || p.f.lying(p.acct.Name, m.uidl) {
		p.res.Seen++
		p.tooLarge(log, m, max(m.size, p.max+1))
		return nil
	}
	if err := p.win.acquire(ctx); err != nil {
		return err
	}
	p.res.Seen++
	sp := p.f.newSpool()
	handedOver := false
	defer func() {
		if !handedOver {
			p.win.release()
			sp.remove(log)
		}
	}()
	size, err := p.c.retr(m.num, sp, p.max)
	if errors.Is(err, errTooLarge) {
		// LIST gave a smaller size than RETR delivers: the rest of the
		// response cannot be skipped without reading it, so the pass
		// ends here and later passes leave this message alone.
		p.f.markLying(p.acct.Name, m.uidl)
		p.tooLarge(log, m, size)
		return fmt.Errorf("msg %d: the server sent more than max_message_size (%d bytes) although LIST gave %d bytes", m.num, p.max, m.size)
	}
	if err != nil {
		p.count(func(r *Result) { r.Failed++ })
		return fmt.Errorf("msg %d: %w", m.num, err)
	}
	msg := &Message{
		Account: p.acct.Name,
		UIDL:    m.uidl,
		Size:    size,
		Fetched: time.Now(),
		Body:    sp,
	}
	handedOver = true
	p.win.run(func() error {
		defer sp.remove(log)
		if err := p.f.sink.Archive(ctx, msg); err != nil {
			p.count(func(r *Result) { r.Failed++ })
			if m.uidl != "" {
				p.f.failures.failed(key, err, log)
			}
			return fmt.Errorf("msg %d: %w", m.num, err)
		}
		log.Debug("archived", "size", size)
		if m.uidl != "" {
			p.f.failures.archived(key)
		}
		p.f.status.archived(p.acct.Name, size)
		if p.seen != nil && m.uidl != "" {
			p.seen.add(m.uidl)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.res.Archived++
		p.res.Bytes += size
		if !p.acct.KeepMails {
			p.pending = append(p.pending, m.num)
		}
		return nil
	})
	return nil
}

// dele sends DELE for the archived messages; QUIT deletes them.
func (p *pop3Pass) dele() error {
	p.mu.Lock()
	nums := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, n := range nums {
		if _, err := p.c.cmd("DELE " + strconv.Itoa(n)); err != nil {
			return fmt.Errorf("msg %d: %w", n, err)
		}
		p.deleted++
	}
	return nil
}

func (p *pop3Pass) count(fn func(*Result)) {
	p.mu.Lock()
	fn(&p.res)
	p.mu.Unlock()
}

// key names m: by UIDL, or by number when the server has no UIDL.
func (p *pop3Pass) key(m pop3Msg) messageKey {
	if m.uidl != "" {
		return messageKey{account: p.acct.Name, uidl: m.uidl}
	}
	return messageKey{account: p.acct.Name, uid: uint32(m.num)}
}

// tooLarge counts a message left on the server for its size, logged at WARN
// once per process.
func (p *pop3Pass) tooLarge(log *slog.Logger, m pop3Msg, size int64) {
	p.res.TooLarge++
	level := slog.LevelWarn
	if _, seen := p.f.tooLarge.LoadOrStore(p.key(m), true); seen {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, "message larger than max_message_size left on the server",
		"size", size, "max_message_size", p.max)
}
