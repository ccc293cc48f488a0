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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
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
