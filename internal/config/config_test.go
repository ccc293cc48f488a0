package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/engine"
)

// Secrets used in the tests; none may ever appear in an error or summary.
var (
	goodKey   = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789ABCDEF"))
	shortKey  = base64.StdEncoding.EncodeToString([]byte("SHORTKEY16bytes!"))
	goodToken = "tok-Zq8sW3vLmP0aXr7Y"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// baseEnv is a minimal valid environment.
func baseEnv() map[string]string {
	return map[string]string{"HOME": "/home/op", "SLUICE_PLAN_KEY": goodKey}
}

// flags returns a bound flag set parsed from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	new(Config).Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return fs
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return ce.Problems
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, envOf(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:            ":8080",
		DataDir:           "/home/op/.local/share/sluice",
		PlanKey:           goodKey,
		MaxConcurrentRuns: 2,
		MaxProjectsPerMR:  50,
		ShutdownTimeout:   5 * time.Minute,
		EngineGrace:       30 * time.Second,
		HeartbeatInterval: 10 * time.Second,
		EventRetention:    30 * 24 * time.Hour,
		LogFormat:         "json",
		LogLevel:          "info",
		TerraformBin:      "terraform",
		TofuBin:           "tofu",
		InstanceName:      c.InstanceName,
		Repos:             map[string]string{},
	}
	want.GitLabURL, want.MinApprovals, want.PulumiBin = "https://gitlab.com", 1, "pulumi"
	want.EngineSandbox, want.EngineEnv = "auto", engine.DefaultEnv
	want.EngineRead = []string{"/home/op/.aws", "/home/op/.azure", "/home/op/.config/gcloud", "/home/op/.kube"}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %#v\nwant %#v", *c, want)
	}
	host, _ := os.Hostname()
	if !strings.HasPrefix(c.InstanceName, fmt.Sprintf("%s-%d-", host, os.Getpid())) {
		t.Errorf("InstanceName = %q, want hostname-pid-random", c.InstanceName)
	}
	if c2, _ := Load(nil, envOf(baseEnv())); c2.InstanceName == c.InstanceName {
		t.Errorf("two loads gave the same instance name %q", c.InstanceName)
	}
	if driver, dsn := c.Database(); driver != "sqlite" || dsn != "/home/op/.local/share/sluice/sluice.db" {
		t.Errorf("Database() = %q, %q", driver, dsn)
	}
	key, err := c.PlanKeyBytes()
	if err != nil || string(key) != "0123456789abcdef0123456789ABCDEF" {
		t.Errorf("PlanKeyBytes() = %q, %v", key, err)
	}
}

func TestDataDirDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/op"}, "/xdg/sluice"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "rel", "HOME": "/home/op"}, "/home/op/.local/share/sluice"},
		{"home", map[string]string{"HOME": "/home/op"}, "/home/op/.local/share/sluice"},
		{"explicit wins", map[string]string{"XDG_DATA_HOME": "/xdg", "SLUICE_DATA_DIR": "/srv/sluice"}, "/srv/sluice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["SLUICE_PLAN_KEY"] = goodKey
			c, err := Load(nil, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tt.want {
				t.Errorf("DataDir = %q, want %q", c.DataDir, tt.want)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "sluice.yaml", "listen: :1001\nmax-concurrent-runs: 4\nshutdown-timeout: 1m\nlog-level: debug\n")
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*Config) string
	}{
		{"file over default", nil, nil, func(c *Config) string {
			return fmt.Sprintf("%s %d %s %s %s", c.Listen, c.MaxConcurrentRuns, c.ShutdownTimeout, c.LogLevel, c.LogFormat)
		}},
		{"env over file", nil, map[string]string{"SLUICE_LISTEN": ":1002", "SLUICE_MAX_CONCURRENT_RUNS": "5"}, func(c *Config) string {
			return fmt.Sprintf("%s %d %s %s %s", c.Listen, c.MaxConcurrentRuns, c.ShutdownTimeout, c.LogLevel, c.LogFormat)
		}},
		{"flag over env", []string{"--listen=:1003", "--shutdown-timeout", "2m"}, map[string]string{"SLUICE_LISTEN": ":1002", "SLUICE_SHUTDOWN_TIMEOUT": "3m"}, func(c *Config) string {
			return fmt.Sprintf("%s %d %s %s %s", c.Listen, c.MaxConcurrentRuns, c.ShutdownTimeout, c.LogLevel, c.LogFormat)
		}},
		{"empty env is unset", nil, map[string]string{"SLUICE_LISTEN": ""}, func(c *Config) string { return c.Listen }},
		{"unchanged flag does not count", []string{}, map[string]string{"SLUICE_TOFU_BIN": "/opt/tofu"}, func(c *Config) string { return c.TofuBin }},
	}
	want := []string{
		":1001 4 1m0s debug json",
		":1002 5 1m0s debug json",
		":1003 4 2m0s debug json",
		":1001",
		"/opt/tofu",
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv()
			env["SLUICE_CONFIG"] = file
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := Load(flags(t, tt.args...), envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.check(c); got != want[i] {
				t.Errorf("got %q, want %q", got, want[i])
			}
			if c.ConfigFile != file {
				t.Errorf("ConfigFile = %q, want %q", c.ConfigFile, file)
			}
		})
	}
}

