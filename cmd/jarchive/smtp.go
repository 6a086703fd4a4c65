package main

// The [smtp] receiver of jarchive serve (package smtpserver): messages
// delivered over SMTP or LMTP go through the same ingest as fetched mail,
// under the account name [smtp] name, and are answered 250 only once the
// archive committed them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"jarchive/config"
	"jarchive/fetch"
	"jarchive/journal"
	"jarchive/smtpserver"
)

// smtpReceiver is a running [smtp] receiver.
type smtpReceiver struct {
	addr net.Addr      // where it listens
	done chan struct{} // closed when Serve and the shutdown are over
}

// smtpShutdownGrace is how long the messages in flight may take to finish
// after serve was told to stop.
var smtpShutdownGrace = 30 * time.Second

// startSMTP starts the [smtp] receiver of cfg (nil, nil when it has none).
// It listens at once, so that a bad address fails the start, and serves
// once serve's ingest is wired (svc.run stores the storage gate in m,
// after in.metrics). When ctx ends it stops accepting, closes the idle
// connections and lets the messages in flight finish; stop waits for that.
//
// stored is called after each message archived (to wake the indexer).
func startSMTP(ctx context.Context, a *app, cfg *config.Config, in *ingest, m *metrics, stored func()) (*smtpReceiver, error) {
	if !cfg.SMTP.Enabled() {
		return nil, nil
	}
	sink := &smtpSink{in: in, mode: cfg.SMTP.Envelope, stored: stored}
	var obs smtpserver.Observer
	if m != nil {
		obs = (*smtpObserver)(m)
	}
	srv, err := smtpserver.New(&cfg.SMTP, smtpserver.Options{
		Sink:     sink,
		Logger:   a.logger,
		TempDir:  filepath.Join(cfg.Archive.Dir, "tmp"),
		Observer: obs,
	})
	if err != nil {
		return nil, err
	}
	ln, err := srv.Listen()
	if err != nil {
		return nil, err
	}
	r := &smtpReceiver{addr: ln.Addr(), done: make(chan struct{})}
	proto := "smtp"
	if cfg.SMTP.LMTP {
		proto = "lmtp"
	}
	a.logger.Info("smtp receiver listening", "addr", ln.Addr().String(), "protocol", proto, "name", cfg.SMTP.Name,
		"envelope", cfg.SMTP.Envelope.String(), "tls", cfg.SMTP.TLSCertFile != "")
	served := make(chan struct{})
	go func() {
		defer close(served)
		// Wait for svc.run to wire the ingest (see above).
		for m != nil && m.gate.Load() == nil {
			select {
			case <-ctx.Done():
				ln.Close()
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err := srv.Serve(ln); err != nil {
			a.logger.Error("smtp receiver stopped", "err", err)
		}
	}()
	go func() {
		defer close(r.done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), smtpShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			a.logger.Warn("smtp receiver shutdown", "err", err)
		}
		<-served
		a.logger.Info("smtp receiver stopped")
	}()
	return r, nil
}

// wait waits until the receiver stopped (after serve's context ended).
func (r *smtpReceiver) wait() {
	if r != nil {
		<-r.done
	}
}

// smtpSink passes received messages to the ingest with the receiver's
// envelope mode, and tells smtpserver which failures are the storage's
// (452) so that senders back off.
type smtpSink struct {
	in     *ingest
	mode   config.EnvelopeMode
	stored func() // may be nil
}

var _ fetch.Sink = (*smtpSink)(nil)

func (s *smtpSink) Archive(ctx context.Context, m *fetch.Message) error {
	// While storage is broken the ingest would wait (storage.go); a
	// sender is better told at once to come back later.
	if s.in.gate.paused() {
		return fmt.Errorf("smtp: %w: storing is paused", smtpserver.ErrStorage)
	}
	err := s.in.archive(ctx, m, s.mode)
	switch {
	case err == nil:
		if s.stored != nil {
			s.stored()
		}
		return nil
	case isStorage(err), errors.Is(err, context.DeadlineExceeded) && s.in.gate.paused():
		return fmt.Errorf("smtp: %w: %w", smtpserver.ErrStorage, err)
	}
	return err
}

// parseEnvelope reads a message's envelope in mode. For mode smtp the
// header is read as with off, and the SMTP envelope gives the recipients
// (field "smtp") and the sender; the header's sender, when it is someone
// else, is kept as OnBehalfOf so that the author owns the copy too.
func parseEnvelope(m *fetch.Message, mode config.EnvelopeMode) *journal.Envelope {
	if mode.Kind != config.EnvelopeSMTP {
		return journal.Parse(m.Body, m.Size, mode)
	}
	env := journal.Parse(m.Body, m.Size, config.EnvelopeMode{Kind: config.EnvelopeOff})
	env.Mode = mode
	if len(m.RcptTo) == 0 {
		env.Problems = append(env.Problems, "no SMTP envelope: recipients from the message's own headers")
		return env
	}
	env.Recipients = env.Recipients[:0]
	for _, r := range m.RcptTo {
		env.Recipients = append(env.Recipients, journal.Recipient{Addr: r, Field: "smtp"})
	}
	if m.MailFrom != "" {
		if env.Sender != "" && !sameAddr(env.Sender, m.MailFrom) && env.OnBehalfOf == "" {
			env.OnBehalfOf = env.Sender
		}
		env.Sender = m.MailFrom
	}
	return env
}

func sameAddr(a, b string) bool {
	na, okA := journal.NormalizeAddr(a)
	nb, okB := journal.NormalizeAddr(b)
	if okA && okB {
		return strings.EqualFold(na, nb)
	}
	return strings.EqualFold(a, b)
}

// smtpObserver counts the receiver's messages and refusals in serve's
// metrics.
type smtpObserver metrics

func (o *smtpObserver) Accepted(size int64, commit time.Duration) {
	m := (*metrics)(o)
	m.smtpMessages.Inc()
	m.smtpBytes.Add(float64(size))
	m.smtpCommitSeconds.Observe(commit.Seconds())
}

func (o *smtpObserver) Rejected(reason string) {
	(*metrics)(o).smtpRejected.WithLabelValues(reason).Inc()
}
