package flow

// The gate's rules of a project: taken from the base branch (its
// sluice.yaml and CODEOWNERS, read from git within bounds), of the branch
// the merge request merges into, the head raising approval.min only, and
// said in the checklist when the merge request changes them.

import (
	"context"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/workspace"
)

const baseYAML = `version: 1
projects:
  - name: staging
    dir: staging
  - name: prod
    dir: prod
    approval:
      min: 1
`

// TestRulesFromTheBase: the gate's rules of a project (approval,
// apply.mode, relax) are those of the base branch's sluice.yaml; the head
// may only raise approval.min. A project the base does not have, or a base
// without sluice.yaml, gets the defaults, never the head's from,
// codeowners: false or relax.
func TestRulesFromTheBase(t *testing.T) {
	tests := []struct {
		name    string
		base    map[string]string // files at the base; nil: sluice.yaml as baseYAML
		project string
		head    string // the project's entry in the head's sluice.yaml
		want    projectRules
		note    string // in the note; "" for none
	}{
		{
			name:    "the head names its own approver",
			project: "prod",
			head:    "dir: prod\n    approval:\n      min: 1\n      from: [mallory]",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge"},
			note:    "the approval rules of prod (approval, apply.mode, relax) are from the base branch's sluice.yaml; this merge request changes them",
		},
		{
			name:    "the head lowers approval.min",
			base:    map[string]string{"sluice.yaml": strings.Replace(baseYAML, "min: 1", "min: 2", 1)},
			project: "prod",
			head:    "dir: prod\n    approval:\n      min: 0",
			want:    projectRules{MinApprovals: 2, Mode: "after_merge"},
			note:    "this merge request changes them",
		},
		{
			name:    "the head raises approval.min",
			project: "prod",
			head:    "dir: prod\n    approval:\n      min: 3",
			want:    projectRules{MinApprovals: 3, Mode: "after_merge"},
			note:    "except its higher approval.min (3), which counts now",
		},
		{
			name:    "the head turns checks off",
			project: "prod",
			head:    "dir: prod\n    relax: [threads, checks]",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge"},
			note:    "this merge request changes them",
		},
		{
			name: "the head turns code owners off",
			base: map[string]string{
				"sluice.yaml": strings.Replace(baseYAML, "min: 1", "min: 1\n      codeowners: true", 1),
				"CODEOWNERS":  "/prod/ @sre\n",
			},
			project: "prod",
			head:    "dir: prod\n    approval:\n      codeowners: false",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge", Owners: []string{"sre"}},
			note:    "this merge request changes them",
		},
		{
			name:    "the head changes the apply mode",
			base:    map[string]string{"sluice.yaml": strings.Replace(baseYAML, "min: 1", "min: 1\n    apply:\n      mode: before_merge", 1)},
			project: "prod",
			head:    "dir: prod",
			want:    projectRules{MinApprovals: 1, Mode: "before_merge"},
			note:    "this merge request changes them",
		},
		{
			name:    "the base's rules, unchanged",
			base:    map[string]string{"sluice.yaml": strings.Replace(baseYAML, "min: 1", "min: 2\n      from: [bob, \"group:sre\"]\n    relax: [draft]", 1)},
			project: "prod",
			head:    "dir: prod\n    approval:\n      min: 2\n      from: [bob, \"group:sre\"]\n    relax: [draft]",
			want:    projectRules{MinApprovals: 2, From: []string{"bob", "group:sre"}, Mode: "after_merge", Relax: []string{"draft"}},
		},
		{
			name:    "a project the merge request adds",
			project: "net",
			head:    "dir: net\n    apply:\n      mode: before_merge\n    approval:\n      min: 0\n      from: [mallory]\n      codeowners: false\n    relax: [threads, checks, draft]",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge"},
			note:    "are from the defaults: project net is not in sluice.yaml on the base branch",
		},
		{
			name:    "a project the merge request adds, with more approvals",
			project: "net",
			head:    "dir: net\n    approval:\n      min: 2\n      from: [mallory]",
			want:    projectRules{MinApprovals: 2, Mode: "after_merge"},
			note:    "except its higher approval.min (2), which counts now",
		},
		{
			// prod renamed prod2: the same directory and workspace keep the
			// base's rules, or a rename would shed them.
			name:    "a project the merge request renames",
			base:    map[string]string{"sluice.yaml": strings.Replace(baseYAML, "min: 1", "min: 2\n      from: [\"group:sre\"]", 1)},
			project: "prod2",
			head:    "dir: prod\n    approval:\n      min: 1\n      from: [mallory]",
			want:    projectRules{MinApprovals: 2, From: []string{"group:sre"}, Mode: "after_merge"},
			note:    "this merge request changes them",
		},
		{
			name:    "a project the merge request adds, with the defaults",
			project: "net",
			head:    "dir: net",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge"},
		},
		{
			name:    "a base without sluice.yaml",
			base:    map[string]string{"prod/main.tf": ""},
			project: "prod",
			head:    "dir: prod\n    approval:\n      min: 1\n      from: [mallory]",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge"},
			note:    "are from the defaults: the base branch has no sluice.yaml",
		},
		{
			name:    "a base whose sluice.yaml is not valid",
			base:    map[string]string{"sluice.yaml": "version: 1\nprojects: {}\n"},
			project: "prod",
			head:    "dir: prod\n    approval:\n      from: [mallory]",
			want:    projectRules{MinApprovals: 1, Mode: "after_merge"},
			note:    "is not valid",
		},
		{
			// Read alone, this file fails (a stack on what would be a
			// terraform project): it is read with the base's tree, where
			// app/Pulumi.yaml makes the project pulumi.
			name: "a base that validates only with its files",
			base: map[string]string{
				"sluice.yaml":     baseYAML + "  - name: app\n    dir: app\n    stack: prod\n    approval:\n      min: 2\n      from: [carol]\n",
				"app/Pulumi.yaml": "name: app\nruntime: go\n",
				"staging/main.tf": "",
				"prod/main.tf":    "",
			},
			project: "app",
			head:    "dir: app\n    engine: pulumi\n    stack: prod\n    approval:\n      min: 1\n      from: [mallory]",
			want:    projectRules{MinApprovals: 2, From: []string{"carol"}, Mode: "after_merge"},
			note:    "this merge request changes them",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			baseFiles := tt.base
			if baseFiles == nil {
				baseFiles = map[string]string{"sluice.yaml": baseYAML}
			}
			repo := &commits{t: t, files: map[string]map[string]string{rulesBase: baseFiles, rulesHead: {}}, changed: []string{tt.project + "/main.tf"}}
			f := gateFlow(repo, newRulesForge("gitea"))
			headYAML := "version: 1\nprojects:\n  - name: " + tt.project + "\n    " + tt.head + "\n"
			p := headProject(t, headYAML, tt.project)
			got, notes, err := f.runs().rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: tt.project, BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
			if err != nil {
				t.Fatal(err)
			}
			g := projectRules{MinApprovals: got.MinApprovals, From: got.From, Owners: got.Owners, Mode: got.Mode, Relax: got.Relax}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("rules = %+v, want %+v (notes %q)", g, tt.want, notes)
			}
			if got.Dir != p.Dir || got.Engine != p.Engine || !reflect.DeepEqual(got.Patterns, p.Patterns()) {
				t.Errorf("what is planned is not the head's: %+v", got)
			}
			if repo.checkouts > 0 {
				t.Errorf("%d checkouts of the base: its files are read from git", repo.checkouts)
			}
			switch {
			case tt.note == "" && len(notes) > 0:
				t.Errorf("notes = %q, want none", notes)
			case tt.note != "" && (len(notes) != 1 || !strings.Contains(notes[0], tt.note)):
				t.Errorf("notes = %q, want one with %q", notes, tt.note)
			}
		})
	}
}

// TestRulesBaseUnreadable: a base that cannot be read fails the rules; it
// is never taken for a base without sluice.yaml, whose defaults may be
// weaker than its rules.
func TestRulesBaseUnreadable(t *testing.T) {
	repo := &commits{t: t, files: map[string]map[string]string{rulesBase: {"sluice.yaml": baseYAML}}, broken: true}
	f := gateFlow(repo, newRulesForge("gitea"))
	p := headProject(t, "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      from: [mallory]\n", "prod")
	got, _, err := f.runs().rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("rulesOf = %+v, %v; want the read's error", got, err)
	}
}

// TestRulesGateOfTheBase: the story of the review. A merge request adds
// approval.from: [mallory] to prod, whose base rules want one approval
// from anyone with write access; mallory may only read. Her approval does
// not count, and the gate holds. bob's, who may write, does.
func TestRulesGateOfTheBase(t *testing.T) {
	repo := &commits{t: t, files: map[string]map[string]string{rulesBase: {"sluice.yaml": baseYAML}, rulesHead: {}}, changed: []string{"prod/main.tf", "sluice.yaml"}}
	planned := time.Now().Add(-time.Hour)
	approval := func(login string) forge.Review {
		return forge.Review{User: forge.User{Login: login}, State: forge.ReviewApproved, CommitSHA: rulesHead, At: planned.Add(time.Minute)}
	}
	fg := newRulesForge("gitea")
	fg.reviews = []forge.Review{approval("mallory")}
	fg.perms = map[string]forge.Permission{"mallory": forge.PermRead, "bob": forge.PermWrite}
	f := gateFlow(repo, fg)
	p := headProject(t, "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      min: 1\n      from: [mallory]\n", "prod")
	run := store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}
	rules, _, err := f.runs().rulesOf(context.Background(), run, p, fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	st := projectState{
		Project: "prod", Workspace: "default", PlanRun: run,
		Plan:    &store.Plan{HeadSHA: rulesHead, BaseSHA: rulesBase, CreatedAt: planned},
		Summary: runSummary{Rules: rules},
	}
	mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: rulesHead, BaseSHA: rulesBase, BaseRef: "main", Author: forge.User{Login: "alice"}}
	check := func(ok bool, detail string) {
		t.Helper()
		res, err := f.decider().newGate(fg, "org/infra", mr, "", false).evaluate(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if it.Name == gate.ItemApprovals && (it.OK != ok || it.Detail != detail) {
				t.Errorf("approvals = %v %q, want %v %q", it.OK, it.Detail, ok, detail)
			}
		}
		if res.OK() != ok {
			t.Errorf("gate OK = %v, want %v: %+v", res.OK(), ok, res.Items)
		}
	}
	check(false, "0 of 1 needed (not counted: mallory (no write access))")
	fg.reviews = append(fg.reviews, approval("bob"))
	check(true, "1 of 1 needed: bob")
}

// TestRulesCodeownersWhereTheForgeLooks: the CODEOWNERS file is the one the
// forge uses, the first of its locations on the base branch.
func TestRulesCodeownersWhereTheForgeLooks(t *testing.T) {
	files := map[string]string{
		"sluice.yaml":        strings.Replace(baseYAML, "min: 1", "min: 1\n      codeowners: true", 1),
		"CODEOWNERS":         "/prod/ @root-owner\n",
		".github/CODEOWNERS": "/prod/ @github-owner\n",
		"docs/CODEOWNERS":    "/prod/ @docs-owner\n",
		".gitlab/CODEOWNERS": "/prod/ @gitlab-owner\n",
		".gitea/CODEOWNERS":  "/prod/ @gitea-owner\n",
	}
	tests := []struct {
		forge   string
		without []string // locations the base does not have
		want    string
	}{
		{"github", nil, "github-owner"},
		{"github", []string{".github/CODEOWNERS"}, "root-owner"},
		{"github", []string{".github/CODEOWNERS", "CODEOWNERS"}, "docs-owner"},
		{"gitlab", nil, "root-owner"},
		{"gitlab", []string{"CODEOWNERS"}, "docs-owner"},
		{"gitlab", []string{"CODEOWNERS", "docs/CODEOWNERS"}, "gitlab-owner"},
		{"gitea", []string{"CODEOWNERS", "docs/CODEOWNERS"}, "gitea-owner"},
		{"gitea", []string{"CODEOWNERS", "docs/CODEOWNERS", ".gitea/CODEOWNERS"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.forge+" without "+strings.Join(tt.without, ","), func(t *testing.T) {
			base := map[string]string{}
			for k, v := range files {
				base[k] = v
			}
			for _, loc := range tt.without {
				delete(base, loc)
			}
			repo := &commits{t: t, files: map[string]map[string]string{rulesBase: base, rulesHead: {}}, changed: []string{"prod/main.tf"}}
			f := gateFlow(repo, newRulesForge(tt.forge))
			p := headProject(t, "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      codeowners: true\n", "prod")
			got, _, err := f.runs().rulesOf(context.Background(), store.Run{ID: 1, Repo: tt.forge + ":org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "no CODEOWNERS file on its base branch") {
					t.Errorf("rulesOf = %+v, %v; want no CODEOWNERS file", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Owners, []string{tt.want}) {
				t.Errorf("owners = %q, want %q", got.Owners, tt.want)
			}
		})
	}
}

// TestRulesOwnersOfTheBaseProject: a head that moves a code-owned project
// elsewhere still needs the owners of the files it changes where the base
// has the project.
func TestRulesOwnersOfTheBaseProject(t *testing.T) {
	base := map[string]string{
		"sluice.yaml": strings.Replace(baseYAML, "min: 1", "min: 1\n      codeowners: true", 1),
		"CODEOWNERS":  "/prod/ @sre\n/elsewhere/ @alice\n",
	}
	repo := &commits{t: t, files: map[string]map[string]string{rulesBase: base, rulesHead: {}}, changed: []string{"prod/main.tf", "elsewhere/main.tf"}}
	f := gateFlow(repo, newRulesForge("gitea"))
	p := headProject(t, "version: 1\nprojects:\n  - name: prod\n    dir: elsewhere\n    approval:\n      codeowners: true\n", "prod")
	got, _, err := f.runs().rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Owners, []string{"sre", "alice"}) {
		t.Errorf("owners = %q, want sre (the base's prod) and alice (the head's)", got.Owners)
	}
}

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
			rules, notes, err := f.runs().rulesOf(context.Background(), run, p, fstest.MapFS{})
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

// TestRulesFromTheTargetBranchAsTheForgeSays: the rules come from the
// branch the merge request merges into, at its tip as the forge says it
// when the plan runs, and are recorded with that branch's name, so the
// gate applies them only to a merge into it. The commit the plan run was
// queued with (another branch's, before the merge request was
// retargeted, with rules of its own) does not decide them.
func TestRulesFromTheTargetBranchAsTheForgeSays(t *testing.T) {
	const queuedBase = "dddddddddddddddddddddddddddddddddddddddd"
	loose := "version: 1\nprojects:\n  - name: prod\n    dir: prod\n"
	strict := baseYAML[:len(baseYAML)-1] + "\n      from: [bob]\n"
	repo := &commits{t: t, files: map[string]map[string]string{
		queuedBase: {"sluice.yaml": loose},
		rulesBase:  {"sluice.yaml": strict}, // main's tip, as newRulesForge's GetMR says
		rulesHead:  {},
	}, changed: []string{"prod/main.tf"}}
	f := gateFlow(repo, newRulesForge("gitea"))
	p := headProject(t, loose, "prod")
	got, _, err := f.runs().rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: queuedBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.From, []string{"bob"}) || got.Branch != "main" {
		t.Errorf("rules: from %v of branch %q, want [bob] of main", got.From, got.Branch)
	}
}

// TestRulesNoteInTheChecklist: when a merge request changes its own
// approval rules, the checklist says so under the project's items (the
// plan run's log did already).
func TestRulesNoteInTheChecklist(t *testing.T) {
	repo := &commits{t: t, files: map[string]map[string]string{rulesBase: {"sluice.yaml": baseYAML}, rulesHead: {}}, changed: []string{"prod/main.tf"}}
	fg := newRulesForge("gitea")
	f := gateFlow(repo, fg)
	run := store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}
	mr := &forge.MergeRequest{Number: 7, State: forge.MROpen, HeadSHA: rulesHead, BaseSHA: rulesBase, BaseRef: "main", Author: forge.User{Login: "alice"}}
	const note = "the approval rules of prod (approval, apply.mode, relax) are from the base branch's sluice.yaml; this merge request changes them"
	for _, tt := range []struct {
		name, head string
		want       bool
	}{
		{"rules changed", "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      from: [mallory]\n", true},
		{"rules unchanged", "version: 1\nprojects:\n  - name: prod\n    dir: prod\n    approval:\n      min: 1\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rules, _, err := f.runs().rulesOf(t.Context(), run, headProject(t, tt.head, "prod"), fstest.MapFS{})
			if err != nil {
				t.Fatal(err)
			}
			st := projectState{Project: "prod", Workspace: "default", PlanRun: run,
				Plan:    &store.Plan{HeadSHA: rulesHead, BaseSHA: rulesBase, CreatedAt: time.Now().Add(-time.Hour)},
				Summary: runSummary{Rules: rules}}
			res, err := f.decider().newGate(fg, "org/infra", mr, "", false).evaluate(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			md := render.Checklist([]render.Gate{checklistOf("prod", res)}, false)
			if got := strings.Contains(md, "- note: "+note); got != tt.want {
				t.Errorf("the checklist has the note: %v, want %v:\n%s", got, tt.want, md)
			}
		})
	}
}
