package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// TestMain lets the test binary stand in for the sluice binary, so the
// benchmark measures a real `sluice plan` process, start-up included.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_TEST_AS_CLI") == "1" {
		err := Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluice: error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type timer struct {
	total time.Duration
	n     int
}

func (t *timer) time(b *testing.B, name string, cmd func() *exec.Cmd) {
	b.Helper()
	c := cmd()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	if err := c.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out.String())
	}
	t.total += time.Since(start)
	t.n++
}

func (t *timer) mean() time.Duration { return t.total / time.Duration(t.n) }

// BenchmarkQuickstartPlan plans the quickstart's 3 -> 2 change through
// sluice and with the bare engine in the same run, interleaved so both
// see the same machine, and reports:
//
//	overhead-%      sluice's time over the engine commands it must run
//	                (plan -out and show -json), warm: target < 5%
//	vs-plan-only    sluice / a bare `plan`, for reference
//	cold/warm       `init && plan` from cold / sluice's warm plan, which
//	                skips init: target >= 2
func BenchmarkQuickstartPlan(b *testing.B) {
	bins := testkit.Engines(b)
	for _, bin := range bins {
		b.Run(bin.Engine, func(b *testing.B) { benchQuickstart(b, bin) })
	}
}

func benchQuickstart(b *testing.B, bin testkit.Binary) {
	testkit.QuietTerraform(b)
	repo := b.TempDir()
	testkit.CopyDir(b, filepath.Join("..", "..", "examples", "quickstart"), repo)
	if bin.Engine == "opentofu" {
		testkit.Replace(b, filepath.Join(repo, "sluice.yaml"), "engine: terraform", "engine: opentofu")
		testkit.Replace(b, filepath.Join(repo, "sluice.yaml"), "engine: terraform", "engine: opentofu")
	}
	testkit.Git(b, repo, "init", "-q", "-b", "main")
	testkit.Git(b, repo, "add", "-A")
	testkit.Git(b, repo, "commit", "-q", "-m", "today")
	testkit.Git(b, repo, "switch", "-q", "-c", "reduce")
	testkit.Replace(b, filepath.Join(repo, "cluster", "node-group", "main.tf"), "desired_size  = 3", "desired_size  = 2")
	testkit.Git(b, repo, "commit", "-qam", "two")

	// The bare engine works on its own copy of the project.
	bare := b.TempDir()
	testkit.CopyDir(b, filepath.Join(repo, "cluster", "node-group"), bare)
	bareData := filepath.Join(b.TempDir(), "data")
	planFile := filepath.Join(b.TempDir(), "plan")
	engineCmd := func(dataDir string, args ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			c := exec.Command(bin.Path, args...)
			c.Dir = bare
			c.Env = append(os.Environ(), "TF_DATA_DIR="+dataDir, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1")
			return c
		}
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	sluicePlan := func() *exec.Cmd {
		c := exec.Command(self, "-C", repo, "plan", "--base", "main")
		c.Env = append(os.Environ(), "SLUICE_TEST_AS_CLI=1", "SLUICE_TERRAFORM_BIN="+bin.Path, "SLUICE_TOFU_BIN="+bin.Path,
			"SLUICE_PLUGIN_CACHE_DIR="+filepath.Join(b.TempDir(), "plugins"))
		return c
	}

	// Warm both up: init once, plan once.
	var warmup timer
	warmup.time(b, "terraform init", engineCmd(bareData, "init", "-input=false", "-no-color"))
	warmup.time(b, "sluice plan", sluicePlan)

	var sl, planShow, planOnly, cold timer
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sl.time(b, "sluice plan", sluicePlan)
		before := planShow.total
		planShow.time(b, "plan -out", engineCmd(bareData, "plan", "-input=false", "-no-color", "-out="+planFile))
		planShow.time(b, "show -json", engineCmd(bareData, "show", "-json", planFile))
		planShow.n-- // one sample is plan and show together
		_ = before
		planOnly.time(b, "plan", engineCmd(bareData, "plan", "-input=false", "-no-color"))
		coldData := filepath.Join(b.TempDir(), fmt.Sprintf("cold%d", i))
		cold.time(b, "init", engineCmd(coldData, "init", "-input=false", "-no-color"))
		cold.time(b, "plan", engineCmd(coldData, "plan", "-input=false", "-no-color"))
		cold.n--
	}
	b.StopTimer()
	overhead := 100 * (float64(sl.mean()) - float64(planShow.mean())) / float64(planShow.mean())
	b.ReportMetric(float64(sl.mean().Microseconds())/1000, "sluice-ms")
	b.ReportMetric(float64(planShow.mean().Microseconds())/1000, "bare-plan+show-ms")
	b.ReportMetric(overhead, "overhead-%")
	b.ReportMetric(float64(sl.mean())/float64(planOnly.mean()), "vs-plan-only")
	b.ReportMetric(float64(cold.mean())/float64(sl.mean()), "cold/warm")
	b.Logf("%s: sluice plan %v, bare plan+show %v (overhead %.1f%%), bare plan %v, cold init+plan %v (%.1fx a warm sluice plan)",
		bin.Engine, sl.mean(), planShow.mean(), overhead, planOnly.mean(), cold.mean(), float64(cold.mean())/float64(sl.mean()))
}
