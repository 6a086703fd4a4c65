package smtpserver

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"jarchive/config"
	"jarchive/fetch"
)

// ErrStorage, wrapped in an error of Sink.Archive, says that the archive's
// storage cannot take the message (disk full, I/O error): the client gets
// 452 4.3.1.
var ErrStorage = errors.New("archive storage unavailable")

// ErrBusy, wrapped in an error of Sink.Archive, says that the archive
// cannot keep up: the client gets 421 4.3.2 and is disconnected.
var ErrBusy = errors.New("archive busy")

// MaxLineLength is the longest line accepted, in commands and in the data.
const MaxLineLength = 256 << 10

// Observer is told about every message and refusal, for metrics. Its
// methods must be safe for concurrent use.
type Observer interface {
	// Accepted is called for every message answered 250: its size and
	// how long the sink took to commit it.
	Accepted(size int64, commit time.Duration)
	// Rejected is called for every refusal, with one of the reasons
	// network, connections, tls, auth, syntax, recipient, size, line, timeout,
	// storage, busy, failed.
	Rejected(reason string)
}

// Options configure a Server. Sink is required.
type Options struct {
	Sink     fetch.Sink
	Logger   *slog.Logger
	TempDir  string   // where messages are spooled ("" = os.TempDir())
	Observer Observer // may be nil
}

// Server is an SMTP or LMTP receiver. Create it with New, start it with
// Serve and stop it with Shutdown.
type Server struct {
	cfg  config.SMTP
	opts Options
	log  *slog.Logger
	smtp *smtp.Server

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*trackedConn]struct{}
	closing bool
	idle    chan struct{} // signalled when a connection goes away
	nextID  atomic.Uint64
}

// New returns a Server for the [smtp] table cfg (as config.Load filled it
// in). It loads the TLS certificate.
func New(cfg *config.SMTP, opts Options) (*Server, error) {
	if opts.Sink == nil {
		return nil, errors.New("smtpserver: Options.Sink is nil")
	}
	s := &Server{
		cfg:   *cfg,
		opts:  opts,
		log:   opts.Logger,
		conns: map[*trackedConn]struct{}{},
		idle:  make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	c := &s.cfg
	c.MaxMessageSize = cmp.Or(c.MaxMessageSize, config.DefaultMaxMessageSize)
	c.MaxConnections = cmp.Or(c.MaxConnections, config.DefaultSMTPMaxConnections)
	c.MaxRecipients = cmp.Or(c.MaxRecipients, config.DefaultSMTPMaxRecipients)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, config.DefaultSMTPReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, config.DefaultSMTPWriteTimeout)
	c.CommitTimeout = cmp.Or(c.CommitTimeout, config.DefaultSMTPCommitTimeout)
	c.Name = cmp.Or(c.Name, config.DefaultSMTPName)
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
		c.Hostname = cmp.Or(c.Hostname, "localhost")
	}

	srv := smtp.NewServer(backend{s})
	srv.Domain = c.Hostname
	srv.LMTP = c.LMTP
	srv.Network = "tcp"
	srv.MaxMessageBytes = int64(c.MaxMessageSize)
	srv.MaxRecipients = c.MaxRecipients
	srv.MaxLineLength = MaxLineLength
	srv.ReadTimeout = time.Duration(c.ReadTimeout)
	srv.WriteTimeout = time.Duration(c.WriteTimeout)
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s.log}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("smtpserver: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		// AUTH without a certificate can only be in clear text
		// (config's documentation warns of it).
		srv.AllowInsecureAuth = true
	}
	s.smtp = srv
	return s, nil
}

// Listen opens the configured listen address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("smtp listen %s: %w", s.cfg.Listen, err)
	}
	return ln, nil
}

// Serve answers the connections of ln until Shutdown; it returns nil then,
// or the error that ended accepting.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	err := s.smtp.Serve(&filterListener{Listener: ln, s: s})
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and closes the idle ones; each
// message in flight gets its final reply before its connection is closed.
// When ctx ends first, every connection is closed at once and ctx's error
// is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	for {
		var idle, all []*trackedConn
		s.mu.Lock()
		for c := range s.conns {
			all = append(all, c)
			if !c.busy.Load() {
				idle = append(idle, c)
			}
		}
		s.mu.Unlock()
		if len(all) == 0 {
			return nil
		}
		for _, c := range idle { // Close takes s.mu
			c.Close()
		}
		select {
		case <-ctx.Done():
			for _, c := range all {
				c.Close()
			}
			return fmt.Errorf("smtp shutdown: %d messages in flight cut off: %w", len(all)-len(idle), ctx.Err())
		case <-s.idle:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) reject(reason string) {
	if s.opts.Observer != nil {
		s.opts.Observer.Rejected(reason)
	}
}

// filterListener refuses clients outside allowed_networks (554) and over
// max_connections (421) before go-smtp sees them, and tracks the others.
type filterListener struct {
	net.Listener
	s *Server
}

func (l *filterListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.s
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if !s.cfg.Allowed(ap.Addr()) {
			s.reject("network")
			s.log.Warn("smtp client refused: not in allowed_networks", "remote", c.RemoteAddr().String())
			go refuse(c, "554 5.7.1 "+s.cfg.Hostname+" your address is not allowed to deliver here")
			continue
		}
		s.mu.Lock()
		full := len(s.conns) >= s.cfg.MaxConnections
		tc := &trackedConn{Conn: c, s: s, id: s.nextID.Add(1)}
		if !full {
			s.conns[tc] = struct{}{}
		}
		s.mu.Unlock()
		if full {
			s.reject("connections")
			s.log.Warn("smtp client refused: max_connections reached", "remote", c.RemoteAddr().String(), "max_connections", s.cfg.MaxConnections)
			go refuse(c, "421 4.7.0 "+s.cfg.Hostname+" too many connections, try again later")
			continue
		}
		return tc, nil
	}
}

// refuse sends one reply and closes c.
func refuse(c net.Conn, reply string) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, reply+"\r\n")
	c.Close()
}

// trackedConn is an accepted connection; busy while a message's data is
// being received and archived, so that Shutdown lets it finish.
type trackedConn struct {
	net.Conn
	s    *Server
	id   uint64
	busy atomic.Bool
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		select {
		case c.s.idle <- struct{}{}:
		default:
		}
	})
	return err
}

// closing reports whether Shutdown was called.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// errorLog sends go-smtp's internal errors to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.l.Warn("smtp: " + fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.l.Warn("smtp: " + fmt.Sprint(v...)) }
