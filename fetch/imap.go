package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"jarchive/config"
)

const (
	// expungeBatch is how many archived messages are deleted at once.
	expungeBatch = 50
	// maxIdle is the longest IDLE before it is ended and a pass runs
	// (RFC 2177: clients re-issue IDLE at least every 29 minutes).
	maxIdle = 25 * time.Minute
)

// errTooLarge and errVanished end the handling of one message without ending
// the pass.
var (
	errTooLarge = errors.New("message larger than max_message_size")
	errVanished = errors.New("message vanished from the mailbox")
	// errNoIdle: the server does not announce IDLE; Run polls instead.
	errNoIdle = errors.New("the server does not support IDLE")
)

type uidSize struct {
	uid  imap.UID
	size int64
}

// imapPass is one IMAP connection with its mailbox selected, and the state
// of the pass running on it. With IDLE one connection runs many passes.
type imapPass struct {
	f          *Fetcher
	acct       *config.Account
	log        *slog.Logger
	d          *dialed
	c          *imapclient.Client
	mailbox    string
	validity   uint32
	max        int64
	res        Result
	uidExpunge bool // UIDPLUS: UID EXPUNGE of exactly the archived UIDs
	win        *window
	// wake gets a value when the server announces a new message count
	// (EXISTS) after the current pass started listing.
	wake chan struct{}
	// selected is the message count SELECT gave, for the first pass
	// (go-imap sets Client.Mailbox only after Select's Wait returns).
	selected uint32
	passes   int
	progress *uidProgress // of the current pass

	mu       sync.Mutex  // guards what archiving goroutines update:
	pending  imap.UIDSet // archived, not yet deleted
	npending int
	// and res.Archived, res.Bytes, res.Failed.
}

func (f *Fetcher) pollIMAP(ctx context.Context, acct *config.Account, log *slog.Logger) (Result, error) {
	// Two-phase stop: when ctx ends no new message is started, the ones
	// in flight are archived and deleted on the server, and the connection
	// is closed by force only after the grace period.
	hard, cancel := f.twoPhase(ctx)
	defer cancel()
	p, err := f.openIMAP(ctx, hard, acct, log)
	if err != nil {
		return Result{Account: acct.Name}, f.passError(ctx, acct, err)
	}
	defer p.c.Close()
	err = p.pass(ctx, hard)
	if err == nil {
		logCheck(p.log, p.c.Logout().Wait(), "logout")
	}
	return p.res, f.passError(ctx, acct, err)
}

// twoPhase returns the context that ends a pass's connection: grace after
// ctx ends.
func (f *Fetcher) twoPhase(ctx context.Context) (hard context.Context, cancel func()) {
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(f.grace, cancelHard) })
	return hard, func() {
		stopGrace()
		cancelHard()
	}
}

// passError gives err the account's name, and ctx's error if ctx ended.
func (f *Fetcher) passError(ctx context.Context, acct *config.Account, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		// Errors after cancellation are mostly "use of closed connection".
		err = fmt.Errorf("%w (%v)", cerr, err)
	}
	return fmt.Errorf("fetch %s: %w", acct.Name, err)
}

// openIMAP connects, logs in and selects the mailbox. The end of ctx
// aborts it; afterwards the connection lives until hard ends (or Close).
func (f *Fetcher) openIMAP(ctx, hard context.Context, acct *config.Account, log *slog.Logger) (*imapPass, error) {
	p := &imapPass{
		f:       f,
		acct:    acct,
		log:     log,
		mailbox: mailboxName(acct),
		max:     maxMessageSize(acct),
		wake:    make(chan struct{}, 1),
	}
	opts := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case p.wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	c, d, err := f.dialIMAP(ctx, acct, log, opts)
	if err != nil {
		return nil, err
	}
	p.c, p.d = c, d
	// Until the mailbox is selected, the end of ctx ends the connection.
	stopSetup := context.AfterFunc(ctx, func() { c.Close() })
	err = p.setup(ctx)
	if !stopSetup() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	context.AfterFunc(hard, func() { c.Close() })
	return p, nil
}

// setup logs in and selects the mailbox.
func (p *imapPass) setup(ctx context.Context) error {
	if err := p.login(ctx); err != nil {
		return err
	}
	p.uidExpunge = p.c.Caps().Has(imap.CapUIDPlus)

	sel, err := p.c.Select(p.mailbox, &imap.SelectOptions{ReadOnly: p.acct.KeepMails}).Wait()
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
	p.selected = sel.NumMessages
	return nil
}

