package smtpserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"jarchive/config"
	"jarchive/fetch"
)

// memSink records every archived message; err, when set, is returned
// instead, and delay makes each Archive take that long.
type memSink struct {
	mu    sync.Mutex
	msgs  []stored
	err   error
	delay time.Duration
	gate  chan struct{} // if set, Archive waits for a value
}

type stored struct {
	account, from string
	rcpts         []string
	data          []byte
}

func (s *memSink) Archive(ctx context.Context, m *fetch.Message) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return fmt.Errorf("sink: %w", ctx.Err())
		}
	}
	b, err := io.ReadAll(io.NewSectionReader(m.Body, 0, m.Size))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, stored{m.Account, m.MailFrom, m.RcptTo, b})
	return nil
}

func (s *memSink) all() []stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stored(nil), s.msgs...)
}

type countObserver struct {
	mu       sync.Mutex
	accepted int
	rejected map[string]int
}

func (o *countObserver) Accepted(int64, time.Duration) {
	o.mu.Lock()
	o.accepted++
	o.mu.Unlock()
}

func (o *countObserver) Rejected(reason string) {
	o.mu.Lock()
	if o.rejected == nil {
		o.rejected = map[string]int{}
	}
	o.rejected[reason]++
	o.mu.Unlock()
}

func (o *countObserver) get(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rejected[reason]
}

// testConfig is a valid [smtp] table for loopback clients.
func testConfig() config.SMTP {
	return config.SMTP{
		Listen:           "127.0.0.1:0",
		Hostname:         "archive.test",
		AcceptRecipients: []string{"journal@archive.test", "@journal.test"},
		Networks:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		MaxMessageSize:   64 << 10,
		MaxConnections:   10,
		ReadTimeout:      config.Duration(5 * time.Second),
		CommitTimeout:    config.Duration(5 * time.Second),
	}
}

// start runs a Server on a free loopback port until the test ends.
func start(t testing.TB, cfg config.SMTP, sink fetch.Sink, obs Observer) (*Server, string) {
	t.Helper()
	s, err := New(&cfg, Options{Sink: sink, TempDir: t.TempDir(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// client is a raw SMTP conversation.
type client struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, tp: textproto.NewConn(c)}
}

// reply reads one (multi-line) reply and returns its code and text.
func (c *client) reply() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		var pe textproto.ProtocolError
		if errors.As(err, &pe) || errors.Is(err, io.EOF) {
			return 0, err.Error()
		}
		if code != 0 {
			return code, msg
		}
		return 0, err.Error()
	}
	return code, msg
}

// send writes raw bytes (lines must carry their own CRLF).
func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect sends line and fails the test unless the reply has code want.
func (c *client) expect(line string, want int) string {
	c.t.Helper()
	c.send(line + "\r\n")
	code, msg := c.reply()
	if code != want {
		c.t.Fatalf("%q: got %d %s; want %d", line, code, msg, want)
	}
	return msg
}

// hello reads the greeting and sends EHLO.
func (c *client) hello() {
	c.t.Helper()
	if code, msg := c.reply(); code != 220 {
		c.t.Fatalf("greeting: got %d %s; want 220", code, msg)
	}
	c.expect("EHLO client.test", 250)
}

const msg1 = "From: a@example.com\r\nTo: b@example.com\r\nSubject: one\r\nMessage-ID: <1@example.com>\r\n\r\nHello.\r\n..dot line\r\n"

