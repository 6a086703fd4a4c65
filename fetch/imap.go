package fetch

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"jarchive/config"
)

const (
	dialTimeout = 30 * time.Second
	// tlsTimeout bounds the implicit TLS handshake (go-imap bounds the
	// greeting, STARTTLS and every response itself, see respReadTimeout).
	tlsTimeout = 30 * time.Second
	// expungeBatch is how many archived messages are deleted at once.
	expungeBatch = 50
)

// errTooLarge and errVanished end the handling of one message without ending
// the pass.
var (
	errTooLarge = errors.New("message larger than max_message_size")
	errVanished = errors.New("message vanished from the mailbox")
)

type uidSize struct {
	uid  imap.UID
	size int64
}

// imapPass is the state of one pass over one IMAP account.
type imapPass struct {
	f          *Fetcher
	acct       *config.Account
	log        *slog.Logger
	c          *imapclient.Client
	mailbox    string
	validity   uint32
	max        int64
	res        Result
	uidExpunge bool // UIDPLUS: UID EXPUNGE of exactly the archived UIDs
	win        *window

	mu       sync.Mutex  // guards what archiving goroutines update:
	pending  imap.UIDSet // archived, not yet deleted
	npending int
	// and res.Archived, res.Bytes, res.Failed.
}

func (f *Fetcher) pollIMAP(ctx context.Context, acct *config.Account, log *slog.Logger) (Result, error) {
	p := &imapPass{
		f:       f,
		acct:    acct,
		log:     log,
		mailbox: mailboxName(acct),
		max:     maxMessageSize(acct),
		res:     Result{Account: acct.Name},
		win:     newWindow(f.window),
	}
	// Two-phase stop: when ctx ends no new message is started, the ones
	// in flight are archived and deleted on the server, and the connection
	// is closed by force only after the grace period.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(f.grace, cancel) })
	defer stopGrace()
	err := p.run(ctx, hard)
	if cerr := ctx.Err(); err != nil && cerr != nil && !errors.Is(err, cerr) {
		// Errors after cancellation are mostly "use of closed connection".
		err = fmt.Errorf("%w (%v)", cerr, err)
	}
	if err != nil {
		err = fmt.Errorf("fetch %s: %w", acct.Name, err)
	}
	return p.res, err
}

// run does the pass. It starts no new message once ctx ends; hard ends the
// connection.
func (p *imapPass) run(ctx, hard context.Context) error {
	c, err := dialIMAP(ctx, p.acct, p.log)
	if err != nil {
		return err
	}
	p.c = c
	stop := context.AfterFunc(hard, func() { c.Close() })
	defer stop()
	defer c.Close()

	if err := c.Login(p.acct.Username, p.acct.Password.Reveal()).Wait(); err != nil {
		// The error is the server's response; it never holds the password.
		err = fmt.Errorf("login as %q: %w", p.acct.Username, err)
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code != imap.ResponseCodeUnavailable {
			err = permanent(err)
		}
		return err
	}
	p.uidExpunge = c.Caps().Has(imap.CapUIDPlus)

	sel, err := c.Select(p.mailbox, &imap.SelectOptions{ReadOnly: p.acct.KeepMails}).Wait()
	if err != nil {
		err = fmt.Errorf("select %q: %w", p.mailbox, err)
		var ie *imap.Error
		if errors.As(err, &ie) {
			switch ie.Code {
			case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse, imap.ResponseCodeServerBug, imap.ResponseCodeLimit:
			default:
				err = permanent(err)
			}
		}
		return err
	}
	p.validity = sel.UIDValidity

	if sel.NumMessages > 0 {
		list, err := p.list()
		if err != nil {
			return err
		}
		for _, m := range list {
			err := ctx.Err()
			if err == nil {
				err = p.message(hard, m)
			}
			if err == nil && p.pendingCount() >= expungeBatch {
				err = p.expunge()
			}
			if err != nil {
				// Finish the messages in flight and delete what was
				// archived, if the connection still allows it.
				if werr := p.win.wait(); werr != nil && werr != err {
					p.log.Warn("archiving", "err", werr)
				}
				logCheck(p.log, p.expunge(), "expunging archived messages after an error")
				return err
			}
		}
		if err := p.win.wait(); err != nil {
			logCheck(p.log, p.expunge(), "expunging archived messages after an error")
			return err
		}
		if err := p.expunge(); err != nil {
			return err
		}
	}

	logCheck(p.log, c.Logout().Wait(), "logout")
	return nil
}

