package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

func poll(t *testing.T, f *Fetcher, acct *config.Account) Result {
	t.Helper()
	res, err := f.Poll(context.Background(), acct)
	if err != nil {
		t.Fatalf("Poll(%s) = %+v, %v; want no error", acct.Name, res, err)
	}
	return res
}

func checkResult(t *testing.T, got, want Result) {
	t.Helper()
	got.Bytes, want.Bytes = 0, 0
	if got != want {
		t.Fatalf("Result = %+v; want %+v", got, want)
	}
}

// TestPoll delivers corpus messages (more than one expunge batch), fetches
// them and checks the exact bytes, the empty mailbox and an empty second
// pass.
func TestPoll(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, expungeBatch+12)
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
	}
	sink := &testSink{}
	f := New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	acct := srv.Account("journal", config.SecuritySTARTTLS)

	res := poll(t, f, acct)
	n := len(msgs)
	checkResult(t, res, Result{Account: "journal", Seen: n, Archived: n, Deleted: n})
	var total int64
	for _, m := range msgs {
		total += int64(len(m))
	}
	if res.Bytes != total {
		t.Errorf("Bytes = %d; want %d", res.Bytes, total)
	}
	if got, want := sink.sums("journal"), sortedSums(msgs); !slices.Equal(got, want) {
		t.Errorf("archived bodies differ from the delivered ones")
	}
	var lastUID uint32
	recs := sink.records()
	// The window archives concurrently: records come in any order.
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.UID, b.UID) })
	for _, r := range recs {
		if r.Mailbox != "INBOX" || r.UIDValidity == 0 || r.UID <= lastUID || r.Fetched.IsZero() {
			t.Fatalf("record %+v: want mailbox INBOX, uidvalidity, ascending uids", r)
		}
		lastUID = r.UID
	}
	if got := srv.Count(t, srv.User); got != 0 {
		t.Fatalf("mailbox holds %d messages after the pass; want 0", got)
	}

	res = poll(t, f, acct)
	checkResult(t, res, Result{Account: "journal"})
	if got := len(sink.records()); got != n {
		t.Fatalf("second pass archived again: %d records; want %d", got, n)
	}

	// The spool directory is left empty.
	if left, _ := dirEntries(f.tempDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %v", left)
	}
}

// TestPollWithoutUIDPLUS deletes with a plain EXPUNGE when the server does
// not announce UIDPLUS.
func TestPollWithoutUIDPLUS(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{
		ExtraConfig: "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE",
	})
	acct := srv.Account("journal", config.SecuritySTARTTLS)

	// Make sure the server really hides UIDPLUS, or the test proves nothing.
	c, _, err := New(Options{Sink: &testSink{}}).dialIMAP(context.Background(), acct, testLogger(t, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if c.Caps().Has(imap.CapUIDPlus) {
		t.Fatalf("server announces UIDPLUS despite imap_capability: %v", c.Caps())
	}
	c.Close()

	msgs := corpusMessages(t, 5)
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
	}
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
	checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 5, Archived: 5, Deleted: 5})
	if got := srv.Count(t, srv.User); got != 0 {
		t.Fatalf("mailbox holds %d messages after the pass; want 0", got)
	}
}

