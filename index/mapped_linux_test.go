package index

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseMapped: after ReleaseMapped no page of a segment file is mapped
// in the process, and searches find what they found before.
func TestReleaseMapped(t *testing.T) {
	ix, _ := newTestIndex(t, 5000)
	dir := ix.dir
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the index has only persisted segments, mapped from files.
	ix, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	search := func() {
		t.Helper()
		for _, q := range []string{"common", "third", "from:user3@contoso.com", "message"} {
			res, err := ix.Search(t.Context(), Query{Text: q, Scope: all, Limit: MaxLimit})
			if err != nil {
				t.Fatalf("Search(%q) = %v", q, err)
			}
			if res.Total == 0 {
				t.Fatalf("Search(%q) found nothing", q)
			}
		}
		if n, err := ix.Count(); err != nil || n != 5000 {
			t.Fatalf("Count = %d, %v; want 5000", n, err)
		}
	}
	search()
	before := segmentRSS(t, dir)
	if before < 256 {
		t.Fatalf("%d KiB of segment files mapped after searching; want more", before)
	}
	if err := ix.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	after := segmentRSS(t, dir)
	t.Logf("segment files: %d KiB mapped before ReleaseMapped, %d after", before, after)
	if rss := after; rss > 64 {
		t.Errorf("%d KiB of segment files mapped after ReleaseMapped (%d before); want at most 64", rss, before)
	}
	search()
	if rss := segmentRSS(t, dir); rss == 0 {
		t.Error("no page of a segment file mapped after searching again")
	}
}

// segmentRSS returns the resident KiB of the mappings of .zap files under
// dir.
func segmentRSS(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	total, mappings, in := 0, 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// A mapping's first line: address range, perms, offset, dev, inode, path.
			path := fields[len(fields)-1]
			in = strings.HasPrefix(path, dir) && strings.HasSuffix(path, ".zap")
			if in {
				mappings++
			}
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q", line)
			}
			total += kb
		}
	}
	if mappings == 0 {
		t.Fatalf("no segment file of %s mapped", dir)
	}
	return total
}
