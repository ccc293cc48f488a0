package render

import "testing"

func TestChecklist(t *testing.T) {
	approvals := GateItem{Name: "approvals", OK: true, Detail: "1 of 1 needed: bob"}
	threads := GateItem{Name: "threads resolved", Detail: "2 unresolved"}
	tests := []struct {
		name   string
		gates  []Gate
		merged bool
		want   string
	}{
		{name: "nothing to apply", want: ""},
		{
			name:  "one project",
			gates: []Gate{{Project: "dev", Items: []GateItem{approvals, threads}, Notes: []string{"sluice.yaml may not turn off \"checks\" on this server"}}},
			want: "#### Before apply\n" +
				"- [x] approvals — 1 of 1 needed: bob\n" +
				"- [ ] threads resolved — 2 unresolved\n" +
				"- note: sluice.yaml may not turn off \"checks\" on this server\n" +
				"\nComment `sluice help` for the commands.\n",
		},
		{
			name:   "several projects, merged",
			gates:  []Gate{{Project: "dev", Items: []GateItem{approvals}}, {Project: "p`rod", Items: []GateItem{threads}}},
			merged: true,
			want: "#### Before apply\n" +
				"\n`dev`:\n- [x] approvals — 1 of 1 needed: bob\n" +
				"\n`prod`:\n- [ ] threads resolved — 2 unresolved\n" +
				"\nMerged, not applied: what to do is at the top of this comment.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checklist(tt.gates, tt.merged); got != tt.want {
				t.Errorf("Checklist() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
