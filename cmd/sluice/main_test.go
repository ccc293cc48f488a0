package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunPrintsTheErrorOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"plan", "--format", "yaml"}, func(string) string { return "" }, &stdout, &stderr)
	if err == nil {
		t.Fatal("want an error for an unknown format")
	}
	if got := strings.Count(stderr.String(), "unknown --format"); got != 1 {
		t.Errorf("stderr has the error %d times:\n%s", got, stderr.String())
	}
}

func TestRunVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "sluice ") || stderr.Len() != 0 {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
