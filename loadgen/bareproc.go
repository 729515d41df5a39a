package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BareProcess is the bare baseline (see Bare) running as a child process,
// so that it is measured as presenced is: across a process boundary, with
// a Go runtime and a scheduler of its own rather than the load generator's.
type BareProcess struct {
	cmd      *exec.Cmd
	stdin    *os.File // the child exits when this closes
	url      string
	stderr   bytes.Buffer // read only after the child has exited
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// bareStartTimeout bounds how long a child may take to say where it
// listens; bareStopTimeout how long it may take to exit once told to.
const (
	bareStartTimeout = 10 * time.Second
	bareStopTimeout  = 5 * time.Second
)

// StartBareProcess runs command (a program and its first arguments, e.g.
// the presenced binary and "bare") with "--addr 127.0.0.1:0 --get-body
// <getBody>", reads the base URL the child writes on its first line of
// stdout, and returns once it is listening. The child must exit when its
// stdin ends (see ServeBare): Stop closes it, and so does the kernel if
// this process dies first.
func StartBareProcess(command []string, getBody []byte) (*BareProcess, error) {
	if len(command) == 0 {
		return nil, errors.New("no command for the bare baseline")
	}
	args := append(append([]string(nil), command[1:]...), "--addr", "127.0.0.1:0", "--get-body", string(getBody))
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	defer outR.Close()
	p := &BareProcess{cmd: exec.Command(command[0], args...), stdin: inW, exited: make(chan struct{})}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = inR, outW, &p.stderr
	err = p.cmd.Start()
	inR.Close() // the child's ends; ours are inW and outR
	outW.Close()
	if err != nil {
		inW.Close()
		return nil, fmt.Errorf("starting the bare baseline (%s): %w", command[0], err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()

	// The first line is the URL. A child that fails before it exits, which
	// ends the pipe; one that hangs runs into the deadline.
	_ = outR.SetReadDeadline(now().Add(bareStartTimeout))
	line, err := bufio.NewReader(outR).ReadString('\n')
	p.url = strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(p.url, "http://") {
		_ = p.Stop()
		return nil, fmt.Errorf("the bare baseline (%s, pid %d) did not say where it listens (%v): %q %s",
			command[0], p.cmd.Process.Pid, err, line, clip(p.stderr.Bytes()))
	}
	return p, nil
}

// URL is the child's base URL.
func (p *BareProcess) URL() string { return p.url }

// PID is the child's process id.
func (p *BareProcess) PID() int { return p.cmd.Process.Pid }

// Close is Stop.
func (p *BareProcess) Close() error { return p.Stop() }

// Stop ends the child and waits for it: stdin closed and SIGTERM to its
// pid, then after bareStopTimeout SIGKILL. It returns an error if the child
// had to be killed or failed on its own; calling it again returns nil.
func (p *BareProcess) Stop() error {
	var err error
	p.stopOnce.Do(func() {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(bareStopTimeout)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			_ = p.cmd.Process.Kill()
			<-p.exited
			err = fmt.Errorf("the bare baseline (pid %d) did not exit within %s of SIGTERM and was killed", p.PID(), bareStopTimeout)
			return
		}
		var exit *exec.ExitError
		if errors.As(p.waitErr, &exit) && !exitedBySignal(exit, syscall.SIGTERM) {
			err = fmt.Errorf("the bare baseline (pid %d) failed: %v %s", p.PID(), p.waitErr, clip(p.stderr.Bytes()))
		}
	})
	return err
}

// exitedBySignal reports whether the process ended from sig (it may be
// stopped before its handler for it is installed).
func exitedBySignal(e *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := e.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
