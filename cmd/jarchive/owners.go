package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"jarchive/archive"
	"jarchive/directory"
	"jarchive/index"
	"jarchive/journal"
)

// Who owns each message: the store's directory.Syncer keeps the directory
// in force; ingest asks it for the owners of each message, the archive
// records them (Record.Owners), the index gets them as Document.Owners,
// and search -as scopes to them. When the directory changes, reassign
// recomputes them.

// envelopeParties are the parties of an envelope that decide its owners.
func envelopeParties(env *journal.Envelope) directory.Parties {
	return directory.Parties{Sender: env.Sender, OnBehalfOf: env.OnBehalfOf, Recipients: env.Recipients}
}

// recordParties are the parties of a stored copy.
func recordParties(rec *archive.Record) directory.Parties {
	return directory.Parties{Sender: rec.Sender, OnBehalfOf: rec.OnBehalfOf, Recipients: rec.Recipients}
}

// documentOwners are the owners the index gets for a record: its owners,
// or directory.Unassigned for a message no one owns, which only auditors
// see.
func documentOwners(rec *archive.Record) []string {
	if len(rec.Owners) == 0 {
		return []string{directory.Unassigned}
	}
	out := make([]string, len(rec.Owners))
	for i, o := range rec.Owners {
		out[i] = strings.ToLower(o)
	}
	return out
}

// scopeFor returns the search scope of -as (user names or addresses,
// looked up in the directory in force) and -unassigned. Without -as the
// caller is an auditor; an auditor given with -as sees all (an admin who is
// not also an auditor sees only the mail they own).
func (st *store) scopeFor(as []string, unassigned bool) (index.Scope, error) {
	d := st.dir.Directory()
	all := len(as) == 0
	var owners []string
	for _, s := range as {
		u, ok := d.Lookup(s)
		if !ok {
			return index.Scope{}, usageError("-as %q: no such user (give a user name or one of their addresses; jarchive users list shows them)", s)
		}
		if u.Role.SeesAll() {
			all = true
		}
		owners = append(owners, u.Name)
	}
	switch {
	case unassigned && !all:
		return index.Scope{}, usageError("-unassigned: only auditors see the messages no one owns")
	case unassigned:
		return index.Scope{Owners: []string{directory.Unassigned}}, nil
	case all:
		return index.Scope{All: true}, nil
	}
	return index.Scope{Owners: owners}, nil
}

// reassign recomputes the owners of every message with the directory in
// force and records it as applied. The index learns of the changes from
// the log; the caller catches it up.
func (st *store) reassign(ctx context.Context) (archive.ReassignStats, error) {
	st.reassignMu.Lock()
	defer st.reassignMu.Unlock()
	d := st.dir.Directory()
	rs, err := st.arc.Reassign(ctx, func(rec *archive.Record) []string { return d.Owners(recordParties(rec)) })
	if err != nil {
		return rs, err
	}
	return rs, st.dir.MarkApplied(d)
}

// directorySync is what syncDirectory did.
type directorySync struct {
	Read *directory.SyncResult // the read of [directory.ldap]
	// Changes are what changed since the owners were last computed
	// (directory.Diff); Reassigned is set when they were computed again.
	Changes    []string
	Reassigned *archive.ReassignStats
}

// syncDirectory reads the directory now and, when it gives any message
// other owners than the archive has, reassigns them. A failed read keeps
// the last snapshot in force and is returned after the reassignment the
// configuration file may still need.
func (st *store) syncDirectory(ctx context.Context) (*directorySync, error) {
	res, err := st.dir.Sync(ctx)
	out := &directorySync{Read: res}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	if st.dir.NeedsReassign() {
		out.Changes = directory.Diff(st.dir.Applied(), st.dir.Directory())
		rs, rerr := st.reassign(ctx)
		if rerr != nil {
			return out, errors.Join(err, fmt.Errorf("reassign: %w", rerr))
		}
		out.Reassigned = &rs
	}
	return out, err
}

// directoryRetry is the first wait after a failed directory read; it
// doubles up to the sync interval (a variable for tests).
var directoryRetry = time.Minute

// runDirectory keeps the directory in force for the daemon: a sync at
// start, every sync_interval and after a reload (st.dir.SetConfig), a
// reassignment after each that changed something, and retries with
// backoff while the directory cannot be reached (the last snapshot stays
// in force meanwhile). wake tells the indexer that owners changed.
func (st *store) runDirectory(ctx context.Context, logger *slog.Logger, wake func()) {
	for _, w := range st.dir.Directory().Warnings() {
		logger.Warn("directory: " + w)
	}
	retry := time.Duration(0)
	for {
		interval := st.dir.SyncInterval()
		if interval <= 0 {
			interval = time.Hour
		}
		if retry == 0 {
			retry = min(directoryRetry, interval)
		}
		ds, err := st.syncDirectory(ctx)
		if r := ds.Read; r != nil && r.Read && r.Stats != nil {
			s := r.Stats
			logger.Info("directory read", "users", s.Users, "groups", s.Groups, "pages", s.Pages, "nested", s.Nested,
				"skipped", s.Skipped, "unknown_members", s.Unknown, "took", s.Took.Round(time.Millisecond), "changes", len(r.Changes))
		}
		for _, c := range ds.Changes {
			logger.Info("directory change", "change", c)
		}
		if rs := ds.Reassigned; rs != nil {
			logger.Info("owners reassigned", "checked", rs.Checked, "changed", rs.Changed)
			if rs.Changed > 0 {
				wake()
			}
		}
		next := interval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			next = retry
			logger.Error("directory sync failed; the last snapshot stays in force", "err", err, "retry_in", next)
			retry = min(2*retry, interval)
		default:
			retry = 0
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-st.dir.Changed():
			t.Stop()
		}
	}
}
