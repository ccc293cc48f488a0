package pulumi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/engine"
)

// The engine events of a preview or an update, as pulumi writes them to
// its --event-log: one JSON object a line. Values are serialised without
// their secrets (secrets show as the secret signature with "[secret]"),
// so nothing read here needs hiding.
type event struct {
	Diagnostic *struct {
		URN       string `json:"urn"`
		Prefix    string `json:"prefix"`
		Message   string `json:"message"`
		Severity  string `json:"severity"`
		Ephemeral bool   `json:"ephemeral"`
	} `json:"diagnosticEvent"`
	ResourcePre *struct {
		Metadata stepMeta `json:"metadata"`
	} `json:"resourcePreEvent"`
	ResOutputs *struct {
		Metadata stepMeta `json:"metadata"`
	} `json:"resOutputsEvent"`
	Summary *struct {
		ResourceChanges map[string]int `json:"resourceChanges"`
	} `json:"summaryEvent"`
}

type stepMeta struct {
	Op   string     `json:"op"`
	URN  string     `json:"urn"`
	Type string     `json:"type"`
	Old  *stepState `json:"old"`
	New  *stepState `json:"new"`
	// Keys are the properties whose change replaces the resource.
	Keys     []string `json:"keys"`
	Provider string   `json:"provider"`
}

type stepState struct {
	// URN is the resource's URN in this state: the old one differs from
	// the step's when an alias moves the resource to a new URN.
	URN     string         `json:"urn"`
	Parent  string         `json:"parent"`
	Inputs  map[string]any `json:"inputs"`
	Outputs map[string]any `json:"outputs"`
}

type events struct {
	list []event
}

// readEvents reads an event log. A last line cut short (the engine was
// killed while writing it) is left out.
func readEvents(path string) (*events, error) {
	b, err := engine.ReadRegular(path, engine.MaxArtifact)
	if err != nil {
		return nil, err
	}
	ev := &events{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 256<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e event
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			continue
		}
		ev.list = append(ev.list, e)
	}
	return ev, sc.Err()
}

// diagnostics returns the messages of the given severity, without blank
// edges, each once.
func (ev *events) diagnostics(severity string) []string {
	if ev == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range ev.list {
		d := e.Diagnostic
		if d == nil || d.Ephemeral || d.Severity != severity {
			continue
		}
		msg := strings.TrimSpace(ansi.ReplaceAllString(d.Message, ""))
		if msg == "" || seen[msg] {
			continue
		}
		seen[msg] = true
		out = append(out, msg)
	}
	return out
}

func (ev *events) warnings() []string { return ev.diagnostics("warning") }

func (ev *events) errors() []string {
	var out []string
	for _, m := range ev.diagnostics("error") {
		out = append(out, strings.Split(m, "\n")...)
	}
	return out
}

// violatesPlan reports whether the update failed because it would have
// done more than its update plan allows.
func (ev *events) violatesPlan() bool {
	for _, e := range ev.errors() {
		if strings.Contains(e, "violates plan") {
			return true
		}
	}
	return false
}

// summary is what the update reports it did.
func (ev *events) summary() engine.Summary {
	var s engine.Summary
	if ev == nil {
		return s
	}
	for _, e := range ev.list {
		if e.Summary == nil {
			continue
		}
		c := e.Summary.ResourceChanges
		s = engine.Summary{Add: c["create"] + c["import"], Change: c["update"], Destroy: c["delete"] + c["discard"], Replace: c["replace"], Read: c["read"]}
	}
	return s
}

// Pulumi's serialised values: the signature key of a special object, and
// its values for secrets and output values; the value of an unknown.
const (
	sigKey         = "4dabf18193072939515e22adb298388d"
	sigSecret      = "1b47061264138c4ac30d75fd1eb44270"
	sigOutputValue = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
	unknownValue   = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
	stackType      = "pulumi:pulumi:Stack"
)

// changes is what a plan shows a reviewer: the resource and output
// changes, as kept in the saved plan to compare a new preview with.
type changes struct {
	Resources []engine.ResourceChange `json:"resources"`
	Outputs   []engine.OutputChange   `json:"outputs,omitempty"`
}

