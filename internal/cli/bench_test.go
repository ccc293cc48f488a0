package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// benchDir holds the sluice binary the benchmarks build; TestMain removes
// it.
var benchDir string

// sluiceBinary builds cmd/sluice once per test process, so the benchmarks
// time the binary users run, start-up included.
var sluiceBinary = sync.OnceValues(func() (string, error) {
	var err error
	if benchDir, err = os.MkdirTemp("", "sluice-bench-"); err != nil {
		return "", err
	}
	bin := filepath.Join(benchDir, "sluice")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
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
//	cold/bare-warm  `init && plan` from cold / a bare warm `plan`: the
//	                most any tool that runs `plan` could reach on this
//	                project, for reference
func BenchmarkQuickstartPlan(b *testing.B) {
	bins := testkit.Engines(b)
	for _, bin := range bins {
		b.Run(bin.Engine, func(b *testing.B) { benchQuickstart(b, bin) })
	}
}

func benchQuickstart(b *testing.B, bin testkit.Binary) {
	testkit.QuietTerraform(b)
	repo := quickstartRepo(b, filepath.Join("..", "..", "examples", "quickstart"), bin)
	testkit.Git(b, repo, "switch", "-q", "-c", "reduce")
	testkit.Replace(b, filepath.Join(repo, "cluster", "node-group", "main.tf"), "desired_size  = 3", "desired_size  = 2")
	testkit.Git(b, repo, "commit", "-qam", "two")

	// The bare engine works on its own copy of the project.
	p := newPlanBench(b, bin, repo)
	testkit.CopyDir(b, filepath.Join(repo, "cluster", "node-group"), p.bare)
	p.compare(b)
}

// BenchmarkQuickstartProviderPlan is BenchmarkQuickstartPlan on a copy of
// the quickstart whose node group is a resource of a real provider plugin,
// cmd/terraform-provider-sluicetest, installed from a filesystem mirror
// (scripts/tools.sh --env tfprovider prints SLUICE_TEST_TF_CLI_CONFIG).
// The node group exists before the change (3 nodes), so the plans refresh
// it and update it in place. Sluice keeps its data directory and plugin
// cache; every cold init gets a fresh data directory and no plugin cache,
// as on a fresh CI runner with the lock file committed.
func BenchmarkQuickstartProviderPlan(b *testing.B) {
	bins := testkit.Engines(b)
	config := os.Getenv("SLUICE_TEST_TF_CLI_CONFIG")
	if config == "" {
		const msg = "SLUICE_TEST_TF_CLI_CONFIG unset; run scripts/tools.sh --env tfprovider"
		if os.Getenv("SLUICE_TEST_REQUIRE_TOOLS") == "1" {
			b.Fatal("required test tool missing: " + msg)
		}
		b.Skip(msg)
	}
	for _, bin := range bins {
		b.Run(bin.Engine, func(b *testing.B) { benchProviderQuickstart(b, bin, config) })
	}
}

func benchProviderQuickstart(b *testing.B, bin testkit.Binary, config string) {
	b.Setenv("TF_CLI_CONFIG_FILE", config)
	b.Setenv("SLUICETEST_STATE_FILE", filepath.Join(b.TempDir(), "cloud.json"))
	repo := quickstartRepo(b, filepath.Join("testdata", "quickstart-provider"), bin)
	p := newPlanBench(b, bin, repo)
	testkit.CopyDir(b, filepath.Join(repo, "node-group"), p.bare)

	// The node group exists with 3 nodes, made by each side on its own.
	var setup timer
	setup.time(b, "sluice plan", p.run("plan", "--base", "main", "-p", "node-group"))
	setup.time(b, "sluice apply", p.run("apply", "--quiet"))
	setup.time(b, "init", p.engine(p.bareData, "init", "-input=false", "-no-color"))
	setup.time(b, "apply", p.engine(p.bareData, "apply", "-input=false", "-no-color", "-auto-approve"))

	testkit.Git(b, repo, "switch", "-q", "-c", "reduce")
	testkit.Replace(b, filepath.Join(repo, "node-group", "main.tf"), "desired_size  = 3", "desired_size  = 2")
	testkit.Git(b, repo, "commit", "-qam", "two")
	testkit.Replace(b, filepath.Join(p.bare, "main.tf"), "desired_size  = 3", "desired_size  = 2")

	// What is timed is an update planned with init reused.
	out, err := p.run("plan", "--base", "main")().CombinedOutput()
	for _, want := range []string{"0 to add, 1 to change, 0 to destroy", "desired_size: 3 -> 2", "init reused"} {
		if err != nil || !strings.Contains(string(out), want) {
			b.Fatalf("sluice plan (err %v) lacks %q:\n%s", err, want, out)
		}
	}
	p.compare(b)
}

// planBench compares `sluice plan` of a repository with the bare engine
// on a copy of the one project it plans.
type planBench struct {
	bin      testkit.Binary
	repo     string
	bare     string // the bare engine's copy of the project
	bareData string // its warm TF_DATA_DIR
	plugins  string // sluice's plugin cache
	sluice   string // the sluice binary, built for the benchmark
}

func newPlanBench(b *testing.B, bin testkit.Binary, repo string) *planBench {
	self, err := sluiceBinary()
	if err != nil {
		b.Fatal(err)
	}
	return &planBench{
		bin:      bin,
		repo:     repo,
		bare:     b.TempDir(),
		bareData: filepath.Join(b.TempDir(), "data"),
		plugins:  filepath.Join(b.TempDir(), "plugins"),
		sluice:   self,
	}
}

// engine runs the bare engine with dataDir as TF_DATA_DIR and no plugin
// cache.
func (p *planBench) engine(dataDir string, args ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		c := exec.Command(p.bin.Path, args...)
		c.Dir = p.bare
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TF_PLUGIN_CACHE_DIR=") {
				c.Env = append(c.Env, kv)
			}
		}
		c.Env = append(c.Env, "TF_DATA_DIR="+dataDir, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1")
		return c
	}
}

