// Package fetch gets journal mail from where it waits (an IMAP mailbox, a
// POP3 maildrop, or files to import) and hands every message, spooled to a
// temporary file, to a Sink. It never imports a later pipeline stage:
// cmd/jarchive wires the Sink.
//
// # Delivery guarantee
//
// A message is deleted on the server only after Sink.Archive returned nil for
// it, and only when the account does not keep mails. Over IMAP, deletion is
// UID STORE +FLAGS.SILENT (\Deleted) then UID EXPUNGE of exactly the
// archived UIDs (RFC 4315 UIDPLUS), in batches of expungeBatch and at the
// end of the pass; without UIDPLUS a plain EXPUNGE is used, which also
// removes messages that another client flagged \Deleted. Over POP3, DELE is
// sent for each archived message and QUIT makes the deletions happen (RFC
// 1939 section 6): a connection that breaks before QUIT deletes nothing. A
// sink error ends the pass (after deleting what was archived before it) and
// leaves that message on the server; one that fails in maxArchiveFailures
// passes in a row is passed over (failures.go). A crash or a broken
// connection between Archive and the deletion leaves the message on the
// server too, so the next pass fetches it again and the archive
// deduplicates it.
//
// # IMAP pass
//
// LOGIN (or AUTHENTICATE XOAUTH2), SELECT (EXAMINE with keep_mails), UID
// FETCH n:* (UID RFC822.SIZE), then for each UID in ascending order UID
// FETCH BODY.PEEK[], streamed to a temporary file (the message is never held
// in memory). Messages over the account's max_message_size stay on the
// server and are counted TooLarge. With keep_mails and a Checkpoints whose
// UIDVALIDITY matches the mailbox's, only UIDs above the checkpoint are
// fetched (RFC 3501 6.4.8: "n:*" also returns the highest UID when it is
// below n, so the list is filtered). The checkpoint only ever covers UIDs
// up to the first one of a pass that failed (see uidProgress), so a message
// whose archiving failed while later ones of the window were archived is
// fetched again by the next pass; the later ones come again too and the
// archive deduplicates them.
//
// With idle = true, Run keeps the connection: after a pass it waits in IDLE
// (RFC 2177) until the server announces a new message (EXISTS), then runs
// the next pass on the same connection; without news a pass runs every
// interval anyway (at most every 25 minutes, as RFC 2177 asks).
//
// # POP3 pass
//
// Greeting, CAPA, STLS for starttls, AUTH PLAIN (or USER and PASS when the
// server offers no SASL PLAIN; AUTH XOAUTH2 with OAuth2), STAT, LIST and
// UIDL, then RETR of each message in order, dot-unstuffed into a temporary
// file. A message whose LIST size is over max_message_size is not
// retrieved. With keep_mails, messages whose UIDL was archived before are
// skipped: the Fetcher remembers the UIDLs it archived, and asks the
// Checkpoints value when it also implements UIDLs (so that a restart does
// not fetch everything once more). A POP3 server ends the last line of a
// message with CRLF (RFC 1939 section 3), so a message stored without a
// final line end arrives with one. See pop3.go for the limits that keep a
// hostile server from growing memory.
//
// # OAuth2
//
// imap-oauth2 and pop3-oauth2 log in with SASL XOAUTH2 and an access token
// of the client-credentials flow (Microsoft 365); see oauth2.go.
//
// # Concurrency and stopping
//
// Up to Options.Window messages of a pass are in Sink.Archive at once, each in
// its own goroutine, so the archive can commit them together (group commit)
// while the next message is fetched; the Sink must be safe for concurrent
// use. Each message is still deleted only after its own Archive returned nil.
// When the pass's context ends, no new message is started, the ones in
// flight are archived and deleted, and only after Options.Grace is the
// connection closed by force.
//
// # Errors and timeouts
//
// Errors that retrying will not fix (authentication failed, TLS certificate
// verification failed, missing mailbox, unsupported protocol, bad CA file,
// an OAuth2 client the token endpoint refuses) match ErrPermanent with
// errors.Is; everything else (network, timeouts, a busy server, sink
// errors) is temporary. Run uses that to pick the retry interval. Every
// read from a server has a deadline (two minutes without a byte), so a
// server that stops talking ends the pass instead of hanging it.
//
// # Import
//
// Import reads .eml files, mbox files, maildirs, directories and zip files of
// them, resumably; see Import, and mboxSplitter for how an mbox is split.
package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"jarchive/config"
)

