package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/safename"
)

// Layout of Sluice's files inside a checkout's git directory. Keeping them
// in .git means they are never committed, never change the working tree
// (so they never make a plan stale), and belong to this checkout only.
//
//	.git/sluice/lock                    held while plan or apply runs
//	.git/sluice/plans/last.json         the last plan: bindings and results
//	.git/sluice/plans/NAME.plan         saved plan artifact of project NAME
//	.git/sluice/projects/NAME/          the engine's working data (init, providers)
//
// NAME is the project's name made one path segment (safename.Segment): a
// valid name is itself, and a name that did not come through sluice.yaml's
// validation (a record edited by hand) stays inside its directory.
type dirs struct{ root string }

func (d dirs) lock() string   { return filepath.Join(d.root, "lock") }
func (d dirs) record() string { return filepath.Join(d.root, "plans", "last.json") }
func (d dirs) artifact(project string) string {
	return filepath.Join(d.root, "plans", safename.Segment(project)+".plan")
}
func (d dirs) state(project string) string {
	return filepath.Join(d.root, "projects", safename.Segment(project))
}

// recordVersion changes when the record's meaning changes; older records
// are refused rather than misread.
const recordVersion = 2

// Record is the last `sluice plan` of a checkout: what was planned, at
// which commits and working tree, and each project's result. `sluice
// apply` applies exactly what it names.
type Record struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	BaseRef   string    `json:"base_ref"`
	Base      string    `json:"base"`
	MergeBase string    `json:"merge_base"`
	Head      string    `json:"head"`
	// Tree is the git tree of the working tree once planning finished,
	// uncommitted changes included.
	Tree string `json:"tree"`
	// Interrupted is set when the plan was interrupted: nothing in the
	// record may be applied.
	Interrupted bool            `json:"interrupted,omitempty"`
	Projects    []ProjectRecord `json:"projects"`
	// Removed are projects configured at the merge base but not at HEAD;
	// their resources are not destroyed by removing their code.
	Removed []RemovedProject `json:"removed_projects,omitempty"`
}

// ProjectRecord is one project's plan in a Record.
type ProjectRecord struct {
	Name      string `json:"name"`
	Dir       string `json:"dir"`
	Engine    string `json:"engine"`
	Workspace string `json:"workspace,omitempty"`
	// DependsOn are the projects it depends on, from the configuration
	// it was planned with.
	DependsOn []string `json:"depends_on,omitempty"`
	// Patterns are the globs whose changes make its plan stale: its
	// when_modified globs and its local modules.
	Patterns []string      `json:"patterns"`
	Reasons  []string      `json:"reasons,omitempty"`
	Status   render.Status `json:"status"`
	// Message is a short reason: why a plan failed or was skipped, why an
	// apply failed, or why a planned project was not applied (yet).
	Message string `json:"message,omitempty"`
	// ErrorLines are the engine's own error lines, already redacted.
	ErrorLines []string     `json:"error_lines,omitempty"`
	Plan       *engine.Plan `json:"plan,omitempty"`
	// ApplyingSince is set, and written down, before the engine starts
	// applying, and cleared when it is done: found set, the apply never
	// finished (sluice was killed), and the engine may still be running.
	ApplyingSince *time.Time `json:"applying_since,omitempty"`
	AppliedAt     *time.Time `json:"applied_at,omitempty"`
	// ApplyText is the engine's apply output, redacted.
	ApplyText string `json:"apply_text,omitempty"`
	// ApplySummary is what the engine reported it applied (a replacement
	// counts as one added and one destroyed), set once applied.
	ApplySummary *engine.Summary `json:"apply_summary,omitempty"`
	DurationMS   int64           `json:"duration_ms"`
}

func readRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no saved plan in this checkout: run `sluice plan` first")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan %s: %w", path, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("the saved plan %s is damaged (%v): run `sluice plan` again", path, err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("the saved plan %s was written by another version of sluice: run `sluice plan` again", path)
	}
	return &r, nil
}

// writeRecord replaces the record atomically, so a crash leaves either the
// old record or the new one, never half of one.
func writeRecord(path string, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving the plan record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving the plan record: %w", err)
	}
	return nil
}

// lockCheckout takes an exclusive lock for the checkout so two sluice
// commands never plan or apply in it at once. The kernel releases it when
// the process ends, however it ends, so no lock is ever left behind.
func lockCheckout(path string) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another sluice command is running in this checkout (lock %s held); wait for it to finish", path)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
