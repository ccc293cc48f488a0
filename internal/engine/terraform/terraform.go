// Package terraform drives the terraform and tofu command-line tools: one
// driver, two binaries. It plans into a saved plan file, reads it back
// with `show -json`, and applies that saved file and nothing else.
package terraform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/safename"
)

// Driver plans and applies Terraform or OpenTofu projects.
type Driver struct {
	engineName string
	binary     string
	// PluginCacheDir is shared by all projects so providers are
	// downloaded once (TF_PLUGIN_CACHE_DIR). Empty disables it.
	PluginCacheDir string
	// Grace is how long the engine gets after SIGINT before it is killed.
	Grace time.Duration
	// LockTimeout is passed as -lock-timeout to plan and apply.
	LockTimeout time.Duration
	// Confine is what the engine's processes get of the machine: their
	// environment and, in a sandbox, the paths they reach.
	Confine engine.Confinement
}

var (
	_ engine.Engine       = (*Driver)(nil)
	_ engine.OwnFiles     = (*Driver)(nil)
	_ engine.SandboxPaths = (*Driver)(nil)
)

// New returns a driver for engineName ("terraform" or "opentofu") that runs
// binary, a path or a name looked up on PATH.
func New(engineName, binary string) *Driver {
	return &Driver{engineName: engineName, binary: binary, Grace: engine.DefaultGrace}
}

// Name is the engine as written in sluice.yaml.
func (d *Driver) Name() string { return d.engineName }

func (d *Driver) tool() string { return filepath.Base(d.binary) }

// lockFile is the dependency lock file init writes in the project's
// directory.
const lockFile = ".terraform.lock.hcl"

// OwnFiles is the lock file, which init writes or updates while planning.
func (d *Driver) OwnFiles(workspace string) []engine.OwnFile {
	return []engine.OwnFile{{Name: lockFile}}
}

func (d *Driver) lookPath() (string, error) {
	hint := "install Terraform or set --terraform-bin / SLUICE_TERRAFORM_BIN"
	if d.engineName == "opentofu" {
		hint = "install OpenTofu or set --tofu-bin / SLUICE_TOFU_BIN"
	}
	return engine.LookPath(d.engineName, d.binary, hint)
}

type session struct {
	d       *Driver
	bin     string
	project string
	dir     string
	root    string // the checkout: what the driver reads of the project stays inside it
	ws      string
	state   string
	env     []string
	where   engine.Where
	own     engine.Paths // what the engine reaches of its own, the session's TMPDIR included
	tmp     engine.SessionDir
	log     engine.LineFunc
	close   func()
	// created is set when init created the workspace.
	created bool
}

func (d *Driver) session(w engine.Where) (*session, error) {
	if err := engine.CheckDir(w.Project, w.Dir); err != nil {
		return nil, err
	}
	ws := w.Workspace
	if ws == "" {
		ws = "default"
	}
	// The workspace becomes an argument and, in the local backend, a
	// directory: sluice.yaml's validation refused a bad one; a name from
	// anywhere else is refused here, before anything is created.
	if err := safename.Workspace(ws); err != nil {
		return nil, fmt.Errorf("project %s: invalid workspace %q (%v); fix workspace in sluice.yaml", w.Project, ws, err)
	}
	bin, err := d.lookPath()
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", w.Project, err)
	}
	if err := os.MkdirAll(w.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("project %s: creating %s: %w", w.Project, w.StateDir, err)
	}
	sd, remove, err := w.NewSessionDir()
	if err != nil {
		return nil, err
	}
	s := &session{d: d, bin: bin, project: w.Project, dir: w.Dir, root: w.Checkout(), ws: ws, state: w.StateDir, log: w.Log, close: remove, where: w, tmp: sd}
	s.env = s.environ(append([]string{"TMPDIR=" + sd.Tmp}, w.Env...))
	s.own = d.ownPaths(s.env, bin)
	s.own.Write = append(s.own.Write, sd.Tmp)
	return s, nil
}

