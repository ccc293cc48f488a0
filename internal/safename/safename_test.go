package safename

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("a", MaxLen+1)
	tests := []struct {
		check func(string) error
		name  string
		want  string // "" when valid, else part of the error
	}{
		{Project, "prod", ""},
		{Project, "envs-prod.v2_x", ""},
		{Project, strings.Repeat("a", MaxLen), ""},
		{Project, "", "it is empty"},
		{Project, long, "longer than 100 characters"},
		{Project, "-p", "starts with '-'"},
		{Project, ".hidden", `starts with '.'`},
		{Project, "..", "directory's own name"},
		{Project, "my prod", `contains ' '`},
		{Project, "a/b", `contains '/'`},
		{Project, "café", `contains 'é'`},

		{Workspace, "default", ""},
		{Workspace, "eu-west_1.v2", ""},
		{Workspace, "a~b$c&d+e=f:g@h", ""}, // what Terraform accepts
		{Workspace, "", "it is empty"},
		{Workspace, ".", "directory's own name"},
		{Workspace, "..", "directory's own name"},
		{Workspace, "../../..", `contains '/'`},
		{Workspace, "a/b", `contains '/'; Terraform allows`},
		{Workspace, `a\b`, `contains '\\'`},
		{Workspace, "a b", `contains ' '`},
		{Workspace, "a%2Fb", `contains '%'`},
		{Workspace, "a\x00b", `contains '\x00'`},
		{Workspace, "-prod", "starts with '-'"},
		{Workspace, "--help", "starts with '-'"},
		{Workspace, long, "longer than 100"},

		{Stack, "dev", ""},
		{Stack, "acme/dev", ""},
		{Stack, "acme/app.v2/prod_eu-1", ""},
		{Stack, "", "it is empty"},
		{Stack, "..", "directory's own name"},
		{Stack, "../../x", `its part ".."`},
		{Stack, "acme/../dev", `its part ".."`},
		{Stack, "a/b/c/d", "has 4 parts"},
		{Stack, "acme//dev", "empty part"},
		{Stack, "/dev", "empty part"},
		{Stack, "-dev", "starts with '-'"},
		{Stack, "acme/-dev", `its part "-dev": it starts with '-'`},
		{Stack, "dev stack", `contains ' '; Pulumi allows`},
		{Stack, "dev:1", `contains ':'`},
		{Stack, "acme/" + long, "longer than 100"},
	}
	for _, tt := range tests {
		err := tt.check(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v, want valid", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// TestSegment: whatever a name holds, its segment is one path element
// inside its directory, and different names give different segments.
func TestSegment(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"prod", "default", "a~b$c&d+e=f:g@h", "acme/app/dev", "acme%2Fapp%2Fdev",
		"..", ".", "../../..", "%2E.", ".x", "a\x00b", `a\b`, "a b", "-x", ""} {
		seg := Segment(s)
		if s != "" && (seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\\x00") ||
			filepath.Join("/data", seg) != "/data/"+seg) {
			t.Errorf("Segment(%q) = %q: not one segment inside its directory", s, seg)
		}
		if other, dup := seen[seg]; dup {
			t.Errorf("Segment(%q) = Segment(%q) = %q", s, other, seg)
		}
		seen[seg] = s
	}
	for _, s := range []string{"prod", "default", "eu-west_1.v2", "dev"} {
		if Segment(s) != s {
			t.Errorf("Segment(%q) = %q, want the name itself", s, Segment(s))
		}
	}
}
