package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"jarchive/archive"
	"jarchive/mailgen"
)

// retentionArchive is generated mail spread over years, in an archive,
// with what retention should make of it.
type retentionArchive struct {
	cfg      string
	reports  [][]byte
	sizes    map[string]int64            // shown message id -> size
	years    map[string]int              // id -> year of its date
	parties  map[string]map[string]bool  // id -> addresses of its envelopes (the owners: no users defined)
	messages map[string]*mailgen.Message // id -> (the first) journal report of it
	order    []string                    // ids in generation order
	byYear   map[int][]string            // year -> ids
}

// retentionMail generates 12 journal reports from each of five years (14,
// 12, 7, 4 and 2 years ago).
func retentionMail() *retentionArchive {
	ra := &retentionArchive{sizes: map[string]int64{}, years: map[string]int{}, parties: map[string]map[string]bool{},
		messages: map[string]*mailgen.Message{}, byYear: map[int][]string{}}
	now := time.Now().UTC()
	for _, ago := range []int{14, 12, 7, 4, 2} {
		year := now.Year() - ago
		gen := mailgen.New(mailgen.Options{Seed: int64(year), Start: time.Date(year, 3, 2, 8, 0, 0, 0, time.UTC)})
		for range 12 {
			m := gen.Next()
			ra.reports = append(ra.reports, m.Report)
			id := sha(m.Original)
			if _, ok := ra.sizes[id]; !ok {
				ra.sizes[id] = int64(len(m.Original))
				ra.years[id] = year
				ra.parties[id] = map[string]bool{}
				ra.messages[id] = m
				ra.order = append(ra.order, id)
				ra.byYear[year] = append(ra.byYear[year], id)
			}
			env := m.Envelope
			for _, a := range []string{env.Sender, env.OnBehalfOf} {
				ra.parties[id][strings.ToLower(a)] = true
			}
			for _, r := range env.Recipients {
				ra.parties[id][strings.ToLower(r.Addr)] = true
				ra.parties[id][strings.ToLower(r.ForwardedFrom)] = true
			}
		}
	}
	return ra
}

