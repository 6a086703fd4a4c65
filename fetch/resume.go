package fetch

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// position is where a message is in an import's walk: the index of the
// path it was found under, its file's path below that path (components;
// nil when the path is the file), and, inside the file, the 1-based index
// of the zip entry and/or of the mbox member. Import visits positions in
// increasing order (compare), since directories are walked in lexical
// order of names, zip entries in the order of the zip's directory and mbox
// members in file order.
type position struct {
	Root int      `json:"root"`
	Rel  []string `json:"path,omitempty"`
	Sub  []int    `json:"sub,omitempty"`
}

func (p position) compare(q position) int {
	if c := cmp.Compare(p.Root, q.Root); c != 0 {
		return c
	}
	if c := slices.Compare(p.Rel, q.Rel); c != 0 {
		return c
	}
	return slices.Compare(p.Sub, q.Sub)
}

// contains reports whether q is p or inside it (a member of the file p).
func (p position) contains(q position) bool {
	return p.Root == q.Root && slices.Equal(p.Rel, q.Rel) && len(q.Sub) >= len(p.Sub) && slices.Equal(p.Sub, q.Sub[:len(p.Sub)])
}

func (p position) with(i int) position {
	return position{Root: p.Root, Rel: p.Rel, Sub: append(slices.Clip(p.Sub), i)}
}

func (p position) String() string {
	s := fmt.Sprintf("%d:%s", p.Root, strings.Join(p.Rel, "/"))
	for _, i := range p.Sub {
		s += fmt.Sprintf("#%d", i)
	}
	return s
}

// resumeFile is the state file of a resumable import, JSON:
//
//	{"version": 1, "account": "import", "quoting": "mboxrd",
//	 "paths": ["/srv/old-archive"], "done": {"root": 0, "path": ["2019", "inbox.mbox"], "sub": [812]},
//	 "updated": "2026-11-26T17:00:00Z"}
//
// done is the last position of the walk up to which every message was
// archived (the archive committed it) or counted as failed; a rerun of the
// same import skips every position up to it without reading the files.
// The file lives in ImportOptions.StateDir, named by a hash of the
// account, quoting and paths, is replaced atomically about once a second,
// and is removed when the import completes.
type resumeFile struct {
	Version int       `json:"version"`
	Account string    `json:"account"`
	Quoting string    `json:"quoting"`
	Paths   []string  `json:"paths"`
	Done    *position `json:"done"`
	Updated time.Time `json:"updated"`
}

// resumeSaveEvery is how often the state of a running import is saved.
const resumeSaveEvery = time.Second

// resumer tracks which messages of an import are finished and saves the
// contiguous prefix. A nil *resumer does nothing: the import is not
// resumable.
type resumer struct {
	path string
	file resumeFile
	done *position // from the earlier run

	mu       sync.Mutex
	next     uint64              // sequence number of the next message begun
	lowest   uint64              // every message before it is finished
	begun    map[uint64]position // begun and not yet passed by lowest
	finished map[uint64]bool
	saved    time.Time
	err      error // the first error saving
}

// openResumer reads the state an interrupted run of the same import left in
// dir, if any and unless restart. It returns nil when dir is "".
func openResumer(dir, account string, q Quoting, roots []string, restart bool) (*resumer, error) {
	if dir == "" {
		return nil, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", account, q)
	for _, r := range roots {
		fmt.Fprintf(h, "\x00%s", r)
	}
	r := &resumer{
		path:     filepath.Join(dir, "import-"+hex.EncodeToString(h.Sum(nil)[:8])+".json"),
		file:     resumeFile{Version: 1, Account: account, Quoting: q.String(), Paths: roots},
		begun:    map[uint64]position{},
		finished: map[uint64]bool{},
	}
	data, err := os.ReadFile(r.path)
	if restart || errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("import state: %w", err)
	}
	var old resumeFile
	if err := json.Unmarshal(data, &old); err != nil || old.Version != 1 || !slices.Equal(old.Paths, roots) {
		// Not ours or damaged: start over; the archive deduplicates.
		return r, nil
	}
	r.done = old.Done
	r.file.Done = old.Done
	return r, nil
}

// resuming reports where the earlier run stopped, if there was one.
func (r *resumer) resuming() (position, bool) {
	if r == nil || r.done == nil {
		return position{}, false
	}
	return *r.done, true
}

// skipFile reports whether the earlier run finished the whole file (or zip
// entry) at p: p is before the saved position and does not contain it.
func (r *resumer) skipFile(p position) bool {
	if r == nil || r.done == nil {
		return false
	}
	return p.compare(*r.done) < 0 && !p.contains(*r.done)
}

// skip reports whether the earlier run finished the message at p.
func (r *resumer) skip(p position) bool {
	return r != nil && r.done != nil && p.compare(*r.done) <= 0
}

// begin registers a message at p about to be handed over (or counted) and
// returns its sequence number for end.
func (r *resumer) begin(p position) uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.next
	r.next++
	r.begun[seq] = p
	return seq
}

// end marks the message seq finished: archived, or counted as failed in a
// way a rerun would not change. It saves the state at most every
// resumeSaveEvery.
func (r *resumer) end(seq uint64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished[seq] = true
	for r.finished[r.lowest] {
		p := r.begun[r.lowest]
		r.file.Done = &p
		delete(r.finished, r.lowest)
		delete(r.begun, r.lowest)
		r.lowest++
	}
	if time.Since(r.saved) >= resumeSaveEvery {
		r.saveLocked()
	}
}

// finish removes the state after a complete import, or saves it after an
// interrupted one. It returns the state file's path when one is left.
func (r *resumer) finish(complete bool) (string, error) {
	if r == nil {
		return "", nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if complete {
		if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("import state: %w", err)
		}
		return "", nil
	}
	r.saveLocked()
	if r.file.Done == nil {
		return "", r.err
	}
	return r.path, r.err
}

// saveLocked writes the state file: a temporary file, fsynced, renamed over
// the old one. It never claims more than the archive holds, since end is
// called only after the archive committed; losing an update only means a
// rerun reads some messages again, which the archive deduplicates.
func (r *resumer) saveLocked() {
	r.saved = time.Now()
	if r.file.Done == nil {
		return
	}
	r.file.Updated = r.saved.UTC()
	data, err := json.MarshalIndent(&r.file, "", "  ")
	if err == nil {
		err = writeFileAtomic(r.path, append(data, '\n'))
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("import state: %w", err)
	}
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".import-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
