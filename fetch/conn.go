package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"jarchive/config"
)

const (
	dialTimeout = 30 * time.Second
	// tlsTimeout bounds the implicit TLS handshake.
	tlsTimeout = 30 * time.Second
	// defaultReadTimeout is how long any read from a server may wait for
	// data before the connection is given up (Options.ReadTimeout).
	defaultReadTimeout = 2 * time.Minute
	// writeTimeout bounds every write of a POP3 command.
	writeTimeout = 30 * time.Second
)

// deadlineConn gives every Read its own deadline, timeout after the Read
// starts, so a server that stops talking in the middle of anything (the
// greeting, a response, a 50 MB literal) is noticed. go-imap's own read
// deadlines, which leave the wait for the next response unbounded, are
// ignored: SetReadDeadline does nothing.
type deadlineConn struct {
	net.Conn
	timeout atomic.Int64 // time.Duration; 0: no deadline
}

func newDeadlineConn(c net.Conn, timeout time.Duration) *deadlineConn {
	dc := &deadlineConn{Conn: c}
	dc.timeout.Store(int64(timeout))
	return dc
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if d := time.Duration(c.timeout.Load()); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	} else {
		c.Conn.SetReadDeadline(time.Time{})
	}
	return c.Conn.Read(p)
}

// SetReadDeadline is a no-op: Read sets the deadline.
func (c *deadlineConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline sets the write deadline only, for the same reason.
func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// setTimeout changes the read timeout, also of a Read already waiting.
func (c *deadlineConn) setTimeout(d time.Duration) {
	c.timeout.Store(int64(d))
	if d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	} else {
		c.Conn.SetReadDeadline(time.Time{})
	}
}

// dialed is a connection to an account's server, before the protocol's
// greeting.
type dialed struct {
	conn net.Conn      // TLS already for security tls
	dc   *deadlineConn // the TCP connection under conn
	tls  *tls.Config   // for STARTTLS/STLS; nil for security none
	addr string
}

// dial connects to the account's server with its security: for tls the
// handshake is done, for starttls the caller upgrades after the greeting.
// alpn is the protocol announced in the TLS handshake ("imap", "pop3").
// Certificate and configuration problems are permanent errors.
func (f *Fetcher) dial(ctx context.Context, acct *config.Account, log *slog.Logger, alpn string) (*dialed, error) {
	d := &dialed{addr: acct.Addr()}
	if acct.Security != config.SecurityNone {
		cfg, err := acct.TLSConfig()
		if err != nil {
			return nil, permanent(err)
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(d.addr)
			if err != nil {
				return nil, permanent(fmt.Errorf("server %q: %w", d.addr, err))
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		d.tls = cfg
	} else {
		log.Warn("connecting without TLS: credentials and all mail cross the network in clear text", "server", d.addr)
	}

	nd := net.Dialer{Timeout: dialTimeout}
	conn, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err // net.OpError names the address
	}
	d.dc = newDeadlineConn(conn, f.readTimeout)
	d.conn = d.dc
	if acct.Security != config.SecurityTLS {
		return d, nil
	}
	cfg := d.tls.Clone()
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{alpn}
	}
	tconn := tls.Client(d.dc, cfg)
	hctx, cancel := context.WithTimeout(ctx, tlsTimeout)
	err = tconn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		conn.Close()
		return nil, classifyTLS(fmt.Errorf("tls handshake with %s: %w", d.addr, err))
	}
	d.conn = tconn
	return d, nil
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
