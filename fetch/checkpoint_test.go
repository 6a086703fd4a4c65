package fetch

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestUIDProgress(t *testing.T) {
	list := []uidSize{{uid: 11}, {uid: 12}, {uid: 15}, {uid: 20}}
	u := newUIDProgress(10, list)
	for _, step := range []struct {
		done    int // index marked done, -1 for none
		with    int // index asked about with upToWith
		upTo    uint32
		upToWit uint32
	}{
		{-1, 0, 10, 11},
		{1, 0, 10, 12},  // 12 done before 11: nothing yet, 11 would reach 12
		{-1, 2, 10, 10}, // 15 does not help while 11 is not done
		{0, 2, 12, 15},  // 11 done: 11 and 12
		{3, 2, 12, 20},  // 20 done; 15 would reach it
		{2, 2, 20, 20},  // all done
	} {
		if step.done >= 0 {
			u.markDone(step.done)
		}
		if got := u.upTo(); got != step.upTo {
			t.Errorf("after marking %d: upTo = %d; want %d", step.done, got, step.upTo)
		}
		if got := u.upToWith(step.with); got != step.upToWit {
			t.Errorf("after marking %d: upToWith(%d) = %d; want %d", step.done, step.with, got, step.upToWit)
		}
	}

	// A failed UID is never marked: nothing after it counts.
	u = newUIDProgress(0, []uidSize{{uid: imap.UID(1)}, {uid: 2}, {uid: 3}})
	u.markDone(0)
	u.markDone(2)
	if got := u.upTo(); got != 1 {
		t.Errorf("upTo with UID 2 failed = %d; want 1", got)
	}
}