func TestDeliver(t *testing.T) {
	sink := &memSink{}
	obs := &countObserver{}
	_, addr := start(t, testConfig(), sink, obs)
	c := dial(t, addr)
	c.hello()
	c.expect("MAIL FROM:<a@example.com> SIZE=200 BODY=8BITMIME", 250)
	c.expect("RCPT TO:<journal@archive.test>", 250)
	c.expect("RCPT TO:<Anyone@JOURNAL.test>", 250)
	c.expect("DATA", 354)
	c.send(strings.ReplaceAll(msg1, "\r\n..dot", "\r\n..dot") + ".\r\n")
	if code, msg := c.reply(); code != 250 {
		t.Fatalf("end of data: got %d %s; want 250", code, msg)
	}
	// BDAT (RFC 3030), in two chunks, pipelined.
	c.send("MAIL FROM:<>\r\nRCPT TO:<journal@archive.test>\r\nBDAT 10\r\n0123456789BDAT 5 LAST\r\nabcde")
	for i, want := range []int{250, 250, 250, 250} {
		if code, msg := c.reply(); code != want {
			t.Fatalf("BDAT reply %d: got %d %s; want %d", i, code, msg, want)
		}
	}
	c.expect("QUIT", 221)

	got := sink.all()
	if len(got) != 2 {
		t.Fatalf("got %d messages; want 2", len(got))
	}
	wantData := strings.Replace(msg1, "..dot", ".dot", 1)
	if string(got[0].data) != wantData || got[0].from != "a@example.com" || strings.Join(got[0].rcpts, ",") != "journal@archive.test,Anyone@JOURNAL.test" || got[0].account != "smtp" {
		t.Errorf("message 1: got %+v; want data %q", got[0], wantData)
	}
	if string(got[1].data) != "0123456789abcde" || got[1].from != "" {
		t.Errorf("message 2: got %+v; want BDAT data from <>", got[1])
	}
	if obs.accepted != 2 {
		t.Errorf("observer accepted %d; want 2", obs.accepted)
	}
}

// TestBadInput covers the bad input of issue 14: each case gets its reply
// code, nothing reaches the sink that should not, and the server still
// answers afterwards.
func TestBadInput(t *testing.T) {
	big := strings.Repeat("x", 70<<10)
	for _, tc := range []struct {
		name   string
		script func(c *client)
		stored int    // messages the sink must have got
		reason string // observer reason counted
		data   string // the stored message, if stored == 1
		size   int64  // max_message_size, if not the default of testConfig
	}{
		{name: "recipient outside accept_recipients", reason: "recipient", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<ceo@example.com>", 550)
			c.expect("RCPT TO:<journal@archive.test.evil>", 550)
			c.expect("DATA", 502) // no recipient accepted
		}},
		{name: "SIZE over the limit", reason: "", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com> SIZE=1000000", 552)
		}},
		{name: "message over the limit while reading", reason: "size", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.expect("DATA", 354)
			c.send("Subject: big\r\n\r\n")
			for range 100 {
				c.send(strings.Repeat("y", 998) + "\r\n")
			}
			c.send(".\r\n")
			if code, msg := c.reply(); code != 552 {
				c.t.Fatalf("got %d %s; want 552", code, msg)
			}
			c.expect("NOOP", 250)
		}},
		{name: "BDAT over the limit", reason: "", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big), big))
			if code, msg := c.reply(); code != 552 {
				c.t.Fatalf("got %d %s; want 552", code, msg)
			}
		}},
		{name: "endless header line", reason: "line", size: 1 << 20, script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.expect("DATA", 354)
			c.send("Subject: ")
			chunk := strings.Repeat("z", 64<<10)
			for range 5 {
				if _, err := io.WriteString(c.conn, chunk); err != nil {
					break // the server may hang up
				}
			}
			if code, msg := c.reply(); code != 552 {
				c.t.Fatalf("got %d %s; want 552", code, msg)
			}
		}},
		{name: "endless header of many fields", reason: "size", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.expect("DATA", 354)
			for i := range 5000 {
				c.send(fmt.Sprintf("X-Field-%d: value\r\n", i))
			}
			c.send(".\r\n")
			if code, msg := c.reply(); code != 552 {
				c.t.Fatalf("got %d %s; want 552", code, msg)
			}
		}},
		{name: "bare LF is kept and does not end the data", stored: 1, data: "Subject: lf\n\nline\n.\nstill data\r\n", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.expect("DATA", 354)
			c.send("Subject: lf\n\nline\n.\nstill data\r\n.\r\n")
			if code, msg := c.reply(); code != 250 {
				c.t.Fatalf("got %d %s; want 250", code, msg)
			}
		}},
		{name: "NUL bytes in the data are kept", stored: 1, data: "Subject: nul\r\n\r\na\x00b\x00\r\n", script: func(c *client) {
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.expect("DATA", 354)
			c.send("Subject: nul\r\n\r\na\x00b\x00\r\n.\r\n")
			if code, msg := c.reply(); code != 250 {
				c.t.Fatalf("got %d %s; want 250", code, msg)
			}
		}},
		{name: "NUL bytes in commands", script: func(c *client) {
			c.expect("MA\x00IL FROM:<a@example.com>", 501)
			c.expect("MAIL FROM:<a\x00@example.com>", 501)
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal\x00@archive.test>", 501)
		}},
		{name: "data without a transaction", script: func(c *client) {
			c.expect("DATA", 502)
			c.expect("RCPT TO:<journal@archive.test>", 502)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &memSink{}
			obs := &countObserver{}
			cfg := testConfig()
			if tc.size != 0 {
				cfg.MaxMessageSize = config.ByteSize(tc.size)
			}
			_, addr := start(t, cfg, sink, obs)
			c := dial(t, addr)
			c.hello()
			tc.script(c)
			got := sink.all()
			if len(got) != tc.stored {
				t.Fatalf("sink got %d messages; want %d", len(got), tc.stored)
			}
			if tc.stored == 1 && string(got[0].data) != tc.data {
				t.Errorf("stored %q; want %q", got[0].data, tc.data)
			}
			if tc.reason != "" && obs.get(tc.reason) == 0 {
				t.Errorf("no rejection counted as %q: %v", tc.reason, obs.rejected)
			}
			// The server is alive.
			c2 := dial(t, addr)
			c2.hello()
			c2.expect("QUIT", 221)
		})
	}
}

