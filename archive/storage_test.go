package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestStorageErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("write blob: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), true},
		{fmt.Errorf("fsync blob: %w", syscall.EIO), true},
		{syscall.EROFS, true},
		{syscall.EDQUOT, true},
		{syscall.EACCES, true},
		{errors.New("zstd: bad level"), false},
	} {
		err := storage(tc.err)
		got := errors.Is(err, ErrStorage)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("storage(%v) = %v; ErrStorage %v, want %v (and the cause kept)", tc.err, err, got, tc.want)
		}
	}
}

func TestProbeAndReadOnly(t *testing.T) {
	dir := t.TempDir()
	a := TestOpen(t, dir, Options{})
	if err := a.Probe(); err != nil {
		t.Errorf("Probe = %v", err)
	}
	id := TestPut(t, a, []byte(original), Source{Account: "x", Path: "p"})
	a.Close()
	ro := TestOpen(t, dir, Options{ReadOnly: true})
	if got := readAll(t, ro, id); string(got) != original {
		t.Errorf("read-only archive reads %q", got)
	}
	if _, _, err := ro.Put(context.Background(), incoming([]byte(original), Source{})); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put on a read-only archive = %v; want ErrReadOnly", err)
	}
	if err := ro.Probe(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Probe on a read-only archive = %v; want ErrReadOnly", err)
	}
}

type failingReader struct{ n int64 }

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.n {
		return 0, syscall.EIO
	}
	return len(p), nil
}

// TestReadErrorIsNoStorageFailure: the message's own bytes failing to read
// (a damaged spool file) fails that Put, not the storage.
func TestReadErrorIsNoStorageFailure(t *testing.T) {
	a := TestArchive(t)
	in := incoming([]byte(original), Source{Account: "x", Path: "p"})
	in.Body = failingReader{n: 10}
	_, _, err := a.Put(context.Background(), in)
	if err == nil || errors.Is(err, ErrStorage) {
		t.Errorf("Put of an unreadable message = %v; want an error that is not ErrStorage", err)
	}
}
