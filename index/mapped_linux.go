package index

import (
	"fmt"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"golang.org/x/sys/unix"
)

// dropSegments unmaps the pages of idx's segment files from the process,
// leaving them in the page cache (see Index.ReleaseMapped). It holds a reader
// of the index while it works: a scorch snapshot keeps a reference to each
// of its segments, so none is closed, and its mapping cannot be unmapped
// and the address reused, before the reader is closed. zapx maps segment
// files whole, read-only and shared (Segment.Data is that mapping), so
// MADV_DONTNEED can only drop file pages there, never zero memory.
func dropSegments(idx bleve.Index) error {
	ai, err := idx.Advanced()
	if err != nil {
		return err
	}
	r, err := ai.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil
	}
	for _, s := range snap.Segments() {
		// Persisted zapx segments; in-memory ones are on the heap.
		m, ok := s.Segment().(interface{ Data() []byte })
		if !ok {
			continue
		}
		if b := m.Data(); len(b) > 0 {
			if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
				return fmt.Errorf("madvise: %w", err)
			}
		}
	}
	return nil
}