// Message is one fetched message, spooled to a temp file.
type Message struct {
	Account     string // config account name, or "import"
	Mailbox     string // IMAP mailbox; "" for POP3/import
	UIDValidity uint32
	UID         uint32
	// Checkpoint (IMAP only) is the UID to which the sink may advance the
	// mailbox's checkpoint in the transaction that archives this message:
	// once this message is archived, every UID of the pass up to it is
	// archived too or was passed over for good (too large, vanished). It
	// is lower than UID while a lower UID is still being archived, and
	// never passes a UID whose archiving failed, so that the next pass
	// fetches that one again. 0: leave the checkpoint as it is.
	Checkpoint uint32
	// UIDL is the POP3 unique-id (RFC 1939 section 7) of the message; ""
	// for IMAP and import. A sink that implements UIDLs records it.
	UIDL    string
	Path    string // import only: file path, "file.mbox#12" (1-based) for mbox members
	Size    int64
	Fetched time.Time
	// Body holds the raw bytes exactly as the server or file gave them
	// (in memory or in a temporary file). Read it with ReadAt or
	// io.NewSectionReader(Body, 0, Size); it is valid until Archive returns.
	Body io.ReaderAt
	// MailFrom and RcptTo are the SMTP envelope of a message received by
	// jarchive's SMTP receiver (package smtpserver): the reverse-path (""
	// for the null sender <>) and the accepted recipients. Empty for
	// fetched and imported messages.
	MailFrom string
	RcptTo   []string
	// Delivery identifies an SMTP delivery: the hex SHA-256 of the bytes
	// received. Two journal reports of one original differ in it, while a
	// sender's retry of a delivery the archive committed but could not
	// acknowledge has the same. Empty for fetched and imported messages.
	Delivery string
}

// Sink receives each message. It returns nil only once the message is
// durably archived; only then may fetch delete it on the server.
type Sink interface {
	Archive(ctx context.Context, m *Message) error
}

// Checkpoints tells fetch what was already archived for an account's IMAP
// mailbox: every UID up to lastUID. The sink advances it to
// Message.Checkpoint in the same transaction as the message, and at the end
// of a pass fetch advances it with SetCheckpoint to what the whole pass
// archived. Used with keep_mails to fetch only new UIDs.
type Checkpoints interface {
	Checkpoint(account, mailbox string) (uidValidity, lastUID uint32, err error)
	// SetCheckpoint raises the checkpoint to lastUID; one of another
	// UIDVALIDITY is replaced. It never lowers it.
	SetCheckpoint(account, mailbox string, uidValidity, lastUID uint32) error
}

// UIDLs tells fetch which POP3 messages were archived before, so that a
// keep_mails POP3 account fetches only new ones, also after a restart. Fetch
// asks the Options.Checkpoints value for it with a type assertion; the sink
// records Message.UIDL in the same transaction as the message. Without it,
// the Fetcher only remembers the UIDLs it archived itself: after a restart a
// keep_mails POP3 account is fetched once more in full, and the archive's
// deduplication absorbs the copies.
type UIDLs interface {
	SeenUIDL(account, uidl string) (bool, error)
}

// Options configure a Fetcher. Sink is required; the rest may be zero.
type Options struct {
	Sink        Sink
	Checkpoints Checkpoints // nil: fetch everything
	Logger      *slog.Logger
	TempDir     string // where bodies are spooled ("" = os.TempDir())
	// Window is how many messages of a pass may be in Sink.Archive at
	// once (default defaultWindow, 128). The Sink must be safe for
	// concurrent use.
	Window int
	// Grace is how long a pass may finish the messages in flight after its
	// context ended, before the connection is closed by force (default 30s).
	Grace time.Duration
}

// Result counts what one pass (or one Import) did.
type Result struct {
	Account string
	// Seen is the number of messages looked at, Archived those the sink
	// accepted, Deleted those expunged on the server, TooLarge those left on
	// the server for exceeding max_message_size, Failed those that could not
	// be read or archived, Skipped files in an import's directories that
	// are not mail by their name (see Import), Resumed the files, zip
	// entries and mbox members a resumed import skipped because an
	// interrupted run of it archived them.
	Seen, Archived, Deleted, TooLarge, Failed, Skipped, Resumed int
	// Bytes is the size of the archived messages.
	Bytes int64
}

