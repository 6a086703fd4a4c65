package fetch

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// dedupSink stores each body once by its hash, as the archive does, and
// counts the copies it was handed.
type dedupSink struct {
	mu     sync.Mutex
	bodies map[string]int // sha256 -> copies received
	calls  atomic.Int64
	hook   func(n int64) // called with the number of the call, first
}

func (s *dedupSink) Archive(ctx context.Context, m *Message) error {
	n := s.calls.Add(1)
	if s.hook != nil {
		s.hook(n)
	}
	b, err := io.ReadAll(io.NewSectionReader(m.Body, 0, m.Size))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bodies == nil {
		s.bodies = map[string]int{}
	}
	s.bodies[sum(b)]++
	return nil
}

func (s *dedupSink) stored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l []string
	for k := range s.bodies {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

// TestFaultServerRestart stops Dovecot in the middle of a pass and starts it
// again: Run retries, the pass resumes, and in the end the archive holds
// every message exactly once and the mailbox is empty.
func TestFaultServerRestart(t *testing.T) {
	for _, proto := range []config.Protocol{config.ProtocolIMAP, config.ProtocolPOP3} {
		t.Run(proto.String(), func(t *testing.T) {
			srv := dovecottest.Start(t, dovecottest.Options{})
			msgs := corpusMessages(t, 150)
			for i, m := range msgs {
				srv.Deliver(t, srv.User, m)
				if proto == config.ProtocolPOP3 {
					msgs[i] = pop3Served(m)
				}
			}
			acct := srv.Account("journal", config.SecuritySTARTTLS)
			if proto == config.ProtocolPOP3 {
				acct = srv.POP3Account("journal", config.SecuritySTARTTLS)
			}
			acct.Interval = config.Duration(time.Hour)

			var crashed atomic.Bool
			restarted := make(chan struct{})
			sink := &dedupSink{}
			sink.hook = func(n int64) {
				if n == 70 && crashed.CompareAndSwap(false, true) {
					go func() {
						srv.Stop(t)
						time.Sleep(300 * time.Millisecond)
						srv.Restart(t)
						close(restarted)
					}()
				}
				if !crashed.Load() {
					time.Sleep(time.Millisecond) // let the crash land mid-pass
				}
			}
			f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir()})
			f.backoffMin = 200 * time.Millisecond
			r := startRun(t, f, acct)
			waitFor(t, 30*time.Second, "every message archived and the mailbox empty", func() bool {
				select {
				case <-restarted:
				default:
					return false
				}
				return len(sink.stored()) == len(msgs) && srv.Count(t, srv.User) == 0
			})
			r.stop()
			if got, want := sink.stored(), sortedSums(msgs); !slices.Equal(got, want) {
				t.Fatalf("archive holds %d distinct messages; want the %d delivered", len(got), len(want))
			}
			r.mu.Lock()
			var failed int
			for _, err := range r.errs {
				if err != nil {
					failed++
					if errors.Is(err, ErrPermanent) {
						t.Errorf("permanent error for a restarting server: %v", err)
					}
					t.Logf("pass error: %v", err)
				}
			}
			r.mu.Unlock()
			if failed == 0 {
				t.Errorf("no pass failed: the server was not stopped in the middle of one")
			}
			st := statusOf(f, "journal")
			t.Logf("%d messages, %d copies handed to the sink (the rest absorbed by dedup), status %s after %d passes",
				len(msgs), sink.calls.Load(), st.State, st.Passes)
			if st.LastSuccess.Before(st.LastErrorAt) || st.LastError == "" {
				t.Errorf("status %+v: want an error, then a success", st)
			}
		})
	}
}