// SandboxPaths are the paths the engine reaches of its own: its binary's
// directory, the plugin directories of its CLI configuration and the
// shared plugin cache.
func (d *Driver) SandboxPaths(c engine.Confinement) engine.Paths {
	bin, _ := d.lookPath()
	return d.ownPaths(c.Environ(), bin)
}

func (d *Driver) ownPaths(env []string, bin string) engine.Paths {
	var p engine.Paths
	if dir := engine.BinaryDir(bin); dir != "" { // "" when the binary is not installed
		p.Read = append(p.Read, dir)
	}
	if f := engine.Getenv(env, "TF_CLI_CONFIG_FILE"); f != "" {
		p.Read = append(p.Read, f)
	}
	if home := engine.HomeDir(env); home != "" {
		p.Read = append(p.Read, filepath.Join(home, ".terraformrc"), filepath.Join(home, ".terraform.d"))
	}
	if d.PluginCacheDir != "" {
		p.Write = append(p.Write, d.PluginCacheDir)
	}
	return p
}

// environ is the environment engines start from with Sluice's settings on
// top. TF_CLI_ARGS* are dropped so that nothing outside the saved plan can
// change what plan and apply do, and TF_LOG* so that debug logs (which
// hold providers' requests, credentials included) neither bury the
// engine's error lines nor reach a comment.
func (s *session) environ(extra []string) []string {
	var env []string
	for _, kv := range s.d.Confine.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TF_CLI_ARGS") || strings.HasPrefix(k, "TF_LOG") || k == "TF_DATA_DIR" || k == "TF_WORKSPACE" || k == "TMPDIR" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"TF_DATA_DIR="+filepath.Join(s.state, "data"),
	)
	if s.d.PluginCacheDir != "" {
		env = append(env, "TF_PLUGIN_CACHE_DIR="+s.d.PluginCacheDir)
	}
	return append(env, extra...)
}

// How run treats a command's output.
type runMode int

const (
	// quiet: the output is not streamed to the live log, and a failure's
	// error lines come from stderr only. For `show -json`, whose stdout is
	// the raw plan with its sensitive values.
	quiet runMode = iota
	// streamed: the output goes to the live log as it comes, and a failure
	// with nothing on stderr takes its error lines from stdout.
	streamed
)

func (s *session) run(ctx context.Context, mode runMode, args ...string) (engine.Output, error) {
	return s.runWith(ctx, mode, engine.Paths{}, args...)
}

// runWith is run with the command reaching extra beyond the session's
// paths (the directory a plan writes its output to).
func (s *session) runWith(ctx context.Context, mode runMode, extra engine.Paths, args ...string) (engine.Output, error) {
	env := s.env
	switch {
	case args[0] == "workspace":
		// `workspace select` refuses to run while TF_WORKSPACE is set.
	case args[0] == "init" && s.ws != "default":
		// The workspace may not exist yet: `workspace select -or-create`
		// follows init and creates it.
	default:
		// Always set, "default" too: the data directory remembers the
		// workspace selected last, which may be another one.
		env = append(env[:len(env):len(env)], "TF_WORKSPACE="+s.ws)
	}
	c := engine.Command{Path: s.bin, Args: args, Dir: s.dir, Env: env, Grace: s.d.Grace, Sandbox: s.where.Sandbox(s.d.Confine, env, s.own, extra)}
	if mode == streamed {
		c.Log = s.log
	}
	out, err := c.Run(ctx)
	if err != nil {
		return out, &engine.RunError{
			Project: s.project,
			Command: s.d.tool() + " " + args[0],
			Lines:   append(errorLines(out, mode == streamed), engine.SandboxHint(c.Sandbox, out)...),
			Err:     err,
		}
	}
	return out, nil
}

func (s *session) stampPath() string { return filepath.Join(s.state, "init-key") }

