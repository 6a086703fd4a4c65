package archive

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFilesystem flushes the whole file system that holds f.
func syncFilesystem(f *os.File) error {
	return unix.Syncfs(int(f.Fd()))
}

const haveSyncfs = true
