package repoconfig

import (
	"strings"
	"testing"
)

func TestEntriesSame(t *testing.T) {
	const base = `version: 1
projects:
  - name: staging
    dir: staging
  - name: prod
    dir: prod
    approval:
      min: 2
`
	tests := []struct {
		name, head string
		same       map[string]bool
	}{
		{"unchanged but for comments, order and spacing", `version: 1
# the environments
projects:
  - dir: staging
    name: staging
  - name: prod
    approval: {min: 2}
    dir:   prod
`, map[string]bool{"staging": true, "prod": true}},
		{"one project's entry edited", `version: 1
projects:
  - name: staging
    dir: staging
  - name: prod
    dir: prod
    approval:
      min: 3
`, map[string]bool{"staging": true, "prod": false}},
		{"one project renamed", `version: 1
projects:
  - name: staging
    dir: staging
  - name: production
    dir: prod
    approval:
      min: 2
`, map[string]bool{"staging": true, "prod": false, "production": false}},
		{"masks changed", base + "masks: ['secret-[0-9]+']\n", map[string]bool{"staging": false, "prod": false}},
	}
	before, err := EntriesOf([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, err := EntriesOf([]byte(tt.head))
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.same {
				if got := before.Same(now, name); got != want {
					t.Errorf("Same(%s) = %v, want %v", name, got, want)
				}
			}
		})
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for i, prev := range "abcdefgh" {
		name := string("bcdefghi"[i])
		laughs += name + ": &" + name + " [" + strings.Repeat("*"+string(prev)+", ", 8) + "*" + string(prev) + "]\n"
	}
	laughs += "projects:\n  - name: x\n    dir: *i\n"
	for _, bad := range []string{laughs, "projects: [", "projects: {a: 1}", "projects:\n  - dir: x\n", string(make([]byte, MaxFileSize+1)), strings.Repeat("-", maxNodes+1)} {
		if _, err := EntriesOf([]byte(bad)); err == nil {
			t.Errorf("EntriesOf(%.20q) gave no error", bad)
		}
	}
}
