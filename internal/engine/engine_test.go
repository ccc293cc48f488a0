package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replacer hides one word, as a redactor would.
type replacer string

func (r replacer) String(s string) string { return strings.ReplaceAll(s, string(r), "***") }

func TestPlanRedact(t *testing.T) {
	const secret = "hunter2-secret"
	p := &Plan{
		Text:     "  + password = \"" + secret + "\"\n",
		Warnings: []string{"Warning: " + secret + " is deprecated", "fine"},
		Resources: []ResourceChange{{
			Address: "terraform_data.x",
			Before:  map[string]any{"input": secret, "n": json.Number("3"), "list": []any{"a", secret, map[string]any{"deep": "x-" + secret}}},
			After:   secret,
		}},
		Outputs: []OutputChange{{Name: "o", Before: []any{secret}, After: map[string]any{"k": secret + "!"}}},
		Secrets: []string{secret},
	}
	p.Redact(replacer(secret))
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("the secret is left in the plan:\n%s", b)
	}
	if p.Text != "  + password = \"***\"\n" || p.Warnings[0] != "Warning: *** is deprecated" || p.Warnings[1] != "fine" {
		t.Errorf("text %q warnings %q", p.Text, p.Warnings)
	}
	before := p.Resources[0].Before.(map[string]any)
	if before["input"] != "***" || before["n"] != json.Number("3") || before["list"].([]any)[2].(map[string]any)["deep"] != "x-***" {
		t.Errorf("before = %#v", before)
	}
	if p.Resources[0].After != "***" || p.Outputs[0].Before.([]any)[0] != "***" || p.Outputs[0].After.(map[string]any)["k"] != "***!" {
		t.Errorf("after %#v, outputs %#v", p.Resources[0].After, p.Outputs[0])
	}
	if p.Resources[0].Address != "terraform_data.x" || len(p.Secrets) != 1 {
		t.Errorf("Redact changed what it must not: %+v", p)
	}
}

func TestHashFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.plan")
	if err := os.WriteFile(f, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := HashFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || a.Size != 3 || a.Path != f {
		t.Errorf("HashFile = %+v", a)
	}
	if _, err := HashFile(f + ".missing"); !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestMovesAndImportsAreChanges(t *testing.T) {
	moved := ResourceChange{Address: "x.b", PreviousAddress: "x.a", Action: ActionNoOp}
	imported := ResourceChange{Address: "x.c", Import: true, ImportID: "id-1", Action: ActionNoOp}
	both := ResourceChange{Address: "x.d", PreviousAddress: "x.old", Import: true, Action: ActionUpdate}
	same := ResourceChange{Address: "x.e", PreviousAddress: "x.e", Action: ActionNoOp}
	if !moved.Moved() || imported.Moved() || same.Moved() {
		t.Errorf("Moved: %v %v %v", moved.Moved(), imported.Moved(), same.Moved())
	}
	var s Summary
	for _, rc := range []ResourceChange{moved, imported, both, same} {
		s.CountChange(rc)
	}
	if want := (Summary{Change: 1, Import: 2, Move: 2}); s != want {
		t.Errorf("summary = %+v, want %+v", s, want)
	}
	for _, s := range []Summary{{Import: 1}, {Move: 1}} {
		if !s.HasChanges() || !(&Plan{Summary: s}).Changes() {
			t.Errorf("%+v has no changes", s)
		}
	}
	if (Summary{Read: 1}).HasChanges() || (&Plan{}).Changes() {
		t.Error("reads alone are changes")
	}

	p := &Plan{Resources: []ResourceChange{{Address: "x.c", Import: true, ImportID: "arn:hunter2-secret"}}}
	p.Redact(replacer("hunter2-secret"))
	if p.Resources[0].ImportID != "arn:***" {
		t.Errorf("import id not redacted: %q", p.Resources[0].ImportID)
	}
}
