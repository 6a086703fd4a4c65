package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"jarchive/config"
	"jarchive/journal"
	"jarchive/testcorpus"
)

// withExt sets what the envelope parser says about content keys and a
// decrypted copy, whatever the journal package read.
func withExt(in *Incoming, key string, decrypted []byte) *Incoming {
	x := extOf(in.Envelope)
	x.contentKey, x.decKey = key, ""
	x.decrypted = nil
	if decrypted != nil {
		x.decrypted = func(io.ReaderAt) io.Reader { return bytes.NewReader(decrypted) }
	}
	in.ext = &x
	return in
}

func put(t *testing.T, a *Archive, in *Incoming) (string, bool) {
	t.Helper()
	id, added, err := a.Put(context.Background(), in)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id, added
}

func get(t *testing.T, a *Archive, id string) *Record {
	t.Helper()
	rec, err := a.Get(id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id[:12], err)
	}
	return rec
}

func rcptList(rs []journal.Recipient) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Field+":"+r.Addr)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func stats(t *testing.T, a *Archive) Stats {
	t.Helper()
	s, err := a.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// shownChanges returns the ids Changes gives to index, and those to remove.
func shownChanges(t *testing.T, a *Archive, after uint64) (index, remove []string) {
	t.Helper()
	chs, err := a.Changes(after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chs {
		if c.Record != nil {
			if !c.Record.Shown() {
				t.Errorf("Changes gives linked copy %s to index", c.Record.ID[:12])
			}
			index = append(index, c.Record.ID)
		}
		remove = append(remove, c.Remove...)
	}
	return index, remove
}

func TestMessageIDLinks(t *testing.T) {
	a := TestArchive(t)
	one := strings.Replace(original, "hello", "hello once", 1)
	two := strings.Replace(original, "hello", "hello twice", 1)
	id1, added1 := put(t, a, withExt(incoming([]byte(one), Source{Account: "a", UID: 1}), "", nil))
	id2, added2 := put(t, a, withExt(incoming([]byte(two), Source{Account: "a", UID: 2}), "", nil))
	if !added1 || !added2 || id1 == id2 {
		t.Fatalf("Put = %s %v, %s %v; want two new messages", id1[:8], added1, id2[:8], added2)
	}
	ids, err := a.ByMessageID("<1@contoso.com>")
	slices.Sort(ids)
	want := []string{id1, id2}
	slices.Sort(want)
	if err != nil || !slices.Equal(ids, want) {
		t.Errorf("ByMessageID = %v, %v; want %v", ids, err, want)
	}
	if s := stats(t, a); s.Messages != 2 || s.Blobs != 2 || s.Linked != 0 {
		t.Errorf("stats %+v; want 2 shown messages, 2 blobs", s)
	}
	checkClean(t, a)
}

const contentKeyA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// TestForkedCopies: forked journal reports whose originals differ only in
// transport headers are two blobs shown as one message with the union of
// the envelopes, in either order.
func TestForkedCopies(t *testing.T) {
	fork1 := report("Received: from a.contoso.com\r\n"+original, "Sender: anna@contoso.com\r\nTo: ben@contoso.com\r\n")
	fork2 := report("Received: from b.contoso.com\r\n"+original, "Sender: anna@contoso.com\r\nTo: ben@CONTOSO.com\r\nBcc: carl@fabrikam.com\r\n")
	for _, order := range []string{"1-2", "2-1"} {
		t.Run(order, func(t *testing.T) {
			a := TestArchive(t)
			first, second := fork1, fork2
			if order == "2-1" {
				first, second = fork2, fork1
			}
			id1, added1 := put(t, a, withExt(incoming(first, Source{Account: "j", UID: 1}), contentKeyA, nil))
			id2, added2 := put(t, a, withExt(incoming(second, Source{Account: "j", UID: 2}), contentKeyA, nil))
			if !added1 || added2 || id1 == id2 {
				t.Fatalf("Put = %v, %v; want the first new, the second linked", added1, added2)
			}
			p, c := get(t, a, id1), get(t, a, id2)
			if !p.Shown() || !slices.Equal(p.Copies, []string{id2}) {
				t.Errorf("primary: primary %q copies %v; want shown with copy %s", p.Primary, p.Copies, id2[:12])
			}
			if c.Primary != id1 || c.Link != LinkFork {
				t.Errorf("copy: primary %q link %q; want %s, fork", c.Primary, c.Link, id1[:12])
			}
			// ben@contoso.com and ben@CONTOSO.com are one recipient.
			if got := rcptList(p.Recipients); got != "bcc:carl@fabrikam.com to:ben@contoso.com" && got != "bcc:carl@fabrikam.com to:ben@CONTOSO.com" {
				t.Errorf("primary recipients %q; want the union of both envelopes", got)
			}
			if len(p.Sources) != 2 || p.Sources[1].Copy != id2 || p.Sources[1].UID != 2 {
				t.Errorf("primary sources %+v; want both, the second delivering the copy", p.Sources)
			}
			if len(c.Sources) != 1 || c.Sources[0].Envelope == "" {
				t.Errorf("copy sources %+v; want its own, with the envelope text", c.Sources)
			}
			if s := stats(t, a); s.Messages != 1 || s.Blobs != 2 || s.Linked != 1 || s.Copies != 2 || s.Merged != 0 {
				t.Errorf("stats %+v; want 1 shown message, 2 blobs, 1 linked", s)
			}
			index, remove := shownChanges(t, a, 0)
			if !slices.Equal(index, []string{id1}) || len(remove) != 0 {
				t.Errorf("Changes: index %v, remove %v; want only the primary", index, remove)
			}
			if b := readAll(t, a, id2); !strings.HasPrefix(string(b), "Received: from") {
				t.Errorf("copy reads %q", b)
			}
			checkClean(t, a)
		})
	}
}

// TestDecryptionPair: a journal report with report decryption stores the
// protected original and the decrypted copy, linked; the decrypted copy is
// shown.
func TestDecryptionPair(t *testing.T) {
	a := TestArchive(t)
	protected := strings.Replace(original, "hello", "This message is protected.", 1)
	decrypted := strings.Replace(original, "hello", "The salary review is on Monday.", 1)
	rep := report(protected, "Sender: anna@contoso.com\r\nTo: ben@contoso.com\r\n")
	id, added := put(t, a, withExt(incoming(rep, Source{Account: "j", UID: 1}), contentKeyA, []byte(decrypted)))
	if id != hexSum([]byte(protected)) || !added {
		t.Fatalf("Put = %s, %v; want the protected original's id, new", id[:12], added)
	}
	did := hexSum([]byte(decrypted))
	d, o := get(t, a, did), get(t, a, id)
	if !d.Shown() || !d.Decrypted || !slices.Equal(d.Copies, []string{id}) {
		t.Errorf("decrypted copy: primary %q decrypted %v copies %v; want shown", d.Primary, d.Decrypted, d.Copies)
	}
	if o.Primary != did || o.Link != LinkProtected {
		t.Errorf("protected original: primary %q link %q; want the decrypted copy, protected", o.Primary, o.Link)
	}
	if rcptList(d.Recipients) != "to:ben@contoso.com" || len(d.Sources) != 1 {
		t.Errorf("decrypted copy: recipients %v sources %+v", d.Recipients, d.Sources)
	}
	if got := readAll(t, a, did); string(got) != decrypted {
		t.Errorf("decrypted copy reads %q", got)
	}
	if s := stats(t, a); s.Messages != 1 || s.Blobs != 2 || s.Linked != 1 || s.Decrypted != 1 {
		t.Errorf("stats %+v; want 1 shown, 2 blobs, 1 linked, 1 decrypted", s)
	}
	index, _ := shownChanges(t, a, 0)
	if !slices.Equal(index, []string{did}) {
		t.Errorf("Changes index %v; want the decrypted copy only", index)
	}

	// The same report from another account merges into both.
	rep2 := report(protected, "Sender: anna@contoso.com\r\nCc: dora@contoso.com\r\n")
	if _, added := put(t, a, withExt(incoming(rep2, Source{Account: "k", UID: 5}), contentKeyA, []byte(decrypted))); added {
		t.Errorf("second report: added; want merged")
	}
	d = get(t, a, did)
	if rcptList(d.Recipients) != "cc:dora@contoso.com to:ben@contoso.com" || len(d.Sources) != 2 {
		t.Errorf("after the second report: recipients %v, %d sources", d.Recipients, len(d.Sources))
	}
	checkClean(t, a)
}

// TestDecryptionArrivesLater: a fork without the decrypted copy was shown
// first; when a fork with it arrives, the decrypted copy becomes the shown
// message and the index is told to drop the old one.
func TestDecryptionArrivesLater(t *testing.T) {
	a := TestArchive(t)
	p1 := "Received: from a\r\n" + original
	p2 := "Received: from b\r\n" + original
	dec := strings.Replace(original, "hello", "decrypted hello", 1)
	id1, _ := put(t, a, withExt(incoming(report(p1, "To: ben@contoso.com\r\n"), Source{Account: "j", UID: 1}), contentKeyA, nil))
	mark := stats(t, a).LastSeq
	id2, added := put(t, a, withExt(incoming(report(p2, "To: carl@contoso.com\r\n"), Source{Account: "j", UID: 2}), contentKeyA, []byte(dec)))
	if added {
		t.Errorf("second fork: added; want linked")
	}
	did := hexSum([]byte(dec))
	d := get(t, a, did)
	if !d.Shown() || rcptList(d.Recipients) != "to:ben@contoso.com to:carl@contoso.com" {
		t.Errorf("decrypted copy: primary %q recipients %v; want shown with the union", d.Primary, d.Recipients)
	}
	for _, id := range []string{id1, id2} {
		if r := get(t, a, id); r.Primary != did || r.Link != LinkProtected {
			t.Errorf("%s: primary %q link %q; want the decrypted copy, protected", id[:12], r.Primary, r.Link)
		}
	}
	index, remove := shownChanges(t, a, mark)
	if !slices.Equal(index, []string{did}) || !slices.Equal(remove, []string{id1}) {
		t.Errorf("Changes after the first: index %v remove %v; want %s and %s", index, remove, did[:12], id1[:12])
	}
	if s := stats(t, a); s.Messages != 1 || s.Blobs != 3 || s.Linked != 2 {
		t.Errorf("stats %+v; want 1 shown, 3 blobs, 2 linked", s)
	}
	checkClean(t, a)
}

// TestJournalCorpusLinks runs the split and decryption reports of the
// shared corpus through the real envelope parser.
func TestJournalCorpusLinks(t *testing.T) {
	dir := testcorpus.Dir(t, "journal")
	read := func(name string) (*Incoming, envExt) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		in := incoming(b, Source{Account: "j", Path: name})
		return in, extOf(in.Envelope)
	}
	t.Run("split", func(t *testing.T) {
		in1, x1 := read("jr-split-1of2.eml")
		in2, _ := read("jr-split-2of2.eml")
		if x1.contentKey == "" {
			t.Skip("the journal package does not give content keys yet")
		}
		a := TestArchive(t)
		id1, _ := put(t, a, in1)
		id2, _ := put(t, a, in2)
		p := get(t, a, id1)
		if id1 != id2 {
			if pid := get(t, a, id2).Primary; pid != id1 {
				t.Errorf("second fork: primary %q; want %s", pid, id1[:12])
			}
		}
		want := journal.MergeRecipients(in1.Envelope.Recipients, in2.Envelope.Recipients)
		if got := rcptList(p.Recipients); got != rcptList(want) {
			t.Errorf("recipients %s; want %s", got, rcptList(want))
		}
		if s := stats(t, a); s.Messages != 1 {
			t.Errorf("%d shown messages; want 1", s.Messages)
		}
		checkClean(t, a)
	})
	t.Run("decrypted", func(t *testing.T) {
		in, x := read("jr-irm-decrypted-copy.eml")
		if x.decrypted == nil || x.decrypted(in.Body) == nil {
			t.Skip("the journal package does not give the decrypted copy yet")
		}
		a := TestArchive(t)
		id, _ := put(t, a, in)
		o := get(t, a, id)
		if o.Link != LinkProtected || o.Primary == "" {
			t.Fatalf("protected original: primary %q link %q", o.Primary, o.Link)
		}
		d := get(t, a, o.Primary)
		if !d.Decrypted || !strings.Contains(string(readAll(t, a, d.ID)), "Salary") {
			t.Errorf("shown copy is not the decrypted one")
		}
		checkClean(t, a)
	})
}

// TestConcurrentPuts: many goroutines store the same and different
// messages at once; every copy is recorded once and commits are shared.
func TestConcurrentPuts(t *testing.T) {
	for _, batch := range []int{0, 3} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			a := TestOpen(t, t.TempDir(), Options{BatchMessages: batch})
			const workers, perWorker, distinct = 8, 40, 20
			msgs := make([][]byte, distinct)
			for i := range msgs {
				msgs[i] = []byte(strings.Replace(original, "hello", fmt.Sprintf("hello %d", i), 1))
			}
			var wg sync.WaitGroup
			ids := make([][]string, workers)
			for w := range workers {
				wg.Go(func() {
					for i := range perWorker {
						in := incoming(msgs[i%distinct], Source{Account: fmt.Sprintf("acct%d", w), Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1)})
						in.Checkpoint = uint32(i + 1)
						id, _, err := a.Put(context.Background(), in)
						if err != nil {
							t.Errorf("Put: %v", err)
							return
						}
						ids[w] = append(ids[w], id)
					}
				})
			}
			wg.Wait()
			s := stats(t, a)
			if s.Messages != distinct || s.Blobs != distinct || s.Copies != workers*perWorker || s.Merged != workers*perWorker-distinct {
				t.Errorf("stats %+v; want %d messages, %d copies", s, distinct, workers*perWorker)
			}
			for w := range workers {
				for i, id := range ids[w] {
					if id != hexSum(msgs[i%distinct]) {
						t.Fatalf("worker %d put %d: id %s", w, i, id[:12])
					}
				}
				if _, uid, _ := a.Checkpoint(fmt.Sprintf("acct%d", w), "INBOX"); uid != perWorker {
					t.Errorf("checkpoint of worker %d: uid %d; want %d", w, uid, perWorker)
				}
			}
			for _, m := range msgs {
				if n := len(get(t, a, hexSum(m)).Sources); n != workers*perWorker/distinct {
					t.Errorf("%d sources; want %d", n, workers*perWorker/distinct)
				}
			}
			if c := a.commits.Load(); c >= workers*perWorker {
				t.Errorf("%d commits for %d Puts; want shared commits", c, workers*perWorker)
			} else {
				t.Logf("%d commits for %d Puts", c, workers*perWorker)
			}
			checkClean(t, a)
			if n := len(a.inflight) + len(a.stranded) + len(a.queue); n != 0 {
				t.Errorf("%d requests or temp files still tracked after all Puts returned", n)
			}
		})
	}
}

// TestLonePut: a single Put commits at once, without waiting for company.
func TestLonePut(t *testing.T) {
	a := TestArchive(t)
	r := bytes.NewReader([]byte(original))
	env := journal.Parse(r, r.Size(), config.EnvelopeMode{})
	for i := range 5 {
		if _, _, err := a.Put(context.Background(), &Incoming{Body: r, Size: r.Size(), Envelope: env, Source: Source{Account: "x", UID: uint32(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	if c := a.commits.Load(); c != 5 {
		t.Errorf("%d commits for 5 sequential Puts; want 5", c)
	}
}