// run runs the sluice binary in the repository.
func (p *planBench) run(args ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		c := exec.Command(p.sluice, append([]string{"-C", p.repo}, args...)...)
		c.Env = append(os.Environ(), "SLUICE_TERRAFORM_BIN="+p.bin.Path, "SLUICE_TOFU_BIN="+p.bin.Path,
			"SLUICE_PLUGIN_CACHE_DIR="+p.plugins)
		return c
	}
}

// compare warms both sides up, then times them interleaved and reports.
func (p *planBench) compare(b *testing.B) {
	planFile := filepath.Join(b.TempDir(), "plan")
	sluicePlan := p.run("plan", "--base", "main")

	// Warm both up: init once, plan once.
	var warmup timer
	warmup.time(b, "init", p.engine(p.bareData, "init", "-input=false", "-no-color"))
	warmup.time(b, "sluice plan", sluicePlan)

	var sl, planShow, planOnly, cold timer
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sl.time(b, "sluice plan", sluicePlan)
		planShow.time(b, "plan -out", p.engine(p.bareData, "plan", "-input=false", "-no-color", "-out="+planFile))
		planShow.time(b, "show -json", p.engine(p.bareData, "show", "-json", planFile))
		planShow.n-- // one sample is plan and show together
		planOnly.time(b, "plan", p.engine(p.bareData, "plan", "-input=false", "-no-color"))
		coldData := filepath.Join(b.TempDir(), fmt.Sprintf("cold%d", i))
		cold.time(b, "init", p.engine(coldData, "init", "-input=false", "-no-color"))
		cold.time(b, "plan", p.engine(coldData, "plan", "-input=false", "-no-color"))
		cold.n--
		if err := os.RemoveAll(coldData); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	overhead := 100 * (float64(sl.mean()) - float64(planShow.mean())) / float64(planShow.mean())
	b.ReportMetric(float64(sl.mean().Microseconds())/1000, "sluice-ms")
	b.ReportMetric(float64(planShow.mean().Microseconds())/1000, "bare-plan+show-ms")
	b.ReportMetric(overhead, "overhead-%")
	b.ReportMetric(float64(sl.mean())/float64(planOnly.mean()), "vs-plan-only")
	b.ReportMetric(float64(cold.mean())/float64(sl.mean()), "cold/warm")
	b.ReportMetric(float64(cold.mean())/float64(planOnly.mean()), "cold/bare-warm")
	b.Logf("%s: sluice plan %v, bare plan+show %v (overhead %v, %.1f%%), bare plan %v, cold init+plan %v (%.2fx a warm sluice plan, %.2fx a warm bare plan)",
		p.bin.Engine, sl.mean(), planShow.mean(), (sl.mean() - planShow.mean()).Round(100*time.Microsecond), overhead,
		planOnly.mean(), cold.mean(), float64(cold.mean())/float64(sl.mean()), float64(cold.mean())/float64(planOnly.mean()))
}
