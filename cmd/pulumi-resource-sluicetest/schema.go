package main

import "encoding/json"

const (
	pkgName       = "sluicetest"
	pkgVersion    = "0.1.0"
	clusterType   = "sluicetest:index:Cluster"
	nodeGroupType = "sluicetest:index:NodeGroup"
)

// replaceKeys are the inputs whose change replaces a resource.
var replaceKeys = map[string][]string{
	clusterType:   {"name"},
	nodeGroupType: {"cluster", "name", "instanceType"},
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
func integer(desc string) map[string]any {
	return map[string]any{"type": "integer", "description": desc}
}

func secret(p map[string]any) map[string]any { p["secret"] = true; return p }

// schema is the package schema the YAML language host type-checks
// programs against.
func schema() ([]byte, error) {
	clusterIn := map[string]any{
		"name":       str("The cluster's name; changing it replaces the cluster."),
		"adminToken": secret(str("A token kept with the cluster, always secret.")),
	}
	clusterOut := map[string]any{"endpoint": str("The cluster's API endpoint.")}
	for k, v := range clusterIn {
		clusterOut[k] = v
	}
	ngIn := map[string]any{
		"cluster":      str("The name of the cluster the node group belongs to; changing it replaces the node group."),
		"name":         str("The node group's name; changing it replaces the node group."),
		"desiredSize":  integer("How many nodes the group runs."),
		"minSize":      integer("The fewest nodes the group may scale to."),
		"maxSize":      integer("The most nodes the group may scale to."),
		"instanceType": str("The nodes' instance type; changing it replaces the node group."),
	}
	ngOut := map[string]any{
		"arn":    str("The node group's identifier."),
		"status": str("ACTIVE once created."),
	}
	for k, v := range ngIn {
		ngOut[k] = v
	}
	s := map[string]any{
		"name":    pkgName,
		"version": pkgVersion,
		"config": map[string]any{
			"variables": map[string]any{"stateFile": str("The JSON file the provider keeps its resources in.")},
		},
		"provider": map[string]any{
			"inputProperties": map[string]any{"stateFile": str("The JSON file the provider keeps its resources in.")},
		},
		"resources": map[string]any{
			clusterType: map[string]any{
				"description":     "A cluster, kept in the provider's state file.",
				"inputProperties": clusterIn,
				"requiredInputs":  []string{"name"},
				"properties":      clusterOut,
				"required":        []string{"name", "endpoint"},
			},
			nodeGroupType: map[string]any{
				"description":     "A cluster's node group, kept in the provider's state file.",
				"inputProperties": ngIn,
				"requiredInputs":  []string{"cluster", "name", "desiredSize", "minSize", "maxSize"},
				"properties":      ngOut,
				"required":        []string{"cluster", "name", "desiredSize", "minSize", "maxSize", "instanceType", "arn", "status"},
			},
		},
	}
	return json.Marshal(s)
}
