package repoconfig

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the published JSON Schema of sluice.yaml.
const SchemaID = "https://raw.githubusercontent.com/sluicehq/sluice/main/schema/sluice.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of sluice.yaml, generated
// from the Go types, indented and with a trailing newline.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true,
		ExpandedStruct:             true,
	}
	s := r.Reflect(&Config{})
	s.ID = SchemaID
	s.Title = "sluice.yaml"
	s.Description = "Configuration of Sluice for one repository, at its root. Reference: docs/configuration.md."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the sluice.yaml schema: %w", err)
	}
	return append(b, '\n'), nil
}