func TestSilentClient(t *testing.T) {
	cfg := testConfig()
	cfg.ReadTimeout = config.Duration(300 * time.Millisecond)
	_, addr := start(t, cfg, &memSink{}, nil)
	c := dial(t, addr)
	if code, _ := c.reply(); code != 220 {
		t.Fatalf("greeting: got %d; want 220", code)
	}
	began := time.Now()
	if code, msg := c.reply(); code != 421 {
		t.Fatalf("after silence: got %d %s; want 421", code, msg)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("the 421 came after %s; want about 300ms", d)
	}
	// And in the middle of the data.
	c = dial(t, addr)
	c.hello()
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<journal@archive.test>", 250)
	c.expect("DATA", 354)
	c.send("Subject: slow\r\n")
	if code, msg := c.reply(); code != 421 {
		t.Fatalf("silent in the data: got %d %s; want 421", code, msg)
	}
}

func TestAllowedNetworks(t *testing.T) {
	cfg := testConfig()
	cfg.Networks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	obs := &countObserver{}
	_, addr := start(t, cfg, &memSink{}, obs)
	c := dial(t, addr)
	if code, msg := c.reply(); code != 554 {
		t.Fatalf("greeting: got %d %s; want 554", code, msg)
	}
	if _, err := c.conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection is still open after 554")
	}
	if obs.get("network") != 1 {
		t.Errorf("network rejections %d; want 1", obs.get("network"))
	}
}

