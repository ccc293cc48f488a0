package render

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/redact"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	head = "0123456789abcdef0123456789abcdef01234567"
	base = "89abcdef0123456789abcdef0123456789abcdef"
	// canary is a secret that must never reach a comment.
	canary = "canary-8f3e1d-s3cr3t"
)

// decode reads a JSON-like value the way engines produce it, numbers as
// json.Number.
func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func planned(name string, plan *engine.Plan) ProjectResult {
	return ProjectResult{
		Name: name, Dir: "envs/" + name, Engine: "terraform",
		Status: StatusPlanned, Plan: plan,
	}
}

func TestMarkdownGolden(t *testing.T) {
	tests := []struct {
		name     string
		comment  func(t *testing.T) Comment
		redactor *redact.Redactor
		absent   []string // strings that must not appear
	}{
		{
			name: "create",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{planned("dev", &engine.Plan{
					Engine: "terraform", EngineVersion: "1.11.0",
					Summary: engine.Summary{Add: 1},
					Resources: []engine.ResourceChange{{
						Address: "terraform_data.bucket", Type: "terraform_data", Name: "bucket",
						Action: engine.ActionCreate,
						After: decode(t, `{"id": "(known after apply)", "input": {"name": "logs",
							"size": 10, "ratio": 0.25, "big": 1e22, "enabled": true, "tags": {"env": "dev", "a b": "x"},
							"zones": ["a", "b"], "none": null, "empty": []}, "output": "(known after apply)",
							"triggers_replace": null}`),
					}},
				})}}
			},
		},
		{
			name: "update",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{planned("prod", &engine.Plan{
					Engine: "terraform", EngineVersion: "1.11.0",
					Summary: engine.Summary{Change: 1},
					Resources: []engine.ResourceChange{{
						Address: "terraform_data.node_group", Type: "terraform_data", Name: "node_group",
						Action: engine.ActionUpdate,
						Before: decode(t, `{"id": "9c1f", "input": {"desired_size": 3, "name": "workers"}}`),
						After:  decode(t, `{"id": "9c1f", "input": {"desired_size": 2, "name": "workers"}}`),
					}},
				})}}
			},
		},
		{
			// What terraform_data really plans: the computed output becomes
			// unknown as a whole.
			name: "update-unknown-output",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{planned("prod", &engine.Plan{
					Engine: "terraform", EngineVersion: "1.11.0",
					Summary: engine.Summary{Change: 1},
					Resources: []engine.ResourceChange{{
						Address: "terraform_data.node_group", Type: "terraform_data", Name: "node_group",
						Action: engine.ActionUpdate,
						Before: decode(t, `{"id": "9c1f", "input": {"desired_size": 3, "name": "workers"}, "output": {"desired_size": 3, "name": "workers"}}`),
						After:  decode(t, `{"id": "9c1f", "input": {"desired_size": 2, "name": "workers"}, "output": "(known after apply)"}`),
					}},
				})}}
			},
		},
		{
			name: "replace",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{planned("prod", &engine.Plan{
					Engine:  "opentofu",
					Summary: engine.Summary{Replace: 1, Change: 1},
					Resources: []engine.ResourceChange{
						{
							Address: "terraform_data.db", Action: engine.ActionReplace,
							ReplacePaths: []string{"triggers_replace"},
							Before:       decode(t, `{"id": "a1", "input": "x", "triggers_replace": "v1", "list": [1, 2, 3]}`),
							After:        decode(t, `{"id": "(known after apply)", "input": "x", "triggers_replace": "v2", "list": [1, 2]}`),
						},
						{
							Address: "module.net.terraform_data.tagged", Action: engine.ActionUpdate,
							Before: decode(t, `{"input": {"tags": {"old": "y", "keep": "k"}}}`),
							After:  decode(t, `{"input": {"tags": {"new": "x", "keep": "k"}}}`),
						},
					},
				})}}
			},
		},
		{
			name: "delete",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{planned("prod", &engine.Plan{
					Summary: engine.Summary{Destroy: 1},
					Resources: []engine.ResourceChange{{
						Address: "terraform_data.old", Action: engine.ActionDelete,
						Reason: "delete_because_no_resource_config",
						Before: decode(t, `{"id": "1", "input": "gone"}`),
					}},
				})}}
			},
		},
		{
			name: "sensitive",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{
					planned("app", &engine.Plan{
						Summary: engine.Summary{Add: 1, Change: 2},
						Resources: []engine.ResourceChange{{
							Address: "terraform_data.user", Action: engine.ActionCreate,
							After: decode(t, `{"input": {"name": "app", "password": "(sensitive value)"}}`),
						}, {
							Address: "terraform_data.db", Action: engine.ActionUpdate,
							Before: decode(t, `{"input": {"password": "(sensitive value)", "user": "admin"}}`),
							After:  decode(t, `{"input": {"password": "(sensitive value)", "user": "root"}}`),
						}, {
							Address: "terraform_data.token", Action: engine.ActionUpdate,
							Before: decode(t, `{"input": "(sensitive value)"}`),
							After:  decode(t, `{"input": "(sensitive value)"}`),
						}},
						Warnings: []string{"Warning: value " + canary + " is deprecated"},
						Secrets:  []string{canary},
					}),
					{
						Name: "db", Dir: "envs/db", Engine: "terraform", Status: StatusFailed,
						Message: "terraform plan failed",
						ErrorLines: []string{
							"Error: invalid password",
							`  password = "` + canary + `"`,
						},
					},
				}}
			},
			redactor: redact.New([]string{canary}, nil),
			absent:   []string{canary, "s3cr3t"},
		},
		{
			name: "outputs",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{planned("prod", &engine.Plan{
					Summary:       engine.Summary{},
					OutputChanges: true,
					Outputs: []engine.OutputChange{
						{Name: "endpoint", Action: engine.ActionUpdate, Before: "https://a.example", After: "https://b.example"},
						{Name: "id", Action: engine.ActionCreate, After: engine.UnknownValue},
						{Name: "ports", Action: engine.ActionCreate, After: decode(t, `[80, 443]`)},
						{Name: "password", Action: engine.ActionUpdate, Sensitive: true, Before: engine.SensitiveValue, After: engine.SensitiveValue},
						{Name: "legacy", Action: engine.ActionDelete, Before: "x"},
						{Name: "same", Action: engine.ActionNoOp, Before: "x", After: "x"},
					},
				})}}
			},
		},
		{
			// Moves and imports alone: Terraform plans them as no-ops,
			// but they change the state.
			name: "moves",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{
					planned("prod", &engine.Plan{
						Engine: "terraform", EngineVersion: "1.11.4",
						Summary: engine.Summary{Change: 1, Import: 2, Move: 2},
						Resources: []engine.ResourceChange{
							{
								Address: "terraform_data.b", PreviousAddress: "terraform_data.a", Action: engine.ActionNoOp,
								Before: decode(t, `{"id": "98d9", "input": "x"}`), After: decode(t, `{"id": "98d9", "input": "x"}`),
							},
							{
								Address: "terraform_data.c", Import: true, ImportID: "imported-id-1", Action: engine.ActionNoOp,
								Before: decode(t, `{"id": "imported-id-1"}`), After: decode(t, `{"id": "imported-id-1"}`),
							},
							{
								Address: "terraform_data.d", PreviousAddress: "terraform_data.old_d", Action: engine.ActionUpdate,
								Before: decode(t, `{"id": "a1", "input": "1"}`), After: decode(t, `{"id": "a1", "input": "2"}`),
							},
							{
								Address: "aws_instance.web", Import: true, Action: engine.ActionNoOp,
							},
						},
					}),
					{
						Name: "dev", Dir: "envs/dev", Engine: "terraform", Status: StatusNoChanges,
						Plan: &engine.Plan{},
					},
				}}
			},
		},
		{
			// Text the merge request's code controls: a provider's
			// warning, an engine's message, the checks' names. Mentions,
			// references and bare links are neutralised outside code;
			// the error lines and the diff are code blocks and stay as
			// they are.
			name: "untrusted-text",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{
					planned("prod", &engine.Plan{
						Summary: engine.Summary{Change: 1},
						Resources: []engine.ResourceChange{{
							Address: "terraform_data.x", Action: engine.ActionUpdate,
							Before: decode(t, `{"input": "@alice"}`), After: decode(t, `{"input": "see https://evil.example/x"}`),
						}},
						Warnings: []string{mentionsAndLinks},
					}),
					{
						Name: "db", Dir: "envs/db", Engine: "terraform", Status: StatusFailed,
						Message:    "@all: read https://evil.example/why (it is urgent)",
						ErrorLines: []string{"Error: " + mentionsAndLinks},
					},
				}, Footer: Checklist([]Gate{{Project: "prod", Items: []GateItem{
					{Name: "checks green", Detail: "failed: @org/reviewers please look, https://evil.example/ci"},
				}}}, false)}
			},
		},
		{
			name: "failed",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{{
					Name: "prod", Dir: "envs/prod", Engine: "terraform", Status: StatusFailed,
					Message: "terraform plan failed",
					ErrorLines: []string{
						"Error: Unsupported argument",
						"",
						"  on main.tf line 3, in resource \"terraform_data\" \"x\":",
						"   3:   bogus = ```not a fence```",
						"",
						"An argument named \"bogus\" is not expected here.",
					},
				}}}
			},
		},
		{
			name: "skipped",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{
					{Name: "prod", Dir: "envs/prod", Engine: "terraform", Status: StatusFailed, Message: "terraform plan failed"},
					{Name: "app", Dir: "envs/app", Engine: "terraform", Status: StatusSkipped, Message: "depends on prod, which failed"},
				}}
			},
		},
		{
			name: "no_changes",
			comment: func(t *testing.T) Comment {
				p := planned("prod", &engine.Plan{Engine: "terraform"})
				p.Status = StatusNoChanges
				p.Workspace = "staging"
				return Comment{Head: head, Base: base, Projects: []ProjectResult{p}}
			},
		},
		{
			name: "two_projects",
			comment: func(t *testing.T) Comment {
				return Comment{
					Head: head, Base: base,
					Projects: []ProjectResult{
						planned("network", &engine.Plan{
							Summary: engine.Summary{Add: 1},
							Resources: []engine.ResourceChange{{
								Address: "terraform_data.vpc", Action: engine.ActionCreate,
								After: decode(t, `{"input": {"cidr": "10.0.0.0/16"}}`),
							}},
						}),
						{
							Name: "dns|edge", Dir: "envs/`dns`", Engine: "terraform", Status: StatusNoChanges,
							Plan: &engine.Plan{},
						},
					},
					Footer: "[Run 42](https://sluice.example/runs/42)",
				}
			},
		},
		{
			name: "applied",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Projects: []ProjectResult{
					{
						Name: "prod", Dir: "envs/prod", Engine: "terraform", Status: StatusApplied,
						Plan: &engine.Plan{Summary: engine.Summary{Change: 1}},
						ApplyText: "terraform_data.node_group: Modifying... [id=9c1f]\n" +
							"terraform_data.node_group: Modifications complete after 0s [id=9c1f]\n\n" +
							"Apply complete! Resources: 0 added, 1 changed, 0 destroyed.\n",
					},
					{
						Name: "app", Dir: "envs/app", Engine: "terraform", Status: StatusApplyFailed,
						Plan:       &engine.Plan{Summary: engine.Summary{Add: 1}},
						Message:    "terraform apply failed",
						ErrorLines: []string{"Error: creating thing: quota exceeded"},
						ApplyText:  "terraform_data.x: Creating...\n",
					},
				}}
			},
		},
		{
			name:    "no_projects",
			comment: func(t *testing.T) Comment { return Comment{Head: head} },
		},
		{
			// The merge got through while the checklist failed: the top
			// says so, and what to do, above the plans and the checklist.
			name: "merged_not_applied",
			comment: func(t *testing.T) Comment {
				p := planned("prod", &engine.Plan{Summary: engine.Summary{Change: 1}})
				n := planned("net", &engine.Plan{Summary: engine.Summary{Add: 1}})
				return Comment{Head: head, Base: base, Projects: []ProjectResult{n, p},
					Top: NotApplied("main", []Unapplied{
						{Project: "net", Why: []string{"approvals: 0 of 1 needed (not counted: bob (pushed commits to this merge request))"}},
						{Project: "prod", Why: []string{"merges as planned: the merge commit differs from the planned commit 1111111 in envs/prod/main.tf"}, Never: true},
					}) + "\n\n" + Failed([]string{"dns"}, nil),
					Footer: Checklist([]Gate{{Project: "net", Items: []GateItem{{Name: "approvals", Detail: "0 of 1 needed"}}}}, true),
				}
			},
		},
		{
			name: "merged_elsewhere",
			comment: func(t *testing.T) Comment {
				return Comment{Head: head, Base: base, Top: MergedElsewhere("my-base", []string{"main"})}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Markdown(tt.comment(t), tt.redactor)
			if !strings.HasPrefix(got, Marker+"\n") {
				t.Errorf("markdown does not start with the marker line:\n%s", got)
			}
			for _, s := range tt.absent {
				if strings.Contains(got, s) {
					t.Errorf("markdown contains %q:\n%s", s, got)
				}
			}
			checkBalanced(t, got)
			golden(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// mentionsAndLinks is text a merge request's code could put in a warning.
const mentionsAndLinks = "ping @alice and @org/team, see https://evil.example/x?a=b. " +
	"Or [this](https://evil.example/y), www.evil.example, <https://evil.example/z>, bob@example.com; " +
	"fixes #12, owner/repo#34, !56 and &7 (https://en.example/wiki/A_(b))"

// outsideCode is markdown without its fenced code blocks and code spans:
// where forges look for mentions, references and links.
func outsideCode(md string) string {
	var keep []string
	fence := ""
	for _, l := range strings.Split(md, "\n") {
		t := strings.TrimLeft(l, " ")
		switch {
		case fence == "" && strings.HasPrefix(t, "```"):
			fence = t[:len(t)-len(strings.TrimLeft(t, "`"))]
		case fence != "" && strings.TrimSpace(t) == fence:
			fence = ""
		case fence == "":
			keep = append(keep, l)
		}
	}
	return codeSpans.ReplaceAllString(strings.Join(keep, "\n"), "")
}

var codeSpans = regexp.MustCompile("(`+)[^`](?:.*?[^`])?(`+)")

func TestUntrustedTextNeitherMentionsNorLinks(t *testing.T) {
	got := Markdown(Comment{Projects: []ProjectResult{
		planned("prod", &engine.Plan{Warnings: []string{mentionsAndLinks}}),
		{Name: "db", Status: StatusFailed, Message: mentionsAndLinks, ErrorLines: []string{mentionsAndLinks}},
		{Name: "app", Status: StatusSkipped, Message: mentionsAndLinks},
		{Name: "web", Status: StatusApplied, Message: mentionsAndLinks},
		{Name: "api", Status: StatusPending, Message: mentionsAndLinks},
	}, Top: NotApplied("main", []Unapplied{{Project: "prod", Why: []string{mentionsAndLinks}}}),
		Footer: Checklist([]Gate{{Project: "prod", Items: []GateItem{{Name: "checks", Detail: mentionsAndLinks}}, Notes: []string{mentionsAndLinks}}}, false)}, nil)
	text := outsideCode(got)
	// What GitHub, GitLab and Gitea act on, roughly: a sign right before
	// a name or a number, a scheme or www. starting a word.
	for _, re := range []string{`(^|[^\w])@[\w-]`, `#\d`, `(?i)\b[a-z][a-z0-9+.-]*://`, `(?i)\bwww\.`, `(^|[^\\])\]\(`} {
		if m := regexp.MustCompile(re).FindString(text); m != "" {
			t.Errorf("%q matches %q outside code:\n%s", re, m, text)
		}
	}
	want := "ping @\u200balice and @\u200borg/team, see `https://evil.example/x?a=b`. " +
		"Or \\[this\\](`https://evil.example/y`), `www.evil.example`, \\<`https://evil.example/z`\\>, bob@\u200bexample.com; " +
		"fixes \\#\u200b12, owner/repo\\#\u200b34, !56 and \\&7 (`https://en.example/wiki/A_(b)`)"
	if n := strings.Count(got, want); n != 8 {
		t.Errorf("the neutralised text is there %d times, want 8 (the warning, 4 messages, the check, the note, the reason not applied):\n%s\nwant\n%s", n, got, want)
	}
	// In code blocks the forges neither mention nor link: left alone.
	if !strings.Contains(got, "```text\n"+mentionsAndLinks+"\n```") {
		t.Errorf("error lines changed:\n%s", got)
	}
}

func TestSummaries(t *testing.T) {
	s := engine.Summary{Add: 1, Change: 2, Destroy: 3, Replace: 4, Import: 5, Move: 6}
	if got, want := PlanSummary(s), "5 to import, 1 to add, 2 to change, 3 to destroy, 4 to replace, 6 to move"; got != want {
		t.Errorf("PlanSummary = %q, want %q", got, want)
	}
	if got, want := applySummary(s), "5 imported, 1 added, 2 changed, 3 destroyed, 4 replaced, 6 moved"; got != want {
		t.Errorf("applySummary = %q, want %q", got, want)
	}
	if got, want := PlanSummary(engine.Summary{Change: 1}), "0 to add, 1 to change, 0 to destroy"; got != want {
		t.Errorf("PlanSummary = %q, want %q", got, want)
	}
	c := Comment{Projects: []ProjectResult{{
		Name: "prod", Status: StatusApplied,
		Plan: &engine.Plan{Summary: engine.Summary{Import: 1, Move: 1}},
	}}}
	if got := Markdown(c, nil); !strings.Contains(got, "**Apply complete:** 1 imported, 0 added, 0 changed, 0 destroyed, 1 moved.") ||
		!strings.Contains(got, "| Import | Move |") {
		t.Errorf("applied moves and imports:\n%s", got)
	}
}

func TestMarkdownRedactsPlanSecretsWithoutRedactor(t *testing.T) {
	c := Comment{Projects: []ProjectResult{
		planned("a", &engine.Plan{Secrets: []string{canary}, Summary: engine.Summary{Add: 1},
			Resources: []engine.ResourceChange{{Address: "x.y", Action: engine.ActionCreate,
				After: map[string]any{"v": canary + "\n" + canary}}}}),
		{Name: "b", Status: StatusFailed, ErrorLines: []string{"Error: " + canary}},
	}}
	got := Markdown(c, nil)
	if strings.Contains(got, canary) || strings.Contains(got, "s3cr3t") {
		t.Errorf("secret leaked:\n%s", got)
	}
	if !strings.Contains(got, `v: "***\n***"`) {
		t.Errorf("value not redacted before quoting:\n%s", got)
	}
}

func TestMarkdownSecretEqualToMarkupWord(t *testing.T) {
	// Secrets like "plan" or "diff" must hide the values, not the comment's
	// own markup.
	r := redact.New([]string{"plan", "diff", "details", "summary", "sluice"}, nil)
	c := Comment{Projects: []ProjectResult{planned("a", &engine.Plan{Summary: engine.Summary{Change: 1},
		Resources: []engine.ResourceChange{{Address: "x.plan", Action: engine.ActionUpdate,
			Before: map[string]any{"v": "diff"}, After: map[string]any{"v": "details"}}}})}}
	got := Markdown(c, r)
	for _, want := range []string{Marker, "```diff", "<details><summary>Show plan</summary>", `!     v: "***" -> "***"`, "x.***"} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown lacks %q:\n%s", want, got)
		}
	}
}

func TestCodeSpanAndFence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"prod", "`prod`"},
		{"a`b", "``a`b``"},
		{"`x`", "`` `x` ``"},
		{"a``b`", "``` a``b` ```"},
		{"two\nlines", "`two lines`"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := codeSpan(tt.in); got != tt.want {
			t.Errorf("codeSpan(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := cell("a|b"); got != "`a\\|b`" {
		t.Errorf("cell = %q", got)
	}
	if got := codeBlock("text", "x ```` y"); !strings.HasPrefix(got, "`````text\n") || !strings.HasSuffix(got, "\n`````") {
		t.Errorf("codeBlock = %q", got)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{json.Number("3"), "3"},
		{json.Number("1e3"), "1e3"},
		{float64(3), "3"},
		{float64(1e20), "100000000000000000000"},
		{float64(0.25), "0.25"},
		{float64(1e22), "1e+22"},
		{true, "true"},
	}
	for _, tt := range tests {
		if got := scalar(tt.v); got != tt.want {
			t.Errorf("scalar(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	paths := []struct {
		in   string
		want []string
	}{
		{"input", []string{"input"}},
		{"input.tags.env", []string{"input", "tags", "env"}},
		{`tags["a.b"]`, []string{"tags", "a.b"}},
		{"list[0].name", []string{"list", "0", "name"}},
		{"list.0", []string{"list", "0"}},
	}
	for _, tt := range paths {
		if got := parsePath(tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("parsePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAppliedKeepsTheReviewedPlan: the comment of an applied project keeps
// the plan that was applied, collapsed under the apply's result.
func TestAppliedKeepsTheReviewedPlan(t *testing.T) {
	plan := &engine.Plan{Summary: engine.Summary{Change: 1}, Resources: []engine.ResourceChange{{
		Address: "terraform_data.ng", Type: "terraform_data", Name: "ng", Action: engine.ActionUpdate,
		Before: decode(t, `{"input": {"desired_size": 3}}`), After: decode(t, `{"input": {"desired_size": 2}}`),
	}}}
	md := Markdown(Comment{Head: head, Projects: []ProjectResult{{Name: "prod", Status: StatusApplied, Plan: plan, PlannedAt: head,
		Message: "Applied by run 4, asked by carol.", ApplyText: "Apply complete! Resources: 0 added, 1 changed, 0 destroyed."}}}, nil)
	for _, want := range []string{"**Apply complete:**", "The plan that was applied (0 to add, 1 to change, 0 to destroy)", "desired_size: 3 -> 2"} {
		if !strings.Contains(md, want) {
			t.Errorf("the applied project's comment lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Planned at") {
		t.Errorf("a plan of the head is not of an earlier commit:\n%s", md)
	}
}

// TestPlanOfAnEarlierCommit: a project whose plan is of an earlier commit
// than the merge request's latest (a push Sluice did not hear of) says so
// and how to plan the latest, instead of showing the old plan under the
// new commit as if it were its own.
func TestPlanOfAnEarlierCommit(t *testing.T) {
	const older = "fedcba9876543210fedcba9876543210fedcba98"
	p := planned("prod", &engine.Plan{Summary: engine.Summary{Change: 1}})
	p.PlannedAt = older
	md := Markdown(Comment{Head: head, Base: base, Projects: []ProjectResult{p}}, nil)
	if !strings.Contains(md, "**Planned at `fedcba9`**, not at the merge request's latest commit `0123456`: comment `sluice plan` to plan it.") {
		t.Errorf("the comment does not say the plan is of an earlier commit:\n%s", md)
	}
}

// TestHeldByIsAReference: the merge request holding a project's lock is
// named as a reference the forge links (#12 on Gitea and GitHub), unlike
// any reference in a message; anything but a reference is not written.
func TestHeldByIsAReference(t *testing.T) {
	for _, tc := range []struct{ heldBy, want string }{
		{"#12", "**Pending:** waiting for the project lock, held by #12"},
		{"!12", "**Pending:** waiting for the project lock, held by !12"},
		{"#12 @alice", "**Pending:** waiting for the project lock\n"},
		{"", "**Pending:** waiting for the project lock\n"},
	} {
		got := Markdown(Comment{Projects: []ProjectResult{{Name: "prod", Status: StatusPending, Message: "waiting for the project lock", HeldBy: tc.heldBy}}}, nil)
		if !strings.Contains(got, tc.want) {
			t.Errorf("HeldBy %q:\n%s\nwant %q", tc.heldBy, got, tc.want)
		}
	}
}
