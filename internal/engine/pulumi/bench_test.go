package pulumi

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testkit/pulumitest"
)

type timer struct {
	total time.Duration
	n     int
}

func (t *timer) time(b *testing.B, name string, run func() error) {
	b.Helper()
	start := time.Now()
	if err := run(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, errText(err))
	}
	t.total += time.Since(start)
	t.n++
}

func (t *timer) mean() time.Duration { return t.total / time.Duration(t.n) }

// BenchmarkPlanOverhead plans the 3 -> 2 change of a node group through
// the driver and with the bare CLI on the same stack, interleaved so both
// see the same machine, and reports:
//
//	vs-preview       the driver's Plan / a bare `pulumi preview`
//	vs-save-plan     the driver's Plan / `pulumi preview --diff --save-plan`,
//	                 the preview the driver runs, so what is left is
//	                 Sluice's own work: the state and secrets it reads
//	                 alongside (stack export, config --show-secrets) and
//	                 the normalisation
//
// with a secret in the stack's configuration (which the driver decrypts
// to hide it) and without one.
func BenchmarkPlanOverhead(b *testing.B) {
	for _, secret := range []bool{true, false} {
		name := "secret-config"
		if !secret {
			name = "plain-config"
		}
		b.Run(name, func(b *testing.B) { benchPlan(b, secret) })
	}
}

func benchPlan(b *testing.B, secret bool) {
	env := pulumitest.New(b)
	dir := b.TempDir()
	testkit.CopyDir(b, filepath.Join("testdata", "nodegroup"), dir)
	pulumi := func(args ...string) func() error {
		return func() error {
			c := exec.Command(env.Bin, append(args, "--stack", stack, "--non-interactive")...)
			c.Dir = dir
			c.Env = append(os.Environ(), env.Vars...)
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Run(); err != nil {
				b.Logf("%s", out.String())
				return err
			}
			return nil
		}
	}
	env.Run(b, dir, "stack", "init", stack)
	if secret {
		env.Run(b, dir, "config", "set", "--secret", "adminToken", canary, "--stack", stack)
	} else {
		testkit.Replace(b, filepath.Join(dir, "Pulumi.yaml"), "    secret: true\n", "    default: not-a-secret\n")
		env.Run(b, dir, "config", "set", "note", "no secrets here", "--stack", stack)
	}
	d := New(env.Bin)
	d.Env = env.Vars
	state := b.TempDir()
	plan := func() error {
		_, err := d.Plan(context.Background(), engine.PlanRequest{
			Project: "ng", Dir: dir, Workspace: stack, StateDir: state, PlanFile: filepath.Join(state, "plan"),
		})
		return err
	}
	if err := pulumi("up", "--yes", "--skip-preview")(); err != nil {
		b.Fatal(err)
	}
	testkit.Replace(b, filepath.Join(dir, "Pulumi.yaml"), "desiredSize: 3", "desiredSize: 2")
	savePlan := filepath.Join(b.TempDir(), "plan.json")

	var warm timer
	warm.time(b, "driver plan", plan)
	warm.time(b, "preview", pulumi("preview"))

	var driver, bare, save timer
	b.ResetTimer()
	for b.Loop() {
		driver.time(b, "driver plan", plan)
		bare.time(b, "preview", pulumi("preview"))
		save.time(b, "preview --save-plan", pulumi("preview", "--diff", "--save-plan", savePlan))
	}
	b.StopTimer()
	b.ReportMetric(float64(driver.mean().Microseconds())/1000, "driver-ms")
	b.ReportMetric(float64(bare.mean().Microseconds())/1000, "preview-ms")
	b.ReportMetric(float64(driver.mean())/float64(bare.mean()), "vs-preview")
	b.ReportMetric(float64(driver.mean())/float64(save.mean()), "vs-save-plan")
	b.Logf("driver Plan %v, bare preview %v (%.2fx), preview --diff --save-plan %v (%.2fx)",
		driver.mean(), bare.mean(), float64(driver.mean())/float64(bare.mean()), save.mean(), float64(driver.mean())/float64(save.mean()))
}
