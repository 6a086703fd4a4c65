package archive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// deleteFixture stores n plain messages, one forked pair (a shown message
// with a linked copy) and returns the ids of the plain ones and the fork's.
func deleteFixture(t *testing.T, a *Archive, n int) (plain []string, primary, copy string) {
	t.Helper()
	for i := range n {
		msg := strings.Replace(original, "hello", fmt.Sprintf("message %d", i), 1)
		msg = strings.Replace(msg, "<1@contoso.com>", fmt.Sprintf("<%d@contoso.com>", i+100), 1)
		id, _ := put(t, a, incoming([]byte(msg), Source{Account: "j", UID: uint32(i + 1)}))
		plain = append(plain, id)
	}
	fork1 := report("Received: from a.contoso.com\r\n"+original, "Sender: anna@contoso.com\r\nTo: ben@contoso.com\r\n")
	fork2 := report("Received: from b.contoso.com\r\n"+original, "Sender: anna@contoso.com\r\nBcc: carl@fabrikam.com\r\n")
	primary, _ = put(t, a, withExt(incoming(fork1, Source{Account: "j", UID: 1000}), contentKeyA, nil))
	copy, _ = put(t, a, withExt(incoming(fork2, Source{Account: "j", UID: 1001}), contentKeyA, nil))
	if get(t, a, copy).Primary != primary {
		t.Fatalf("fixture: %s is not a linked copy of %s", copy[:12], primary[:12])
	}
	return plain, primary, copy
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// TestDelete deletes a plain message and a shown message with its linked
// copy: the records, blobs, Message-ID and content links and counters go,
// the log holds a tombstone per stored copy, the index is told, Verify is
// clean and counts the tombstones, and the same bytes can be stored again.
func TestDelete(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	plain, primary, copy := deleteFixture(t, a, 3)
	before := stats(t, a)
	beforeRaw := get(t, a, plain[0]).Size + get(t, a, primary).Size + get(t, a, copy).Size
	primarySeq := get(t, a, primary).Seq

	res, err := a.Delete(ctx, []DeleteItem{{ID: plain[0], Policy: "default"}, {ID: primary, Seq: primarySeq, Policy: "short"}})
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if res.Messages != 2 || res.Copies != 3 || res.Bytes != beforeRaw || len(res.Skipped) != 0 {
		t.Errorf("Delete = %+v; want 2 messages, 3 copies, %d bytes", res, beforeRaw)
	}
	for _, id := range []string{plain[0], primary, copy} {
		if _, err := a.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) after Delete: %v; want ErrNotFound", id[:12], err)
		}
		if exists(a.BlobPath(id)) {
			t.Errorf("blob of %s still there", id[:12])
		}
	}
	for _, id := range plain[1:] {
		get(t, a, id)
	}
	if ids, _ := a.ByMessageID("<1@contoso.com>"); len(ids) != 0 {
		t.Errorf("ByMessageID of the deleted fork = %v; want none", ids)
	}
	if ids, _ := a.ByMessageID("<100@contoso.com>"); len(ids) != 0 {
		t.Errorf("ByMessageID of the deleted message = %v; want none", ids)
	}
	if ids, _ := a.ByMessageID("<101@contoso.com>"); !slices.Equal(ids, []string{plain[1]}) {
		t.Errorf("ByMessageID of a kept message = %v; want %s", ids, plain[1][:12])
	}
	a.db.View(func(tx *bolt.Tx) error {
		k, _ := contentKey(contentKeyA)
		if v := tx.Bucket(bucketContent).Get(k); v != nil {
			t.Errorf("content key of the deleted fork still names %x", v)
		}
		return nil
	})
	after := stats(t, a)
	if after.Messages != before.Messages-2 || after.Blobs != before.Blobs-3 || after.Linked != before.Linked-1 ||
		after.RawBytes != before.RawBytes-uint64(beforeRaw) || after.Deleted != 3 {
		t.Errorf("stats after %+v; before %+v", after, before)
	}
	ts, err := a.Tombstones()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tb := range ts {
		got = append(got, tb.ID[:8]+"/"+tb.Policy)
		if tb.Size <= 0 || tb.Stored <= 0 || tb.Time.IsZero() || tb.Seq == 0 {
			t.Errorf("tombstone %+v lacks size, time or seq", tb)
		}
	}
	want := []string{plain[0][:8] + "/default", copy[:8] + "/short", primary[:8] + "/short"}
	if !slices.Equal(got, want) {
		t.Errorf("tombstones %v; want %v", got, want)
	}
	// The index: the deleted shown messages are removed, nothing indexed.
	index, remove := shownChanges(t, a, before.LastSeq)
	slices.Sort(remove)
	wantRemove := []string{plain[0], primary}
	slices.Sort(wantRemove)
	if len(index) != 0 || !slices.Equal(remove, wantRemove) {
		t.Errorf("Changes after the delete: index %v, remove %v; want remove %v", index, remove, wantRemove)
	}
	// From the start of the log too: the deleted messages are never indexed.
	index, _ = shownChanges(t, a, 0)
	if slices.Contains(index, plain[0]) || slices.Contains(index, primary) {
		t.Errorf("Changes from 0 indexes a deleted message: %v", index)
	}
	rep, err := a.Verify(ctx, VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || rep.Tombstones != 3 || rep.PendingRemoval != 0 {
		t.Errorf("Verify: problems %v, %d tombstones, %d pending; want clean, 3, 0", rep.Problems, rep.Tombstones, rep.PendingRemoval)
	}

	// The same bytes again: stored again, a new shown message.
	msg := strings.Replace(strings.Replace(original, "hello", "message 0", 1), "<1@contoso.com>", "<100@contoso.com>", 1)
	id, added := put(t, a, incoming([]byte(msg), Source{Account: "j", UID: 1}))
	if id != plain[0] || !added {
		t.Errorf("Put of deleted bytes = %s, added %v; want %s added", id[:12], added, plain[0][:12])
	}
	if string(readAll(t, a, id)) != msg {
		t.Errorf("re-archived message reads back wrong")
	}
	index, _ = shownChanges(t, a, before.LastSeq)
	if !slices.Equal(index, []string{plain[0]}) {
		t.Errorf("Changes after re-archiving: index %v; want %s", index, plain[0][:12])
	}
	checkClean(t, a)

	// Deleting what is gone, or changed since planned, skips it.
	res, err = a.Delete(ctx, []DeleteItem{{ID: primary}, {ID: plain[1], Seq: 1}})
	if err != nil || res.Messages != 0 || len(res.Skipped) != 2 {
		t.Errorf("Delete of gone and changed = %+v, %v; want 2 skipped", res, err)
	}
	get(t, a, plain[1])
}