func TestPollKeepMails(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 6)
	for _, m := range msgs[:4] {
		srv.Deliver(t, srv.User, m)
	}
	acct := srv.Account("journal", config.SecurityTLS)
	acct.KeepMails = true

	t.Run("checkpoints", func(t *testing.T) {
		sink := &testSink{}
		f := New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, nil)})
		checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 4, Archived: 4})
		if got := srv.Count(t, srv.User); got != 4 {
			t.Fatalf("keep_mails: mailbox holds %d messages; want 4", got)
		}
		if got, want := sink.sums("journal"), sortedSums(msgs[:4]); !slices.Equal(got, want) {
			t.Fatalf("archived bodies differ from the delivered ones")
		}
		checkResult(t, poll(t, f, acct), Result{Account: "journal"})

		// Only the new messages are fetched.
		for _, m := range msgs[4:] {
			srv.Deliver(t, srv.User, m)
		}
		checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 2, Archived: 2})
		if got, want := sink.sums("journal"), sortedSums(msgs); !slices.Equal(got, want) {
			t.Fatalf("archived bodies differ from the delivered ones")
		}
		checkResult(t, poll(t, f, acct), Result{Account: "journal"})

		// A checkpoint from another UIDVALIDITY fetches everything again.
		sink.mu.Lock()
		k := [2]string{"journal", "INBOX"}
		sink.cps[k] = [2]uint32{sink.cps[k][0] + 1, sink.cps[k][1]}
		sink.mu.Unlock()
		checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 6, Archived: 6})
	})

	t.Run("no checkpoints", func(t *testing.T) {
		sink := &testSink{}
		f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
		checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 6, Archived: 6})
		checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 6, Archived: 6})
	})
	if got := srv.Count(t, srv.User); got != 6 {
		t.Fatalf("keep_mails: mailbox holds %d messages; want 6", got)
	}
}

// startWithCorpus starts a Dovecot whose mailbox holds n corpus messages,
// which it returns in the order of their UIDs.
func startWithCorpus(t *testing.T, n int) (*dovecottest.Server, [][]byte) {
	t.Helper()
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, n)
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
	}
	return srv, msgs
}

// TestPollKeepMailsFailure: with keep_mails, a message whose archiving
// failed while later ones of the window were archived is fetched again by
// the next pass: the checkpoint does not pass it.
func TestPollKeepMailsFailure(t *testing.T) {
	srv, msgs := startWithCorpus(t, 6)
	acct := srv.Account("journal", config.SecuritySTARTTLS)
	acct.KeepMails = true

	sinkErr := errors.New("temporary trouble")
	sink := &testSink{}
	sink.fail = func(m *Message) error {
		if m.UID != 2 {
			return nil
		}
		// Fail only once UIDs 3 to 6 are archived.
		deadline := time.Now().Add(10 * time.Second)
		for len(sink.records()) < 5 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		return sinkErr
	}
	f := New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, nil), TempDir: t.TempDir()})
	res, err := f.Poll(context.Background(), acct)
	if !errors.Is(err, sinkErr) {
		t.Fatalf("Poll = %v; want the sink's error", err)
	}
	checkResult(t, res, Result{Account: "journal", Seen: 6, Archived: 5, Failed: 1})
	if _, last, _ := sink.Checkpoint("journal", "INBOX"); last != 1 {
		t.Fatalf("checkpoint after UID 2 failed: %d; want 1", last)
	}

	// The next pass fetches UID 2 again, and the ones after it.
	sink.fail = nil
	checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 5, Archived: 5})
	if got, want := sink.sums("journal"), sortedSums(append(slices.Clone(msgs), msgs[2:]...)); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones (UID 2 lost?)")
	}
	if _, last, _ := sink.Checkpoint("journal", "INBOX"); last != 6 {
		t.Fatalf("checkpoint after the second pass: %d; want 6", last)
	}
	checkResult(t, poll(t, f, acct), Result{Account: "journal"})
}

