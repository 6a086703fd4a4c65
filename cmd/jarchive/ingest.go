package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/fetch"
	"jarchive/journal"
)

// ingest is the fetch stage's sink: it reads each message's envelope and
// stores it in the archive. It returns nil only once the archive committed.
type ingest struct {
	st      *store
	modesMu sync.RWMutex                   // a reload replaces modes (setModes)
	modes   map[string]config.EnvelopeMode // per account; missing means journal
	logger  *slog.Logger

	progress *progress // may be nil
	metrics  *metrics  // may be nil: serve's /metrics
	gate     *storageGate

	mu     sync.Mutex
	counts map[string]*ingestCounts
}

var (
	_ fetch.Sink        = (*ingest)(nil)
	_ fetch.Checkpoints = (*archive.Archive)(nil)
	_ fetch.UIDLs       = (*archive.Archive)(nil)
)

// ingestCounts are per-account results of archiving.
type ingestCounts struct {
	Added, Merged, Failed int
}

func newIngest(st *store, accounts []config.Account, logger *slog.Logger) *ingest {
	in := &ingest{
		st:     st,
		modes:  map[string]config.EnvelopeMode{},
		logger: logger,
		counts: map[string]*ingestCounts{},
		gate:   &storageGate{arc: st.arc, logger: logger, every: storageProbeInterval},
	}
	for _, acct := range accounts {
		in.modes[acct.Name] = acct.Envelope
	}
	return in
}

func (in *ingest) Archive(ctx context.Context, m *fetch.Message) error {
	return in.archive(ctx, m, in.mode(m.Account))
}

// archive stores m with the envelope mode given: an account's, or the
// [smtp] receiver's (smtp.go, which also knows envelope = "smtp").
func (in *ingest) archive(ctx context.Context, m *fetch.Message, mode config.EnvelopeMode) error {
	env := parseEnvelope(m, mode)
	incoming := &archive.Incoming{
		Body:       m.Body,
		Size:       m.Size,
		Envelope:   env,
		Checkpoint: m.Checkpoint,
		Source: archive.Source{
			Account:     m.Account,
			Mailbox:     m.Mailbox,
			UIDValidity: m.UIDValidity,
			UID:         m.UID,
			Path:        m.Path,
			UIDL:        m.UIDL,
			Fetched:     m.Fetched.UTC(),
			MailFrom:    m.MailFrom,
			RcptTo:      m.RcptTo,
			Delivery:    m.Delivery,
		},
	}
	var (
		id    string
		added bool
		took  time.Duration // of the Put that stored it
	)
	for {
		// While storage is broken every account waits here.
		if err := in.gate.wait(ctx, nil); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		// The directory stays in force until the message is stored, so a
		// reassignment after a sync sees it (owners.go).
		d, release := in.st.dir.Hold()
		incoming.Owners = d.Owners(envelopeParties(env))
		var err error
		began := time.Now()
		id, added, err = in.st.arc.Put(ctx, incoming)
		took = time.Since(began)
		release()
		if err == nil {
			break
		}
		if !isStorage(err) {
			return fmt.Errorf("ingest: %w", err)
		}
		if werr := in.gate.wait(ctx, err); werr != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	in.progress.add(m.Size)
	in.metrics.stored(m.Account, m.Size, added, env.Status == journal.StatusFailed, took)
	in.mu.Lock()
	c := in.counts[m.Account]
	if c == nil {
		c = &ingestCounts{}
		in.counts[m.Account] = c
	}
	if added {
		c.Added++
	} else {
		c.Merged++
	}
	if env.Status == journal.StatusFailed {
		c.Failed++
	}
	in.mu.Unlock()
	log := in.logger.Debug
	if env.Status == journal.StatusFailed {
		log = in.logger.Warn
	}
	log("archived", "account", m.Account, "uid", m.UID, "uidl", m.UIDL, "path", m.Path, "msg_id", id, "new", added, "envelope", env.Status.String(), "reason", env.Reason)
	return nil
}

// storageProbeInterval is how often a paused archive checks whether it can
// store again (a variable for tests).
var storageProbeInterval = 5 * time.Second

// take returns and resets the counts of an account.
func (in *ingest) take(account string) ingestCounts {
	in.mu.Lock()
	defer in.mu.Unlock()
	c := in.counts[account]
	delete(in.counts, account)
	if c == nil {
		return ingestCounts{}
	}
	return *c
}
