package forge

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestPartPrefix(t *testing.T) {
	for marker, want := range map[string]string{
		"<!-- sluice:plan -->":     "<!-- sluice:plan part ",
		"<!-- forgetest:sticky-->": "<!-- forgetest:sticky part ",
		"[sluice]":                 "[sluice] part ",
	} {
		if got := PartPrefix(marker); got != want {
			t.Errorf("PartPrefix(%q) = %q, want %q", marker, got, want)
		}
	}
}

func TestStickyComments(t *testing.T) {
	const marker = "<!-- m -->"
	body := func(s string) string { return s }
	isPart := func(s string) bool { return len(s) > 0 && s[0] == 'p' }
	tests := []struct {
		cs                []string
		n                 int
		head              string
		wantParts, wantSt []string
	}{
		{cs: nil, n: 1},
		{cs: []string{"x", marker + "1", "p2", "p3"}, n: 3, head: marker + "1", wantParts: []string{"p2", "p3"}},
		// Parts no longer needed, a duplicate head and an orphan part.
		{cs: []string{"p0", marker + "1", "p2", marker + "dup", "p3"}, n: 2, head: marker + "1",
			wantParts: []string{"p2"}, wantSt: []string{"p0", marker + "dup", "p3"}},
		{cs: []string{"p1", "p2"}, n: 2, wantSt: []string{"p1", "p2"}},
	}
	for _, tt := range tests {
		head, parts, stale := StickyComments(tt.cs, body, marker, isPart, tt.n)
		if head != tt.head || !slices.Equal(parts, tt.wantParts) || !slices.Equal(stale, tt.wantSt) {
			t.Errorf("StickyComments(%q, %d) = %q, %q, %q; want %q, %q, %q",
				tt.cs, tt.n, head, parts, stale, tt.head, tt.wantParts, tt.wantSt)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		if d, ok := RetryAfter(h, now); d != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.value, d, ok, tt.want, tt.ok)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("Sleep on a cancelled context = %v after %v", err, time.Since(start))
	}
}

func TestDraftTitle(t *testing.T) {
	prefixes := []string{"Draft:", "[Draft]", "(Draft)"}
	for title, want := range map[string]bool{
		"Draft: x": true, "draft:x": true, "DRAFT: x": true, "[draft] x": true, "(Draft) x": true,
		"x Draft:": false, "Draft x": false, "Draft": false, "": false, "WIP: x": false, "Dr": false,
	} {
		if got := DraftTitle(title, prefixes...); got != want {
			t.Errorf("DraftTitle(%q) = %v, want %v", title, got, want)
		}
	}
	if DraftTitle("Draft: x") {
		t.Error("DraftTitle without prefixes = true")
	}
}

func TestRepoID(t *testing.T) {
	tests := []struct {
		in   string
		want RepoID
		ok   bool
	}{
		{"gitea:org/infra", RepoID{Forge: "gitea", Path: "org/infra"}, true},
		{"gitlab:group/sub/infra", RepoID{Forge: "gitlab", Path: "group/sub/infra"}, true},
		{"infra", RepoID{Path: "infra"}, false},
		{":org/infra", RepoID{Path: "org/infra"}, true},
	}
	for _, tt := range tests {
		got, ok := ParseRepoID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRepoID(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if tt.want.Forge != "" || !tt.ok {
			if s := got.String(); s != tt.in {
				t.Errorf("%+v.String() = %q, want %q", got, s, tt.in)
			}
		}
	}
}
