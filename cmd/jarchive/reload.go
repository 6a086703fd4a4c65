package main

// What makes "jarchive serve" a daemon that systemd and monitoring can
// trust: systemd notifications (READY=1 once the archive and index are
// open, RELOADING=1 around a reload, STOPPING=1 as soon as a shutdown
// begins, WATCHDOG=1 while the archive database answers), the HTTP
// listener (metrics.go), one supervised poller per account, and SIGHUP,
// which re-reads the configuration: a file that does not load is logged
// and the running configuration stays; accounts that changed restart,
// the others go on undisturbed.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"

	"jarchive/config"
	"jarchive/fetch"
	"jarchive/systemd"
)

// runSystemdUnit prints the unit file, for
// "jarchive systemd-unit > /etc/systemd/system/jarchive.service".
func runSystemdUnit(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "systemd-unit", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usageError("systemd-unit: unexpected arguments")
	}
	_, err := fmt.Fprint(a.stdout, systemd.Unit)
	return err
}

// service is the daemon around the store: see the top of the file.
type service struct {
	a       *app
	logger  *slog.Logger
	st      *store
	metrics *metrics
	http    *httpService
	web     *webUI // the web interface on the HTTP listener (web.go)

	hup      chan os.Signal
	stopping atomic.Bool
	stopNote func() bool   // cancels the STOPPING=1 notification
	stopSent chan struct{} // closed once STOPPING=1 went out

	watchdogStop context.CancelFunc
	watchdogDone chan struct{}

	probeMu sync.Mutex
	probe   *archiveProbe // the archive read in progress, for health checks

	// Set by run.
	in      *ingest
	pollers *pollers

	mu         sync.Mutex
	cfg        *config.Config // in force
	reloadFail bool           // the last reload failed: cfg is older than the file
}

// startService starts the HTTP listener and the watchdog of a daemon whose
// store is open. A listener that cannot be bound is an error: the daemon
// would run without the monitoring it was configured with.
func startService(ctx context.Context, a *app, cfg *config.Config, st *store) (*service, error) {
	s := &service{a: a, logger: a.logger, st: st, cfg: cfg}
	s.metrics = newMetrics(st)
	for _, acct := range cfg.Accounts {
		s.metrics.addAccount(acct.Name)
	}
	s.http = newHTTPService(a.logger, s.metrics, s.readiness, s.healthy)
	web, err := startWeb(a, cfg, st)
	if err != nil {
		return nil, err
	}
	s.web = web
	s.http.web = s.web.handler()
	ln, err := s.http.bind(cfg.HTTP)
	if err != nil {
		s.web.close()
		return nil, fmt.Errorf("%s: [http] listen: %w", cfg.Path, err)
	}
	s.http.apply(cfg.HTTP, ln)

	// SIGHUP reloads. Without this handler it would end the process.
	s.hup = make(chan os.Signal, 1)
	signal.Notify(s.hup, syscall.SIGHUP)

	// A shutdown is announced at once, not when the accounts have stopped.
	s.stopSent = make(chan struct{})
	s.stopNote = context.AfterFunc(ctx, func() {
		defer close(s.stopSent)
		s.stopping.Store(true)
		s.logger.Info("stopping: finishing the messages in flight, then indexing and closing the archive")
		s.notify(systemd.Stopping, systemd.Status("stopping: finishing the messages in flight"))
	})

	wctx, cancel := context.WithCancel(context.Background())
	s.watchdogStop, s.watchdogDone = cancel, make(chan struct{})
	go func() {
		defer close(s.watchdogDone)
		every, ok := systemd.WatchdogInterval()
		if !ok {
			return
		}
		s.logger.Info("systemd watchdog", "every", every)
		systemd.RunWatchdog(wctx, every, s.healthy, func(err error) {
			if err != nil {
				s.logger.Error("systemd watchdog: not pinging: the daemon is unhealthy", "err", err)
			} else {
				s.logger.Info("systemd watchdog: healthy again, pinging")
			}
		})
	}()
	return s, nil
}

// stopNoted waits, once ctx (startService's) has ended, until the
// shutdown was announced (its log line and STOPPING=1), so that the
// announcement comes before "stopped" rather than racing with it.
func (s *service) stopNoted(ctx context.Context) {
	if ctx.Err() != nil {
		<-s.stopSent
	}
}

// close stops what startService started. The store stays open.
func (s *service) close() {
	signal.Stop(s.hup)
	if !s.stopNote() {
		// The shutdown began: STOPPING=1 goes out before the process
		// ends, even when its goroutine is late.
		<-s.stopSent
	}
	s.watchdogStop()
	<-s.watchdogDone
	s.http.close()
	s.web.close()
}

func (s *service) notify(states ...string) {
	if err := systemd.Notify(states...); err != nil {
		s.logger.Warn("systemd notify", "err", err)
	}
}