func TestConfigFlagOverEnv(t *testing.T) {
	a := writeFile(t, "a.yaml", "listen: :1111\n")
	b := writeFile(t, "b.yaml", "listen: :2222\n")
	env := baseEnv()
	env["SLUICE_CONFIG"] = a
	c, err := Load(flags(t, "--config", b), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":2222" {
		t.Errorf("Listen = %q, want the --config file's :2222", c.Listen)
	}
}

func TestInvalid(t *testing.T) {
	dir := t.TempDir()
	keyFile16 := writeFile(t, "short.key", shortKey+"\n")
	// A webhook secret anyone could guess lets anyone sign deliveries.
	shortHook := writeFile(t, "hook", "x\n")
	gitea := []string{"--gitea-url", "https://gitea.example.com", "--gitea-token", "tok"}
	tests := []struct {
		name string
		args []string
		env  map[string]string // added to baseEnv; "" deletes
		want string
	}{
		{"webhook secret file too short", append([]string{"--webhook-secret-file", shortHook}, gitea...), nil,
			"--webhook-secret-file=" + shortHook + ": too short to be safe (fewer than 16 characters)"},
		{"webhook secret flag too short", append([]string{"--webhook-secret", "fifteen-chars15"}, gitea...), nil,
			"--webhook-secret: too short to be safe (fewer than 16 characters)"},
		{"webhook secret variable too short", gitea, map[string]string{"SLUICE_WEBHOOK_SECRET": "a"},
			"SLUICE_WEBHOOK_SECRET: too short to be safe (fewer than 16 characters)"},
		{"runs not a number", nil, map[string]string{"SLUICE_MAX_CONCURRENT_RUNS": "zero"},
			"SLUICE_MAX_CONCURRENT_RUNS=zero: not a number; set a whole number ≥ 1"},
		{"runs zero", []string{"--max-concurrent-runs=0"}, nil,
			"--max-concurrent-runs=0: must be at least 1"},
		{"projects per merge request zero", []string{"--max-projects-per-mr=0"}, nil,
			"--max-projects-per-mr=0: must be at least 1"},
		{"short key", []string{"--plan-key", shortKey}, map[string]string{"SLUICE_PLAN_KEY": ""},
			"--plan-key: not base64 of 32 bytes (got 16); generate one with: head -c 32 /dev/urandom | base64"},
		{"key not base64", nil, map[string]string{"SLUICE_PLAN_KEY": "not*base64!"},
			"SLUICE_PLAN_KEY: not base64 of 32 bytes (not base64 at all)"},
		{"short key in file", nil, map[string]string{"SLUICE_PLAN_KEY": "", "SLUICE_PLAN_KEY_FILE": keyFile16},
			"SLUICE_PLAN_KEY_FILE=" + keyFile16 + ": not base64 of 32 bytes (got 16)"},
		{"repos not pairs", []string{"--repos", "infra=file:///r,broken"}, nil,
			`--repos=infra=file:///r,broken: "broken" is not NAME=CLONE_URL`},
		{"key and key file", []string{"--plan-key-file=/k"}, nil,
			"SLUICE_PLAN_KEY and --plan-key-file=/k are both set; keep one"},
		{"unreadable key file", nil, map[string]string{"SLUICE_PLAN_KEY": "", "SLUICE_PLAN_KEY_FILE": dir + "/nope"},
			"SLUICE_PLAN_KEY_FILE=" + dir + "/nope: cannot read: open " + dir + "/nope: no such file or directory"},
		{"empty key file", nil, map[string]string{"SLUICE_PLAN_KEY": "", "SLUICE_PLAN_KEY_FILE": writeFile(t, "empty", " \n")},
			"the file is empty"},
		{"token and token file", nil, map[string]string{"SLUICE_API_TOKEN": goodToken, "SLUICE_API_TOKEN_FILE": "/t"},
			"SLUICE_API_TOKEN and SLUICE_API_TOKEN_FILE=/t are both set; keep one"},
		{"short token", []string{"--api-token=hunter2"}, nil,
			"--api-token: too short to be safe"},
		{"unreadable token file", []string{"--api-token-file", dir}, nil,
			"--api-token-file=" + dir + ": cannot read: read " + dir + ": is a directory"},
		{"listen no port", []string{"--listen=localhost"}, nil,
			"--listen=localhost: not an address; write host:port or :port, e.g. :8080 or 127.0.0.1:8080"},
		{"listen bad port", nil, map[string]string{"SLUICE_LISTEN": ":http-alt"},
			"SLUICE_LISTEN=:http-alt: the port is not a number from 0 to 65535"},
		{"database scheme", nil, map[string]string{"SLUICE_DATABASE_URL": "mysql://u@h/db"},
			`SLUICE_DATABASE_URL=mysql://u@h/db: unknown scheme "mysql"; use postgres://`},
		{"database no scheme", nil, map[string]string{"SLUICE_DATABASE_URL": "/var/lib/sluice.db"},
			`SLUICE_DATABASE_URL="(hidden: not a scheme://… URL)": no scheme`},
		{"sqlite relative", nil, map[string]string{"SLUICE_DATABASE_URL": "sqlite://data/sluice.db"},
			"a sqlite URL names an absolute file path: sqlite:///absolute/path.db (three slashes)"},
		{"sqlite options", nil, map[string]string{"SLUICE_DATABASE_URL": "sqlite:///x.db?mode=ro"},
			"a sqlite URL takes no ?options"},
		{"duration", nil, map[string]string{"SLUICE_SHUTDOWN_TIMEOUT": "300"},
			"SLUICE_SHUTDOWN_TIMEOUT=300: not a duration; write a number with a unit, e.g. 30s, 5m or 1h30m"},
		{"negative duration", []string{"--engine-grace=-1s"}, nil,
			"--engine-grace=-1s: must be longer than 0"},
		{"negative lock timeout", []string{"--lock-timeout=-5s"}, nil,
			"--lock-timeout=-5s: must not be negative"},
		{"lock timeout not a duration", nil, map[string]string{"SLUICE_LOCK_TIMEOUT": "5"},
			"SLUICE_LOCK_TIMEOUT=5: not a duration"},
		{"zero heartbeat", nil, map[string]string{"SLUICE_HEARTBEAT_INTERVAL": "0s"},
			"SLUICE_HEARTBEAT_INTERVAL=0s: must be longer than 0"},
		{"log format", nil, map[string]string{"SLUICE_LOG_FORMAT": "logfmt"},
			"SLUICE_LOG_FORMAT=logfmt: unknown; use json or text"},
		{"log level", []string{"--log-level=trace"}, nil,
			"--log-level=trace: unknown; use debug, info, warn or error"},
		{"empty bin", []string{"--tofu-bin="}, nil,
			`--tofu-bin="": empty; name an executable on PATH or give its path`},
		{"tilde data dir", nil, map[string]string{"SLUICE_DATA_DIR": "~/sluice"},
			"SLUICE_DATA_DIR=~/sluice: ~ is not expanded here; write the full path"},
		{"no data dir", nil, map[string]string{"HOME": ""},
			`data-dir (default)="": no directory; set --data-dir or SLUICE_DATA_DIR`},
		{"instance name", []string{"--instance-name", "a b"}, nil,
			`--instance-name="a b": contains spaces or control characters`},
		{"long instance name", []string{"--instance-name", strings.Repeat("x", 101)}, nil,
			"is 101 bytes long; use at most 100"},
		{"missing config file", nil, map[string]string{"SLUICE_CONFIG": dir + "/sluice.yaml"},
			"SLUICE_CONFIG=" + dir + "/sluice.yaml: cannot read the config file: open " + dir + "/sluice.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := Load(flags(t, tt.args...), envOf(env))
			if err == nil {
				t.Fatalf("Load succeeded; want a problem containing %q", tt.want)
			}
			p := problems(t, err)
			if len(p) != 1 || !strings.Contains(p[0], tt.want) {
				t.Errorf("problems:\n  %s\nwant one containing %q", strings.Join(p, "\n  "), tt.want)
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	env := map[string]string{
		"HOME":                       "/home/op",
		"SLUICE_MAX_CONCURRENT_RUNS": "zero",
		"SLUICE_LOG_LEVEL":           "loud",
		"SLUICE_API_TOKEN":           "short",
	}
	_, err := Load(flags(t, "--listen=nowhere", "--engine-grace=soon"), envOf(env))
	p := problems(t, err)
	for _, want := range []string{"--listen=nowhere", "SLUICE_MAX_CONCURRENT_RUNS=zero", "--engine-grace=soon", "SLUICE_LOG_LEVEL=loud", "SLUICE_API_TOKEN: too short"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if len(p) != 5 {
		t.Errorf("%d problems, want 5:\n%v", len(p), err)
	}
	if !strings.HasPrefix(err.Error(), "server configuration has 5 problems:\n") {
		t.Errorf("error starts %q", err.Error()[:40])
	}
}

func TestSecretFiles(t *testing.T) {
	keyFile := writeFile(t, "plan.key", "\n"+goodKey+"\n")
	tokenFile := writeFile(t, "token", goodToken+"\n")
	env := map[string]string{"HOME": "/h", "SLUICE_PLAN_KEY_FILE": keyFile}
	c, err := Load(flags(t, "--api-token-file", tokenFile), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.PlanKey != goodKey || c.PlanKeyFile != keyFile || c.APIToken != goodToken || c.APITokenFile != tokenFile {
		t.Errorf("got key file %q token file %q; key and token loaded: %v %v",
			c.PlanKeyFile, c.APITokenFile, c.PlanKey == goodKey, c.APIToken == goodToken)
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // problems, with FILE for the file's path
	}{
		{"valid", "# server\nlisten: \"127.0.0.1:9000\"\nmax-concurrent-runs: 4\nplan-key: " + goodKey + "\n", nil},
		{"empty", "", nil},
		{"unknown keys", "listen: :9000\nmax-concurent-runs: 4\nmax_concurrent_runs: 4\nfoo: bar\n", []string{
			`FILE:2: unknown key "max-concurent-runs"; did you mean max-concurrent-runs?`,
			`FILE:3: unknown key "max_concurrent_runs"; did you mean max-concurrent-runs?`,
			`FILE:4: unknown key "foo"; the keys are the flag names of sluice serve --help`,
		}},
		{"bad value located", "log-level: info\n\nmax-concurrent-runs: lots\n", []string{
			"FILE:3: max-concurrent-runs=lots: not a number; set a whole number ≥ 1",
		}},
		{"secret value hidden", "plan-key: " + shortKey + "\n", []string{
			"FILE:1: plan-key: not base64 of 32 bytes (got 16); generate one with: head -c 32 /dev/urandom | base64",
		}},
		{"duplicate", "listen: :1\nlisten: :2\n", []string{"FILE:2: listen is set again (first on line 1); keep one"}},
		{"list", "listen:\n  - :1\n", []string{"FILE:2: listen takes a single value, not a list or mapping"}},
		{"null", "listen:\n", []string{"FILE:1: listen has no value; give one or remove the line"}},
		{"config in config", "config: other.yaml\n", []string{"FILE:1: config cannot be set in the config file; use --config or SLUICE_CONFIG"}},
		{"not a mapping", "- listen\n", []string{`FILE:1: the file must be a mapping of settings`}},
		{"syntax", "listen: :1\n  bad: [\n", []string{"FILE:2: not valid YAML: "}},
		{"two documents", "listen: :1\n---\nlisten: :2\n", []string{"FILE:2: a second YAML document starts here"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "sluice.yaml", tt.content)
			env := map[string]string{"HOME": "/h", "SLUICE_CONFIG": file}
			if !strings.Contains(tt.content, "plan-key") {
				env["SLUICE_PLAN_KEY"] = goodKey
			}
			_, err := Load(nil, envOf(env))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded")
			}
			p := problems(t, err)
			if len(p) != len(tt.want) {
				t.Fatalf("problems:\n  %s\nwant %d", strings.Join(p, "\n  "), len(tt.want))
			}
			for i, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", file); !strings.HasPrefix(p[i], w) {
					t.Errorf("problem %d = %q, want %q…", i, p[i], w)
				}
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func TestBindHelp(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	new(Config).Bind(fs)
	names := []string{"config"}
	for _, s := range settings() {
		names = append(names, s.name)
	}
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil {
			t.Errorf("no flag --%s", n)
			continue
		}
		if env := envName(n); !strings.Contains(f.Usage, "(env "+env+")") {
			t.Errorf("--%s help %q does not name %s", n, f.Usage, env)
		}
	}
	usage := fs.FlagUsages()
	for _, want := range []string{
		"--max-concurrent-runs int ", "(default 2)",
		"--shutdown-timeout duration ", "(default 5m)",
		`--listen string `, `(default ":8080")`,
		"SLUICE_PLAN_KEY_FILE",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
}

func TestRedacted(t *testing.T) {
	env := baseEnv()
	env["SLUICE_API_TOKEN"] = goodToken
	env["SLUICE_DATABASE_URL"] = "postgres://sluice:pgSecret99@db:5432/sluice?sslmode=require&password=pgSecret99"
	env["SLUICE_WEBHOOK_SECRET"] = "s3cret-webhook-value"
	env["SLUICE_GITHUB_APP_ID"] = "12345"
	env["SLUICE_GITHUB_APP_PRIVATE_KEY"] = appKeyPEM(t)
	env["SLUICE_GITHUB_APP_INSTALLATION_ID"] = "42"
	c, err := Load(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if r["plan-key"] != "set" || r["api-token"] != "set" || r["max-concurrent-runs"] != "2" || r["listen"] != ":8080" {
		t.Errorf("Redacted() = %v", r)
	}
	if r["github-app-private-key"] != "set" || r["github-app-id"] != "12345" || r["github-app-installation-id"] != "42" || r["webhook-secret"] != "set" {
		t.Errorf("Redacted() GitHub App = %q, %q, %q", r["github-app-id"], r["github-app-private-key"], r["github-app-installation-id"])
	}
	if got, want := r["database-url"], "postgres://sluice:xxxxx@db:5432/sluice?password=xxxxx&sslmode=require"; got != want {
		t.Errorf("database-url = %q, want %q", got, want)
	}
	if len(r) != len(settings())+1 {
		t.Errorf("Redacted has %d settings, want %d", len(r), len(settings())+1)
	}
	if r := (Config{}).Redacted(); r["plan-key"] != "unset" || r["api-token"] != "unset" || r["github-app-private-key"] != "unset" {
		t.Errorf("zero Config: %v", r)
	}

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("starting", "config", c, "ptr", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprint(*c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), fmt.Sprintf("%#v", c), logged.String(), fmt.Sprint(r)} {
		assertNoSecrets(t, s)
		assertNoAppKey(t, s)
		if strings.Contains(s, "pgSecret99") {
			t.Errorf("database password in %q", s)
		}
	}
	if !strings.Contains(logged.String(), `"plan-key":"set"`) {
		t.Errorf("log line lacks the redacted settings: %s", logged.String())
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u:p@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h/db?sslpassword=p", "postgres://h/db?sslpassword=xxxxx"},
		{"host=h password=p", "(hidden: not a scheme://… URL)"},
		{"pg:u:p@h", "(hidden: not a scheme://… URL)"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDatabase(t *testing.T) {
	tests := []struct{ url, driver, dsn string }{
		{"", "sqlite", "/data/sluice.db"},
		{"sqlite:///var/lib/s.db", "sqlite", "/var/lib/s.db"},
		{"postgres://u@h/db", "postgres", "postgres://u@h/db"},
		{"postgresql://u@h/db", "postgres", "postgresql://u@h/db"},
	}
	for _, tt := range tests {
		env := baseEnv()
		env["SLUICE_DATA_DIR"] = "/data"
		env["SLUICE_DATABASE_URL"] = tt.url
		c, err := Load(nil, envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if driver, dsn := c.Database(); driver != tt.driver || dsn != tt.dsn {
			t.Errorf("%q: Database() = %q, %q; want %q, %q", tt.url, driver, dsn, tt.driver, tt.dsn)
		}
	}
}

func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{goodKey, shortKey, goodToken, "hunter2", "fifteen-chars15"} {
		if strings.Contains(s, secret) {
			t.Errorf("secret %q in %q", secret, s)
		}
	}
	// The key's bytes in the clear, or a prefix of its base64, count too.
	for _, secret := range []string{"0123456789abcdef", "SHORTKEY", goodKey[:12], shortKey[:12]} {
		if strings.Contains(s, secret) {
			t.Errorf("secret fragment %q in %q", secret, s)
		}
	}
}

func TestLockTimeout(t *testing.T) {
	file := writeFile(t, "sluice.yaml", "lock-timeout: 1m\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default: fail at once", nil, nil, 0},
		{"file", nil, map[string]string{"SLUICE_CONFIG": file}, time.Minute},
		{"env over file", nil, map[string]string{"SLUICE_CONFIG": file, "SLUICE_LOCK_TIMEOUT": "90s"}, 90 * time.Second},
		{"flag over env", []string{"--lock-timeout", "0s"}, map[string]string{"SLUICE_LOCK_TIMEOUT": "90s"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := Load(flags(t, tt.args...), envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if c.LockTimeout != tt.want {
				t.Errorf("LockTimeout = %v, want %v", c.LockTimeout, tt.want)
			}
			if got := c.Redacted()["lock-timeout"]; got != tt.want.String() {
				t.Errorf("Redacted lock-timeout = %q", got)
			}
		})
	}
}

func TestForgeSettings(t *testing.T) {
	secret := writeFile(t, "hook", "s3cret-webhook-value\n")
	tests := []struct {
		name string
		args []string
		want string // a problem; "" for none
	}{
		{"forge without webhook secret", []string{"--gitea-url", "https://gitea.example.com", "--gitea-token", "tok"}, "no webhook secret"},
		{"gitea token without url", []string{"--gitea-token", "tok", "--webhook-secret-file", secret}, "gitea-url is not"},
		{"repo of an unconfigured forge", []string{"--repos", "github:org/infra"}, "no github token"},
		{"bad repo entry", []string{"--repos", "bitbucket:org/infra"}, "is not FORGE:OWNER/NAME"},
		{"bad relax", []string{"--repo-may-relax", "approvals"}, "not a check a repository may relax"},
		{"url with credentials", []string{"--gitea-url", "https://u:p@gitea.example.com"}, "must not hold credentials"},
		{"apply branch pattern", []string{"--apply-branches", "main,release/*"}, `"release/*" is not a branch name`},
		{"apply branch ref", []string{"--apply-branches", "refs/heads/main"}, "without refs/heads/"},
		{"complete", []string{"--gitea-url", "https://gitea.example.com", "--gitea-token", "tok", "--webhook-secret-file", secret,
			"--repos", "gitea:org/infra,plain=file:///srv/infra.git", "--repo-may-relax", "threads,draft", "--min-approvals", "2",
			"--apply-branches", "main, production,main"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(flags(t, tt.args...), envOf(baseEnv()))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.WebhookSecret != "s3cret-webhook-value" || len(c.ForgeRepos) != 1 || c.Repos["plain"] == "" || c.MinApprovals != 2 || len(c.RepoMayRelax) != 2 ||
					strings.Join(c.ApplyBranches, ",") != "main,production" {
					t.Errorf("config = %#v", c)
				}
				if strings.Contains(c.String(), "s3cret") || strings.Contains(c.String(), "tok ") {
					t.Errorf("a secret leaks into String(): %s", c.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// The GitHub App's test key, generated once: PKCS #1 PEM as GitHub hands
// it out.
var appKeyOnce = sync.OnceValues(func() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
})

func appKeyPEM(t *testing.T) string {
	t.Helper()
	b, err := appKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoAppKey: no line of the key's body, nor the start of any DER
// key in base64, in s.
func assertNoAppKey(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(appKeyPEM(t), "\n")
	for _, bad := range []string{lines[1], lines[5], "MII"} {
		if strings.Contains(s, bad) {
			t.Errorf("the App's private key (%q) in %q", bad, s)
		}
	}
}

func TestGitHubApp(t *testing.T) {
	secret := writeFile(t, "hook", "s3cret-webhook-value\n")
	keyFile := writeFile(t, "app.pem", appKeyPEM(t))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecFile := writeFile(t, "ec.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})))
	notPEM := writeFile(t, "token.txt", "ghp_not-a-key\n")
	missing := filepath.Join(t.TempDir(), "app.pem")
	oneLine := strings.ReplaceAll(strings.TrimSpace(appKeyPEM(t)), "\n", `\n`)

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // a problem; "" for none
		id   string
		inst int64
	}{
		{name: "key file", args: []string{"--github-app-id", "12345", "--github-app-private-key-file", keyFile}, id: "12345"},
		{name: "key in the environment, installation set", env: map[string]string{
			"SLUICE_GITHUB_APP_ID": "12345", "SLUICE_GITHUB_APP_PRIVATE_KEY": appKeyPEM(t), "SLUICE_GITHUB_APP_INSTALLATION_ID": "42"},
			id: "12345", inst: 42},
		{name: "key on one line with \\n", env: map[string]string{"SLUICE_GITHUB_APP_ID": "12345", "SLUICE_GITHUB_APP_PRIVATE_KEY": oneLine}, id: "12345"},
		{name: "client id", args: []string{"--github-app-id", "Iv1.ab1112223334445c", "--github-app-private-key-file", keyFile}, id: "Iv1.ab1112223334445c"},

		{name: "token and App", args: []string{"--github-token", "tok", "--github-app-id", "12345", "--github-app-private-key-file", keyFile},
			want: "--github-token and --github-app-id are both set: Sluice acts on GitHub either with a token or as a GitHub App; keep one"},
		{name: "token file and installation", args: []string{"--github-token-file", secret}, env: map[string]string{"SLUICE_GITHUB_APP_INSTALLATION_ID": "42"},
			want: "--github-token-file and SLUICE_GITHUB_APP_INSTALLATION_ID are both set"},
		{name: "App id without key", args: []string{"--github-app-id", "12345"},
			want: "--github-app-id is set but the App's private key is not: generate one on the GitHub App's settings page"},
		{name: "key without App id", env: map[string]string{"SLUICE_GITHUB_APP_PRIVATE_KEY_FILE": keyFile},
			want: "SLUICE_GITHUB_APP_PRIVATE_KEY_FILE is set but github-app-id is not: set --github-app-id"},
		{name: "key file unreadable", args: []string{"--github-app-id", "12345", "--github-app-private-key-file", missing},
			want: "--github-app-private-key-file=" + missing + ": cannot read: open " + missing + ": no such file or directory"},
		{name: "key file not a key", args: []string{"--github-app-id", "12345", "--github-app-private-key-file", notPEM},
			want: "--github-app-private-key-file=" + notPEM + ": not a PEM private key"},
		{name: "EC key", args: []string{"--github-app-id", "12345", "--github-app-private-key-file", ecFile},
			want: "not an RSA key: GitHub Apps sign with RSA"},
		{name: "key cut short", env: map[string]string{"SLUICE_GITHUB_APP_ID": "12345", "SLUICE_GITHUB_APP_PRIVATE_KEY": appKeyPEM(t)[:300] + "\n-----END RSA PRIVATE KEY-----\n"},
			want: "SLUICE_GITHUB_APP_PRIVATE_KEY: the RSA PRIVATE KEY block does not hold a valid RSA key"},
		{name: "key and key file", args: []string{"--github-app-id", "12345", "--github-app-private-key-file", keyFile},
			env:  map[string]string{"SLUICE_GITHUB_APP_PRIVATE_KEY": appKeyPEM(t)},
			want: "SLUICE_GITHUB_APP_PRIVATE_KEY and --github-app-private-key-file=" + keyFile + " are both set; keep one"},
		{name: "bad App id", args: []string{"--github-app-id", "my-app", "--github-app-private-key-file", keyFile},
			want: "--github-app-id=my-app: neither an App ID (a number) nor a Client ID"},
		{name: "bad installation", args: []string{"--github-app-id", "1", "--github-app-private-key-file", keyFile, "--github-app-installation-id", "0"},
			want: "--github-app-installation-id=0: not an installation id"},
		{name: "repo without token or App", args: []string{"--repos", "github:org/infra"},
			want: "no github token is configured (set --github-token-file, or --github-app-id and --github-app-private-key-file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			args := append([]string{"--webhook-secret-file", secret}, tt.args...)
			c, err := Load(flags(t, args...), envOf(env))
			if tt.want != "" {
				if err == nil {
					t.Fatalf("Load succeeded; want a problem containing %q", tt.want)
				}
				p := problems(t, err)
				if len(p) != 1 || !strings.Contains(p[0], tt.want) {
					t.Errorf("problems:\n  %s\nwant one containing %q", strings.Join(p, "\n  "), tt.want)
				}
				assertNoAppKey(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.GitHubAppID != tt.id || c.GitHubAppInstallationID != tt.inst || c.GitHubAppPrivateKey != strings.TrimSpace(appKeyPEM(t)) {
				t.Errorf("App %q, installation %d, key loaded %v", c.GitHubAppID, c.GitHubAppInstallationID, c.GitHubAppPrivateKey == strings.TrimSpace(appKeyPEM(t)))
			}
			if !slices.Contains(c.Forges(), "github") {
				t.Errorf("Forges() = %v, want github", c.Forges())
			}
			assertNoAppKey(t, c.String())
		})
	}
}

// A webhook secret of 16 characters, the least TestInvalid's cases
// allow, is accepted.
func TestWebhookSecretLength(t *testing.T) {
	forge := []string{"--gitea-url", "https://gitea.example.com", "--gitea-token", "tok"}
	c, err := Load(flags(t, append([]string{"--webhook-secret", "sixteen-chars-16"}, forge...)...), envOf(baseEnv()))
	if err != nil || c.WebhookSecret != "sixteen-chars-16" {
		t.Fatalf("a 16-character secret: %v", err)
	}
}

// Every file that holds a secret, and the config file when it sets one,
// is warned about when its group or other users may read it; a private
// one is not. The warning names the file and the fix, never the secret.
func TestSecretFilesOpenToOthers(t *testing.T) {
	open := func(name, content string) string {
		p := writeFile(t, name, content)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := open("plan.key", goodKey)
	tokenFile := open("api.token", goodToken)
	hookFile := open("hook", "s3cret-webhook-value")
	giteaFile := open("gitea.token", "gitea-tok-secret")
	gitlabFile := open("gitlab.token", "gitlab-tok-secret")
	appFile := open("app.pem", appKeyPEM(t))
	githubFile := open("github.token", "github-tok-secret")
	cfgFile := open("sluice.yaml", "webhook-secret: s3cret-in-the-file\n")
	group := writeFile(t, "group.token", "glab-group-secret")
	if err := os.Chmod(group, 0o640); err != nil {
		t.Fatal(err)
	}

	c, err := Load(flags(t, "--plan-key-file", keyFile, "--api-token-file", tokenFile, "--webhook-secret-file", hookFile,
		"--gitea-url", "https://gitea.example.com", "--gitea-token-file", giteaFile, "--gitlab-token-file", gitlabFile,
		"--github-app-id", "1", "--github-app-private-key-file", appFile), envOf(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{keyFile, tokenFile, hookFile, giteaFile, gitlabFile, appFile} {
		want := "=" + f + ": the file is mode 0644, so other users of this machine may read the secret it holds; make it private: chmod 600 " + f
		if !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("no warning %q in:\n  %s", want, strings.Join(c.Warnings, "\n  "))
		}
	}
	if len(c.Warnings) != 6 {
		t.Errorf("%d warnings, want 6:\n  %s", len(c.Warnings), strings.Join(c.Warnings, "\n  "))
	}

	c, err = Load(flags(t, "--github-token-file", githubFile, "--gitlab-token-file", group, "--config", cfgFile), envOf(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--github-token-file=" + githubFile + ": the file is mode 0644", "--gitlab-token-file=" + group + ": the file is mode 0640",
		"--config=" + cfgFile + ": the file is mode 0644"} {
		if !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("no warning starting %q in:\n  %s", want, strings.Join(c.Warnings, "\n  "))
		}
	}
	all := strings.Join(c.Warnings, "\n")
	for _, secret := range []string{"github-tok-secret", "glab-group-secret", "s3cret-in-the-file", goodKey, goodToken} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret in the warnings: %s", all)
		}
	}

	// Private files, and a config file that sets no secret, say nothing.
	for _, f := range []string{keyFile, tokenFile, hookFile, giteaFile} {
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plain := open("plain.yaml", "log-level: debug\n")
	c, err = Load(flags(t, "--plan-key-file", keyFile, "--api-token-file", tokenFile, "--webhook-secret-file", hookFile,
		"--gitea-url", "https://gitea.example.com", "--gitea-token-file", giteaFile, "--config", plain), envOf(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings for private files:\n  %s", strings.Join(c.Warnings, "\n  "))
	}
}
