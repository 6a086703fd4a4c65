package retention

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/index"
	"jarchive/mailgen"
)

// planFixture is an archive of generated mail from several years with its
// search index.
type planFixture struct {
	arc   *archive.Archive
	idx   *index.Index
	ids   []string // shown messages, in generation order
	years map[string]int
	from  map[string]string // id -> envelope sender
}

// newPlanFixture stores perYear generated journal reports from each of
// the years given, indexes them and returns the fixture.
func newPlanFixture(t testing.TB, perYear int, years ...int) *planFixture {
	t.Helper()
	f := &planFixture{arc: archive.TestArchive(t), years: map[string]int{}, from: map[string]string{}}
	for _, y := range years {
		gen := mailgen.New(mailgen.Options{Seed: int64(y), Start: time.Date(y, 2, 1, 8, 0, 0, 0, time.UTC)})
		for i := range perYear {
			m := gen.Next()
			id := archive.TestPut(t, f.arc, m.Report, archive.Source{Account: "j" + strconv.Itoa(i%2), UID: uint32(y*100000 + i + 1)})
			if _, ok := f.years[id]; !ok {
				f.ids = append(f.ids, id)
				f.years[id] = y
				f.from[id] = m.Envelope.Sender
			}
		}
	}
	idx, err := index.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	f.idx = idx
	f.catchUp(t)
	return f
}

