// Package engine defines what Sluice needs from an infrastructure-as-code
// engine (Terraform, OpenTofu, Pulumi) and the normalised plan every engine
// produces, so that the renderer, the gate and the store never see an
// engine's own formats.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Engine plans and applies one project. Implementations are safe for
// concurrent use on different projects.
type Engine interface {
	// Name is the engine as written in sluice.yaml: terraform, opentofu, pulumi.
	Name() string
	// Plan previews the project's changes and saves a plan artifact that
	// Apply can later apply exactly.
	Plan(ctx context.Context, req PlanRequest) (*Plan, error)
	// Apply applies a saved plan artifact and nothing else.
	Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error)
}

// LineFunc receives the engine's output line by line as it is produced.
// Stream is "stdout" or "stderr". It is called from one goroutine at a time.
type LineFunc func(stream, line string)

// PlanRequest describes one project to plan.
type PlanRequest struct {
	Project string // project name, for messages
	// Root is the checkout the project is in: a sandboxed engine may read
	// and write all of it (local modules are beside the project), and
	// nothing of the repository beyond it; what the driver itself reads of
	// the project stays inside it too. "" means Dir.
	Root      string
	Dir       string   // absolute directory of the project's code
	Workspace string   // Terraform workspace, "" means default
	StateDir  string   // directory the engine may keep its working data in (persists between runs)
	PlanFile  string   // where to save the plan artifact
	Env       []string // extra environment, KEY=VALUE
	Log       LineFunc // optional live output
	// Saved, when set, is called once the plan artifact is saved and
	// before it is read back, so the caller can start work that needs the
	// engine's files in place (a snapshot of the working tree) concurrently.
	Saved func()
}

// ApplyRequest describes one saved plan to apply.
type ApplyRequest struct {
	Project   string
	Root      string // as in PlanRequest
	Dir       string
	Workspace string
	StateDir  string
	PlanFile  string
	// PlanSHA256 is the artifact hash recorded at plan time; Apply refuses
	// an artifact whose hash differs.
	PlanSHA256 string
	Env        []string
	Log        LineFunc
	// Secrets, when set, is called once before the plan is applied with
	// the literal values the saved plan marks sensitive (as in
	// Plan.Secrets, which are never stored), so the caller can hide them in
	// the live output, the error lines and the result.
	Secrets func(secrets []string)
}

// ProbeRequest names the project whose state ProbeLock looks at.
type ProbeRequest struct {
	Root      string // as in PlanRequest
	Dir       string
	Workspace string
	StateDir  string
}

// Where is what a driver needs of any request: where the project is, and
// who hears of its output.
type Where struct {
	Project, Root, Dir, Workspace, StateDir, PlanFile string
	Env                                               []string // extra environment
	Log                                               LineFunc
}

// Where is where the plan is made.
func (r PlanRequest) Where() Where {
	return Where{r.Project, r.Root, r.Dir, r.Workspace, r.StateDir, r.PlanFile, r.Env, r.Log}
}

// Where is where the plan is applied.
func (r ApplyRequest) Where() Where {
	return Where{r.Project, r.Root, r.Dir, r.Workspace, r.StateDir, r.PlanFile, r.Env, r.Log}
}

// Where is where the lock is probed.
func (r ProbeRequest) Where() Where {
	return Where{Project: "probe", Root: r.Root, Dir: r.Dir, Workspace: r.Workspace, StateDir: r.StateDir}
}

// Checkout is the checkout the project is in: Root, or Dir when the
// caller named none. What the engine may write, and all the driver itself
// reads of the project (its lock file, its modules, its project file),
// is inside it.
func (w Where) Checkout() string {
	if w.Root == "" {
		return w.Dir
	}
	return w.Root
}

// Paths are what a run at w reaches: it writes the checkout the project is
// in and its working data, and reads its saved plan (a file of Sluice's,
// which no engine may change).
func (w Where) Paths() Paths {
	p := Paths{Write: []string{w.Checkout(), w.StateDir}}
	if w.PlanFile != "" {
		p.Read = append(p.Read, w.PlanFile)
	}
	return p
}

// Sandbox is the sandbox under c of an engine command of a run at w whose
// environment is env and that reaches own of its own (the engine's paths,
// the command's), or nil when c does not confine engines.
func (w Where) Sandbox(c Confinement, env []string, own ...Paths) *Sandbox {
	all := w.Paths()
	for _, p := range own {
		all.Read = append(all.Read, p.Read...)
		all.Write = append(all.Write, p.Write...)
	}
	return c.SandboxFor(env, all)
}

// SessionDir is the private directory of one Plan, Apply or ProbeLock, of
// Sluice's own (0700): Tmp, the engine's TMPDIR, which its commands may
// write, and the files Sluice hands one command or takes from it (a saved
// plan's output, an event log), which only that command reaches. It is in
// the system's temporary directory, not in the project's working data:
// providers listen on a socket in TMPDIR, whose path may not be longer
// than 107 bytes, and the engines of earlier runs, which may write the
// working data, must not reach what this run hands over.
type SessionDir struct {
	Root, Tmp string
}

