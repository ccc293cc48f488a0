package repoconfig

import (
	"reflect"
	"testing"
)

func TestFreshnessPatterns(t *testing.T) {
	tests := []struct {
		dir      string
		patterns []string
		want     []string
	}{
		{"envs/prod", []string{"envs/prod/*.tf", "modules/vpc/**"}, []string{"envs/prod/*.tf", "modules/vpc/**", "sluice.yaml", "envs/prod/**"}},
		{"app [v2]", []string{`app \[v2\]/*.tf`}, []string{`app \[v2\]/*.tf`, "sluice.yaml", `app \[v2\]/**`}},
		{".", []string{"*.tf"}, []string{"*.tf", "sluice.yaml"}},
		{"net", nil, []string{"sluice.yaml", "net/**"}},
	}
	for _, tt := range tests {
		in := append([]string(nil), tt.patterns...)
		got := FreshnessPatterns(tt.dir, in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FreshnessPatterns(%q, %q) = %q, want %q", tt.dir, tt.patterns, got, tt.want)
		}
		if !reflect.DeepEqual(in, tt.patterns) {
			t.Errorf("FreshnessPatterns changed its argument: %q", in)
		}
	}
}
