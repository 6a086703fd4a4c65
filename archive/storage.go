package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrStorage marks a failure of the archive's storage while storing a
// message: no space (ENOSPC, EDQUOT), an I/O error (EIO), a read-only file
// system (EROFS), a file too large (EFBIG), no permission to write in the
// archive (EACCES, EPERM), or a failed database commit. Nothing of the
// message was acknowledged; callers stop fetching and retry once Probe
// succeeds.
var ErrStorage = errors.New("storage failure")

// storageErrnos are the errors of writing that mean the storage, not the
// message, is at fault.
var storageErrnos = []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, syscall.EFBIG, syscall.EACCES, syscall.EPERM}

// storage wraps err in ErrStorage when it is a storage failure; other
// errors are returned as they are.
func storage(err error) error {
	if err == nil || errors.Is(err, ErrStorage) {
		return err
	}
	for _, e := range storageErrnos {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	return err
}

// probeSize is the size of the file Probe writes: enough room for a
// message of ordinary size.
const probeSize = 1 << 20

// Probe checks that the archive can store again after an ErrStorage: it
// writes, fsyncs and removes a 1 MiB file in tmp/ and commits a small
// database transaction. Its error wraps ErrStorage when the storage still
// fails.
func (a *Archive) Probe() error {
	if a.readOnly {
		return ErrReadOnly
	}
	err := func() error {
		f, err := os.CreateTemp(filepath.Join(a.dir, "tmp"), "probe-")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(i)
		}
		for n := 0; n < probeSize; n += len(buf) {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		return fmt.Errorf("archive probe: %w", storage(err))
	}
	err = a.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaProbe, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return fmt.Errorf("archive probe: commit: %w: %w", ErrStorage, err)
	}
	return nil
}
