//go:build !linux

package slapdtest

import "syscall"

// sysProcAttr puts slapd in its own process group, so that stop can kill
// all of its processes.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