// init runs `init` unless an earlier init with the same key is recorded.
// It reports whether init was skipped.
func (s *session) init(ctx context.Context, force bool) (bool, error) {
	if s.d.PluginCacheDir != "" {
		if err := os.MkdirAll(s.d.PluginCacheDir, 0o755); err != nil {
			return false, fmt.Errorf("creating the plugin cache %s: %w", s.d.PluginCacheDir, err)
		}
	}
	key, err := initKey(s.bin, s.ws, s.root, s.dir)
	if err != nil {
		return false, fmt.Errorf("project %s: %w", s.project, err)
	}
	if !force {
		if old, err := engine.ReadRegular(s.stampPath(), 64<<10); err == nil && string(old) == key {
			return true, nil
		}
	}
	_ = os.Remove(s.stampPath())
	unlock, err := s.d.lockPluginCache(ctx, s.log)
	if err != nil {
		return false, fmt.Errorf("project %s: %w", s.project, err)
	}
	_, err = s.run(ctx, streamed, "init", "-input=false", "-no-color")
	unlock()
	if err != nil {
		return false, err
	}
	if s.ws != "default" {
		// A workspace that does not exist yet is created, as automation
		// needs; a misspelled name shows as a new, empty workspace.
		out, err := s.run(ctx, streamed, "workspace", "select", "-or-create=true", "-no-color", "--", s.ws)
		if err != nil {
			return false, err
		}
		if strings.Contains(out.Stdout, "Created and switched to workspace") {
			s.created = true
			if s.log != nil {
				s.log("stdout", fmt.Sprintf("sluice: created workspace %q", s.ws))
			}
		}
	}
	if err := engine.WriteNew(s.stampPath(), []byte(key)); err != nil {
		return false, fmt.Errorf("recording init of project %s: %w", s.project, err)
	}
	return false, nil
}

// pluginCacheLock is the file inits lock, beside the plugin cache (DIR.lock
// for the cache DIR), not in it: engines may write the cache, and a link
// they left there in its place would stop every init.
func (d *Driver) pluginCacheLock() string { return filepath.Clean(d.PluginCacheDir) + ".lock" }

// lockPluginCache takes an exclusive lock on the shared plugin cache for
// the length of an init: Terraform documents that concurrent inits must
// not share a plugin cache. It waits until the lock is free or ctx is
// done, and says once that it is waiting.
func (d *Driver) lockPluginCache(ctx context.Context, log engine.LineFunc) (unlock func(), err error) {
	if d.PluginCacheDir == "" {
		return func() {}, nil
	}
	path := d.pluginCacheLock()
	f, err := engine.OpenLock(path)
	if err != nil {
		return nil, fmt.Errorf("opening the plugin cache lock: %w", err)
	}
	fd := int(f.Fd())
	told := false
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking the plugin cache (%s): %w", path, err)
		}
		if !told && log != nil {
			log("stderr", "sluice: waiting for another init that uses the plugin cache "+d.PluginCacheDir)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the plugin cache lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *Driver) lockArg() string {
	return "-lock-timeout=" + max(d.LockTimeout, 0).String()
}

