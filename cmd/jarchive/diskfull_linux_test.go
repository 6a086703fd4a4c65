package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"jarchive/fetch/dovecottest"
	"jarchive/mailgen"
)

// TestDiskFull runs serve with its archive on a small tmpfs that fills up:
// fetching pauses on the account, nothing that is not archived is deleted
// on the server, and once space is freed everything is archived. Linux and
// root only (it mounts a tmpfs).
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	srv := dovecottest.Start(t, dovecottest.Options{})
	gen := mailgen.New(mailgen.Options{Seed: 11})
	delivered := 0
	for range 400 {
		m := gen.Next()
		if m.Duplicate {
			continue
		}
		srv.Deliver(t, srv.User, m.Report)
		delivered++
	}

	dir := t.TempDir()
	archiveDir := filepath.Join(dir, "archive")
	if err := os.MkdirAll(archiveDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", archiveDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", archiveDir).Run() })
	// A filler leaves room for the index and a part of the mail only.
	filler := filepath.Join(archiveDir, "filler")
	if err := os.WriteFile(filler, make([]byte, 7<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, testAccount{name: "journal", security: "starttls", caFile: srv.CAFile, user: srv.User, password: srv.Password, port: srv.IMAPPort})

	old := storageProbeInterval
	storageProbeInterval = 100 * time.Millisecond
	defer func() { storageProbeInterval = old }()
	ctx, cancel := context.WithCancel(context.Background())
	var serveErr syncBuf
	done := make(chan int)
	go func() {
		a := &app{stdout: &bytes.Buffer{}, stderr: &serveErr, logger: newLogger(&serveErr)}
		done <- run(ctx, a, []string{"serve", "-config", cfg})
	}()
	defer func() {
		cancel()
		<-done
	}()

	copies := func() int {
		out, code := runCmd(t, "stats", "-json", "-config", cfg)
		if code != 0 {
			return -1
		}
		var s statsOutput
		if json.Unmarshal([]byte(out), &s) != nil {
			return -1
		}
		return int(s.Copies)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(serveErr.String(), "fetching is paused") {
		if time.Now().After(deadline) {
			t.Fatalf("the archive never filled up; log:\n%s", tail(serveErr.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Paused: every message gone from the server is in the archive.
	time.Sleep(500 * time.Millisecond)
	left, archived := srv.Count(t, srv.User), copies()
	t.Logf("paused with %d messages archived, %d on the server, %d delivered", archived, left, delivered)
	if archived < 0 || archived+left < delivered {
		t.Fatalf("%d archived + %d on the server < %d delivered: messages were deleted unarchived", archived, left, delivered)
	}
	if left == 0 {
		t.Fatalf("the server is empty although the archive is full")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(90 * time.Second)
	for srv.Count(t, srv.User) > 0 || copies() != delivered {
		if time.Now().After(deadline) {
			t.Fatalf("after freeing space: %d on the server, %d archived of %d; log:\n%s", srv.Count(t, srv.User), copies(), delivered, tail(serveErr.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(serveErr.String(), "fetching resumes") {
		t.Errorf("no resume line in the log")
	}
	var st syscall.Statfs_t
	if syscall.Statfs(archiveDir, &st) == nil {
		t.Logf("archive tmpfs: %d of %d KiB free at the end", st.Bavail*uint64(st.Bsize)/1024, st.Blocks*uint64(st.Bsize)/1024)
	}
}
