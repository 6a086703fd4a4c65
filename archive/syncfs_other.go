//go:build !linux

package archive

import (
	"errors"
	"os"
)

func syncFilesystem(f *os.File) error { return errors.New("syncfs is not available") }

const haveSyncfs = false