// Plan runs init when needed, `plan -out`, and `show -json` of the saved
// plan.
func (d *Driver) Plan(ctx context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	s, err := d.session(req.Where())
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := req.ClearPlanFile(); err != nil {
		return nil, err
	}
	skipped, err := s.init(ctx, false)
	if err != nil {
		return nil, err
	}
	// The engine writes the plan into a directory of the session that only
	// this command may write. Sluice reads it from there once, and saves
	// those bytes as the plan: what `show` reads, what the caller keeps and
	// what is applied are one content, whatever the engine's processes do
	// to its files afterwards.
	outDir, err := s.tmp.Dir("plan")
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", req.Project, err)
	}
	saved := filepath.Join(outDir, "plan")
	planArgs := []string{"plan", "-input=false", "-no-color", d.lockArg(), "-out=" + saved}
	writeOut := engine.Paths{Write: []string{outDir}}
	out, err := s.runWith(ctx, streamed, writeOut, planArgs...)
	if err != nil && skipped && ctx.Err() == nil && needsInit(out) {
		// The init key missed something init depends on; init and retry once.
		if _, err := s.init(ctx, true); err != nil {
			return nil, err
		}
		skipped = false
		out, err = s.runWith(ctx, streamed, writeOut, planArgs...)
	}
	if err != nil {
		return nil, err
	}
	data, err := engine.ReadRegular(saved, engine.MaxArtifact)
	if err != nil {
		return nil, fmt.Errorf("project %s: reading the saved plan: %w", req.Project, err)
	}
	if err := engine.WriteNew(req.PlanFile, data); err != nil {
		return nil, fmt.Errorf("project %s: saving the plan: %w", req.Project, err)
	}
	if req.Saved != nil {
		req.Saved()
	}
	p, err := s.show(ctx, req.PlanFile)
	if err != nil {
		return nil, err
	}
	p.Text = planText(out.Stdout)
	p.Warnings = warnings(out)
	p.InitSkipped = skipped
	if s.created {
		p.CreatedWorkspace = s.ws
		p.Warnings = append(p.Warnings, fmt.Sprintf("Workspace %q did not exist and was created for this plan: check the name if you expected an existing workspace", s.ws))
	}
	p.Artifact = engine.HashBytes(req.PlanFile, data)
	return p, nil
}

// Apply applies the saved plan file after checking it is the one reviewed.
func (d *Driver) Apply(ctx context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
	if err := req.CheckPlanFile(); err != nil {
		return nil, err
	}
	s, err := d.session(req.Where())
	if err != nil {
		return nil, err
	}
	defer s.close()
	if _, err := s.init(ctx, false); err != nil {
		return nil, err
	}
	if req.Secrets != nil {
		// The literal secrets of the plan are not kept anywhere; read them
		// from the saved plan again so the caller can hide them in the
		// apply's output.
		p, err := s.show(ctx, req.PlanFile)
		if err != nil {
			return nil, err
		}
		req.Secrets(p.Secrets)
	}
	out, err := s.run(ctx, streamed, "apply", "-input=false", "-no-color", d.lockArg(), req.PlanFile)
	if err != nil {
		var re *engine.RunError
		if errors.As(err, &re) && strings.Contains(out.Stdout+out.Stderr, "Saved plan is stale") {
			re.Err = fmt.Errorf("%w: the state changed after the plan was made", engine.ErrStalePlan)
		}
		return nil, err
	}
	return &engine.ApplyResult{Text: out.Stdout, Summary: applySummary(out.Stdout)}, nil
}

// show reads a saved plan back with `show -json` and normalises it. Its
// output is the raw plan, sensitive values included: it is never logged.
func (s *session) show(ctx context.Context, planFile string) (*engine.Plan, error) {
	show, err := s.run(ctx, quiet, "show", "-json", "-no-color", planFile)
	if err != nil {
		return nil, err
	}
	p, err := normalize(s.d.engineName, []byte(show.Stdout))
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", s.project, err)
	}
	return p, nil
}

