// Package systemd tells the service manager about the daemon's state
// (sd_notify(3): READY=1, RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1)
// without a dependency, and ships jarchive's hardened unit file.
//
// Every function does nothing when the process was not started by systemd
// ($NOTIFY_SOCKET unset), so the daemon calls them unconditionally.
package systemd

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Unit is the systemd unit file for jarchive serve.
//
//go:embed jarchive.service
var Unit string

// The states jarchive sends. Reloading is sent with Reload, which adds the
// MONOTONIC_USEC field systemd asks for.
const (
	Ready     = "READY=1"     // start-up or a reload is complete
	Reloading = "RELOADING=1" // a reload of the configuration begins
	Stopping  = "STOPPING=1"  // a shutdown begins
	Watchdog  = "WATCHDOG=1"  // the daemon is alive (see RunWatchdog)
)

// Notify sends states, one per line, to $NOTIFY_SOCKET in one datagram.
// Without that variable (not started by systemd) it does nothing and returns
// nil.
func Notify(states ...string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" || len(states) == 0 {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("systemd notify: %w", err)
	}
	defer conn.Close()
	// A service manager that does not read must not stop the daemon.
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err = conn.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("systemd notify: %w", err)
	}
	return nil
}

// Status is the STATUS= state: a one-line text "systemctl status" shows.
// Line ends in text are replaced by spaces.
func Status(text string) string {
	return "STATUS=" + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(text)
}

// Reload returns the states that announce a reload: RELOADING=1 and
// MONOTONIC_USEC= (CLOCK_MONOTONIC now, in microseconds), which
// Type=notify-reload requires and Type=notify accepts. Send Ready when
// the reload is done, whether it worked or not.
func Reload() []string {
	states := []string{Reloading}
	if usec, ok := monotonicUsec(); ok {
		states = append(states, "MONOTONIC_USEC="+strconv.FormatUint(usec, 10))
	}
	return states
}

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC (the unit's WatchdogSec), as sd_watchdog_enabled(3)
// recommends. ok is false when systemd expects no pings from this process
// (no watchdog, or $WATCHDOG_PID names another process).
func WatchdogInterval() (every time.Duration, ok bool) {
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return 0, false
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}

// RunWatchdog sends WATCHDOG=1 every interval until ctx ends, but only when
// healthy (if not nil) returns nil: a daemon that hangs stops pinging and
// systemd restarts it. The error of a failed check or send is passed to
// report (if not nil) once per change, so a log is not flooded.
func RunWatchdog(ctx context.Context, every time.Duration, healthy func() error, report func(error)) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last string
	for {
		var err error
		if healthy != nil {
			err = healthy()
		}
		if err == nil {
			err = Notify(Watchdog)
		}
		if msg := errString(err); msg != last && report != nil {
			report(err)
			last = msg
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