// resource collects one resource's steps: a replacement takes several
// (create-replacement, replace, delete-replaced).
type resource struct {
	ops  map[string]bool
	meta stepMeta // of the first step, or of the logical replace step
	outs map[string]any
	seen bool // outs came from an outputs event
}

// normalize turns a preview's events into the engine-neutral plan and
// the changes kept in the saved plan. Steps are keyed by URN in the order
// the program registered them; default providers, which Pulumi does not
// count either, are left out.
func normalize(ev *events) (*engine.Plan, changes) {
	p := &engine.Plan{Resources: []engine.ResourceChange{}}
	if ev == nil {
		return p, changes{Resources: p.Resources}
	}
	var order []string
	byURN := map[string]*resource{}
	for _, e := range ev.list {
		switch {
		case e.ResourcePre != nil:
			m := e.ResourcePre.Metadata
			r := byURN[m.URN]
			if r == nil {
				r = &resource{ops: map[string]bool{}, meta: m}
				byURN[m.URN] = r
				order = append(order, m.URN)
			}
			if m.Op == "replace" {
				r.meta = m
			}
			r.ops[m.Op] = true
		case e.ResOutputs != nil:
			m := e.ResOutputs.Metadata
			if r := byURN[m.URN]; r != nil && m.New != nil && m.Op != "delete-replaced" {
				r.outs, r.seen = m.New.Outputs, true
			}
		}
	}

	for _, urn := range order {
		r := byURN[urn]
		m := r.meta
		if m.Type == stackType {
			p.Outputs = stackOutputs(r)
			p.OutputChanges = len(p.Outputs) > 0
		}
		if isDefaultProvider(m) {
			continue
		}
		act, reason := action(r.ops)
		rc := engine.ResourceChange{
			Address:  urn,
			Type:     m.Type,
			Name:     urnName(urn),
			Provider: providerURN(m.Provider),
			Action:   act,
			Reason:   reason,
		}
		// An alias moves the resource to a new URN: the step is "same",
		// but the update rewrites the state, so it is a change.
		if m.Old != nil && m.Old.URN != urn {
			rc.PreviousAddress = m.Old.URN
		}
		if act == "" || act == engine.ActionNoOp && !rc.Moved() {
			continue
		}
		if parent := parentOf(m); parent != "" && !strings.Contains(parent, "::"+stackType+"::") {
			rc.Module = parent
		}
		if m.Old != nil {
			rc.Before = clean(firstNonEmpty(m.Old.Outputs, m.Old.Inputs))
		}
		if act != engine.ActionDelete && act != engine.ActionForget && m.New != nil {
			if r.seen && len(r.outs) > 0 {
				rc.After = clean(r.outs)
			} else {
				rc.After = clean(m.New.Inputs)
			}
		}
		if act == engine.ActionReplace {
			rc.ReplacePaths = m.Keys
		}
		p.Summary.CountChange(rc)
		p.Resources = append(p.Resources, rc)
	}
	return p, changes{Resources: p.Resources, Outputs: p.Outputs}
}

// action maps a resource's step operations to one action.
func action(ops map[string]bool) (engine.Action, string) {
	switch {
	case ops["replace"] || ops["create-replacement"] || ops["delete-replaced"] || ops["import-replacement"]:
		return engine.ActionReplace, ""
	case ops["create"]:
		return engine.ActionCreate, ""
	case ops["import"]:
		return engine.ActionCreate, "import"
	case ops["update"]:
		return engine.ActionUpdate, ""
	case ops["delete"]:
		return engine.ActionDelete, ""
	case ops["discard"] || ops["discard-replaced"]:
		return engine.ActionForget, ""
	case ops["read"] || ops["read-replacement"]:
		return engine.ActionRead, ""
	case ops["same"]:
		return engine.ActionNoOp, ""
	}
	return "", "" // refresh, remove-pending-replace: not a change
}

