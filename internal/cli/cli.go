// Package cli is the sluice command line: cobra commands over the local
// plan/apply loop, configuration checks and version.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/engine/pulumi"
	"github.com/sluicehq/sluice/internal/engine/terraform"
	"github.com/sluicehq/sluice/internal/local"
	"github.com/sluicehq/sluice/internal/repoconfig"
)

// Version is set at build time with -ldflags "-X github.com/sluicehq/sluice/internal/cli.Version=v1.2.3".
var Version = ""

// Run executes the command line args and returns the error that ends it;
// the caller prints it and exits non-zero.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newRoot(getenv, stdout, stderr)
	argsAreUsage(root)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !IsUsage(err) {
		// cobra's own complaints about the command line have no type.
		for _, prefix := range []string{"unknown command ", "required flag(s) ", "if any flags in the group "} {
			if strings.HasPrefix(err.Error(), prefix) {
				return usageError{fmt.Errorf("%w (see 'sluice --help')", err)}
			}
		}
	}
	return err
}

// usageError is a mistake in the command line rather than a failure of
// what it asked for.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// IsUsage reports whether err is a mistake in the command line (an unknown
// command or flag, a missing or wrong argument), for which the process
// exits with status 2.
func IsUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// argsAreUsage makes every command's argument check report a usage error.
func argsAreUsage(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		argsAreUsage(sub)
	}
}

// globals are the flags every command shares.
type globals struct {
	getenv       func(string) string
	stdout       io.Writer
	stderr       io.Writer
	chdir        string
	terraformBin string
	tofuBin      string
	pulumiBin    string
	pluginCache  string
	lockTimeout  time.Duration
	// lockTimeoutEnv is SLUICE_LOCK_TIMEOUT when it is not a duration.
	lockTimeoutEnv string
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// defaultPluginCache is the plugin cache when --plugin-cache-dir and
// SLUICE_PLUGIN_CACHE_DIR are not given: the user's own
// TF_PLUGIN_CACHE_DIR, else Sluice's cache directory.
func defaultPluginCache(getenv func(string) string) string {
	if d := getenv("TF_PLUGIN_CACHE_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sluice", "plugins")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "sluice", "plugins")
	}
	return ""
}

func newRoot(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Operations by merge request for Terraform, OpenTofu and Pulumi",
		Long: `Sluice previews every change to your infrastructure code, posts the plan for
review, holds the change until the review allows it, and applies exactly
the plan that was reviewed.

In a local checkout:
  sluice projects --base origin/main   which projects your branch touches, and why
  sluice plan --base origin/main       plan them and print the review comment
  sluice apply                   apply exactly the saved plans
  sluice config validate         check sluice.yaml`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&g.chdir, "chdir", "C", ".", "run as if sluice was started in this directory")
	pf.StringVar(&g.terraformBin, "terraform-bin", envOr(getenv, "SLUICE_TERRAFORM_BIN", "terraform"),
		"terraform binary for engine: terraform projects (env SLUICE_TERRAFORM_BIN)")
	pf.StringVar(&g.tofuBin, "tofu-bin", envOr(getenv, "SLUICE_TOFU_BIN", "tofu"),
		"tofu binary for engine: opentofu projects (env SLUICE_TOFU_BIN)")
	pf.StringVar(&g.pulumiBin, "pulumi-bin", envOr(getenv, "SLUICE_PULUMI_BIN", "pulumi"),
		"pulumi binary for engine: pulumi projects (env SLUICE_PULUMI_BIN)")
	pf.StringVar(&g.pluginCache, "plugin-cache-dir", envOr(getenv, "SLUICE_PLUGIN_CACHE_DIR", defaultPluginCache(getenv)),
		"provider plugin cache shared by all projects; \"\" for none (env SLUICE_PLUGIN_CACHE_DIR; without either: $TF_PLUGIN_CACHE_DIR, else ~/.cache/sluice/plugins)")
	if v := getenv("SLUICE_LOCK_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			g.lockTimeout = d
		} else {
			g.lockTimeoutEnv = v
		}
	}
	pf.DurationVar(&g.lockTimeout, "lock-timeout", g.lockTimeout,
		"how long plan and apply wait for a state lock another run holds, as terraform's -lock-timeout (env SLUICE_LOCK_TIMEOUT)")

	root.AddCommand(
		newVersionCmd(g),
		newProjectsCmd(g),
		newPlanCmd(g),
		newApplyCmd(g),
		newConfigCmd(g),
		newServeCmd(g),
		newRunsCmd(g),
		newLocksCmd(g),
		newAuditCmd(g),
	)
	return root
}

// engines builds the engine drivers from the global flags.
func (g *globals) engines() local.EngineFor {
	var (
		mu    sync.Mutex
		cache = map[string]engine.Engine{}
	)
	return func(name string) (engine.Engine, error) {
		mu.Lock()
		defer mu.Unlock()
		if e, ok := cache[name]; ok {
			return e, nil
		}
		var d *terraform.Driver
		switch name {
		case repoconfig.EngineTerraform:
			d = terraform.New(name, g.terraformBin)
		case repoconfig.EngineOpenTofu:
			d = terraform.New(name, g.tofuBin)
		case repoconfig.EnginePulumi:
			pd := pulumi.New(g.pulumiBin)
			cache[name] = pd
			return pd, nil
		default:
			return nil, fmt.Errorf("unknown engine %q (use terraform, opentofu or pulumi)", name)
		}
		d.PluginCacheDir = g.pluginCache
		d.LockTimeout = g.lockTimeout
		cache[name] = d
		return d, nil
	}
}

// options are the local loop's options from the global flags; it refuses
// flags whose values the engines cannot take.
func (g *globals) options(cmd *cobra.Command, verbose bool) (local.Options, error) {
	if g.lockTimeoutEnv != "" && !cmd.Flags().Changed("lock-timeout") {
		return local.Options{}, usageError{fmt.Errorf("SLUICE_LOCK_TIMEOUT=%q is not a duration: write a number with a unit, e.g. 0s, 30s or 5m", g.lockTimeoutEnv)}
	}
	if g.lockTimeout < 0 {
		return local.Options{}, usageError{fmt.Errorf("--lock-timeout %v is negative: give 0s to fail at once on a held state lock, or how long to wait, e.g. 30s", g.lockTimeout)}
	}
	o := local.Options{Dir: g.chdir, Engines: g.engines(), Progress: g.stderr}
	if verbose {
		var mu sync.Mutex
		o.Log = func(_, line string) {
			mu.Lock()
			fmt.Fprintf(g.stderr, "  | %s\n", line)
			mu.Unlock()
		}
	}
	return o, nil
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of sluice",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(g.stdout, "sluice %s\n", version())
			return nil
		},
	}
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if v == "" || v == "(devel)" {
			v = "devel"
			if rev != "" {
				v += " " + rev[:min(12, len(rev))]
				if dirty {
					v += "-dirty"
				}
			}
		}
		return v
	}
	return "devel"
}

func checkFormat(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return usageError{fmt.Errorf("unknown --format %q (use %s)", format, strings.Join(allowed, " or "))}
}
