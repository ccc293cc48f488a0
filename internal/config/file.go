package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/suggest"
)

// readFile reads the YAML config file named by cfg: a mapping from setting
// names to scalar values. It returns the values found, each located by
// file:line, and every problem; a problem's text never contains a value.
func readFile(cfg value) (map[string]value, []string) {
	name := cfg.raw
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s=%s: cannot read the config file: %v", cfg.where, show(name), err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file sets nothing
		}
		return nil, []string{yamlProblem(name, err)}
	}
	var problems []string
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		problems = append(problems, fmt.Sprintf("%s:%d: a second YAML document starts here; keep one (remove the --- line and what follows)", name, next.Line))
	case !errors.Is(err, io.EOF):
		return nil, []string{yamlProblem(name, err)}
	}
	if len(doc.Content) == 0 {
		return nil, problems
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, append(problems, fmt.Sprintf("%s:%d: the file must be a mapping of settings, e.g. listen: \":8080\"", name, root.Line))
	}

	var known []string
	for _, s := range settings() {
		known = append(known, s.name)
	}
	vals := map[string]value{}
	seen := map[string]int{} // key → line of its first occurrence
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		key := k.Value
		first, dup := seen[key]
		if !dup {
			seen[key] = k.Line
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			problems = append(problems, fmt.Sprintf("%s:%d: a key must be a setting name", name, k.Line))
		case key == "config":
			problems = append(problems, fmt.Sprintf("%s:%d: config cannot be set in the config file; use --config or SLUICE_CONFIG", name, k.Line))
		case !slices.Contains(known, key):
			msg := fmt.Sprintf("%s:%d: unknown key %q", name, k.Line, key)
			if s, ok := suggest.Closest(key, known); ok {
				msg += fmt.Sprintf("; did you mean %s?", s)
			} else {
				msg += "; the keys are the flag names of sluice serve --help"
			}
			problems = append(problems, msg)
		case dup:
			problems = append(problems, fmt.Sprintf("%s:%d: %s is set again (first on line %d); keep one", name, k.Line, key, first))
		case v.Kind != yaml.ScalarNode:
			problems = append(problems, fmt.Sprintf("%s:%d: %s takes a single value, not a list or mapping", name, v.Line, key))
		case v.Tag == "!!null":
			problems = append(problems, fmt.Sprintf("%s:%d: %s has no value; give one or remove the line", name, v.Line, key))
		default:
			vals[key] = value{raw: v.Value, where: fmt.Sprintf("%s:%d: %s", name, v.Line, key), origin: fromFile}
		}
	}
	return vals, problems
}

// yamlProblem turns a yaml.v3 syntax error ("yaml: line 3: …") into
// "file:3: …".
func yamlProblem(file string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			return fmt.Sprintf("%s:%s: not valid YAML: %s", file, n, after)
		}
	}
	return fmt.Sprintf("%s: not valid YAML: %s", file, msg)
}
