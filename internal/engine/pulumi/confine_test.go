package pulumi

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestSandboxedLifecycle: pulumi, its language host and its provider plan
// and apply in a sandbox that lets them reach their own paths (Pulumi's
// home, the file backend the environment names) and the provider's
// state, and a program that reads a file outside is refused.
func TestSandboxedLifecycle(t *testing.T) {
	testkit.NeedSandbox(t, engine.SandboxSupport)
	p := newProject(t, "nodegroup", false)
	p.initStack(canary)
	env, _ := engine.Environ(append(os.Environ(), p.env.Vars...), append(engine.DefaultEnv, "SLUICETEST_*"), nil)
	p.d.Confine = engine.Confinement{Env: env, Sandbox: true, Isolate: engine.IsolationSupport() == nil, Write: []string{filepath.Dir(p.env.StateFile)}}
	if err := os.MkdirAll(filepath.Dir(p.env.StateFile), 0o700); err != nil {
		t.Fatal(err)
	}

	pl := p.mustPlan("create")
	if _, _, err := p.apply("create", pl); err != nil {
		t.Fatalf("apply in the sandbox: %v\n%s", err, errText(err))
	}
	sizes := 0
	for _, r := range p.env.Resources(t) {
		if r.Type == "sluicetest:index:NodeGroup" && fmt.Sprint(r.Properties["desiredSize"]) == "3" {
			sizes++
		}
	}
	if sizes != 1 {
		t.Errorf("after the apply in the sandbox: %+v, want a node group of 3", p.env.Resources(t))
	}

	secret := filepath.Join(t.TempDir(), "gitea.token")
	if err := os.WriteFile(secret, []byte("canary-file-4e1b"), 0o600); err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile(filepath.Join(p.dir, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	snoop := strings.Replace(string(program), "outputs:\n", "outputs:\n  stolen:\n    fn::readFile: "+secret+"\n", 1)
	if err := os.WriteFile(filepath.Join(p.dir, "Pulumi.yaml"), []byte(snoop), 0o644); err != nil {
		t.Fatal(err)
	}
	pl, live, err := p.plan("snoop")
	text := live + errText(err)
	if pl != nil {
		text += pl.Text
		for _, o := range pl.Outputs {
			text += fmt.Sprint(o.After)
		}
	}
	if err == nil || strings.Contains(text, "canary-file-4e1b") {
		t.Errorf("a program reading a file outside its sandbox: err %v, output:\n%s", err, text)
	}
}
