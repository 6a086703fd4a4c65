package fetch

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// TestSpool writes messages below, at and beyond spoolMemory in pieces:
// what ReadAt gives back is what was written, the small ones never touch
// the disk, the large one's file is gone after remove, and Truncate cuts
// in memory and in the file.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	f := New(Options{Sink: &testSink{}, TempDir: dir})
	for _, size := range []int{0, 1, 1000, spoolMemory, spoolMemory + 1, 3*spoolMemory + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i/251)
		}
		sp := f.newSpool()
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 40000)
			if _, err := sp.Write(rest[:n]); err != nil {
				t.Fatalf("size %d: Write: %v", size, err)
			}
			rest = rest[n:]
		}
		if sp.Size() != int64(size) {
			t.Errorf("size %d: Size() = %d", size, sp.Size())
		}
		got, err := io.ReadAll(io.NewSectionReader(sp, 0, int64(size)+10))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("size %d: read back %d bytes, %v; want the %d written", size, len(got), err, size)
		}
		entries, _ := os.ReadDir(dir)
		if onDisk := len(entries) > 0; onDisk != (size > spoolMemory) {
			t.Errorf("size %d: %d files in the spool directory; want a file only beyond %d bytes", size, len(entries), spoolMemory)
		}
		if size > 0 {
			if err := sp.Truncate(int64(size - 1)); err != nil {
				t.Fatalf("size %d: Truncate: %v", size, err)
			}
			got, _ := io.ReadAll(io.NewSectionReader(sp, 0, int64(size)))
			if !bytes.Equal(got, data[:size-1]) {
				t.Errorf("size %d: after Truncate read %d bytes; want %d", size, len(got), size-1)
			}
		}
		if err := sp.Truncate(int64(size + 1)); err == nil {
			t.Errorf("size %d: Truncate beyond the end = nil; want an error", size)
		}
		sp.remove(f.log)
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("size %d: %d files left after remove", size, len(entries))
		}
	}
}
