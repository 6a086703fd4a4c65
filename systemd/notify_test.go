package systemd

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := Notify(Ready); err != nil {
		t.Fatalf("Notify = %v; want nil", err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != Ready {
		t.Errorf("got %q; want %q", got, Ready)
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify(Ready); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v; want nil", err)
	}
}

func TestUnit(t *testing.T) {
	for _, want := range []string{"Type=notify", "ExecStart=/usr/local/bin/jarchive serve", "NoNewPrivileges=yes"} {
		if !strings.Contains(Unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}
