package terraform

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/sluicehq/sluice/internal/engine"
)

// normalize turns `terraform show -json` output into the engine-neutral
// plan. Sensitive values are masked here, from before_sensitive and
// after_sensitive, before anything else sees them; their literal values
// are collected into Secrets so text can be scrubbed too.
func normalize(engineName string, raw []byte) (*engine.Plan, error) {
	var tp tfjson.Plan
	tp.UseJSONNumber(true)
	if err := json.Unmarshal(raw, &tp); err != nil {
		return nil, fmt.Errorf("reading the JSON plan: %w", err)
	}
	p := &engine.Plan{Engine: engineName, EngineVersion: tp.TerraformVersion, Resources: []engine.ResourceChange{}}
	secrets := map[string]bool{}
	// quiet are the sensitive values of what the plan does not change (an
	// unchanged resource, a data source, the prior state): a provisioner
	// or a provider error may still echo them, but many are plain settings
	// kept in a secret store ("prod", a region), so only those that could
	// be secrets and that the plan shows nowhere else are hidden.
	quiet := map[string]bool{}

	for _, rc := range tp.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		c := rc.Change
		act := action(rc.Change.Actions)
		if act == engine.ActionNoOp {
			collectSecrets(c.Before, c.BeforeSensitive, quiet)
			collectSecrets(c.After, c.AfterSensitive, quiet)
		} else {
			collectSecrets(c.Before, c.BeforeSensitive, secrets)
			collectSecrets(c.After, c.AfterSensitive, secrets)
		}
		out := engine.ResourceChange{
			Address:      rc.Address,
			Module:       rc.ModuleAddress,
			Type:         rc.Type,
			Name:         rc.Name,
			Provider:     rc.ProviderName,
			Action:       act,
			Reason:       string(rc.ActionReason),
			ReplacePaths: replacePaths(c.ReplacePaths),
		}
		// A `moved` block gives the old address, an `import` block the
		// importing object; either changes the state on apply even when
		// the action is no-op, so such a resource is a change.
		if rc.PreviousAddress != rc.Address {
			out.PreviousAddress = rc.PreviousAddress
		}
		if c.Importing != nil {
			out.Import, out.ImportID = true, c.Importing.ID
		}
		if act == engine.ActionNoOp && !out.Import && !out.Moved() {
			continue
		}
		p.Summary.CountChange(out)
		out.Before = mask(c.Before, c.BeforeSensitive)
		out.After = markUnknown(mask(c.After, c.AfterSensitive), c.AfterUnknown)
		p.Resources = append(p.Resources, out)
	}

	names := make([]string, 0, len(tp.OutputChanges))
	for n := range tp.OutputChanges {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := tp.OutputChanges[n]
		if c == nil {
			continue
		}
		act := action(c.Actions)
		sensitive := isTrue(c.BeforeSensitive) || isTrue(c.AfterSensitive)
		collectSecrets(c.Before, c.BeforeSensitive, secrets)
		collectSecrets(c.After, c.AfterSensitive, secrets)
		if act == engine.ActionNoOp {
			continue
		}
		p.OutputChanges = true
		p.Outputs = append(p.Outputs, engine.OutputChange{
			Name:      n,
			Action:    act,
			Sensitive: sensitive,
			Before:    mask(c.Before, c.BeforeSensitive),
			After:     markUnknown(mask(c.After, c.AfterSensitive), c.AfterUnknown),
		})
	}

	// Values of variables declared sensitive never appear in a plan's
	// masked values, but may still be echoed in an error or a warning.
	if tp.Config != nil && tp.Config.RootModule != nil {
		for name, v := range tp.Config.RootModule.Variables {
			if v != nil && v.Sensitive && tp.Variables[name] != nil {
				collectSecrets(tp.Variables[name].Value, true, secrets)
			}
		}
	}
	// The prior state holds what the plan does not mention: data sources,
	// and resources of other modules' secrets read through them.
	if tp.PriorState != nil && tp.PriorState.Values != nil {
		collectStateSecrets(tp.PriorState.Values.RootModule, quiet)
		for _, o := range tp.PriorState.Values.Outputs {
			if o != nil && o.Sensitive {
				collectSecrets(o.Value, true, quiet)
			}
		}
	}
	if tp.PlannedValues != nil && tp.PlannedValues.Outputs != nil {
		for _, o := range tp.PlannedValues.Outputs {
			if o != nil && o.Sensitive {
				collectSecrets(o.Value, true, secrets)
			}
		}
	}
	addQuietSecrets(p, quiet, secrets)
	for s := range secrets {
		p.Secrets = append(p.Secrets, s)
	}
	sort.Strings(p.Secrets)
	return p, nil
}

// quietMinLen is the shortest value of what the plan does not change that
// is hidden as a secret.
const quietMinLen = 8

