package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"jarchive/config"
	"jarchive/journal"
	"jarchive/testcorpus"
)

// prefixed is a message with a unique header line in front, without
// copying it.
type prefixed struct {
	head, msg []byte
}

func (p *prefixed) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(p.head)) {
		n = copy(b, p.head[off:])
	}
	if n < len(b) {
		rest := off + int64(n) - int64(len(p.head))
		if rest >= int64(len(p.msg)) {
			return n, io.EOF
		}
		m := copy(b[n:], p.msg[rest:])
		n += m
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

type corpusMsg struct {
	data []byte
	env  *journal.Envelope
}

func loadCorpus(b *testing.B) []corpusMsg {
	dir := testcorpus.Dir(b, "real")
	var msgs []corpusMsg
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) == ".md" || filepath.Ext(p) == ".tsv" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		env := journal.Parse(bytes.NewReader(data), int64(len(data)), config.EnvelopeMode{})
		msgs = append(msgs, corpusMsg{data: data, env: env})
		return nil
	})
	if len(msgs) == 0 {
		b.Fatal("empty corpus")
	}
	return msgs
}

// BenchmarkPut stores the shared real-world corpus (each message made
// unique by a header line) from 32 goroutines, as fetch does with its
// window of messages in flight, and reports messages/s, MB/s, the peak Go
// heap, the process's peak RSS, the compression ratio and messages per
// group commit. $JARCHIVE_BENCH_DIR puts the archive elsewhere than the
// test's temp directory (/dev/shm: without the disk).
func BenchmarkPut(b *testing.B) {
	msgs := loadCorpus(b)
	for _, mode := range []struct {
		name string
		sync syncMode
		key  []byte
	}{
		{"perfile", syncPerFile, nil},
		{"syncfs", syncFS, nil},
		{"perfile-encrypted", syncPerFile, bytes.Repeat([]byte{1}, 32)},
	} {
		b.Run(mode.name, func(b *testing.B) {
			dir := b.TempDir()
			if base := os.Getenv("JARCHIVE_BENCH_DIR"); base != "" {
				// e.g. /dev/shm, to measure without the disk
				d, err := os.MkdirTemp(base, "bench-")
				if err != nil {
					b.Fatal(err)
				}
				defer os.RemoveAll(d)
				dir = d
			}
			a, err := Open(dir, Options{Key: mode.key})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			a.syncMode = mode.sync
			var seq, bytesIn atomic.Int64
			var peak atomic.Uint64
			stop := make(chan struct{})
			var sampler sync.WaitGroup
			sampler.Go(func() {
				s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
				t := time.NewTicker(5 * time.Millisecond)
				defer t.Stop()
				for {
					metrics.Read(s)
					if v := s[0].Value.Uint64(); v > peak.Load() {
						peak.Store(v)
					}
					select {
					case <-stop:
						return
					case <-t.C:
					}
				}
			})
			b.SetParallelism(16) // 32 goroutines on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					m := msgs[int(i)%len(msgs)]
					body := &prefixed{head: fmt.Appendf(nil, "X-Bench: %d\r\n", i), msg: m.data}
					env := *m.env
					env.OriginalOffset, env.OriginalSize, env.OriginalEncoding = 0, int64(len(body.head)+len(m.data)), ""
					_, _, err := a.Put(context.Background(), &Incoming{
						Body: body, Size: env.OriginalSize, Envelope: &env,
						Source: Source{Account: "bench", Path: fmt.Sprint(i)},
						ext:    &envExt{},
					})
					if err != nil {
						b.Error(err)
						return
					}
					bytesIn.Add(env.OriginalSize)
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			sampler.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(bytesIn.Load())/elapsed.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
			var ru syscall.Rusage
			if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
				b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
			}
			if st, err := a.Stats(); err == nil && st.RawBytes > 0 {
				b.ReportMetric(float64(st.StoredBytes)/float64(st.RawBytes), "stored/raw")
			}
			if c := a.commits.Load(); c > 0 {
				b.ReportMetric(float64(b.N)/float64(c), "msgs/commit")
			}
		})
	}
}

// BenchmarkOpen reads stored messages back through Open, as the indexer
// does with every new blob, and reports the bytes and allocations per
// message read.
func BenchmarkOpen(b *testing.B) {
	msgs := loadCorpus(b)
	for _, mode := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", bytes.Repeat([]byte{1}, 32)}} {
		b.Run(mode.name, func(b *testing.B) {
			a, err := Open(b.TempDir(), Options{Key: mode.key})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			a.syncMode = syncFS
			var ids []string
			var total int64
			for i, m := range msgs {
				if i >= 200 {
					break
				}
				env := *m.env
				id, _, err := a.Put(context.Background(), &Incoming{
					Body: bytes.NewReader(m.data), Size: int64(len(m.data)), Envelope: &env,
					Source: Source{Account: "bench", Path: fmt.Sprint(i)}, ext: &envExt{},
				})
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, id)
			}
			buf := make([]byte, 32<<10)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				rc, err := a.Open(ids[i%len(ids)])
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, rc, buf)
				if err != nil {
					b.Fatal(err)
				}
				rc.Close()
				total += n
				i++
			}
			b.ReportMetric(float64(total)/float64(b.N), "bytes/msg")
		})
	}
}
