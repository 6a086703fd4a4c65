package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"jarchive/journal"
)

// Group commit. A Put that finds no batch forming leads one at once with
// every request queued (up to maxBatch messages and maxBatchBytes), so a
// lone Put never waits for a timer. A batch goes through two stages: sync
// (decide which blobs are new, make their temp files durable) and commit
// (the database transaction, then the renames). Once its sync is done the
// leader takes the commit stage, in batch order, and hands the lead to the
// oldest queued request, whose batch syncs while this one commits. Puts
// arriving meanwhile queue; a batch thus waits at most for the stage in
// progress.

// passLead hands the lead to the oldest queued request, or gives it up
// when none waits.
func (a *Archive) passLead() {
	a.cmu.Lock()
	var next *request
	if len(a.queue) > 0 {
		next = a.queue[0]
	} else {
		a.leading = false
	}
	a.cmu.Unlock()
	if next != nil {
		next.wake <- true
	}
}

func (a *Archive) submit(r *request) {
	r.wake = make(chan bool, 1)
	a.cmu.Lock()
	a.queue = append(a.queue, r)
	if a.leading {
		a.cmu.Unlock()
		if lead := <-r.wake; !lead {
			return
		}
	} else {
		a.leading = true
		a.cmu.Unlock()
	}

	a.cmu.Lock()
	n, size := 0, int64(0)
	for n < len(a.queue) && n < a.maxBatch && (n == 0 || size+a.queue[n].bytes() <= a.maxBatchBytes) {
		size += a.queue[n].bytes()
		n++
	}
	batch := slices.Clone(a.queue[:n])
	a.queue = slices.Delete(a.queue, 0, n)
	a.cmu.Unlock()

	install, ok := a.syncBatch(batch)
	if ok {
		a.commitMu.Lock()
	}
	a.passLead()
	if ok {
		a.commitBatch(batch, install)
		a.commitMu.Unlock()
	}
	for _, b := range batch {
		removeTemp(b.o)
		removeTemp(b.d)
		if b != r {
			b.wake <- false
		}
	}
}

// errRetry fails a Put whose bytes the archive had when it was staged
// but no longer has at its commit; fetching it again stores it.
var errRetry = errors.New("the stored copy went away while the message was being stored; try again")

// The commit protocol (doc.go): the new blobs' temp files are synced (one
// syncfs, or their fsyncs and one of tmp/), then the records are committed
// in one transaction, then the temp files are renamed into blobs/. A crash
// after the commit and before the renames are durable leaves committed
// temp files, which Open rolls forward; a crash before the commit leaves
// temp files without records, which Open removes. So blobs/ only ever
// holds complete blobs with records, and a Put is acknowledged only after
// its commit.

// syncBatch decides which blobs of a batch are new and makes their temp
// files durable. It returns false when the batch failed.
func (a *Archive) syncBatch(batch []*request) (install []*blob, ok bool) {
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
	// The previous batch may still be committing: a blob it adds looks
	// new here, and commitBatch drops the duplicate.
	seen := map[[32]byte]bool{}
	err := a.db.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		for _, r := range batch {
			for _, b := range r.blobs() {
				if seen[b.sum] || msgs.Get(b.sum[:]) != nil {
					continue
				}
				if b.tmp == "" {
					// Stored when it was staged, gone now. (The previous
					// batch cannot have it: it had it at staging.)
					r.err = errRetry
					continue
				}
				seen[b.sum] = true
				b.install = true
				install = append(install, b)
			}
		}
		return nil
	})
	a.afterRead()
	if err != nil {
		fail(err)
		return nil, false
	}
	if len(install) > 0 {
		if err := a.syncTemps(); err != nil {
			fail(storage(err))
			return nil, false
		}
	}
	a.cmu.Lock()
	for _, b := range install {
		a.inflight[b.sum] = b.tmp
	}
	a.cmu.Unlock()
	return install, true
}

