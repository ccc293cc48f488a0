package repoconfig

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Entries are the project entries of a sluice.yaml as written, keyed by
// project name, each with the file's masks: what the file says of one
// project. A change to sluice.yaml concerns a project only when its entry
// changed, or the masks every project's output is redacted with; a merge
// request that edits one project's entry does not affect (and lock) the
// others. Entries are compared as written, not as validated: an entry that
// spells out a default it had left out counts as changed.
type Entries map[string]string

// EntriesOf reads the entries of sluice.yaml content. Content that is too
// large, is not YAML, or is not of sluice.yaml's shape is an error: then
// no project's entry can be told unchanged.
func EntriesOf(data []byte) (Entries, error) {
	// The bounds of Parse: yaml.v3 refuses excessive aliasing itself.
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d KiB", FileName, MaxFileSize>>10)
	}
	if n := separators(data); n > maxNodes {
		return nil, fmt.Errorf("%s has %d separators, more than the %d Sluice reads", FileName, n, maxNodes)
	}
	var doc struct {
		Projects []map[string]any `yaml:"projects"`
		Masks    []string         `yaml:"masks"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading the project entries of %s: %w", FileName, err)
	}
	masks, err := json.Marshal(doc.Masks)
	if err != nil {
		return nil, err
	}
	entries := Entries{}
	for _, p := range doc.Projects {
		name, ok := p["name"].(string)
		if !ok {
			return nil, fmt.Errorf("a project of %s has no name", FileName)
		}
		// Marshalled as JSON, an entry's keys are sorted: the order they
		// are written in does not count, nor do comments or spacing.
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("reading the entry of project %s in %s: %w", name, FileName, err)
		}
		entries[name] = string(b) + "\n" + string(masks)
	}
	return entries, nil
}

// Same reports whether project name has the same entry, and the masks are
// the same, in e and o. A project missing from either is not the same.
func (e Entries) Same(o Entries, name string) bool {
	a, ok := e[name]
	b, ok2 := o[name]
	return ok && ok2 && a == b
}
