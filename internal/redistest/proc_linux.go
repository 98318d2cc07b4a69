package redistest

import "syscall"

// sysProcAttr puts the server in its own process group, so Stop can kill the
// group, and has the kernel kill it if the test binary dies first (a panic
// or a timeout skips Cleanup), so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
