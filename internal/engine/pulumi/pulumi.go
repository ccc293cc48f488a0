// Package pulumi drives the pulumi command-line tool behind the same
// engine interface as Terraform. Plan runs `pulumi preview` with an update
// plan (--save-plan) and its engine event log, and normalises the events;
// Apply runs `pulumi up --plan` after checking that the stack's state is
// the one the plan was made from. Every command runs through
// engine.Command, so cancellation sends SIGINT first (Pulumi then
// releases its stack lock), then kills after a grace period.
package pulumi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/safename"
)

// Driver plans and applies Pulumi projects with the pulumi CLI.
type Driver struct {
	binary string
	// Grace is how long the engine gets after SIGINT before it is killed.
	Grace time.Duration
	// noUpdatePlans makes Plan record the reviewed changes without a
	// Pulumi update plan, so that Apply previews again and refuses when
	// the changes differ from the reviewed ones. Plan takes this path by
	// itself when the CLI has no update plans; tests set it to take it
	// with any CLI.
	noUpdatePlans bool
	// Env is extra environment, KEY=VALUE, for every command, before a
	// request's own: the backend, its passphrase or token and the cloud
	// credentials when they are not in the process environment. ProbeLock,
	// which has no request, uses it too.
	Env []string
	// Confine is what the engine's processes get of the machine: their
	// environment and, in a sandbox, the paths they reach.
	Confine engine.Confinement
}

var (
	_ engine.Engine       = (*Driver)(nil)
	_ engine.OwnFiles     = (*Driver)(nil)
	_ engine.SandboxPaths = (*Driver)(nil)
)

// New returns a driver that runs binary, a path or a name looked up on
// PATH.
func New(binary string) *Driver {
	return &Driver{binary: binary, Grace: engine.DefaultGrace}
}

// Name is the engine as written in sluice.yaml.
func (d *Driver) Name() string { return "pulumi" }

// OwnFiles is the stack's settings file, which creating the stack writes
// (it holds the salt of the stack's secrets). Pulumi names it with the
// project file's extension: Pulumi.<stack>.yaml, or .yml beside a
// Pulumi.yml.
func (d *Driver) OwnFiles(stack string) []engine.OwnFile {
	if stack == "" {
		return nil
	}
	name := "Pulumi." + stackName(stack)
	return []engine.OwnFile{{Name: name + ".yaml", OnlyNew: true}, {Name: name + ".yml", OnlyNew: true}}
}

func (d *Driver) lookPath() (string, error) {
	return engine.LookPath(d.Name(), d.binary, "install the Pulumi CLI or configure the path of its binary")
}

// session is one project and stack, for the length of one Plan, Apply or
// ProbeLock.
type session struct {
	d       *Driver
	bin     string
	project string
	dir     string
	root    string // the checkout: what the driver reads of the project stays inside it
	stack   string
	state   string
	env     []string
	where   engine.Where
	own     engine.Paths // what the engine reaches of its own, the session's TMPDIR included
	tmp     engine.SessionDir
	log     engine.LineFunc
	close   func()
}

