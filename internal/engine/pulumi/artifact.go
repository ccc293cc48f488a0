package pulumi

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/engine"
)

// artifactFormat names the layout of the saved plan.
const artifactFormat = "sluice-pulumi-plan/1"

// artifact is the saved plan an apply consumes; its hash is what was
// reviewed. It holds no secret in the clear: the changes are masked and
// Pulumi encrypts the secrets of its update plan with the stack's
// secrets provider.
type artifact struct {
	Format string `json:"format"`
	Stack  string `json:"stack"`
	// State is the fingerprint of the stack's state the plan was made
	// from; an apply onto another state is refused as stale.
	State string `json:"state"`
	// Changes are the reviewed changes; without an update plan, the apply
	// previews again and refuses other changes.
	Changes changes `json:"changes"`
	// UpdatePlan is Pulumi's own update plan (preview --save-plan), which
	// `up --plan` is held to. Absent when the CLI has none or the driver
	// was told not to use them.
	UpdatePlan json.RawMessage `json:"update_plan,omitempty"`
}

func (a artifact) write(path string) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding the plan: %w", err)
	}
	if err := engine.WriteNew(path, b); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return nil
}

func readArtifact(path string) (artifact, error) {
	var a artifact
	b, err := engine.ReadRegular(path, engine.MaxArtifact)
	if err != nil {
		return a, fmt.Errorf("reading the saved plan: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil || a.Format != artifactFormat {
		return a, fmt.Errorf("%s is not a saved Pulumi plan of this version of Sluice (format %q)", path, a.Format)
	}
	return a, nil
}

// planVersion is the CLI version recorded in an update plan.
func planVersion(plan []byte) string {
	var p struct {
		Manifest struct {
			Version string `json:"version"`
		} `json:"manifest"`
	}
	_ = json.Unmarshal(plan, &p)
	return p.Manifest.Version
}
