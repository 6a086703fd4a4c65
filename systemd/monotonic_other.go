//go:build !linux

package systemd

// monotonicUsec is not available outside Linux, where systemd does not run.
func monotonicUsec() (uint64, bool) { return 0, false }
