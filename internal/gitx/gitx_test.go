package gitx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
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

func TestChangedSinceFromASubdirectory(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		config []string // git config key value pairs
	}{
		{"defaults", nil},
		{"diff.relative", []string{"diff.relative", "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testkit.NewRepo(t, "")
			testkit.WriteFile(t, filepath.Join(dir, "sub", "a.tf"), "a\n")
			testkit.WriteFile(t, filepath.Join(dir, "other", "b.tf"), "b\n")
			testkit.Git(t, dir, "add", "-A")
			testkit.Git(t, dir, "commit", "-qm", "files")
			testkit.Git(t, dir, "switch", "-qc", "topic")
			for i := 0; i+1 < len(tt.config); i += 2 {
				testkit.Git(t, dir, "config", tt.config[i], tt.config[i+1])
			}
			testkit.WriteFile(t, filepath.Join(dir, "other", "b.tf"), "changed\n")
			testkit.WriteFile(t, filepath.Join(dir, "sub", "a.tf"), "changed\n")
			testkit.Git(t, dir, "commit", "-qam", "edit")
			testkit.WriteFile(t, filepath.Join(dir, "top.tf"), "untracked\n")
			testkit.WriteFile(t, filepath.Join(dir, "other", "new.tf"), "untracked\n")
			testkit.WriteFile(t, filepath.Join(dir, "sub", "new.tf"), "untracked\n")

			changes, err := At(filepath.Join(dir, "sub")).ChangedSince(ctx, "main")
			if err != nil {
				t.Fatal(err)
			}
			want := []Change{
				{Status: 'M', Path: "other/b.tf"},
				{Status: 'M', Path: "sub/a.tf"},
				{Status: 'A', Path: "other/new.tf", Untracked: true},
				{Status: 'A', Path: "sub/new.tf", Untracked: true},
				{Status: 'A', Path: "top.tf", Untracked: true},
			}
			if !reflect.DeepEqual(changes, want) {
				t.Errorf("changes = %+v, want %+v", changes, want)
			}
			// The tree-to-tree diff ignores diff.relative too.
			r, err := Open(ctx, filepath.Join(dir, "sub"))
			if err != nil {
				t.Fatal(err)
			}
			diff, err := r.Diff(ctx, "main", "topic")
			if err != nil {
				t.Fatal(err)
			}
			if want := []Change{{Status: 'M', Path: "other/b.tf"}, {Status: 'M', Path: "sub/a.tf"}}; !reflect.DeepEqual(diff, want) {
				t.Errorf("diff = %+v, want %+v", diff, want)
			}
		})
	}
}

func TestMergeBaseOfUnrelatedHistories(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	testkit.Git(t, dir, "switch", "-q", "--orphan", "other")
	testkit.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "unrelated")
	r, _ := Open(ctx, dir)
	_, err := r.MergeBase(ctx, "main", "HEAD")
	if !errors.Is(err, ErrNoMergeBase) || !strings.Contains(err.Error(), "main and HEAD share no history") {
		t.Errorf("err = %v", err)
	}
	if _, err := r.MergeBase(ctx, "--all", "HEAD"); err == nil || errors.Is(err, ErrNoMergeBase) {
		t.Errorf("an option-like revision: err = %v", err)
	}
}

