package loadtest

import "syscall"

// sysProcAttr puts a child in its own process group, so a stop reaches
// anything it forked and the terminal's Ctrl-C reaches only the loadtest
// (which then stops the fleet in order), and has the kernel kill the child
// if the loadtest dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