// TestPollPoisonMessage: a message whose archiving fails on every pass is
// passed over after maxArchiveFailures passes, with one ERROR, and stays on
// the server; the mail after it is archived. With keep_mails the
// checkpoint then passes it; without, later passes count it Failed.
func TestPollPoisonMessage(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep_mails=%v", keep), func(t *testing.T) {
			srv, msgs := startWithCorpus(t, 8)
			acct := srv.Account("journal", config.SecuritySTARTTLS)
			acct.KeepMails = keep
			sink := &testSink{fail: func(m *Message) error {
				if m.UID == 2 {
					return errors.New("this message always fails")
				}
				return nil
			}}
			var logs syncBuf
			f := New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, &logs), TempDir: t.TempDir(), Window: 2})
			for pass := 1; pass <= maxArchiveFailures; pass++ {
				if _, err := f.Poll(context.Background(), acct); err == nil {
					t.Fatalf("pass %d: no error; want the sink's", pass)
				}
			}
			res := poll(t, f, acct)
			if res.Failed != 1 {
				t.Errorf("pass after %d failures: %+v; want 1 failed (passed over)", maxArchiveFailures, res)
			}
			var got []string
			for _, sum := range sink.sums("journal") {
				if len(got) == 0 || got[len(got)-1] != sum {
					got = append(got, sum)
				}
			}
			rest := append(slices.Clone(msgs[:1]), msgs[2:]...)
			if want := sortedSums(rest); !slices.Equal(got, want) {
				t.Errorf("archived %d distinct messages; want the %d other than UID 2", len(got), len(want))
			}
			if n := strings.Count(logs.String(), "level=ERROR msg=\"archiving this message failed"); n != 1 {
				t.Errorf("%d ERROR lines about the message; want 1", n)
			}
			want := Result{Account: "journal"}
			if !keep {
				want.Seen, want.Failed = 1, 1 // listed again, passed over again
				if got := srv.Count(t, srv.User); got != 1 {
					t.Errorf("mailbox holds %d messages; want the failing one", got)
				}
			} else if _, last, _ := sink.Checkpoint("journal", "INBOX"); last != 8 {
				t.Errorf("checkpoint %d; want 8", last)
			}
			checkResult(t, poll(t, f, acct), want)
		})
	}
}

func TestPollMaxMessageSize(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	small := corpusMessages(t, 2)
	big := crlf([]byte("From: a@example.com\nTo: b@example.com\nSubject: big\n\n" +
		strings.Repeat(strings.Repeat("x", 76)+"\n", 2000)))
	srv.Deliver(t, srv.User, small[0])
	srv.Deliver(t, srv.User, big)
	srv.Deliver(t, srv.User, small[1])

	var logs syncBuf
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, &logs)})
	acct := srv.Account("journal", config.SecuritySTARTTLS)
	acct.MaxMessageSize = config.ByteSize(len(big) - 1)

	checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 3, Archived: 2, Deleted: 2, TooLarge: 1})
	if got := srv.Count(t, srv.User); got != 1 {
		t.Fatalf("mailbox holds %d messages; want the big one", got)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"message larger than max_message_size") ||
		!strings.Contains(logs.String(), fmt.Sprintf("size=%d", len(big))) {
		t.Fatalf("no WARN with the size of the big message in the log:\n%s", logs.String())
	}
	// It stays there, counted on every pass, but warned about once.
	checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 1, TooLarge: 1})
	if n := strings.Count(logs.String(), "level=WARN msg=\"message larger than max_message_size"); n != 1 {
		t.Fatalf("%d WARN lines about the big message after two passes; want 1", n)
	}
	if got := srv.Count(t, srv.User); got != 1 {
		t.Fatalf("mailbox holds %d messages; want the big one", got)
	}

	// Exactly at the limit is allowed.
	acct.MaxMessageSize = config.ByteSize(len(big))
	checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 1, Archived: 1, Deleted: 1})
	if got, want := sink.sums("journal"), sortedSums([][]byte{small[0], small[1], big}); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
}

