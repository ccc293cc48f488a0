// Command terraform-provider-sluicetest is a Terraform and OpenTofu
// provider for Sluice's tests, benchmarks and local examples. It models
// clusters with node groups, kept in a local JSON file instead of a cloud,
// so that a configuration can create, update, replace and delete resources
// with a real provider plugin and no network or credentials.
//
// Its address is sluice.test/sluicehq/sluicetest. scripts/tools.sh
// tfprovider builds it into a filesystem mirror and writes a CLI
// configuration that installs it from there (set TF_CLI_CONFIG_FILE to
// it):
//
//	terraform {
//	  required_providers {
//	    sluicetest = { source = "sluice.test/sluicehq/sluicetest" }
//	  }
//	}
//
//	resource "sluicetest_cluster" "demo" { name = "demo" }
//
// The state file is the provider's state_file argument or the
// SLUICETEST_STATE_FILE environment variable.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
)

// version is the provider's version, as laid out in the mirror.
const version = "0.1.0"

func main() {
	err := providerserver.Serve(context.Background(), newProvider(os.Getenv), providerserver.ServeOpts{
		Address: "sluice.test/sluicehq/sluicetest",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "terraform-provider-sluicetest: %v\n", err)
		os.Exit(1)
	}
}
