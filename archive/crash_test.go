package archive

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashSafety kills a process that stores messages as fast as it can
// (SIGKILL, at random moments) again and again, reopens the archive each
// time, and checks that every message whose Put returned is there, intact,
// and that Verify finds nothing (an unfinished commit leaves no orphan).
// SIGKILL keeps what the kernel has buffered: this checks the protocol's
// ordering and recovery, not the disk's fsync; the whole-system crash test
// with Dovecot is in cmd/jarchive.
//
// Iterations: 6 with -short, 20 otherwise, or $JARCHIVE_CRASH_ITERATIONS;
// they alternate between a plain and an encrypted archive.
func TestCrashSafety(t *testing.T) {
	if os.Getenv("JARCHIVE_CRASH_HELPER") != "" {
		t.Skip("in the helper process")
	}
	n := 20
	if testing.Short() {
		n = 6
	}
	if s := os.Getenv("JARCHIVE_CRASH_ITERATIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("JARCHIVE_CRASH_ITERATIONS: %v", err)
		}
	}
	// Two archives take turns: a plain one and an encrypted one.
	dirs := []string{t.TempDir(), t.TempDir()}
	opts := []Options{{Timeout: 10 * time.Second}, {Timeout: 10 * time.Second, Key: []byte(crashKey)}}
	ackedIn := []map[string]bool{{}, {}}
	kills := 0
	for i := range n {
		dir, acked := dirs[i%2], ackedIn[i%2]
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "JARCHIVE_CRASH_HELPER="+dir, fmt.Sprintf("JARCHIVE_CRASH_SEED=%d", i), fmt.Sprintf("JARCHIVE_CRASH_ENCRYPTED=%d", i%2))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var ids []string
		ready := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			once := sync.OnceFunc(func() { close(ready) })
			for sc.Scan() {
				line := sc.Text()
				if line == "ready" {
					once()
				}
				if id, ok := strings.CutPrefix(line, "ack "); ok {
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
			}
			once()
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("helper not ready after 30 s: %s", stderr.String())
		}
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill: %v", err)
		}
		<-done
		cmd.Wait()
		kills++
		for _, id := range ids {
			acked[id] = true
		}

		a, err := Open(dir, opts[i%2])
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", kills, err)
		}
		for id := range acked {
			if _, err := a.Get(id); err != nil {
				t.Errorf("kill %d: acknowledged message %s: %v", kills, id[:12], err)
				continue
			}
			rc, err := a.Open(id)
			if err != nil {
				t.Errorf("kill %d: acknowledged message %s: %v", kills, id[:12], err)
				continue
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || hexSum(b) != id {
				t.Errorf("kill %d: acknowledged message %s reads back wrong", kills, id[:12])
			}
		}
		rep, err := a.Verify(context.Background(), VerifyOptions{ReadData: true})
		if err != nil {
			t.Fatalf("kill %d: Verify: %v", kills, err)
		}
		for _, p := range rep.Problems {
			t.Errorf("kill %d: Verify: %v", kills, &p)
		}
		s, _ := a.Stats()
		a.Close()
		if t.Failed() {
			t.Fatalf("after kill %d (%d acknowledged this round): stats %+v", kills, len(ids), s)
		}
		if i == n-1 {
			t.Logf("%d kills (half of them encrypted); %d acknowledged messages checked; last archive: %d blobs, %d copies, %d log entries; verify -read-data clean after each",
				kills, len(ackedIn[0])+len(ackedIn[1]), s.Blobs, s.Copies, s.LastSeq)
		}
	}
}

const crashKey = "0123456789abcdef0123456789abcdef" // 32 bytes: a raw key

// TestCrashHelper is the process TestCrashSafety kills: it stores new,
// repeated and forked messages from 8 goroutines until it is killed, and
// prints "ack ID" for each Put that returned.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("JARCHIVE_CRASH_HELPER")
	if dir == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	seed, _ := strconv.Atoi(os.Getenv("JARCHIVE_CRASH_SEED"))
	opts := Options{Timeout: 10 * time.Second}
	if os.Getenv("JARCHIVE_CRASH_ENCRYPTED") == "1" {
		opts.Key = []byte(crashKey)
	}
	a, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	say := func(s string) {
		mu.Lock()
		w.WriteString(s + "\n")
		w.Flush()
		mu.Unlock()
	}
	say("ready")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				var in *Incoming
				src := Source{Account: fmt.Sprintf("crash%d", g), Mailbox: "INBOX", UIDValidity: uint32(seed + 1), UID: uint32(i + 1)}
				switch {
				case i%5 == 4: // one of a few messages, again and again
					in = incoming([]byte(strings.Replace(original, "hello", fmt.Sprintf("repeated %d", i%3), 1)), src)
				case i%7 == 6: // a fork of one of a few messages
					msg := fmt.Sprintf("Received: from host%d.%d.%d\r\n%s", seed, g, i, strings.Replace(original, "hello", fmt.Sprintf("forked %d", i%4), 1))
					in = withExt(incoming(report(msg, fmt.Sprintf("To: u%d@contoso.com\r\n", i)), src), fmt.Sprintf("%064x", i%4), nil)
				default:
					body := strings.Repeat(fmt.Sprintf("line %d of message %d/%d/%d\r\n", i, seed, g, i), 1+i%50)
					in = incoming([]byte(strings.Replace(original, "hello", body, 1)), src)
				}
				id, _, err := a.Put(context.Background(), in)
				if err != nil {
					t.Error(err)
					return
				}
				say("ack " + id)
			}
		})
	}
	wg.Wait()
}
