//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// journalStream reports whether w is the stderr that systemd connected to
// the journal: $JOURNAL_STREAM holds the device and inode of that stream
// (systemd.exec(5)), which a child process may inherit with another
// stderr, so they are compared.
func journalStream(w io.Writer) bool {
	want := os.Getenv("JOURNAL_STREAM")
	f, ok := w.(*os.File)
	if want == "" || !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fmt.Sprintf("%d:%d", st.Dev, st.Ino) == want
}