func TestTreeFS(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	testkit.WriteFile(t, filepath.Join(dir, "sluice.yaml"), "version: 1\n")
	testkit.WriteFile(t, filepath.Join(dir, "envs", "prod", "main.tf"), "module \"x\" {}\n")
	testkit.WriteFile(t, filepath.Join(dir, "envs", "prod", "big.bin"), strings.Repeat("\x00\n", 5000))
	testkit.WriteFile(t, filepath.Join(dir, "envs", "dev", "main.tofu"), "")
	if err := os.Symlink("envs/prod/main.tf", filepath.Join(dir, "link.tf")); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-qm", "files")
	testkit.WriteFile(t, filepath.Join(dir, "envs", "prod", "main.tf"), "changed in the working tree\n")
	r, _ := Open(ctx, dir)

	all, err := r.TreeFS(ctx, "HEAD", func(string, int64) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(all, "sluice.yaml", "envs/prod/main.tf", "envs/prod/big.bin", "envs/dev/main.tofu"); err != nil {
		t.Error(err)
	}
	if b, err := fs.ReadFile(all, "envs/prod/main.tf"); err != nil || string(b) != "module \"x\" {}\n" {
		t.Errorf("main.tf = %q, %v; want the committed content", b, err)
	}
	if st, err := fs.Lstat(all, "link.tf"); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("link.tf: %v, %v; want a symbolic link", st, err)
	}

	some, err := r.TreeFS(ctx, "HEAD", func(name string, _ int64) bool { return strings.HasSuffix(name, ".tf") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadFile(some, "sluice.yaml"); err == nil {
		t.Error("a file not asked for was read")
	}
	// Links are always read, whatever read says.
	none, err := r.TreeFS(ctx, "HEAD", func(string, int64) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if target, err := fs.ReadLink(none, "link.tf"); err != nil || target != "envs/prod/main.tf" {
		t.Errorf("ReadLink(link.tf) = %q, %v", target, err)
	}
	if _, err := fs.ReadLink(none, "sluice.yaml"); err == nil {
		t.Error("ReadLink of a file that is no link must fail")
	}
	if entries, err := fs.ReadDir(some, "envs"); err != nil || len(entries) != 2 || entries[0].Name() != "dev" {
		t.Errorf("ReadDir(envs) = %v, %v", entries, err)
	}
	// Sizes are known without reading, so a caller can leave large files
	// unread.
	var sizes []string
	small, err := r.TreeFS(ctx, "HEAD", func(name string, size int64) bool {
		sizes = append(sizes, fmt.Sprintf("%s=%d", name, size))
		return size < 1000
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(sizes)
	if want := []string{"envs/dev/main.tofu=0", "envs/prod/big.bin=10000", "envs/prod/main.tf=14", "sluice.yaml=11"}; !slices.Equal(sizes, want) {
		t.Errorf("read was asked about %q, want %q", sizes, want)
	}
	if st, err := fs.Stat(small, "envs/prod/big.bin"); err != nil || st.Size() != 10000 {
		t.Errorf("Stat(big.bin) = %v, %v; want its size, 10000", st, err)
	}
	if _, err := fs.ReadFile(small, "envs/prod/big.bin"); err == nil {
		t.Error("a file left out by read was read")
	}
	if b, err := fs.ReadFile(small, "sluice.yaml"); err != nil || string(b) != "version: 1\n" {
		t.Errorf("sluice.yaml = %q, %v", b, err)
	}
	if _, err := r.TreeFS(ctx, "no-such-rev", func(string, int64) bool { return true }); err == nil {
		t.Error("TreeFS of a missing revision must fail")
	}
}

func TestGuessAgreesWithGit(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	testkit.WriteFile(t, filepath.Join(dir, "a", "b", "main.tf"), "")
	wt := filepath.Join(t.TempDir(), "wt")
	testkit.Git(t, dir, "worktree", "add", "-q", wt)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(dir, "a"), link); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "a", "b"), wt, link} {
		guess, ok := Guess(d)
		if !ok {
			t.Errorf("no guess for %s", d)
			continue
		}
		r, err := Open(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if *guess != *r {
			t.Errorf("Guess(%s) = %+v, git says %+v", d, guess, r)
		}
	}
	if _, ok := Guess(t.TempDir()); ok {
		t.Error("a guess outside any repository")
	}
	t.Setenv("GIT_DIR", filepath.Join(dir, ".git"))
	if _, ok := Guess(dir); ok {
		t.Error("a guess while GIT_DIR is set")
	}
}

func TestDefaultBase(t *testing.T) {
	ctx := context.Background()
	withMain := testkit.NewRepo(t, "")
	withMaster := t.TempDir()
	testkit.Git(t, withMaster, "init", "-q", "-b", "master")
	testkit.Git(t, withMaster, "commit", "-q", "--allow-empty", "-m", "initial")
	// A clone records the remote's default branch as origin/HEAD, here
	// trunk; its local branch (reduce) is neither main nor the default.
	origin := t.TempDir()
	testkit.Git(t, origin, "init", "-q", "-b", "trunk")
	testkit.Git(t, origin, "commit", "-q", "--allow-empty", "-m", "initial")
	testkit.Git(t, origin, "branch", "main")
	clone := filepath.Join(t.TempDir(), "clone")
	testkit.Git(t, origin, "clone", "-q", origin, clone)
	testkit.Git(t, clone, "switch", "-q", "-c", "reduce")
	testkit.Git(t, clone, "branch", "-q", "-D", "trunk")
	if err := os.Mkdir(filepath.Join(clone, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A clone whose origin/HEAD is gone falls back to the local main.
	noHead := filepath.Join(t.TempDir(), "nohead")
	testkit.Git(t, origin, "clone", "-q", "-b", "main", origin, noHead)
	testkit.Git(t, noHead, "remote", "set-head", "origin", "--delete")
	none := t.TempDir()
	testkit.Git(t, none, "init", "-q", "-b", "work")
	testkit.Git(t, none, "commit", "-q", "--allow-empty", "-m", "initial")

	tests := []struct {
		name, dir, want string
	}{
		{"local main", withMain, "main"},
		{"local master", withMaster, "master"},
		{"origin's default", clone, "origin/trunk"},
		{"origin's default from a subdirectory", filepath.Join(clone, "sub"), "origin/trunk"},
		{"no origin/HEAD", noHead, "main"},
		{"nothing to go by", none, ""},
	}
	if _, err := DefaultBase(ctx, t.TempDir()); !errors.Is(err, ErrNotARepo) {
		t.Errorf("DefaultBase outside a checkout: %v, want ErrNotARepo", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultBase(ctx, tt.dir)
			if tt.want == "" {
				if !errors.Is(err, ErrNoDefaultBase) || !strings.Contains(err.Error(), "pass --base") {
					t.Fatalf("DefaultBase = %q, %v; want ErrNoDefaultBase saying to pass --base", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DefaultBase = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTracked(t *testing.T) {
	ctx := context.Background()
	dir := testkit.NewRepo(t, "")
	testkit.WriteFile(t, filepath.Join(dir, "app", "deploy.sh"), "echo\n")
	testkit.WriteFile(t, filepath.Join(dir, "app", "gone.sh"), "echo\n")
	testkit.WriteFile(t, filepath.Join(dir, "app", "we[ird].tf"), "\n")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-qm", "files")
	testkit.Git(t, dir, "rm", "-q", "--cached", "app/gone.sh")
	testkit.WriteFile(t, filepath.Join(dir, "app", "lambda.zip"), "zip\n")
	r, err := Open(ctx, filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Tracked(ctx, []string{"app/deploy.sh", "app/gone.sh", "app/lambda.zip", "app/we[ird].tf", "app/missing"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"app/deploy.sh", "app/gone.sh", "app/we[ird].tf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tracked = %q, want %q", got, want)
	}
}