// TestFetchBodyLiteralGuard checks the guard on the literal itself, for a
// server whose RFC822.SIZE is below the real size.
func TestFetchBodyLiteralGuard(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msg := crlf([]byte("Subject: x\n\n" + strings.Repeat("y", 5000) + "\n"))
	srv.Deliver(t, srv.User, msg)
	acct := srv.Account("journal", config.SecurityTLS)
	f := New(Options{Sink: &testSink{}, TempDir: t.TempDir()})
	c, _, err := f.dialIMAP(context.Background(), acct, f.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, max := range []int64{int64(len(msg)) - 1, int64(len(msg))} {
		p := &imapPass{f: f, c: c, max: max, log: f.log}
		sp := f.newSpool()
		size, err := p.fetchBody(1, sp)
		spooled := sp.Size()
		sp.remove(f.log)
		switch {
		case max < int64(len(msg)) && !errors.Is(err, errTooLarge):
			t.Errorf("fetchBody with max %d = %d, %v; want errTooLarge", max, size, err)
		case max < int64(len(msg)) && spooled != 0:
			t.Errorf("fetchBody with max %d spooled %d bytes; want none", max, spooled)
		case max == int64(len(msg)) && (err != nil || size != max):
			t.Errorf("fetchBody with max %d = %d, %v; want %d, nil", max, size, err, max)
		}
	}
	// The connection is still usable after skipping the literal.
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestPollSinkError(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 3)
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
	}
	sinkErr := errors.New("disk full")
	sink := &testSink{}
	calls := 0
	sink.fail = func(m *Message) error {
		calls++
		if calls == 2 {
			return sinkErr
		}
		return nil
	}
	// One message at a time, so that "the second call fails" is exact.
	f := New(Options{Sink: sink, Logger: testLogger(t, nil), TempDir: t.TempDir(), Window: 1})
	acct := srv.Account("journal", config.SecuritySTARTTLS)

	res, err := f.Poll(context.Background(), acct)
	if !errors.Is(err, sinkErr) || errors.Is(err, ErrPermanent) {
		t.Fatalf("Poll = %v; want the sink's error, not permanent", err)
	}
	if want := "fetch journal: uid 2: disk full"; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	checkResult(t, res, Result{Account: "journal", Seen: 2, Archived: 1, Deleted: 1, Failed: 1})
	if got := srv.Count(t, srv.User); got != 2 {
		t.Fatalf("mailbox holds %d messages; want 2 (the failed and the unseen one)", got)
	}
	if left, _ := dirEntries(f.tempDir); len(left) != 0 {
		t.Fatalf("spool files left behind: %v", left)
	}

	// The next pass gets the rest.
	checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 2, Archived: 2, Deleted: 2})
	if got, want := sink.sums("journal"), sortedSums(msgs); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
	if got := srv.Count(t, srv.User); got != 0 {
		t.Fatalf("mailbox holds %d messages; want 0", got)
	}
}

func TestPollSecurity(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 3)
	for _, sec := range []config.Security{config.SecuritySTARTTLS, config.SecurityTLS, config.SecurityNone} {
		t.Run(sec.String(), func(t *testing.T) {
			var logs syncBuf
			sink := &testSink{}
			f := New(Options{Sink: sink, Logger: testLogger(t, &logs)})
			acct := srv.Account("journal", sec)
			srv.Deliver(t, srv.User, msgs[0])
			checkResult(t, poll(t, f, acct), Result{Account: "journal", Seen: 1, Archived: 1, Deleted: 1})
			if got, want := sink.sums("journal"), sortedSums(msgs[:1]); !slices.Equal(got, want) {
				t.Fatalf("archived body differs from the delivered one")
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"connecting without TLS")
			if warned != (sec == config.SecurityNone) {
				t.Fatalf("security %s: WARN about clear text = %v; want %v", sec, warned, !warned)
			}
		})
	}
	// With the system roots the test CA is unknown.
	for _, sec := range []config.Security{config.SecuritySTARTTLS, config.SecurityTLS} {
		t.Run(sec.String()+" system roots", func(t *testing.T) {
			srv.Deliver(t, srv.User, msgs[1])
			defer func() { poll(t, New(Options{Sink: &testSink{}}), srv.Account("cleanup", sec)) }()
			acct := srv.Account("journal", sec)
			acct.TLSCAFile = ""
			f := New(Options{Sink: &testSink{}, Logger: testLogger(t, nil)})
			_, err := f.Poll(context.Background(), acct)
			if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("Poll with system roots = %v; want a permanent certificate error", err)
			}
			t.Log(err)
			if got := srv.Count(t, srv.User); got != 1 {
				t.Fatalf("mailbox holds %d messages; want 1", got)
			}
		})
	}
	// Implicit TLS on the plain-text port.
	t.Run("tls on plain port", func(t *testing.T) {
		acct := srv.Account("journal", config.SecurityTLS)
		acct.Server = fmt.Sprintf("%s:%d", srv.Host, srv.IMAPPort)
		_, err := New(Options{Sink: &testSink{}}).Poll(context.Background(), acct)
		if !errors.Is(err, ErrPermanent) {
			t.Fatalf("Poll with tls to the plain-text port = %v; want a permanent error", err)
		}
		t.Log(err)
	})
}