// catchUp indexes what the archive changed (without bodies: the headers
// are enough for these queries).
func (f *planFixture) catchUp(t testing.TB) uint64 {
	t.Helper()
	mark, _ := f.idx.Watermark()
	for {
		chs, err := f.arc.Changes(mark, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(chs) == 0 {
			return mark
		}
		b := f.idx.Batch()
		for _, c := range chs {
			for _, id := range c.Remove {
				b.Delete(id)
			}
			if r := c.Record; r != nil {
				if err := b.Add(&index.Document{ID: r.ID, Date: r.Header.Date, From: r.Header.From, Sender: r.Sender, Subject: r.Header.Subject, Size: r.Size, Owners: []string{"x"}}); err != nil {
					t.Fatal(err)
				}
			}
			mark = c.Seq
		}
		if err := b.Commit(mark); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *planFixture) options(t testing.TB, cfg config.Retention, now time.Time) Options {
	mark, err := f.idx.Watermark()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Enabled = true
	return Options{Archive: f.arc, Index: f.idx, Config: cfg, Location: time.UTC, IndexedUpTo: mark, Now: now}
}

// TestBuildApply: a plan deletes exactly what Decide says of each message
// (the query policy and the hold evaluated through the index), Apply
// deletes it, stops when the holds changed, and a message archived after
// the index's watermark waits for the next run.
func TestBuildApply(t *testing.T) {
	ctx := context.Background()
	f := newPlanFixture(t, 15, 2010, 2013, 2020)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	queried, held := f.ids[len(f.ids)-1], f.ids[0] // a 2020 message; a 2010 one
	cfg := config.Retention{Default: period(t, "10y"), Policies: []config.RetentionPolicy{
		{Name: "short", Period: period(t, "1y"), Query: "id:" + queried[:16]},
		{Name: "j1", Period: period(t, "15y"), Account: "j1"},
	}}
	if _, err := f.arc.AddHold(archive.Hold{Name: "h", Query: "id:" + held[:16]}); err != nil {
		t.Fatal(err)
	}
	plan, err := Build(ctx, f.options(t, cfg, now))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range f.ids {
		rec, err := f.arc.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		j1 := slices.ContainsFunc(rec.Sources, func(s archive.Source) bool { return s.Account == "j1" })
		switch y := f.years[id]; {
		case id == held:
		case id == queried && !j1:
			want = append(want, id)
		case y < 2016 && !j1:
			want = append(want, id)
		case y < 2011 && j1:
			want = append(want, id)
		}
	}
	var got []string
	for _, it := range plan.Items {
		got = append(got, it.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || plan.Count != len(want) || plan.Checked != len(f.ids) {
		t.Fatalf("plan deletes %d of %d: %v; want %d: %v", plan.Count, plan.Checked, got, len(want), want)
	}
	if plan.Held["h"] != 1 || plan.Skipped != 0 {
		t.Errorf("plan held %v, skipped %d; want h: 1, none skipped", plan.Held, plan.Skipped)
	}
	sum := 0
	for _, tot := range plan.PerPolicy {
		sum += tot.Count
	}
	if sum != plan.Count || plan.Oldest.Year() != 2010 {
		t.Errorf("per policy %v (sum %d), oldest %v; want the sum %d, oldest in 2010", plan.PerPolicy, sum, plan.Oldest, plan.Count)
	}

	// A hold added since the plan stops Apply before it deletes anything.
	if _, err := f.arc.AddHold(archive.Hold{Name: "late", Query: "from:nobody"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, f.arc, plan, nil); !errors.Is(err, ErrHoldsChanged) {
		t.Fatalf("Apply after a new hold: %v; want ErrHoldsChanged", err)
	}
	if s, _ := f.arc.Stats(); s.Deleted != 0 {
		t.Fatalf("Apply after a new hold deleted %d", s.Deleted)
	}
	plan, err = Build(ctx, f.options(t, cfg, now))
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	res, err := Apply(ctx, f.arc, plan, func(int, int64) { batches++ })
	if err != nil || res.Messages != len(want) || res.Skipped != 0 || batches != (len(want)+BatchSize-1)/BatchSize {
		t.Fatalf("Apply = %+v, %v, %d batches; want %d messages", res, err, batches, len(want))
	}
	for _, id := range want {
		if _, err := f.arc.Get(id); !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("%s after Apply: %v; want ErrNotFound", id[:12], err)
		}
	}
	f.catchUp(t)
	if n, _ := f.idx.Count(); n != uint64(len(f.ids)-len(want)) {
		t.Errorf("index holds %d documents; want %d", n, len(f.ids)-len(want))
	}
	rep, err := f.arc.Verify(ctx, archive.VerifyOptions{ReadData: true})
	if err != nil || !rep.Clean() || rep.Tombstones != len(want) {
		t.Errorf("Verify: %v, %v, %d tombstones; want clean, %d", err, rep.Problems, rep.Tombstones, len(want))
	}

	// Archived after the index's watermark: skipped while a query decides.
	gen := mailgen.New(mailgen.Options{Seed: 1, Start: time.Date(2001, 2, 1, 8, 0, 0, 0, time.UTC)})
	late := archive.TestPut(t, f.arc, gen.Next().Report, archive.Source{Account: "j0", UID: 1})
	plan, err = Build(ctx, f.options(t, cfg, now))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Skipped != 1 || plan.Count != 0 {
		t.Errorf("plan with an unindexed message: %d skipped, %d to delete; want 1, 0", plan.Skipped, plan.Count)
	}
	f.catchUp(t)
	plan, err = Build(ctx, f.options(t, cfg, now))
	if err != nil || plan.Count != 1 || plan.Items[0].ID != late {
		t.Errorf("plan once indexed: %+v, %v; want the late message", plan, err)
	}
	// Without queries and holds nothing waits for the index.
	for _, h := range []string{"h", "late"} {
		if err := f.arc.ReleaseHold(h, ""); err != nil {
			t.Fatal(err)
		}
	}
	late2 := archive.TestPut(t, f.arc, gen.Next().Report, archive.Source{Account: "j0", UID: 2})
	plan, err = Build(ctx, f.options(t, config.Retention{Default: period(t, "10y")}, now))
	if err != nil || plan.Skipped != 0 || !slices.ContainsFunc(plan.Items, func(it Item) bool { return it.ID == late2 }) {
		t.Errorf("plan without queries: %+v, %v; want the unindexed message %s", plan, err, late2[:12])
	}
}

// TestBuildLarge measures a plan and its application on
// $JARCHIVE_RETENTION_BENCH messages (skipped without it).
func TestBuildLarge(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("JARCHIVE_RETENTION_BENCH"))
	if n == 0 {
		t.Skip("set JARCHIVE_RETENTION_BENCH=N to measure N messages")
	}
	start := time.Now()
	f := newPlanFixture(t, n/4, 2008, 2012, 2018, 2024)
	t.Logf("%d messages stored and indexed in %v", len(f.ids), time.Since(start).Round(time.Millisecond))
	cfg := config.Retention{Default: period(t, "10y"), Policies: []config.RetentionPolicy{{Name: "q", Period: period(t, "1y"), Query: "from:contoso.com"}}}
	if _, err := f.arc.AddHold(archive.Hold{Name: "h", Query: "subject:meeting"}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	plan, err := Build(context.Background(), f.options(t, cfg, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan of %d messages: %d to delete (%d bytes), held %v, in %v", plan.Checked, plan.Count, plan.Bytes, plan.Held, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	res, err := Apply(context.Background(), f.arc, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied: %+v in %v", res, time.Since(start).Round(time.Millisecond))
}
