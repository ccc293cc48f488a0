package repofs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestRealPath(t *testing.T) {
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
	}
	fsys := fstest.MapFS{
		"modules/net/main.tf": {},
		"envs/prod/main.tf":   {},
		"envs/prod/mods":      link("../../modules"),
		"envs/alias":          link("prod"),
		"envs/chain":          link("alias/mods/net"),
		"envs/out":            link("../../outside"),
		"envs/abs":            link("/etc"),
		"envs/deep/x":         link("../../../.."),
		"loop":                link("loop"),
		"root":                link("."),
	}
	tests := []struct {
		p, want, err string
	}{
		{".", ".", ""},
		{"envs/prod", "envs/prod", ""},
		{"envs/prod/mods/net", "modules/net", ""},
		{"envs/alias", "envs/prod", ""},
		{"envs/alias/mods", "modules", ""},
		{"envs/chain", "modules/net", ""},
		{"root/envs/alias", "envs/prod", ""},
		{"envs/missing/x", "envs/missing/x", ""},
		{"envs/alias/missing", "envs/prod/missing", ""},
		{"envs/out", "", "envs/out is a symbolic link to ../../outside, outside the repository"},
		{"envs/out/x", "", "envs/out is a symbolic link to ../../outside, outside the repository"},
		{"envs/abs", "", "envs/abs is a symbolic link to /etc, outside the repository"},
		{"envs/deep/x", "", "envs/deep/x is a symbolic link to ../../../.., outside the repository"},
		{"loop", "", "loop passes through more than 40 symbolic links"},
		{"../x", "", "../x is outside the repository"},
	}
	for _, tt := range tests {
		got, err := RealPath(fsys, tt.p)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("RealPath(%q) = %q, %v; want the error %q", tt.p, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("RealPath(%q) = %q, %v; want %q", tt.p, got, err, tt.want)
		}
	}
	var le *LinkError
	if _, err := RealPath(fsys, "envs/out/x"); !errors.As(err, &le) || le.Link != "envs/out" || le.Target != "../../outside" {
		t.Errorf("the error names no link: %#v", err)
	}
}

// TestRealPathOnDisk: the same on a checkout, where os.DirFS would
// follow the links by itself.
func TestRealPathOnDisk(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	for _, d := range []string{"repo/envs/prod", "outside"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"envs/staging": "prod", "envs/out": "../../outside", "envs/abs": filepath.Join(top, "outside")} {
		if err := os.Symlink(target, filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
	}
	fsys := os.DirFS(repo)
	if got, err := RealPath(fsys, "envs/staging"); err != nil || got != "envs/prod" {
		t.Errorf("envs/staging: %q, %v", got, err)
	}
	for _, p := range []string{"envs/out", "envs/abs"} {
		var le *LinkError
		if got, err := RealPath(fsys, p); !errors.As(err, &le) || le.Link != p {
			t.Errorf("%s: %q, %v; want it refused", p, got, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "prod"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(filepath.Join(top, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("secret", []byte("outside"))
	write("repo/prod/real.yaml", []byte("name: prod\n"))
	write("repo/prod/big", make([]byte, MaxFileSize+1))
	for name, target := range map[string]string{"prod/Pulumi.yaml": "real.yaml", "prod/zero": "/dev/zero", "prod/up": "../../secret"} {
		if err := os.Symlink(target, filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
	}
	fsys := os.DirFS(repo)
	if b, err := ReadFile(fsys, "prod/Pulumi.yaml"); err != nil || string(b) != "name: prod\n" {
		t.Errorf("a link inside: %q, %v", b, err)
	}
	for name, want := range map[string]string{
		"prod/zero":    "reading prod/zero: prod/zero is a symbolic link to /dev/zero, outside the repository",
		"prod/up":      "reading prod/up: prod/up is a symbolic link to ../../secret, outside the repository",
		"prod/big":     "reading prod/big: larger than 1024 KiB",
		"prod/missing": "no such file",
	} {
		if b, err := ReadFile(fsys, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := ReadFile(fstest.MapFS{"dev": {Mode: fs.ModeDevice}}, "dev"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a device: %v", err)
	}
	if _, err := ReadFile(fsys, "prod/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}
