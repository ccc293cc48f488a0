package codeowners

import (
	"reflect"
	"testing"
)

func TestOwners(t *testing.T) {
	f := Parse(`# owners
* @platform
*.md @docs
/envs/prod/ @sre @alice
envs/staging/** @dev-team
modules/ @org/module-owners # shared modules
/envs/prod/README.md @docs
`)
	tests := []struct {
		path string
		want []string
	}{
		{"main.tf", []string{"platform"}},
		{"docs/intro.md", []string{"docs"}},
		{"envs/prod/main.tf", []string{"sre", "alice"}},
		{"envs/prod/sub/x.tf", []string{"sre", "alice"}},
		{"envs/prod/README.md", []string{"docs"}},
		{"envs/staging/main.tf", []string{"dev-team"}},
		{"a/modules/vpc/main.tf", []string{"org/module-owners"}},
		{"modules/vpc/main.tf", []string{"org/module-owners"}},
	}
	for _, tt := range tests {
		if got := f.Owners(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Owners(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	var none *File
	if none.Owners("x") != nil {
		t.Error("a missing file owns nothing")
	}
}

// TestLocations: each forge's own order, the first found being the one it
// uses.
func TestLocations(t *testing.T) {
	tests := []struct {
		forge string
		want  []string
	}{
		{"github", []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}},
		{"gitlab", []string{"CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"}},
		{"gitea", []string{"CODEOWNERS", "docs/CODEOWNERS", ".gitea/CODEOWNERS"}},
		{"", []string{"CODEOWNERS", "docs/CODEOWNERS", ".github/CODEOWNERS", ".gitlab/CODEOWNERS", ".gitea/CODEOWNERS"}},
	}
	for _, tt := range tests {
		if got := Locations(tt.forge); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Locations(%q) = %q, want %q", tt.forge, got, tt.want)
		}
	}
}