func (d *Driver) session(w engine.Where) (*session, error) {
	if err := engine.CheckDir(w.Project, w.Dir); err != nil {
		return nil, err
	}
	if w.Workspace == "" {
		return nil, fmt.Errorf("project %s: a Pulumi project needs a stack: name it in sluice.yaml (stack: prod)", w.Project)
	}
	// The stack becomes an argument and the name of its settings file:
	// sluice.yaml's validation refused a bad one; a name from anywhere
	// else is refused here, before anything is created.
	if err := safename.Stack(w.Workspace); err != nil {
		return nil, fmt.Errorf("project %s: invalid stack %q (%v); fix stack in sluice.yaml", w.Project, w.Workspace, err)
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
	s := &session{d: d, bin: bin, project: w.Project, dir: w.Dir, root: w.Checkout(), stack: w.Workspace, state: w.StateDir, log: w.Log, close: remove, where: w, tmp: sd}
	s.env = d.environ(append(append(d.Env[:len(d.Env):len(d.Env)], "TMPDIR="+sd.Tmp), w.Env...))
	s.own = d.ownPaths(s.env, bin)
	s.own.Write = append(s.own.Write, sd.Tmp)
	return s, nil
}

// sandbox is the sandbox of one command of the session, which reaches
// extra beyond the session's paths.
func (s *session) sandbox(extra engine.Paths) *engine.Sandbox {
	return s.where.Sandbox(s.d.Confine, s.env, s.own, extra)
}

// environ is the environment engines start from with Sluice's settings and
// then the request's on top. The backend (PULUMI_BACKEND_URL or the
// project's backend.url), its token or passphrase and the cloud
// credentials come from there, never from the repository.
func (d *Driver) environ(extra []string) []string {
	env := append(d.Confine.Environ(),
		"PULUMI_SKIP_UPDATE_CHECK=true",
		// --event-log is one of the debug commands' flags, as for the
		// Automation API, which reads the same log.
		"PULUMI_DEBUG_COMMANDS=true",
		"NO_COLOR=1",
	)
	return append(env, extra...)
}

// SandboxPaths are the paths the engine reaches of its own: its binary's
// directory (the language hosts are beside it), Pulumi's home (plugins,
// credentials, workspaces) and a local backend that the operator's
// environment names (PULUMI_BACKEND_URL=file://...). A backend that only
// the repository's Pulumi.yaml names is not among them.
func (d *Driver) SandboxPaths(c engine.Confinement) engine.Paths {
	bin, _ := d.lookPath()
	return d.ownPaths(d.environ(d.Env), bin)
}

func (d *Driver) ownPaths(env []string, bin string) engine.Paths {
	var p engine.Paths
	if dir := engine.BinaryDir(bin); dir != "" { // "" when the binary is not installed
		p.Read = append(p.Read, dir)
	}
	home := engine.HomeDir(env)
	if h := engine.Getenv(env, "PULUMI_HOME"); filepath.IsAbs(h) {
		p.Write = append(p.Write, h)
	} else if home != "" {
		p.Write = append(p.Write, filepath.Join(home, ".pulumi"))
	}
	if dir, _ := fileBackend(engine.Getenv(env, "PULUMI_BACKEND_URL"), home); filepath.IsAbs(dir) {
		p.Write = append(p.Write, dir)
	}
	return p
}

// getenv is the value of key in the session's environment.
func (s *session) getenv(key string) string { return engine.Getenv(s.env, key) }

// How run treats a command's output.
type runMode int

const (
	// quiet: not streamed, and a failure's error lines come from stderr
	// only. For commands whose stdout holds secrets (config
	// --show-secrets) or the whole state (stack export).
	quiet runMode = iota
	// streamed: the output goes to the log as it comes.
	streamed
)

// result is what one pulumi command left: its output and, for preview
// and up, its engine events.
type result struct {
	out    engine.Output
	events *events
}

// run runs pulumi with args for the stack. log, when set, receives the
// output of a streamed command; scrub, when not nil, hides secrets in its
// error lines.
func (s *session) run(ctx context.Context, mode runMode, log engine.LineFunc, scrub *redact.Redactor, args ...string) (result, error) {
	return s.runWith(ctx, mode, log, scrub, engine.Paths{}, args...)
}

// runWith is run with the command reaching extra beyond the session's
// paths: the update plan it writes or reads.
func (s *session) runWith(ctx context.Context, mode runMode, log engine.LineFunc, scrub *redact.Redactor, extra engine.Paths, args ...string) (result, error) {
	args = append(args, "--stack="+s.stack, "--non-interactive", "--color=never")
	var evPath string
	if args[0] == "preview" || args[0] == "up" {
		// In the session, which engines cannot write but this one file.
		f, err := os.CreateTemp(s.tmp.Root, "events-*.jsonl")
		if err != nil {
			return result{}, fmt.Errorf("project %s: creating the event log: %w", s.project, err)
		}
		f.Close()
		evPath = f.Name()
		defer os.Remove(evPath)
		args = append(args, "--event-log", evPath)
		extra.Write = append(slices.Clip(extra.Write), evPath)
	}
	c := engine.Command{Path: s.bin, Args: args, Dir: s.dir, Env: s.env, Grace: s.d.Grace, Sandbox: s.sandbox(extra)}
	if mode == streamed {
		c.Log = log
	}
	out, err := c.Run(ctx)
	res := result{out: out}
	if evPath != "" {
		ev, evErr := readEvents(evPath)
		if evErr != nil && err == nil {
			return res, fmt.Errorf("project %s: reading the events of pulumi %s: %w", s.project, args[0], evErr)
		}
		res.events = ev
	}
	if err != nil {
		return res, &engine.RunError{
			Project: s.project,
			Command: commandName(args),
			Lines:   append(errorLines(out, res.events, scrub), engine.SandboxHint(c.Sandbox, out)...),
			Err:     err,
		}
	}
	return res, nil
}

// commandName is "pulumi preview", "pulumi stack export": the command
// without its flags and arguments.
func commandName(args []string) string {
	name := "pulumi " + args[0]
	if (args[0] == "stack" || args[0] == "config") && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		name += " " + args[1]
	}
	return name
}

