package archive

import (
	"context"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func withOwners(in *Incoming, owners ...string) *Incoming {
	in.Owners = owners
	return in
}

// logOps returns the op and owners of every log entry after seq.
func logOps(t *testing.T, a *Archive, after uint64) []string {
	t.Helper()
	var out []string
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
			_, e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			out = append(out, e.Op+":"+e.ID[:6]+":"+strings.Join(e.Owners, ","))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOwners: Put records owners, merges and links take the union, and
// Reassign recomputes them with an "owners" log entry, without touching
// blobs, and the index is told.
func TestOwners(t *testing.T) {
	ctx := context.Background()
	a := TestArchive(t)
	r1 := report(original, "Sender: anna@contoso.com\r\nTo: ben@contoso.com\r\n")
	r2 := report(original, "Sender: anna@contoso.com\r\nBcc: carl@fabrikam.com\r\n")
	obo := report(strings.Replace(original, "hello", "on behalf", 1), "Sender: max@contoso.com\r\nOn-Behalf-Of: laura@contoso.com\r\nTo: ben@contoso.com\r\n")

	id, _ := put(t, a, withOwners(incoming(r1, Source{Account: "j", UID: 1}), "ben", "anna", "anna", ""))
	if rec := get(t, a, id); !slices.Equal(rec.Owners, []string{"anna", "ben"}) {
		t.Errorf("owners %q; want sorted, without duplicates", rec.Owners)
	}
	// The same bytes with another envelope: the union.
	put(t, a, withOwners(incoming(r2, Source{Account: "j", UID: 2}), "carl"))
	if rec := get(t, a, id); !slices.Equal(rec.Owners, []string{"anna", "ben", "carl"}) {
		t.Errorf("owners after a merge %q", rec.Owners)
	}
	idObo, _ := put(t, a, incoming(obo, Source{Account: "j", UID: 3}))
	if rec := get(t, a, idObo); rec.Owners != nil || rec.OnBehalfOf != "laura@contoso.com" || rec.Sender != "max@contoso.com" {
		t.Errorf("no owners: %q, on behalf of %q", rec.Owners, rec.OnBehalfOf)
	}
	before := stats(t, a)

	// Reassign: anna leaves, dora joins as the owner of every message
	// on behalf of someone.
	calls := 0
	owners := func(rec *Record) []string {
		calls++
		var out []string
		for _, r := range rec.Recipients {
			out = append(out, strings.SplitN(r.Addr, "@", 2)[0])
		}
		if rec.OnBehalfOf != "" {
			out = append(out, "dora")
		}
		return out
	}
	st, err := a.Reassign(ctx, owners)
	if err != nil {
		t.Fatal(err)
	}
	if st.Checked != 2 || st.Changed != 2 || calls < 2 {
		t.Errorf("Reassign = %+v (%d calls); want 2 checked, 2 changed", st, calls)
	}
	if rec := get(t, a, id); !slices.Equal(rec.Owners, []string{"ben", "carl"}) {
		t.Errorf("owners after Reassign %q", rec.Owners)
	}
	if rec := get(t, a, idObo); !slices.Equal(rec.Owners, []string{"ben", "dora"}) {
		t.Errorf("owners after Reassign %q", rec.Owners)
	}
	ops := logOps(t, a, before.LastSeq)
	if len(ops) != 2 || !slices.Contains(ops, "owners:"+id[:6]+":ben,carl") || !slices.Contains(ops, "owners:"+idObo[:6]+":ben,dora") {
		t.Errorf("log entries %q", ops)
	}
	index, _ := shownChanges(t, a, before.LastSeq)
	slices.Sort(index)
	want := []string{id, idObo}
	slices.Sort(want)
	if !slices.Equal(index, want) {
		t.Errorf("Changes after Reassign: %v", index)
	}
	after := stats(t, a)
	if after.Blobs != before.Blobs || after.StoredBytes != before.StoredBytes || after.LastSeq != before.LastSeq+2 {
		t.Errorf("stats %+v after %+v", after, before)
	}
	// Again: nothing changes, nothing is logged.
	if st, err := a.Reassign(ctx, owners); err != nil || st.Changed != 0 || st.Checked != 2 {
		t.Errorf("second Reassign = %+v, %v", st, err)
	}
	if s := stats(t, a); s.LastSeq != after.LastSeq {
		t.Errorf("a Reassign without changes logged %d entries", s.LastSeq-after.LastSeq)
	}
	// No one at all: unassigned.
	if _, err := a.Reassign(ctx, func(*Record) []string { return nil }); err != nil {
		t.Fatal(err)
	}
	if rec := get(t, a, id); rec.Owners != nil {
		t.Errorf("owners %q; want none", rec.Owners)
	}
	if ops := logOps(t, a, after.LastSeq); len(ops) != 2 || !strings.HasPrefix(ops[0], "owners:") || !strings.HasSuffix(ops[0], ":") {
		t.Errorf("log entries %q; want two owners entries without owners", ops)
	}
	checkClean(t, a)

	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Reassign(ctx2, owners); err == nil {
		t.Error("Reassign with a closed context succeeded")
	}
}

// TestOwnersOfCopies: a shown message owns the union of its linked
// copies' owners, at Put and at Reassign.
func TestOwnersOfCopies(t *testing.T) {
	fork1 := report("Received: from a.contoso.com\r\n"+original, "Sender: anna@contoso.com\r\nTo: ben@contoso.com\r\n")
	fork2 := report("Received: from b.contoso.com\r\n"+original, "Sender: olga@contoso.com\r\nTo: carl@fabrikam.com\r\n")
	a := TestArchive(t)
	id1, _ := put(t, a, withOwners(withExt(incoming(fork1, Source{Account: "j", UID: 1}), contentKeyA, nil), "anna", "ben"))
	id2, _ := put(t, a, withOwners(withExt(incoming(fork2, Source{Account: "j", UID: 2}), contentKeyA, nil), "olga"))
	if p, c := get(t, a, id1), get(t, a, id2); !slices.Equal(p.Owners, []string{"anna", "ben", "olga"}) || !slices.Equal(c.Owners, []string{"olga"}) {
		t.Errorf("owners: primary %q, copy %q", p.Owners, c.Owners)
	}
	// Senders only: the copy's sender stays an owner of the primary,
	// whose own record names another sender.
	st, err := a.Reassign(context.Background(), func(rec *Record) []string { return []string{strings.SplitN(rec.Sender, "@", 2)[0]} })
	if err != nil || st.Changed != 1 {
		t.Errorf("Reassign = %+v, %v", st, err)
	}
	if p := get(t, a, id1); !slices.Equal(p.Owners, []string{"anna", "olga"}) {
		t.Errorf("primary owners %q", p.Owners)
	}
	checkClean(t, a)
}
