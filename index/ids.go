package index

import (
	"fmt"
)

// IDs calls fn with the ID of every document in the index, in no
// particular order, and stops at the first error fn returns.
func (ix *Index) IDs(fn func(id string) error) error {
	g, release := ix.current()
	defer release()
	adv, err := g.idx.Advanced()
	if err != nil {
		return fmt.Errorf("index ids: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return fmt.Errorf("index ids: %w", err)
	}
	defer r.Close()
	it, err := r.DocIDReaderAll()
	if err != nil {
		return fmt.Errorf("index ids: %w", err)
	}
	defer it.Close()
	for {
		iid, err := it.Next()
		if err != nil {
			return fmt.Errorf("index ids: %w", err)
		}
		if iid == nil {
			return nil
		}
		id, err := r.ExternalID(iid)
		if err != nil {
			return fmt.Errorf("index ids: %w", err)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
}

// Delete removes the documents with the given IDs from the batch's commit.
func (b *Batch) Delete(id string) {
	b.b.Delete(id)
}