// commitBatch commits the records of a synced batch and moves its new
// blobs into place. It sets each request's result.
func (a *Archive) commitBatch(batch []*request, install []*blob) {
	tmps := make([]string, len(install))
	for i, b := range install {
		tmps[i] = b.tmp
	}
	defer func() {
		a.cmu.Lock()
		for i, b := range install {
			if a.inflight[b.sum] == tmps[i] {
				delete(a.inflight, b.sum)
			}
		}
		a.cmu.Unlock()
	}()
	created, err := a.applyBatch(batch)
	if err != nil {
		// Whether the commit reached the disk is unknown until a later
		// commit succeeds: keep the temp files till then.
		a.cmu.Lock()
		for _, b := range install {
			a.stranded[b.sum] = b.tmp
			b.tmp = ""
		}
		a.cmu.Unlock()
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
		return
	}
	a.commits.Add(1)

	// Rename the blobs of the records this commit created into place,
	// replacing whatever a file there may be: only a commit vouches for a
	// blob. (A blob the previous batch added in the meantime is dropped.)
	// The renames are made durable by the next batch's sync, or rolled
	// forward by Open.
	for _, b := range install {
		tmp := b.tmp
		b.tmp = ""
		if !created[b.sum] {
			os.Remove(tmp)
			continue
		}
		if err := a.installBlob(b.sum, tmp); err != nil {
			a.strand(b.sum, tmp, err)
		}
	}
	// Temp files of earlier failed commits: their records exist only if
	// such a commit reached the disk after all.
	a.cmu.Lock()
	stranded := a.stranded
	a.stranded = map[[32]byte]string{}
	a.cmu.Unlock()
	for k, tmp := range stranded {
		if !a.has(k) {
			os.Remove(tmp)
			continue
		}
		if _, err := os.Stat(a.BlobPath(hex.EncodeToString(k[:]))); err == nil {
			os.Remove(tmp)
			continue
		}
		if err := a.installBlob(k, tmp); err != nil {
			a.strand(k, tmp, err)
		}
	}
}

func (a *Archive) strand(k [32]byte, tmp string, err error) {
	a.logger.Error("archive: move a committed blob into place; it stays in tmp/ until the next start", "sha256", hex.EncodeToString(k[:]), "err", err)
	a.cmu.Lock()
	a.stranded[k] = tmp
	a.cmu.Unlock()
}

// installBlob renames a synced temp file to its blob path.
func (a *Archive) installBlob(k [32]byte, tmp string) error {
	final := a.BlobPath(hex.EncodeToString(k[:]))
	err := os.Rename(tmp, final)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(tmp); serr == nil {
			// The fan-out directory is gone: make it again.
			if err = os.MkdirAll(filepath.Dir(final), 0o750); err == nil {
				err = os.Rename(tmp, final)
			}
		}
	}
	return err
}

// syncTemps makes the temp files of a commit durable before the commit:
// one syncfs of the archive's file system, or (the Puts having fsynced
// their files) an fsync of tmp/.
func (a *Archive) syncTemps() error {
	if a.syncMode == syncFS && a.fsFile != nil {
		if err := syncFilesystem(a.fsFile); err != nil {
			return fmt.Errorf("syncfs: %w", err)
		}
		return nil
	}
	if err := syncDir(filepath.Join(a.dir, "tmp")); err != nil {
		return fmt.Errorf("fsync tmp: %w", err)
	}
	return nil
}

// tempID returns the id of a blob temp file name (<id>.<suffix>).
func tempID(name string) (string, bool) {
	if len(name) < 66 || name[64] != '.' {
		return "", false
	}
	_, ok := parseID(name[:64])
	return name[:64], ok
}