// ErrPermanent wraps errors that retrying will not fix (auth, TLS verify,
// missing mailbox); check with errors.Is.
var ErrPermanent = errors.New("permanent")

// permanentError marks err as permanent without changing its text.
type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

func permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return permanentError{err}
}

// The account's settings, with config's defaults for zero values (an Account
// not filled in by config.Load, as in tests).

func maxMessageSize(acct *config.Account) int64 {
	return int64(cmp.Or(acct.MaxMessageSize, config.DefaultMaxMessageSize))
}

func interval(acct *config.Account) time.Duration {
	return time.Duration(cmp.Or(acct.Interval, config.DefaultInterval))
}

func mailboxName(acct *config.Account) string {
	return cmp.Or(acct.Mailbox, config.DefaultMailbox)
}

// Fetcher polls accounts and imports files into one Sink. It is safe for
// concurrent use by several accounts.
type Fetcher struct {
	sink        Sink
	checkpoints Checkpoints
	log         *slog.Logger
	tempDir     string
	tooLarge    sync.Map      // messageKey -> true: messages already warned about
	failures    failureCounts // messages whose archiving failed (failures.go)
	window      int           // messages in Sink.Archive at once, per pass
	grace       time.Duration // after ctx ends, how long a pass may finish
	status      statusRegistry
	tokens      sync.Map // account name -> *tokenCache
	uidlSets    sync.Map // account name -> *uidlSet: POP3 UIDLs archived
	oversize    sync.Map // [2]string{account, uidl}: RETR went over max_message_size
	httpClient  *http.Client

	// Timing, in fields so tests can shorten it.
	readTimeout time.Duration // any read from a server
	tokenMargin time.Duration // renew OAuth2 tokens this long before expiry

	// Retry timing of Run, in fields so tests can shorten it.
	backoffMin, backoffMax time.Duration
	permanentMax           time.Duration
}

