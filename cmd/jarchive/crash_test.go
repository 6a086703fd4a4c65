package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"jarchive/archive"
	"jarchive/fetch/dovecottest"
	"jarchive/journal"
	"jarchive/mailgen"
)

// envInt reads a test size from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// buildBinary builds jarchive for tests that run it as a separate process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jarchive")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCrashRecovery delivers journal reports (the real-world corpus wrapped
// as reports, plus generated mail with forked reports and duplicates) to a
// real Dovecot, runs "jarchive serve" and kills it with SIGKILL at random
// moments, restarting it each time. At the end every distinct original must
// be archived exactly once with the union of its envelopes, and the server
// mailbox must be empty.
//
// JARCHIVE_CRASH_KILLS (default 8) and JARCHIVE_CRASH_MESSAGES (default 800)
// set its size; the full run is
//
//	JARCHIVE_CRASH_KILLS=20 JARCHIVE_CRASH_MESSAGES=2000 go test -run Crash -v ./cmd/jarchive
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	kills := envInt("JARCHIVE_CRASH_KILLS", 8)
	total := envInt("JARCHIVE_CRASH_MESSAGES", 800)
	corpus := loadCorpus(t)
	bin := buildBinary(t)
	srv := dovecottest.Start(t, dovecottest.Options{})

	// want: original sha256 -> the envelope recipients it must end with.
	want := map[string]map[journal.Recipient]bool{}
	add := func(original []byte, rcpts []mailgen.Recipient) {
		s := sha256.Sum256(original)
		id := hex.EncodeToString(s[:])
		if want[id] == nil {
			want[id] = map[journal.Recipient]bool{}
		}
		for _, r := range rcpts {
			want[id][journal.Recipient{Addr: r.Addr, Field: r.Field, ExpandedFrom: r.ExpandedFrom, ForwardedFrom: r.ForwardedFrom}] = true
		}
	}
	// The reports, delivered in waves: one before each start of serve, so
	// that every kill lands in the middle of work.
	var reports [][]byte
	date := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	for i, m := range corpus {
		if len(reports) >= total/2 {
			break
		}
		// Every fifth original is journaled twice, split over two reports.
		rcpts := [][]mailgen.Recipient{{{Addr: fmt.Sprintf("user%d@contoso.com", i), Field: "to"}}}
		if i%5 == 0 {
			rcpts = append(rcpts, []mailgen.Recipient{{Addr: fmt.Sprintf("partner%d@fabrikam.com", i), Field: "bcc"}})
		}
		for _, r := range rcpts {
			env := mailgen.Envelope{Sender: "sender@contoso.com", MessageID: fmt.Sprintf("<crash-%d@contoso.com>", i), Recipients: r}
			reports = append(reports, mailgen.WrapJournal(m.data, env, date))
			add(m.data, r)
		}
	}
	gen := mailgen.New(mailgen.Options{Seed: 3})
	for len(reports) < total {
		m := gen.Next()
		reports = append(reports, m.Report)
		add(m.Original, m.Envelope.Recipients)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(reports), func(i, j int) { reports[i], reports[j] = reports[j], reports[i] })
	delivered := 0
	deliverWave := func(n int) {
		for ; n > 0 && delivered < len(reports); n-- {
			srv.Deliver(t, srv.User, reports[delivered])
			delivered++
		}
	}
	wave := max(len(reports)/(kills+1)+1, 120)

	dir := t.TempDir()
	cfg := writeConfig(t, dir, testAccount{name: "journal", security: "starttls", caFile: srv.CAFile, user: srv.User, password: srv.Password, port: srv.IMAPPort})
	start, logPath := serveStarter(t, bin, cfg, dir)

	interrupted := 0
	for k := range kills {
		deliverWave(wave)
		before := srv.Count(t, srv.User)
		cmd := start()
		if k%4 == 3 {
			// During start-up and the first messages.
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		} else {
			// In the middle of a pass: once part of the mailbox is
			// archived and deleted.
			threshold := before * (1 + rng.IntN(8)) / 10
			for end := time.Now().Add(20 * time.Second); srv.Count(t, srv.User) > threshold && time.Now().Before(end); {
				time.Sleep(2 * time.Millisecond)
			}
		}
		if n := srv.Count(t, srv.User); n > 0 && n < before {
			interrupted++
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		t.Logf("kill %d: %d messages left on the server", k+1, srv.Count(t, srv.User))
	}

	// A last run that is allowed to finish.
	deliverWave(len(reports))
	cmd := start()
	deadline := time.Now().Add(3 * time.Minute)
	socket := filepath.Join(dir, "archive", socketName)
	for {
		// A killed daemon leaves its socket file: wait until the new
		// one answers, so that SIGTERM finds its handler installed.
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			if srv.Count(t, srv.User) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			log, _ := os.ReadFile(logPath)
			t.Fatalf("server still holds %d messages after 3 minutes; serve log:\n%s", srv.Count(t, srv.User), tail(string(log), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("serve after SIGTERM: %v\n%s", err, tail(string(log), 4000))
	}

	if out, code := runCmd(t, "verify", "-read-data", "-config", cfg); code != 0 {
		t.Errorf("verify -read-data: exit %d:\n%s", code, tail(out, 3000))
	}
	a, err := archive.Open(filepath.Join(dir, "archive"), archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != uint64(len(want)) {
		t.Errorf("archive holds %d blobs; want %d distinct originals", st.Blobs, len(want))
	}
	blobs := 0
	filepath.WalkDir(filepath.Join(dir, "archive", "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs++
		}
		return nil
	})
	if blobs != len(want) {
		t.Errorf("%d blob files; want %d", blobs, len(want))
	}
	checked := 0
	for id, rcpts := range want {
		if checkEnvelope(t, a, id, rcpts) != nil {
			checked++
		}
	}
	t.Logf("%d kills, %d of them in the middle of a pass; %d reports delivered; %d distinct originals checked; %d blobs; stats %+v", kills, interrupted, delivered, checked, blobs, st)
}

// checkEnvelope gets the shown message of the original id (a linked
// copy's envelope is merged into its primary) and reports an error for each
// of rcpts its envelope lacks. It returns the shown record, nil when the
// original is not in the archive (an error is reported too).
func checkEnvelope(t *testing.T, a *archive.Archive, id string, rcpts map[journal.Recipient]bool) *archive.Record {
	t.Helper()
	rec, err := a.Get(id)
	if err == nil && rec.Primary != "" {
		rec, err = a.Get(rec.Primary)
	}
	if err != nil {
		t.Errorf("original %s: %v", id[:12], err)
		return nil
	}
	got := map[journal.Recipient]bool{}
	for _, r := range rec.Recipients {
		got[journal.Recipient{Addr: r.Addr, Field: r.Field, ExpandedFrom: r.ExpandedFrom, ForwardedFrom: r.ForwardedFrom}] = true
	}
	var missing []string
	for r := range rcpts {
		if !got[r] {
			missing = append(missing, r.Field+":"+r.Addr)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("original %s: envelope lacks %s", id[:12], strings.Join(missing, ", "))
	}
	return rec
}

// serveStarter returns a function that starts "jarchive serve" with cfg,
// its output appended to dir/serve.log (logPath), for tests that kill and
// restart the daemon.
func serveStarter(t *testing.T, bin, cfg, dir string) (start func() *exec.Cmd, logPath string) {
	t.Helper()
	logPath = filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	return func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "-config", cfg)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}, logPath
}