// recoverTmp finishes what a crash interrupted: a temp file whose record
// was committed but whose rename was lost is checked and moved into place;
// everything else in tmp/ (blobs of commits that did not happen, spool
// files of fetches) is removed.
func (a *Archive) recoverTmp() error {
	tmpDir := filepath.Join(a.dir, "tmp")
	ents, err := os.ReadDir(tmpDir)
	if err != nil {
		return err
	}
	moved := map[string]bool{}
	for _, e := range ents {
		p := filepath.Join(tmpDir, e.Name())
		if id, ok := tempID(e.Name()); ok && !e.IsDir() {
			k, _ := parseID(id)
			if a.has(k) {
				if _, err := os.Stat(a.BlobPath(id)); errors.Is(err, os.ErrNotExist) && a.checkTemp(id, p) {
					if err := a.installBlob(k, p); err != nil {
						return fmt.Errorf("roll forward blob %s: %w", id, err)
					}
					moved[filepath.Dir(a.BlobPath(id))] = true
					a.logger.Info("archive: moved the blob of a committed message into place after a crash", "sha256", id)
					continue
				}
			}
		}
		if err := os.RemoveAll(p); err != nil {
			a.logger.Warn("remove leftover temp file", "file", e.Name(), "err", err)
		}
	}
	for d := range moved {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// checkTemp reports whether the temp file p holds the blob of id.
func (a *Archive) checkTemp(id, p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	rc, err := a.decodeBlob(f)
	if err != nil {
		f.Close()
		return false
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := copyBuf(h, rc); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == id
}

// applyBatch commits the records of a batch in one transaction. A request
// whose records cannot be written (not a storage failure) fails alone: the
// transaction is redone without it.
func (a *Archive) applyBatch(batch []*request) (created map[[32]byte]bool, err error) {
	failed := map[*request]bool{}
	defer a.afterRead()
	for {
		tx, err := a.db.Begin(true)
		if err != nil {
			return nil, fmt.Errorf("%w: begin: %w", ErrStorage, err)
		}
		ap := newApplier(tx)
		var bad *request
		for _, r := range batch {
			if failed[r] || r.err != nil {
				continue
			}
			if err := ap.apply(r); err != nil {
				bad, r.err = r, err
				break
			}
		}
		if bad != nil {
			tx.Rollback()
			failed[bad] = true
			continue
		}
		if err := ap.finish(); err != nil {
			tx.Rollback()
			return nil, err
		}
		if a.failCommit != nil {
			if err := a.failCommit(); err != nil {
				tx.Rollback()
				return nil, fmt.Errorf("%w: commit: %w", ErrStorage, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("%w: commit: %w", ErrStorage, err)
		}
		return ap.created, nil
	}
}

// applier writes the records of a batch in a write transaction.
type applier struct {
	msgs, msgid, content, checkpoints, stats *bolt.Bucket
	log                                      *logWriter
	now                                      time.Time
	counts                                   map[string]int64
	created                                  map[[32]byte]bool // records this transaction created
}

func newApplier(tx *bolt.Tx) *applier {
	return &applier{
		msgs:        tx.Bucket(bucketMessages),
		msgid:       tx.Bucket(bucketMsgID),
		content:     tx.Bucket(bucketContent),
		checkpoints: tx.Bucket(bucketCheckpoints),
		stats:       tx.Bucket(bucketStats),
		log:         newLogWriter(tx),
		now:         time.Now().UTC(),
		counts:      map[string]int64{},
		created:     map[[32]byte]bool{},
	}
}

func (ap *applier) finish() error {
	for name, n := range ap.counts {
		if err := incr(ap.stats, name, n); err != nil {
			return err
		}
	}
	return nil
}

// maxMsgIDKey bounds the Message-ID part of a msgid key (bbolt keys are at
// most 32 KiB).
const maxMsgIDKey = 1000

// workset holds the records one request changes, and how.
type workset struct {
	ap    *applier
	recs  map[[32]byte]*Record
	ops   map[*Record]string
	own   map[*Record]bool // records whose bytes the request's source delivered
	order []*Record
}

// opRank orders the operations: a record changed in several ways in one
// request gets one entry, of the highest rank.
// A shown message that is hidden and merged in the same request gets a
// hide entry (which carries the source too): the index must drop it.
var opRank = map[string]int{opLink: 1, opMerge: 2, opHide: 3, opAdd: 4}

func (w *workset) mark(rec *Record, op string) {
	cur, ok := w.ops[rec]
	if !ok {
		w.order = append(w.order, rec)
	}
	if opRank[op] > opRank[cur] {
		w.ops[rec] = op
	}
}

func (w *workset) get(k [32]byte) (*Record, error) {
	if rec, ok := w.recs[k]; ok {
		return rec, nil
	}
	rec, err := getRecord(w.ap.msgs, k)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		w.recs[k] = rec
	}
	return rec, nil
}

func (w *workset) getID(id string) (*Record, error) {
	k, ok := parseID(id)
	if !ok {
		return nil, fmt.Errorf("bad message id %q in a record", id)
	}
	rec, err := w.get(k)
	if err == nil && rec == nil {
		err = fmt.Errorf("message %s: %w (named by a link)", id, ErrNotFound)
	}
	return rec, err
}

// shownOf returns the shown message of rec: rec or its primary.
func (w *workset) shownOf(rec *Record) (*Record, error) {
	if rec.Primary == "" {
		return rec, nil
	}
	p, err := w.getID(rec.Primary)
	if err != nil {
		return nil, err
	}
	if p.Primary != "" {
		return nil, fmt.Errorf("message %s: its primary %s is itself linked to %s", rec.ID, p.ID, p.Primary)
	}
	return p, nil
}

func (w *workset) create(b *blob, r *request, decrypted bool) *Record {
	env := r.env
	src := r.src
	rec := &Record{
		ID:         b.id(),
		Size:       b.size,
		StoredSize: b.stored,
		Added:      w.ap.now,
		Status:     env.Status.String(),
		Reason:     env.Reason,
		Problems:   slices.Clone(r.ext.problems),
		Journal:    env.Journal,
		Sender:     env.Sender,
		OnBehalfOf: env.OnBehalfOf,
		MessageID:  messageID(env),
		ContentKey: r.ext.contentKey,
		Decrypted:  decrypted,
		Recipients: unionRecipients(nil, env.Recipients),
		Header:     env.Header,
		Sources:    []Source{src},
		Owners:     r.owners,
	}
	if decrypted && r.ext.decKey != "" {
		rec.ContentKey = r.ext.decKey
	}
	if r.decProblem != "" && !decrypted {
		rec.Problems = append(rec.Problems, r.decProblem)
	}
	w.recs[b.sum] = rec
	w.ap.created[b.sum] = true
	w.own[rec] = true
	w.mark(rec, opAdd)
	w.ap.counts["blobs"]++
	w.ap.counts["raw_bytes"] += b.size
	w.ap.counts["stored_bytes"] += b.stored
	if decrypted {
		w.ap.counts["decrypted"]++
	} else if env.Status == journal.StatusFailed {
		w.ap.counts["parse_failures"]++
	}
	return rec
}

// hasOwnSource reports whether rec already has src as a source of its own
// bytes: the same copy delivered again.
func hasOwnSource(rec *Record, src *Source) bool {
	for i := range rec.Sources {
		if rec.Sources[i].Copy == "" && rec.Sources[i].same(src) {
			return true
		}
	}
	return false
}

// addSource merges src (which delivered rec's own bytes) into rec.
func (w *workset) addSource(rec *Record, r *request) {
	rec.Sources = append(rec.Sources, r.src)
	rec.Recipients = unionRecipients(rec.Recipients, r.env.Recipients)
	rec.Owners = unionOwners(rec.Owners, r.owners)
	if rec.Status == journal.StatusFailed.String() && r.env.Status != journal.StatusFailed {
		rec.Status, rec.Reason = r.env.Status.String(), r.env.Reason
		rec.Header, rec.Sender, rec.OnBehalfOf = r.env.Header, r.env.Sender, r.env.OnBehalfOf
		if rec.MessageID == "" {
			rec.MessageID = messageID(r.env)
		}
	}
	w.own[rec] = true
	w.mark(rec, opMerge)
}

// messageID is the Message-ID the archive links copies by: the journal
// envelope's, else the original's own.
func messageID(env *journal.Envelope) string {
	if env.MessageID != "" {
		return env.MessageID
	}
	return env.Header.MessageID
}

func linkKind(rec, primary *Record) string {
	if primary.Decrypted && !rec.Decrypted {
		return LinkProtected
	}
	return LinkFork
}

// addShownSource adds a source to a shown message's union.
func addShownSource(p *Record, s Source) {
	if s.Copy != "" {
		s.Envelope = "" // kept in the copy's own record
	}
	for i := range p.Sources {
		if p.Sources[i].same(&s) {
			return // one line per source: a report with a decrypted copy delivered two
		}
	}
	p.Sources = append(p.Sources, s)
}

// attach links rec (a new record, or one whose group is merged away) to
// the shown message p.
func (w *workset) attach(rec, p *Record) {
	rec.Primary, rec.Link = p.ID, linkKind(rec, p)
	if !slices.Contains(p.Copies, rec.ID) {
		p.Copies = append(p.Copies, rec.ID)
	}
	p.Recipients = unionRecipients(p.Recipients, rec.Recipients)
	p.Owners = unionOwners(p.Owners, rec.Owners)
	for _, s := range rec.Sources {
		if s.Copy == "" {
			s.Copy = rec.ID
		}
		addShownSource(p, s)
	}
	w.mark(rec, opLink)
	w.mark(p, opLink)
}

// demote makes the shown message c and its copies linked copies of p.
func (w *workset) demote(c, p *Record) error {
	for _, id := range c.Copies {
		rec, err := w.getID(id)
		if err != nil {
			return err
		}
		if rec == p {
			return fmt.Errorf("message %s: a copy of %s would become its primary", p.ID, c.ID)
		}
		w.attach(rec, p)
	}
	c.Copies = nil
	w.attach(c, p)
	w.mark(c, opHide)
	w.ap.counts["linked"]++
	return nil
}

func (ap *applier) apply(r *request) error {
	w := &workset{ap: ap, recs: map[[32]byte]*Record{}, ops: map[*Record]string{}, own: map[*Record]bool{}}
	src := &r.src
	if r.checkpoint != 0 {
		if err := updateCheckpoint(ap.checkpoints, src.Account, src.Mailbox, src.UIDValidity, r.checkpoint); err != nil {
			return err
		}
	}
	if src.UIDL != "" {
		if err := ap.checkpoints.Put(uidlKey(src.Account, src.UIDL), []byte{}); err != nil {
			return err
		}
	}
	r.id, r.added = r.o.id(), false
	recO, err := w.get(r.o.sum)
	if err != nil {
		return err
	}
	if recO != nil && hasOwnSource(recO, src) {
		return nil // the same copy again: a refetch after a crash before the server delete
	}
	ap.counts["copies"]++
	if r.env.Journal {
		ap.counts["journal_reports"]++
	}

	// The stored copies of this message: the original, and the
	// decrypted copy of journal report decryption.
	createdO := recO == nil
	if createdO {
		recO = w.create(r.o, r, false)
	} else {
		w.addSource(recO, r)
		ap.counts["merged"]++
	}
	var recD *Record
	createdD := false
	if r.d != nil {
		if recD, err = w.get(r.d.sum); err != nil {
			return err
		}
		if recD == nil {
			recD, createdD = w.create(r.d, r, true), true
		} else if !hasOwnSource(recD, src) {
			w.addSource(recD, r)
		}
	}

	// The shown messages they belong with: by ContentKey, and those they
	// are already part of.
	var cands []*Record
	addCand := func(rec *Record) error {
		s, err := w.shownOf(rec)
		if err == nil && !slices.Contains(cands, s) {
			cands = append(cands, s)
		}
		return err
	}
	var ckeys [][]byte
	for _, ks := range []string{r.ext.contentKey, r.ext.decKey} {
		if k, ok := contentKey(ks); ok && (r.d != nil || ks == r.ext.contentKey) {
			ckeys = append(ckeys, k)
		}
	}
	for _, ck := range ckeys {
		if v := ap.content.Get(ck); len(v) == 32 {
			rec, err := w.get([32]byte(v))
			if err != nil {
				return err
			}
			if rec != nil {
				if err := addCand(rec); err != nil {
					return err
				}
			}
		}
	}
	if !createdO {
		if err := addCand(recO); err != nil {
			return err
		}
	}
	if recD != nil && !createdD {
		if err := addCand(recD); err != nil {
			return err
		}
	}

	// One primary: the first stored, except that a decrypted copy is
	// preferred, since its text is what can be searched.
	var primary *Record
	for _, c := range cands {
		if recD != nil && !c.Decrypted {
			continue
		}
		if primary == nil || c.Added.Before(primary.Added) {
			primary = c
		}
	}
	switch {
	case primary != nil:
	case recD != nil:
		primary = recD
	default:
		primary = recO
	}
	if primary.Primary != "" {
		return fmt.Errorf("message %s: would be shown but is a copy of %s", primary.ID, primary.Primary)
	}
	for _, c := range cands {
		if c != primary {
			if err := w.demote(c, primary); err != nil {
				return err
			}
		}
	}
	for _, rec := range []*Record{recO, recD} {
		if rec == nil || rec == primary {
			continue
		}
		if rec.Primary != primary.ID {
			w.attach(rec, primary)
			ap.counts["linked"]++
			continue
		}
		// Already a copy of primary: it gained a source.
		addShownSource(primary, Source{Account: src.Account, Mailbox: src.Mailbox, UIDValidity: src.UIDValidity, UID: src.UID, Path: src.Path, Fetched: src.Fetched, Status: src.Status, Copy: rec.ID})
		primary.Recipients = unionRecipients(primary.Recipients, r.env.Recipients)
		primary.Owners = unionOwners(primary.Owners, r.owners)
		w.mark(primary, opLink)
	}
	for _, ck := range ckeys {
		if v := ap.content.Get(ck); !bytes.Equal(v, primaryKey(primary)) {
			if err := ap.content.Put(ck, primaryKey(primary)); err != nil {
				return err
			}
		}
	}
	if createdO && recO.MessageID != "" {
		if err := ap.indexMsgID(recO); err != nil {
			return err
		}
	}
	if createdD && recD.MessageID != "" {
		if err := ap.indexMsgID(recD); err != nil {
			return err
		}
	}
	r.added = len(cands) == 0
	return w.flush(src)
}

func primaryKey(p *Record) []byte {
	k, _ := parseID(p.ID)
	return k[:]
}

func (ap *applier) indexMsgID(rec *Record) error {
	mid := strings.TrimSpace(rec.MessageID)
	if mid == "" {
		return nil
	}
	if len(mid) > maxMsgIDKey {
		mid = mid[:maxMsgIDKey]
	}
	k, _ := parseID(rec.ID)
	key := make([]byte, 0, len(mid)+1+32)
	key = append(append(append(key, mid...), 0), k[:]...)
	return ap.msgid.Put(key, nil)
}

// contentKey decodes a ContentKey (hex SHA-256).
func contentKey(s string) ([]byte, bool) {
	if len(s) != 64 {
		return nil, false
	}
	k, err := hex.DecodeString(s)
	return k, err == nil
}

// flush writes the changed records and one log entry for each.
func (w *workset) flush(src *Source) error {
	for _, rec := range w.order {
		op := w.ops[rec]
		k, ok := parseID(rec.ID)
		if !ok {
			return fmt.Errorf("bad record id %q", rec.ID)
		}
		rec.Seq = w.ap.log.next()
		id := rec.ID
		rec.ID = ""
		v, d, err := marshalRecord(rec)
		rec.ID = id
		if err != nil {
			return err
		}
		if err := w.ap.msgs.Put(k[:], v); err != nil {
			return err
		}
		e := &entry{Time: w.ap.now, Op: op, ID: id, Shown: rec.Primary, Record: hex.EncodeToString(d[:]), Owners: rec.Owners}
		if op == opAdd {
			e.Size, e.Stored = rec.Size, rec.StoredSize
		}
		if w.own[rec] {
			s := *src
			s.Envelope, s.Copy = "", ""
			e.Source = &s
		}
		if err := w.ap.log.append(e); err != nil {
			return err
		}
	}
	return nil
}
