package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestStoreMissingFileIsEmpty(t *testing.T) {
	s := &store{path: filepath.Join(t.TempDir(), "sub", "cloud.json")}
	var n int
	if err := s.view(func(c *contents) { n = len(c.Clusters) + len(c.NodeGroups) }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a missing file holds %d resources", n)
	}
	if _, err := os.Stat(s.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("view wrote the file: %v", err)
	}
}

func TestStoreEditAndView(t *testing.T) {
	s := &store{path: filepath.Join(t.TempDir(), "cloud.json")}
	ng := nodeGroup{Cluster: "demo", Name: "workers", DesiredSize: 3, MinSize: 1, MaxSize: 4, InstanceType: "t3.medium"}
	steps := []struct {
		name     string
		edit     func(c *contents) error
		clusters map[string]cluster
		groups   map[string]nodeGroup
	}{
		{
			name: "create",
			edit: func(c *contents) error {
				c.Clusters["demo-1"] = cluster{Name: "demo"}
				c.NodeGroups["workers-1"] = ng
				return nil
			},
			clusters: map[string]cluster{"demo-1": {Name: "demo"}},
			groups:   map[string]nodeGroup{"workers-1": ng},
		},
		{
			name: "a failed edit writes nothing",
			edit: func(c *contents) error {
				delete(c.Clusters, "demo-1")
				return errors.New("no")
			},
			clusters: map[string]cluster{"demo-1": {Name: "demo"}},
			groups:   map[string]nodeGroup{"workers-1": ng},
		},
		{
			name: "update",
			edit: func(c *contents) error {
				g := c.NodeGroups["workers-1"]
				g.DesiredSize = 2
				c.NodeGroups["workers-1"] = g
				return nil
			},
			clusters: map[string]cluster{"demo-1": {Name: "demo"}},
			groups: map[string]nodeGroup{"workers-1": {
				Cluster: "demo", Name: "workers", DesiredSize: 2, MinSize: 1, MaxSize: 4, InstanceType: "t3.medium",
			}},
		},
		{
			name: "delete",
			edit: func(c *contents) error {
				delete(c.Clusters, "demo-1")
				delete(c.NodeGroups, "workers-1")
				return nil
			},
			clusters: map[string]cluster{},
			groups:   map[string]nodeGroup{},
		},
	}
	for _, st := range steps {
		_ = s.edit(st.edit)
		var got *contents
		if err := s.view(func(c *contents) { got = c }); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !equalMaps(got.Clusters, st.clusters) || !equalMaps(got.NodeGroups, st.groups) {
			t.Errorf("%s: got %+v, want clusters %+v and node groups %+v", st.name, got, st.clusters, st.groups)
		}
	}
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// Concurrent edits, as from the providers of parallel applies, lose none.
func TestStoreConcurrentEdits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.json")
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := &store{path: path} // each its own lock file descriptor, as separate processes
			id, err := newID("c")
			if err == nil {
				err = s.edit(func(c *contents) error {
					c.Clusters[id] = cluster{Name: "c"}
					return nil
				})
			}
			if err != nil {
				t.Errorf("edit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var got int
	if err := (&store{path: path}).view(func(c *contents) { got = len(c.Clusters) }); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("%d clusters after %d concurrent creates", got, n)
	}
}

func TestStoreCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &store{path: path}
	err := s.view(func(*contents) {})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "fix or delete it") {
		t.Errorf("view of a corrupt file: %v", err)
	}
	if err := s.edit(func(*contents) error { return nil }); err == nil {
		t.Error("edit of a corrupt file succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Errorf("the corrupt file was overwritten: %q", b)
	}
}

func TestNewID(t *testing.T) {
	a, err := newID("workers")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newID("workers")
	if !strings.HasPrefix(a, "workers-") || len(a) != len("workers-")+8 || a == b {
		t.Errorf("ids %q and %q", a, b)
	}
}
