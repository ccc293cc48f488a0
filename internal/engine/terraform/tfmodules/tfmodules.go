// Package tfmodules finds the local modules a Terraform or OpenTofu
// configuration calls (module "x" { source = "../modules/x" }). It is
// shared by the driver's init key, project discovery and the matching of
// changed paths to projects, so all three agree on what a local module is.
// It imports only repofs, to resolve the links on a module's way.
package tfmodules

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/sluicehq/sluice/internal/repofs"
)

// IsConfigFile reports whether name is a Terraform or OpenTofu
// configuration file.
func IsConfigFile(name string) bool {
	for _, ext := range []string{".tf", ".tf.json", ".tofu", ".tofu.json"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isLocal reports whether a module source is a local path, which
// Terraform recognises by its ./ or ../ prefix.
func isLocal(source string) bool {
	return strings.HasPrefix(source, "./") || strings.HasPrefix(source, "../")
}

// LocalSource returns the source of a module block when it is a literal
// local path.
func LocalSource(b *hclsyntax.Block) (string, bool) {
	if b.Type != "module" {
		return "", false
	}
	a, ok := b.Body.Attributes["source"]
	if !ok {
		return "", false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type().FriendlyName() != "string" {
		return "", false
	}
	s := v.AsString()
	return s, isLocal(s)
}

// Sources returns the local module sources called by one configuration
// file, in file order. A file that does not parse calls nothing: the
// engine reports its syntax errors.
func Sources(name string, src []byte) []string {
	// Most files call no module; skip parsing them.
	if !bytes.Contains(src, []byte("module")) {
		return nil
	}
	if strings.HasSuffix(name, ".json") {
		return jsonSources(src)
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var out []string
	for _, b := range body.Blocks {
		if s, ok := LocalSource(b); ok {
			out = append(out, s)
		}
	}
	return out
}

// jsonSources reads module sources from the JSON syntax, where module
// blocks are {"module": {"NAME": {"source": ...}}}, each level possibly a
// list of such objects.
func jsonSources(src []byte) []string {
	var doc any
	if err := json.Unmarshal(src, &doc); err != nil {
		return nil
	}
	var out []string
	for _, top := range objects(doc) {
		for _, mods := range objects(top["module"]) {
			names := make([]string, 0, len(mods))
			for n := range mods {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				for _, call := range objects(mods[n]) {
					if s, ok := call["source"].(string); ok && isLocal(s) {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

func objects(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		var out []map[string]any
		for _, y := range x {
			if m, ok := y.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// calls returns the local module sources that the configuration files
// directly in dir (a slash path in fsys) call.
func calls(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsConfigFile(e.Name()) {
			continue
		}
		src, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Sources(e.Name(), src)...)
	}
	return out, nil
}

// Dirs returns every directory the configuration in dir calls as a local
// module, directly or through other local modules, as cleaned slash paths
// of fsys with their symbolic links resolved (repofs.RealPath), sorted.
// dir itself is not included, nor modules outside fsys: a source with more
// ../ than dir is deep, or one that passes through a link leading outside
// (neither is read). A called directory that does not exist is included,
// and not followed.
func Dirs(fsys fs.FS, dir string) ([]string, error) {
	dir = path.Clean(dir)
	seen := map[string]bool{dir: true}
	var out []string
	queue := []string{dir}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		called, err := calls(fsys, d)
		if err != nil {
			if d != dir {
				continue // a missing module is the engine's error to report
			}
			return nil, err
		}
		for _, s := range called {
			m := path.Join(d, s)
			if repofs.Outside(m) {
				continue
			}
			m, err := repofs.RealPath(fsys, m)
			if err != nil || seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, m)
			queue = append(queue, m)
		}
	}
	sort.Strings(out)
	return out, nil
}
