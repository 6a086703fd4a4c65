package archive

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// dropMapped unmaps meta.db's pages from the process, leaving them in the
// page cache (see ReleaseMapped). It runs in a read transaction, which keeps
// bbolt from remapping the file meanwhile: the range advised is bbolt's
// mapping and nothing else, so MADV_DONTNEED can only drop file pages
// (bbolt maps the file read-only and shared), never zero memory.
func dropMapped(db *bolt.DB) error {
	return db.View(func(*bolt.Tx) error {
		start := db.Info().Data
		end, err := mappingEnd(start)
		if err != nil {
			return err
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise: %w", errno)
		}
		return nil
	})
}

// mappingEnd returns the end of the mapping that begins at start, from
// /proc/self/maps.
func mappingEnd(start uintptr) (uintptr, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	prefix := fmt.Sprintf("%08x-", start) // as the kernel prints it (%08lx)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		field, _, _ := strings.Cut(line[len(prefix):], " ")
		end, err := strconv.ParseUint(field, 16, 64)
		if err != nil || uintptr(end) <= start {
			return 0, fmt.Errorf("/proc/self/maps: bad line %q", line)
		}
		return uintptr(end), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/self/maps: no mapping at %#x", start)
}
