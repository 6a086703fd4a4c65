package archive

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestLogEvent(t *testing.T) {
	a := TestArchive(t)
	id := TestPut(t, a, []byte("From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"), Source{Account: "import", Path: "x.eml"})
	seq, err := a.LogEvent("export", []byte(`{"manifest_sha256": "ab", "count": 1}`))
	if err != nil {
		t.Fatalf("LogEvent: %v", err)
	}
	if _, err := a.LogEvent("export", []byte(`not json`)); err == nil {
		t.Fatalf("LogEvent(not json) = nil; want an error")
	}
	st, _ := a.Stats()
	if st.LastSeq != seq {
		t.Fatalf("LastSeq = %d; want the event's %d", st.LastSeq, seq)
	}
	evs, err := a.Events("export")
	if err != nil || len(evs) != 1 || string(evs[0].Data) != `{"manifest_sha256":"ab","count":1}` || evs[0].Seq != seq {
		t.Fatalf("Events = %+v, %v; want the one event, compacted", evs, err)
	}
	// The index's feed moves past the event and still shows the message.
	chs, err := a.Changes(0, 100)
	if err != nil || len(chs) != 2 || chs[0].Record == nil || chs[0].Record.ID != id || chs[1].Seq != seq || chs[1].Record != nil {
		t.Fatalf("Changes = %+v, %v; want the message, then the event with no record", chs, err)
	}
	rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: true})
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("Verify = %+v, %v; want clean", rep, err)
	}
	// Editing the event breaks the chain.
	err = a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		v := append([]byte(nil), b.Get(u64(seq))...)
		v[len(v)-3] ^= 1
		return b.Put(u64(seq), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.LogEvent("export", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	rep, err = a.Verify(context.Background(), VerifyOptions{})
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Type != ProblemChainBroken || rep.Problems[0].Seq != seq {
		t.Fatalf("Verify after editing the event = %+v, %v; want one chain-broken at entry %d", rep, err, seq)
	}
}
