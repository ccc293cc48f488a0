// Command sluice is operations by merge request for Terraform, OpenTofu
// and Pulumi.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/engine"
)

func main() {
	// A write to a closed stdout or stderr (the reading end of a pipe gone)
	// must fail, not end sluice while an engine runs: once SIGPIPE is
	// caught, such writes return EPIPE instead.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := stopOnSignals(context.Background(), os.Stderr)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}

// stopOnSignals returns a context cancelled by the first of SIGINT
// (Ctrl-C), SIGTERM (a stop request), SIGHUP (a closed terminal) and
// SIGQUIT (Ctrl-\). The running engine is in its own process group, so
// none of them reaches it: sluice passes the stop on as SIGINT, waits for
// the engine to release its state lock, and keeps reading its output
// meanwhile. Left to their default, SIGHUP and SIGQUIT would end sluice at
// once and leave the engine unwatched.
//
// A SIGINT after that (a second Ctrl-C) says not to wait: the engine is
// killed at once (see engine.WithKill), and stderr says so. stop releases
// the signals.
func stopOnSignals(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	ctx, cancel := context.WithCancel(parent)
	kill := make(chan struct{})
	ctx = engine.WithKill(ctx, kill, func(msg string) { fmt.Fprintf(stderr, "sluice: %s\n", msg) })
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		stopping, killed := false, false
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				switch {
				case !stopping:
					stopping = true
					cancel()
				case sig == os.Interrupt && !killed:
					killed = true
					close(kill)
				}
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		<-finished
		cancel()
	}
}

// exitCode is 0 for success, 2 for a mistake in the command line and 1
// for any other error.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case cli.IsUsage(err):
		return 2
	default:
		return 1
	}
}

// run is the whole program; it prints the error that ends it. Output cut
// short by its reader (`sluice runs list | head`) is not an error to tell
// anyone about: the reader has what it wanted.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := cli.Run(ctx, args, getenv, stdout, stderr)
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		fmt.Fprintf(stderr, "sluice: error: %v\n", err)
	}
	return err
}