// addQuietSecrets adds to secrets the values of quiet that could be
// secrets: at least quietMinLen bytes, not a number, and not shown
// anywhere in the plan's own (masked) values, where hiding them would
// protect nothing and hide what changes.
func addQuietSecrets(p *engine.Plan, quiet, secrets map[string]bool) {
	var candidates []string
	for s := range quiet {
		if !secrets[s] && len(s) >= quietMinLen && !isNumber(s) {
			candidates = append(candidates, s)
		}
	}
	if len(candidates) == 0 {
		return // most plans: no need to walk every value they show
	}
	shown := map[string]bool{}
	for _, r := range p.Resources {
		engine.CollectStrings(r.Before, shown)
		engine.CollectStrings(r.After, shown)
	}
	for _, o := range p.Outputs {
		engine.CollectStrings(o.Before, shown)
		engine.CollectStrings(o.After, shown)
	}
	for _, s := range candidates {
		if !shownIn(s, shown) {
			secrets[s] = true
		}
	}
}

func shownIn(s string, shown map[string]bool) bool {
	for v := range shown {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func action(a tfjson.Actions) engine.Action {
	switch {
	case a.NoOp():
		return engine.ActionNoOp
	case a.Create():
		return engine.ActionCreate
	case a.Update():
		return engine.ActionUpdate
	case a.Delete():
		return engine.ActionDelete
	case a.Replace():
		return engine.ActionReplace
	case a.Read():
		return engine.ActionRead
	case a.Forget():
		return engine.ActionForget
	}
	parts := make([]string, len(a))
	for i, x := range a {
		parts[i] = string(x)
	}
	return engine.Action(strings.Join(parts, ","))
}

func isTrue(v any) bool {
	b, ok := v.(bool)
	return ok && b
}

// mask returns v with every part marked true in the sensitivity tree
// replaced by engine.SensitiveValue. The tree has the shape of v: a bool
// at a leaf (or for a whole sub-value), nested maps and lists otherwise.
func mask(v, sens any) any {
	if v == nil {
		if isTrue(sens) {
			return engine.SensitiveValue
		}
		return nil
	}
	switch s := sens.(type) {
	case bool:
		if s {
			return engine.SensitiveValue
		}
		return v
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = mask(x, s[k])
		}
		return out
	case []any:
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, x := range l {
			var si any
			if i < len(s) {
				si = s[i]
			}
			out[i] = mask(x, si)
		}
		return out
	}
	return v
}

// markUnknown fills the parts of v that after_unknown marks true with
// engine.UnknownValue.
func markUnknown(v, unknown any) any {
	switch u := unknown.(type) {
	case bool:
		if u {
			return engine.UnknownValue
		}
		return v
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			if v != nil {
				return v
			}
			m = map[string]any{}
		}
		out := make(map[string]any, len(m)+len(u))
		for k, x := range m {
			out[k] = x
		}
		for k, x := range u {
			out[k] = markUnknown(out[k], x)
		}
		return out
	case []any:
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		copy(out, l)
		for i, x := range u {
			if i < len(out) {
				out[i] = markUnknown(out[i], x)
			}
		}
		return out
	}
	return v
}

// collectSecrets adds the scalar values of v that the sensitivity tree
// marks, as strings, to dst.
// collectStateSecrets collects the sensitive values of every resource
// and data source of a state module and its children.
func collectStateSecrets(m *tfjson.StateModule, dst map[string]bool) {
	if m == nil {
		return
	}
	for _, r := range m.Resources {
		if r == nil || len(r.SensitiveValues) == 0 {
			continue
		}
		var sens any
		if err := json.Unmarshal(r.SensitiveValues, &sens); err != nil {
			continue
		}
		values := make(map[string]any, len(r.AttributeValues))
		for k, v := range r.AttributeValues {
			values[k] = v
		}
		collectSecrets(values, sens, dst)
	}
	for _, c := range m.ChildModules {
		collectStateSecrets(c, dst)
	}
}

func collectSecrets(v, sens any, dst map[string]bool) {
	switch s := sens.(type) {
	case bool:
		if s {
			engine.CollectStrings(v, dst)
		}
	case map[string]any:
		if m, ok := v.(map[string]any); ok {
			for k, x := range s {
				collectSecrets(m[k], x, dst)
			}
		}
	case []any:
		if l, ok := v.([]any); ok {
			for i, x := range s {
				if i < len(l) {
					collectSecrets(l[i], x, dst)
				}
			}
		}
	}
}

// replacePaths renders Terraform's replace_paths ([["input","size"],[0]])
// as dotted paths: input.size, [0].
func replacePaths(paths []any) []string {
	var out []string
	for _, p := range paths {
		steps, ok := p.([]any)
		if !ok {
			continue
		}
		var b strings.Builder
		for _, st := range steps {
			switch x := st.(type) {
			case string:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(x)
			case json.Number:
				b.WriteString("[" + x.String() + "]")
			case float64:
				b.WriteString("[" + strconv.FormatFloat(x, 'f', -1, 64) + "]")
			}
		}
		out = append(out, b.String())
	}
	return out
}