// muteServer accepts connections and says nothing.
func muteServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestFaultMuteServer: a server that accepts the connection and then says
// nothing gets a timeout (temporary), for every protocol and security.
func TestFaultMuteServer(t *testing.T) {
	addr := muteServer(t)
	for _, proto := range []config.Protocol{config.ProtocolIMAP, config.ProtocolPOP3} {
		for _, sec := range []config.Security{config.SecuritySTARTTLS, config.SecurityTLS} {
			acct := &config.Account{Name: "mute", Protocol: proto, Server: addr, Username: "u",
				Password: config.NewSecret("p"), Security: sec}
			f := New(Options{Sink: &testSink{}})
			f.readTimeout = 300 * time.Millisecond
			start := time.Now()
			_, err := f.Poll(context.Background(), acct)
			d := time.Since(start)
			if err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "timeout") {
				t.Fatalf("%s %s: Poll to a mute server = %v; want a temporary timeout", proto, sec, err)
			}
			if d > 3*time.Second {
				t.Fatalf("%s %s: Poll returned after %v; want about the read timeout", proto, sec, d)
			}
			t.Logf("%s %s: %v after %v", proto, sec, err, d.Round(time.Millisecond))
		}
	}
}

// byName makes the account connect to localhost rather than 127.0.0.1.
func byName(a *config.Account) *config.Account {
	a.Server = strings.Replace(a.Server, "127.0.0.1", "localhost", 1)
	return a
}

// TestFaultCertificateName: a certificate for another name is refused,
// permanently, over IMAP and POP3 with both kinds of TLS.
func TestFaultCertificateName(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{CertHosts: []string{"mail.example.com"}})
	srv.Deliver(t, srv.User, corpusMessages(t, 1)[0])
	for _, acct := range []*config.Account{
		srv.Account("imap-starttls", config.SecuritySTARTTLS),
		byName(srv.Account("imap-tls", config.SecurityTLS)),
		byName(srv.POP3Account("pop3-stls", config.SecuritySTARTTLS)),
		srv.POP3Account("pop3-tls", config.SecurityTLS),
	} {
		_, err := New(Options{Sink: &testSink{}}).Poll(context.Background(), acct)
		var herr x509.HostnameError
		if !errors.Is(err, ErrPermanent) || !errors.As(err, &herr) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("%s: Poll = %v; want a permanent certificate name error", acct.Name, err)
		}
		t.Log(err)
	}
	if got := srv.Count(t, srv.User); got != 1 {
		t.Fatalf("mailbox holds %d messages; want 1", got)
	}
}

// TestTwoPhaseStop: when the context ends in the middle of a pass, no new
// message is started, the ones in flight are archived, and exactly those
// are deleted on the server (IMAP EXPUNGE, POP3 DELE and QUIT).
func TestTwoPhaseStop(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	for _, proto := range []config.Protocol{config.ProtocolIMAP, config.ProtocolPOP3} {
		t.Run(proto.String(), func(t *testing.T) {
			msgs := corpusMessages(t, 40)
			for _, m := range msgs {
				srv.Deliver(t, srv.User, m)
			}
			acct := srv.Account("journal", config.SecurityTLS)
			if proto == config.ProtocolPOP3 {
				acct = srv.POP3Account("journal", config.SecurityTLS)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sink := &dedupSink{}
			sink.hook = func(n int64) {
				if n == 5 {
					cancel()
				}
				time.Sleep(50 * time.Millisecond) // in flight when the context ends
			}
			f := New(Options{Sink: sink, Logger: testLogger(t, nil), Window: 4})
			res, err := f.Poll(ctx, acct)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Poll = %v; want context.Canceled", err)
			}
			left := srv.Count(t, srv.User)
			t.Logf("%+v, %d left on the server", res, left)
			if res.Archived < 5 || res.Archived > 8 || res.Deleted != res.Archived || res.Failed != 0 ||
				left != len(msgs)-res.Archived || int(sink.calls.Load()) != res.Archived {
				t.Fatalf("Result %+v with %d left of %d; want the messages in flight archived and deleted, no other started",
					res, left, len(msgs))
			}
			// Empty the mailbox for the next protocol.
			poll(t, New(Options{Sink: &testSink{}}), acct)
		})
	}
}
