package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long a cancelled engine gets after SIGINT to release
// its state lock and exit before it is killed.
const DefaultGrace = 30 * time.Second

// Command is one engine subprocess. On cancellation of its context the
// whole process group gets SIGINT, as a terminal's Ctrl-C would send, and
// is killed only if it is still running after Grace.
type Command struct {
	Path  string
	Args  []string
	Dir   string
	Env   []string // the complete environment
	Log   LineFunc // receives output lines as they come; may be nil
	Grace time.Duration
}

// Output is what a finished command printed.
type Output struct {
	Stdout string
	Stderr string
}

// Run starts the command and waits for it. A non-zero exit is returned as
// an *exec.ExitError; a cancelled context as an error wrapping ctx.Err().
func (c Command) Run(ctx context.Context) (Output, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Output{}, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return Output{}, err
	}
	if err := ctx.Err(); err != nil {
		return Output{}, err
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return Output{}, fmt.Errorf("%s: %w", c.Path, ErrBinaryNotFound)
		}
		return Output{}, err
	}

	var (
		mu               sync.Mutex // serialises Log calls
		outBuf           strings.Builder
		errBuf           strings.Builder
		wg               sync.WaitGroup
		pipeOut, pipeErr = stdout, stderr
	)
	wg.Add(2)
	go func() { defer wg.Done(); c.collect(pipeOut, "stdout", &outBuf, &mu) }()
	go func() { defer wg.Done(); c.collect(pipeErr, "stderr", &errBuf, &mu) }()

	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		grace := c.Grace
		if grace <= 0 {
			grace = DefaultGrace
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()

	wg.Wait() // all output read; the pipes close when the process exits
	err = cmd.Wait()
	close(done)
	<-stopped
	out := Output{Stdout: outBuf.String(), Stderr: errBuf.String()}
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s interrupted: %w", c.Path, ctx.Err())
	}
	return out, err
}

func (c Command) collect(r io.Reader, stream string, buf *strings.Builder, mu *sync.Mutex) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			buf.WriteString(line)
			if c.Log != nil {
				mu.Lock()
				c.Log(stream, strings.TrimRight(line, "\r\n"))
				mu.Unlock()
			}
		}
		if err != nil {
			return
		}
	}
}
