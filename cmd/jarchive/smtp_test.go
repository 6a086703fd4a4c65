package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"jarchive/archive"
	"jarchive/config"
	"jarchive/fetch"
	"jarchive/journal"
	"jarchive/mailgen"
	"jarchive/smtpserver/postfixtest"
)

// journalAddr is the journal address the tests' [smtp] accepts.
const journalAddr = "journal@archive.test"

// smtpReports are journal reports to relay, and what the archive must end
// with: original sha256 -> envelope recipients.
type smtpReports struct {
	reports [][]byte
	want    map[string]map[journal.Recipient]bool
}

func (r *smtpReports) add(report, original []byte, rcpts []mailgen.Recipient) {
	r.reports = append(r.reports, report)
	s := sha256.Sum256(original)
	id := hex.EncodeToString(s[:])
	if r.want[id] == nil {
		r.want[id] = map[journal.Recipient]bool{}
	}
	for _, x := range rcpts {
		r.want[id][journal.Recipient{Addr: x.Addr, Field: x.Field, ExpandedFrom: x.ExpandedFrom, ForwardedFrom: x.ForwardedFrom}] = true
	}
}

// makeReports wraps the real-world corpus (when withCorpus) in journal
// reports and adds n generated ones, shuffled.
func makeReports(t *testing.T, withCorpus bool, n int, seed uint64) *smtpReports {
	t.Helper()
	r := &smtpReports{want: map[string]map[journal.Recipient]bool{}}
	date := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	if withCorpus {
		for i, m := range loadCorpus(t) {
			rc := []mailgen.Recipient{{Addr: fmt.Sprintf("user%d@contoso.com", i), Field: "to"}}
			env := mailgen.Envelope{Sender: "sender@contoso.com", MessageID: fmt.Sprintf("<smtp-%d@contoso.com>", i), Recipients: rc}
			r.add(mailgen.WrapJournal(m.data, env, date), m.data, rc)
		}
	}
	gen := mailgen.New(mailgen.Options{Seed: int64(seed)})
	for n += len(r.reports); len(r.reports) < n; {
		m := gen.Next()
		r.add(m.Report, m.Original, m.Envelope.Recipients)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	rng.Shuffle(len(r.reports), func(i, j int) { r.reports[i], r.reports[j] = r.reports[j], r.reports[i] })
	return r
}

// sendAll hands the reports to Postfix over 8 connections (Postfix syncs
// each message to its queue before it answers).
func sendAll(t *testing.T, pf *postfixtest.Server, reports [][]byte) {
	t.Helper()
	const conns = 8
	errs := make(chan error, conns)
	for c := range conns {
		se := pf.Dial(t)
		go func() {
			for i := c; i < len(reports); i += conns {
				if err := se.Send("exchange@contoso.com", []string{journalAddr}, reports[i]); err != nil {
					errs <- fmt.Errorf("postfix: report %d: %w", i, err)
					return
				}
			}
			errs <- se.Close()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// errorLines are the ERROR lines of a log.
func errorLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// writeSMTPConfig writes a configuration with only an [smtp] receiver.
func writeSMTPConfig(t *testing.T, dir string, port int, extra string) string {
	t.Helper()
	doc := fmt.Sprintf("[archive]\ndir = %q\n\n[smtp]\nlisten = \"127.0.0.1:%d\"\nhostname = \"archive.test\"\naccept_recipients = [%q]\ncommit_timeout = \"20s\"\n%s",
		filepath.Join(dir, "archive"), port, journalAddr, extra)
	path := filepath.Join(dir, "jarchive.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveInProcess runs "jarchive serve" in this process until stop.
func serveInProcess(t *testing.T, cfg string) (log *syncBuf, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuf{}
	done := make(chan int, 1)
	go func() {
		a := &app{stdout: &bytes.Buffer{}, stderr: log, logger: newLogger(log)}
		done <- run(ctx, a, []string{"serve", "-config", cfg})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve: exit %d\n%s", code, tail(log.String(), 3000))
		}
	}
	t.Cleanup(stop)
	for end := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), "smtp receiver listening"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("serve did not start its smtp receiver:\n%s", tail(log.String(), 3000))
		}
	}
	return log, stop
}

// checkArchived opens the (stopped) archive and checks that every original
// is stored exactly once with its recipients; it returns the stats.
func checkArchived(t *testing.T, dir string, want map[string]map[journal.Recipient]bool) archive.Stats {
	t.Helper()
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
	for id, rcpts := range want {
		rec := checkEnvelope(t, a, id, rcpts)
		if rec == nil {
			continue
		}
		smtpSource := false
		for _, s := range rec.Sources {
			if s.Account == "smtp" && s.MailFrom == "exchange@contoso.com" && slices.Equal(s.RcptTo, []string{journalAddr}) {
				smtpSource = true
			}
		}
		if !smtpSource {
			t.Errorf("original %s: no smtp source with the SMTP envelope in %+v", id[:12], rec.Sources)
		}
	}
	return st
}

// TestSMTPPostfix relays the real-world corpus and a few thousand generated
// journal reports through a real Postfix to serve's SMTP receiver: every
// original ends archived once with its envelope, Postfix's queue empties,
// and a second delivery of the same reports adds nothing.
//
// JARCHIVE_SMTP_MESSAGES (default 2000) sets the number of generated
// reports.
func TestSMTPPostfix(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	total := envInt("JARCHIVE_SMTP_MESSAGES", 2000)
	port := freeTCPPort(t)
	pf := postfixtest.Start(t, postfixtest.Options{RelayPort: port})
	reps := makeReports(t, true, total, 21)
	dir := t.TempDir()
	cfg := writeSMTPConfig(t, dir, port, "")

	log, stop := serveInProcess(t, cfg)
	began := time.Now()
	sendAll(t, pf, reps.reports)
	queued := time.Since(began)
	pf.WaitEmpty(t, 5*time.Minute)
	took := time.Since(began)
	stop()
	st := checkArchived(t, dir, reps.want)
	t.Logf("%d reports (%d distinct originals) relayed by postfix in %s (queued in %s): %.0f msgs/s end to end; stats %+v",
		len(reps.reports), len(reps.want), took.Round(time.Millisecond), queued.Round(time.Millisecond), float64(len(reps.reports))/took.Seconds(), st)
	if st.Copies != uint64(len(reps.reports)) {
		t.Errorf("archive counts %d copies; want %d, one per report", st.Copies, len(reps.reports))
	}
	if e := errorLines(log.String()); e != "" {
		t.Errorf("errors in the serve log:\n%s", tail(e, 3000))
	}
	if !strings.Contains(pf.Log(), "status=sent (250") {
		t.Errorf("no 250 in postfix's log")
	}

	// The same reports again: no new message. Postfix adds a new Received
	// header, so each is a new delivery of a stored message: merged.
	_, stop = serveInProcess(t, cfg)
	sendAll(t, pf, reps.reports)
	pf.WaitEmpty(t, 5*time.Minute)
	stop()
	st2 := checkArchived(t, dir, reps.want)
	if st2.Blobs != st.Blobs || st2.Messages != st.Messages || st2.Merged != st.Merged+uint64(len(reps.reports)) {
		t.Errorf("second delivery: blobs %d, messages %d, merged %d; want %d, %d (unchanged), %d",
			st2.Blobs, st2.Messages, st2.Merged, st.Blobs, st.Messages, st.Merged+uint64(len(reps.reports)))
	}
	if out, code := runCmd(t, "verify", "-read-data", "-config", cfg); code != 0 {
		t.Errorf("verify -read-data: exit %d:\n%s", code, tail(out, 3000))
	}
}

// TestSMTPKill kills serve with SIGKILL while Postfix is relaying to it,
// several times: Postfix keeps what was not acknowledged and delivers it
// after the restart; nothing is lost and nothing is duplicated.
func TestSMTPKill(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	kills := envInt("JARCHIVE_SMTP_KILLS", 4)
	port := freeTCPPort(t)
	pf := postfixtest.Start(t, postfixtest.Options{RelayPort: port})
	reps := makeReports(t, false, envInt("JARCHIVE_SMTP_KILL_MESSAGES", 800), 5)
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := writeSMTPConfig(t, dir, port, "")
	start, logPath := serveStarter(t, bin, cfg, dir)
	sendAll(t, pf, reps.reports)
	rng := rand.New(rand.NewPCG(3, 4))
	interrupted := 0
	for k := range kills {
		before := len(pf.Queue(t))
		pf.Flush(t)
		cmd := start()
		// Kill once part of the queue went over, with deliveries in flight.
		threshold := before * (5 + rng.IntN(4)) / 10
		for end := time.Now().Add(30 * time.Second); len(pf.Queue(t)) > threshold && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		left := len(pf.Queue(t))
		if left > 0 && left < before {
			interrupted++
		}
		t.Logf("kill %d: %d of %d reports still queued in postfix", k+1, left, before)
	}
	if interrupted == 0 {
		t.Errorf("no kill landed in the middle of the transfer")
	}
	cmd := start()
	pf.Flush(t)
	pf.WaitEmpty(t, 5*time.Minute)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("serve after SIGTERM: %v\n%s", err, tail(string(b), 3000))
	}
	if out, code := runCmd(t, "verify", "-read-data", "-config", cfg); code != 0 {
		t.Errorf("verify -read-data: exit %d:\n%s", code, tail(out, 3000))
	}
	st := checkArchived(t, dir, reps.want)
	if st.Copies != uint64(len(reps.reports)) {
		t.Errorf("archive counts %d copies; want %d, one per report (a retry of a committed delivery is no new copy)", st.Copies, len(reps.reports))
	}
	t.Logf("%d kills, %d in the middle of the transfer; %d reports, %d originals; stats %+v", kills, interrupted, len(reps.reports), len(reps.want), st)
}

// TestSMTPDiskFull fills the archive's file system while Postfix relays:
// Postfix gets 452 and keeps the reports, every report it no longer holds
// is archived, and once space is freed everything arrives. Linux and root
// only (it mounts a tmpfs).
func TestSMTPDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	port := freeTCPPort(t)
	pf := postfixtest.Start(t, postfixtest.Options{RelayPort: port})
	reps := makeReports(t, false, 400, 11)
	dir := t.TempDir()
	archiveDir := filepath.Join(dir, "archive")
	if err := os.MkdirAll(archiveDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", archiveDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", archiveDir).Run() })
	// The index (derived, rebuildable) lives off the full file system, so
	// that the test is about SMTP replies: on a full disk bleve's zapx can
	// panic ("assignment to entry in nil map" in invertedIndexCache) when a
	// batch is committed after its segment writes failed; index.Batch
	// turns that into an error (index.ErrPanicked), and TestDiskFull
	// keeps the index on the full disk.
	if err := os.Symlink(t.TempDir(), filepath.Join(archiveDir, "index")); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(archiveDir, "filler")
	if err := os.WriteFile(filler, make([]byte, 7<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeSMTPConfig(t, dir, port, "")
	old := storageProbeInterval
	storageProbeInterval = 100 * time.Millisecond
	defer func() { storageProbeInterval = old }()

	log, stop := serveInProcess(t, cfg)
	sendAll(t, pf, reps.reports)
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(pf.Log(), " 452 4.3.1 ") {
		if time.Now().After(deadline) {
			t.Fatalf("postfix never got a 452; serve log:\n%s\npostfix log:\n%s", tail(log.String(), 2000), tail(pf.Log(), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Paused: every report Postfix handed over (its log says status=sent,
	// which it writes after jarchive's 250) is in the archive. The log is
	// read before the archive is counted, so deliveries still going on
	// can only make the archive count larger. (Adding up the archive and
	// "postqueue -j" races Postfix: showq reads the queue directories one
	// after another and misses a message that qmgr moves from deferred to
	// active between the two reads.)
	time.Sleep(time.Second)
	acked := strings.Count(pf.Log(), " status=sent ")
	copies, _ := archivedCopies(t, cfg)
	queued := len(pf.Queue(t))
	t.Logf("disk full: %d reports acknowledged by jarchive, %d archived, %d queued in postfix, %d sent", acked, copies, queued, len(reps.reports))
	if queued == 0 {
		t.Fatalf("postfix's queue is empty although the archive is full")
	}
	if copies < acked {
		t.Fatalf("%d archived < %d acknowledged: acknowledged reports are missing", copies, acked)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	pf.WaitEmpty(t, 3*time.Minute)
	stop()
	st := checkArchived(t, dir, reps.want)
	if st.Copies != uint64(len(reps.reports)) {
		t.Errorf("archive counts %d copies; want %d, one per report", st.Copies, len(reps.reports))
	}
	t.Logf("after freeing space: stats %+v", st)
}

// archivedCopies is the archive's copies count from "jarchive stats".
func archivedCopies(t *testing.T, cfg string) (int, bool) {
	out, code := runCmd(t, "stats", "-json", "-config", cfg)
	if code != 0 {
		return -1, false
	}
	var s statsOutput
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return -1, false
	}
	return int(s.Copies), true
}

// TestSMTPEnvelopeMode: envelope = "smtp" takes the recipients and the
// sender from the SMTP envelope; other modes ignore it.
func TestSMTPEnvelopeMode(t *testing.T) {
	const msg = "From: Anna <anna@contoso.com>\r\nTo: list@contoso.com\r\nSubject: x\r\nMessage-ID: <e@contoso.com>\r\n\r\nbody\r\n"
	f, err := os.CreateTemp(t.TempDir(), "m")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(msg)
	for _, tc := range []struct {
		name       string
		mode       config.EnvelopeMode
		from       string
		rcpts      []string
		wantRcpts  []journal.Recipient
		wantSender string
		wantOBO    string
	}{
		{"smtp", config.EnvelopeMode{Kind: config.EnvelopeSMTP}, "bounce@lists.contoso.com", []string{"bob@contoso.com", "carl@contoso.com"},
			[]journal.Recipient{{Addr: "bob@contoso.com", Field: "smtp"}, {Addr: "carl@contoso.com", Field: "smtp"}}, "bounce@lists.contoso.com", "anna@contoso.com"},
		{"smtp, same sender", config.EnvelopeMode{Kind: config.EnvelopeSMTP}, "Anna@contoso.com", []string{"bob@contoso.com"},
			[]journal.Recipient{{Addr: "bob@contoso.com", Field: "smtp"}}, "Anna@contoso.com", ""},
		{"smtp, null sender", config.EnvelopeMode{Kind: config.EnvelopeSMTP}, "", []string{"bob@contoso.com"},
			[]journal.Recipient{{Addr: "bob@contoso.com", Field: "smtp"}}, "anna@contoso.com", ""},
		{"off ignores the SMTP envelope", config.EnvelopeMode{Kind: config.EnvelopeOff}, "x@y.com", []string{"bob@contoso.com"},
			[]journal.Recipient{{Addr: "list@contoso.com", Field: "to"}}, "anna@contoso.com", ""},
	} {
		m := &fetch.Message{Account: "smtp", Body: f, Size: int64(len(msg)), MailFrom: tc.from, RcptTo: tc.rcpts}
		env := parseEnvelope(m, tc.mode)
		if !slices.Equal(env.Recipients, tc.wantRcpts) || env.Sender != tc.wantSender || env.OnBehalfOf != tc.wantOBO {
			t.Errorf("%s: got recipients %v, sender %q, on behalf of %q; want %v, %q, %q",
				tc.name, env.Recipients, env.Sender, env.OnBehalfOf, tc.wantRcpts, tc.wantSender, tc.wantOBO)
		}
		if env.Mode != tc.mode {
			t.Errorf("%s: mode %v; want %v", tc.name, env.Mode, tc.mode)
		}
	}
}

// TestSMTPThroughput measures serve's SMTP receiver with a Go client over 1
// and 10 connections, delivering generated journal reports straight to it
// (no relay), and "jarchive import" of the same reports for comparison.
// It runs only with JARCHIVE_SMTP_BENCH=N (N reports per run), e.g.
//
//	JARCHIVE_SMTP_BENCH=2000 go test -run SMTPThroughput -v ./cmd/jarchive
func TestSMTPThroughput(t *testing.T) {
	n := envInt("JARCHIVE_SMTP_BENCH", 0)
	if n == 0 {
		t.Skip("set JARCHIVE_SMTP_BENCH=N to measure")
	}
	for _, conns := range []int{1, 10} {
		reps := makeReports(t, false, n, uint64(100+conns))
		dir := t.TempDir()
		port := freeTCPPort(t)
		cfg := writeSMTPConfig(t, dir, port, "")
		_, stop := serveInProcess(t, cfg)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		began := time.Now()
		errs := make(chan error, conns)
		for c := range conns {
			go func() {
				cl, err := gosmtp.Dial(addr)
				if err != nil {
					errs <- err
					return
				}
				defer cl.Close()
				for i := c; i < len(reps.reports); i += conns {
					if err := cl.SendMail("exchange@contoso.com", []string{journalAddr}, bytes.NewReader(reps.reports[i])); err != nil {
						errs <- fmt.Errorf("report %d: %w", i, err)
						return
					}
				}
				errs <- cl.Quit()
			}()
		}
		for range conns {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		took := time.Since(began)
		stop()
		t.Logf("smtp, %d connection(s): %d reports in %s: %.0f msgs/s", conns, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	}
	// import of the same kind of reports, as .eml files.
	reps := makeReports(t, false, n, 999)
	dir := t.TempDir()
	emls := filepath.Join(dir, "eml")
	if err := os.Mkdir(emls, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, r := range reps.reports {
		if err := os.WriteFile(filepath.Join(emls, fmt.Sprintf("%05d.eml", i)), r, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeSMTPConfig(t, dir, freeTCPPort(t), "")
	began := time.Now()
	if out, code := runCmd(t, "import", "-config", cfg, emls); code != 0 {
		t.Fatalf("import: exit %d: %s", code, tail(out, 2000))
	}
	took := time.Since(began)
	t.Logf("import: %d reports in %s: %.0f msgs/s", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
}

// TestSMTPServe runs serve with an [smtp] receiver and an [http] listener:
// a refused recipient gets 550, an oversize message 552, a report 250, it
// is archived with its SMTP envelope, and /metrics counts all of it.
func TestSMTPServe(t *testing.T) {
	dir := t.TempDir()
	port, httpPort := freeTCPPort(t), freeTCPPort(t)
	cfg := writeSMTPConfig(t, dir, port, fmt.Sprintf("max_message_size = \"100KB\"\n\n[http]\nlisten = \"127.0.0.1:%d\"\n", httpPort))
	_, stop := serveInProcess(t, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	reps := makeReports(t, false, 1, 77)
	send := func(from string, to []string, msg []byte) error {
		c, err := gosmtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.SendMail(from, to, bytes.NewReader(msg))
	}
	var se *gosmtp.SMTPError
	if err := send("a@contoso.com", []string{"ceo@contoso.com"}, reps.reports[0]); !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("recipient outside accept_recipients: got %v; want 550", err)
	}
	big := append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdef\r\n"), 10000)...)
	if err := send("a@contoso.com", []string{journalAddr}, big); !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("oversize message: got %v; want 552", err)
	}
	if err := send("exchange@contoso.com", []string{journalAddr}, reps.reports[0]); err != nil {
		t.Fatalf("report: %v", err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"jarchive_smtp_messages_total 1\n",
		`jarchive_smtp_rejected_total{reason="recipient"} 1` + "\n",
		`jarchive_smtp_rejected_total{reason="size"} 1` + "\n",
		"jarchive_smtp_commit_seconds_count 1\n",
		`jarchive_fetch_messages_total{account="smtp"} 1` + "\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	stop()
	checkArchived(t, dir, reps.want)
}
