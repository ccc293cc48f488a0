package repoconfig

import (
	"reflect"
	"slices"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

func TestOrder(t *testing.T) {
	// Config order: e, d, c, b, a, x. Diamond: d needs b and c, which need
	// a. e needs x, which needs a.
	c := &Config{Projects: []Project{
		{Name: "e", DependsOn: []string{"x"}},
		{Name: "d", DependsOn: []string{"b", "c"}},
		{Name: "c", DependsOn: []string{"a"}},
		{Name: "b", DependsOn: []string{"a"}},
		{Name: "a"},
		{Name: "x", DependsOn: []string{"a"}},
	}}
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"diamond", []string{"a", "b", "c", "d"}, []string{"a", "c", "b", "d"}},
		{"given order does not matter", []string{"d", "b", "a", "c"}, []string{"a", "c", "b", "d"}},
		{"ties keep config order", []string{"b", "c"}, []string{"c", "b"}},
		{"ties after a shared dependency", []string{"b", "c", "a"}, []string{"a", "c", "b"}},
		{"dependencies outside the set are ignored", []string{"a", "d"}, []string{"d", "a"}},
		{"also transitive ones", []string{"a", "e"}, []string{"e", "a"}},
		{"chain", []string{"a", "e", "x"}, []string{"a", "x", "e"}},
		{"one", []string{"c"}, []string{"c"}},
		{"none", nil, []string{}},
		{"duplicates and unknown names", []string{"zz", "b", "a", "b", "yy"}, []string{"a", "b", "zz", "yy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Order(tt.names); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Order(%q) = %q, want %q", tt.names, got, tt.want)
			}
		})
	}
}

func TestOrderCycle(t *testing.T) {
	// Validation rejects cycles; Order still returns every name once.
	c := &Config{Projects: []Project{
		{Name: "a", DependsOn: []string{"b"}},
		{Name: "b", DependsOn: []string{"a"}},
		{Name: "c", DependsOn: []string{"b"}},
	}}
	if got, want := c.Order([]string{"c", "b", "a"}), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Order() = %q, want %q", got, want)
	}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name    string
		project Project
		want    []string
	}{
		{"modules beside the project",
			Project{Dir: "envs/prod", WhenModified: []string{"**/*.tf", "../modules/**"}},
			[]string{"envs/prod/**/*.tf", "envs/modules/**"}},
		{"modules at the root",
			Project{Dir: "envs/prod", WhenModified: []string{"../../modules/**", "./x/../y/*.tf"}},
			[]string{"modules/**", "envs/prod/y/*.tf"}},
		{"root project", Project{Dir: ".", WhenModified: []string{"*.tf", "./envs/**"}},
			[]string{"*.tf", "envs/**"}},
		{"terraform defaults", Project{Dir: "network", Engine: EngineTerraform},
			[]string{"network/**/*.tf", "network/**/*.tf.json", "network/**/*.tofu", "network/**/*.tofu.json",
				"network/**/*.tfvars", "network/**/*.tfvars.json", "network/.terraform.lock.hcl"}},
		{"opentofu defaults", Project{Dir: "n", Engine: EngineOpenTofu},
			[]string{"n/**/*.tf", "n/**/*.tf.json", "n/**/*.tofu", "n/**/*.tofu.json",
				"n/**/*.tfvars", "n/**/*.tfvars.json", "n/.terraform.lock.hcl"}},
		{"pulumi defaults", Project{Dir: "app", Engine: EnginePulumi}, []string{"app/**/*"}},
		{"glob characters in dir are escaped, not in the globs", Project{Dir: "envs/app [v2]", WhenModified: []string{"*.tf", "../{b,c}/*.tf"}},
			[]string{`envs/app \[v2\]/*.tf`, `envs/{b,c}/*.tf`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.project.Patterns(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Patterns() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPatternsMatchDirsWithGlobCharacters(t *testing.T) {
	tests := []struct {
		dir, file, other string
	}{
		{"envs/app [v2]", "envs/app [v2]/main.tf", "envs/app v/main.tf"},
		{"envs/{b}", "envs/{b}/main.tf", "envs/b/main.tf"},
		{"x/a*b?", "x/a*b?/main.tf", "x/aXXbY/main.tf"},
		{`w/back\slash`, `w/back\slash/main.tf`, "w/backslash/main.tf"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			p := Project{Dir: tt.dir, Engine: EngineTerraform}
			match := func(name string) bool {
				for _, g := range p.Patterns() {
					if ok, err := doublestar.Match(g, name); err != nil {
						t.Fatalf("pattern %q: %v", g, err)
					} else if ok {
						return true
					}
				}
				return false
			}
			if !match(tt.file) {
				t.Errorf("%s does not match %q", tt.file, p.Patterns())
			}
			if match(tt.other) {
				t.Errorf("%s matches %q", tt.other, p.Patterns())
			}
		})
	}
}

func TestProjectLookup(t *testing.T) {
	c := &Config{Projects: []Project{{Name: "a", Dir: "x"}, {Name: "b", Dir: "y"}}}
	if got, want := c.Names(), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	p, ok := c.Project("b")
	if !ok || p.Dir != "y" {
		t.Fatalf("Project(b) = %+v, %v", p, ok)
	}
	p.Stack = "changed"
	if c.Projects[1].Stack != "changed" {
		t.Error("Project() returned a copy, want a pointer into the config")
	}
	if p, ok := c.Project("zz"); ok || p != nil {
		t.Errorf("Project(zz) = %+v, %v; want nil, false", p, ok)
	}
}

// TestMaskPatterns: the masks, compiled once for the local loop and the
// server alike; one that does not compile (never from Load) is left out.
func TestMaskPatterns(t *testing.T) {
	c := &Config{Masks: []string{"token-[a-z0-9]+", "(", `password=(\S+)`}}
	var got []string
	for _, re := range c.MaskPatterns() {
		got = append(got, re.String())
	}
	if want := []string{"token-[a-z0-9]+", `password=(\S+)`}; !slices.Equal(got, want) {
		t.Errorf("MaskPatterns = %q, want %q", got, want)
	}
	if (&Config{}).MaskPatterns() != nil {
		t.Errorf("no masks compile to patterns")
	}
}
