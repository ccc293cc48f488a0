package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// What the drivers share: finding the binary, checking the project's
// directory, preparing and verifying the plan artifact, and shaping the
// engine's error output.

// OwnFiles is implemented by engines that write files into a project's
// directory while planning (init's lock file, a new stack's settings
// file). Those changes are the engine's own and belong to what was
// planned; a change to any other file while planning makes the plan
// unreliable.
type OwnFiles interface {
	// OwnFiles lists the files a plan of the given workspace (Terraform
	// workspace or Pulumi stack) may write.
	OwnFiles(workspace string) []OwnFile
}

// OwnFile is one file an engine writes into a project's directory.
type OwnFile struct {
	// Name is relative to the project's directory, slash-separated.
	Name string
	// OnlyNew is set when only the file's creation is the engine's: a
	// change to a file that already existed is not.
	OnlyNew bool
}

// LookPath returns the absolute path of an engine's binary, a path or a
// name looked up on PATH. hint tells a person how to install or configure
// it.
func LookPath(engineName, binary, hint string) (string, error) {
	p, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("the %s binary %q was not found (%s): %w", engineName, binary, hint, ErrBinaryNotFound)
	}
	return filepath.Abs(p)
}

// CheckDir fails when a project's directory does not exist, saying what
// to do about it.
func CheckDir(project, dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	return fmt.Errorf("project %s: directory %s does not exist (was it moved or deleted? fix dir in sluice.yaml; "+
		"if the project was deleted on purpose, removing its code does not destroy its resources: destroy them first, "+
		"or remove them from the state deliberately, then remove the project from sluice.yaml)", project, dir)
}

// ClearPlanFile makes the directory of the plan artifact and removes an
// artifact left by an earlier plan, so that a plan that fails leaves none
// behind.
func (r PlanRequest) ClearPlanFile() error {
	if err := os.MkdirAll(filepath.Dir(r.PlanFile), 0o700); err != nil {
		return fmt.Errorf("project %s: %w", r.Project, err)
	}
	if err := os.Remove(r.PlanFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("project %s: removing the old plan: %w", r.Project, err)
	}
	return nil
}

// CheckPlanFile fails unless the plan artifact is the reviewed one: its
// hash must be PlanSHA256.
func (r ApplyRequest) CheckPlanFile() error {
	a, err := HashFile(r.PlanFile)
	if err != nil {
		return fmt.Errorf("project %s: no saved plan to apply: %w", r.Project, err)
	}
	if r.PlanSHA256 == "" || a.SHA256 != r.PlanSHA256 {
		return fmt.Errorf("project %s: %s has hash %s, the reviewed plan had %s: %w",
			r.Project, r.PlanFile, a.SHA256, r.PlanSHA256, ErrArtifactChanged)
	}
	return nil
}

// maxErrorLines is how many of the engine's error lines a RunError keeps.
const maxErrorLines = 60

// LastErrorLines keeps the last of an engine's error lines, after a line
// that says how many earlier ones only the run log has.
func LastErrorLines(lines []string) []string {
	if len(lines) <= maxErrorLines {
		return lines
	}
	return append([]string{fmt.Sprintf("... (%d earlier lines in the run log)", len(lines)-maxErrorLines)}, lines[len(lines)-maxErrorLines:]...)
}

// TrimBlank returns lines without the blank lines at either end.
func TrimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// CollectStrings adds every scalar of a JSON-like value, as a string, to
// dst: its non-empty strings and its json.Numbers. It gathers the literal
// values of what a plan marks secret.
func CollectStrings(v any, dst map[string]bool) {
	switch x := v.(type) {
	case string:
		if x != "" {
			dst[x] = true
		}
	case json.Number:
		dst[x.String()] = true
	case map[string]any:
		for _, y := range x {
			CollectStrings(y, dst)
		}
	case []any:
		for _, y := range x {
			CollectStrings(y, dst)
		}
	}
}
