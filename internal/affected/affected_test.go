package affected

import (
	"fmt"
	"reflect"
	"testing"
)

func TestMatch(t *testing.T) {
	tf := func(dir string) []string {
		return []string{dir + "/**/*.tf", dir + "/**/*.tfvars", dir + "/.terraform.lock.hcl"}
	}
	projects := []Project{
		{Name: "staging", Patterns: append(tf("envs/staging"), "modules/**")},
		{Name: "prod", Patterns: append(tf("envs/prod"), "modules/**")},
		{Name: "net", Patterns: tf("network")},
		{Name: "root", Patterns: []string{"*.tf"}},
		{Name: "literal", Patterns: []string{"config/settings.json"}},
		{Name: "alt", Patterns: []string{"apps/{a,b}/**"}},
	}
	m, err := NewMatcher(projects)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		paths []string
		want  []Match
	}{
		{"none", []string{"README.md", "envs/prod/notes.txt"}, nil},
		{"one project", []string{"envs/prod/main.tf"}, []Match{{"prod", []string{"envs/prod/main.tf"}}}},
		{"nested file", []string{"envs/prod/sub/x.tf"}, []Match{{"prod", []string{"envs/prod/sub/x.tf"}}}},
		{"shared module touches both, in project order", []string{"modules/ng/main.tf"}, []Match{
			{"staging", []string{"modules/ng/main.tf"}}, {"prod", []string{"modules/ng/main.tf"}},
		}},
		{"root glob does not reach subdirs", []string{"main.tf", "envs/prod/x.txt"}, []Match{{"root", []string{"main.tf"}}}},
		{"literal path", []string{"config/settings.json"}, []Match{{"literal", []string{"config/settings.json"}}}},
		{"brace alternatives", []string{"apps/b/x", "apps/c/x"}, []Match{{"alt", []string{"apps/b/x"}}}},
		{"lock file", []string{"envs/staging/.terraform.lock.hcl"}, []Match{{"staging", []string{"envs/staging/.terraform.lock.hcl"}}}},
		{"several paths collected once each", []string{"envs/prod/a.tf", "envs/prod/b.tfvars", "envs/prod/a.tf"}, []Match{
			{"prod", []string{"envs/prod/a.tf", "envs/prod/b.tfvars", "envs/prod/a.tf"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Match(tt.paths)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Match(%q)\n got %v\nwant %v", tt.paths, got, tt.want)
			}
		})
	}
}

func TestNewMatcherRejectsBadGlob(t *testing.T) {
	_, err := NewMatcher([]Project{{Name: "x", Patterns: []string{"a/[b"}}})
	if err == nil {
		t.Fatal("want an error for an unterminated character class")
	}
}

func TestLiteralPrefix(t *testing.T) {
	for pat, want := range map[string]string{
		"envs/prod/**/*.tf": "envs/prod",
		"*.tf":              "",
		"modules/**":        "modules",
		"a/b/c.json":        "a/b",
		"c.json":            "",
		"apps/{a,b}/x":      "apps",
	} {
		if got := literalPrefix(pat); got != want {
			t.Errorf("literalPrefix(%q) = %q, want %q", pat, got, want)
		}
	}
}

// benchRepo builds n projects under envs/ that share a module directory,
// and a diff of files spread over them.
func benchRepo(nProjects, nFiles int) ([]Project, []string) {
	projects := make([]Project, nProjects)
	for i := range projects {
		dir := fmt.Sprintf("envs/team%03d/svc%03d", i%25, i)
		projects[i] = Project{Name: fmt.Sprintf("p%03d", i), Patterns: []string{
			dir + "/**/*.tf", dir + "/**/*.tf.json", dir + "/**/*.tofu", dir + "/**/*.tofu.json",
			dir + "/**/*.tfvars", dir + "/**/*.tfvars.json", dir + "/.terraform.lock.hcl",
			fmt.Sprintf("modules/mod%02d/**", i%40),
		}}
	}
	paths := make([]string, nFiles)
	for i := range paths {
		switch i % 4 {
		case 0:
			paths[i] = fmt.Sprintf("envs/team%03d/svc%03d/file%d.tf", (i/4)%25, (i/4)%nProjects, i)
		case 1:
			paths[i] = fmt.Sprintf("docs/page%d.md", i)
		case 2:
			paths[i] = fmt.Sprintf("modules/mod%02d/sub/file%d.tf", i%97, i)
		default:
			paths[i] = fmt.Sprintf("envs/team%03d/svc%03d/nested/dir/file%d.txt", i%25, i%nProjects, i)
		}
	}
	return projects, paths
}

// BenchmarkMatch500Projects2000Files is the target in the issue: a
// 500-project repository with a 2,000-file diff, matched well under 100 ms.
func BenchmarkMatch500Projects2000Files(b *testing.B) {
	projects, paths := benchRepo(500, 2000)
	b.ReportAllocs()
	for b.Loop() {
		m, err := NewMatcher(projects)
		if err != nil {
			b.Fatal(err)
		}
		if got := m.Match(paths); len(got) == 0 {
			b.Fatal("no match")
		}
	}
}