// ready tells systemd that start-up is complete.
func (s *service) ready() {
	s.notify(systemd.Ready, systemd.Status(s.statusLine("")))
}

func (s *service) statusLine(suffix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLineLocked(suffix)
}

// run polls the configured accounts until ctx ends and reloads the
// configuration at each SIGHUP. It returns when every account has
// stopped, its messages in flight archived. onResult is called after every
// pass, one call at a time.
func (s *service) run(ctx context.Context, f *fetch.Fetcher, in *ingest, onResult func(fetch.Result, error)) {
	s.in = in
	in.metrics = s.metrics
	s.metrics.gate.Store(in.gate)
	var mu sync.Mutex
	s.pollers = newPollers(f, s.logger, func(res fetch.Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		s.metrics.passDone(res, err)
		if onResult != nil {
			onResult(res, err)
		}
	})
	s.mu.Lock()
	s.pollers.apply(ctx, s.cfg.Accounts)
	s.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			s.pollers.wait()
			return
		case <-s.hup:
			s.reload(ctx)
		}
	}
}

// reload re-reads the configuration file. Nothing changes unless the file
// loads and its [http] listener can be bound.
func (s *service) reload(ctx context.Context) {
	s.notify(systemd.Reload()...)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cfg
	s.logger.Info("reloading the configuration", "file", old.Path)
	fail := func(err error) {
		s.reloadFail = true
		s.metrics.reloaded(false)
		s.logger.Error("reload failed: the previous configuration runs on", "file", old.Path, "err", err)
		s.notify(systemd.Ready, systemd.Status(s.statusLineLocked(fmt.Sprintf("; reload at %s failed, the previous configuration runs on", time.Now().Format("15:04:05")))))
	}
	cfg, err := config.Load(old.Path)
	if err != nil {
		fail(err)
		return
	}
	ln, err := s.http.bind(cfg.HTTP)
	if err != nil {
		fail(fmt.Errorf("[http] listen: %w", err))
		return
	}
	for _, w := range cfg.Warnings() {
		s.logger.Warn(w)
	}
	if keys := restartKeys(old, cfg); len(keys) > 0 {
		s.logger.Warn("reload: these settings changed but take effect only at a restart (systemctl restart jarchive)", "keys", strings.Join(keys, ", "))
	}
	s.web.setConfig(cfg)
	s.http.apply(cfg.HTTP, ln)
	s.in.setModes(cfg.Accounts)
	// Users, groups and [directory]: rebuilt now, then synced and owners
	// reassigned by the directory goroutine (owners.go).
	s.st.dir.SetConfig(cfg)
	s.st.setConfig(cfg)
	ch := s.pollers.apply(ctx, cfg.Accounts)
	for _, name := range ch.stopped {
		s.metrics.removeAccount(name)
	}
	for _, name := range append(ch.started, ch.restarted...) {
		s.metrics.addAccount(name)
	}
	s.cfg, s.reloadFail = cfg, false
	s.metrics.reloaded(true)
	s.logger.Info("configuration reloaded", "file", cfg.Path, "started", ch.started, "restarted", ch.restarted,
		"stopped", ch.stopped, "unchanged", len(ch.unchanged))
	s.notify(systemd.Ready, systemd.Status(s.statusLineLocked(fmt.Sprintf("; configuration reloaded at %s", time.Now().Format("15:04:05")))))
}

func (s *service) statusLineLocked(suffix string) string {
	n := len(s.cfg.Accounts)
	if n == 1 {
		return "archiving from 1 account" + suffix
	}
	return fmt.Sprintf("archiving from %d accounts%s", n, suffix)
}

// restartKeys names the top-level configuration keys other than accounts
// and http whose values differ (secrets and values read from files are
// not compared).
func restartKeys(old, cfg *config.Config) []string {
	var keys []string
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cfg).Elem()
	for i := 0; i < ov.NumField(); i++ {
		name, _, _ := strings.Cut(ov.Type().Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" || name == "accounts" || name == "http" {
			continue
		}
		a, errA := toml.Marshal(map[string]any{name: ov.Field(i).Interface()})
		b, errB := toml.Marshal(map[string]any{name: nv.Field(i).Interface()})
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			keys = append(keys, name)
		}
	}
	return keys
}

// healthy reports whether the archive database answers a read within 10
// seconds: for /healthz and the systemd watchdog.
func (s *service) healthy() error { return s.archiveAnswers(10 * time.Second) }

// archiveProbe is one read of the archive's counters; concurrent checks
// share it, so a hung database does not pile up goroutines.
type archiveProbe struct {
	done chan struct{}
	err  error
}

