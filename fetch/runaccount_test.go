package fetch

import (
	"context"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/fetch/dovecottest"
)

// TestRunAccount runs two accounts one by one, as a reload does: stopping
// one leaves the other polling, a restarted account gets a fresh status,
// and Forget drops a removed one from Status.
func TestRunAccount(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{Users: map[string]string{"other": "other-pw"}})
	msgs := corpusMessages(t, 2)
	a := srv.Account("a", config.SecurityTLS)
	b := srv.Account("b", config.SecurityTLS)
	b.Username, b.Password = "other", config.NewSecret("other-pw")
	for _, acct := range []*config.Account{a, b} {
		acct.Interval = config.Duration(50 * time.Millisecond)
	}
	sink := &testSink{}
	f := New(Options{Sink: sink, Logger: testLogger(t, nil)})

	start := func(acct *config.Account) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.RunAccount(ctx, acct, nil)
		}()
		return func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("RunAccount(%s) did not return after cancel", acct.Name)
			}
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	status := func(name string) (AccountStatus, bool) {
		for _, s := range f.Status() {
			if s.Account == name {
				return s, true
			}
		}
		return AccountStatus{}, false
	}

	stopA := start(a)
	waitFor("account a in Status", func() bool { _, ok := status("a"); return ok })
	stopB := start(b)
	srv.Deliver(t, srv.User, msgs[0])
	waitFor("account a to archive", func() bool { return len(sink.sums("a")) == 1 })
	stopA()
	if s, _ := status("a"); s.State != StateStopped || s.Messages != 1 {
		t.Errorf("a after stop: state %s, %d messages; want stopped, 1", s.State, s.Messages)
	}
	// b goes on while a is stopped.
	srv.Deliver(t, "other", msgs[1])
	waitFor("account b to archive", func() bool { return len(sink.sums("b")) == 1 })

	// A restart of a: a fresh status at the same place.
	stopA = start(a)
	waitFor("account a to pass again", func() bool { s, _ := status("a"); return s.State != StateStopped && s.Passes > 0 })
	if got := f.Status(); len(got) != 2 || got[0].Account != "a" || got[1].Account != "b" || got[0].Messages != 0 {
		t.Errorf("Status after restart: %+v; want a (fresh) then b", got)
	}
	stopA()
	stopB()
	f.Forget("a")
	if got := f.Status(); len(got) != 1 || got[0].Account != "b" || got[0].State != StateStopped {
		t.Errorf("Status after Forget(a): %+v; want only b, stopped", got)
	}
}
