package fetch

import (
	"slices"
	"sync"
	"time"

	"jarchive/config"
)

// AccountState is what an account's poller in Run is doing.
type AccountState string

const (
	StateStarting AccountState = "starting" // Run started, no pass yet
	StateFetching AccountState = "fetching" // in a pass
	StateIdle     AccountState = "idle"     // connected, waiting in IMAP IDLE for new mail
	StateWaiting  AccountState = "waiting"  // the last pass worked; waiting for the next
	StateRetrying AccountState = "retrying" // the last pass failed; retrying with backoff
	StateFailed   AccountState = "failed"   // an error retrying will not fix; retried rarely
	StateStopped  AccountState = "stopped"  // Run returned
)

// AccountStatus is the state of one account polled by Run, for
// `jarchive accounts`. Counters run from the start of Run.
type AccountStatus struct {
	Account  string       `json:"account"`
	Protocol string       `json:"protocol"`
	Server   string       `json:"server"`
	Idle     bool         `json:"idle"` // IMAP IDLE is configured
	State    AccountState `json:"state"`
	Since    time.Time    `json:"since"` // when State began
	// NextPass is when the next pass starts (waiting, retrying, failed;
	// for idle the fallback poll, if no new mail comes first).
	NextPass time.Time `json:"next_pass,omitzero"`

	LastPass    time.Time `json:"last_pass,omitzero"`    // end of the last pass
	LastSuccess time.Time `json:"last_success,omitzero"` // end of the last pass without error
	LastError   string    `json:"last_error,omitempty"`  // of the last failed pass, kept after a success
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Permanent: LastError is one retrying will not fix (authentication,
	// certificate, configuration).
	Permanent bool `json:"permanent,omitempty"`
	Failures  int  `json:"failures,omitempty"` // consecutive failed passes

	Passes   int64 `json:"passes"`
	Messages int64 `json:"messages"` // archived
	Bytes    int64 `json:"bytes"`    // archived
	Deleted  int64 `json:"deleted"`  // deleted on the server
	Failed   int64 `json:"failed"`   // messages that could not be read or archived
	// TooLarge is the number of messages over max_message_size left on the
	// server, as of the last pass.
	TooLarge int `json:"too_large"`
}

// statusRegistry holds the AccountStatus of every account Run polls.
type statusRegistry struct {
	mu    sync.Mutex
	order []string
	m     map[string]*AccountStatus
}

// Status returns the state of every account of the current (or last) Run,
// in the order of the configuration. It is safe to call at any time.
func (f *Fetcher) Status() []AccountStatus {
	r := &f.status
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]AccountStatus, 0, len(r.order))
	for _, name := range r.order {
		out = append(out, *r.m[name])
	}
	return out
}

// start registers the accounts of a Run.
func (r *statusRegistry) start(accounts []*config.Account) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.order = r.order[:0]
	r.m = map[string]*AccountStatus{}
	for _, a := range accounts {
		r.order = append(r.order, a.Name)
		r.m[a.Name] = newStatus(a, now)
	}
}

// add registers one account (RunAccount) with a fresh status: at its
// place when it is known, else after the others.
func (r *statusRegistry) add(a *config.Account) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*AccountStatus{}
	}
	if r.m[a.Name] == nil {
		r.order = append(r.order, a.Name)
	}
	r.m[a.Name] = newStatus(a, time.Now())
}

// remove drops an account.
func (r *statusRegistry) remove(account string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[account] == nil {
		return
	}
	delete(r.m, account)
	r.order = slices.DeleteFunc(r.order, func(n string) bool { return n == account })
}

func newStatus(a *config.Account, now time.Time) *AccountStatus {
	return &AccountStatus{
		Account:  a.Name,
		Protocol: a.Protocol.String(),
		Server:   a.Addr(),
		Idle:     a.Idle,
		State:    StateStarting,
		Since:    now,
	}
}

// update changes an account's status under the lock; unknown accounts
// (Poll outside Run) are ignored.
func (r *statusRegistry) update(account string, fn func(s *AccountStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.m[account]; s != nil {
		fn(s)
	}
}

func (r *statusRegistry) set(account string, state AccountState, next time.Time) {
	r.update(account, func(s *AccountStatus) {
		if s.State != state {
			s.State, s.Since = state, time.Now()
		}
		s.NextPass = next
	})
}

// archived counts one archived message as it happens, so that a long pass
// shows progress.
func (r *statusRegistry) archived(account string, size int64) {
	r.update(account, func(s *AccountStatus) {
		s.Messages++
		s.Bytes += size
	})
}

// passDone records the end of a pass.
func (r *statusRegistry) passDone(res Result, err error, permanent bool) {
	r.update(res.Account, func(s *AccountStatus) {
		now := time.Now()
		s.Passes++
		s.LastPass = now
		s.Deleted += int64(res.Deleted)
		s.Failed += int64(res.Failed)
		if err == nil {
			s.LastSuccess = now
			s.Failures = 0
			s.TooLarge = res.TooLarge
			return
		}
		s.LastError, s.LastErrorAt, s.Permanent = err.Error(), now, permanent
		s.Failures++
		if res.TooLarge > s.TooLarge {
			s.TooLarge = res.TooLarge
		}
	})
}
