package terraform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/sluicehq/sluice/internal/engine/terraform/tfmodules"
)

// initKey fingerprints everything `init` depends on: the engine binary,
// the workspace, the lock file, and in every .tf file of the project and
// of the local modules it calls, the terraform blocks (backend, required
// providers), module sources and versions, provider blocks, and the
// providers resource types imply. A change to anything else — like a
// resource's arguments — does not need a new init.
func initKey(binary, workspace, dir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "binary %s\n", binary)
	if st, err := os.Stat(binary); err == nil {
		fmt.Fprintf(h, "binary-stat %d %d\n", st.Size(), st.ModTime().UnixNano())
	}
	fmt.Fprintf(h, "workspace %s\n", workspace)
	if b, err := os.ReadFile(filepath.Join(dir, lockFile)); err == nil {
		fmt.Fprintf(h, "lock %x\n", sha256.Sum256(b))
	}
	seen := map[string]bool{}
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := hashModule(h, root, dir, seen); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashModule hashes a module's init-relevant parts. Paths are hashed
// relative to the project's root, so the same code checked out elsewhere
// (a new worktree per run) has the same key.
func hashModule(h io.Writer, root, dir string, seen map[string]bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if seen[abs] {
		return nil
	}
	seen[abs] = true
	entries, err := os.ReadDir(abs)
	if err != nil {
		return fmt.Errorf("reading %s: %w", abs, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && tfmodules.IsConfigFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		rel = abs
	}
	fmt.Fprintf(h, "module %s\n", filepath.ToSlash(rel))
	var local []string
	for _, name := range names {
		src, err := os.ReadFile(filepath.Join(abs, name))
		if err != nil {
			return fmt.Errorf("reading %s: %w", filepath.Join(abs, name), err)
		}
		fmt.Fprintf(h, "file %s\n", name)
		if strings.HasSuffix(name, ".json") {
			// JSON syntax is rare; any change to it re-inits.
			fmt.Fprintf(h, "json %x\n", sha256.Sum256(src))
			for _, s := range tfmodules.Sources(name, src) {
				local = append(local, filepath.Join(abs, s))
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
					local = append(local, filepath.Join(abs, s))
				}
			}
		}
	}
	for _, l := range local {
		if err := hashModule(h, root, l, seen); err != nil {
			// A missing local module is init's error to report.
			fmt.Fprintf(h, "missing-module %s\n", l)
		}
	}
	return nil
}

// providerOf returns the provider local name a resource type implies:
// aws_instance -> aws.
func providerOf(typ string) string {
	if i := strings.IndexByte(typ, '_'); i > 0 {
		return typ[:i]
	}
	return typ
}