func (s *service) archiveAnswers(timeout time.Duration) error {
	s.probeMu.Lock()
	p := s.probe
	if p == nil {
		p = &archiveProbe{done: make(chan struct{})}
		s.probe = p
		go func() {
			_, err := s.st.arc.Stats()
			p.err = err
			s.probeMu.Lock()
			s.probe = nil
			s.probeMu.Unlock()
			close(p.done)
		}()
	}
	s.probeMu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("archive database: %w", p.err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("the archive database did not answer within %s", timeout)
	}
}

// readiness is /readyz: ready when the archive and the index are open and
// answer, the configuration is loaded, storing works and no shutdown is
// under way. The report has one line per check.
func (s *service) readiness() (bool, string) {
	ok := true
	var b strings.Builder
	line := func(name string, good bool, text string) {
		if !good {
			ok = false
		}
		fmt.Fprintf(&b, "%-9s %s\n", name+":", text)
	}
	if err := s.archiveAnswers(5 * time.Second); err != nil {
		line("archive", false, err.Error())
	} else {
		line("archive", true, "ok")
	}
	if _, err := s.st.idx.Watermark(); err != nil {
		line("index", false, err.Error())
	} else {
		line("index", true, "ok")
	}
	s.mu.Lock()
	path, failed := s.cfg.Path, s.reloadFail
	s.mu.Unlock()
	if failed {
		line("config", true, "ok, "+path+" (the last reload failed: the previous configuration runs on; see the log)")
	} else {
		line("config", true, "ok, "+path)
	}
	if g := s.metrics.gate.Load(); g != nil && g.paused() {
		line("storage", false, "paused: the archive cannot store messages (see the log)")
	} else {
		line("storage", true, "ok")
	}
	if s.stopping.Load() {
		line("shutdown", false, "under way")
	}
	return ok, b.String()
}

// setModes puts the accounts' envelope modes in force (a reload).
func (in *ingest) setModes(accounts []config.Account) {
	modes := make(map[string]config.EnvelopeMode, len(accounts))
	for _, acct := range accounts {
		modes[acct.Name] = acct.Envelope
	}
	in.modesMu.Lock()
	in.modes = modes
	in.modesMu.Unlock()
}

// mode is the envelope mode of an account.
func (in *ingest) mode(account string) config.EnvelopeMode {
	in.modesMu.RLock()
	defer in.modesMu.RUnlock()
	return in.modes[account]
}

// pollers runs one fetch poller per account (fetch.RunAccount) and
// changes the set at a reload.
type pollers struct {
	f        *fetch.Fetcher
	logger   *slog.Logger
	onResult func(fetch.Result, error)

	mu sync.Mutex
	m  map[string]*poller // by account name; removed ones stay until they stopped
	wg sync.WaitGroup
}

type poller struct {
	acct    config.Account
	cancel  context.CancelFunc
	done    chan struct{} // closed when its RunAccount returned
	removed bool
}

func newPollers(f *fetch.Fetcher, logger *slog.Logger, onResult func(fetch.Result, error)) *pollers {
	return &pollers{f: f, logger: logger, onResult: onResult, m: map[string]*poller{}}
}

// changes is what apply did, by account name.
type changes struct {
	started, restarted, stopped, unchanged []string
}

// apply makes the pollers match accounts: new accounts start, removed
// ones stop, changed ones stop and then start with their new settings
// (the message in flight is finished first), unchanged ones go on.
func (p *pollers) apply(ctx context.Context, accounts []config.Account) changes {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ch changes
	keep := map[string]bool{}
	for _, acct := range accounts {
		keep[acct.Name] = true
		prev := p.m[acct.Name]
		switch {
		case prev == nil || prev.removed:
			ch.started = append(ch.started, acct.Name)
			p.f.Track(&acct)
		case reflect.DeepEqual(prev.acct, acct): // Secrets compare by value
			ch.unchanged = append(ch.unchanged, acct.Name)
			continue
		default:
			ch.restarted = append(ch.restarted, acct.Name)
		}
		p.m[acct.Name] = p.start(ctx, acct, prev)
	}
	for name, pl := range p.m {
		if keep[name] || pl.removed {
			continue
		}
		ch.stopped = append(ch.stopped, name)
		pl.removed = true
		pl.cancel()
	}
	return ch
}

// start runs acct once prev (if any) has stopped.
func (p *pollers) start(ctx context.Context, acct config.Account, prev *poller) *poller {
	pctx, cancel := context.WithCancel(ctx)
	pl := &poller{acct: acct, cancel: cancel, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(pl.done)
		defer cancel()
		if prev != nil {
			prev.cancel()
			<-prev.done
		}
		if pctx.Err() == nil {
			p.f.RunAccount(pctx, &pl.acct, p.onResult)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.m[acct.Name] == pl && pl.removed {
			delete(p.m, acct.Name)
			p.f.Forget(acct.Name)
			p.logger.Info("account stopped: removed from the configuration", "account", acct.Name)
		}
	}()
	return pl
}

// wait returns when every poller has stopped (after ctx ended).
func (p *pollers) wait() { p.wg.Wait() }