// noStack is pulumi's error for a stack that does not exist.
var noStack = regexp.MustCompile(`no stack named '[^']*' found`)

func isNoStack(err error) bool {
	var re *engine.RunError
	return errors.As(err, &re) && noStack.MatchString(strings.Join(re.Lines, "\n"))
}

// createStack creates the stack, without selecting it: every command
// names its stack.
func (s *session) createStack(ctx context.Context) error {
	if _, err := s.run(ctx, streamed, s.log, nil, "stack", "init", "--no-select"); err != nil {
		return err
	}
	if s.log != nil {
		s.log("stdout", fmt.Sprintf("sluice: created stack %q", s.stack))
	}
	return nil
}

// Plan previews the stack's changes into a saved plan: the artifact holds
// Pulumi's update plan, the reviewed changes and the fingerprint of the
// state they were made from.
func (d *Driver) Plan(ctx context.Context, req engine.PlanRequest) (*engine.Plan, error) {
	s, err := d.session(req.Where())
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := req.ClearPlanFile(); err != nil {
		return nil, err
	}
	pv, err := s.preview(ctx, !d.noUpdatePlans)
	created := false
	if isNoStack(err) {
		// A stack that does not exist yet is created, as automation
		// needs; a misspelled name shows as a new, empty stack.
		if err := s.createStack(ctx); err != nil {
			return nil, err
		}
		created = true
		pv, err = s.preview(ctx, !d.noUpdatePlans)
	}
	if err != nil {
		return nil, err
	}

	p, rev := normalize(pv.events)
	p.Engine = d.Name()
	p.EngineVersion = pv.version
	p.Secrets = pv.secrets
	p.Text = planText(pv.out.Stdout, pv.scrub)
	p.Warnings = scrubAll(pv.events.warnings(), pv.scrub)
	if created {
		p.CreatedWorkspace = s.stack
		p.Warnings = append(p.Warnings, fmt.Sprintf("Stack %q did not exist and was created for this plan: check the name if you expected an existing stack, "+
			"and keep the stack's settings file (%s) in the repository if Pulumi wrote one", s.stack, s.stackFileName()))
	}
	art := artifact{Format: artifactFormat, Stack: s.stack, State: pv.fingerprint, Changes: rev, UpdatePlan: pv.updatePlan}
	if err := art.write(req.PlanFile); err != nil {
		return nil, fmt.Errorf("project %s: %w", req.Project, err)
	}
	if req.Saved != nil {
		req.Saved()
	}
	p.Artifact, err = engine.HashFile(req.PlanFile)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", req.Project, err)
	}
	return p, nil
}

// previewed is what a preview found: the state it started from, the
// secrets of the stack's configuration and the preview itself.
type previewed struct {
	result
	fingerprint string
	secrets     []string
	scrub       *redact.Redactor
	updatePlan  []byte // Pulumi's update plan; nil without one
	version     string // of the CLI, from the update plan
}

