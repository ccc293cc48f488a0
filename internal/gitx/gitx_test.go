package gitx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

func TestWorktreeTreeSeesSameSizeEditInSameSecond(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	f := filepath.Join(dir, "main.tf")
	testkit.WriteFile(t, f, "desired_size = 3\n")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-qm", "three")
	// Same size, written right after the index (most likely in the same
	// second), then read a second later: stat data cannot tell, only
	// content, and git re-reads content only for files it deems racy.
	testkit.WriteFile(t, f, "desired_size = 2\n")
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := r.WorktreeTree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head := testkit.Git(t, dir, "rev-parse", "HEAD^{tree}")
	if tree == head {
		t.Fatal("the uncommitted edit is missing from the working tree's tree")
	}
	changes, err := r.Diff(ctx, head, tree)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Change{{Status: 'M', Path: "main.tf"}}; !reflect.DeepEqual(changes, want) {
		t.Errorf("changes = %+v, want %+v", changes, want)
	}
	if st := testkit.Git(t, dir, "status", "--porcelain"); st != "M main.tf" {
		t.Errorf("the real index changed: status %q", st)
	}
}

func TestWorktreeTreeIncludesUntrackedNotIgnored(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	testkit.WriteFile(t, filepath.Join(dir, ".gitignore"), "*.tfstate\n")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-qm", "ignore")
	testkit.WriteFile(t, filepath.Join(dir, "new.tf"), "x\n")
	testkit.WriteFile(t, filepath.Join(dir, "terraform.tfstate"), "{}\n")
	r, _ := Open(ctx, dir)
	tree, err := r.WorktreeTree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := r.Diff(ctx, "HEAD", tree)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Change{{Status: 'A', Path: "new.tf"}}; !reflect.DeepEqual(changes, want) {
		t.Errorf("changes = %+v, want %+v", changes, want)
	}
}

func TestDiffRenamesAndDeletes(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	body := "resource \"terraform_data\" \"a\" {\n  input = \"a long enough body for rename detection\"\n}\n"
	testkit.WriteFile(t, filepath.Join(dir, "old", "main.tf"), body)
	testkit.WriteFile(t, filepath.Join(dir, "gone.tf"), "x\n")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-qm", "one")
	base := testkit.Git(t, dir, "rev-parse", "HEAD")
	if err := os.Mkdir(filepath.Join(dir, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "mv", "old/main.tf", "new/main.tf")
	testkit.Git(t, dir, "rm", "-q", "gone.tf")
	testkit.Git(t, dir, "commit", "-qm", "two")
	r, _ := Open(ctx, dir)
	changes, err := r.Diff(ctx, base, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{Status: 'D', Path: "gone.tf"}, {Status: 'R', Path: "new/main.tf", OldPath: "old/main.tf"}}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("changes = %+v, want %+v", changes, want)
	}
	if got := Paths(changes); !reflect.DeepEqual(got, []string{"gone.tf", "old/main.tf", "new/main.tf"}) {
		t.Errorf("paths = %q", got)
	}
}

func TestOpenAndResolveErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, t.TempDir()); !errors.Is(err, ErrNotARepo) {
		t.Errorf("Open outside a repository: %v", err)
	}
	dir := testkit.NewRepo(t, "")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ResolveCommit(ctx, "no-such-branch"); err == nil {
		t.Error("resolving a missing branch must fail")
	}
	if _, err := r.ResolveCommit(ctx, "--all"); err == nil {
		t.Error("an option-like revision must not be taken as an option")
	}
}
