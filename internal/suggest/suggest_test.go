package suggest

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"listen", "max-concurrent-runs", "log-level", "log-format"}
	engines := []string{"terraform", "opentofu", "pulumi"}
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"max-concurent-runs", keys, "max-concurrent-runs"},
		{"max_concurrent_runs", keys, "max-concurrent-runs"},
		{"LISTEN", keys, "listen"},
		{"log-levl", keys, "log-level"},
		{"foo", keys, ""},
		{"tofu", engines, "opentofu"},
		{"terrafrom", engines, "terraform"},
		{"Pulumi", engines, "pulumi"},
		{"of", engines, ""},       // too short to be contained
		{"x", []string{"y"}, "y"}, // one edit is always close
		{"anything", nil, ""},
		{"envs/prod", []string{"envs/prd", "envs/prod2"}, "envs/prd"}, // the first of equal distance
		{"größe", []string{"grösse", "grosse"}, "grösse"},
	}
	for _, tt := range tests {
		got, ok := Closest(tt.word, tt.candidates)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Closest(%q, %q) = %q, %v; want %q", tt.word, tt.candidates, got, ok, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"größe", "grösse", 2}, // runes, not bytes
		{"same", "same", 0},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := distance(tt.b, tt.a); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
