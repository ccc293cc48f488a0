package depends

import (
	"slices"
	"strings"
	"testing"
)

type item struct {
	name string
	deps []string
}

func order(items ...item) []string {
	var out []string
	for _, it := range Order(items, func(it item) string { return it.name }, func(it item) []string { return it.deps }) {
		out = append(out, it.name)
	}
	return out
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name  string
		items []item
		want  []string
	}{
		// docs/configuration.md's example: d needs b and c, which need a.
		{"diamond", []item{{"d", []string{"b", "c"}}, {"c", []string{"a"}}, {"b", []string{"a"}}, {"a", nil}}, []string{"a", "c", "b", "d"}},
		{"dependencies outside the items do not count", []item{{"d", []string{"b", "c"}}, {"a", nil}}, []string{"d", "a"}},
		{"on itself does not count", []item{{"a", []string{"a"}}, {"b", nil}}, []string{"a", "b"}},
		{"a cycle keeps the given order", []item{{"a", []string{"b"}}, {"b", []string{"a"}}}, []string{"a", "b"}},
		// Two items of one name (a project's two plans): what depends on
		// it comes after both.
		{"one name twice", []item{{"app", []string{"net"}}, {"net", nil}, {"net", nil}}, []string{"net", "net", "app"}},
		{"none", nil, []string{}},
	}
	for _, tt := range tests {
		if got := order(tt.items...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Order = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		deps []Hold
		want Hold
	}{
		{"nothing holds", []Hold{{Dep: "net", Standing: Ready}}, Hold{}},
		{"waits", []Hold{{Dep: "net", Standing: Ready}, {Dep: "db", Standing: Coming}}, Hold{Dep: "db", Standing: Coming}},
		{"a block wins over a wait before it", []Hold{{Dep: "db", Standing: Coming}, {Dep: "net", Standing: ApplyFailed}}, Hold{Dep: "net", Standing: ApplyFailed}},
		{"the first block", []Hold{{Dep: "net", Standing: NotApplied}, {Dep: "db", Standing: ApplyFailed}}, Hold{Dep: "net", Standing: NotApplied}},
		{"the first wait", []Hold{{Dep: "net", Standing: Coming}, {Dep: "db", Standing: Coming}}, Hold{Dep: "net", Standing: Coming}},
		{"itself does not count", []Hold{{Dep: "app", Standing: NotApplied}}, Hold{}},
	}
	for _, tt := range tests {
		if got := Of("app", tt.deps); got != tt.want {
			t.Errorf("%s: Of = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestWhy: the reasons, as the local loop and the server both give them
// after a project's name ("project app ..." in a checkout, "not applied:
// it ..." on the server).
func TestWhy(t *testing.T) {
	tests := []struct {
		h    Hold
		want string
	}{
		{Hold{Dep: "net", Standing: Planning}, "depends on net, which is still being planned; apply net first"},
		{Hold{Dep: "net", Standing: PlanFailed}, "depends on net, whose latest plan did not succeed"},
		{Hold{Dep: "net", Standing: PlanFailed, Detail: "terraform plan failed"}, "depends on net, whose latest plan did not succeed (terraform plan failed)"},
		{Hold{Dep: "net", Standing: NotPlanned, Detail: "not planned: -p left it out"}, "depends on net, which was not planned (not planned: -p left it out)"},
		{Hold{Dep: "net", Standing: Discarded}, "depends on net, whose latest plan was discarded, so net cannot be applied"},
		{Hold{Dep: "net", Standing: NotApplied}, "depends on net, whose changes are not applied"},
		{Hold{Dep: "net", Standing: ApplyFailed}, "depends on net, whose apply failed"},
		{Hold{Dep: "net", Standing: ApplyInterrupted}, "depends on net, whose apply was interrupted"},
		{Hold{Dep: "net", Standing: ApplyCancelled}, "depends on net, whose apply was cancelled"},
		{Hold{Dep: "net", Standing: OutputsChanged}, "was planned before net, which it depends on, changed or removed outputs (net is applied now), so its plan may rest on the old ones"},
		{Hold{Dep: "net", Standing: Coming}, ""},
		{Hold{}, ""},
	}
	for _, tt := range tests {
		if got := tt.h.Why(); got != tt.want {
			t.Errorf("%+v: Why = %q, want %q", tt.h, got, tt.want)
		}
		if blocks := tt.want != ""; tt.h.Blocks() != blocks {
			t.Errorf("%+v: Blocks = %v, want %v", tt.h, tt.h.Blocks(), blocks)
		}
	}
	if got := ApplyFirst("net"); !strings.Contains(got, "apply `net` first, or add `-p net`") {
		t.Errorf("ApplyFirst = %q", got)
	}
}