// needsInit recognises the errors terraform and tofu give when the working
// directory needs `init` again.
func needsInit(out engine.Output) bool {
	s := out.Stderr + out.Stdout
	for _, m := range []string{
		"terraform init", "tofu init", "Module not installed", "Inconsistent dependency lock file",
		"Backend initialization required", "Required plugins are not installed", "Missing required provider",
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// errorLines extracts what the engine said about an error: stderr without
// the diagnostic box drawing and without the warnings about the machine's
// CLI configuration, or, when that leaves nothing and fromStdout is set,
// the end of stdout.
func errorLines(out engine.Output, fromStdout bool) []string {
	lines := diagnostics(out.Stderr)
	if len(lines) == 0 && fromStdout {
		lines = diagnostics(out.Stdout)
	}
	return engine.LastErrorLines(lines)
}

// diagnostics is engine output without box drawing, blank edges and the
// CLI configuration block.
func diagnostics(src string) []string {
	var lines []string
	raw := strings.Split(src, "\n")
	for i := 0; i < len(raw); i++ {
		l := strings.TrimRight(raw[i], " \r")
		if strings.HasPrefix(l, cliConfigWarning) {
			// The block ends at the first line that is not blank or part
			// of a diagnostic box.
			for i+1 < len(raw) {
				n := strings.TrimRight(raw[i+1], " \r")
				if n != "" && n != "╷" && n != "╵" && n != "│" && !strings.HasPrefix(n, "│ ") && !strings.HasPrefix(n, "As a result of the above problems") {
					break
				}
				i++
			}
			continue
		}
		switch {
		case l == "╷" || l == "╵":
			continue
		case strings.HasPrefix(l, "│ "):
			l = l[len("│ "):]
		case l == "│":
			l = ""
		}
		lines = append(lines, l)
	}
	return engine.TrimBlank(lines)
}

// The CLI configuration warning is about the machine, not the plan.
const cliConfigWarning = "There are some problems with the CLI configuration"

// warnings collects the titles and first detail line of warning
// diagnostics.
func warnings(out engine.Output) []string {
	var ws []string
	for _, src := range []string{out.Stdout, out.Stderr} {
		lines := strings.Split(src, "\n")
		for i, l := range lines {
			t, ok := strings.CutPrefix(l, "│ Warning: ")
			if !ok {
				continue
			}
			if i > 0 && strings.Contains(strings.Join(lines[max(0, i-3):i], "\n"), cliConfigWarning) {
				continue
			}
			w := strings.TrimSpace(t)
			for _, d := range lines[i+1:] {
				d = strings.TrimSpace(strings.TrimPrefix(d, "│"))
				if d == "╵" {
					break
				}
				if d != "" {
					w += ": " + d
					break
				}
			}
			ws = append(ws, w)
		}
	}
	return ws
}

var noiseLine = regexp.MustCompile(`: (Refreshing state\.\.\.|Reading\.\.\.|Read complete after)|^(Acquiring|Releasing) state lock|^Saved the plan to:|^To perform exactly these actions|^\s+(terraform|tofu) apply |^─+$`)

// planText is the plan's human output without progress noise and without
// the engine's advice to run apply by hand.
func planText(stdout string) string {
	var keep []string
	for _, l := range strings.Split(stdout, "\n") {
		if noiseLine.MatchString(l) {
			continue
		}
		keep = append(keep, strings.TrimRight(l, " \r"))
	}
	return strings.Join(engine.TrimBlank(keep), "\n") + "\n"
}

// applyComplete is the engine's closing line: "Apply complete! Resources:
// 1 imported, 0 added, 1 changed, 0 destroyed." (imports only when some).
var applyComplete = regexp.MustCompile(`Resources: (?:(\d+) imported, )?(\d+) added, (\d+) changed, (\d+) destroyed`)

func applySummary(stdout string) engine.Summary {
	m := applyComplete.FindStringSubmatch(stdout)
	if m == nil {
		return engine.Summary{}
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return engine.Summary{Import: n(m[1]), Add: n(m[2]), Change: n(m[3]), Destroy: n(m[4])}
}

var lockIDLine = regexp.MustCompile(`(?m)^\s*(?:│\s*)?ID:\s+(\S+)`)

// ProbeLock reports the id of a state lock someone holds on the project's
// state, or "" when the state is not locked. It takes the lock itself for
// a moment (a plan without refresh, failing at once on a held lock) and
// changes nothing.
func (d *Driver) ProbeLock(ctx context.Context, req engine.ProbeRequest) (string, error) {
	s, err := d.session(req.Where())
	if err != nil {
		return "", err
	}
	defer s.close()
	if _, err := s.init(ctx, false); err != nil {
		return "", err
	}
	out, err := s.run(ctx, streamed, "plan", "-input=false", "-no-color", "-refresh=false", "-lock-timeout=0s")
	if err == nil {
		return "", nil
	}
	text := out.Stdout + out.Stderr
	if !strings.Contains(text, "Error acquiring the state lock") {
		return "", err
	}
	if m := lockIDLine.FindStringSubmatch(text); m != nil {
		return m[1], nil
	}
	return "unknown", nil
}
