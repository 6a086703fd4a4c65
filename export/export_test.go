package export

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"jarchive/archive"
)

func seq(ids []string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, id := range ids {
			if !yield(id, nil) {
				return
			}
		}
	}
}

// edgeMessages are the mbox edge cases: From_ lines in bodies (quoted and
// not), no final newline, CRLF, a line of only ">From".
var edgeMessages = []string{
	"From: a@example.com\nSubject: one\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\nFrom here on\n>From quoted\n>>From twice\n\nFrom the start of a paragraph\n",
	"From: b@example.com\r\nSubject: crlf\r\n\r\nbody\r\nFrom crlf body\r\n\r\n",
	"From: c@example.com\nSubject: no final newline\n\nlast line",
	"From: d@example.com\nSubject: ends blank\n\nbody\n\n\n",
	"From: e@example.com\nSubject: from at end\n\n>From",
}

func putAll(t *testing.T, a *archive.Archive, msgs []string) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = archive.TestPut(t, a, []byte(m), archive.Source{Account: "import", Path: fmt.Sprintf("m%d.eml", i)})
	}
	return ids
}

func TestExportFormats(t *testing.T) {
	a := archive.TestArchive(t)
	ids := putAll(t, a, edgeMessages)
	for _, format := range []string{FormatMbox, FormatEMLZip, FormatMaildir} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x")
			sum, err := Export(context.Background(), a, seq(ids), out, Options{Format: format, Query: "", By: "tester"})
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			if sum.Count != len(ids) || sum.LogSeq == 0 {
				t.Fatalf("Summary = %+v; want %d messages and a log entry", sum, len(ids))
			}
			rep, err := Verify(out)
			if err != nil || !rep.Clean() || rep.Count != len(ids) {
				t.Fatalf("Verify = %+v, %v; want clean with %d messages", rep, err, len(ids))
			}
			if rep.ManifestSHA256 != sum.ManifestSHA256 {
				t.Fatalf("Verify's manifest digest %s; Export's %s", rep.ManifestSHA256, sum.ManifestSHA256)
			}
			evs, _ := a.Events("export")
			if len(evs) == 0 || !strings.Contains(string(evs[len(evs)-1].Data), sum.ManifestSHA256) {
				t.Fatalf("the archive's log does not record the manifest digest: %+v", evs)
			}
			if format == FormatMbox {
				b, _ := os.ReadFile(filepath.Join(out, MboxFile))
				for _, want := range []string{"\n>From here on\n", "\n>>From quoted\n", "\n>>>From twice\n", "\r\n>From crlf body\r\n", "\n\n>From\n\n"} {
					if !strings.Contains(string(b), want) {
						t.Errorf("mbox lacks %q", want)
					}
				}
			}
			// A flipped byte is reported with its file name.
			var victim string
			switch format {
			case FormatMbox:
				victim = MboxFile
			case FormatEMLZip:
				victim = ZipFile
			case FormatMaildir:
				ents, _ := os.ReadDir(filepath.Join(out, MaildirDir, "cur"))
				victim = MaildirDir + "/cur/" + ents[0].Name()
			}
			p := filepath.Join(out, filepath.FromSlash(victim))
			b, _ := os.ReadFile(p)
			i := strings.Index(string(b), "body")
			if i < 0 {
				i = len(b) / 2
			}
			b[i] ^= 0x20
			os.Chmod(p, 0o640)
			if err := os.WriteFile(p, b, 0o640); err != nil {
				t.Fatal(err)
			}
			rep, err = Verify(out)
			if err != nil || rep.Clean() {
				t.Fatalf("Verify after a flipped byte = %+v, %v; want problems", rep, err)
			}
			for _, pr := range rep.Problems {
				if !strings.HasPrefix(pr.File, victim) {
					t.Errorf("problem %v; want it in %s", pr, victim)
				}
			}
		})
	}
}

func TestExportRefusesExisting(t *testing.T) {
	a := archive.TestArchive(t)
	out := t.TempDir()
	if _, err := Export(context.Background(), a, seq(nil), out, Options{Format: FormatMbox}); err == nil {
		t.Fatalf("Export to an existing directory = nil; want an error")
	}
}

func TestExportInterrupted(t *testing.T) {
	a := archive.TestArchive(t)
	ids := putAll(t, a, edgeMessages)
	ctx, cancel := context.WithCancel(context.Background())
	out := filepath.Join(t.TempDir(), "x")
	_, err := Export(ctx, a, seq(ids), out, Options{Format: FormatMaildir, Progress: func(n int, _ int64) {
		if n == 2 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatalf("cancelled Export = nil; want an error")
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 0 {
		t.Fatalf("an interrupted export left %v", ents)
	}
}

// TestExportMemory exports more than the heap budget and checks that the
// heap in use stays under it.
func TestExportMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const (
		n      = 36
		size   = 1 << 20
		budget = 16 << 20
	)
	a := archive.TestArchive(t)
	ids := make([]string, n)
	raw := make([]byte, size*3/4)
	for i := range ids {
		rand.Read(raw)
		msg := fmt.Sprintf("From: x@example.com\nSubject: big %d\n\n", i) + base64.StdEncoding.EncodeToString(raw) + "\n"
		ids[i] = archive.TestPut(t, a, []byte(msg), archive.Source{Account: "import", Path: fmt.Sprintf("m%d", i)})
	}
	// What the process holds before an export (the archive's zstd
	// encoders, kept for the next message to store, a few MiB each) is
	// not the export's.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	base := before.HeapInuse
	// The Go runtime keeps the heap under the limit if the export's live
	// data fits; garbage alone cannot push HeapInuse past it.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(base) + budget*3/4))
	for _, format := range []string{FormatMbox, FormatEMLZip, FormatMaildir} {
		runtime.GC()
		var peak uint64
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				mu.Lock()
				peak = max(peak, ms.HeapInuse)
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		out := filepath.Join(t.TempDir(), "x")
		sum, err := Export(context.Background(), a, seq(ids), out, Options{Format: format})
		close(stop)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if sum.Bytes < 2*budget {
			t.Fatalf("exported %d bytes; the test needs more than twice the budget", sum.Bytes)
		}
		peak -= min(peak, base)
		t.Logf("%s: %d MB exported, peak heap in use %d MB above the %d MB before, %.0f MB/s", format, sum.Bytes>>20, peak>>20, base>>20, float64(sum.Bytes)/(1<<20)/sum.Elapsed.Seconds())
		if peak > budget {
			t.Errorf("%s: peak heap in use %d MB above the start; budget %d MB", format, peak>>20, budget>>20)
		}
	}
}
