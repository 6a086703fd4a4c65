package dovecottest

import "syscall"

// sysProcAttr puts Dovecot in its own process group, so that stop can kill
// all of its processes, and kills it when the test binary dies without
// running its cleanups (interrupted, killed, SIGPIPE): being in its own group,
// Dovecot does not get the terminal's SIGINT.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