// dialIMAP connects with the account's security and waits for the greeting.
func dialIMAP(ctx context.Context, acct *config.Account, log *slog.Logger) (*imapclient.Client, error) {
	addr := acct.Addr()
	var tlsConfig *tls.Config
	if acct.Security != config.SecurityNone {
		var err error
		tlsConfig, err = acct.TLSConfig()
		if err != nil {
			return nil, permanent(err)
		}
		if tlsConfig.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, permanent(fmt.Errorf("server %q: %w", addr, err))
			}
			tlsConfig = tlsConfig.Clone()
			tlsConfig.ServerName = host
		}
	} else {
		log.Warn("connecting without TLS: the password and all mail cross the network in clear text", "server", addr)
	}

	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err // net.OpError names the address
	}
	// Until the caller binds the client to ctx, closing conn unblocks the
	// handshake and the greeting.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	opts := &imapclient.Options{TLSConfig: tlsConfig}
	var c *imapclient.Client
	switch acct.Security {
	case config.SecurityTLS:
		cfg := tlsConfig.Clone()
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		tconn := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, tlsTimeout)
		err := tconn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, classifyTLS(fmt.Errorf("tls handshake with %s: %w", addr, err))
		}
		c = imapclient.New(tconn, opts)
	case config.SecuritySTARTTLS:
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			err = fmt.Errorf("starttls with %s: %w", addr, err)
			var ie *imap.Error
			if errors.As(err, &ie) {
				// The server refused STARTTLS: configuration, not network.
				return nil, permanent(err)
			}
			return nil, classifyTLS(err)
		}
	default:
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	return c, nil
}

// classifyTLS marks certificate verification failures, and a server that does
// not speak TLS at all, as permanent.
func classifyTLS(err error) error {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
		rerr tls.RecordHeaderError
	)
	if errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) ||
		errors.As(err, &cerr) || errors.As(err, &rerr) {
		return permanent(err)
	}
	return err
}

// list returns the UIDs and sizes to look at, in ascending UID order.
func (p *imapPass) list() ([]uidSize, error) {
	from := imap.UID(1)
	if p.acct.KeepMails && p.f.checkpoints != nil {
		validity, last, err := p.f.checkpoints.Checkpoint(p.acct.Name, p.mailbox)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		switch {
		case validity == p.validity && validity != 0:
			if last == ^uint32(0) {
				return nil, nil
			}
			from = imap.UID(last) + 1
		case validity != 0:
			p.log.Info("uidvalidity changed, fetching the whole mailbox again",
				"mailbox", p.mailbox, "old", validity, "new", p.validity)
		}
	}

	var set imap.UIDSet
	set.AddRange(from, 0) // from:*
	cmd := p.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
	defer cmd.Close()
	var list []uidSize
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var m uidSize
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				m.uid = item.UID
			case imapclient.FetchItemDataRFC822Size:
				m.size = item.Size
			}
		}
		// "from:*" includes the highest UID even when it is below from.
		if m.uid >= from {
			list = append(list, m)
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("listing uids: %w", err)
	}
	slices.SortFunc(list, func(a, b uidSize) int { return cmp.Compare(a.uid, b.uid) })
	return list, nil
}

// message fetches, archives and schedules the deletion of one message. An
// error ends the pass.
func (p *imapPass) message(ctx context.Context, m uidSize) error {
	log := p.log.With("uid", uint32(m.uid))
	if m.size > p.max {
		p.res.Seen++
		p.tooLarge(log, m.uid, m.size)
		return nil
	}

	if err := p.win.acquire(ctx); err != nil {
		return err
	}
	sp, err := p.f.newSpool()
	if err != nil {
		p.win.release()
		p.res.Seen++
		p.count(func(r *Result) { r.Failed++ })
		return fmt.Errorf("uid %d: %w", m.uid, err)
	}
	handedOver := false
	defer func() {
		if !handedOver {
			p.win.release()
			sp.remove(log)
		}
	}()

	size, err := p.fetchBody(m.uid, sp)
	if errors.Is(err, errVanished) {
		log.Info("message was expunged by someone else before it was fetched")
		return nil
	}
	p.res.Seen++
	switch {
	case errors.Is(err, errTooLarge):
		p.tooLarge(log, m.uid, size)
		return nil
	case err != nil:
		p.count(func(r *Result) { r.Failed++ })
		return fmt.Errorf("uid %d: %w", m.uid, err)
	}

	msg := &Message{
		Account:     p.acct.Name,
		Mailbox:     p.mailbox,
		UIDValidity: p.validity,
		UID:         uint32(m.uid),
		Size:        size,
		Fetched:     time.Now(),
		Body:        sp.File,
	}
	handedOver = true
	p.win.run(func() error {
		defer sp.remove(log)
		if err := p.f.sink.Archive(ctx, msg); err != nil {
			p.count(func(r *Result) { r.Failed++ })
			return fmt.Errorf("uid %d: %w", m.uid, err)
		}
		log.Debug("archived", "size", size)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.res.Archived++
		p.res.Bytes += size
		if !p.acct.KeepMails {
			p.pending.AddNum(m.uid)
			p.npending++
		}
		return nil
	})
	return nil
}

