//go:build !linux

package loadtest

import "syscall"

// sysProcAttr puts a child in its own process group, so a stop reaches
// anything it forked. (Only Linux can also kill it when the loadtest dies.)
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
