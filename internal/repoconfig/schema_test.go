package repoconfig

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/safename"
)

var update = flag.Bool("update", false, "rewrite schema/sluice.schema.json")

const schemaFile = "../../schema/sluice.schema.json"

func TestSchemaUpToDate(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("reading the checked-in schema: %v; run go test ./internal/repoconfig -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("schema/sluice.schema.json is out of date; run go test ./internal/repoconfig -update")
	}
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaMatchesTypes checks that the schema describes exactly the keys
// the decoder knows, and closes every mapping.
func TestSchemaMatchesTypes(t *testing.T) {
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	defs := s["$defs"].(map[string]any)
	for name, typ := range map[string]reflect.Type{
		"":         reflect.TypeFor[Config](),
		"Project":  reflect.TypeFor[Project](),
		"Apply":    reflect.TypeFor[Apply](),
		"Approval": reflect.TypeFor[Approval](),
	} {
		obj := s
		if name != "" {
			obj = defs[name].(map[string]any)
		}
		if obj["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties = %v, want false", typ.Name(), obj["additionalProperties"])
		}
		var keys []string
		for k := range obj["properties"].(map[string]any) {
			keys = append(keys, k)
		}
		_, want := yamlFields(typ)
		slices.Sort(keys)
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("%s: schema properties %q, decoder keys %q", typ.Name(), keys, want)
		}
	}
	project := defs["Project"].(map[string]any)["properties"].(map[string]any)
	if got := project["engine"].(map[string]any)["enum"]; fmt.Sprint(got) != fmt.Sprint(engines()) {
		t.Errorf("engine enum = %v, want %v", got, engines())
	}
	// The patterns say what safename does, but for what a pattern cannot
	// say simply (. and .., the length of a stack's parts).
	for key, check := range map[string]func(string) error{"name": safename.Project, "workspace": safename.Workspace, "stack": safename.Stack} {
		prop := project[key].(map[string]any)
		re := regexp.MustCompile(prop["pattern"].(string))
		for _, s := range []string{"prod", "eu-west_1.v2", "a~b$c&d+e=f:g@h", "acme/dev", "acme/app/dev", "a/b/c/d",
			"-prod", "my prod", "a%b", "acme//dev", "/dev", "dev/", ".hidden", "café", ""} {
			if re.MatchString(s) != (check(s) == nil) {
				t.Errorf("%s pattern %s matches %q: %v, but safename says %v", key, re, s, re.MatchString(s), check(s))
			}
		}
		if key != "stack" && prop["maxLength"] != float64(safename.MaxLen) {
			t.Errorf("%s maxLength = %v, want %d", key, prop["maxLength"], safename.MaxLen)
		}
	}
}

// TestSchemaValidation checks that example files fare with the schema as
// with Parse, using a small validator for the keywords the schema uses.
func TestSchemaValidation(t *testing.T) {
	s := loadSchema(t)
	tests := []struct {
		name       string
		yaml       string
		wantSchema bool // valid for the schema
		wantParse  bool // valid for Parse
	}{
		{"minimal", project, true, true},
		{"full", `version: 1
masks: ['x-[0-9]+']
projects:
  - name: prod
    dir: envs/prod
    engine: opentofu
    workspace: prod
    when_modified: ["*.tf", "../modules/**"]
    depends_on: [net]
    apply: {mode: before_merge}
    approval: {min: 0, from: [alice, "group:ops"], codeowners: true}
    policies: [policies/]
  - name: net
    dir: network
  - name: app
    dir: app
    engine: pulumi
    stack: dev
`, true, true},
		{"unknown project key", project + "    engin: terraform\n", false, false},
		{"unknown top-level key", project + "extra: 1\n", false, false},
		{"unknown apply key", project + "    apply: {mod: after_merge}\n", false, false},
		{"when_modified string", project + "    when_modified: '*.tf'\n", false, false},
		{"engine tofu", project + "    engine: tofu\n", false, false},
		{"version missing", "projects:\n  - {name: a, dir: b}\n", false, false},
		{"version 2", "version: 2\nprojects:\n  - {name: a, dir: b}\n", false, false},
		{"projects missing", "version: 1\n", false, false},
		{"projects empty", "version: 1\nprojects: []\n", false, false},
		{"dir missing", "version: 1\nprojects:\n  - name: a\n", false, false},
		{"invalid name", "version: 1\nprojects:\n  - {name: -a, dir: b}\n", false, false},
		{"negative min", project + "    approval: {min: -1}\n", false, false},
		{"min string", project + "    approval: {min: '2'}\n", false, false},
		{"codeowners string", project + "    approval: {codeowners: 'yes'}\n", false, false},
		{"apply mode", project + "    apply: {mode: now}\n", false, false},
		// Rules the schema cannot express.
		{"stack with terraform", project + "    stack: dev\n", true, false},
		{"unknown dependency", project + "    depends_on: [nope]\n", true, false},
		{"invalid mask", project + "masks: ['(']\n", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc any
			if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			errs := validateSchema(s, s, doc, "")
			if got := len(errs) == 0; got != tt.wantSchema {
				t.Errorf("schema valid = %v, want %v: %v", got, tt.wantSchema, errs)
			}
			_, err := Parse(nil, "sluice.yaml", []byte(tt.yaml))
			if got := err == nil; got != tt.wantParse {
				t.Errorf("Parse valid = %v, want %v: %v", got, tt.wantParse, err)
			}
		})
	}
}

// validateSchema validates v against the JSON Schema keywords the generated
// schema uses, returning the violations.
func validateSchema(root, s map[string]any, v any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		def := root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")]
		return validateSchema(root, def.(map[string]any), v, at)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("%v not in %v", v, enum)
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("want an object, got %T", v)
			break
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				fail("missing %s", r)
			}
		}
		for k, val := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					fail("additional property %s", k)
				}
				continue
			}
			errs = append(errs, validateSchema(root, ps, val, at+"/"+k)...)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			fail("want an array, got %T", v)
			break
		}
		if least, ok := s["minItems"].(float64); ok && float64(len(a)) < least {
			fail("fewer than %v items", least)
		}
		for i, item := range a {
			errs = append(errs, validateSchema(root, s["items"].(map[string]any), item, fmt.Sprintf("%s/%d", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string, got %T", v)
			break
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
		if most, ok := s["maxLength"].(float64); ok && float64(len(str)) > most {
			fail("%q is longer than %v", str, most)
		}
	case "integer":
		i, ok := v.(int)
		if !ok {
			fail("want an integer, got %T", v)
			break
		}
		if least, ok := s["minimum"].(float64); ok && float64(i) < least {
			fail("%d is less than %v", i, least)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want a boolean, got %T", v)
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestDocsExamples parses every complete example (a yaml block with a
// version) of docs/configuration.md.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	n := 0
	for _, b := range blocks {
		if !bytes.Contains(b[1], []byte("version: 1")) {
			continue
		}
		n++
		if _, err := Parse(nil, "sluice.yaml", b[1]); err != nil {
			t.Errorf("example %d of docs/configuration.md:\n%s\n%v", n, b[1], err)
		}
	}
	if n == 0 {
		t.Error("no complete examples found in docs/configuration.md")
	}
}
