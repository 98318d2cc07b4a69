package integration

import "syscall"

// sysProcAttr puts a child in its own process group, so kill reaches
// anything it forked, and has the kernel kill it if the test binary dies
// first (a panic or a timeout skips Cleanup), so no gateway outlives a test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