// NewSessionDir makes the session directory of a run at w; remove deletes
// it.
func (w Where) NewSessionDir() (dir SessionDir, remove func(), err error) {
	root, err := os.MkdirTemp("", "sluice-")
	if err != nil {
		return SessionDir{}, nil, fmt.Errorf("project %s: %w", w.Project, err)
	}
	dir = SessionDir{Root: root, Tmp: filepath.Join(root, "tmp")}
	if err := os.Mkdir(dir.Tmp, 0o700); err != nil {
		_ = os.RemoveAll(root)
		return SessionDir{}, nil, fmt.Errorf("project %s: %w", w.Project, err)
	}
	return dir, func() { _ = os.RemoveAll(root) }, nil
}

// Dir makes a new directory in the session for one command's files.
func (d SessionDir) Dir(name string) (string, error) {
	p := filepath.Join(d.Root, name)
	return p, os.Mkdir(p, 0o700)
}

// Action is what a plan does to one resource.
type Action string

// The normalised actions. A replacement is reported once, as Replace, not
// as a create plus a delete.
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionDelete  Action = "delete"
	ActionReplace Action = "replace"
	ActionRead    Action = "read"
	ActionNoOp    Action = "no-op"
	// ActionForget removes a resource from the state without destroying it.
	ActionForget Action = "forget"
)

// Masked placeholders put in place of values a plan must not show.
const (
	SensitiveValue = "(sensitive value)"
	UnknownValue   = "(known after apply)"
)

// ResourceChange is one resource's planned change. Before and After are
// JSON-like values (nil, bool, float64/json.Number, string, []any,
// map[string]any) in which sensitive parts are already replaced by
// SensitiveValue and values not known until apply by UnknownValue.
type ResourceChange struct {
	Address      string   `json:"address"`
	Module       string   `json:"module,omitempty"`
	Type         string   `json:"type"`
	Name         string   `json:"name"`
	Provider     string   `json:"provider,omitempty"`
	Action       Action   `json:"action"`
	Reason       string   `json:"reason,omitempty"`
	ReplacePaths []string `json:"replace_paths,omitempty"`
	Before       any      `json:"before,omitempty"`
	After        any      `json:"after,omitempty"`
	// PreviousAddress is the address the resource has in the state now
	// when the plan moves it to Address (a `moved` block); "" when it
	// stays where it is. A move changes the state even when Action is
	// ActionNoOp.
	PreviousAddress string `json:"previous_address,omitempty"`
	// Import is true when the plan imports an existing object into the
	// state at Address (an `import` block), whatever Action says: the
	// action of a plain import is ActionNoOp.
	Import bool `json:"import,omitempty"`
	// ImportID is the id of the imported object, "" when the engine did
	// not give one (an import by identity).
	ImportID string `json:"import_id,omitempty"`
}

// Moved reports whether the plan moves the resource to a new address.
func (rc ResourceChange) Moved() bool {
	return rc.PreviousAddress != "" && rc.PreviousAddress != rc.Address
}

// OutputChange is one root output's planned change.
type OutputChange struct {
	Name      string `json:"name"`
	Action    Action `json:"action"`
	Sensitive bool   `json:"sensitive,omitempty"`
	Before    any    `json:"before,omitempty"`
	After     any    `json:"after,omitempty"`
}

// Summary counts resource changes by action. Replacements are counted
// only in Replace. Imports and moves are counted besides the action, as
// Terraform counts imports ("1 to import, 0 to add, 1 to change"): a
// resource moved and updated counts in Change and in Move.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Replace int `json:"replace"`
	Read    int `json:"read,omitempty"`
	// Import counts the resources imported into the state.
	Import int `json:"import,omitempty"`
	// Move counts the resources moved to a new address in the state.
	Move int `json:"move,omitempty"`
}

// HasChanges reports whether applying would change any resource, or the
// state's record of one: an import or a move alone is a change to apply.
func (s Summary) HasChanges() bool {
	return s.Add+s.Change+s.Destroy+s.Replace+s.Import+s.Move > 0
}

// Count counts one resource change with action a. A resource forgotten
// (removed from the state without being destroyed) counts as destroyed;
// no-ops and unknown actions are not counted.
func (s *Summary) Count(a Action) {
	switch a {
	case ActionCreate:
		s.Add++
	case ActionUpdate:
		s.Change++
	case ActionDelete, ActionForget:
		s.Destroy++
	case ActionReplace:
		s.Replace++
	case ActionRead:
		s.Read++
	}
}

// CountChange counts one resource change: its action (as Count), its
// import and its move.
func (s *Summary) CountChange(rc ResourceChange) {
	s.Count(rc.Action)
	if rc.Import {
		s.Import++
	}
	if rc.Moved() {
		s.Move++
	}
}

