package fetch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/config"
)

// A fake POP3 server, in the test only, for what Dovecot never sends:
// endless and oversized responses, wrong sizes, broken protocol.

type fakeConn struct {
	c  net.Conn
	br *bufio.Reader
}

func (c *fakeConn) send(lines ...string) {
	for _, l := range lines {
		c.c.Write([]byte(l + "\r\n"))
	}
}

// read returns the next command line ("" when the client went away).
func (c *fakeConn) read() string {
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := c.br.ReadString('\n')
	return strings.TrimRight(line, "\r\n")
}

// endless writes chunk until the client goes away.
func (c *fakeConn) endless(chunk string) {
	b := []byte(chunk)
	for {
		c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.c.Write(b); err != nil {
			return
		}
	}
}

// login answers the greeting, CAPA (none) and USER/PASS.
func (c *fakeConn) login() bool {
	c.send("+OK fake POP3 ready")
	for {
		switch cmd := c.read(); {
		case cmd == "CAPA":
			c.send("-ERR no CAPA here")
		case strings.HasPrefix(cmd, "USER "):
			c.send("+OK")
		case strings.HasPrefix(cmd, "PASS "):
			c.send("+OK logged in")
			return true
		default:
			return false
		}
	}
}

// serve answers the commands after login from a table of exact command
// lines; QUIT ends the session, an unknown command too.
func (c *fakeConn) serve(answers map[string]func(c *fakeConn)) {
	for {
		cmd := c.read()
		if cmd == "" {
			return
		}
		if fn, ok := answers[cmd]; ok {
			fn(c)
			continue
		}
		if cmd == "QUIT" {
			c.send("+OK bye")
			return
		}
		if strings.HasPrefix(cmd, "DELE ") {
			c.send("+OK deleted")
			continue
		}
		c.send("-ERR unknown command")
		return
	}
}

// fakePOP3 starts a server whose sessions run handle, one per connection,
// and returns a POP3 account for it.
func fakePOP3(t *testing.T, handle func(c *fakeConn)) *config.Account {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(&fakeConn{c: c, br: bufio.NewReader(c)})
			})
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return &config.Account{Name: "fake", Protocol: config.ProtocolPOP3, Server: l.Addr().String(),
		Username: "u", Password: config.NewSecret("p"), Security: config.SecurityNone}
}

func oneMessage(size int, retr func(c *fakeConn)) map[string]func(c *fakeConn) {
	return map[string]func(c *fakeConn){
		"STAT":   func(c *fakeConn) { c.send(fmt.Sprintf("+OK 1 %d", size)) },
		"LIST":   func(c *fakeConn) { c.send("+OK", fmt.Sprintf("1 %d", size), ".") },
		"UIDL":   func(c *fakeConn) { c.send("+OK", "1 uidl-1", ".") },
		"RETR 1": retr,
	}
}