// count updates the counters that archiving goroutines share.
func (p *imapPass) count(fn func(*Result)) {
	p.mu.Lock()
	fn(&p.res)
	p.mu.Unlock()
}

func (p *imapPass) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.npending
}

// tooLarge counts a message left on the server for its size. It is logged at
// WARN once per process, at DEBUG on later passes.
func (p *imapPass) tooLarge(log *slog.Logger, uid imap.UID, size int64) {
	p.res.TooLarge++
	level := slog.LevelWarn
	if _, seen := p.f.tooLarge.LoadOrStore(tooLargeKey{p.acct.Name, p.mailbox, p.validity, uint32(uid)}, true); seen {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, "message larger than max_message_size left on the server",
		"size", size, "max_message_size", p.max)
}

type tooLargeKey struct {
	account, mailbox string
	validity, uid    uint32
}

// fetchBody streams BODY.PEEK[] of uid into sp and returns its size. It
// returns errTooLarge, without reading the rest, once the literal is known
// to exceed the limit.
func (p *imapPass) fetchBody(uid imap.UID, sp spool) (int64, error) {
	cmd := p.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()

	var (
		size  int64
		found bool
		err   error
	)
	msg := cmd.Next()
	if msg == nil {
		if err := cmd.Close(); err != nil {
			return 0, fmt.Errorf("fetch body: %w", err)
		}
		return 0, errVanished
	}
	for item := msg.Next(); item != nil; item = msg.Next() {
		body, ok := item.(imapclient.FetchItemDataBodySection)
		if !ok || found {
			continue
		}
		found = true
		if body.Literal == nil {
			err = errors.New("server returned NIL for BODY[]")
			continue
		}
		if n := body.Literal.Size(); n > p.max {
			// msg.Next discards the literal without spooling it.
			size, err = n, errTooLarge
			continue
		}
		size, err = io.Copy(sp, io.LimitReader(body.Literal, p.max+1))
		if err == nil && size > p.max {
			err = errTooLarge
		}
	}
	if cerr := cmd.Close(); cerr != nil {
		return size, fmt.Errorf("fetch body: %w", cerr)
	}
	if err != nil {
		return size, err
	}
	if !found {
		return 0, errVanished
	}
	if _, err := sp.Seek(0, io.SeekStart); err != nil {
		return size, err
	}
	return size, nil
}

// expunge deletes the archived messages not yet deleted.
func (p *imapPass) expunge() error {
	p.mu.Lock()
	set, n := p.pending, p.npending
	p.pending, p.npending = nil, 0
	p.mu.Unlock()
	if n == 0 {
		return nil
	}
	// On failure the UIDs stay on the server: the next pass fetches them
	// again and the archive deduplicates them.
	store := p.c.Store(set, &imap.StoreFlags{
		Op:     imap.StoreFlagsAdd,
		Silent: true,
		Flags:  []imap.Flag{imap.FlagDeleted},
	}, nil)
	if err := store.Close(); err != nil {
		return fmt.Errorf("flagging %v \\Deleted: %w", set, err)
	}
	var cmd *imapclient.ExpungeCommand
	if p.uidExpunge {
		cmd = p.c.UIDExpunge(set)
	} else {
		cmd = p.c.Expunge()
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("expunging %v: %w", set, err)
	}
	p.count(func(r *Result) { r.Deleted += n })
	p.log.Debug("expunged", "uids", set.String())
	return nil
}
