package workspace

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
)

func TestMirrorCheckoutAndDiffs(t *testing.T) {
	ctx := context.Background()
	origin := testkit.NewRepo(t, "")
	testkit.WriteFile(t, filepath.Join(origin, "prod", "main.tf"), "size = 3\n")
	testkit.WriteFile(t, filepath.Join(origin, "CODEOWNERS"), "* @sre\n")
	testkit.Git(t, origin, "add", "-A")
	testkit.Git(t, origin, "commit", "-qm", "base")
	base := testkit.Git(t, origin, "rev-parse", "HEAD")
	testkit.Git(t, origin, "switch", "-qc", "mr")
	testkit.WriteFile(t, filepath.Join(origin, "prod", "main.tf"), "size = 2\n")
	testkit.WriteFile(t, filepath.Join(origin, "staging.tf"), "x\n")
	testkit.Git(t, origin, "add", "-A")
	testkit.Git(t, origin, "commit", "-qm", "two")
	head := testkit.Git(t, origin, "rev-parse", "HEAD")

	m := New(t.TempDir())
	src := Source{Repo: "local:infra", CloneURL: origin}
	tree, err := m.Checkout(ctx, src, head, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(tree.Dir, "prod", "main.tf")); err != nil || string(b) != "size = 2\n" {
		t.Fatalf("checked out %q, %v", b, err)
	}
	changed, err := m.ChangedFiles(ctx, src, base, head)
	if err != nil || !reflect.DeepEqual(changed, []string{"prod/main.tf", "staging.tf"}) {
		t.Errorf("ChangedFiles = %q, %v", changed, err)
	}
	diff, err := m.DiffFiles(ctx, src, head, base)
	if err != nil || len(diff) != 2 {
		t.Errorf("DiffFiles = %q, %v", diff, err)
	}
	// The base moves on after the branch left it: their merge base is
	// where it left.
	testkit.Git(t, origin, "switch", "-q", "-")
	testkit.WriteFile(t, filepath.Join(origin, "other.tf"), "y\n")
	testkit.Git(t, origin, "add", "-A")
	testkit.Git(t, origin, "commit", "-qm", "base moves")
	moved := testkit.Git(t, origin, "rev-parse", "HEAD")
	if mb, err := m.MergeBase(ctx, src, head, moved); err != nil || mb != base {
		t.Errorf("MergeBase = %q, %v; want %s", mb, err, base)
	}
	fsys, err := m.TreeFS(ctx, src, base, func(name string, _ int64) bool { return name == "CODEOWNERS" })
	if err != nil {
		t.Fatal(err)
	}
	if co, err := fs.ReadFile(fsys, "CODEOWNERS"); err != nil || string(co) != "* @sre\n" {
		t.Errorf("CODEOWNERS at the base = %q, %v", co, err)
	}
	if _, err := fs.Stat(fsys, "staging.tf"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file of another commit: %v", err)
	}
	if _, err := m.TreeFS(ctx, src, strings.Repeat("c", 40), func(string, int64) bool { return true }); err == nil || !strings.Contains(err.Error(), "not in the repository") {
		t.Errorf("the tree of a missing commit: %v", err)
	}
	if err := m.Remove(ctx, tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tree.Dir); !os.IsNotExist(err) {
		t.Errorf("worktree still there: %v", err)
	}
	// A commit the mirror lacks is fetched; one nobody has is a clear error.
	_, err = m.Checkout(ctx, src, strings.Repeat("a", 40), "run-2")
	if err == nil || !strings.Contains(err.Error(), "not in the repository") {
		t.Errorf("checking out a missing commit: %v", err)
	}
}

func TestCredentialsNeverInMessages(t *testing.T) {
	ctx := context.Background()
	m := New(t.TempDir())
	src := Source{Repo: "x", CloneURL: "http://user:inline-pass@127.0.0.1:1/nothing.git", Token: "s3cret-token"}
	_, err := m.Mirror(ctx, src, strings.Repeat("b", 40))
	if err == nil {
		t.Fatal("fetching from nowhere must fail")
	}
	if strings.Contains(err.Error(), "s3cret-token") || strings.Contains(err.Error(), "inline-pass") {
		t.Errorf("a credential reached the error: %v", err)
	}
}
