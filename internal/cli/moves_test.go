package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
)

// movedAndImported is infra/main.tf of the moves fixture after a change
// that renames terraform_data.a to b (a `moved` block) and imports an
// existing object as c (an `import` block): nothing is added, changed or
// destroyed, but the state must change.
const movedAndImported = `terraform {
  backend "local" {
    path = "STATE_DIR/infra.tfstate"
  }
}

resource "terraform_data" "b" {
  input = "x"
}

moved {
  from = terraform_data.a
  to   = terraform_data.b
}

resource "terraform_data" "c" {
}

import {
  to = terraform_data.c
  id = "imported-id-1"
}
`

// TestMovesAndImportsAreApplied plans a change that only moves and imports
// resources, and applies it: the comment shows the move and the import,
// and the state holds the new addresses afterwards, so that the blocks can
// be removed without planning a destroy and a create.
func TestMovesAndImportsAreApplied(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			testkit.QuietTerraform(t)
			stateDir := t.TempDir()
			state := filepath.Join(stateDir, "infra.tfstate")
			repo := fixture(t, "moves", bin, stateDir)
			mustSluice(t, bin, repo, "plan", "--base", "main", "-p", "infra")
			mustSluice(t, bin, repo, "apply")
			if s := readState(t, state); !strings.Contains(s, `"name":"a"`) {
				t.Fatalf("bootstrap state:\n%s", s)
			}

			testkit.Git(t, repo, "switch", "-q", "-c", "rename")
			main := filepath.Join(repo, "infra", "main.tf")
			testkit.WriteFile(t, main, strings.ReplaceAll(movedAndImported, "STATE_DIR", stateDir))
			testkit.Git(t, repo, "commit", "-qam", "Rename a to b, import c")

			comment, progress, err := sluice(t, bin, repo, "plan", "--base", "main")
			if err != nil {
				t.Fatalf("plan: %v\n%s", err, progress)
			}
			if !strings.Contains(progress, "infra: 1 to import, 0 to add, 0 to change, 0 to destroy, 1 to move (") {
				t.Errorf("plan progress:\n%s", progress)
			}
			for _, want := range []string{
				"**Plan:** 1 to import, 0 to add, 0 to change, 0 to destroy, 1 to move.",
				"| Import | Move |",
				"| `infra` | `infra` | 0 | 0 | 0 | 0 | 1 | 1 | planned |",
				"= terraform_data.b (moved from terraform_data.a)",
				`= terraform_data.c (imported from "imported-id-1")`,
			} {
				if !strings.Contains(comment, want) {
					t.Errorf("plan comment lacks %q:\n%s", want, comment)
				}
			}
			if strings.Contains(comment, "No changes") || strings.Contains(comment, "no changes") {
				t.Errorf("a move and an import plan as no changes:\n%s", comment)
			}

			out, errOut, err := sluice(t, bin, repo, "apply")
			if err != nil || strings.Contains(errOut, "nothing to apply") {
				t.Fatalf("apply: err %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
			}
			if !strings.Contains(out, "**Apply complete:** 1 imported, 0 added, 0 changed, 0 destroyed, 1 moved.") ||
				!strings.Contains(out, bin.Engine+" reported: 1 imported, 0 added, 0 changed, 0 destroyed.") {
				t.Errorf("apply comment:\n%s", out)
			}
			s := readState(t, state)
			if !strings.Contains(s, `"name":"b"`) || !strings.Contains(s, `"name":"c"`) || strings.Contains(s, `"name":"a"`) {
				t.Errorf("state after apply does not hold b and c only:\n%s", s)
			}

			// With the state moved, the blocks can go: nothing to do.
			testkit.Replace(t, main, "moved {\n  from = terraform_data.a\n  to   = terraform_data.b\n}\n", "")
			testkit.Replace(t, main, "import {\n  to = terraform_data.c\n  id = \"imported-id-1\"\n}\n", "")
			testkit.Git(t, repo, "commit", "-qam", "Drop the moved and import blocks")
			comment = mustSluice(t, bin, repo, "plan", "--base", "main")
			if !strings.Contains(comment, "No changes.") || strings.Contains(comment, "destroy)") || strings.Contains(comment, "(create)") {
				t.Errorf("plan without the blocks:\n%s", comment)
			}
		})
	}
}
