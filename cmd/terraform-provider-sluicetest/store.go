package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// store keeps the provider's resources in a JSON file, as a cloud would
// keep them. Every access holds a lock on the file next to it, so
// concurrent plans and applies (and their providers) see whole states.
type store struct{ path string }

// contents is the whole file: the resources by id.
type contents struct {
	Clusters   map[string]cluster   `json:"clusters"`
	NodeGroups map[string]nodeGroup `json:"node_groups"`
}

type cluster struct {
	Name string `json:"name"`
}

type nodeGroup struct {
	Cluster      string `json:"cluster"`
	Name         string `json:"name"`
	DesiredSize  int64  `json:"desired_size"`
	MinSize      int64  `json:"min_size"`
	MaxSize      int64  `json:"max_size"`
	InstanceType string `json:"instance_type"`
}

// view runs f on the file's contents under a shared lock. A missing file
// is an empty cloud.
func (s *store) view(f func(c *contents)) error {
	unlock, err := s.lock(syscall.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.read()
	if err != nil {
		return err
	}
	f(c)
	return nil
}

// edit runs f on the file's contents under an exclusive lock and writes
// them back, whole, unless f fails.
func (s *store) edit(f func(c *contents) error) error {
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.read()
	if err != nil {
		return err
	}
	if err := f(c); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", s.path, err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

func (s *store) lock(how int) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the directory of the state file %s: %w", s.path, err)
	}
	f, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock of the state file %s: %w", s.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the state file %s: %w", s.path, err)
	}
	return func() { f.Close() }, nil
}

func (s *store) read() (*contents, error) {
	c := &contents{}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading the state file %s: %w", s.path, err)
	default:
		if err := json.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("reading the state file %s: %w (fix or delete it)", s.path, err)
		}
	}
	if c.Clusters == nil {
		c.Clusters = map[string]cluster{}
	}
	if c.NodeGroups == nil {
		c.NodeGroups = map[string]nodeGroup{}
	}
	return c, nil
}

// newID is a new resource id: the name and a random suffix, as clouds
// make them.
func newID(name string) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making an id: %w", err)
	}
	return name + "-" + hex.EncodeToString(b), nil
}
