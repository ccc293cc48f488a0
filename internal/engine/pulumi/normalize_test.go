package pulumi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/redact"
)

func TestClean(t *testing.T) {
	secret := map[string]any{sigKey: sigSecret, "ciphertext": "[secret]"}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"scalars stay", map[string]any{"n": json.Number("3"), "s": "x", "b": true}, map[string]any{"n": json.Number("3"), "s": "x", "b": true}},
		{"a secret is masked", map[string]any{"token": secret}, map[string]any{"token": engine.SensitiveValue}},
		{"an unknown is marked", []any{unknownValue, "known"}, []any{engine.UnknownValue, "known"}},
		{"a secret output value", map[string]any{sigKey: sigOutputValue, "value": "x", "secret": true}, engine.SensitiveValue},
		{"an unknown output value", map[string]any{sigKey: sigOutputValue}, engine.UnknownValue},
		{"a known output value", map[string]any{sigKey: sigOutputValue, "value": []any{secret}}, []any{engine.SensitiveValue}},
		{"nested", map[string]any{"tags": map[string]any{"a": secret, "b": []any{unknownValue}}}, map[string]any{"tags": map[string]any{"a": engine.SensitiveValue, "b": []any{engine.UnknownValue}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clean(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("clean = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAction(t *testing.T) {
	tests := []struct {
		ops    []string
		want   engine.Action
		reason string
	}{
		{[]string{"create"}, engine.ActionCreate, ""},
		{[]string{"update"}, engine.ActionUpdate, ""},
		{[]string{"delete"}, engine.ActionDelete, ""},
		{[]string{"same"}, engine.ActionNoOp, ""},
		{[]string{"create-replacement", "replace", "delete-replaced"}, engine.ActionReplace, ""},
		{[]string{"delete-replaced", "replace", "create-replacement"}, engine.ActionReplace, ""}, // delete before replace
		{[]string{"import"}, engine.ActionCreate, "import"},
		{[]string{"read"}, engine.ActionRead, ""},
		{[]string{"discard"}, engine.ActionForget, ""},
		{[]string{"refresh"}, "", ""},
	}
	for _, tt := range tests {
		ops := map[string]bool{}
		for _, o := range tt.ops {
			ops[o] = true
		}
		if got, reason := action(ops); got != tt.want || reason != tt.reason {
			t.Errorf("action(%v) = %q, %q; want %q, %q", tt.ops, got, reason, tt.want, tt.reason)
		}
	}
}

// events from the lines of an event log.
func eventsOf(t *testing.T, lines ...string) *events {
	t.Helper()
	ev := &events{}
	for _, l := range lines {
		var e event
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		ev.list = append(ev.list, e)
	}
	return ev
}

func TestNormalize(t *testing.T) {
	const (
		stackU = `urn:pulumi:prod::p::pulumi:pulumi:Stack::p-prod`
		prov   = `urn:pulumi:prod::p::pulumi:providers:sluicetest::default`
		ng     = `urn:pulumi:prod::p::sluicetest:index:NodeGroup::workers`
	)
	ev := eventsOf(t,
		`{"resourcePreEvent":{"metadata":{"op":"same","urn":"`+stackU+`","type":"pulumi:pulumi:Stack","old":{"outputs":{"size":3,"token":{"`+sigKey+`":"`+sigSecret+`","ciphertext":"[secret]"}}},"new":{}}}}`,
		`{"resourcePreEvent":{"metadata":{"op":"same","urn":"`+prov+`","type":"pulumi:providers:sluicetest","old":{},"new":{}}}}`,
		`{"resourcePreEvent":{"metadata":{"op":"update","urn":"`+ng+`","type":"sluicetest:index:NodeGroup","provider":"`+prov+`::04da6b54","old":{"parent":"`+stackU+`","inputs":{"desiredSize":3},"outputs":{"desiredSize":3,"arn":"a"}},"new":{"parent":"`+stackU+`","inputs":{"desiredSize":2}}}}}`,
		`{"resOutputsEvent":{"metadata":{"op":"update","urn":"`+ng+`","type":"sluicetest:index:NodeGroup","new":{"outputs":{"desiredSize":2,"arn":"a"}}}}}`,
		`{"resOutputsEvent":{"metadata":{"op":"same","urn":"`+stackU+`","type":"pulumi:pulumi:Stack","new":{"outputs":{"size":2,"token":{"`+sigKey+`":"`+sigSecret+`","ciphertext":"[secret]"},"endpoint":"`+unknownValue+`"}}}}}`,
		`{"diagnosticEvent":{"message":"careful\n","severity":"warning"}}`,
		`{"diagnosticEvent":{"message":"careful\n","severity":"warning"}}`,
		`{"summaryEvent":{"resourceChanges":{"update":1,"same":2}}}`,
	)
	p, rev := normalize(ev)
	if len(p.Resources) != 1 || p.Summary != (engine.Summary{Change: 1}) {
		t.Fatalf("resources %+v, summary %+v: want the node group only (no stack, no default provider)", p.Resources, p.Summary)
	}
	r := p.Resources[0]
	want := engine.ResourceChange{
		Address: ng, Type: "sluicetest:index:NodeGroup", Name: "workers", Provider: prov, Action: engine.ActionUpdate,
		Before: map[string]any{"desiredSize": json.Number("3"), "arn": "a"},
		After:  map[string]any{"desiredSize": json.Number("2"), "arn": "a"},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("resource = %+v\nwant       %+v", r, want)
	}
	wantOut := []engine.OutputChange{
		{Name: "endpoint", Action: engine.ActionCreate, After: engine.UnknownValue},
		{Name: "size", Action: engine.ActionUpdate, Before: json.Number("3"), After: json.Number("2")},
	}
	if !reflect.DeepEqual(p.Outputs, wantOut) || !p.OutputChanges {
		t.Errorf("outputs = %+v, want %+v (the unchanged secret left out)", p.Outputs, wantOut)
	}
	if w := ev.warnings(); !reflect.DeepEqual(w, []string{"careful"}) {
		t.Errorf("warnings = %q", w)
	}
	if s := ev.summary(); s != (engine.Summary{Change: 1}) {
		t.Errorf("summary event = %+v", s)
	}

	// The same changes compare equal after a trip through the saved plan.
	b, err := json.Marshal(artifact{Changes: rev})
	if err != nil {
		t.Fatal(err)
	}
	var back artifact
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if d := back.Changes.differences(rev); len(d) != 0 {
		t.Errorf("the saved changes differ from themselves: %q", d)
	}
	other := changes{Resources: []engine.ResourceChange{want, {Address: "urn:x", Action: engine.ActionCreate}}, Outputs: rev.Outputs}
	other.Resources[0].After = map[string]any{"desiredSize": json.Number("1")}
	d := back.Changes.differences(other)
	if len(d) != 2 || !strings.Contains(d[0], ng+": reviewed update, now update with other values") || !strings.Contains(d[1], "urn:x: not in the reviewed plan") {
		t.Errorf("differences = %q", d)
	}
}

func TestParseExport(t *testing.T) {
	const state = `{"version":3,"deployment":{"manifest":{"time":"%s"},"resources":[{"urn":"u","outputs":{"b":1,"a":2}}]%s}}`
	a, err := parseExport([]byte(strings.Replace(strings.Replace(state, "%s", "2026-01-01T00:00:00Z", 1), "%s", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	// Another time and another key order: the same resources.
	b, err := parseExport([]byte(`{"deployment":{"manifest":{"time":"2027-01-01T00:00:00Z"},"resources":[{"outputs":{"a":2,"b":1},"urn":"u"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.fingerprint != b.fingerprint || len(a.pending) != 0 {
		t.Errorf("fingerprints %s and %s of the same resources; pending %v", a.fingerprint, b.fingerprint, a.pending)
	}
	c, err := parseExport([]byte(`{"deployment":{"resources":[{"urn":"u","outputs":{"a":2,"b":1}}],"pending_operations":[{"resource":{"urn":"u"},"type":"updating"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.fingerprint == a.fingerprint || !reflect.DeepEqual(c.pending, []pendingOp{{Type: "updating", URN: "u"}}) {
		t.Errorf("pending operations: %+v, fingerprint unchanged: %v", c.pending, c.fingerprint == a.fingerprint)
	}
}

func TestErrorLines(t *testing.T) {
	ev := eventsOf(t,
		`{"diagnosticEvent":{"message":"resource violates plan: properties changed\n","severity":"error"}}`,
		`{"diagnosticEvent":{"message":"already said\n","severity":"error"}}`,
	)
	tests := []struct {
		name string
		out  engine.Output
		ev   *events
		want string
	}{
		{"stderr without colours and warnings", engine.Output{Stderr: "warning: using x from $PATH\n\x1b[31mError\x1b[0m: boom\n\n"}, nil, "Error: boom"},
		{"and the error diagnostics it lacks", engine.Output{Stderr: "already said\n"}, ev, "already said\nresource violates plan: properties changed"},
		{"never stdout", engine.Output{Stdout: `{"secret":"` + canary + `"}`}, nil, ""},
		{"secrets hidden", engine.Output{Stderr: "error: " + canary + "\n"}, nil, "error: ***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(errorLines(tt.out, tt.ev, redact.New([]string{canary}, nil)), "\n")
			if got != tt.want {
				t.Errorf("errorLines = %q, want %q", got, tt.want)
			}
		})
	}
	if !ev.violatesPlan() {
		t.Error("violatesPlan = false")
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"urn:pulumi:prod::p::pulumi:providers:aws::default_6_0_0::04da6b54-80e4-46f7-96ec-b56ff0331ba9", "urn:pulumi:prod::p::pulumi:providers:aws::default_6_0_0"},
		{"urn:pulumi:prod::p::pulumi:providers:aws::default_6_0_0", "urn:pulumi:prod::p::pulumi:providers:aws::default_6_0_0"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := providerURN(tt.ref); got != tt.want {
			t.Errorf("providerURN(%q) = %q, want %q", tt.ref, got, tt.want)
		}
	}
	if got := commandName([]string{"stack", "export", "--stack", "prod"}); got != "pulumi stack export" {
		t.Errorf("commandName = %q", got)
	}
	if got := commandName([]string{"up", "--yes"}); got != "pulumi up" {
		t.Errorf("commandName = %q", got)
	}
}

func TestOwnFiles(t *testing.T) {
	tests := []struct {
		stack string
		want  []engine.OwnFile
	}{
		{"prod", []engine.OwnFile{{Name: "Pulumi.prod.yaml", OnlyNew: true}, {Name: "Pulumi.prod.yml", OnlyNew: true}}},
		{"acme/net/prod", []engine.OwnFile{{Name: "Pulumi.prod.yaml", OnlyNew: true}, {Name: "Pulumi.prod.yml", OnlyNew: true}}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := New("pulumi").OwnFiles(tt.stack); !slices.Equal(got, tt.want) {
			t.Errorf("OwnFiles(%q) = %+v, want %+v", tt.stack, got, tt.want)
		}
	}
}

// TestLiveGate: preview lines are held until the secrets to hide are
// known, then shown with them hidden; when they cannot be known, nothing
// held or to come is shown.
func TestLiveGate(t *testing.T) {
	var shown []string
	g := newGate(func(_, line string) { shown = append(shown, line) })
	g.line("stdout", "password is hunter2")
	if len(shown) != 0 {
		t.Fatalf("shown before the secrets are known: %q", shown)
	}
	g.open(redact.New([]string{"hunter2"}, nil))
	g.line("stdout", "again hunter2")
	if want := []string{"password is ***", "again ***"}; !slices.Equal(shown, want) {
		t.Errorf("shown %q, want %q", shown, want)
	}

	shown = nil
	g = newGate(func(_, line string) { shown = append(shown, line) })
	g.line("stdout", "password is hunter2")
	g.drop()
	g.line("stdout", "later hunter2")
	g.open(redact.New(nil, nil))
	if len(shown) != 0 {
		t.Errorf("shown after drop: %q", shown)
	}
}
