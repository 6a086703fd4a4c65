package main

// The HTTP listener of jarchive serve ([http] listen): /metrics in the
// Prometheus text format, /healthz and /readyz. /metrics answers loopback
// clients only, or, with [http] metrics_token, every client that sends
// "Authorization: Bearer TOKEN". The health endpoints need no token.

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/fetch"
)

// metrics are the Prometheus metrics of the daemon. The methods are safe
// for concurrent use and do nothing on a nil *metrics, so the sink of
// "fetch -once" and "import" needs none.
type metrics struct {
	reg *prometheus.Registry
	st  *store
	// gate is the storage gate of the daemon's ingest, for
	// jarchive_storage_paused; nil until serve sets it.
	gate atomic.Pointer[storageGate]

	fetchedMessages *prometheus.CounterVec
	fetchedBytes    *prometheus.CounterVec
	fetchErrors     *prometheus.CounterVec
	passes          *prometheus.CounterVec
	lastSuccess     *prometheus.GaugeVec
	oversize        *prometheus.GaugeVec

	archived      prometheus.Counter
	merged        prometheus.Counter
	parseFailures prometheus.Counter
	commitSeconds prometheus.Histogram

	// The [smtp] receiver (smtp.go).
	smtpMessages      prometheus.Counter
	smtpBytes         prometheus.Counter
	smtpRejected      *prometheus.CounterVec
	smtpCommitSeconds prometheus.Histogram

	reloads      *prometheus.CounterVec
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge
	lag          lagClock
	dirSyncNanos atomic.Int64 // unix nanoseconds of the last directory sync; 0: none yet

	mu       sync.Mutex
	tooLarge map[string]int // per account, as of the last pass
}

// errorKinds are the values of the kind label of
// jarchive_fetch_errors_total (see errorKind).
var errorKinds = []string{"permanent", "tls", "timeout", "network", "storage", "other"}

func newMetrics(st *store) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		st:       st,
		tooLarge: map[string]int{},
		fetchedMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jarchive_fetch_messages_total",
			Help: "Messages fetched from the account and archived (duplicates included).",
		}, []string{"account"}),
		fetchedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jarchive_fetch_bytes_total",
			Help: "Bytes of the messages fetched from the account and archived.",
		}, []string{"account"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jarchive_fetch_errors_total",
			Help: "Failed passes by kind: permanent (authentication, mailbox, configuration), tls (certificate), timeout, network, storage, other.",
		}, []string{"account", "kind"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jarchive_fetch_passes_total",
			Help: "Passes over the account's mailbox, failed ones included.",
		}, []string{"account"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jarchive_fetch_last_success_timestamp_seconds",
			Help: "When the last pass without error over the account ended (Unix time); 0 before the first.",
		}, []string{"account"}),
		oversize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jarchive_fetch_oversize_messages",
			Help: "Messages over max_message_size left on the server, as of the last pass.",
		}, []string{"account"}),
		archived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jarchive_ingest_archived_total",
			Help: "Messages stored as new copies.",
		}),
		merged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jarchive_ingest_duplicates_merged_total",
			Help: "Messages whose bytes were already stored: their source and envelope were merged.",
		}),
		parseFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jarchive_ingest_parse_failures_total",
			Help: "Messages whose envelope could not be parsed, archived raw.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jarchive_ingest_commit_seconds",
			Help:    "Time to store a message durably (blob written and synced, database committed).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1ms to 16s
		}),
		smtpMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jarchive_smtp_messages_total",
			Help: "Messages received over SMTP/LMTP and answered 250 (archived).",
		}),
		smtpBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jarchive_smtp_bytes_total",
			Help: "Bytes of the messages received over SMTP/LMTP and archived.",
		}),
		smtpRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jarchive_smtp_rejected_total",
			Help: "SMTP/LMTP refusals by reason: network, connections, tls, auth, syntax, recipient, size, line, timeout, storage (452), busy (421), failed (451).",
		}, []string{"reason"}),
		smtpCommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jarchive_smtp_commit_seconds",
			Help:    "Time from the end of a message's data to the archive's commit (the wait before the 250).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1ms to 16s
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jarchive_config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: success or failure (the old configuration kept running).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jarchive_config_last_reload_successful",
			Help: "1 when the configuration in force is the file's (the last load worked), 0 when the last reload failed.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jarchive_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration in force was loaded (Unix time).",
		}),
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(time.Now().Unix()))
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r)
	}
	m.reg.MustRegister(
		m.fetchedMessages, m.fetchedBytes, m.fetchErrors, m.passes, m.lastSuccess, m.oversize,
		m.archived, m.merged, m.parseFailures, m.commitSeconds,
		m.smtpMessages, m.smtpBytes, m.smtpRejected, m.smtpCommitSeconds,
		m.reloads, m.reloadOK, m.reloadTime,
		(*storeCollector)(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return m
}

// addAccount makes the account's series exist (at 0) before its first
// pass, so that rate() and alerts see them from the start.
func (m *metrics) addAccount(name string) {
	if m == nil {
		return
	}
	m.fetchedMessages.WithLabelValues(name)
	m.fetchedBytes.WithLabelValues(name)
	m.passes.WithLabelValues(name)
	m.lastSuccess.WithLabelValues(name)
	m.oversize.WithLabelValues(name)
	for _, k := range errorKinds {
		m.fetchErrors.WithLabelValues(name, k)
	}
}

// removeAccount drops the series of an account the configuration no
// longer has.
func (m *metrics) removeAccount(name string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"account": name}
	for _, v := range []*prometheus.MetricVec{m.fetchedMessages.MetricVec, m.fetchedBytes.MetricVec, m.fetchErrors.MetricVec, m.passes.MetricVec, m.lastSuccess.MetricVec, m.oversize.MetricVec} {
		v.DeletePartialMatch(l)
	}
	m.mu.Lock()
	delete(m.tooLarge, name)
	m.mu.Unlock()
}

