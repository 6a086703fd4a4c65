package slapdtest

import "syscall"

// sysProcAttr puts slapd in its own process group, so that stop can kill
// all of its processes, and kills it when the test binary dies without
// running its cleanups (interrupted, killed, SIGPIPE): being in its own group,
// slapd does not get the terminal's SIGINT.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