// preview reads the stack's state and secrets and previews its changes,
// all three at once: the state (pending operations, fingerprint) and the
// secrets are ready long before the preview is done. The preview's live
// output is held back until the secrets are known, and then has them
// hidden. A stack with pending operations stops the preview.
func (s *session) preview(ctx context.Context, updatePlan bool) (*previewed, error) {
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg                sync.WaitGroup
		st                stackState
		stErr, secErr     error
		secrets           []string
		live              = newGate(s.log)
		planPath, planErr = s.planOut(updatePlan)
		writePlan         = engine.Paths{Write: []string{filepath.Dir(planPath)}}
	)
	if planErr != nil {
		return nil, planErr
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		st, stErr = s.inspect(ctx)
		if stErr == nil && len(st.pending) > 0 {
			stop()
		}
	}()
	go func() {
		defer wg.Done()
		secrets, secErr = s.configSecrets(ctx)
		if secErr == nil {
			live.open(redact.New(secrets, nil))
		}
	}()
	args := []string{"preview", "--diff"}
	if planPath != "" {
		args = append(args, "--save-plan", planPath)
	}
	res, err := s.runWith(pctx, streamed, live.line, nil, writePlan, args...)
	if err != nil && planPath != "" && strings.Contains(res.out.Stderr, "unknown flag: --save-plan") {
		// This CLI has no update plans: apply will preview again and
		// compare instead.
		live.line("stderr", "sluice: this pulumi CLI has no update plans (preview --save-plan); the apply will preview again and refuse changes that differ from this plan")
		planPath = ""
		res, err = s.run(pctx, streamed, live.line, nil, "preview", "--diff")
	}
	wg.Wait()
	scrub := redact.New(secrets, nil)
	if secErr != nil {
		// The secrets to hide are unknown: what the preview said is not
		// shown, and neither are its error lines (below).
		live.drop()
	} else {
		live.open(scrub)
	}
	var re *engine.RunError
	if errors.As(err, &re) {
		// The secrets were not known yet when the error was made.
		scrubAll(re.Lines, scrub)
	}
	switch {
	case isNoStack(stErr):
		return nil, stErr
	case isNoStack(err):
		return nil, err
	case stErr != nil:
		return nil, stErr
	case len(st.pending) > 0:
		return nil, s.pendingError(ctx, "pulumi preview", st)
	case secErr != nil:
		return nil, secErr
	case err != nil:
		return nil, err
	}
	pv := &previewed{result: res, fingerprint: st.fingerprint, secrets: secrets, scrub: scrub}
	if planPath != "" {
		b, err := engine.ReadRegular(planPath, engine.MaxArtifact)
		if err != nil {
			return nil, fmt.Errorf("project %s: reading the update plan: %w", s.project, err)
		}
		pv.updatePlan = b
		pv.version = planVersion(b)
	}
	return pv, nil
}

// planOut is where preview saves its update plan: in a directory of the
// session that only that preview may write; "" when want is false.
func (s *session) planOut(want bool) (string, error) {
	if !want {
		return "", nil
	}
	dir, err := s.tmp.Dir(fmt.Sprintf("preview-%d", time.Now().UnixNano()))
	if err != nil {
		return "", fmt.Errorf("project %s: %w", s.project, err)
	}
	return filepath.Join(dir, "update-plan.json"), nil
}

// Apply applies a saved plan: with Pulumi's update plan when it has one,
// which makes Pulumi fail an update that would do anything the plan does
// not contain; otherwise after a new preview whose changes must be the
// reviewed ones. Either way only onto the state the plan was made from.
func (d *Driver) Apply(ctx context.Context, req engine.ApplyRequest) (*engine.ApplyResult, error) {
	if err := req.CheckPlanFile(); err != nil {
		return nil, err
	}
	art, err := readArtifact(req.PlanFile)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", req.Project, err)
	}
	s, err := d.session(req.Where())
	if err != nil {
		return nil, err
	}
	defer s.close()
	if art.Stack != s.stack {
		return nil, fmt.Errorf("project %s: the saved plan is for stack %q, not %q: %w", req.Project, art.Stack, s.stack, engine.ErrArtifactChanged)
	}

	var (
		wg            sync.WaitGroup
		st            stackState
		stErr, secErr error
		secrets       []string
	)
	wg.Add(2)
	go func() { defer wg.Done(); st, stErr = s.inspect(ctx) }()
	go func() { defer wg.Done(); secrets, secErr = s.configSecrets(ctx) }()
	wg.Wait()
	switch {
	case stErr != nil:
		return nil, stErr
	case len(st.pending) > 0:
		return nil, s.pendingError(ctx, "pulumi up", st)
	case st.fingerprint != art.State:
		return nil, &engine.RunError{
			Project: s.project,
			Command: "pulumi up",
			Lines: []string{
				fmt.Sprintf("The state of stack %s changed after this plan was made (an update, refresh or import ran since),", s.stack),
				"so the plan no longer shows what applying it would do. Plan again and review the new plan.",
			},
			Err: fmt.Errorf("%w: the state of stack %s changed after the plan was made", engine.ErrStalePlan, s.stack),
		}
	case secErr != nil:
		return nil, secErr
	}
	if req.Secrets != nil {
		req.Secrets(secrets)
	}
	scrub := redact.New(secrets, nil)
	log := scrubbed(s.log, scrub)

	args := []string{"up", "--yes", "--skip-preview", "--diff"}
	var readPlan engine.Paths
	if art.UpdatePlan != nil {
		// In the session, which no engine may write: up reads it, and
		// nothing can change it under up.
		f := filepath.Join(s.tmp.Root, "update-plan.json")
		if err := engine.WriteNew(f, art.UpdatePlan); err != nil {
			return nil, fmt.Errorf("project %s: writing the update plan: %w", s.project, err)
		}
		args = append(args, "--plan", f)
		readPlan.Read = []string{f}
	} else if err := s.recheck(ctx, log, scrub, art.Changes); err != nil {
		return nil, err
	}
	res, err := s.runWith(ctx, streamed, log, scrub, readPlan, args...)
	if err != nil {
		var re *engine.RunError
		if errors.As(err, &re) && res.events != nil && res.events.violatesPlan() {
			re.Err = fmt.Errorf("%w: the update would do what the reviewed plan does not: %w", engine.ErrStalePlan, re.Err)
		}
		return nil, err
	}
	return &engine.ApplyResult{Text: planText(res.out.Stdout, scrub), Summary: res.events.summary()}, nil
}