// stored counts one message the archive committed (ingest).
func (m *metrics) stored(account string, size int64, added, parseFailed bool, took time.Duration) {
	if m == nil {
		return
	}
	m.commitSeconds.Observe(took.Seconds())
	m.fetchedMessages.WithLabelValues(account).Inc()
	m.fetchedBytes.WithLabelValues(account).Add(float64(size))
	if added {
		m.archived.Inc()
	} else {
		m.merged.Inc()
	}
	if parseFailed {
		m.parseFailures.Inc()
	}
	m.lag.archived(time.Now())
}

// passDone records the end of a pass (serve's onResult).
func (m *metrics) passDone(res fetch.Result, err error) {
	if m == nil {
		return
	}
	m.passes.WithLabelValues(res.Account).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	// As in "jarchive accounts": a failed pass may not have seen every
	// message, so it only raises the count.
	n := res.TooLarge
	if err != nil {
		n = max(n, m.tooLarge[res.Account])
	}
	m.tooLarge[res.Account] = n
	m.oversize.WithLabelValues(res.Account).Set(float64(n))
	if err != nil {
		m.fetchErrors.WithLabelValues(res.Account, errorKind(err)).Inc()
		return
	}
	m.lastSuccess.WithLabelValues(res.Account).Set(float64(time.Now().UnixMilli()) / 1e3)
}

// reloaded records a configuration reload.
func (m *metrics) reloaded(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(time.Now().Unix()))
}

// setDirectorySync records a successful directory sync, for
// jarchive_directory_sync_age_seconds (the metric is absent before the
// first call).
func (m *metrics) setDirectorySync(t time.Time) {
	if m != nil {
		m.dirSyncNanos.Store(t.UnixNano())
	}
}

// indexed records that an index catch-up which began at start succeeded:
// everything archived before start is searchable.
func (m *metrics) indexed(start time.Time) {
	if m != nil {
		m.lag.indexed(start)
	}
}

// errorKind sorts a pass's error for jarchive_fetch_errors_total.
func errorKind(err error) string {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
		rerr tls.RecordHeaderError
		nerr net.Error
		oerr *net.OpError
	)
	switch {
	case errors.Is(err, archive.ErrStorage):
		return "storage"
	case errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr) || errors.As(err, &rerr):
		return "tls"
	case errors.Is(err, fetch.ErrPermanent):
		return "permanent"
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.As(err, &oerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE):
		return "network"
	}
	return "other"
}

