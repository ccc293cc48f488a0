package repoconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// testRepo is a repository checkout for the tests.
func testRepo() fstest.MapFS {
	return fstest.MapFS{
		"envs/prod/main.tf":          {Data: []byte(`resource "terraform_data" "x" {}`)},
		"envs/staging/main.tf":       {Data: []byte(`resource "terraform_data" "x" {}`)},
		"network/main.tf":            {Data: []byte(`resource "terraform_data" "x" {}`)},
		"modules/vpc/main.tf":        {Data: []byte(`variable "cidr" {}`)},
		"app/Pulumi.yaml":            {Data: []byte("name: app\nruntime: yaml\n")},
		"policies/deny.rego":         {Data: []byte("package sluice\n")},
		"README.md":                  {Data: []byte("# infra\n")},
		"envs/prod/terraform.tfvars": {Data: []byte("x = 1\n")},
	}
}

// project is the start of a valid config: version and one project "prod"
// in envs/prod, whose extra keys follow (indented by 4 spaces) from line 5.
const project = "version: 1\nprojects:\n  - name: prod\n    dir: envs/prod\n"

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "line:col: part of the message", in file order
	}{
		// YAML syntax.
		{"mapping in a value", "version: 1\nprojects: a: b\n",
			[]string{"2:1: invalid YAML: mapping values are not allowed in this context; quote values"}},
		{"tab indentation", project + "\tengine: terraform\n",
			[]string{"5:1: invalid YAML: found a tab character that violates indentation; indent with spaces"}},
		{"unclosed quote", project + "    engine: \"terraform\n",
			[]string{"5:5: invalid YAML: found unexpected end of stream; close every quote"}},
		{"bad indentation", "version: 1\nprojects:\n  - name: prod\n dir: envs/prod\n",
			[]string{"4:2: invalid YAML: did not find expected key; check the indentation"}},
		{"unclosed bracket", project + "    depends_on: [a\n",
			[]string{"5:5: invalid YAML: did not find expected ',' or ']'; close every quote and bracket"}},
		{"not UTF-8", project + "    stack: caf\xe9\n",
			[]string{"5:15: invalid YAML: incomplete UTF-8 octet sequence; save the file as UTF-8"}},
		{"control character", "version: 1\x01\n", []string{"1:11: invalid YAML: control characters are not allowed; save the file"}},
		{"empty", "# nothing yet\n", []string{"1:1: sluice.yaml is empty; write version: 1"}},
		{"two documents", project + "---\nversion: 1\n", []string{"5:1: a second YAML document starts here; keep a single document"}},
		{"unknown anchor", project + "    depends_on: *deps\n", []string{"5:17: invalid YAML: unknown anchor 'deps' referenced; define an anchor"}},

		// Unknown, repeated and odd keys.
		{"unknown project key", project + "    engin: terraform\n",
			[]string{`5:5: unknown key "engin" in project "prod"; did you mean "engine"?`}},
		{"unknown top-level key", "version: 1\nproject:\n  - name: prod\n    dir: envs/prod\n",
			[]string{"1:1: no projects", `2:1: unknown key "project" at the top level; did you mean "projects"?`}},
		{"relax of an unknown check", project + "    relax: [threads, approvals]\n",
			[]string{`5:22: "approvals" in relax of project "prod" is not a check that can be turned off; write threads, checks or draft`}},
		{"unknown nested key", project + "    apply:\n      mod: before_merge\n",
			[]string{`6:7: unknown key "mod" in apply of project "prod"; did you mean "mode"?`}},
		{"unknown key without suggestion", project + "    color: blue\n",
			[]string{`5:5: unknown key "color" in project "prod"; the keys here are name, dir, engine,`}},
		{"camel case key", project + "    whenModified: ['*.tf']\n",
			[]string{`5:5: unknown key "whenModified" in project "prod"; did you mean "when_modified"?`}},
		{"repeated key", project + "    dir: network\n",
			[]string{`5:5: key "dir" in project "prod" is repeated (first at line 4); keep only one`}},
		{"merge key", "version: 1\nx: &d {engine: terraform}\nprojects:\n  - <<: *d\n    name: prod\n    dir: envs/prod\n",
			[]string{`2:1: unknown key "x" at the top level`, "4:5: merge keys (<<) are not supported; write the keys out"}},

		// Wrong types.
		{"when_modified string", project + "    when_modified: \"*.tf\"\n",
			[]string{`5:20: when_modified of project "prod" must be a list of strings, got the string "*.tf"; write a list, even of one entry: when_modified: ["*.tf"]`}},
		{"when_modified mapping", project + "    when_modified: {a: b}\n",
			[]string{`5:20: when_modified of project "prod" must be a list of strings, got a mapping; write a list`}},
		{"when_modified entry list", project + "    when_modified: [[a]]\n",
			[]string{`5:21: when_modified entry of project "prod" must be a single value, got a list; write one value per entry`}},
		{"min as a word", project + "    approval:\n      min: two\n",
			[]string{`6:12: approval.min of project "prod" must be a whole number, got the string "two"; write a number without quotes, e.g. min: 1`}},
		{"min as a fraction", project + "    approval: {min: 1.5}\n",
			[]string{`5:21: approval.min of project "prod" must be a whole number, got the number 1.5`}},
		{"version as a string", "version: \"1\"\nprojects:\n  - name: prod\n    dir: envs/prod\n",
			[]string{`1:10: version must be a whole number, got the string "1"; write a number without quotes, e.g. version: 1`}},
		{"codeowners yes", project + "    approval: {codeowners: yes}\n",
			[]string{`5:28: approval.codeowners of project "prod" must be true or false, got the string "yes"; write codeowners: true or codeowners: false`}},
		{"apply as a string", project + "    apply: before_merge\n",
			[]string{`5:12: apply of project "prod" must be a mapping, got the string "before_merge"; indent its keys below apply:, e.g. apply: {mode: before_merge}`}},
		{"engine as a list", project + "    engine: [terraform]\n",
			[]string{`5:13: engine of project "prod" must be a single value, got a list; write one value, e.g. engine: terraform`}},
		{"projects as a mapping", "version: 1\nprojects:\n  prod:\n    dir: envs/prod\n",
			[]string{`3:3: projects must be a list of mappings, got a mapping; write each entry on its own line starting with "- "`}},
		{"project as a string", "version: 1\nprojects:\n  - prod\n",
			[]string{`3:5: project #1 must be a mapping, got the string "prod"; start each project with "- name: NAME"`}},
		{"file as a list", "- version: 1\n", []string{"1:1: sluice.yaml must be a mapping, got a list; start it with version: 1"}},

		// Version and projects.
		{"no version", "projects:\n  - name: prod\n    dir: envs/prod\n",
			[]string{"1:1: version is missing; add version: 1 at the top of the file"}},
		{"version 2", "version: 2\nprojects:\n  - name: prod\n    dir: envs/prod\n",
			[]string{"1:10: unsupported version 2; write version: 1"}},
		{"no projects", "version: 1\nmasks: ['x']\n",
			[]string{"1:1: no projects; add a projects: list (see docs/configuration.md), or delete sluice.yaml to let Sluice discover projects"}},
		{"empty projects", "version: 1\nprojects: []\n",
			[]string{"2:1: projects is empty; list at least one project"}},
		{"null projects", "version: 1\nprojects:\n",
			[]string{"2:1: projects is empty; list at least one project"}},

		// Names.
		{"duplicate name", project + "  - name: prod\n    dir: network\n",
			[]string{`5:11: duplicate project name "prod" (first used at line 3); give each project its own name`}},
		{"invalid name", "version: 1\nprojects:\n  - name: my prod\n    dir: envs/prod\n",
			[]string{`3:11: invalid project name "my prod" (it contains ' '); use up to 100 letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. "my-prod"`}},
		{"name too long", "version: 1\nprojects:\n  - name: " + strings.Repeat("p", 101) + "\n    dir: envs/prod\n",
			[]string{`3:11: invalid project name "ppp`}},
		{"name a path", "version: 1\nprojects:\n  - name: ../../x\n    dir: envs/prod\n",
			[]string{`3:11: invalid project name "../../x" (it starts with '.'); use up to 100 letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. "x"`}},
		{"no name", "version: 1\nprojects:\n  - dir: envs/prod\n",
			[]string{"3:5: project #1 has no name; add a unique name, e.g. name: envs-prod"}},

		// Dirs.
		{"no dir", "version: 1\nprojects:\n  - name: prod\n",
			[]string{`3:5: project "prod" has no dir; add the path of its code relative to the repository root, e.g. dir: envs/prod`}},
		{"empty dir", "version: 1\nprojects:\n  - name: prod\n    dir: \"\"\n",
			[]string{`4:10: dir of project "prod" is empty; write a path relative to the repository root`}},
		{"absolute dir", "version: 1\nprojects:\n  - name: prod\n    dir: /envs/prod\n",
			[]string{`4:10: directory "/envs/prod" is absolute (dir of project "prod"); write it relative to the repository root: "envs/prod"`}},
		{"dir outside", "version: 1\nprojects:\n  - name: prod\n    dir: envs/../../prod\n",
			[]string{`4:10: directory "envs/../../prod" is outside the repository (dir of project "prod"); write a path inside it`}},
		{"dir with backslashes", "version: 1\nprojects:\n  - name: prod\n    dir: envs\\prod\n",
			[]string{`4:10: directory "envs\\prod" uses backslashes (dir of project "prod"); write / instead: "envs/prod"`}},
		{"dir missing", "version: 1\nprojects:\n  - name: prod\n    dir: envs/prd\n",
			[]string{`4:10: directory "envs/prd" does not exist in the repository (dir of project "prod"); did you mean "envs/prod"?`}},
		{"dir missing far", "version: 1\nprojects:\n  - name: prod\n    dir: infra/prod\n",
			[]string{`4:10: directory "infra/prod" does not exist in the repository (dir of project "prod"); create it or correct the path`}},
		{"dir deleted", "version: 1\nprojects:\n  - name: prod\n    dir: infra/prod\n",
			[]string{`4:10: directory "infra/prod" does not exist in the repository (dir of project "prod"); create it or correct the path; if the project was deleted on purpose: removing its code does not destroy its resources, so destroy them first (or remove them from the state deliberately), then remove the project from sluice.yaml`}},
		{"dir is a file", "version: 1\nprojects:\n  - name: prod\n    dir: envs/prod/main.tf\n",
			[]string{`4:10: directory "envs/prod/main.tf" is a file (dir of project "prod"); write the directory that holds the code, e.g. "envs/prod"`}},

		// Engines, workspaces, stacks.
		{"engine tofu", project + "    engine: tofu\n",
			[]string{`5:13: unknown engine "tofu" in project "prod"; did you mean "opentofu"? (engines: terraform, opentofu, pulumi)`}},
		{"engine helm", project + "    engine: helm\n",
			[]string{`5:13: unknown engine "helm" in project "prod"; (engines: terraform, opentofu, pulumi)`}},
		{"stack with terraform", project + "    stack: dev\n",
			[]string{`5:5: stack is for pulumi, but project "prod" uses terraform (the default when dir has no Pulumi.yaml); remove it`}},
		{"stack with opentofu", project + "    engine: opentofu\n    stack: dev\n",
			[]string{`6:5: stack is for pulumi, but project "prod" uses opentofu; remove it`}},
		{"workspace with pulumi", "version: 1\nprojects:\n  - name: app\n    dir: app\n    stack: dev\n    workspace: dev\n",
			[]string{`6:5: workspace is for terraform and opentofu, but project "app" uses pulumi (its dir has a Pulumi.yaml); remove it`}},
		{"pulumi without stack", project + "    engine: pulumi\n",
			[]string{`3:5: project "prod" uses pulumi but has no stack; add the name of its Pulumi stack, e.g. stack: dev`}},
		{"detected pulumi without stack", "version: 1\nprojects:\n  - name: app\n    dir: app\n",
			[]string{`3:5: project "app" uses pulumi (its dir has a Pulumi.yaml) but has no stack`}},
		{"empty stack", "version: 1\nprojects:\n  - name: app\n    dir: app\n    stack: ''\n",
			[]string{`5:12: project "app" uses pulumi (its dir has a Pulumi.yaml) but has no stack`}},
		{"workspace like a flag", project + "    workspace: -prod\n",
			[]string{`5:16: invalid workspace "-prod" in project "prod" (it starts with '-', which a command would read as an option); write a workspace name such as "prod", or remove the key for the default workspace`}},
		{"workspace up the tree", project + "    workspace: ../../..\n",
			[]string{`5:16: invalid workspace "../../.." in project "prod" (it contains '/'; Terraform allows letters, digits and - . _ ~ $ & + = : @, and no / or spaces); write a workspace name such as "default", or remove the key for the default workspace`}},
		{"workspace a parent", project + "    workspace: ..\n",
			[]string{`5:16: invalid workspace ".." in project "prod" (.. is a directory's own name for itself or its parent); write a workspace name such as "default"`}},
		{"workspace a path", project + "    workspace: eu/prod\n",
			[]string{`5:16: invalid workspace "eu/prod" in project "prod" (it contains '/'; Terraform allows letters, digits and - . _ ~ $ & + = : @, and no / or spaces); write a workspace name such as "eu-prod"`}},
		{"workspace with a space", project + "    workspace: 'my prod'\n",
			[]string{`5:16: invalid workspace "my prod" in project "prod" (it contains ' '; Terraform allows letters, digits and - . _ ~ $ & + = : @, and no / or spaces); write a workspace name such as "my-prod"`}},
		{"stack up the tree", "version: 1\nprojects:\n  - name: app\n    dir: app\n    stack: ../../../x\n",
			[]string{`5:12: invalid stack "../../../x" in project "app" (it has 4 parts; a Pulumi stack is STACK, ORG/STACK or ORG/PROJECT/STACK); write a stack such as "x" (STACK, ORG/STACK or ORG/PROJECT/STACK)`}},
		{"stack with a parent", "version: 1\nprojects:\n  - name: app\n    dir: app\n    stack: acme/../dev\n",
			[]string{`5:12: invalid stack "acme/../dev" in project "app" (its part "..": .. is a directory's own name for itself or its parent); write a stack such as "acme/dev"`}},
		{"stack like a flag", "version: 1\nprojects:\n  - name: app\n    dir: app\n    stack: --yes\n",
			[]string{`5:12: invalid stack "--yes" in project "app" (it starts with '-', which a command would read as an option); write a stack such as "yes"`}},
		{"stack with a space", "version: 1\nprojects:\n  - name: app\n    dir: app\n    stack: 'acme/my dev'\n",
			[]string{`5:12: invalid stack "acme/my dev" in project "app" (it contains ' '; Pulumi allows letters, digits, '-', '_' and '.'); write a stack such as "acme/my-dev"`}},

		// when_modified.
		{"invalid glob", project + "    when_modified: ['[ab']\n",
			[]string{`5:21: invalid glob "[ab" in when_modified of project "prod"; close every [ and {`}},
		{"glob outside", project + "    when_modified: ['../modules/**', '../../../x/**']\n",
			[]string{`5:38: glob "../../../x/**" in when_modified of project "prod" reaches outside the repository; from dir "envs/prod" at most 2 ../ stay inside the repository`}},
		{"glob outside from root", "version: 1\nprojects:\n  - name: root\n    dir: .\n    when_modified: ['../x']\n",
			[]string{`5:21: glob "../x" in when_modified of project "root" reaches outside the repository; a project at the repository root cannot use ../`}},
		{"absolute glob", project + "    when_modified: ['/envs/**']\n",
			[]string{`5:21: glob "/envs/**" in when_modified of project "prod" is absolute; write it relative to the project's dir`}},
		{"empty glob", project + "    when_modified:\n      - \"*.tf\"\n      -\n",
			[]string{`7:8: empty entry in when_modified of project "prod"; remove it or write a glob`}},

		// depends_on.
		{"unknown dependency", project + "    depends_on: [netwrk]\n  - name: network\n    dir: network\n",
			[]string{`5:18: depends_on of project "prod" names unknown project "netwrk"; did you mean "network"? (projects: prod, network)`}},
		{"self dependency", project + "    depends_on: [prod]\n",
			[]string{`5:18: project "prod" depends on itself; remove "prod" from its depends_on`}},
		{"repeated dependency", project + "    depends_on: [network, network]\n  - name: network\n    dir: network\n",
			[]string{`5:27: "network" is listed twice in depends_on of project "prod"; remove one`}},
		{"cycle", "version: 1\nprojects:\n" +
			"  - name: a\n    dir: envs/prod\n    depends_on: [c]\n" +
			"  - name: b\n    dir: envs/staging\n    depends_on: [a]\n" +
			"  - name: c\n    dir: network\n    depends_on: [b]\n",
			[]string{`8:18: depends_on of project "b" forms a cycle: b -> a -> c -> b; remove one of these dependencies`}},

		// apply, approval, masks, policies.
		{"apply mode", project + "    apply: {mode: after-merge}\n",
			[]string{`5:19: unknown apply.mode "after-merge" in project "prod"; did you mean "after_merge"? (modes: after_merge, before_merge)`}},
		{"negative min", project + "    approval: {min: -1}\n",
			[]string{`5:21: approval.min of project "prod" is -1; write 0 (no approval needed) or more`}},
		{"empty approver", project + "    approval:\n      from: [alice, '']\n",
			[]string{`6:21: empty entry in approval.from of project "prod"; write a login such as alice, or a group as group:NAME`}},
		{"empty group", project + "    approval:\n      from: ['group:']\n",
			[]string{`6:14: "group:" in approval.from of project "prod" names no group; write group:NAME`}},
		{"invalid mask", project + "masks: ['token-(']\n",
			[]string{"5:9: invalid mask \"token-(\": error parsing regexp: missing closing ): `token-(`; write an RE2 regular expression"}},
		{"empty mask", project + "masks: ['']\n",
			[]string{"5:9: empty entry in masks; remove it or write a regular expression"}},
		{"absolute policy", project + "    policies: [/etc/policies]\n",
			[]string{`5:16: policy path "/etc/policies" is absolute (policies of project "prod"); write it relative to the repository root: "etc/policies"`}},
		{"policy outside", project + "    policies: [../policies]\n",
			[]string{`5:16: policy path "../policies" is outside the repository (policies of project "prod")`}},
		{"policy missing", project + "    policies: [policies/deny.rgo]\n",
			[]string{`5:16: policy path "policies/deny.rgo" does not exist in the repository (policies of project "prod"); did you mean "policies/deny.rego"?`}},

		// Several problems at once, reported in file order.
		{"many", "version: 3\nprojects:\n  - name: prod\n    dir: envs/prd\n    engin: terraform\n    approval: {min: -2}\nmasks: ['(']\n",
			[]string{
				"1:10: unsupported version 3",
				`4:10: directory "envs/prd" does not exist`,
				`5:5: unknown key "engin"`,
				`6:21: approval.min of project "prod" is -2`,
				`7:9: invalid mask "("`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(testRepo(), "sluice.yaml", []byte(tt.yaml))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse() = %+v, %v; want an *Error", c, err)
			}
			var got []string
			for _, p := range perr.Problems {
				got = append(got, fmt.Sprintf("%d:%d: %s", p.Line, p.Col, p.Msg))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				pos, msg, _ := strings.Cut(w, ": ")
				gotPos, gotMsg, _ := strings.Cut(got[i], ": ")
				if gotPos != pos || !strings.Contains(gotMsg, msg) {
					t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], w)
				}
			}
			for _, p := range perr.Problems {
				if p.File != "sluice.yaml" || p.Line < 1 || p.Col < 1 || !strings.Contains(p.Msg, "; ") {
					t.Errorf("problem %q lacks a position or what to write instead", p)
				}
				if p.Msg != strings.TrimSpace(p.Msg) || strings.Contains(p.Msg, "\n") {
					t.Errorf("problem %q is not one clean line", p)
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	err := &Error{Problems: []Problem{
		{File: "sluice.yaml", Line: 4, Col: 5, Msg: `unknown key "engin" in project "prod"; did you mean "engine"?`},
		{File: "sluice.yaml", Line: 9, Col: 10, Msg: "b; c"},
	}}
	want := "sluice.yaml:4:5: unknown key \"engin\" in project \"prod\"; did you mean \"engine\"?\nsluice.yaml:9:10: b; c"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestParseDefaults(t *testing.T) {
	const yaml = `# yaml-language-server: $schema=schema/sluice.schema.json
version: 1
masks: ['token-[a-z0-9]+']
projects:
  - name: network
    dir: ./network/
  - name: prod
    dir: envs/prod
    engine: opentofu
    workspace: prod
    when_modified: &tf ["*.tf", "../modules/**"]
    depends_on: [network]
    apply: {mode: before_merge}
    approval:
      min: 0
      from: [alice, "group:platform"]
      codeowners: true
    policies: [policies/, policies/deny.rego]
  - name: staging
    dir: envs/staging
    when_modified: *tf
    approval: {min: ~}
  - name: app
    dir: app
    stack: dev
`
	got, err := Parse(testRepo(), "sluice.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	tfDefaults := []string{"**/*.tf", "**/*.tf.json", "**/*.tofu", "**/*.tofu.json", "**/*.tfvars", "**/*.tfvars.json", ".terraform.lock.hcl"}
	want := &Config{
		Version: 1,
		Masks:   []string{"token-[a-z0-9]+"},
		File:    "sluice.yaml",
		Projects: []Project{
			{
				Name: "network", Dir: "network", Engine: "terraform", Workspace: "default",
				WhenModified: tfDefaults,
				Apply:        Apply{Mode: "after_merge"},
				Approval:     Approval{Min: new(1), Codeowners: new(false)},
			},
			{
				Name: "prod", Dir: "envs/prod", Engine: "opentofu", Workspace: "prod",
				WhenModified: []string{"*.tf", "../modules/**"},
				DependsOn:    []string{"network"},
				Apply:        Apply{Mode: "before_merge"},
				Approval:     Approval{Min: new(0), From: []string{"alice", "group:platform"}, Codeowners: new(true)},
				Policies:     []string{"policies", "policies/deny.rego"},
			},
			{
				Name: "staging", Dir: "envs/staging", Engine: "terraform", Workspace: "default",
				WhenModified: []string{"*.tf", "../modules/**"},
				Apply:        Apply{Mode: "after_merge"},
				Approval:     Approval{Min: new(1), Codeowners: new(false)},
			},
			{
				Name: "app", Dir: "app", Engine: "pulumi", Stack: "dev",
				WhenModified: []string{"**/*"},
				Apply:        Apply{Mode: "after_merge"},
				Approval:     Approval{Min: new(1), Codeowners: new(false)},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse() =\n%#v\nwant\n%#v", got, want)
	}
}

func TestParseWithoutFS(t *testing.T) {
	// Without a file system, directories are not checked and the engine
	// defaults to terraform.
	c, err := Parse(nil, "sluice.yaml", []byte("version: 1\nprojects:\n  - name: x\n    dir: not/there\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Projects[0]; p.Engine != EngineTerraform || p.Dir != "not/there" {
		t.Errorf("project = %+v", p)
	}
}

// permFS refuses to open sluice.yaml, as a file without read permission.
type permFS struct{ fstest.MapFS }

func (f permFS) Open(name string) (fs.File, error) {
	if name == FileName {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f.MapFS.Open(name)
}

func TestLoad(t *testing.T) {
	withFile := func(f *fstest.MapFile) fstest.MapFS {
		fsys := testRepo()
		fsys[FileName] = f
		return fsys
	}
	valid := &fstest.MapFile{Data: []byte(project)}
	tests := []struct {
		name       string
		fsys       fs.FS
		wantNames  []string
		discovered bool
		wantErr    string
	}{
		{name: "file", fsys: withFile(valid), wantNames: []string{"prod"}},
		{name: "no file", fsys: testRepo(), discovered: true,
			wantNames: []string{"app", "envs-prod", "envs-staging", "modules-vpc", "network"}},
		{name: "invalid", fsys: withFile(&fstest.MapFile{Data: []byte("version: 2\n")}),
			wantErr: "sluice.yaml:1:1: no projects; add a projects: list (see docs/configuration.md), or delete sluice.yaml to let Sluice discover projects\nsluice.yaml:1:10: unsupported version 2; write version: 1 (the only version)"},
		{name: "directory", fsys: withFile(&fstest.MapFile{Mode: fs.ModeDir | 0o755}),
			wantErr: "reading sluice.yaml: it is a directory; Sluice expects a file with that name"},
		{name: "symlink", fsys: withFile(&fstest.MapFile{Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink}),
			wantErr: "reading sluice.yaml: it is a symbolic link; commit the file itself"},
		{name: "device", fsys: withFile(&fstest.MapFile{Mode: fs.ModeDevice}),
			wantErr: "reading sluice.yaml: not a regular file"},
		{name: "unreadable", fsys: permFS{withFile(valid)},
			wantErr: "reading sluice.yaml: open sluice.yaml: permission denied"},
		{name: "too large", fsys: withFile(&fstest.MapFile{Data: make([]byte, MaxFileSize+1)}),
			wantErr: "reading sluice.yaml: larger than 1024 KiB; a configuration file is a few KiB, keep it small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Load() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Names(), tt.wantNames) || c.Discovered != tt.discovered {
				t.Errorf("Load() = %v (discovered %v), want %v (discovered %v)", c.Names(), c.Discovered, tt.wantNames, tt.discovered)
			}
		})
	}
}

// TestParseIsBounded: what parsing a sluice.yaml costs does not grow with
// what its aliases stand for, nor beyond what MaxFileSize allows: each of
// these is refused with one clear problem (or the first maxProblems and
// a count), for a few MiB of memory at most. Without the bounds, the
// first took 240 MiB, and one 40 MiB file on a base branch 2.1 GiB.
func TestParseIsBounded(t *testing.T) {
	const maxAlloc = 64 << 20
	project := "version: 1\nprojects:\n  - name: a\n    dir: a\n"
	// A billion laughs: each level is nine aliases of the level above.
	var laughs strings.Builder
	laughs.WriteString("version: 1\nprojects:\n  - name: a\n    dir: a\n    when_modified: &l0 ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&laughs, "  - name: p%d\n    dir: a\n    when_modified: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", "))
	}
	// Projects made of aliases of a project whose list is an alias.
	var projects strings.Builder
	projects.WriteString("version: 1\nprojects:\n  - &p {name: a, dir: a, when_modified: &w ['" + strings.Repeat("x', '", 300) + "x']}\n")
	for range 400 {
		projects.WriteString("  - *p\n")
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"dense", project + "    when_modified: [" + strings.Repeat("a,", (MaxFileSize-len(project))/2-40) + "a]\n",
			"separators (',', ':', '-', '[', '{', '?' and line breaks), more than the 100000 Sluice reads; a real sluice.yaml has a few thousand, write it more simply"},
		{"dense, under the separators' bound", project + "    when_modified: [" + strings.Repeat("a,", maxNodes-20) + "a]\n",
			""}, // valid, and the most a file that passes costs
		// Nothing in sluice.yaml is a list of lists: the aliases are
		// values of the wrong type, not followed.
		{"billion laughs", laughs.String(),
			`sluice.yaml:5:20: when_modified entry of project "p1" must be a single value, got a list`},
		{"aliased projects", projects.String(),
			"sluice.yaml expands to more than 100000 values (aliases count each time they are used)"},
		{"many problems", project + "    when_modified: [" + strings.Repeat("[a], ", 19000) + "a]\n",
			"sluice.yaml: 18900 more problems; fix these first"},
		{"too large", project + "    when_modified: ['" + strings.Repeat("a", MaxFileSize) + "']\n",
			"reading sluice.yaml: larger than 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Parse(nil, "sluice.yaml", []byte(tt.yaml))
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
				t.Errorf("Parse allocated %d MiB, more than %d MiB", alloc>>20, maxAlloc>>20)
			} else {
				t.Logf("%d KiB of YAML: %d MiB allocated", len(tt.yaml)>>10, alloc>>20)
			}
			if tt.want == "" {
				if err != nil {
					t.Errorf("Parse() error = %.400v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() error = %.400v, want %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sluice.yaml:") && !strings.HasPrefix(err.Error(), "reading sluice.yaml") {
				t.Errorf("the error does not say where: %.200v", err)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n > maxProblems+1 {
				t.Errorf("the error has %d lines", n)
			}
		})
	}
}

// TestYAMLNodesDoNotExpandAliases: what TestParseIsBounded rests on.
// yaml.v3 builds a node tree in which an alias is one node pointing to
// its anchor, however often the anchor is used; decoding into Go values
// would expand it (yaml.v3 then stops at "excessive aliasing"), which is
// why Parse decodes from the nodes itself, counting every alias it
// follows.
func TestYAMLNodesDoNotExpandAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", "))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("parsing %d bytes into nodes allocated %d KiB", b.Len(), alloc>>10)
	}
	var v any
	if err := yaml.Unmarshal([]byte(b.String()), &v); err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("decoding the aliases into Go values: %v, want yaml.v3's refusal", err)
	}
}
