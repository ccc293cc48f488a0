package terraform

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestMovesAndImports plans and applies `moved` and `import` blocks with
// the real binaries. A plan that only moves and imports resources changes
// the state, so it must count as a change (and be applied); once applied,
// the blocks can go without a destroy and a create.
func TestMovesAndImports(t *testing.T) {
	for _, bin := range testkit.Engines(t) {
		t.Run(bin.Engine, func(t *testing.T) {
			p := newProject(t, bin, filepath.Join("moves", "v1"))
			pl, _, err := p.plan("v1")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if _, err := p.apply("v1", pl); err != nil {
				t.Fatalf("apply: %v", err)
			}

			testkit.CopyDir(t, filepath.Join("testdata", "moves", "v2"), p.dir)
			pl, _, err = p.plan("v2")
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if want := (engine.Summary{Change: 1, Import: 1, Move: 2}); pl.Summary != want {
				t.Errorf("summary = %+v, want %+v", pl.Summary, want)
			}
			if !pl.Changes() {
				t.Error("a plan that moves and imports resources has no changes")
			}
			b := resource(t, pl, "terraform_data.b")
			if b.Action != engine.ActionNoOp || b.PreviousAddress != "terraform_data.a" || b.Import {
				t.Errorf("moved b = %+v", b)
			}
			d := resource(t, pl, "terraform_data.d")
			if d.Action != engine.ActionUpdate || d.PreviousAddress != "terraform_data.old_d" ||
				field(d.Before, "input") != "1" || field(d.After, "input") != "2" {
				t.Errorf("moved and updated d = %+v", d)
			}
			c := resource(t, pl, "terraform_data.c")
			if c.Action != engine.ActionNoOp || !c.Import || c.ImportID != "imported-id-1" || c.PreviousAddress != "" {
				t.Errorf("imported c = %+v", c)
			}
			if len(pl.Resources) != 3 {
				t.Errorf("resources = %+v, want b, c and d only", pl.Resources)
			}
			if !strings.Contains(pl.Text, "1 to import") {
				t.Errorf("plan text:\n%s", pl.Text)
			}
			if _, err := p.apply("v2", pl); err != nil {
				t.Fatalf("apply: %v", err)
			}

			// The state now holds the new addresses: the same configuration
			// plans nothing, and neither does it without the blocks.
			for _, step := range []string{"v2", "v3"} {
				testkit.CopyDir(t, filepath.Join("testdata", "moves", step), p.dir)
				pl, _, err = p.plan(step + "-again")
				if err != nil {
					t.Fatalf("plan %s: %v", step, err)
				}
				if pl.Changes() || len(pl.Resources) != 0 {
					t.Errorf("%s after the apply: summary %+v, resources %+v", step, pl.Summary, pl.Resources)
				}
			}
		})
	}
}

// TestNormalizeMovesAndImports reads a recorded `show -json` (Terraform
// 1.11, trimmed) and what later versions add: an import by identity,
// without an id.
func TestNormalizeMovesAndImports(t *testing.T) {
	const raw = `{
  "format_version": "1.2",
  "terraform_version": "1.11.4",
  "resource_changes": [
    {"address": "terraform_data.b", "previous_address": "terraform_data.a", "mode": "managed",
     "type": "terraform_data", "name": "b", "provider_name": "terraform.io/builtin/terraform",
     "change": {"actions": ["no-op"],
       "before": {"id": "98d9", "input": "x", "output": "x", "triggers_replace": null},
       "after": {"id": "98d9", "input": "x", "output": "x", "triggers_replace": null},
       "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}},
    {"address": "terraform_data.c", "mode": "managed", "type": "terraform_data", "name": "c",
     "provider_name": "terraform.io/builtin/terraform",
     "change": {"actions": ["no-op"],
       "before": {"id": "my-id-123", "input": null, "output": null, "triggers_replace": null},
       "after": {"id": "my-id-123", "input": null, "output": null, "triggers_replace": null},
       "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {},
       "importing": {"id": "my-id-123"}}},
    {"address": "aws_instance.web", "mode": "managed", "type": "aws_instance", "name": "web",
     "provider_name": "registry.terraform.io/hashicorp/aws",
     "change": {"actions": ["update"],
       "before": {"id": "i-1", "tags": {}}, "after": {"id": "i-1", "tags": {"env": "prod"}},
       "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {},
       "importing": {"identity": {"id": "i-1", "region": "eu-west-1"}}}},
    {"address": "terraform_data.same", "previous_address": "terraform_data.same", "mode": "managed",
     "type": "terraform_data", "name": "same", "provider_name": "terraform.io/builtin/terraform",
     "change": {"actions": ["no-op"], "before": {"id": "1"}, "after": {"id": "1"},
       "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}},
    {"address": "terraform_data.untouched", "mode": "managed", "type": "terraform_data", "name": "untouched",
     "provider_name": "terraform.io/builtin/terraform",
     "change": {"actions": ["no-op"], "before": {"id": "2"}, "after": {"id": "2"},
       "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}}
  ]
}`
	p, err := normalize("terraform", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if want := (engine.Summary{Change: 1, Import: 2, Move: 1}); p.Summary != want {
		t.Errorf("summary = %+v, want %+v", p.Summary, want)
	}
	if !p.Changes() {
		t.Error("moves and imports are not changes")
	}
	if len(p.Resources) != 3 {
		t.Fatalf("resources = %+v, want b, c and web", p.Resources)
	}
	b, c, web := p.Resources[0], p.Resources[1], p.Resources[2]
	if b.Address != "terraform_data.b" || b.PreviousAddress != "terraform_data.a" || !b.Moved() || b.Action != engine.ActionNoOp || b.Import {
		t.Errorf("b = %+v", b)
	}
	if c.Address != "terraform_data.c" || !c.Import || c.ImportID != "my-id-123" || c.Moved() || c.Action != engine.ActionNoOp {
		t.Errorf("c = %+v", c)
	}
	if web.Address != "aws_instance.web" || !web.Import || web.ImportID != "" || web.Action != engine.ActionUpdate {
		t.Errorf("web = %+v", web)
	}

	// A plan of no-ops only, none moved or imported, has no changes.
	p, err = normalize("terraform", []byte(`{"format_version": "1.2", "resource_changes": [
    {"address": "terraform_data.same", "previous_address": "terraform_data.same", "type": "terraform_data", "name": "same",
     "change": {"actions": ["no-op"], "before": {"id": "1"}, "after": {"id": "1"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Changes() || len(p.Resources) != 0 {
		t.Errorf("no-op plan: summary %+v, resources %+v", p.Summary, p.Resources)
	}
}
