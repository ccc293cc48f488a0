package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// store keeps the provider's resources in a JSON file, as a cloud would
// keep them, with plain values (secrets included: it is test data).
type store struct{ path string }

type record struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

type contents struct {
	Resources map[string]record `json:"resources"`
}

// edit runs f on the file's contents under an exclusive lock and writes
// them back when f reports a change.
func (s *store) edit(f func(c *contents) (bool, error)) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	lock, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening the state lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", s.path, err)
	}
	c := contents{Resources: map[string]record{}}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading %s: %w", s.path, err)
	default:
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("reading %s: %w", s.path, err)
		}
		if c.Resources == nil {
			c.Resources = map[string]record{}
		}
	}
	changed, err := f(&c)
	if err != nil || !changed {
		return err
	}
	b, err = json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return os.Rename(tmp, s.path)
}

func (s *store) get(id string) (record, bool, error) {
	var (
		r  record
		ok bool
	)
	err := s.edit(func(c *contents) (bool, error) {
		r, ok = c.Resources[id]
		return false, nil
	})
	return r, ok, err
}

func (s *store) put(id, typ string, props resource.PropertyMap) error {
	return s.edit(func(c *contents) (bool, error) {
		c.Resources[id] = record{Type: typ, Properties: plain(props)}
		return true, nil
	})
}

func (s *store) delete(id string) error {
	return s.edit(func(c *contents) (bool, error) {
		_, ok := c.Resources[id]
		delete(c.Resources, id)
		return ok, nil
	})
}

// plain is props as JSON values, secrets unwrapped.
func plain(props resource.PropertyMap) map[string]any {
	m := map[string]any{}
	for k, v := range props {
		if x := plainValue(v); x != nil {
			m[string(k)] = x
		}
	}
	return m
}

func plainValue(v resource.PropertyValue) any {
	v = unwrap(v)
	switch {
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsArray():
		var l []any
		for _, x := range v.ArrayValue() {
			l = append(l, plainValue(x))
		}
		return l
	case v.IsObject():
		return plain(v.ObjectValue())
	}
	return nil
}
