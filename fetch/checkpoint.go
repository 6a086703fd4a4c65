package fetch

import "sync"

// uidProgress tracks how far an IMAP pass got without a gap: the highest UID
// at or below which every UID of the pass's list is done. A UID is done when
// Sink.Archive returned nil for it, or when the pass passed over it for good
// (too large, vanished). A UID whose archiving failed is never done in the
// pass, so the checkpoint (Checkpoints) stays below it even when later UIDs
// of the window were archived, and the next pass fetches it again.
//
// The list is in ascending UID order and message i of the list is looked
// up by its index, so marking is O(1) and advancing amortised O(1).
type uidProgress struct {
	mu    sync.Mutex
	base  uint32 // the checkpoint the pass started from (from - 1)
	uids  []uint32
	done  []bool
	first int // index of the first UID not done
}

func newUIDProgress(base uint32, list []uidSize) *uidProgress {
	u := &uidProgress{base: base, uids: make([]uint32, len(list)), done: make([]bool, len(list))}
	for i, m := range list {
		u.uids[i] = uint32(m.uid)
	}
	return u
}

// markDone records that message i of the list is done.
func (u *uidProgress) markDone(i int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.done[i] = true
	u.first = u.undoneFrom(u.first)
}

// undoneFrom returns the index of the first message not done at or after
// i (len of the list when there is none).
func (u *uidProgress) undoneFrom(i int) int {
	for i < len(u.done) && u.done[i] {
		i++
	}
	return i
}

// upTo returns the highest UID at or below which everything is done (base
// when nothing is).
func (u *uidProgress) upTo() uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.upToLocked(u.first)
}

// upToWith returns what upTo will return once message i is done, if no
// other message is done meanwhile: the checkpoint the transaction that
// archives message i may write.
func (u *uidProgress) upToWith(i int) uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	first := u.first
	if first == i {
		first = u.undoneFrom(i + 1)
	}
	return u.upToLocked(first)
}

func (u *uidProgress) upToLocked(first int) uint32 {
	if first == 0 {
		return u.base
	}
	return u.uids[first-1]
}
