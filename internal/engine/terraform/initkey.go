package terraform

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/sluicehq/sluice/internal/engine/terraform/tfmodules"
	"github.com/sluicehq/sluice/internal/repofs"
)

// initKey fingerprints everything `init` depends on: the engine binary,
// the workspace, the lock file, and in every .tf file of the project and
// of the local modules it calls, the terraform blocks (backend, required
// providers), module sources and versions, provider blocks, and the
// providers resource types imply. A change to anything else — like a
// resource's arguments — does not need a new init.
//
// dir is inside root, the repository's checkout, and what initKey reads
// stays inside root: links are followed only as far as they stay in it
// (repofs.RealPath), only regular files are read, and a lock file or a
// local module that leads outside the repository is an error, before
// anything runs (the engine would read, and plan, what is there).
func initKey(binary, workspace, root, dir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "binary %s\n", binary)
	if st, err := os.Stat(binary); err == nil {
		fmt.Fprintf(h, "binary-stat %d %d\n", st.Size(), st.ModTime().UnixNano())
	}
	fmt.Fprintf(h, "workspace %s\n", workspace)
	rel, err := filepath.Rel(root, dir)
	if err != nil || repofs.Outside(filepath.ToSlash(rel)) {
		return "", fmt.Errorf("%s is not inside the repository %s", dir, root)
	}
	rel = filepath.ToSlash(rel)
	fsys := os.DirFS(root)
	switch b, err := repofs.ReadFile(fsys, path.Join(rel, lockFile)); {
	case err == nil:
		fmt.Fprintf(h, "lock %x\n", sha256.Sum256(b))
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	if err := hashModule(h, fsys, rel, rel, map[string]bool{}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashModule hashes the init-relevant parts of the module in dir, a slash
// path of fsys (the repository). Paths are hashed relative to the
// project's directory, so the same code checked out elsewhere (a new
// worktree per run) has the same key.
func hashModule(h io.Writer, fsys fs.FS, project, dir string, seen map[string]bool) error {
	real, err := repofs.RealPath(fsys, dir)
	if err != nil {
		return fmt.Errorf("module %s: %w; Sluice plans only code inside the repository", dir, err)
	}
	if seen[real] {
		return nil
	}
	seen[real] = true
	entries, err := fs.ReadDir(fsys, real)
	if err != nil {
		return &missingModule{fmt.Errorf("reading %s: %w", real, err)}
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && tfmodules.IsConfigFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	relToProject, err := filepath.Rel(project, real)
	if err != nil {
		relToProject = real
	}
	fmt.Fprintf(h, "module %s\n", filepath.ToSlash(relToProject))
	var local []string
	for _, name := range names {
		src, err := fs.ReadFile(fsys, path.Join(real, name))
		if err != nil {
			return fmt.Errorf("reading %s: %w", path.Join(real, name), err)
		}
		fmt.Fprintf(h, "file %s\n", name)
		if strings.HasSuffix(name, ".json") {
			// JSON syntax is rare; any change to it re-inits.
			fmt.Fprintf(h, "json %x\n", sha256.Sum256(src))
			for _, s := range tfmodules.Sources(name, src) {
				local = append(local, s)
			}
			continue
		}
		f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		if diags.HasErrors() {
			// Let init report the syntax error in its own words.
			fmt.Fprintf(h, "unparsable %x\n", sha256.Sum256(src))
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		for _, b := range body.Blocks {
			switch b.Type {
			case "terraform":
				fmt.Fprintf(h, "terraform %q\n", b.Range().SliceBytes(src))
			case "provider":
				fmt.Fprintf(h, "provider %q\n", b.Labels)
			case "resource", "data", "ephemeral":
				if len(b.Labels) > 0 {
					fmt.Fprintf(h, "type-provider %s %s\n", b.Type, providerOf(b.Labels[0]))
				}
				if a, ok := b.Body.Attributes["provider"]; ok {
					fmt.Fprintf(h, "provider-ref %q\n", a.Expr.Range().SliceBytes(src))
				}
			case "module":
				fmt.Fprintf(h, "module-call %q\n", b.Labels)
				for _, attr := range []string{"source", "version"} {
					if a, ok := b.Body.Attributes[attr]; ok {
						fmt.Fprintf(h, "  %s %q\n", attr, a.Expr.Range().SliceBytes(src))
					}
				}
				if s, ok := tfmodules.LocalSource(b); ok {
					local = append(local, s)
				}
			}
		}
	}
	for _, s := range local {
		m := path.Join(real, s)
		if repofs.Outside(m) {
			return fmt.Errorf("the module source %q in %s leads outside the repository; Sluice plans only code inside it: move the module into the repository, or call it from a registry or a git URL", s, real)
		}
		err := hashModule(h, fsys, project, m, seen)
		var missing *missingModule
		if errors.As(err, &missing) {
			// A missing local module is init's error to report.
			fmt.Fprintf(h, "missing-module %s\n", m)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// missingModule is a local module whose directory cannot be read.
type missingModule struct{ err error }

func (m *missingModule) Error() string { return m.err.Error() }

// providerOf returns the provider local name a resource type implies:
// aws_instance -> aws.
func providerOf(typ string) string {
	if i := strings.IndexByte(typ, '_'); i > 0 {
		return typ[:i]
	}
	return typ
}
