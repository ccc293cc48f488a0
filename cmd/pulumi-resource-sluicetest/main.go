// Command pulumi-resource-sluicetest is a Pulumi resource provider for
// Sluice's tests and local examples. It models clusters with node groups,
// kept in a local JSON file instead of a cloud, so that a Pulumi program
// can create, update, replace and delete resources without network or
// credentials.
//
// Put the binary on PATH: Pulumi runs plugins named pulumi-resource-NAME
// found there as they are. The state file is the provider's stateFile
// setting (sluicetest:stateFile in the stack configuration) or the
// SLUICETEST_STATE_FILE environment variable. SLUICETEST_DELAY (a Go
// duration such as 30s) makes every create, update and delete take that
// long, so a test can interrupt an update in the middle. A cluster whose
// name starts with "invalid-" fails its check with a message that quotes
// the name, as providers quote the values they refuse.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func main() {
	err := provider.Main(pkgName, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(newProvider(os.Getenv)), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-%s: %v\n", pkgName, err)
		os.Exit(1)
	}
}