// login authenticates with a password (LOGIN) or an OAuth2 token
// (AUTHENTICATE XOAUTH2).
func (p *imapPass) login(ctx context.Context) error {
	acct := p.acct
	if !acct.IsOAuth2() {
		err := p.c.Login(acct.Username, acct.Password.Reveal()).Wait()
		if err == nil {
			return nil
		}
		// The error is the server's response; it never holds the password.
		err = fmt.Errorf("login as %q: %w", acct.Username, err)
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code != imap.ResponseCodeUnavailable {
			err = permanent(err)
		}
		return err
	}
	for {
		tok, fresh, err := p.f.token(ctx, acct)
		if err != nil {
			return err
		}
		x := &xoauth2Client{ir: xoauth2Response(acct.Username, tok)}
		err = p.c.Authenticate(x)
		if err == nil {
			return nil
		}
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code == imap.ResponseCodeUnavailable {
			return fmt.Errorf("login as %q with XOAUTH2: %w", acct.Username, err)
		}
		if !fresh {
			// A cached token may have been revoked: once more with a new one.
			p.f.dropToken(acct)
			continue
		}
		return permanent(oauthLoginError(acct, "IMAP", tok, x.challenge, err))
	}
}

// pass fetches the mailbox's messages once. It starts no new message once
// ctx ends.
func (p *imapPass) pass(ctx, hard context.Context) error {
	p.res = Result{Account: p.acct.Name}
	p.win = newWindow(p.f.window)
	// Announcements until now are answered by this pass.
	select {
	case <-p.wake:
	default:
	}
	n := p.selected
	if mbox := p.c.Mailbox(); mbox != nil && p.passes > 0 {
		n = mbox.NumMessages
	}
	p.passes++
	if n == 0 {
		return nil
	}
	list, base, err := p.list()
	if err != nil {
		return err
	}
	p.progress = newUIDProgress(base, list)
	defer p.saveCheckpoint()
	for i, m := range list {
		err := ctx.Err()
		if err == nil {
			err = p.message(hard, i, m)
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
	return p.expunge()
}

// idle waits in IDLE (RFC 2177) until the server announces new mail, d
// passes or ctx ends.
func (p *imapPass) idle(ctx context.Context, d time.Duration) error {
	select {
	case <-p.wake:
		return nil // mail came in during the last pass
	default:
	}
	d = min(d, maxIdle)
	// The server may stay silent for the whole IDLE.
	p.d.dc.setTimeout(d + p.f.readTimeout)
	defer p.d.dc.setTimeout(p.f.readTimeout)
	cmd, err := p.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.wake:
		p.log.Debug("new mail announced")
	case <-t.C:
	case <-ctx.Done():
	case <-p.c.Closed():
	}
	p.d.dc.setTimeout(p.f.readTimeout)
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}

// idleIMAP runs passes over one connection until ctx ends or an error,
// waiting in IDLE between them for new mail, at most the account's
// interval. Each pass is given to passDone. It returns errNoIdle, after one
// pass, when the server does not support IDLE, and nil when ctx ended.
// reported tells whether the error returned was given to passDone.
func (f *Fetcher) idleIMAP(ctx context.Context, acct *config.Account, log *slog.Logger, passDone func(Result, error)) (reported bool, err error) {
	hard, cancel := f.twoPhase(ctx)
	defer cancel()
	f.status.set(acct.Name, StateFetching, time.Time{})
	p, err := f.openIMAP(ctx, hard, acct, log)
	if err != nil {
		err = f.passError(ctx, acct, err)
		passDone(Result{Account: acct.Name}, err)
		return true, err
	}
	defer p.c.Close()
	canIdle := p.c.Caps().Has(imap.CapIdle)
	every := interval(acct)
	for {
		f.status.set(acct.Name, StateFetching, time.Time{})
		err := f.passError(ctx, acct, p.pass(ctx, hard))
		passDone(p.res, err)
		if err != nil {
			return true, err
		}
		if ctx.Err() != nil {
			break
		}
		if !canIdle {
			logCheck(p.log, p.c.Logout().Wait(), "logout")
			return false, errNoIdle
		}
		f.status.set(acct.Name, StateIdle, time.Now().Add(min(every, maxIdle)))
		if err := p.idle(ctx, every); err != nil {
			return false, f.passError(ctx, acct, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	logCheck(p.log, p.c.Logout().Wait(), "logout")
	return false, nil
}

// dialIMAP connects with the account's security and waits for the greeting.
func (f *Fetcher) dialIMAP(ctx context.Context, acct *config.Account, log *slog.Logger, opts *imapclient.Options) (*imapclient.Client, *dialed, error) {
	d, err := f.dial(ctx, acct, log, "imap")
	if err != nil {
		return nil, nil, err
	}
	// Until the caller binds the client to ctx, closing conn unblocks
	// STARTTLS and the greeting.
	stop := context.AfterFunc(ctx, func() { d.conn.Close() })
	defer stop()

	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = d.tls
	var c *imapclient.Client
	switch acct.Security {
	case config.SecuritySTARTTLS:
		c, err = imapclient.NewStartTLS(d.conn, opts)
		if err != nil {
			d.conn.Close()
			err = fmt.Errorf("starttls with %s: %w", d.addr, err)
			var ie *imap.Error
			if errors.As(err, &ie) {
				// The server refused STARTTLS: configuration, not network.
				return nil, nil, permanent(err)
			}
			return nil, nil, classifyTLS(err)
		}
	default:
		c = imapclient.New(d.conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("greeting from %s: %w", d.addr, err)
	}
	return c, d, nil
}

// list returns the UIDs and sizes to look at, in ascending UID order, and
// the checkpoint it starts after (0 for the whole mailbox).
func (p *imapPass) list() (list []uidSize, base uint32, err error) {
	from := imap.UID(1)
	if p.acct.KeepMails && p.f.checkpoints != nil {
		validity, last, err := p.f.checkpoints.Checkpoint(p.acct.Name, p.mailbox)
		if err != nil {
			return nil, 0, fmt.Errorf("checkpoint: %w", err)
		}
		switch {
		case validity == p.validity && validity != 0:
			if last == ^uint32(0) {
				return nil, last, nil
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
		return nil, 0, fmt.Errorf("listing uids: %w", err)
	}
	slices.SortFunc(list, func(a, b uidSize) int { return cmp.Compare(a.uid, b.uid) })
	return list, uint32(from) - 1, nil
}

// saveCheckpoint raises the mailbox's checkpoint to what the pass archived
// without a gap, once no message is in flight any more. The transactions
// that archived the messages wrote a checkpoint each, but one that lags
// behind by the messages archived concurrently. A failure is logged: the
// next pass then fetches some archived messages again, and the archive
// deduplicates them.
func (p *imapPass) saveCheckpoint() {
	if p.f.checkpoints == nil || p.validity == 0 {
		return
	}
	p.win.wait() // its error is the pass's
	if last := p.progress.upTo(); last > p.progress.base {
		err := p.f.checkpoints.SetCheckpoint(p.acct.Name, p.mailbox, p.validity, last)
		logCheck(p.log, err, "saving the checkpoint")
	}
}

// message fetches, archives and schedules the deletion of message i of the
// pass's list. An error ends the pass.
func (p *imapPass) message(ctx context.Context, i int, m uidSize) error {
	log := p.log.With("uid", uint32(m.uid))
	key := p.key(m.uid)
	if p.f.failures.passedOver(key) {
		p.res.Seen++
		p.count(func(r *Result) { r.Failed++ })
		log.Debug("passed over: archiving it failed in passes in a row")
		p.progress.markDone(i)
		return nil
	}
	if m.size > p.max {
		p.res.Seen++
		p.tooLarge(log, m.uid, m.size)
		p.progress.markDone(i)
		return nil
	}

	if err := p.win.acquire(ctx); err != nil {
		return err
	}
	sp := p.f.newSpool()
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
		p.progress.markDone(i)
		return nil
	}
	p.res.Seen++
	switch {
	case errors.Is(err, errTooLarge):
		p.tooLarge(log, m.uid, size)
		p.progress.markDone(i)
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
		Checkpoint:  p.progress.upToWith(i),
		Size:        size,
		Fetched:     time.Now(),
		Body:        sp,
	}
	handedOver = true
	p.win.run(func() error {
		defer sp.remove(log)
		if err := p.f.sink.Archive(ctx, msg); err != nil {
			p.count(func(r *Result) { r.Failed++ })
			p.f.failures.failed(key, err, log)
			return fmt.Errorf("uid %d: %w", m.uid, err)
		}
		log.Debug("archived", "size", size)
		p.f.failures.archived(key)
		p.progress.markDone(i)
		p.f.status.archived(p.acct.Name, size)
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
	if _, seen := p.f.tooLarge.LoadOrStore(p.key(uid), true); seen {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, "message larger than max_message_size left on the server",
		"size", size, "max_message_size", p.max)
}

func (p *imapPass) key(uid imap.UID) messageKey {
	return messageKey{account: p.acct.Name, mailbox: p.mailbox, validity: p.validity, uid: uint32(uid)}
}

// messageKey names a message on a server: by mailbox, UIDVALIDITY and UID
// for IMAP, by UIDL for POP3 (by number when the server has no UIDL).
type messageKey struct {
	account, mailbox string
	validity, uid    uint32
	uidl             string
}

// fetchBody streams BODY.PEEK[] of uid into sp and returns its size. It
// returns errTooLarge, without reading the rest, once the literal is known
// to exceed the limit.
func (p *imapPass) fetchBody(uid imap.UID, sp *spool) (int64, error) {
	cmd := p.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()

	var (
		size    int64
		found   bool
		replied bool
		err     error
	)
	// A FETCH response that another client's flag change caused may come
	// first, with the UID but without BODY[]: the body is in a later one.
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		replied = true
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
	}
	if cerr := cmd.Close(); cerr != nil {
		return size, fmt.Errorf("fetch body: %w", cerr)
	}
	if err != nil {
		return size, err
	}
	switch {
	case !replied:
		// No FETCH response at all: the UID is gone.
		return 0, errVanished
	case !found:
		// Not passed over as vanished: the checkpoint would pass it.
		return 0, errors.New("the server answered UID FETCH without the message's body")
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
