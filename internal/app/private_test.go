package app

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestServeKeepsItsFilesPrivate starts a real server, with no umask to
// help, on a data dir an earlier version left 0755 holding a 0644 API
// token, and a plan key file other users may read. Everything the server
// keeps is then readable by its user only, the loose plan key file is
// warned about, and what was tightened is said.
func TestServeKeepsItsFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(data, APITokenFile)
	if err := os.WriteFile(token, []byte("an-api-token-of-an-earlier-start\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "plan.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_DATA_DIR": data, "SLUICE_LISTEN": "127.0.0.1:0", "SLUICE_PLAN_KEY_FILE": keyFile}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}

	var logs testkit.SyncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Listening: func(string) { close(listening) }})
	}()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("Serve: %v\n%s", err, logs.String())
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	want := map[string]os.FileMode{data: 0o700, token: 0o600}
	for _, f := range []string{"sluice.db", "sluice.db-wal", "sluice.db-shm"} {
		want[filepath.Join(data, f)] = 0o600
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s is mode %04o, want %04o", path, fi.Mode().Perm(), mode)
		}
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s in the data dir is mode %04o: open to other users", e.Name(), fi.Mode().Perm())
		}
	}
	log := logs.String()
	for _, w := range []string{
		"SLUICE_PLAN_KEY_FILE=" + keyFile + ": the file is mode 0644, so other users of this machine may read the secret it holds",
		`"the data dir was open to other users; made it private" path=` + data + " was=0755 now=0700",
		`"the generated secret was open to other users; made it private" path=` + token + " was=0644 now=0600",
	} {
		if !strings.Contains(log, w) {
			t.Errorf("the log does not say %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "an-api-token-of-an-earlier-start") {
		t.Errorf("the API token is in the log:\n%s", log)
	}
}
