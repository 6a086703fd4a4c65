// Package systemd tells the service manager about the daemon's state
// (sd_notify: READY=1, STOPPING=1, WATCHDOG=1) without a dependency, and
// ships jarchive's hardened unit file.
package systemd

import (
	_ "embed"
	"net"
	"os"
)

// Unit is the systemd unit file for jarchive serve.
//
//go:embed jarchive.service
var Unit string

// Notify sends state to $NOTIFY_SOCKET. Without that variable (not started
// by systemd) it does nothing and returns nil.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// Ready, Stopping and Watchdog are the states jarchive sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)
