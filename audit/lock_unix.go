//go:build unix

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on f, so that processes appending
// to one log (the daemon, "jarchive token") take turns.
func lockFile(f *os.File) (unlock func(), err error) {
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