func TestMaxConnections(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 2
	_, addr := start(t, cfg, &memSink{}, nil)
	a, b := dial(t, addr), dial(t, addr)
	a.hello()
	b.hello()
	c := dial(t, addr)
	if code, msg := c.reply(); code != 421 {
		t.Fatalf("third connection: got %d %s; want 421", code, msg)
	}
	a.expect("QUIT", 221)
	// A free slot again (the server notices the close at once).
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := dial(t, addr)
		code, _ := d.reply()
		if code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a QUIT: got %d; want 220", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSinkErrors: a message is answered 250 only when the sink returned
// nil; storage errors are 452, a slow archive 421, the rest 451.
func TestSinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sink   *memSink
		code   int
		closed bool
		reason string
	}{
		{"storage", &memSink{err: fmt.Errorf("ingest: %w: no space left on device", ErrStorage)}, 452, false, "storage"},
		{"busy", &memSink{err: fmt.Errorf("ingest: %w", ErrBusy)}, 421, true, "busy"},
		{"commit timeout", &memSink{delay: time.Hour}, 421, true, "busy"},
		{"other", &memSink{err: errors.New("index exploded")}, 451, false, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.CommitTimeout = config.Duration(200 * time.Millisecond)
			obs := &countObserver{}
			_, addr := start(t, cfg, tc.sink, obs)
			c := dial(t, addr)
			c.hello()
			c.expect("MAIL FROM:<a@example.com>", 250)
			c.expect("RCPT TO:<journal@archive.test>", 250)
			c.expect("DATA", 354)
			c.send(msg1 + ".\r\n")
			if code, msg := c.reply(); code != tc.code {
				t.Fatalf("got %d %s; want %d", code, msg, tc.code)
			}
			if obs.get(tc.reason) != 1 {
				t.Errorf("rejections %v; want one %s", obs.rejected, tc.reason)
			}
			c.send("NOOP\r\n")
			code, _ := c.reply()
			if tc.closed && code != 0 {
				t.Errorf("after 421 the connection answered %d; want it closed", code)
			}
			if !tc.closed && code != 250 {
				t.Errorf("NOOP after %d: got %d; want 250", tc.code, code)
			}
			if n := len(tc.sink.all()); n != 0 {
				t.Errorf("sink holds %d messages; want 0", n)
			}
		})
	}
}

func TestLMTP(t *testing.T) {
	cfg := testConfig()
	cfg.LMTP = true
	sink := &memSink{}
	_, addr := start(t, cfg, sink, nil)
	c := dial(t, addr)
	if code, _ := c.reply(); code != 220 {
		t.Fatalf("greeting: got %d; want 220", code)
	}
	c.expect("EHLO client.test", 500)
	c.expect("LHLO client.test", 250)
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<journal@archive.test>", 250)
	c.expect("RCPT TO:<nobody@example.com>", 550)
	c.expect("RCPT TO:<second@journal.test>", 250)
	c.expect("DATA", 354)
	c.send(msg1 + ".\r\n")
	for i := range 2 {
		if code, msg := c.reply(); code != 250 {
			t.Fatalf("reply %d: got %d %s; want 250", i, code, msg)
		}
	}
	c.expect("NOOP", 250)
	got := sink.all()
	if len(got) != 1 || strings.Join(got[0].rcpts, ",") != "journal@archive.test,second@journal.test" {
		t.Fatalf("sink got %+v; want one message for two recipients", got)
	}
	// A failure is the reply of every recipient.
	sink.mu.Lock()
	sink.err = fmt.Errorf("x: %w", ErrStorage)
	sink.mu.Unlock()
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<journal@archive.test>", 250)
	c.expect("RCPT TO:<second@journal.test>", 250)
	c.expect("DATA", 354)
	c.send(msg1 + ".\r\n")
	for i := range 2 {
		if code, msg := c.reply(); code != 452 {
			t.Fatalf("reply %d: got %d %s; want 452", i, code, msg)
		}
	}
}

