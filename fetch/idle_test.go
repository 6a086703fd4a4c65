package fetch

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// runner runs Fetcher.Run in the background and collects the passes.
type runner struct {
	t      *testing.T
	f      *Fetcher
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	results []Result
	errs    []error
	changed chan struct{}
}

func startRun(t *testing.T, f *Fetcher, accounts ...*config.Account) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{t: t, f: f, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}, 1)}
	go func() {
		defer close(r.done)
		f.Run(ctx, accounts, func(res Result, err error) {
			r.mu.Lock()
			r.results = append(r.results, res)
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			select {
			case r.changed <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusOf(f *Fetcher, account string) AccountStatus {
	for _, s := range f.Status() {
		if s.Account == account {
			return s
		}
	}
	return AccountStatus{}
}

// TestIdle: with idle = true new mail is fetched within seconds although
// the interval is long, over one connection, and the status says idle.
func TestIdle(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{Users: map[string]string{"other": "other-pw"}})
	msgs := corpusMessages(t, 4)
	acct := srv.Account("journal", config.SecuritySTARTTLS)
	acct.Idle = true
	acct.Interval = config.Duration(time.Hour)
	keep := srv.Account("keep", config.SecurityTLS)
	keep.Username, keep.Password = "other", config.NewSecret("other-pw")
	keep.Idle, keep.KeepMails = true, true
	keep.Interval = config.Duration(time.Hour)

	sink := &testSink{}
	f := New(Options{Sink: sink, Checkpoints: sink, Logger: testLogger(t, nil)})
	r := startRun(t, f, acct, keep)
	waitFor(t, 10*time.Second, "both accounts in IDLE", func() bool {
		return statusOf(f, "journal").State == StateIdle && statusOf(f, "keep").State == StateIdle
	})

	for i, m := range msgs {
		start := time.Now()
		srv.Deliver(t, srv.User, m)
		srv.Deliver(t, "other", m)
		waitFor(t, 10*time.Second, "the new message", func() bool {
			return len(sink.sums("journal")) == i+1 && len(sink.sums("keep")) == i+1
		})
		d := time.Since(start)
		t.Logf("message %d archived %v after delivery", i+1, d.Round(time.Millisecond))
		if d > 5*time.Second {
			t.Errorf("message archived %v after delivery; want within seconds", d)
		}
		waitFor(t, 10*time.Second, "IDLE again", func() bool {
			return statusOf(f, "journal").State == StateIdle && statusOf(f, "keep").State == StateIdle
		})
	}
	if got, want := sink.sums("journal"), sortedSums(msgs); !slices.Equal(got, want) {
		t.Fatalf("archived bodies differ from the delivered ones")
	}
	// The keep_mails account fetched each message once (checkpoints).
	if got, want := sink.sums("keep"), sortedSums(msgs); !slices.Equal(got, want) {
		t.Fatalf("keep: archived %d messages; want each of %d once", len(got), len(want))
	}

	st := statusOf(f, "journal")
	if st.Messages != int64(len(msgs)) || st.Passes < int64(len(msgs)) || st.LastSuccess.IsZero() || st.LastError != "" ||
		!st.Idle || st.Protocol != "imap" || st.NextPass.IsZero() {
		t.Errorf("status %+v", st)
	}
	r.stop()
	if got := statusOf(f, "journal").State; got != StateStopped {
		t.Errorf("state after Run returned: %s; want stopped", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		if err != nil {
			t.Errorf("pass error: %v", err)
		}
	}
}

// TestIdleFallbackPoll: without new mail a pass still runs every interval;
// a server without IDLE is polled.
func TestIdleFallbackPoll(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{ExtraConfig: "imap_capability = IMAP4rev1 LITERAL+ SASL-IR UIDPLUS"})
	acct := srv.Account("journal", config.SecurityNone)
	acct.Idle = true
	acct.Interval = config.Duration(time.Second)

	var logs syncBuf
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, &logs)})
	startRun(t, f, acct)
	waitFor(t, 10*time.Second, "three passes", func() bool { return statusOf(f, "journal").Passes >= 3 })
	if !strings.Contains(logs.String(), "the server does not support IMAP IDLE") {
		t.Fatalf("no warning about the missing IDLE:\n%s", logs.String())
	}
	srv.Deliver(t, srv.User, corpusMessages(t, 1)[0])
	waitFor(t, 10*time.Second, "the message", func() bool { return len(sink.sums("journal")) == 1 })
}

// TestIdleReconnect: Dovecot goes away while the account waits in IDLE;
// the account reconnects and goes on.
func TestIdleReconnect(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	acct := srv.Account("journal", config.SecurityTLS)
	acct.Idle = true
	acct.Interval = config.Duration(time.Hour)
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil)})
	f.backoffMin = 50 * time.Millisecond
	startRun(t, f, acct)
	waitFor(t, 10*time.Second, "IDLE", func() bool { return statusOf(f, "journal").State == StateIdle })
	srv.Stop(t)
	waitFor(t, 10*time.Second, "the account to notice", func() bool { return statusOf(f, "journal").State != StateIdle })
	srv.Restart(t)
	msgs := corpusMessages(t, 1)
	srv.Deliver(t, srv.User, msgs[0])
	waitFor(t, 15*time.Second, "the message after the restart", func() bool { return len(sink.sums("journal")) == 1 })
	waitFor(t, 10*time.Second, "IDLE again", func() bool { return statusOf(f, "journal").State == StateIdle })
}
