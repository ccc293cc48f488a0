package flow

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/workspace"
)

// TestRulesOfALargeBase: the base branch's sluice.yaml and CODEOWNERS
// are read from git (a real mirror) through the limit every read of a
// repository's configuration has. A 40 MiB sluice.yaml, or an alias bomb
// of 3 KiB, is refused with a clear note (and the defaults hold, as for
// any base whose sluice.yaml is not valid); a 40 MiB CODEOWNERS fails the
// run. None of them costs the server more than a few MiB. Before, the
// base's file was read whole (git show) and parsed: 2.1 GiB for 40 MB.
func TestRulesOfALargeBase(t *testing.T) {
	const maxAlloc = 48 << 20
	big := func(content string) string {
		var b strings.Builder
		b.WriteString(content)
		line := "# " + strings.Repeat("padding ", 12) + "\n"
		for b.Len() < 40<<20 {
			b.WriteString(line)
		}
		return b.String()
	}
	var bomb strings.Builder
	bomb.WriteString("version: 1\nprojects:\n  - &p {name: prod, dir: prod, when_modified: &w ['" + strings.Repeat("x', '", 300) + "x']}\n")
	for range 400 {
		bomb.WriteString("  - *p\n")
	}
	owned := "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      codeowners: true\n"
	tests := []struct {
		name       string
		files      map[string]string
		note, fail string
	}{
		{"a 40 MiB sluice.yaml", map[string]string{"sluice.yaml": big(baseYAML)},
			"are from the defaults: the base branch's sluice.yaml at ", ""},
		{"an alias bomb", map[string]string{"sluice.yaml": bomb.String()},
			"sluice.yaml expands to more than 100000 values (aliases count each time they are used)", ""},
		{"a 40 MiB CODEOWNERS", map[string]string{"sluice.yaml": owned, "CODEOWNERS": big("* @sre\n")},
			"", "on the base branch: reading CODEOWNERS: larger than 1024 KiB; a configuration file is a few KiB, keep it small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := testkit.NewRepo(t, "")
			testkit.WriteFile(t, filepath.Join(origin, "prod", "main.tf"), "")
			testkit.WriteFile(t, filepath.Join(origin, "staging", "main.tf"), "")
			for name, content := range tt.files {
				testkit.WriteFile(t, filepath.Join(origin, name), content)
			}
			testkit.Git(t, origin, "add", "-A")
			testkit.Git(t, origin, "commit", "-qm", "base")
			base := strings.TrimSpace(testkit.Git(t, origin, "rev-parse", "HEAD"))
			testkit.WriteFile(t, filepath.Join(origin, "prod", "main.tf"), "# changed\n")
			testkit.Git(t, origin, "commit", "-qam", "head")
			head := strings.TrimSpace(testkit.Git(t, origin, "rev-parse", "HEAD"))

			ws := workspace.New(t.TempDir())
			src := workspace.Source{Repo: "infra", CloneURL: origin}
			if _, err := ws.Mirror(context.Background(), src, base, head); err != nil {
				t.Fatal(err)
			}
			f := gateFlow(nil, newRulesForge("gitea"))
			f.Workspaces = ws
			f.Sources = func(context.Context, string) (workspace.Source, error) { return src, nil }
			f.Forges = nil // a plain git repository: the rules are the run's base commit's
			p := headProject(t, "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      from: [mallory]\n", "prod")
			run := store.Run{ID: 1, Repo: src.Repo, MR: 7, Project: "prod", BaseSHA: base, HeadSHA: head}

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			rules, notes, err := f.rulesOf(context.Background(), run, p, fstest.MapFS{})
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
				t.Errorf("reading the base's rules allocated %d MiB, more than %d MiB", alloc>>20, maxAlloc>>20)
			} else {
				t.Logf("%d MiB allocated", alloc>>20)
			}
			if tt.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fail) {
					t.Fatalf("rulesOf = %+v, %v; want %q", rules, err, tt.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rules.MinApprovals != 1 || len(rules.From) != 0 || len(notes) != 1 || !strings.Contains(notes[0], tt.note) {
				t.Errorf("rules = %+v, notes %q; want the defaults and a note with %q", rules, notes, tt.note)
			}
			if strings.Contains(tt.name, "40 MiB") && !strings.Contains(notes[0], "reading sluice.yaml: larger than 1024 KiB; a configuration file is a few KiB, keep it small") {
				t.Errorf("the note does not say the file is too large: %q", notes[0])
			}
		})
	}
}
