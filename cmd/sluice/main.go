// Command sluice is operations by merge request for Terraform, OpenTofu
// and Pulumi.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/internal/cli"
)

func main() {
	// A write to a closed stdout or stderr (the reading end of a pipe gone)
	// must fail, not end sluice while an engine runs: once SIGPIPE is
	// caught, such writes return EPIPE instead.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// These end a run gracefully: Ctrl-C, a stop request, a closed terminal
	// (SIGHUP) and Ctrl-\ (SIGQUIT). The running engine is in its own
	// process group, so none of them reaches it: sluice passes the stop on
	// as SIGINT, waits for the engine to release its state lock, and keeps
	// reading its output meanwhile. Left to their default, SIGHUP and
	// SIGQUIT would end sluice at once and leave the engine unwatched.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
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

// run is the whole program; it prints the error that ends it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := cli.Run(ctx, args, getenv, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: error: %v\n", err)
	}
	return err
}