// TestPOP3Hostile: each hostile response ends the pass with an error and
// never makes the client hold more than a little memory.
func TestPOP3Hostile(t *testing.T) {
	const max = 64 << 10
	for _, tc := range []struct {
		name   string
		handle func(c *fakeConn)
		want   string
	}{
		{"huge greeting line", func(c *fakeConn) { c.endless(strings.Repeat("+OK ", 1<<12)) },
			"greeting from 127.0.0.1:PORT: pop3 protocol error: response line longer than 4096 bytes"},
		{"garbage greeting", func(c *fakeConn) { c.send("* OK IMAP4rev1 ready") },
			`greeting from 127.0.0.1:PORT: pop3 protocol error: unexpected response "* OK IMAP4rev1 ready"`},
		{"huge status line", func(c *fakeConn) {
			if c.login() {
				c.read()
				c.endless("+OK 1 1 " + strings.Repeat("9", 1<<12))
			}
		}, "STAT: pop3 protocol error: response line longer than 4096 bytes"},
		{"endless CAPA", func(c *fakeConn) {
			c.send("+OK ready")
			c.read()
			c.send("+OK capabilities follow")
			c.endless("X-CAP\r\n")
		}, "CAPA: pop3 protocol error: more than 200 lines"},
		{"endless LIST", func(c *fakeConn) {
			if c.login() {
				c.serve(map[string]func(c *fakeConn){
					"STAT": func(c *fakeConn) { c.send("+OK 3 300") },
					"LIST": func(c *fakeConn) { c.send("+OK"); c.endless("1 100\r\n") },
				})
			}
		}, "LIST: pop3 protocol error: more than 3 lines"},
		{"endless UIDL", func(c *fakeConn) {
			if c.login() {
				c.serve(map[string]func(c *fakeConn){
					"STAT": func(c *fakeConn) { c.send("+OK 3 300") },
					"LIST": func(c *fakeConn) { c.send("+OK", "1 100", "2 100", "3 100", ".") },
					"UIDL": func(c *fakeConn) { c.send("+OK"); c.endless("2 abc\r\n") },
				})
			}
		}, "UIDL: pop3 protocol error: more than 3 lines"},
		{"UIDL out of range", func(c *fakeConn) {
			if c.login() {
				c.serve(map[string]func(c *fakeConn){
					"STAT": func(c *fakeConn) { c.send("+OK 1 100") },
					"LIST": func(c *fakeConn) { c.send("+OK", "1 100", ".") },
					"UIDL": func(c *fakeConn) { c.send("+OK", "7 abc", ".") },
				})
			}
		}, `UIDL: pop3 protocol error: bad line "7 abc"`},
		{"UIDL too long", func(c *fakeConn) {
			if c.login() {
				c.serve(map[string]func(c *fakeConn){
					"STAT": func(c *fakeConn) { c.send("+OK 1 100") },
					"LIST": func(c *fakeConn) { c.send("+OK", "1 100", ".") },
					"UIDL": func(c *fakeConn) { c.send("+OK", "1 "+strings.Repeat("u", 71), ".") },
				})
			}
		}, "UIDL: pop3 protocol error: bad unique-id"},
		{"negative size", func(c *fakeConn) {
			if c.login() {
				c.serve(map[string]func(c *fakeConn){
					"STAT": func(c *fakeConn) { c.send("+OK 1 100") },
					"LIST": func(c *fakeConn) { c.send("+OK", "1 -5", ".") },
				})
			}
		}, `LIST: pop3 protocol error: bad size in "1 -5"`},
		{"huge STAT", func(c *fakeConn) {
			if c.login() {
				c.serve(map[string]func(c *fakeConn){"STAT": func(c *fakeConn) { c.send("+OK 99999999 1") }})
			}
		}, "the mailbox holds 99999999 messages, more than the 250000 a POP3 pass lists"},
		{"endless RETR", func(c *fakeConn) {
			if c.login() {
				c.serve(oneMessage(100, func(c *fakeConn) { c.send("+OK 100 octets"); c.endless(strings.Repeat("x", 998) + "\r\n") }))
			}
		}, "msg 1: the server sent more than max_message_size (65536 bytes) although LIST gave 100 bytes"},
		{"endless RETR line", func(c *fakeConn) {
			if c.login() {
				c.serve(oneMessage(100, func(c *fakeConn) { c.send("+OK"); c.endless(strings.Repeat("x", 4096)) }))
			}
		}, "msg 1: the server sent more than max_message_size"},
		{"RETR cut short", func(c *fakeConn) {
			if c.login() {
				c.serve(oneMessage(5000, func(c *fakeConn) {
					c.send("+OK", "Subject: cut", "", strings.Repeat("y", 100))
					c.c.Close()
				}))
			}
		}, "msg 1: RETR: connection lost after 118 bytes: unexpected EOF"},
		{"RETR cut in a line", func(c *fakeConn) {
			if c.login() {
				c.serve(oneMessage(5000, func(c *fakeConn) {
					c.send("+OK", "Subject: cut")
					c.c.Write([]byte("no line end"))
					c.c.Close()
				}))
			}
		}, "msg 1: RETR: connection lost after 14 bytes: unexpected EOF"},
		{"silence after login", func(c *fakeConn) {
			if c.login() {
				c.read()
				c.read() // until the client gives up
			}
		}, "STAT: read tcp"},
		{"STLS then plain text", func(c *fakeConn) {
			c.send("+OK ready")
			c.read()
			c.send("+OK", "STLS", ".")
			c.read()
			c.c.Write([]byte("+OK begin TLS\r\n+OK injected\r\n"))
			c.read()
		}, "STLS: pop3 protocol error: data after the response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := fakePOP3(t, tc.handle)
			acct.MaxMessageSize = max
			if tc.name == "STLS then plain text" {
				acct.Security = config.SecuritySTARTTLS
			}
			sink := &testSink{}
			f := New(Options{Sink: sink, TempDir: t.TempDir()})
			f.readTimeout = 500 * time.Millisecond
			var (
				res Result
				err error
			)
			alloc := allocated(func() { res, err = f.Poll(context.Background(), acct) })
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), acct.Server, "127.0.0.1:PORT"), tc.want) {
				t.Fatalf("Poll = %+v, %v; want an error with %q", res, err, tc.want)
			}
			if len(sink.records()) != 0 || res.Archived != 0 || res.Deleted != 0 {
				t.Fatalf("Poll archived or deleted something: %+v", res)
			}
			if alloc > 2<<20 {
				t.Fatalf("Poll allocated %d bytes; want under 2 MiB", alloc)
			}
			if left, _ := dirEntries(f.tempDir); len(left) != 0 {
				t.Fatalf("spool files left behind: %v", left)
			}
			t.Logf("%v (allocated %d bytes)", err, alloc)
		})
	}
}

