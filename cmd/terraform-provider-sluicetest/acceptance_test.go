package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
)

// TestWithEngines runs the provider under the real terraform and tofu,
// installed from a filesystem mirror as scripts/tools.sh lays it out:
// create, update in place, replace, drift, the missing state file, destroy.
func TestWithEngines(t *testing.T) {
	bins := testkit.Engines(t)
	if testing.Short() {
		t.Skip("builds the provider")
	}
	cliConfig := buildMirror(t)
	for _, bin := range bins {
		t.Run(bin.Engine, func(t *testing.T) {
			dir := t.TempDir()
			cloud := filepath.Join(t.TempDir(), "cloud.json")
			tf := func(args ...string) (string, error) {
				c := exec.Command(bin.Path, args...)
				c.Dir = dir
				c.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "TF_INPUT=0",
					"CHECKPOINT_DISABLE=1", "TF_PLUGIN_CACHE_DIR=", "TF_DATA_DIR=", "SLUICETEST_STATE_FILE=")
				var out bytes.Buffer
				c.Stdout, c.Stderr = &out, &out
				err := c.Run()
				return out.String(), err
			}
			must := func(args ...string) string {
				t.Helper()
				out, err := tf(args...)
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", bin.Engine, strings.Join(args, " "), err, out)
				}
				return out
			}
			write := func(stateFile, instanceType string, desired int) {
				t.Helper()
				testkit.WriteFile(t, filepath.Join(dir, "main.tf"), fmt.Sprintf(`terraform {
  required_providers {
    sluicetest = { source = "sluice.test/sluicehq/sluicetest" }
  }
}

provider "sluicetest" {
  state_file = %q
}

resource "sluicetest_cluster" "demo" {
  name = "demo"
}

resource "sluicetest_node_group" "workers" {
  cluster       = sluicetest_cluster.demo.name
  name          = "workers"
  instance_type = %q
  desired_size  = %d
  min_size      = 1
  max_size      = 4
}
`, stateFile, instanceType, desired))
			}
			groups := func() map[string]nodeGroup {
				t.Helper()
				var c contents
				b, err := os.ReadFile(cloud)
				if err == nil {
					err = json.Unmarshal(b, &c)
				}
				if err != nil {
					t.Fatalf("reading the cloud: %v", err)
				}
				return c.NodeGroups
			}
			only := func() (string, nodeGroup) {
				t.Helper()
				g := groups()
				if len(g) != 1 {
					t.Fatalf("node groups in the cloud: %+v", g)
				}
				for id, v := range g {
					return id, v
				}
				panic("unreachable")
			}

			write("", "t3.medium", 3)
			must("init", "-input=false", "-no-color")
			out, err := tf("plan", "-input=false", "-no-color")
			if err == nil || !strings.Contains(out, "SLUICETEST_STATE_FILE") {
				t.Fatalf("plan without a state file: err=%v\n%s", err, out)
			}

			write(cloud, "t3.medium", 3)
			must("apply", "-auto-approve", "-input=false", "-no-color")
			id, g := only()
			if g.DesiredSize != 3 || g.InstanceType != "t3.medium" || g.Cluster != "demo" {
				t.Fatalf("created %s: %+v", id, g)
			}

			write(cloud, "t3.medium", 2)
			if out := must("plan", "-input=false", "-no-color"); !strings.Contains(out, "0 to add, 1 to change, 0 to destroy") {
				t.Errorf("plan of 3 -> 2:\n%s", out)
			}
			must("apply", "-auto-approve", "-input=false", "-no-color")
			if id2, g := only(); id2 != id || g.DesiredSize != 2 {
				t.Errorf("after the update: %s %+v, want %s with 2 nodes", id2, g, id)
			}

			write(cloud, "m5.large", 2)
			if out := must("plan", "-input=false", "-no-color"); !strings.Contains(out, "forces replacement") ||
				!strings.Contains(out, "1 to add, 0 to change, 1 to destroy") {
				t.Errorf("plan of a new instance type:\n%s", out)
			}
			must("apply", "-auto-approve", "-input=false", "-no-color")
			id3, g := only()
			if id3 == id || g.InstanceType != "m5.large" {
				t.Errorf("after the replacement: %s %+v (was %s)", id3, g, id)
			}

			// Deleted behind Terraform's back: the plan creates it again.
			if err := (&store{path: cloud}).edit(func(c *contents) error {
				delete(c.NodeGroups, id3)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if out := must("plan", "-input=false", "-no-color"); !strings.Contains(out, "1 to add, 0 to change, 0 to destroy") {
				t.Errorf("plan after the node group was deleted outside:\n%s", out)
			}

			write(cloud, "m5.large", 5)
			if out, err := tf("plan", "-input=false", "-no-color"); err == nil || !strings.Contains(out, "desired_size 5 is more than max_size 4") {
				t.Errorf("plan of 5 nodes of at most 4: err=%v\n%s", err, out)
			}

			write(cloud, "m5.large", 2)
			must("destroy", "-auto-approve", "-input=false", "-no-color")
			if g := groups(); len(g) != 0 {
				t.Errorf("node groups after destroy: %+v", g)
			}
		})
	}
}

// buildMirror builds the provider into a filesystem mirror, as
// scripts/tools.sh tfprovider does, and returns a CLI configuration file
// that installs it from there.
func buildMirror(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mirror := filepath.Join(root, "mirror")
	bin := filepath.Join(mirror, "sluice.test", "sluicehq", "sluicetest", version, runtime.GOOS+"_"+runtime.GOARCH, "terraform-provider-sluicetest_v"+version)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	config := filepath.Join(root, "terraformrc")
	testkit.WriteFile(t, config, fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["sluice.test/*/*"]
  }
  direct {
    exclude = ["sluice.test/*/*"]
  }
}
`, mirror))
	return config
}