func TestPollPermanentErrors(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	f := New(Options{Sink: &testSink{}, Logger: testLogger(t, nil)})

	for _, tc := range []struct {
		name   string
		modify func(a *config.Account)
		want   string
	}{
		{"wrong password", func(a *config.Account) { a.Password = config.NewSecret("wrong-secret") }, "AUTHENTICATIONFAILED"},
		{"unknown user", func(a *config.Account) { a.Username = "nobody-here" }, "AUTHENTICATIONFAILED"},
		{"missing mailbox", func(a *config.Account) { a.Mailbox = "Journal" }, `select "Journal"`},
		{"missing ca file", func(a *config.Account) { a.TLSCAFile = "/nonexistent/ca.pem" }, "ca.pem"},
		{"unknown protocol", func(a *config.Account) { a.Protocol = 99 }, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := srv.Account("journal", config.SecuritySTARTTLS)
			tc.modify(acct)
			_, err := f.Poll(context.Background(), acct)
			if !errors.Is(err, ErrPermanent) {
				t.Fatalf("Poll = %v; want a permanent error", err)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), "fetch journal: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Poll = %q; want it to start with %q and hold %q", err, "fetch journal: ", tc.want)
			}
			if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), srv.Password) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestPollTemporaryErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := New(Options{Sink: &testSink{}})
	for _, sec := range []config.Security{config.SecuritySTARTTLS, config.SecurityTLS, config.SecurityNone} {
		acct := &config.Account{Name: "down", Server: addr, Username: "u", Password: config.NewSecret("p"), Security: sec}
		_, err := f.Poll(context.Background(), acct)
		if err == nil || errors.Is(err, ErrPermanent) {
			t.Fatalf("Poll to a closed port (%s) = %v; want a temporary error", sec, err)
		}
		t.Log(err)
	}

	// A server that accepts and says nothing, then the context ends.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	acct := &config.Account{Name: "mute", Server: l.Addr().String(), Security: config.SecurityTLS}
	_, err = f.Poll(ctx, acct)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPermanent) {
		t.Fatalf("Poll to a mute server = %v; want the context's error", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Poll returned %v after the context ended", d)
	}
}

// TestPollNoSecretInLogs runs passes with debug logging and checks that the
// password shows up neither in the log nor in errors.
func TestPollNoSecretInLogs(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	srv.Deliver(t, srv.User, corpusMessages(t, 1)[0])
	var logs syncBuf
	f := New(Options{Sink: &testSink{}, Logger: testLogger(t, &logs)})
	ctx, cancel := context.WithCancel(context.Background())
	good := srv.Account("good", config.SecurityNone)
	bad := srv.Account("bad", config.SecurityNone)
	bad.Password = config.NewSecret("wrong-secret")
	var errs []string
	passes := map[string]int{}
	timeout := time.AfterFunc(30*time.Second, cancel)
	defer timeout.Stop()
	f.Run(ctx, []*config.Account{good, bad}, func(r Result, err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
		passes[r.Account]++
		if passes["good"] > 0 && passes["bad"] > 0 {
			cancel()
		}
	})
	if passes["good"] == 0 || passes["bad"] == 0 {
		t.Fatalf("passes = %v; want both accounts polled", passes)
	}
	all := logs.String() + strings.Join(errs, "\n")
	for _, pw := range []string{srv.Password, "wrong-secret"} {
		if strings.Contains(all, pw) {
			t.Fatalf("password %q in logs or errors:\n%s", pw, all)
		}
	}
	if !strings.Contains(all, "AUTHENTICATIONFAILED") {
		t.Fatalf("the failed login is not logged:\n%s", all)
	}
}

func dirEntries(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}