// New returns a Fetcher. It panics if opts.Sink is nil, a programming error.
func New(opts Options) *Fetcher {
	if opts.Sink == nil {
		panic("fetch.New: Options.Sink is nil")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{
		sink:         opts.Sink,
		checkpoints:  opts.Checkpoints,
		log:          log,
		tempDir:      opts.TempDir,
		window:       cmp.Or(opts.Window, defaultWindow),
		grace:        cmp.Or(opts.Grace, 30*time.Second),
		backoffMin:   5 * time.Second,
		backoffMax:   5 * time.Minute,
		permanentMax: time.Hour,
		readTimeout:  defaultReadTimeout,
		tokenMargin:  defaultTokenMargin,
		httpClient:   &http.Client{Timeout: tokenTimeout},
	}
}

// Poll does one pass over one account.
func (f *Fetcher) Poll(ctx context.Context, acct *config.Account) (Result, error) {
	res := Result{Account: acct.Name}
	log := f.log.With("account", acct.Name)
	switch acct.Protocol {
	case config.ProtocolIMAP, config.ProtocolIMAPOAuth2:
		return f.pollIMAP(ctx, acct, log)
	case config.ProtocolPOP3, config.ProtocolPOP3OAuth2:
		return f.pollPOP3(ctx, acct, log)
	default:
		return res, permanent(fmt.Errorf("fetch %s: protocol %s is not supported", acct.Name, acct.Protocol))
	}
}

// spoolMemory is the size up to which a spool holds a message in memory; a
// larger one goes to a temporary file. With the window of messages being
// archived at once, it bounds the memory of the messages in flight
// (defaultWindow x 256 KiB), while most mail (median ~10 KB) never touches
// the disk twice: a file created and removed per message cost as much as
// archiving it. Kept small, as a large message grows its buffer up to it
// before it spills (pooled buffers do not survive a garbage collection).
const spoolMemory = 256 << 10

// spoolBufs are the memory of spools, reused.
var spoolBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// spool holds one message body: in memory up to spoolMemory bytes, then in
// a temporary file in dir. Write appends; ReadAt reads what was written.
type spool struct {
	dir  string
	buf  *[]byte  // in memory, until file is made
	file *os.File // nil while in memory
	size int64
}

func (f *Fetcher) newSpool() *spool {
	return &spool{dir: f.tempDir, buf: spoolBufs.Get().(*[]byte)}
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && len(*s.buf)+len(p) > spoolMemory {
		file, err := os.CreateTemp(s.dir, "jarchive-fetch-*")
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.file = file
		if _, err := file.Write(*s.buf); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.release()
	}
	if s.file != nil {
		n, err := s.file.Write(p)
		s.size += int64(n)
		if err != nil {
			err = fmt.Errorf("spool: %w", err)
		}
		return n, err
	}
	if b := *s.buf; len(b)+len(p) > cap(b) {
		// Grown by hand, to end at spoolMemory exactly: a pooled
		// buffer then fits every message kept in memory.
		nb := make([]byte, len(b), min(max(2*cap(b), len(b)+len(p)), spoolMemory))
		copy(nb, b)
		*s.buf = nb
	}
	*s.buf = append(*s.buf, p...)
	s.size += int64(len(p))
	return len(p), nil
}

func (s *spool) ReadAt(p []byte, off int64) (int, error) {
	if s.file != nil {
		return s.file.ReadAt(p, off)
	}
	if off >= int64(len(*s.buf)) {
		return 0, io.EOF
	}
	n := copy(p, (*s.buf)[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size returns the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// Truncate drops what was written beyond size.
func (s *spool) Truncate(size int64) error {
	if size < 0 || size > s.size {
		return fmt.Errorf("spool: truncate to %d of %d bytes", size, s.size)
	}
	if s.file != nil {
		if _, err := s.file.Seek(size, io.SeekStart); err != nil {
			return err
		}
		if err := s.file.Truncate(size); err != nil {
			return err
		}
	} else {
		*s.buf = (*s.buf)[:size]
	}
	s.size = size
	return nil
}

func (s *spool) release() {
	if s.buf != nil {
		*s.buf = (*s.buf)[:0]
		spoolBufs.Put(s.buf)
	}
	s.buf = nil
}

// remove frees the memory or deletes the file; errors are only logged, as
// nothing depends on them.
func (s *spool) remove(log *slog.Logger) {
	if s == nil {
		return
	}
	s.release()
	if s.file == nil {
		return
	}
	name := s.file.Name()
	logCheck(log, s.file.Close(), "closing spool file", "path", name)
	logCheck(log, os.Remove(name), "removing spool file", "path", name)
	s.file = nil
}

// logCheck logs a best-effort operation's error.
func logCheck(log *slog.Logger, err error, msg string, args ...any) {
	if err != nil {
		log.Warn(msg, append(args, "err", err)...)
	}
}

// uidlSet is the UIDLs of one POP3 account archived by this process.
type uidlSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (f *Fetcher) uidls(account string) *uidlSet {
	v, _ := f.uidlSets.LoadOrStore(account, &uidlSet{m: map[string]bool{}})
	return v.(*uidlSet)
}

// retain forgets the UIDLs that are not in the maildrop any more, so the
// set never outgrows the mailbox.
func (s *uidlSet) retain(msgs []pop3Msg) {
	keep := make(map[string]bool, len(msgs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		if s.m[m.uidl] {
			keep[m.uidl] = true
		}
	}
	s.m = keep
}

func (s *uidlSet) add(uidl string) {
	s.mu.Lock()
	s.m[uidl] = true
	s.mu.Unlock()
}

// has reports whether uidl was archived: by this process, or, when cp
// implements UIDLs, ever.
func (s *uidlSet) has(cp Checkpoints, account, uidl string) (bool, error) {
	s.mu.Lock()
	seen := s.m[uidl]
	s.mu.Unlock()
	if seen {
		return true, nil
	}
	u, ok := cp.(UIDLs)
	if !ok {
		return false, nil
	}
	seen, err := u.SeenUIDL(account, uidl)
	if seen {
		s.add(uidl)
	}
	return seen, err
}

// lying reports whether the message uidl delivered more than
// max_message_size before although LIST said it was smaller.
func (f *Fetcher) lying(account, uidl string) bool {
	if uidl == "" {
		return false
	}
	_, ok := f.oversize.Load([2]string{account, uidl})
	return ok
}

func (f *Fetcher) markLying(account, uidl string) {
	if uidl != "" {
		f.oversize.Store([2]string{account, uidl}, true)
	}
}