// lagClock tells how long ago the oldest message that is not yet
// searchable was archived. It keeps the times of archive commits (at most
// one per lagResolution) until an index catch-up that began after them
// succeeds.
type lagClock struct {
	mu    sync.Mutex
	times []time.Time // ascending
	// caughtUp is when the last successful catch-up began (or the clock's
	// first use): the fallback when the index lags behind commits the clock
	// did not see (an earlier run's, or an import's).
	caughtUp time.Time
}

const lagResolution = 100 * time.Millisecond

func (c *lagClock) archived(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.times); n == 0 || now.Sub(c.times[n-1]) >= lagResolution {
		c.times = append(c.times, now)
	}
}

func (c *lagClock) indexed(start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(c.times) && c.times[i].Before(start) {
		i++
	}
	c.times = append(c.times[:0], c.times[i:]...)
	c.caughtUp = start
}

// seconds is the index lag in seconds when lagging (messages > 0).
func (c *lagClock) seconds(now time.Time, lagging bool, started time.Time) float64 {
	if !lagging {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	since := c.caughtUp
	if len(c.times) > 0 {
		since = c.times[0]
	}
	if since.IsZero() {
		since = started
	}
	return max(now.Sub(since).Seconds(), 0)
}

// processStart is when the process started, for the index lag of work
// left by an earlier run.
var processStart = time.Now()

// storeCollector gives the values read at scrape time: the archive's
// size, the index lag, the directory sync age and the storage state.
type storeCollector metrics

var (
	descArchiveMessages = prometheus.NewDesc("jarchive_archive_messages", "Messages in the archive (search hits; linked copies not counted).", nil, nil)
	descArchiveBlobs    = prometheus.NewDesc("jarchive_archive_blobs", "Stored copies (blob files).", nil, nil)
	descArchiveRaw      = prometheus.NewDesc("jarchive_archive_raw_bytes", "Sum of the original sizes of the stored copies.", nil, nil)
	descArchiveStored   = prometheus.NewDesc("jarchive_archive_stored_bytes", "Sum of the blob file sizes (compressed, maybe encrypted).", nil, nil)
	descIndexLag        = prometheus.NewDesc("jarchive_index_lag_messages", "Archive changes not yet in the search index (not yet searchable).", nil, nil)
	descIndexLagSeconds = prometheus.NewDesc("jarchive_index_lag_seconds", "How long ago the oldest change not yet searchable was archived; 0 when the index is up to date.", nil, nil)
	descDirSyncAge      = prometheus.NewDesc("jarchive_directory_sync_age_seconds", "Time since the last successful directory sync (absent before the first).", nil, nil)
	descStoragePaused   = prometheus.NewDesc("jarchive_storage_paused", "1 while the archive cannot store (disk full, I/O error) and fetching is paused on every account.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descArchiveMessages, descArchiveBlobs, descArchiveRaw, descArchiveStored, descIndexLag, descIndexLagSeconds, descDirSyncAge, descStoragePaused} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	m := (*metrics)(c)
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	now := time.Now()
	if s, err := m.st.arc.Stats(); err != nil {
		ch <- prometheus.NewInvalidMetric(descArchiveMessages, err)
	} else {
		gauge(descArchiveMessages, float64(s.Messages))
		gauge(descArchiveBlobs, float64(s.Blobs))
		gauge(descArchiveRaw, float64(s.RawBytes))
		gauge(descArchiveStored, float64(s.StoredBytes))
		if mark, err := m.st.idx.Watermark(); err != nil {
			ch <- prometheus.NewInvalidMetric(descIndexLag, err)
		} else {
			lag := uint64(0)
			if s.LastSeq > mark {
				lag = s.LastSeq - mark
			}
			gauge(descIndexLag, float64(lag))
			gauge(descIndexLagSeconds, m.lag.seconds(now, lag > 0, processStart))
		}
	}
	// The LDAP snapshot in force, or a sync recorded by setDirectorySync.
	synced := time.Unix(0, m.dirSyncNanos.Load())
	if m.st != nil && m.st.dir != nil {
		if t := m.st.dir.Status().Synced; t.After(synced) {
			synced = t
		}
	}
	if synced.UnixNano() > 0 {
		gauge(descDirSyncAge, max(now.Sub(synced).Seconds(), 0))
	}
	paused := 0.0
	if g := m.gate.Load(); g != nil && g.paused() {
		paused = 1
	}
	gauge(descStoragePaused, paused)
}

// httpService is the HTTP listener. Its token and listener change with a
// reload.
type httpService struct {
	logger  *slog.Logger
	metrics http.Handler
	ready   func() (ok bool, report string)
	healthy func() error
	token   atomic.Pointer[config.Secret] // nil or zero: loopback clients only
	web     http.Handler                  // the web interface on every other path (web.go); nil: none
	// cert is the certificate of [http] tls_cert_file, loaded again at
	// each reload (a renewed certificate counts without a restart).
	cert  atomic.Pointer[tls.Certificate]
	tlsOn bool // the running server speaks TLS (under mu)

	mu     sync.Mutex
	listen string // as configured
	srv    *http.Server
	addr   net.Addr // the bound address
	done   chan struct{}
}

func newHTTPService(logger *slog.Logger, m *metrics, ready func() (bool, string), healthy func() error) *httpService {
	h := &httpService{logger: logger, ready: ready, healthy: healthy}
	h.metrics = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{logger},
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       30 * time.Second,
	})
	return h
}

