//go:build !linux

package dovecottest

import "syscall"

// sysProcAttr puts Dovecot in its own process group, so that stop can kill
// all of its processes.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
