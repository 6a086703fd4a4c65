package fetch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// TestRun polls two accounts, one with a wrong password: the good one keeps
// being archived while the bad one is retried only at the long interval.
func TestRun(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{Users: map[string]string{"other": "other-pw"}})
	msgs := corpusMessages(t, 3)

	good := srv.Account("good", config.SecurityTLS)
	good.Interval = config.Duration(50 * time.Millisecond)
	bad := srv.Account("bad", config.SecuritySTARTTLS)
	bad.Username, bad.Password = "other", config.NewSecret("wrong")
	bad.Interval = config.Duration(50 * time.Millisecond)
	srv.Deliver(t, "other", msgs[0])

	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
	f.permanentMax = 300 * time.Millisecond // 10 intervals would be 500ms

	var (
		mu      sync.Mutex
		passes  = map[string]int{}
		badErrs []error
		changed = make(chan struct{}, 100)
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx, []*config.Account{good, bad}, func(r Result, err error) {
			mu.Lock()
			passes[r.Account]++
			if r.Account == "bad" {
				badErrs = append(badErrs, err)
			} else if err != nil {
				t.Errorf("good account: %v", err)
			}
			mu.Unlock()
			changed <- struct{}{}
		})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for !cond() {
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Deliveries between passes are picked up.
	for i, m := range msgs {
		srv.Deliver(t, srv.User, m)
		waitFor("the good account to archive a message", func() bool { return len(sink.sums("good")) == i+1 })
	}
	waitFor("two passes of the bad account", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return passes["bad"] >= 2
	})
	start := time.Now()
	waitFor("more good passes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return passes["good"] >= 10+passes["bad"]
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("good account polled slowly: %v", d)
	}
	cancel()
	<-done

	if got := srv.Count(t, srv.User); got != 0 {
		t.Errorf("good mailbox holds %d messages; want 0", got)
	}
	if got := srv.Count(t, "other"); got != 1 {
		t.Errorf("bad mailbox holds %d messages; want 1", got)
	}
	for _, err := range badErrs {
		if err != nil && !errors.Is(err, ErrPermanent) && !errors.Is(err, context.Canceled) {
			t.Errorf("bad account error %v; want ErrPermanent", err)
		}
	}
	if badErrs[0] == nil || !errors.Is(badErrs[0], ErrPermanent) {
		t.Errorf("bad account first error %v; want ErrPermanent", badErrs[0])
	}
	t.Logf("passes: %v", passes)
}

// panicSink panics on its first message.
type panicSink struct {
	testSink
	once sync.Once
}

func (s *panicSink) Archive(ctx context.Context, m *Message) error {
	s.once.Do(func() { panic("boom") })
	return s.testSink.Archive(ctx, m)
}

// TestRunRecoversPanic: a panic in a pass is reported as an error and the
// account is retried, for IMAP (also with IDLE) and POP3.
func TestRunRecoversPanic(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	for _, acct := range []*config.Account{
		srv.Account("journal", config.SecuritySTARTTLS),
		srv.Account("idle", config.SecuritySTARTTLS),
		srv.POP3Account("pop", config.SecuritySTARTTLS),
	} {
		acct.Idle = acct.Name == "idle"
		t.Run(acct.Name, func(t *testing.T) { testRunRecoversPanic(t, srv, acct) })
	}
}

func testRunRecoversPanic(t *testing.T, srv *dovecottest.Server, acct *config.Account) {
	srv.Deliver(t, srv.User, corpusMessages(t, 1)[0])
	acct.Interval = config.Duration(20 * time.Millisecond)

	sink := &panicSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
	f.backoffMin = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	f.Run(ctx, []*config.Account{acct}, func(r Result, err error) {
		errs = append(errs, err)
		if err == nil && r.Archived == 1 {
			cancel()
		}
	})
	if len(errs) < 2 || errs[0] == nil || !strings.Contains(errs[0].Error(), "panic: boom") {
		t.Fatalf("errors = %v; want a panic error first, then success", errs)
	}
	if got := srv.Count(t, srv.User); got != 0 {
		t.Fatalf("mailbox holds %d messages; want 0", got)
	}
}

func TestBackoff(t *testing.T) {
	f := New(Options{Sink: &testSink{}})
	every := time.Minute
	for n, want := range map[int]time.Duration{
		1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second,
		7: 5 * time.Minute, 8: 5 * time.Minute, 1000: 5 * time.Minute,
	} {
		for range 20 {
			if got := f.backoff(n, every); got < want/2 || got > want {
				t.Fatalf("backoff(%d, %v) = %v; want in [%v, %v]", n, every, got, want/2, want)
			}
		}
	}
	// A long interval raises the ceiling.
	if got := f.backoff(100, 2*time.Hour); got < time.Hour || got > 2*time.Hour {
		t.Fatalf("backoff(100, 2h) = %v; want in [1h, 2h]", got)
	}
	for every, want := range map[time.Duration]time.Duration{
		time.Minute:      10 * time.Minute,
		30 * time.Minute: time.Hour,
		2 * time.Hour:    2 * time.Hour,
	} {
		if got := f.permanentWait(every); got != want {
			t.Errorf("permanentWait(%v) = %v; want %v", every, got, want)
		}
	}
}

// TestRunStatus checks what Status reports for a working and a failing
// account.
func TestRunStatus(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	msgs := corpusMessages(t, 3)
	big := bigMessage(200 << 10)
	for _, m := range msgs {
		srv.Deliver(t, srv.User, m)
	}
	srv.Deliver(t, srv.User, big)
	good := srv.POP3Account("good", config.SecurityTLS)
	good.Interval = config.Duration(time.Hour)
	good.MaxMessageSize = 100 << 10
	bad := srv.Account("bad", config.SecuritySTARTTLS)
	bad.Password = config.NewSecret("wrong-secret")
	bad.Interval = config.Duration(time.Hour)

	f := New(Options{Sink: &testSink{}, Logger: testLogger(t, nil)})
	if got := f.Status(); len(got) != 0 {
		t.Fatalf("Status before Run = %v; want none", got)
	}
	r := startRun(t, f, good, bad)
	waitFor(t, 10*time.Second, "a pass of each account", func() bool {
		return statusOf(f, "good").Passes == 1 && statusOf(f, "bad").Passes == 1 &&
			statusOf(f, "good").State == StateWaiting && statusOf(f, "bad").State == StateFailed
	})
	list := f.Status()
	if len(list) != 2 || list[0].Account != "good" || list[1].Account != "bad" {
		t.Fatalf("Status = %+v; want good, bad in configuration order", list)
	}
	g, b := list[0], list[1]
	var total int64
	for _, m := range msgs {
		total += int64(len(pop3Served(m)))
	}
	if g.Protocol != "pop3" || g.Server != good.Server || g.Messages != 3 || g.Bytes != total || g.Deleted != 3 ||
		g.TooLarge != 1 || g.LastSuccess.IsZero() || g.LastError != "" || g.Failures != 0 ||
		time.Until(g.NextPass) < 59*time.Minute {
		t.Errorf("good: %+v", g)
	}
	if !b.Permanent || !strings.Contains(b.LastError, "AUTHENTICATIONFAILED") || b.LastErrorAt.IsZero() ||
		!b.LastSuccess.IsZero() || b.Failures != 1 || b.NextPass.IsZero() || strings.Contains(b.LastError, "wrong-secret") {
		t.Errorf("bad: %+v", b)
	}
	r.stop()
	for _, s := range f.Status() {
		if s.State != StateStopped {
			t.Errorf("%s: state %s after Run; want stopped", s.Account, s.State)
		}
	}
}
