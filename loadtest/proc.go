package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// proc is a child process of a spawned fleet: its output goes to a log
// file, and the addresses it prints (http://host:port/) are reported.
type proc struct {
	name   string
	cmd    *exec.Cmd
	logf   *os.File
	addrs  chan string
	exited chan struct{}
}

// addrLine matches the lines in which waitroom's servers print the address
// they listen on.
var addrLine = regexp.MustCompile(`http://([0-9.]+:[0-9]+)/`)

// startProc runs bin with args and env, logging to logPath.
func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: exec.Command(bin, args...), logf: logf, addrs: make(chan string, 4), exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.SysProcAttr = sysProcAttr()
	p.cmd.Stderr = logf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			for _, m := range addrLine.FindAllStringSubmatch(sc.Text(), -1) {
				select {
				case p.addrs <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = p.cmd.Wait() // after the last read, as os/exec requires
		close(p.exited)
	}()
	return p, nil
}

// addr waits for the next address the process prints.
func (p *proc) addr(timeout time.Duration) (string, error) {
	select {
	case a := <-p.addrs:
		return a, nil
	case <-p.exited:
		return "", fmt.Errorf("%s exited before listening (%v): see %s", p.name, p.cmd.ProcessState, p.logf.Name())
	case <-time.After(timeout):
		return "", fmt.Errorf("%s printed no address within %v: see %s", p.name, timeout, p.logf.Name())
	}
}

// stop asks the process group to end (SIGTERM), kills it after grace, and
// waits for it. Stopping twice is harmless.
func (p *proc) stop(grace time.Duration) {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.exited
	}
	p.logf.Close()
}

// running reports an error if the process already ended.
func (p *proc) running() error {
	select {
	case <-p.exited:
		return errors.New(strings.TrimSpace(fmt.Sprintf("%s exited (%v): see %s", p.name, p.cmd.ProcessState, p.logf.Name())))
	default:
		return nil
	}
}