// archive imports the reports into a new archive whose configuration has
// the [retention] table given.
func (ra *retentionArchive) archive(t *testing.T, retention string) {
	t.Helper()
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	if err := os.Mkdir(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	for i, r := range ra.reports {
		if err := os.WriteFile(filepath.Join(inbox, fmt.Sprintf("%04d.eml", i)), r, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ra.cfg = filepath.Join(dir, "jarchive.toml")
	cfg := fmt.Sprintf("[archive]\ndir = %q\ntime_zone = \"UTC\"\n\n[[accounts]]\nname = \"offline\"\nserver = \"127.0.0.1:1\"\nusername = \"u\"\npassword = \"p\"\nsecurity = \"none\"\ninterval = \"1h\"\n\n%s",
		filepath.Join(dir, "archive"), retention)
	if err := os.WriteFile(ra.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runCmd(t, "import", "-config", ra.cfg, inbox); code != 0 {
		t.Fatalf("import: exit %d: %s", code, out)
	}
}

// retentionRun runs "retention run -json -list" with extra flags.
func retentionRun(t *testing.T, cfg string, flags ...string) retentionOutput {
	t.Helper()
	args := append([]string{"retention", "run", "-json", "-list", "-config", cfg}, flags...)
	out, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, out)
	}
	var ro retentionOutput
	if err := json.Unmarshal([]byte(out), &ro); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return ro
}

func planIDs(ro retentionOutput) []string {
	var ids []string
	for _, it := range ro.Items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestRetentionEndToEnd: a dry run shows exactly what the policies, the
// owner override, a query policy and a legal hold make of mail spread over
// years, through a running daemon and without; -apply deletes exactly
// those messages from the store, the metadata and the search index, with
// a tombstone each, verify stays clean; released, the hold's message goes
// at the next run.
func TestRetentionEndToEnd(t *testing.T) {
	now := time.Now().UTC()
	oldYears := []int{now.Year() - 14, now.Year() - 12}
	ra := retentionMail()
	// The owner policy keeps the mail of the sender of the first old
	// message for 50 years; a query policy deletes one message of two years
	// ago after 1 year; a hold keeps one old message.
	owner := strings.ToLower(ra.messages[ra.byYear[oldYears[0]][0]].Envelope.Sender)
	var held, queried string
	for _, id := range ra.byYear[oldYears[1]] {
		if !ra.parties[id][owner] {
			held = id
		}
	}
	for _, id := range ra.byYear[now.Year()-2] {
		if !ra.parties[id][owner] {
			queried = id
			break
		}
	}
	if held == "" || queried == "" {
		t.Fatal("fixture: no message to hold or to find by query")
	}
	ra.archive(t, fmt.Sprintf(`[retention]
default = "10y"
from = "message_date"

[[retention.policies]]
name = "keeper"
period = "50y"
owner = %q

[[retention.policies]]
name = "short"
period = "1y"
query = "id:%s"
`, owner, queried[:16]))

	var want []string // what the first run deletes
	var wantBytes int64
	keptByOwner := 0
	for _, id := range ra.order {
		old := slices.Contains(oldYears, ra.years[id])
		switch {
		case old && ra.parties[id][owner]:
			keptByOwner++
		case old && id != held, id == queried:
			want = append(want, id)
			wantBytes += ra.sizes[id]
		}
	}
	slices.Sort(want)
	if keptByOwner == 0 || len(want) < 10 {
		t.Fatalf("fixture: %d messages to delete, %d kept by the owner policy", len(want), keptByOwner)
	}

	t.Logf("%d messages in %v and 3 later years; %d to delete (%d bytes), %d kept by the owner policy, 1 held, 1 by the query policy",
		len(ra.order), oldYears, len(want), wantBytes, keptByOwner)

	// Through a running daemon: a hold, the dry run, stats, -apply.
	ctx, cancel := context.WithCancel(context.Background())
	var serveErr syncBuf
	done := make(chan int)
	go func() {
		a := &app{stdout: &bytes.Buffer{}, stderr: &serveErr, logger: newLogger(&serveErr)}
		done <- run(ctx, a, []string{"serve", "-config", ra.cfg})
	}()
	stopDaemon := func() {
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, tail(serveErr.String(), 3000))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(serveErr.String(), "serving") {
		if time.Now().After(deadline) {
			stopDaemon()
			t.Fatalf("daemon did not start:\n%s", serveErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, code := runCmd(t, "hold", "add", "-name", "case-17", "-query", "id:"+held[:16], "-reason", "litigation 17", "-config", ra.cfg)
	if code != 0 || !strings.Contains(out, "it finds 1 message now") {
		stopDaemon()
		t.Fatalf("hold add: exit %d: %s", code, out)
	}
	if out, code := runCmd(t, "hold", "add", "-name", "bad", "-query", "subjet:x", "-config", ra.cfg); code != 2 || !strings.Contains(out, `unknown operator "subjet:"`) {
		t.Errorf("hold add with a bad query: exit %d: %s; want 2 and the query error", code, out)
	}
	out, code = runCmd(t, "hold", "list", "-config", ra.cfg)
	if code != 0 || !strings.Contains(out, "case-17\t1 message\t") || !strings.Contains(out, "reason litigation 17") || !strings.Contains(out, "1 active hold\n") {
		t.Errorf("hold list: exit %d: %s", code, out)
	}

	dry := retentionRun(t, ra.cfg)
	if got := planIDs(dry); !slices.Equal(got, want) {
		t.Errorf("dry run deletes %d messages; want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	if dry.Count != len(want) || dry.Bytes != wantBytes || dry.Applied != nil || dry.Checked != len(ra.order) {
		t.Errorf("dry run: count %d, bytes %d, checked %d, applied %v; want %d, %d, %d, none", dry.Count, dry.Bytes, dry.Checked, dry.Applied, len(want), wantBytes, len(ra.order))
	}
	if dry.Oldest.Year() != oldYears[0] || dry.Newest.Year() != now.Year()-2 {
		t.Errorf("dry run: oldest %v, newest %v; want in %d and %d", dry.Oldest, dry.Newest, oldYears[0], now.Year()-2)
	}
	if s := dry.PerPolicy["short"]; s == nil || s.Count != 1 || s.Bytes != ra.sizes[queried] {
		t.Errorf("dry run: policy short %+v; want the queried message", s)
	}
	if d := dry.PerPolicy["default"]; d == nil || d.Count != len(want)-1 {
		t.Errorf("dry run: policy default %+v; want %d messages", d, len(want)-1)
	}
	if dry.Held["case-17"] != 1 || len(dry.Holds) != 1 {
		t.Errorf("dry run: held %v, holds %v; want case-17: 1", dry.Held, dry.Holds)
	}
	text, code := runCmd(t, "retention", "run", "-config", ra.cfg)
	if code != 0 || !strings.Contains(text, fmt.Sprintf("would delete:  %d messages", len(want))) || !strings.Contains(text, "held by case-17:") ||
		!strings.Contains(text, "dry run: nothing deleted") {
		t.Errorf("dry run text: exit %d:\n%s", code, text)
	}
	t.Logf("dry run:\n%s", text)
	st := statsOf(t, ra.cfg)
	if r := st.Retention; r == nil || r.WouldDelete != len(want) || r.Bytes != wantBytes || r.Holds != 1 || r.Held != 1 || r.Schedule != "off" {
		t.Errorf("stats retention %+v; want %d messages, %d bytes, 1 hold", st.Retention, len(want), wantBytes)
	}
	applied := retentionRun(t, ra.cfg, "-apply")
	if a := applied.Applied; a == nil || a.Messages != len(want) || a.Copies != len(want) || a.Bytes != wantBytes || a.Skipped != 0 {
		t.Errorf("apply: %+v; want %d messages and copies, %d bytes", applied.Applied, len(want), wantBytes)
	}
	if !strings.Contains(serveErr.String(), "command=retention") || !strings.Contains(serveErr.String(), "command=hold") {
		t.Errorf("the daemon's log shows no retention and hold requests: they did not go through the socket")
	}
	stopDaemon()

	// Without the daemon: exactly the expected messages are gone.
	checkGone(t, ra, want)
	if st := statsOf(t, ra.cfg); st.Messages != uint64(len(ra.order)-len(want)) || st.Deleted != uint64(len(want)) || st.IndexDocuments != st.Messages {
		t.Errorf("stats after apply: %d messages, %d deleted, %d index documents; want %d, %d, %d", st.Messages, st.Deleted, st.IndexDocuments, len(ra.order)-len(want), len(want), len(ra.order)-len(want))
	}
	out, code = runCmd(t, "verify", "-json", "-config", ra.cfg)
	var vo struct {
		Problems       []archive.Problem `json:"problems"`
		Tombstones     int               `json:"tombstones"`
		PendingRemoval int               `json:"pending_removal"`
	}
	if err := json.Unmarshal([]byte(out), &vo); code != 0 || err != nil || len(vo.Problems) != 0 || vo.Tombstones != len(want) || vo.PendingRemoval != 0 {
		t.Errorf("verify: exit %d, %v: %+v; want clean with %d tombstones\n%s", code, err, vo, len(want), out)
	}
	out, code = runCmd(t, "retention", "tombstones", "-json", "-config", ra.cfg)
	var ts []archive.Tombstone
	if err := json.Unmarshal([]byte(out), &ts); code != 0 || err != nil {
		t.Fatalf("tombstones: exit %d, %v: %s", code, err, out)
	}
	var tsIDs []string
	for _, tb := range ts {
		tsIDs = append(tsIDs, tb.ID)
		if wantPolicy := map[bool]string{true: "short", false: "default"}[tb.ID == queried]; tb.Policy != wantPolicy || tb.Size != ra.sizes[tb.ID] {
			t.Errorf("tombstone %+v; want policy %s, size %d", tb, wantPolicy, ra.sizes[tb.ID])
		}
	}
	slices.Sort(tsIDs)
	if !slices.Equal(tsIDs, want) {
		t.Errorf("tombstones %v; want %v", tsIDs, want)
	}
	if again := retentionRun(t, ra.cfg); again.Count != 0 {
		t.Errorf("a second dry run deletes %d messages; want none", again.Count)
	}

	// Released, the held message goes at the next run (no daemon).
	if out, code := runCmd(t, "hold", "release", "case-17", "-reason", "settled", "-config", ra.cfg); code != 0 {
		t.Fatalf("hold release: exit %d: %s", code, out)
	}
	if out, code := runCmd(t, "hold", "release", "case-17", "-config", ra.cfg); code != 1 || !strings.Contains(out, "no hold named") {
		t.Errorf("second release: exit %d: %s", code, out)
	}
	next := retentionRun(t, ra.cfg, "-apply")
	if got := planIDs(next); !slices.Equal(got, []string{held}) || next.Applied == nil || next.Applied.Messages != 1 {
		t.Errorf("after the release: plan %v, applied %+v; want the held message %s", got, next.Applied, held)
	}
	checkGone(t, ra, append(want, held))
	if out, code := runCmd(t, "verify", "-config", ra.cfg); code != 0 {
		t.Errorf("verify: exit %d: %s", code, out)
	}
}

// checkGone checks that the messages gone are not found by show, search
// or in the archive, and that every other message is.
func checkGone(t *testing.T, ra *retentionArchive, gone []string) {
	t.Helper()
	for _, id := range ra.order {
		del := slices.Contains(gone, id)
		out, code := runCmd(t, "show", "-json", "-config", ra.cfg, id)
		if del && code == 0 {
			t.Errorf("show %s: exit 0; want it gone", id[:12])
		}
		if !del && code != 0 {
			t.Errorf("show %s: exit %d: %s", id[:12], code, out)
		}
		out, code = runCmd(t, "search", "-json", "-config", ra.cfg, "id:"+id[:16])
		found := strings.Contains(out, `"total": 1`)
		if code != 0 || found == del {
			t.Errorf("search id:%s: exit %d, found %v; want found %v\n%s", id[:16], code, found, !del, out)
		}
	}
	// The archive itself: no record, no blob.
	a := &app{stdout: discardWriter{}, stderr: discardWriter{}, logger: newLogger(discardWriter{})}
	cfg, err := loadConfig(a, ra.cfg)
	if err != nil {
		t.Fatal(err)
	}
	arc, err := archive.Open(cfg.Archive.Dir, archive.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	for _, id := range gone {
		if _, err := arc.Get(id); err == nil {
			t.Errorf("archive still has a record of %s", id[:12])
		}
		if _, err := os.Stat(arc.BlobPath(id)); err == nil {
			t.Errorf("archive still has the blob of %s", id[:12])
		}
	}
}

// TestRetentionCrashAfterCommit: a run that dies after the archive's
// delete commit and before the index took it in (simulated: the archive
// deletes half the plan, nothing else happens) leaves deleted messages
// that search still names; the next run catches the index up, completes
// the deletion, and verify is clean.
func TestRetentionCrashAfterCommit(t *testing.T) {
	ra := retentionMail()
	ra.archive(t, "[retention]\ndefault = \"10y\"\n")
	a := &app{stdout: discardWriter{}, stderr: discardWriter{}, logger: newLogger(discardWriter{})}
	cfg, err := loadConfig(a, ra.cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg, a.logger)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := st.retentionPlan(context.Background(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want, first []string
	var items []archive.DeleteItem
	for i, it := range plan.Items {
		want = append(want, it.ID)
		if i%2 == 0 {
			first = append(first, it.ID)
			items = append(items, archive.DeleteItem{ID: it.ID, Seq: it.Seq, Policy: it.Policy})
		}
	}
	if len(want) < 10 {
		t.Fatalf("plan deletes %d messages; want the mail of two years", len(want))
	}
	if _, err := st.arc.Delete(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	st.Close() // "crash": the index never heard of it

	out, code := runCmd(t, "search", "-json", "-config", ra.cfg, "id:"+first[0][:16])
	if code != 0 || !strings.Contains(out, "no longer in the archive") {
		t.Errorf("search before the next run: exit %d; want the stale hit marked as gone:\n%s", code, out)
	}
	out, code = runCmd(t, "verify", "-json", "-config", ra.cfg)
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"tombstones": %d`, len(first))) {
		t.Errorf("verify after the crash: exit %d; want clean with %d tombstones:\n%s", code, len(first), tail(out, 800))
	}
	next := retentionRun(t, ra.cfg, "-apply")
	if next.Applied == nil || next.Applied.Messages != len(want)-len(first) {
		t.Errorf("next run applied %+v; want the other %d messages", next.Applied, len(want)-len(first))
	}
	checkGone(t, ra, want)
	out, code = runCmd(t, "verify", "-json", "-config", ra.cfg)
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"tombstones": %d`, len(want))) || !strings.Contains(out, `"index_pending": 0`) {
		t.Errorf("verify after the next run: exit %d; want clean with %d tombstones:\n%s", code, len(want), tail(out, 800))
	}
}

// TestRetentionSchedule: with schedule = "daily" the daemon applies
// retention by itself.
func TestRetentionSchedule(t *testing.T) {
	ra := retentionMail()
	ra.archive(t, "[retention]\ndefault = \"10y\"\nschedule = \"daily\"\n")
	want := len(ra.byYear[time.Now().UTC().Year()-14]) + len(ra.byYear[time.Now().UTC().Year()-12])
	first := retentionFirstRun
	retentionFirstRun = 200 * time.Millisecond
	defer func() { retentionFirstRun = first }()

	ctx, cancel := context.WithCancel(context.Background())
	var serveErr syncBuf
	done := make(chan int)
	go func() {
		a := &app{stdout: &bytes.Buffer{}, stderr: &serveErr, logger: newLogger(&serveErr)}
		done <- run(ctx, a, []string{"serve", "-config", ra.cfg})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(serveErr.String(), "scheduled retention") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st := statsOf(t, ra.cfg)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, tail(serveErr.String(), 3000))
	}
	if !strings.Contains(serveErr.String(), fmt.Sprintf("msg=\"scheduled retention\" checked=%d deleted=%d", len(ra.order), want)) {
		t.Errorf("no scheduled run deleting %d messages in the daemon's log:\n%s", want, tail(serveErr.String(), 3000))
	}
	if st.Deleted != uint64(want) || st.Retention == nil || st.Retention.WouldDelete != 0 || st.Retention.Schedule != "daily" {
		t.Errorf("stats after the scheduled run: deleted %d, retention %+v; want %d deleted, nothing more to delete", st.Deleted, st.Retention, want)
	}
}

// TestRetentionConfigProblems: without [retention] nothing is planned or
// deleted; a bad query in a policy is an error naming the policy, shown by
// stats without failing it.
func TestRetentionConfigProblems(t *testing.T) {
	ra := retentionMail()
	ra.archive(t, "")
	if out, code := runCmd(t, "retention", "run", "-apply", "-config", ra.cfg); code != 1 || !strings.Contains(out, "retention is not configured") {
		t.Errorf("retention run without [retention]: exit %d: %s", code, out)
	}
	if st := statsOf(t, ra.cfg); st.Retention != nil || st.Deleted != 0 {
		t.Errorf("stats without [retention]: retention %+v, deleted %d; want none", st.Retention, st.Deleted)
	}
	cfg, err := os.ReadFile(ra.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "[retention]\ndefault = \"10y\"\n[[retention.policies]]\nname = \"broken\"\nperiod = \"1y\"\nquery = \"subjet:x\"\n"...)
	if err := os.WriteFile(ra.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runCmd(t, "retention", "run", "-config", ra.cfg); code != 1 || !strings.Contains(out, `policy broken: `) || !strings.Contains(out, `unknown operator "subjet:"`) {
		t.Errorf("retention run with a bad query: exit %d: %s", code, out)
	}
	if st := statsOf(t, ra.cfg); st.Retention == nil || !strings.Contains(st.Retention.Error, "policy broken") {
		t.Errorf("stats with a bad query: retention %+v; want the error", st.Retention)
	}
	if st := statsOf(t, ra.cfg); st.Messages != uint64(len(ra.order)) {
		t.Errorf("stats: %d messages; want all %d kept", st.Messages, len(ra.order))
	}
}

// TestRetentionGroupPolicy: a group policy applies to the mail of the
// group's members (through a nested group), as the directory of the
// configuration file says; mail of users outside it, and unowned mail,
// gets the default.
func TestRetentionGroupPolicy(t *testing.T) {
	ra := retentionMail()
	now := time.Now().UTC()
	oldYears := []int{now.Year() - 14, now.Year() - 12}
	member := strings.ToLower(ra.messages[ra.byYear[oldYears[1]][0]].Envelope.Sender)
	ra.archive(t, fmt.Sprintf(`[[users]]
name = "Mia"
addresses = [%q]

[[users]]
name = "nobody"
addresses = ["nobody@example.org"]

[[groups]]
name = "legal-team"
members = ["Mia"]

[[groups]]
name = "legal"
members = ["legal-team"]

[retention]
default = "10y"

[[retention.policies]]
name = "legal"
period = "50y"
group = "legal"
`, member))
	var want []string
	kept := 0
	for _, id := range ra.order {
		if !slices.Contains(oldYears, ra.years[id]) {
			continue
		}
		if ra.parties[id][member] {
			kept++
			continue
		}
		want = append(want, id)
	}
	slices.Sort(want)
	dry := retentionRun(t, ra.cfg)
	if got := planIDs(dry); kept == 0 || !slices.Equal(got, want) {
		t.Errorf("dry run deletes %d messages, %d kept by the group policy; want %d:\ngot  %v\nwant %v", len(got), kept, len(want), got, want)
	}
	if len(dry.PerPolicy) != 1 || dry.PerPolicy["default"] == nil {
		t.Errorf("per policy %v; want default only", dry.PerPolicy)
	}
}

// TestRetentionKill kills "jarchive retention run -apply" (a separate
// process) at random moments while it deletes: after each kill verify is
// clean, and the next run completes the deletion, after which exactly the
// expired messages are gone from the archive and the search index.
func TestRetentionKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	bin := buildBinary(t)
	now := time.Now().UTC()
	ra := &retentionArchive{sizes: map[string]int64{}, years: map[string]int{}, parties: map[string]map[string]bool{},
		messages: map[string]*mailgen.Message{}, byYear: map[int][]string{}}
	for _, ago := range []int{14, 3} {
		year := now.Year() - ago
		gen := mailgen.New(mailgen.Options{Seed: int64(year), Start: time.Date(year, 3, 2, 8, 0, 0, 0, time.UTC)})
		for range 400 {
			m := gen.Next()
			ra.reports = append(ra.reports, m.Report)
			if id := sha(m.Original); ra.years[id] == 0 {
				ra.years[id] = year
				ra.order = append(ra.order, id)
				ra.byYear[year] = append(ra.byYear[year], id)
			}
		}
	}
	ra.archive(t, "[retention]\ndefault = \"10y\"\n")
	want := slices.Clone(ra.byYear[now.Year()-14])
	slices.Sort(want)

	// A dry run takes what an apply takes before it deletes: kill around
	// its end.
	start := time.Now()
	if out, err := exec.Command(bin, "retention", "run", "-config", ra.cfg).CombinedOutput(); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	dry := time.Since(start)
	kills := 0
	var deleted []uint64 // after each kill
	for round := 0; round < 12; round++ {
		cmd := exec.Command(bin, "retention", "run", "-apply", "-config", ra.cfg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(dry*7/10 + time.Duration(rand.Int64N(int64(dry*8/10))))
		cmd.Process.Kill()
		err := cmd.Wait()
		if err == nil {
			break // it finished first
		}
		kills++
		vout, code := runCmd(t, "verify", "-json", "-config", ra.cfg)
		if code != 0 {
			t.Fatalf("verify after kill %d: exit %d:\n%s\nrun output:\n%s", kills, code, tail(vout, 2000), out.String())
		}
		deleted = append(deleted, statsOf(t, ra.cfg).Deleted)
	}
	final := retentionRun(t, ra.cfg, "-apply")
	st := statsOf(t, ra.cfg)
	if st.Deleted != uint64(len(want)) || st.Messages != uint64(len(ra.order)-len(want)) || st.IndexDocuments != st.Messages {
		t.Errorf("after %d kills and a last run (%d deleted by it): %d deleted, %d messages, %d index documents; want %d, %d, %d",
			kills, final.Applied.Messages, st.Deleted, st.Messages, st.IndexDocuments, len(want), len(ra.order)-len(want), len(ra.order)-len(want))
	}
	out, code := runCmd(t, "retention", "tombstones", "-json", "-config", ra.cfg)
	var ts []archive.Tombstone
	if err := json.Unmarshal([]byte(out), &ts); code != 0 || err != nil {
		t.Fatalf("tombstones: exit %d, %v", code, err)
	}
	var got []string
	for _, tb := range ts {
		got = append(got, tb.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("tombstones name %d messages; want the %d expired ones", len(got), len(want))
	}
	out, code = runCmd(t, "search", "-config", ra.cfg, "-json", "-limit", "1", fmt.Sprintf("before:%d", now.Year()-10))
	if code != 0 || !strings.Contains(out, `"total": 0`) {
		t.Errorf("search for the expired mail: exit %d: %s", code, tail(out, 500))
	}
	if out, code := runCmd(t, "verify", "-read-data", "-config", ra.cfg); code != 0 {
		t.Errorf("verify: exit %d: %s", code, out)
	}
	t.Logf("%d messages, %d expired; a dry run takes %v; %d kills during retention run -apply (deleted after each: %v), the last run deleted %d",
		len(ra.order), len(want), dry.Round(time.Millisecond), kills, deleted, final.Applied.Messages)
}