// recheck previews again and refuses when the changes differ from the
// reviewed ones: the apply of a plan without a Pulumi update plan.
func (s *session) recheck(ctx context.Context, log engine.LineFunc, scrub *redact.Redactor, reviewed changes) error {
	if log != nil {
		log("stdout", "sluice: previewing again to check that the changes are the reviewed ones")
	}
	res, err := s.run(ctx, streamed, log, scrub, "preview", "--diff")
	if err != nil {
		return err
	}
	_, now := normalize(res.events)
	if diff := reviewed.differences(now); len(diff) > 0 {
		lines := append([]string{"The changes a new preview shows are not the reviewed ones:"}, scrubAll(diff, scrub)...)
		return &engine.RunError{
			Project: s.project,
			Command: "pulumi preview",
			Lines:   append(lines, "Plan again and review the new plan."),
			Err:     fmt.Errorf("%w: the changes differ from the reviewed plan", engine.ErrStalePlan),
		}
	}
	return nil
}

// scrubbed wraps log so that it hides what r hides, and colours (the
// language hosts colour their errors whatever they are told).
func scrubbed(log engine.LineFunc, r *redact.Redactor) engine.LineFunc {
	if log == nil {
		return nil
	}
	return func(stream, line string) { log(stream, r.String(ansi.ReplaceAllString(line, ""))) }
}

func scrubAll(lines []string, r *redact.Redactor) []string {
	for i := range lines {
		lines[i] = r.String(lines[i])
	}
	return lines
}

// gate holds lines back until the secrets to hide in them are known.
type gate struct {
	mu     sync.Mutex
	out    engine.LineFunc
	scrub  *redact.Redactor
	opened bool
	held   [][2]string
}

func newGate(out engine.LineFunc) *gate { return &gate{out: out} }

func (g *gate) line(stream, line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened {
		g.held = append(g.held, [2]string{stream, line})
		return
	}
	if g.out != nil {
		g.out(stream, g.scrub.String(ansi.ReplaceAllString(line, "")))
	}
}

// open lets lines through from now on, hiding what r hides, starting
// with the held ones. Only the first call counts.
func (g *gate) open(r *redact.Redactor) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		return
	}
	g.opened, g.scrub = true, r
	for _, l := range g.held {
		if g.out != nil {
			g.out(l[0], r.String(ansi.ReplaceAllString(l[1], "")))
		}
	}
	g.held = nil
}

// drop discards the lines held and any to come: they cannot be shown
// safely.
func (g *gate) drop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened, g.out, g.held = true, nil, nil
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// errorLines is what pulumi said about a failure: stderr without colour
// and warnings, and the error diagnostics of its event log, secrets
// hidden.
func errorLines(out engine.Output, ev *events, scrub *redact.Redactor) []string {
	var lines []string
	for _, l := range strings.Split(ansi.ReplaceAllString(out.Stderr, ""), "\n") {
		l = strings.TrimRight(l, " \r")
		if strings.HasPrefix(l, "warning: ") {
			continue
		}
		lines = append(lines, l)
	}
	lines = engine.TrimBlank(lines)
	have := strings.Join(lines, "\n")
	for _, e := range ev.errors() {
		if !strings.Contains(have, e) {
			lines = append(lines, e)
			have += "\n" + e
		}
	}
	return scrubAll(engine.LastErrorLines(lines), scrub)
}

// planText is the preview's or update's human output, secrets hidden.
func planText(stdout string, scrub *redact.Redactor) string {
	var keep []string
	for _, l := range strings.Split(stdout, "\n") {
		keep = append(keep, strings.TrimRight(l, " \r"))
	}
	return scrub.String(strings.Join(engine.TrimBlank(keep), "\n") + "\n")
}