func TestDeleteErrors(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	_, primary, copy := deleteFixture(t, a, 1)
	if _, err := a.Delete(ctx, []DeleteItem{{ID: copy}}); err == nil || !strings.Contains(err.Error(), "linked copy") {
		t.Errorf("Delete of a linked copy: %v; want an error", err)
	}
	if _, err := a.Delete(ctx, []DeleteItem{{ID: "abc"}}); err == nil {
		t.Errorf("Delete of a bad id: no error")
	}
	get(t, a, primary) // a failed Delete changes nothing
	get(t, a, copy)
	checkClean(t, a)
}

// TestDeleteDuringPuts deletes while other goroutines store: a Put of
// bytes being deleted either lands before (and is deleted) or fails with
// "try again" and stores them again; Verify is clean after.
func TestDeleteDuringPuts(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	plain, _, _ := deleteFixture(t, a, 20)
	done := make(chan error)
	go func() {
		for i := range 200 {
			msg := strings.Replace(original, "hello", fmt.Sprintf("message %d", i%20), 1)
			msg = strings.Replace(msg, "<1@contoso.com>", fmt.Sprintf("<%d@contoso.com>", i%20+100), 1)
			_, _, err := a.Put(ctx, incoming([]byte(msg), Source{Account: "k", UID: uint32(i + 1)}))
			if err != nil && !errors.Is(err, errRetry) {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 20; i += 2 {
		if _, err := a.Delete(ctx, []DeleteItem{{ID: plain[i]}, {ID: plain[i+1]}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkClean(t, a)
}

func TestHolds(t *testing.T) {
	a := TestArchive(t)
	h, err := a.AddHold(Hold{Name: "case-17", Query: "from:anna", Reason: "litigation 17"})
	if err != nil || h.Seq == 0 || h.Added.IsZero() {
		t.Fatalf("AddHold = %+v, %v", h, err)
	}
	if _, err := a.AddHold(Hold{Name: "case-17", Query: "x"}); !errors.Is(err, ErrHoldExists) {
		t.Errorf("AddHold of a name in use: %v; want ErrHoldExists", err)
	}
	if _, err := a.AddHold(Hold{Name: "audit", Query: "subject:audit"}); err != nil {
		t.Fatal(err)
	}
	hs, err := a.Holds()
	if err != nil || len(hs) != 2 || hs[0].Name != "audit" || hs[1].Query != "from:anna" || hs[1].Reason != "litigation 17" {
		t.Errorf("Holds = %+v, %v", hs, err)
	}
	if err := a.ReleaseHold("nope", ""); !errors.Is(err, ErrNoHold) {
		t.Errorf("ReleaseHold of no hold: %v; want ErrNoHold", err)
	}
	if err := a.ReleaseHold("case-17", "settled"); err != nil {
		t.Fatal(err)
	}
	if hs, _ := a.Holds(); len(hs) != 1 || hs[0].Name != "audit" {
		t.Errorf("Holds after release = %+v; want audit only", hs)
	}
	evs, err := a.Events("hold")
	if err != nil || len(evs) != 3 {
		t.Fatalf("hold events = %d, %v; want 3", len(evs), err)
	}
	for i, want := range []string{`"action":"add","name":"case-17"`, `"action":"add","name":"audit"`, `"action":"release","name":"case-17","query":"from:anna","reason":"settled"`} {
		if !strings.Contains(string(evs[i].Data), want) {
			t.Errorf("event %d = %s; want %s", i, evs[i].Data, want)
		}
	}
	checkClean(t, a)
}

// TestDeleteCrash kills a process that deletes, at the crash points of
// Delete (after the commit; after the blob removals) and at random
// moments, and checks after each that reopening finishes the deletion:
// every message is either whole or gone with its blob and a tombstone,
// and Verify is clean.
func TestDeleteCrash(t *testing.T) {
	if os.Getenv("JARCHIVE_DELETE_HELPER") != "" {
		t.Skip("in the helper process")
	}
	points := []string{"committed", "removed", "random", "random", "random", "random"}
	for i, point := range points {
		t.Run(fmt.Sprintf("%d-%s", i, point), func(t *testing.T) {
			dir := t.TempDir()
			a := TestOpen(t, dir, Options{})
			var ids []string
			for j := range 300 {
				msg := strings.Replace(original, "hello", strings.Repeat(fmt.Sprintf("line %d\r\n", j), 1+j%40), 1)
				id, _ := put(t, a, incoming([]byte(msg), Source{Account: "j", UID: uint32(j + 1)}))
				ids = append(ids, id)
			}
			a.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestDeleteCrashHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "JARCHIVE_DELETE_HELPER="+dir, "JARCHIVE_DELETE_POINT="+point)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]bool{}
			sc := bufio.NewScanner(out)
			ready := false
			deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
			defer deadline.Stop()
			for sc.Scan() {
				line := sc.Text()
				if line == "ready" && point == "random" && !ready {
					ready = true
					go func() {
						time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
						cmd.Process.Kill()
					}()
				}
				if id, ok := strings.CutPrefix(line, "deleted "); ok {
					acked[id] = true
				}
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("helper: %v; want killed\n%s", err, stderr.String())
			}

			if point == "committed" {
				// Before a read-write Open finishes the removals, Verify
				// accepts the blobs of the deleted messages.
				ro := TestOpen(t, dir, Options{ReadOnly: true})
				rep, err := ro.Verify(context.Background(), VerifyOptions{})
				if err != nil || !rep.Clean() || rep.PendingRemoval != 10 || rep.Tombstones != 10 {
					t.Errorf("Verify before reopening: %v, problems %v, %d pending, %d tombstones; want clean, 10, 10", err, rep.Problems, rep.PendingRemoval, rep.Tombstones)
				}
				ro.Close()
			}
			a = TestOpen(t, dir, Options{})
			gone := 0
			for _, id := range ids {
				_, err := a.Get(id)
				switch {
				case err == nil:
					if acked[id] {
						t.Errorf("%s: Delete returned, but the record is there", id[:12])
					}
					if !exists(a.BlobPath(id)) {
						t.Errorf("%s: kept, but its blob is gone", id[:12])
					}
				case errors.Is(err, ErrNotFound):
					gone++
					if exists(a.BlobPath(id)) {
						t.Errorf("%s: deleted, but its blob is still there after Open", id[:12])
					}
				default:
					t.Fatal(err)
				}
			}
			if point != "random" && gone == 0 {
				t.Errorf("crash at %s: nothing deleted; want the first batch", point)
			}
			ts, _ := a.Tombstones()
			if len(ts) != gone {
				t.Errorf("%d tombstones; %d messages gone", len(ts), gone)
			}
			if s := stats(t, a); s.Blobs != uint64(len(ids)-gone) || s.Deleted != uint64(gone) {
				t.Errorf("stats %+v; want %d blobs, %d deleted", s, len(ids)-gone, gone)
			}
			checkClean(t, a)
			// The next run completes the work.
			var rest []DeleteItem
			for _, id := range ids[:150] {
				rest = append(rest, DeleteItem{ID: id, Policy: "p"})
			}
			if _, err := a.Delete(context.Background(), rest); err != nil {
				t.Fatal(err)
			}
			rep, err := a.Verify(context.Background(), VerifyOptions{})
			if err != nil || !rep.Clean() || rep.Tombstones != 150 {
				t.Errorf("Verify after the next run: %v, %+v; want clean with 150 tombstones", err, rep)
			}
			t.Logf("crash at %s: %d of %d deleted before the kill", point, gone, len(ids))
		})
	}
}

// TestDeleteCrashHelper is the process TestDeleteCrash kills: it deletes
// the first 150 messages of the archive in batches of 10, printing
// "deleted ID" for each Delete that returned, and kills itself at the
// crash point JARCHIVE_DELETE_POINT ("random": its parent kills it).
func TestDeleteCrashHelper(t *testing.T) {
	dir := os.Getenv("JARCHIVE_DELETE_HELPER")
	if dir == "" {
		t.Skip("helper process of TestDeleteCrash")
	}
	point := os.Getenv("JARCHIVE_DELETE_POINT")
	deleteHook = func(p string) {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
	a, err := Open(dir, Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	a.Each(context.Background(), func(rec *Record) error {
		ids = append(ids, rec.ID)
		return nil
	})
	// The same order as the parent's: by the archive's UID.
	slices.SortFunc(ids, func(x, y string) int {
		rx, _ := a.Get(x)
		ry, _ := a.Get(y)
		return int(rx.Sources[0].UID) - int(ry.Sources[0].UID)
	})
	w := bufio.NewWriter(os.Stdout)
	w.WriteString("ready\n")
	w.Flush()
	for round := 0; ; round++ {
		for i := 0; i < 150; i += 10 {
			var items []DeleteItem
			for _, id := range ids[i : i+10] {
				items = append(items, DeleteItem{ID: id, Policy: "p"})
			}
			if _, err := a.Delete(context.Background(), items); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				w.WriteString("deleted " + it.ID + "\n")
			}
			w.Flush()
		}
		if round == 0 {
			// Nothing left to delete: wait to be killed.
			fmt.Fprintln(os.Stderr, "all deleted: "+strconv.Itoa(len(ids)))
			time.Sleep(time.Minute)
		}
	}
}

// TestVerifyDuringDelete: Verify running beside Deletes reports nothing.
func TestVerifyDuringDelete(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	plain, _, _ := deleteFixture(t, a, 200)
	done := make(chan error)
	go func() {
		for i := 0; i < len(plain); i += 5 {
			var items []DeleteItem
			for _, id := range plain[i : i+5] {
				items = append(items, DeleteItem{ID: id})
			}
			if _, err := a.Delete(ctx, items); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 5 {
		rep, err := a.Verify(ctx, VerifyOptions{ReadData: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Problems {
			t.Errorf("Verify during Delete: %v", &p)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkClean(t, a)
}
