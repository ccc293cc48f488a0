package terraform

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// Canaries of what plan code must never get: one of Sluice's own settings,
// a variable the operator did not allow, a value that holds one of
// Sluice's secrets under an allowed name, and a secret file.
const (
	ownCanary      = "canary-sluice-own-5d1e9a"
	strangerCanary = "canary-not-allowed-8c2f41"
	secretCanary   = "canary-sluice-secret-2b7e6c0f"
	fileCanary     = "canary-secret-file-91a3d7"
)

// snoop sets a plan of the snoop fixture up: the environment and a secret
// file outside the project, linked from inside it.
func snoop(t *testing.T, bin testkit.Binary, c engine.Confinement) *project {
	t.Helper()
	t.Setenv("SLUICE_GITEA_TOKEN", ownCanary)
	t.Setenv("SNOOP_STRANGER", strangerCanary)
	t.Setenv("AWS_SESSION_TOKEN", "x-"+secretCanary+"-x")
	p := newProject(t, bin, "snoop")
	secret := filepath.Join(t.TempDir(), "gitea.token")
	if err := os.WriteFile(secret, []byte(fileCanary), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(p.dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_VAR_parent_pid", fmt.Sprint(os.Getpid()))
	t.Setenv("TF_VAR_secret_file", secret)
	if c.Env == nil && c.Sandbox {
		c.Env, _ = engine.Environ(os.Environ(), engine.DefaultEnv, []string{secretCanary})
	}
	p.d.Confine = c
	return p
}

// outputs are the planned values of the snoop fixture's outputs, and
// everything the plan showed, as one text to look for canaries in.
func outputs(t *testing.T, p *project) (map[string]string, string) {
	t.Helper()
	pl, lines, err := p.plan("snoop")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	b, err := json.Marshal(pl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range pl.Outputs {
		s, _ := o.After.(string)
		out[o.Name] = s
	}
	return out, string(b) + pl.Text + strings.Join(lines, "\n")
}

// TestSandboxedPlanReadsNothingOfSluice: plan code in a sandbox reads no
// environment but its own, no other process's, no file outside the
// checkout, even through a link in the project, and its environment has
// none of Sluice's settings or secrets.
func TestSandboxedPlanReadsNothingOfSluice(t *testing.T) {
	testkit.NeedSandbox(t, engine.SandboxSupport)
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := snoop(t, bin, engine.Confinement{Sandbox: true, Isolate: engine.IsolationSupport() == nil})
			out, all := outputs(t, p)
			for _, name := range []string{"environ", "parent_environ", "secret_file", "through_link"} {
				if out[name] != "denied" {
					t.Errorf("output %s = %.200q, want denied", name, out[name])
				}
			}
			for _, c := range []string{ownCanary, strangerCanary, secretCanary, fileCanary} {
				if strings.Contains(all, c) {
					t.Errorf("the plan shows %s", c)
				}
			}
		})
	}
}

// TestEngineEnvironment: without a sandbox, the environment plan code can
// read is the reduced one: Sluice's own settings, variables the operator
// did not allow and values holding its secrets are not in it.
func TestEngineEnvironment(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := snoop(t, bin, engine.Confinement{})
			p.d.Confine.Env, _ = engine.Environ(os.Environ(), engine.DefaultEnv, []string{secretCanary})
			out, _ := outputs(t, p)
			env := out["environ"]
			if !strings.Contains(env, "TF_IN_AUTOMATION=1") || !strings.Contains(env, "TF_VAR_secret_file=") {
				t.Fatalf("the plan did not read its environment: %.300q", env)
			}
			for _, c := range []string{ownCanary, strangerCanary, secretCanary} {
				if strings.Contains(env, c) {
					t.Errorf("the engine's environment holds %s", c)
				}
			}
		})
	}
}

// TestLocalEngineEnvironment: the local CLI's engines (no confinement set)
// get the person's environment, their cloud credentials and variables
// included, but not Sluice's own settings.
func TestLocalEngineEnvironment(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := snoop(t, bin, engine.Confinement{})
			out, _ := outputs(t, p)
			env := out["environ"]
			if !strings.Contains(env, strangerCanary) {
				t.Errorf("the person's own variable is missing from the engine's environment: %.300q", env)
			}
			if strings.Contains(env, ownCanary) {
				t.Errorf("the engine's environment holds Sluice's own setting")
			}
		})
	}
}

// TestSandboxSaysWhatToAllow: a local backend outside what the sandbox
// allows fails the plan with Terraform's "permission denied", and the error
// lines say what to set.
func TestSandboxSaysWhatToAllow(t *testing.T) {
	testkit.NeedSandbox(t, engine.SandboxSupport)
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, "nodegroup")
			outside := t.TempDir()
			backend := fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(outside, "state.tfstate"))
			if err := os.WriteFile(filepath.Join(p.dir, "backend.tf"), []byte(backend), 0o644); err != nil {
				t.Fatal(err)
			}
			p.d.Confine = engine.Confinement{Sandbox: true, Isolate: engine.IsolationSupport() == nil}
			_, _, err := p.plan("denied")
			var re *engine.RunError
			if !errors.As(err, &re) || !strings.Contains(strings.Join(re.Lines, "\n"), "engine-write") {
				t.Fatalf("plan with the state outside the sandbox: %v", err)
			}
			p.d.Confine.Write = []string{outside}
			if _, _, err := p.plan("allowed"); err != nil {
				t.Errorf("plan with the state's directory in engine-write: %v", err)
			}
		})
	}
}
