package affected

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bmatcuk/doublestar/v4"
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
		if got := LiteralPrefix(pat); got != want {
			t.Errorf("LiteralPrefix(%q) = %q, want %q", pat, got, want)
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

// naiveMatch is the baseline of the benchmark: every path against every
// glob of every project, with no index.
func naiveMatch(projects []Project, paths []string) []Match {
	var out []Match
	for _, p := range projects {
		var hit []string
		for _, path := range paths {
			for _, pat := range p.Patterns {
				if ok, _ := doublestar.Match(pat, path); ok {
					hit = append(hit, path)
					break
				}
			}
		}
		if len(hit) > 0 {
			out = append(out, Match{Project: p.Name, Paths: hit})
		}
	}
	return out
}

func TestMatchAgreesWithNaive(t *testing.T) {
	projects, paths := benchRepo(60, 400)
	m, err := NewMatcher(projects)
	if err != nil {
		t.Fatal(err)
	}
	got, want := m.Match(paths), naiveMatch(projects, paths)
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("indexed matcher: %d projects, naive: %d\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

// BenchmarkMatch500Projects2000Files is the target in the issue: a
// 500-project repository with a 2,000-file diff, matched well under 100 ms.
// Its baseline, measured in the same run (every tenth iteration, outside
// the timer), is the naive matcher: every path against every glob with
// doublestar.Match. It reports both times and the speedup.
func BenchmarkMatch500Projects2000Files(b *testing.B) {
	projects, paths := benchRepo(500, 2000)
	var (
		indexed, naive   time.Duration
		nIndexed, nNaive int
	)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		m, err := NewMatcher(projects)
		if err != nil {
			b.Fatal(err)
		}
		got := m.Match(paths)
		indexed += time.Since(start)
		nIndexed++
		if len(got) == 0 {
			b.Fatal("no match")
		}
		if i%10 == 0 {
			b.StopTimer()
			start := time.Now()
			want := naiveMatch(projects, paths)
			naive += time.Since(start)
			nNaive++
			if !reflect.DeepEqual(got, want) {
				b.Fatal("the indexed and the naive matcher disagree")
			}
			b.StartTimer()
		}
	}
	perIndexed := float64(indexed.Microseconds()) / 1000 / float64(nIndexed)
	perNaive := float64(naive.Microseconds()) / 1000 / float64(nNaive)
	b.ReportMetric(perIndexed, "indexed-ms")
	b.ReportMetric(perNaive, "naive-ms")
	b.ReportMetric(perNaive/perIndexed, "speedup-x")
}
