//go:build !unix

package main

import "io"

// journalStream: there is no systemd journal outside Unix.
func journalStream(w io.Writer) bool { return false }
