package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"jarchive/config"
)

// Run polls every account at its interval until ctx is done, one goroutine
// per account, and returns when all of them have stopped. Accounts with
// idle = true (IMAP) stay connected and wait for new mail with IDLE between
// passes (see the package documentation).
//
// After a pass that failed with a temporary error (network, sink) the account
// is retried with capped exponential backoff and jitter; after a permanent
// error (ErrPermanent: authentication, TLS verification, missing mailbox) it
// is logged at ERROR and retried only every 10 intervals (at most an hour),
// so the other accounts run on. A panic in a pass is recovered, logged with
// its stack and treated as a temporary error. Status reports what each
// account is doing.
//
// onResult, if not nil, is called after every pass; calls are serialised, so
// it needs no locking of its own.
func (f *Fetcher) Run(ctx context.Context, accounts []*config.Account, onResult func(Result, error)) {
	var mu sync.Mutex
	report := func(res Result, err error) {
		if onResult == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		onResult(res, err)
	}
	f.status.start(accounts)
	var wg sync.WaitGroup
	for _, acct := range accounts {
		wg.Go(func() {
			f.runAccount(ctx, acct, report)
			f.status.set(acct.Name, StateStopped, time.Time{})
		})
	}
	wg.Wait()
}

// RunAccount polls one account as Run does, until ctx is done, and returns
// once the message in flight is finished. It lets a daemon start and stop
// accounts one by one (a configuration reload): several RunAccount calls
// may run at once, each for a different account, but never two for the
// same account. The account joins Status when RunAccount starts (with
// fresh counters) and stays there, stopped, after it returns, until Forget.
// onResult, if not nil, is called after every pass of this account; calls
// of different RunAccount calls are not serialised.
func (f *Fetcher) RunAccount(ctx context.Context, acct *config.Account, onResult func(Result, error)) {
	f.status.add(acct)
	f.runAccount(ctx, acct, func(res Result, err error) {
		if onResult != nil {
			onResult(res, err)
		}
	})
	f.status.set(acct.Name, StateStopped, time.Time{})
}

// Track adds an account to Status as starting, at its place when it is
// there already, else after the others. RunAccount does it too; a daemon
// that starts several accounts at once tracks them first, in the order of
// its configuration, so that Status follows that order.
func (f *Fetcher) Track(acct *config.Account) { f.status.add(acct) }

// Forget removes an account from Status, for one that RunAccount ran and
// the configuration no longer has.
func (f *Fetcher) Forget(account string) { f.status.remove(account) }

func (f *Fetcher) runAccount(ctx context.Context, acct *config.Account, report func(Result, error)) {
	log := f.log.With("account", acct.Name)
	every := interval(acct)
	useIdle := acct.Idle && !acct.IsPOP3()
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()

	// passDone logs and records a pass and returns the wait before the next.
	passDone := func(res Result, err error) time.Duration {
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) && res == (Result{Account: acct.Name}) {
			return every // stopped before it did anything: not a pass
		}
		perm := errors.Is(err, ErrPermanent)
		if pe := (*panicError)(nil); errors.As(err, &pe) {
			log.Error("panic in fetch pass", "panic", pe.value, "stack", string(pe.stack))
		}
		f.status.passDone(res, err, perm)
		report(res, err)
		switch {
		case err == nil:
			failures = 0
			level := slog.LevelDebug
			if res.Seen > 0 {
				level = slog.LevelInfo
			}
			log.Log(ctx, level, "pass done", "seen", res.Seen, "archived", res.Archived,
				"deleted", res.Deleted, "too_large", res.TooLarge, "bytes", res.Bytes)
			return every
		case ctx.Err() != nil:
			return every
		case perm:
			failures = 0
			wait := f.permanentWait(every)
			log.Error("account failed with an error retrying will not fix; check its configuration",
				"err", err, "retry_in", wait)
			return wait
		default:
			failures++
			wait := f.backoff(failures, every)
			log.Warn("pass failed, retrying", "err", err, "failures", failures, "retry_in", wait)
			return wait
		}
	}

	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}

		var wait time.Duration
		var err error
		if useIdle {
			var reported bool
			reported, err = f.safeIdle(ctx, acct, log, func(res Result, err error) { wait = passDone(res, err) })
			switch {
			case errors.Is(err, errNoIdle):
				log.Warn("the server does not support IMAP IDLE: polling at the interval instead", "interval", every)
				useIdle, err = false, nil
			case err != nil && !reported && ctx.Err() == nil:
				// The connection ended while waiting for mail (servers
				// drop long connections): connect again soon.
				failures++
				wait = f.backoff(failures, every)
				log.Info("connection lost while waiting for new mail, reconnecting", "err", err, "retry_in", wait)
			}
		} else {
			f.status.set(acct.Name, StateFetching, time.Time{})
			var res Result
			res, err = f.safePoll(ctx, acct, log)
			wait = passDone(res, err)
		}
		if ctx.Err() != nil {
			return
		}
		state := StateWaiting
		switch {
		case errors.Is(err, ErrPermanent):
			state = StateFailed
		case err != nil:
			state = StateRetrying
		}
		f.status.set(acct.Name, state, time.Now().Add(wait))
		timer.Reset(wait)
	}
}

// safeIdle is idleIMAP with a panic turned into an error.
func (f *Fetcher) safeIdle(ctx context.Context, acct *config.Account, log *slog.Logger, passDone func(Result, error)) (reported bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic in fetch pass", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("fetch %s: panic: %v", acct.Name, v)
			passDone(Result{Account: acct.Name}, err)
			reported = true
		}
	}()
	return f.idleIMAP(ctx, acct, log, passDone)
}

// safePoll is Poll with a panic turned into an error.
func (f *Fetcher) safePoll(ctx context.Context, acct *config.Account, log *slog.Logger) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic in fetch pass", "panic", v, "stack", string(debug.Stack()))
			res = Result{Account: acct.Name}
			err = fmt.Errorf("fetch %s: panic: %v", acct.Name, v)
		}
	}()
	return f.Poll(ctx, acct)
}

// backoff is the wait after the n-th consecutive temporary failure:
// backoffMin doubled per failure, capped at max(backoffMax, every), with
// jitter taking it down by up to a half.
func (f *Fetcher) backoff(n int, every time.Duration) time.Duration {
	ceiling := max(f.backoffMax, every)
	d := f.backoffMin
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + rand.N(d/2+1)
}

// permanentWait is the wait after a permanent error: 10 intervals, at most
// permanentMax, never less than one interval.
func (f *Fetcher) permanentWait(every time.Duration) time.Duration {
	return max(min(10*every, f.permanentMax), every)
}