// slogPrinter passes promhttp's errors to the log.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Warn("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

func (h *httpService) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(w, r) {
			return
		}
		h.metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := h.healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, report := h.ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, report)
	})
	if h.web != nil {
		mux.Handle("/", h.web)
	}
	return mux
}

// authorized checks access to /metrics and answers when it is refused.
func (h *httpService) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok := h.token.Load()
	if tok == nil || tok.IsZero() {
		if isLoopback(r.RemoteAddr) {
			return true
		}
		http.Error(w, "forbidden: /metrics answers loopback clients only (set [http] metrics_token to allow others)", http.StatusForbidden)
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(tok.Reveal())) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="jarchive"`)
	http.Error(w, "unauthorized: send the metrics token as \"Authorization: Bearer TOKEN\"", http.StatusUnauthorized)
	return false
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bind returns a listener for cfg.Listen, or nil when it stays as it is
// (or there is none). It is the part of a reload that can fail, done
// before anything changes.
func (h *httpService) bind(cfg config.HTTP) (net.Listener, error) {
	h.mu.Lock()
	same := cfg.Listen == h.listen
	h.mu.Unlock()
	if same || cfg.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return ln, nil
}

// apply puts cfg in force with ln from bind: the token at once, and the
// new listener in place of the old one.
func (h *httpService) apply(cfg config.HTTP, ln net.Listener) {
	tok := cfg.MetricsToken
	h.token.Store(&tok)
	if cfg.TLS() {
		if c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			h.logger.Error("http: the TLS certificate cannot be loaded; the previous one stays in use", "err", err)
		} else {
			h.cert.Store(&c)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ln == nil && cfg.Listen == h.listen {
		if h.srv != nil && h.tlsOn != cfg.TLS() {
			h.logger.Warn("http: switching between HTTP and HTTPS on the same address takes effect at a restart")
		}
		return
	}
	h.stopLocked()
	h.listen = cfg.Listen
	if ln == nil {
		return
	}
	srv := &http.Server{
		Handler:           h.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(h.logger.Handler(), slog.LevelDebug),
	}
	if cfg.TLS() {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.cert.Load(), nil }}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve := func() error { return srv.Serve(ln) }
		if srv.TLSConfig != nil {
			serve = func() error { return srv.ServeTLS(ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.logger.Error("http", "err", err)
		}
	}()
	h.srv, h.addr, h.done, h.tlsOn = srv, ln.Addr(), done, cfg.TLS()
	auth := "loopback clients"
	if !tok.IsZero() {
		auth = "bearer token"
	}
	endpoints := "/metrics /healthz /readyz"
	if h.web != nil {
		endpoints += " and the web interface"
	}
	h.logger.Info("http listening", "addr", ln.Addr().String(), "tls", cfg.TLS(), "endpoints", endpoints, "metrics_access", auth)
}

func (h *httpService) stopLocked() {
	if h.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.srv.Close()
	}
	<-h.done
	h.srv, h.addr, h.done = nil, nil, nil
}

// close stops the listener.
func (h *httpService) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked()
}

// boundAddr is the listener's address, nil without one.
func (h *httpService) boundAddr() net.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr
}

// paused reports whether storing is paused (for metrics and /readyz).
func (g *storageGate) paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.broken != nil
}