// TestPOP3LyingSize: a message that turns out larger than max_message_size
// although LIST said otherwise ends that pass; later passes leave it on the
// server and fetch the others.
func TestPOP3LyingSize(t *testing.T) {
	var mu sync.Mutex
	deleted := map[string]bool{}
	acct := fakePOP3(t, func(c *fakeConn) {
		if !c.login() {
			return
		}
		c.serve(map[string]func(c *fakeConn){
			"STAT": func(c *fakeConn) { c.send("+OK 2 200") },
			"LIST": func(c *fakeConn) { c.send("+OK", "1 100", "2 100", ".") },
			"UIDL": func(c *fakeConn) { c.send("+OK", "1 liar", "2 honest", ".") },
			"RETR 1": func(c *fakeConn) {
				c.send("+OK")
				c.endless(strings.Repeat("x", 998) + "\r\n")
			},
			"RETR 2": func(c *fakeConn) { c.send("+OK", "Subject: ok", "", "body", ".") },
			"DELE 2": func(c *fakeConn) {
				mu.Lock()
				deleted["honest"] = true
				mu.Unlock()
				c.send("+OK")
			},
		})
	})
	acct.MaxMessageSize = 10000
	sink := &testSink{}
	f := New(Options{Sink: sink})
	if _, err := f.Poll(context.Background(), acct); err == nil || !strings.Contains(err.Error(), "more than max_message_size") {
		t.Fatalf("first Poll = %v; want the oversize error", err)
	}
	res, err := f.Poll(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, Result{Account: "fake", Seen: 2, Archived: 1, Deleted: 1, TooLarge: 1})
	mu.Lock()
	defer mu.Unlock()
	if !deleted["honest"] || len(deleted) != 1 {
		t.Fatalf("deleted %v; want only the honest message", deleted)
	}
}

// TestPOP3Stuffing checks dot-unstuffing, long lines and lines with bare LF
// in RETR (RFC 1939 section 3).
func TestPOP3Stuffing(t *testing.T) {
	long := strings.Repeat("L", 10000)
	// On the wire, every line starting with "." has one more (byte-stuffing).
	lines := []string{"Subject: dots", "", "..leading dot", "..", "....", ".. not the end", long, "last"}
	want := "Subject: dots\r\n\r\n.leading dot\r\n.\r\n...\r\n. not the end\r\n" + long + "\r\nlast\r\n" + "bare\nlf\r\n"
	acct := fakePOP3(t, func(c *fakeConn) {
		if !c.login() {
			return
		}
		c.serve(oneMessage(len(want), func(c *fakeConn) {
			c.send("+OK")
			c.send(lines...)
			c.c.Write([]byte("bare\nlf\r\n.\r\n"))
		}))
	})
	sink := &testSink{}
	f := New(Options{Sink: sink})
	res := poll(t, f, acct)
	checkResult(t, res, Result{Account: "fake", Seen: 1, Archived: 1, Deleted: 1})
	if got := sink.records()[0].Sum; got != sum([]byte(want)) {
		t.Fatalf("archived body differs: size %d, want %d bytes", res.Bytes, len(want))
	}
}

// TestPOP3RespCodes: RFC 2449 and RFC 3206 response codes decide between
// temporary and permanent.
func TestPOP3RespCodes(t *testing.T) {
	for _, tc := range []struct {
		answer    string
		permanent bool
	}{
		{"-ERR [IN-USE] maildrop locked by another session", false},
		{"-ERR [LOGIN-DELAY] wait a little", false},
		{"-ERR [SYS/TEMP] try again later", false},
		{"-ERR [AUTH] authentication failed", true},
		{"-ERR [SYS/PERM] account disabled", true},
		{"-ERR no", true},
	} {
		acct := fakePOP3(t, func(c *fakeConn) {
			c.send("+OK ready")
			for {
				switch cmd := c.read(); {
				case cmd == "CAPA":
					c.send("+OK", "SASL PLAIN", ".")
				case strings.HasPrefix(cmd, "AUTH PLAIN "):
					c.send(tc.answer)
				default:
					return
				}
			}
		})
		_, err := New(Options{Sink: &testSink{}}).Poll(context.Background(), acct)
		if err == nil || errors.Is(err, ErrPermanent) != tc.permanent || !strings.Contains(err.Error(), tc.answer) {
			t.Errorf("%q: Poll = %v; want permanent = %v", tc.answer, err, tc.permanent)
		}
	}
}
