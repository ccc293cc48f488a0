package app

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/engine/terraform"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestConfinementRefusesToExposeSecrets: a server whose engines could
// read one of its secret files (here the token file, in a directory the
// operator let engines read, and the data directory under a write path)
// does not start, and says which file and what to do.
func TestConfinementRefusesToExposeSecrets(t *testing.T) {
	testkit.NeedSandbox(t, engine.SandboxSupport)
	etc := t.TempDir()
	token := filepath.Join(etc, "gitea.token")
	if err := os.WriteFile(token, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	drivers := []engine.SandboxPaths{terraform.New("terraform", "terraform")}
	log := slog.New(slog.DiscardHandler)
	for name, cfg := range map[string]*config.Config{
		"a read path holds a token file":  {DataDir: t.TempDir()},
		"a write path holds the database": {DataDir: data},
	} {
		cfg.GiteaTokenFile = token
		cfg.EngineSandbox = config.SandboxAuto
		if strings.Contains(name, "read") {
			cfg.EngineRead = []string{etc}
		} else {
			cfg.EngineWrite = []string{filepath.Dir(data)}
		}
		_, err := confinement(cfg, drivers, log)
		want := token
		if strings.Contains(name, "database") {
			want = filepath.Join(data, "sluice.db")
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "move these files") {
			t.Errorf("%s: err = %v, want one naming %s", name, err, want)
		}
	}

	// Without those paths it starts, confined, and says so: also where an
	// engine is not installed, and from the data directory.
	var buf bytes.Buffer
	drivers = append(drivers, terraform.New("opentofu", "tofu-not-installed-here"))
	t.Chdir(data)
	cfg := &config.Config{DataDir: data}
	cfg.GiteaTokenFile, cfg.EngineSandbox = token, config.SandboxRequired
	conf, err := confinement(cfg, drivers, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil || !conf.Sandbox || !strings.Contains(buf.String(), "engines are confined") {
		t.Errorf("confinement: %+v, %v\n%s", conf, err, buf.String())
	}
}

// TestConfinementOff: engine-sandbox=off runs engines unconfined, with a
// warning that says what that means.
func TestConfinementOff(t *testing.T) {
	var buf bytes.Buffer
	cfg := &config.Config{DataDir: t.TempDir()}
	cfg.EngineSandbox = config.SandboxOff
	conf, err := confinement(cfg, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil || conf.Sandbox || !strings.Contains(buf.String(), "can read any file this server can") {
		t.Errorf("confinement: %+v, %v\n%s", conf, err, buf.String())
	}
}
