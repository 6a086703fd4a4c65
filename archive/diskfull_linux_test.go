package archive

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestDiskFull stores messages into a 4 MiB tmpfs until it is full: Put
// fails with ErrStorage, every acknowledged message is intact, Probe fails
// until space is freed, and then storing works again. Linux, as root.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	a := TestOpen(t, filepath.Join(mnt, "archive"), Options{})

	// Incompressible messages of about 48 KiB, from 4 goroutines, until
	// each has seen the disk full.
	message := func(tag string) []byte {
		b := make([]byte, 36<<10)
		rand.Read(b)
		return []byte(strings.Replace(original, "hello", tag+"\r\n"+base64.StdEncoding.EncodeToString(b), 1))
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; i < 500; i++ {
				id, _, err := a.Put(context.Background(), incoming(message(fmt.Sprintf("%d/%d", g, i)), Source{Account: "full", Path: fmt.Sprintf("%d/%d", g, i)}))
				if err != nil {
					if !errors.Is(err, ErrStorage) {
						t.Errorf("Put = %v; want ErrStorage", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
			t.Errorf("goroutine %d: 500 Puts into 4 MiB and no ErrStorage", g)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d messages stored before the disk was full", len(acked))
	if err := a.Probe(); !errors.Is(err, ErrStorage) {
		t.Errorf("Probe on a full disk = %v; want ErrStorage", err)
	}
	check := func() {
		t.Helper()
		for _, id := range acked {
			if b := readAll(t, a, id); hexSum(b) != id {
				t.Fatalf("acknowledged message %s reads back wrong", id[:12])
			}
		}
	}
	check()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := a.Probe(); err != nil {
		t.Fatalf("Probe after freeing space = %v; want nil", err)
	}
	id := TestPut(t, a, message("after"), Source{Account: "full", Path: "after"})
	acked = append(acked, id)
	check()
	checkClean(t, a)
	if s := stats(t, a); s.Messages != uint64(len(acked)) {
		t.Errorf("stats: %d messages; want the %d acknowledged", s.Messages, len(acked))
	}

	// And after a restart.
	dir := a.Dir()
	a.Close()
	a = TestOpen(t, dir, Options{})
	check()
	checkClean(t, a)
}
