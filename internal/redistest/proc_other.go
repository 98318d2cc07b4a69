//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr puts the server in its own process group, so Stop can kill the
// group. Only Linux can also tie the server's life to the test binary's.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
