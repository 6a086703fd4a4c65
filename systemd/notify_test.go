package systemd

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen makes a fake $NOTIFY_SOCKET and returns a function that reads the
// next datagram. Datagrams are read as they come, so that a sender never
// finds the socket's queue full.
func listen(t *testing.T) (next func() string, ch <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	c := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(c)
				return
			}
			c <- string(buf[:n])
		}
	}()
	return func() string {
		t.Helper()
		select {
		case s, ok := <-c:
			if !ok {
				t.Fatal("notify socket closed")
			}
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("nothing on the notify socket for 5s")
		}
		return ""
	}, c
}

func TestNotify(t *testing.T) {
	next, _ := listen(t)
	if err := Notify(Ready); err != nil {
		t.Fatalf("Notify = %v; want nil", err)
	}
	if got := next(); got != Ready {
		t.Errorf("got %q; want %q", got, Ready)
	}
	if err := Notify(Ready, Status("archiving\nfrom 2 accounts")); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "READY=1\nSTATUS=archiving from 2 accounts"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := "jarchive-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@" + name, Net: "unixgram"})
	if err != nil {
		t.Skipf("abstract sockets: %v", err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", "@"+name)
	if err := Notify(Stopping); err != nil {
		t.Fatalf("Notify = %v; want nil", err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != Stopping {
		t.Errorf("read %q, %v; want %q", buf[:n], err, Stopping)
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify(Ready); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v; want nil", err)
	}
}

func TestNotifyNoListener(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	if err := Notify(Ready); err == nil || !strings.HasPrefix(err.Error(), "systemd notify: ") {
		t.Errorf("Notify to a missing socket = %v; want a systemd notify error", err)
	}
}

func TestReload(t *testing.T) {
	before, ok := monotonicUsec()
	if !ok {
		t.Skip("no CLOCK_MONOTONIC")
	}
	states := Reload()
	after, _ := monotonicUsec()
	if len(states) != 2 || states[0] != Reloading || !strings.HasPrefix(states[1], "MONOTONIC_USEC=") {
		t.Fatalf("Reload() = %q; want RELOADING=1 and MONOTONIC_USEC=", states)
	}
	usec, err := strconv.ParseUint(strings.TrimPrefix(states[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d (%v); want between %d and %d", usec, err, before, after)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"0", "", 0, false},
		{"junk", "", 0, false},
		{"4000000", "", 2 * time.Second, true},
		{"4000000", strconv.Itoa(os.Getpid()), 2 * time.Second, true},
		{"4000000", "1", 0, false},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, ok := WatchdogInterval()
		if got != tc.want || ok != tc.ok {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: WatchdogInterval() = %v, %v; want %v, %v", tc.usec, tc.pid, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRunWatchdog: pings come at the interval while healthy, stop while the
// check fails, and each change of the result is reported once (the first
// success is not a change).
func TestRunWatchdog(t *testing.T) {
	next, ch := listen(t)
	var sick atomic.Bool
	var reports []string
	reported := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWatchdog(ctx, 50*time.Millisecond, func() error {
			if sick.Load() {
				return errors.New("archive does not answer")
			}
			return nil
		}, func(err error) {
			reports = append(reports, errString(err))
			reported <- struct{}{}
		})
	}()
	start := time.Now()
	for range 3 {
		if got := next(); got != Watchdog {
			t.Fatalf("got %q; want %q", got, Watchdog)
		}
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("3 pings in %v; want one per 50ms", d)
	}
	sick.Store(true)
	<-reported
	for len(ch) > 0 {
		<-ch
	}
	select {
	case s := <-ch:
		t.Errorf("got %q while the check fails; want nothing", s)
	case <-time.After(200 * time.Millisecond):
	}
	sick.Store(false)
	<-reported
	cancel()
	<-done
	if want := []string{"archive does not answer", ""}; strings.Join(reports, "|") != strings.Join(want, "|") {
		t.Errorf("reports %q; want %q", reports, want)
	}
}

func TestUnit(t *testing.T) {
	for _, want := range []string{
		"Type=notify\n", "ExecStart=/usr/local/bin/jarchive serve", "ExecReload=/bin/kill -HUP $MAINPID",
		"User=jarchive", "StateDirectory=jarchive", "ConfigurationDirectory=jarchive", "WatchdogSec=",
		"Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"PrivateDevices=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
	} {
		if !strings.Contains(Unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// TestUnitVerify runs systemd-analyze verify on the unit, with ExecStart
// pointing at an existing program (verify checks that it exists). Any
// output is a problem: verify exits 0 on unknown keys and bad values.
func TestUnitVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found")
		}
		t.Skip("systemd-analyze not found")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "jarchive.service")
	unit := strings.Replace(Unit, "ExecStart=/usr/local/bin/jarchive ", "ExecStart="+exe+" ", 1)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score, for the log (it needs no running systemd with
	// --offline, systemd 252 and later).
	out, err = exec.Command(sa, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline=true: %v", err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	t.Log(last)
	if i := strings.Index(last, ": "); i > 0 {
		if f := strings.Fields(last[i+2:]); len(f) > 0 {
			if score, err := strconv.ParseFloat(f[0], 64); err == nil && score >= 2.0 {
				t.Errorf("exposure %.1f; want under 2.0:\n%s", score, out)
			}
		}
	}
}