// TestShutdown: a message in flight gets its 250, an idle connection is
// closed, and new connections are refused.
func TestShutdown(t *testing.T) {
	sink := &memSink{gate: make(chan struct{})}
	cfg := testConfig()
	s, err := New(&cfg, Options{Sink: sink, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	idle := dial(t, addr)
	idle.hello()
	busy := dial(t, addr)
	busy.hello()
	busy.expect("MAIL FROM:<a@example.com>", 250)
	busy.expect("RCPT TO:<journal@archive.test>", 250)
	busy.expect("DATA", 354)
	busy.send(msg1 + ".\r\n")
	time.Sleep(100 * time.Millisecond) // the message reaches the sink
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The idle connection is closed: its next read ends without a reply.
	// (No command is sent: one sent before Shutdown's first pass would
	// rightly be answered.)
	if code, msg := idle.reply(); code != 0 {
		t.Errorf("idle connection got %d %s during shutdown; want it closed", code, msg)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a message in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	sink.gate <- struct{}{}
	if code, msg := busy.reply(); code != 250 {
		t.Fatalf("message in flight: got %d %s; want 250", code, msg)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if len(sink.all()) != 1 {
		t.Errorf("sink got %d messages; want 1", len(sink.all()))
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("a connection was accepted after Shutdown")
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and returns the
// file names and a pool that trusts it.
func testCert(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "archive.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"archive.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSAndAuth: require_tls refuses MAIL before STARTTLS; AUTH PLAIN is
// required and checked; a go-smtp client delivers after both.
func TestTLSAndAuth(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	cfg := testConfig()
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.RequireTLS = certFile, keyFile, true
	cfg.AuthUsername, cfg.AuthPassword = "relay", config.NewSecret("s3cret")
	sink := &memSink{}
	obs := &countObserver{}
	_, addr := start(t, cfg, sink, obs)

	raw := dial(t, addr)
	raw.hello()
	raw.expect("MAIL FROM:<a@example.com>", 530)
	if obs.get("tls") != 1 {
		t.Errorf("tls rejections %d; want 1", obs.get("tls"))
	}

	deliver := func(user, pass string) error {
		c, err := smtp.DialStartTLS(addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
		defer c.Close()
		if user != "" {
			if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
				return fmt.Errorf("auth: %w", err)
			}
		}
		return c.SendMail("a@example.com", []string{"journal@archive.test"}, strings.NewReader(msg1))
	}
	var se *smtp.SMTPError
	if err := deliver("", ""); !errors.As(err, &se) || se.Code != 530 {
		t.Errorf("without AUTH: got %v; want 530", err)
	}
	if err := deliver("relay", "wrong"); !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("wrong password: got %v; want 535", err)
	}
	if err := deliver("relay", "s3cret"); err != nil {
		t.Errorf("with TLS and AUTH: %v", err)
	}
	if n := len(sink.all()); n != 1 {
		t.Errorf("sink got %d messages; want 1", n)
	}
}

// BenchmarkSMTP delivers 4 KiB messages to a sink that reads each body,
// over 1 and 10 connections, and reports messages per second.
func BenchmarkSMTP(b *testing.B) {
	body := []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 52))
	for _, conns := range []int{1, 10} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			sink := &countSink{}
			cfg := testConfig()
			cfg.MaxConnections = 100
			_, addr := start(b, cfg, sink, nil)
			clients := make([]*smtp.Client, conns)
			for i := range clients {
				c, err := smtp.Dial(addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
			}
			work := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for _, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						if err := c.SendMail("a@example.com", []string{"journal@archive.test"}, bytes.NewReader(body)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			b.ResetTimer()
			began := time.Now()
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "msgs/s")
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
			if n := sink.n.Load(); n != int64(b.N) {
				b.Fatalf("sink got %d; want %d", n, b.N)
			}
		})
	}
}

// FuzzSession feeds arbitrary client input to a server: it must never
// crash, and it must keep answering other clients.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<journal@archive.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<journal@archive.test>\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=99999999999\r\n",
		"HELO\r\nBDAT 99999999999999\r\n\x00\x00\n.\n",
		"EHLO x\nMAIL FROM:<>\nRCPT TO:<@journal.test>\nDATA\n.\n",
		"EHLO x\r\nAUTH PLAIN AHJlbGF5AHMzY3JldA==\r\nSTARTTLS\r\n",
	} {
		f.Add(s)
	}
	sink := &memSink{}
	cfg := testConfig()
	cfg.ReadTimeout = config.Duration(time.Second)
	cfg.MaxConnections = 1000
	_, addr := start(f, cfg, sink, nil)
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go io.Copy(io.Discard, c)
		io.WriteString(c, input)
		if cw, ok := c.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		// The server still serves.
		d := dial(t, addr)
		d.hello()
		d.expect("QUIT", 221)
	})
}

// countSink counts and drains the messages (for the benchmark).
type countSink struct{ n atomic.Int64 }

func (s *countSink) Archive(ctx context.Context, m *fetch.Message) error {
	if _, err := io.Copy(io.Discard, io.NewSectionReader(m.Body, 0, m.Size)); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}