// Artifact is the saved plan file an Apply consumes.
type Artifact struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Plan is the normalised result of planning one project.
type Plan struct {
	Engine        string           `json:"engine"`
	EngineVersion string           `json:"engine_version,omitempty"`
	Resources     []ResourceChange `json:"resources"`
	Outputs       []OutputChange   `json:"outputs,omitempty"`
	Summary       Summary          `json:"summary"`
	// OutputChanges reports whether any root output changes; an apply of a
	// plan with only output changes still updates the state.
	OutputChanges bool `json:"output_changes,omitempty"`
	// Text is the engine's own human-readable plan output.
	Text     string   `json:"text"`
	Warnings []string `json:"warnings,omitempty"`
	Artifact Artifact `json:"artifact"`
	// InitSkipped is true when the engine reused an earlier init.
	InitSkipped bool `json:"init_skipped"`
	// CreatedWorkspace names the workspace the engine created for this
	// plan because it did not exist; "" when it existed.
	CreatedWorkspace string `json:"created_workspace,omitempty"`
	// Secrets are literal values the plan marked sensitive. They are used
	// to scrub text before it leaves Sluice and are never serialised.
	Secrets []string `json:"-"`
}

// Changes reports whether applying the plan would change anything at all:
// resources (imports and moves included, which change the state even when
// no resource changes) or outputs.
func (p *Plan) Changes() bool {
	return p.Summary.HasChanges() || p.OutputChanges
}

// RewritesOutputs reports whether applying the plan changes or removes an
// output the state already has: what another project planned against
// those outputs (through remote state, say) may then be wrong. A new
// output does not count: nothing planned before could read it.
func (p *Plan) RewritesOutputs() bool {
	for _, o := range p.Outputs {
		if o.Action != ActionCreate && o.Action != ActionNoOp {
			return true
		}
	}
	return false
}

// Redact hides what r hides (the configured masks, literal secrets) in
// every text and value of the plan: Text, Warnings, the resources'
// ImportID and every string in the resources' and outputs' Before and
// After, in place. Sensitive values are already masked by the engine. r is
// usually a *redact.Redactor.
func (p *Plan) Redact(r interface{ String(string) string }) {
	p.Text = r.String(p.Text)
	for i := range p.Warnings {
		p.Warnings[i] = r.String(p.Warnings[i])
	}
	for i := range p.Resources {
		p.Resources[i].Before = redactValue(p.Resources[i].Before, r)
		p.Resources[i].After = redactValue(p.Resources[i].After, r)
		if p.Resources[i].ImportID != "" {
			p.Resources[i].ImportID = r.String(p.Resources[i].ImportID)
		}
	}
	for i := range p.Outputs {
		p.Outputs[i].Before = redactValue(p.Outputs[i].Before, r)
		p.Outputs[i].After = redactValue(p.Outputs[i].After, r)
	}
}

// redactValue redacts every string in a JSON-like value, maps and slices
// in place.
func redactValue(v any, r interface{ String(string) string }) any {
	switch x := v.(type) {
	case string:
		return r.String(x)
	case map[string]any:
		for k, y := range x {
			x[k] = redactValue(y, r)
		}
	case []any:
		for i, y := range x {
			x[i] = redactValue(y, r)
		}
	}
	return v
}

// HashFile returns the SHA-256 and size of a saved plan artifact: a
// regular file, not reached through a symbolic link, of at most
// MaxArtifact bytes.
func HashFile(path string) (Artifact, error) {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return Artifact{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxArtifact+1))
	if err != nil {
		return Artifact{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	if n > MaxArtifact {
		return Artifact{}, fmt.Errorf("%s is larger than %d bytes", path, MaxArtifact)
	}
	return Artifact{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ApplyResult is the outcome of applying one saved plan.
type ApplyResult struct {
	Text string `json:"text"`
	// Summary is what the engine itself reports it did (Terraform's
	// "Resources: N added, N changed, N destroyed"; a replacement counts
	// as one added and one destroyed). Zero when it reported nothing.
	Summary Summary `json:"summary"`
}

// Errors an engine returns, to be tested with errors.Is.
var (
	// ErrStalePlan means the saved plan can no longer be applied because
	// the state changed after it was made.
	ErrStalePlan = errors.New("saved plan is stale")
	// ErrBinaryNotFound means the engine's executable is not installed.
	ErrBinaryNotFound = errors.New("engine binary not found")
	// ErrArtifactChanged means the plan artifact is not the one reviewed.
	ErrArtifactChanged = errors.New("plan artifact changed since it was reviewed")
)

// RunError is a failed engine command. Lines holds the engine's own error
// output (diagnostics), already stripped of colour, for showing to people.
type RunError struct {
	Project string
	Command string // e.g. "terraform plan"
	Lines   []string
	Err     error
}

func (e *RunError) Error() string {
	msg := "running " + e.Command + " for project " + e.Project
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }
