package flow

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/store"
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
			got, notes, err := f.rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: tt.project, BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
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
	got, _, err := f.rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
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
	rules, _, err := f.rulesOf(context.Background(), run, p, fstest.MapFS{})
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
		res, err := f.newGate(fg, "org/infra", mr, "", false).evaluate(context.Background(), st)
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
			got, _, err := f.rulesOf(context.Background(), store.Run{ID: 1, Repo: tt.forge + ":org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
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
	got, _, err := f.rulesOf(context.Background(), store.Run{ID: 1, Repo: "gitea:org/infra", MR: 7, Project: "prod", BaseSHA: rulesBase, HeadSHA: rulesHead}, p, fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Owners, []string{"sre", "alice"}) {
		t.Errorf("owners = %q, want sre (the base's prod) and alice (the head's)", got.Owners)
	}
}
