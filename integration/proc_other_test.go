//go:build unix && !linux

package integration

import "syscall"

// sysProcAttr puts a child in its own process group, so kill reaches
// anything it forked. Only Linux can also tie the child's life to ours.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