// stackOutputs compares the stack's outputs before and after.
func stackOutputs(r *resource) []engine.OutputChange {
	var before, after map[string]any
	if r.meta.Old != nil {
		before = r.meta.Old.Outputs
	}
	switch {
	case r.ops["delete"]:
		after = nil
	case r.seen:
		after = r.outs
	default:
		return nil // the program did not get to register its outputs
	}
	names := map[string]bool{}
	for k := range before {
		names[k] = true
	}
	for k := range after {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []engine.OutputChange
	for _, k := range sorted {
		b, hadB := before[k]
		a, hasA := after[k]
		oc := engine.OutputChange{Name: k, Before: clean(b), After: clean(a)}
		switch {
		case !hadB:
			oc.Action, oc.Before = engine.ActionCreate, nil
		case !hasA:
			oc.Action, oc.After = engine.ActionDelete, nil
		case reflect.DeepEqual(oc.Before, oc.After):
			continue
		default:
			oc.Action = engine.ActionUpdate
		}
		oc.Sensitive = oc.Before == engine.SensitiveValue || oc.After == engine.SensitiveValue
		out = append(out, oc)
	}
	return out
}

func firstNonEmpty(ms ...map[string]any) map[string]any {
	for _, m := range ms {
		if len(m) > 0 {
			return m
		}
	}
	return nil
}

func isDefaultProvider(m stepMeta) bool {
	return strings.HasPrefix(m.Type, "pulumi:providers:") && strings.HasPrefix(urnName(m.URN), "default")
}

func parentOf(m stepMeta) string {
	for _, s := range []*stepState{m.New, m.Old} {
		if s != nil && s.Parent != "" {
			return s.Parent
		}
	}
	return ""
}

// urnName is the resource's name, the URN's last part.
func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// providerURN is a provider reference (URN::ID) without its ID.
func providerURN(ref string) string {
	if i := strings.LastIndex(ref, "::"); i >= 0 && strings.Count(ref, "::") > 3 {
		return ref[:i]
	}
	return ref
}

// clean turns a serialised Pulumi value into a plan value: secrets become
// engine.SensitiveValue, unknowns engine.UnknownValue.
func clean(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == unknownValue {
			return engine.UnknownValue
		}
		return x
	case map[string]any:
		switch x[sigKey] {
		case sigSecret:
			return engine.SensitiveValue
		case sigOutputValue:
			if s, _ := x["secret"].(bool); s {
				return engine.SensitiveValue
			}
			val, known := x["value"]
			if !known {
				return engine.UnknownValue
			}
			return clean(val)
		}
		out := make(map[string]any, len(x))
		for k, y := range x {
			out[k] = clean(y)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = clean(y)
		}
		return out
	}
	return v
}

// differences lists how now differs from the reviewed changes, by
// address: an empty list when they are the same.
func (c changes) differences(now changes) []string {
	var diff []string
	index := func(rs []engine.ResourceChange) map[string]string {
		m := map[string]string{}
		for _, r := range rs {
			b, _ := json.Marshal(r)
			m[r.Address] = string(b)
		}
		return m
	}
	was, is := index(c.Resources), index(now.Resources)
	for _, r := range c.Resources {
		switch {
		case is[r.Address] == "":
			diff = append(diff, fmt.Sprintf("  %s: reviewed %s, now no change", r.Address, r.Action))
		case is[r.Address] != was[r.Address]:
			diff = append(diff, fmt.Sprintf("  %s: reviewed %s, now %s", r.Address, r.Action, describe(now.Resources, r.Address)))
		}
	}
	for _, r := range now.Resources {
		if was[r.Address] == "" {
			diff = append(diff, fmt.Sprintf("  %s: not in the reviewed plan, now %s", r.Address, r.Action))
		}
	}
	b1, _ := json.Marshal(c.Outputs)
	b2, _ := json.Marshal(now.Outputs)
	if !bytes.Equal(b1, b2) {
		diff = append(diff, "  the stack's outputs change differently")
	}
	return diff
}

func describe(rs []engine.ResourceChange, addr string) string {
	for _, r := range rs {
		if r.Address == addr {
			return string(r.Action) + " with other values"
		}
	}
	return "no change"
}
