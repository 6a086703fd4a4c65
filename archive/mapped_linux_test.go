package archive

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseMapped: after ReleaseMapped no page of meta.db is mapped in the
// process, and everything reads as before.
func TestReleaseMapped(t *testing.T) {
	a := TestArchive(t)

	var ids []string
	for i := range 300 {
		msg := fmt.Sprintf("From: a@contoso.com\r\nTo: b@contoso.com\r\nSubject: %d\r\nMessage-ID: <%d@contoso.com>\r\n\r\nbody %d\r\n", i, i, i)
		ids = append(ids, TestPut(t, a, []byte(msg), Source{Account: "x", Path: fmt.Sprint(i)}))
	}
	read := func() {
		for i, id := range ids {
			rec, err := a.Get(id)
			if err != nil {
				t.Fatalf("Get %d: %v", i, err)
			}
			if got, want := rec.Header.Subject, fmt.Sprint(i); got != want {
				t.Fatalf("record %d: subject %q; want %q", i, got, want)
			}
		}
	}
	read()
	before := mappedRSS(t, a)
	if before < 256 {
		t.Fatalf("%d KiB of meta.db mapped after reading every record; want more", before)
	}
	if err := a.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	// The transaction ReleaseMapped runs in maps its meta page again.
	if rss := mappedRSS(t, a); rss > 64 {
		t.Errorf("%d KiB of meta.db mapped after ReleaseMapped (%d before); want at most 64", rss, before)
	}
	read()
	if rss := mappedRSS(t, a); rss == 0 {
		t.Error("no page of meta.db mapped after reading again")
	}
	checkClean(t, a)
}

// mappedRSS returns the resident KiB of bbolt's mapping of meta.db.
func mappedRSS(t *testing.T, a *Archive) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	prefix := fmt.Sprintf("%08x-", a.db.Info().Data)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = strings.HasPrefix(line, prefix) // a mapping's first line
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatalf("smaps: %q", line)
			}
			return kb
		}
	}
	t.Fatalf("no mapping at %s in /proc/self/smaps", prefix)
	return 0
}
