package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"jarchive/config"
)

// StateFile is the name of the state file in the archive directory.
const StateFile = "directory.json"

// stateVersion is the format of the state file that doc.go describes.
const stateVersion = 1

// state is the content of the state file.
type state struct {
	Version int `json:"version"`
	// LDAP is the last snapshot read from [directory.ldap]: in force until
	// a read succeeds.
	LDAP   *Snapshot `json:"ldap,omitempty"`
	Synced time.Time `json:"synced,omitzero"`  // when LDAP was read
	Server string    `json:"server,omitempty"` // the url and base DN it was read from
	// Applied is the directory the archive's owners were last computed
	// with (Syncer.MarkApplied); nil before the first time.
	Applied *applied `json:"applied,omitempty"`
}

type applied struct {
	Implicit bool      `json:"implicit,omitempty"`
	Plus     bool      `json:"plus_addressing"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Time     time.Time `json:"time"`
}

// Syncer keeps the directory in force: the configuration's users, groups
// and shared mailboxes merged into the last snapshot read from LDAP. It
// persists that snapshot, so a directory that cannot be reached keeps the
// last good one, across restarts too. Its methods are safe for
// concurrent use.
type Syncer struct {
	cfg    *config.Config
	path   string
	logger *slog.Logger
	// read reads the LDAP directory; ReadLDAP unless a test replaces it.
	read func(ctx context.Context, cfg *config.LDAP, logger *slog.Logger) (*Snapshot, *LDAPStats, error)

	syncMu sync.Mutex // one Sync at a time

	// mu is held for reading while a directory is in use (Hold) and for
	// writing to replace it, so that a replacement waits for the
	// messages being assigned with the old one.
	mu  sync.RWMutex
	cur *Directory

	stMu    sync.Mutex
	st      state
	lastErr error
	lastTry time.Time

	changed chan struct{} // SetConfig: sync now (Changed)
}

// Open returns the Syncer of a configuration with its state file at path
// (<archive dir>/directory.json). It does not contact the directory: the
// directory in force is the configuration's merged into the persisted
// snapshot. A state file that cannot be read is logged and ignored. What
// the directory leaves out is in Directory().Warnings().
func Open(cfg *config.Config, path string, logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{cfg: cfg, path: path, logger: logger, read: ReadLDAP, changed: make(chan struct{}, 1)}
	st, err := loadState(path)
	if err != nil {
		logger.Error("directory: state file unreadable; starting without the last directory snapshot", "file", path, "err", err)
	}
	s.st = st
	s.cur = Build(cfg, st.LDAP)
	return s
}

func loadState(path string) (state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{Version: stateVersion}, nil
	}
	if err != nil {
		return state{Version: stateVersion}, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{Version: stateVersion}, err
	}
	if st.Version != stateVersion {
		return state{Version: stateVersion}, fmt.Errorf("state format %d: this jarchive reads format %d", st.Version, stateVersion)
	}
	return st, nil
}

// save writes the state file atomically: a temp file in the same
// directory, fsync, rename, fsync of the directory.
func (s *Syncer) save() error {
	b, err := json.Marshal(&s.st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, StateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("directory state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("directory state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("directory state: fsync %s: %w", dir, err)
		}
	}
	return nil
}

// SetConfig puts a new configuration in force (a reload): the directory
// is built again from it and the last snapshot read, and Changed is
// signalled, so that the daemon syncs (reading the new [directory.ldap])
// and reassigns now.
func (s *Syncer) SetConfig(cfg *config.Config) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.stMu.Lock()
	s.cfg = cfg
	snap := s.st.LDAP
	s.stMu.Unlock()
	s.set(Build(cfg, snap))
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled when SetConfig put a new configuration in force.
func (s *Syncer) Changed() <-chan struct{} { return s.changed }

// SyncInterval is the configuration's [directory] sync_interval.
func (s *Syncer) SyncInterval() time.Duration {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	return time.Duration(s.cfg.Directory.SyncInterval)
}

// Directory returns the directory in force.
func (s *Syncer) Directory() *Directory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

// Hold returns the directory in force and keeps it so until release is
// called: call it around assigning a message and storing it, so that a
// reassignment after a sync sees every message assigned with the old
// directory.
func (s *Syncer) Hold() (d *Directory, release func()) {
	s.mu.RLock()
	return s.cur, s.mu.RUnlock
}

func (s *Syncer) set(d *Directory) {
	s.mu.Lock()
	s.cur = d
	s.mu.Unlock()
}

// SyncResult describes one Sync.
type SyncResult struct {
	// Read is false when there is no [directory.ldap]: the configuration
	// file is the whole directory.
	Read  bool
	Stats *LDAPStats // of the read
	// Changes are what changed in the directory in force, one line each
	// (see Diff).
	Changes []string
}

// Sync reads [directory.ldap] now, and on success persists the snapshot
// and puts the new directory in force. On failure the directory in force
// stays as it is (the last good snapshot) and the error is returned.
// Without [directory.ldap] it only reports what the configuration gives.
func (s *Syncer) Sync(ctx context.Context) (*SyncResult, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	old := s.Directory()
	res := &SyncResult{}
	s.stMu.Lock()
	cfg := s.cfg
	s.stMu.Unlock()
	l := &cfg.Directory.LDAP
	if !l.Enabled() {
		return res, nil
	}
	res.Read = true
	snap, stats, err := s.read(ctx, l, s.logger)
	s.stMu.Lock()
	s.lastTry, s.lastErr = time.Now(), err
	if err != nil {
		s.stMu.Unlock()
		return res, err
	}
	res.Stats = stats
	s.st.LDAP, s.st.Synced, s.st.Server = snap, time.Now().UTC(), l.URL+" "+l.BaseDN
	serr := s.save()
	s.stMu.Unlock()
	d := Build(cfg, snap)
	for _, w := range d.Warnings() {
		s.logger.Debug("directory: " + w)
	}
	s.set(d)
	res.Changes = Diff(old, d)
	if serr != nil {
		// In force, but not persisted: a restart now would use the older
		// snapshot until the next read.
		return res, serr
	}
	return res, nil
}

// Status describes the directory in force.
type Status struct {
	Source   string    // "ldap", "file" (the configuration only) or "implicit"
	Synced   time.Time // when the LDAP snapshot in force was read; zero for none
	Server   string    // url and base DN it was read from
	LastTry  time.Time // the last Sync of this process that read LDAP
	LastErr  error     // its error
	Applied  time.Time // when the archive's owners were last computed (MarkApplied)
	Pending  bool      // the directory in force gives other owners than the one applied
	Users    int
	Warnings int
}

// Status returns the state of the directory in force.
func (s *Syncer) Status() Status {
	d := s.Directory()
	s.stMu.Lock()
	defer s.stMu.Unlock()
	st := Status{Source: "file", LastTry: s.lastTry, LastErr: s.lastErr, Users: len(d.users), Warnings: len(d.warnings)}
	switch {
	case d.implicit:
		st.Source = "implicit"
	case s.cfg.Directory.LDAP.Enabled():
		st.Source, st.Synced, st.Server = "ldap", s.st.Synced, s.st.Server
	}
	if s.st.Applied != nil {
		st.Applied = s.st.Applied.Time
	}
	a := s.appliedLocked()
	st.Pending = a == nil || a.Digest() != d.Digest()
	return st
}

// Applied returns the directory the archive's owners were last computed
// with, or nil when they never were.
func (s *Syncer) Applied() *Directory {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	return s.appliedLocked()
}

func (s *Syncer) appliedLocked() *Directory {
	a := s.st.Applied
	if a == nil {
		return nil
	}
	opts := Options{PlusAddressing: a.Plus}
	if a.Implicit || a.Snapshot == nil {
		return Implicit(opts)
	}
	return New(a.Snapshot, opts)
}

// NeedsReassign reports whether the directory in force gives any message
// other owners than the directory last applied to the archive.
func (s *Syncer) NeedsReassign() bool {
	a := s.Applied()
	return a == nil || a.Digest() != s.Directory().Digest()
}

// MarkApplied records that the archive's owners are now those of d, and
// persists it.
func (s *Syncer) MarkApplied(d *Directory) error {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	a := &applied{Implicit: d.implicit, Plus: d.opts.PlusAddressing, Time: time.Now().UTC()}
	if !d.implicit {
		a.Snapshot = d.snap
	}
	s.st.Applied = a
	return s.save()
}

// Diff lists what changed from old to new, one line each, sorted:
//
//   - user anna: anna.berg@contoso.com, a.berg@contoso.com
//   - user ben
//     ~ user carl: +carl.x@contoso.com, -carl@old.example, role auditor
//   - group sales: sales@contoso.com; anna, ivan
//     ~ group sales: +julia, -ivan, +group emea
//     ~ shared mailbox info@contoso.com: +anna
//     owners changed for 3 addresses
//
// old may be nil (nothing applied yet).
func Diff(old, new *Directory) []string {
	if old == nil {
		old = &Directory{snap: &Snapshot{}, implicit: new.implicit, opts: new.opts}
	}
	var lines []string
	ou, nu := usersByName(old), usersByName(new)
	for _, l := range sortedKeys(nu) {
		n := nu[l]
		o, ok := ou[l]
		if !ok {
			line := "+ user " + n.Name
			if len(n.Addresses) > 0 {
				line += ": " + strings.Join(n.Addresses, ", ")
			}
			if n.Role != config.RoleUser {
				line += " (" + n.Role.String() + ")"
			}
			lines = append(lines, line)
			continue
		}
		var ch []string
		ch = append(ch, setDiff(o.Addresses, n.Addresses)...)
		if o.Role != n.Role {
			ch = append(ch, "role "+n.Role.String())
		}
		if o.Name != n.Name {
			ch = append(ch, "name "+n.Name)
		}
		if len(ch) > 0 {
			lines = append(lines, "~ user "+n.Name+": "+strings.Join(ch, ", "))
		}
	}
	for _, l := range sortedKeys(ou) {
		if _, ok := nu[l]; !ok {
			lines = append(lines, "- user "+ou[l].Name)
		}
	}
	og, ng := groupsByName(old.snap), groupsByName(new.snap)
	for _, l := range sortedKeys(ng) {
		n := ng[l]
		members := func(g *Group) []string {
			m := slices.Clone(g.Users)
			for _, c := range g.Groups {
				m = append(m, "group "+c)
			}
			return m
		}
		o, ok := og[l]
		if !ok {
			lines = append(lines, fmt.Sprintf("+ group %s: %s; %s", n.Name, orNone(n.Addresses), orNone(members(n))))
			continue
		}
		ch := setDiff(o.Addresses, n.Addresses)
		ch = append(ch, setDiff(members(o), members(n))...)
		if len(ch) > 0 {
			lines = append(lines, "~ group "+n.Name+": "+strings.Join(ch, ", "))
		}
	}
	for _, l := range sortedKeys(og) {
		if _, ok := ng[l]; !ok {
			lines = append(lines, "- group "+og[l].Name)
		}
	}
	oldShared, newShared := sharedByAddr(old.snap), sharedByAddr(new.snap)
	for _, l := range sortedKeys(newShared) {
		n := newShared[l]
		o, ok := oldShared[l]
		if !ok {
			lines = append(lines, fmt.Sprintf("+ shared mailbox %s: %s", n.Address, orNone(append(slices.Clone(n.Users), n.Groups...))))
			continue
		}
		if ch := setDiff(append(slices.Clone(o.Users), o.Groups...), append(slices.Clone(n.Users), n.Groups...)); len(ch) > 0 {
			lines = append(lines, "~ shared mailbox "+n.Address+": "+strings.Join(ch, ", "))
		}
	}
	for _, l := range sortedKeys(oldShared) {
		if _, ok := newShared[l]; !ok {
			lines = append(lines, "- shared mailbox "+oldShared[l].Address)
		}
	}
	if old.implicit != new.implicit {
		if new.implicit {
			lines = append(lines, "no users any more: every address owns its own mail")
		} else {
			lines = append(lines, "users defined: mail belongs to them, not to every address")
		}
	}
	if old.opts.PlusAddressing != new.opts.PlusAddressing {
		lines = append(lines, fmt.Sprintf("plus_addressing = %t", new.opts.PlusAddressing))
	}
	if n := changedAddresses(old, new); n > 0 {
		lines = append(lines, fmt.Sprintf("owners changed for %d %s", n, plural(n, "address", "addresses")))
	}
	return lines
}

func usersByName(d *Directory) map[string]*User {
	if d.users != nil {
		return d.users
	}
	return map[string]*User{}
}

func groupsByName(s *Snapshot) map[string]*Group {
	m := map[string]*Group{}
	for i := range s.Groups {
		m[strings.ToLower(s.Groups[i].Name)] = &s.Groups[i]
	}
	return m
}

func sharedByAddr(s *Snapshot) map[string]*SharedMailbox {
	m := map[string]*SharedMailbox{}
	for i := range s.Shared {
		k, ok := addrKey(s.Shared[i].Address)
		if !ok {
			k = s.Shared[i].Address
		}
		m[k] = &s.Shared[i]
	}
	return m
}

// setDiff returns "+x" for what b adds to a and "-x" for what it drops,
// compared without regard to case.
func setDiff(a, b []string) []string {
	in := func(list []string, s string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
	}
	var out []string
	for _, x := range b {
		if !in(a, x) {
			out = append(out, "+"+x)
		}
	}
	for _, x := range a {
		if !in(b, x) {
			out = append(out, "-"+x)
		}
	}
	return out
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, ", ")
}

// changedAddresses counts the addresses whose owners differ.
func changedAddresses(old, new *Directory) int {
	if old.implicit || new.implicit {
		return 0
	}
	keys := map[string]bool{}
	for k := range old.owners {
		keys[k] = true
	}
	for k := range new.owners {
		keys[k] = true
	}
	n := 0
	for k := range keys {
		if !slices.Equal(old.owners[k], new.owners[k]) {
			n++
		}
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
