package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sluicehq/sluice/internal/forge"
)

// setting is one configuration setting.
type setting struct {
	// name is the flag name and the config file key.
	name string
	// typ is the value's type as --help shows it: string, int or duration.
	typ string
	// def is the default as text; deflt computes it when def is "".
	def   string
	deflt func(getenv func(string) string) string
	// secret settings never appear in messages or summaries.
	secret bool
	help   string
	// parse validates the value and stores it in c, returning a problem
	// (without the value) or "". Settings without parse are handled after
	// the others (secrets and their files).
	parse func(c *Config, s string) string
}

// configSetting is --config, the file the other settings may come from.
func configSetting() setting {
	return setting{name: "config", typ: "string", help: "YAML file of settings keyed by these flags' names, e.g. max-concurrent-runs: 4"}
}

// settings returns every setting but --config, in the order of
// docs/server.md and of Redacted.
func settings() []setting {
	return append([]setting{
		{name: "listen", typ: "string", def: ":8080",
			help:  "address the HTTP server listens on, host:port",
			parse: text(func(c *Config) *string { return &c.Listen }, checkListen)},
		{name: "data-dir", typ: "string", deflt: defaultDataDir,
			help:  "directory of the SQLite database, workspaces and plugin cache (default $XDG_DATA_HOME/sluice, else ~/.local/share/sluice)",
			parse: text(func(c *Config) *string { return &c.DataDir }, checkDataDir)},
		{name: "database-url", typ: "string",
			help:  "empty for SQLite in the data dir (one server), postgres://user@host/db for PostgreSQL (several replicas), or sqlite:///abs/path.db",
			parse: text(func(c *Config) *string { return &c.DatabaseURL }, checkDatabaseURL)},
		{name: "plan-key", typ: "string", secret: true,
			help: "base64 of the 32-byte key that encrypts stored plans; required with PostgreSQL, generated into the data dir (plan.key) for SQLite when unset (prefer --plan-key-file: arguments are visible to other users)"},
		{name: "plan-key-file", typ: "string",
			help: "file holding the plan key"},
		{name: "api-token", typ: "string", secret: true,
			help: "bearer token of the JSON API and the CLI client commands (prefer --api-token-file)"},
		{name: "api-token-file", typ: "string",
			help: "file holding the API token"},
		{name: "max-concurrent-runs", typ: "int", def: "2",
			help:  "plans and applies this instance runs at once",
			parse: atLeastOne(func(c *Config) *int { return &c.MaxConcurrentRuns })},
		{name: "max-projects-per-mr", typ: "int", def: "50",
			help:  "most projects one merge request may plan at once; past it nothing is planned and the merge request is told to split, or to name projects with sluice plan -p",
			parse: atLeastOne(func(c *Config) *int { return &c.MaxProjectsPerMR })},
		{name: "shutdown-timeout", typ: "duration", def: "5m",
			help:  "on SIGTERM, how long running plans and applies may finish before they are interrupted",
			parse: duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{name: "engine-grace", typ: "duration", def: "30s",
			help:  "how long an engine has after SIGINT (to release its state lock) before it is killed",
			parse: duration(func(c *Config) *time.Duration { return &c.EngineGrace })},
		{name: "lock-timeout", typ: "duration", def: "0s",
			help:  "how long a plan or apply waits for a state lock another run holds (terraform's -lock-timeout); 0s fails at once",
			parse: durationOrZero(func(c *Config) *time.Duration { return &c.LockTimeout })},
		{name: "heartbeat-interval", typ: "duration", def: "10s",
			help:  "how often this instance reports alive; an instance unseen for 3 intervals is dead and its runs are interrupted",
			parse: duration(func(c *Config) *time.Duration { return &c.HeartbeatInterval })},
		{name: "event-retention", typ: "duration", def: "720h",
			help:  "how long processed webhook and API events are kept (a replay of a delivery is known for a duplicate that long); 0s keeps them for ever",
			parse: durationOrZero(func(c *Config) *time.Duration { return &c.EventRetention })},
		{name: "log-format", typ: "string", def: "json",
			help:  "log format: json or text",
			parse: text(func(c *Config) *string { return &c.LogFormat }, oneOf("json", "text"))},
		{name: "log-level", typ: "string", def: "info",
			help:  "log level: debug, info, warn or error",
			parse: text(func(c *Config) *string { return &c.LogLevel }, oneOf("debug", "info", "warn", "error"))},
		{name: "terraform-bin", typ: "string", def: "terraform",
			help:  "terraform executable, a name on PATH or a path",
			parse: text(func(c *Config) *string { return &c.TerraformBin }, notEmpty)},
		{name: "tofu-bin", typ: "string", def: "tofu",
			help:  "tofu executable, a name on PATH or a path",
			parse: text(func(c *Config) *string { return &c.TofuBin }, notEmpty)},
		{name: "pulumi-bin", typ: "string", def: "pulumi",
			help:  "pulumi executable, a name on PATH or a path; its backend, passphrase or access token and cloud credentials come from the server's environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, PULUMI_ACCESS_TOKEN)",
			parse: text(func(c *Config) *string { return &c.PulumiBin }, notEmpty)},
		{name: "repos", typ: "string",
			help:  "repositories this server works on, comma-separated: FORGE:OWNER/NAME for a forge's repository (gitea:org/infra, github:org/infra, gitlab:group/infra), or NAME=CLONE_URL for a plain git repository driven through the API; events for any other repository are refused",
			parse: parseRepos},
		{name: "instance-name", typ: "string", deflt: defaultInstanceName,
			help:  "name of this instance among the replicas sharing a database (default hostname-pid-random)",
			parse: text(func(c *Config) *string { return &c.InstanceName }, checkInstanceName)},
	}, append(engineSettings(), forgeSettings()...)...)
}

// text parses a string setting: check returns a problem or "".
func text(field func(*Config) *string, check func(string) string) func(*Config, string) string {
	return func(c *Config, s string) string {
		if msg := check(s); msg != "" {
			return msg
		}
		*field(c) = s
		return ""
	}
}

func duration(field func(*Config) *time.Duration) func(*Config, string) string {
	return func(c *Config, s string) string {
		d, err := time.ParseDuration(s)
		if err != nil {
			return "not a duration; write a number with a unit, e.g. 30s, 5m or 1h30m"
		}
		if d <= 0 {
			return "must be longer than 0; write e.g. 30s, 5m or 1h30m"
		}
		*field(c) = d
		return ""
	}
}

// durationOrZero is duration that also takes 0.
func durationOrZero(field func(*Config) *time.Duration) func(*Config, string) string {
	return func(c *Config, s string) string {
		d, err := time.ParseDuration(s)
		if err != nil {
			return "not a duration; write a number with a unit, e.g. 0s, 30s or 5m"
		}
		if d < 0 {
			return "must not be negative; write 0s, or e.g. 30s or 5m"
		}
		*field(c) = d
		return ""
	}
}

// parseRepos reads the repositories, separated by commas: FORGE:PATH for
// a repository on a configured forge (gitea:org/infra), or NAME=URL for a
// plain git repository driven through the API.
func parseRepos(c *Config, s string) string {
	c.Repos = map[string]string{}
	c.ForgeRepos = nil
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		if id, ok := forge.ParseRepoID(pair); ok && !strings.Contains(pair, "=") {
			if !slices.Contains([]string{"gitea", "github", "gitlab"}, id.Forge) || !strings.Contains(id.Path, "/") {
				return fmt.Sprintf("%q is not FORGE:OWNER/NAME (forge gitea, github or gitlab) nor NAME=CLONE_URL", pair)
			}
			c.ForgeRepos = append(c.ForgeRepos, pair)
			continue
		}
		name, u, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(u) == "" || strings.Contains(name, ":") {
			return fmt.Sprintf("%q is not NAME=CLONE_URL (a name without ':') nor FORGE:OWNER/NAME; write e.g. infra=https://git.example.com/org/infra.git or gitlab:group/infra", pair)
		}
		if _, dup := c.Repos[name]; dup {
			return fmt.Sprintf("repository %q is listed twice", name)
		}
		c.Repos[strings.TrimSpace(name)] = strings.TrimSpace(u)
	}
	return ""
}

// atLeastOne parses a whole-number setting of at least 1.
func atLeastOne(field func(*Config) *int) func(*Config, string) string {
	return func(c *Config, s string) string {
		n, err := strconv.Atoi(s)
		if err != nil {
			return "not a number; set a whole number ≥ 1"
		}
		if n < 1 {
			return "must be at least 1; set a whole number ≥ 1"
		}
		*field(c) = n
		return ""
	}
}

func oneOf(allowed ...string) func(string) string {
	return func(s string) string {
		for _, a := range allowed {
			if s == a {
				return ""
			}
		}
		return "unknown; use " + strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	}
}

func notEmpty(s string) string {
	if s == "" {
		return "empty; name an executable on PATH or give its path"
	}
	return ""
}

func checkListen(s string) string {
	const hint = "write host:port or :port, e.g. :8080 or 127.0.0.1:8080"
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "not an address; " + hint
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "the port is not a number from 0 to 65535; " + hint
	}
	return ""
}

func defaultDataDir(getenv func(string) string) string {
	// The XDG base directory specification ignores relative paths.
	if d := getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sluice")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "sluice")
	}
	return ""
}

func checkDataDir(s string) string {
	switch {
	case s == "":
		return "no directory; set --data-dir or SLUICE_DATA_DIR (the default needs XDG_DATA_HOME or HOME)"
	case strings.HasPrefix(s, "~"):
		return "~ is not expanded here; write the full path"
	}
	return ""
}

func checkDatabaseURL(s string) string {
	const hint = "use postgres://user@host/db, postgresql://… or sqlite:///absolute/path.db, or leave it empty for SQLite in the data dir"
	if s == "" {
		return ""
	}
	// The parse error is not shown: it quotes the URL, password and all.
	u, err := url.Parse(s)
	if err != nil {
		return "not a URL; " + hint
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return ""
	case "sqlite":
		if u.Host != "" || !path.IsAbs(u.Path) || path.Clean(u.Path) == "/" {
			return "a sqlite URL names an absolute file path: sqlite:///absolute/path.db (three slashes)"
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "a sqlite URL takes no ?options or #fragment; Sluice sets the database options itself"
		}
		return ""
	case "":
		return "no scheme; " + hint
	}
	return fmt.Sprintf("unknown scheme %q; %s", u.Scheme, hint)
}

func defaultInstanceName(func(string) string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "sluice"
	}
	if len(host) > 64 {
		host = host[:64] // an instance name is at most maxInstanceName bytes
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strings.ToLower(rand.Text()[:6]))
}

func checkInstanceName(s string) string {
	switch {
	case s == "":
		return "empty; name this instance, or unset it for the default hostname-pid-random"
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "contains spaces or control characters; use letters, digits, dots and dashes"
	case len(s) > maxInstanceName:
		return fmt.Sprintf("is %d bytes long; use at most %d (the job queue names its workers by it)", len(s), maxInstanceName)
	}
	return ""
}

// maxInstanceName is the longest instance name: River's client ids, which
// are instance names, may not be longer.
const maxInstanceName = 100

// loadSecret resolves a secret given either directly (key) or as a file
// (file) into dst. Messages name the sources, never the secret. A file
// other users may read adds a warning to warn.
func loadSecret(dst *string, key, file value, check func(string) string, required bool, missing string, warn *[]string) []string {
	keySet, fileSet := strings.TrimSpace(key.raw) != "", file.raw != ""
	switch {
	case keySet && fileSet:
		return []string{fmt.Sprintf("%s and %s=%s are both set; keep one", key.where, file.where, show(file.raw))}
	case fileSet:
		s, err := readSecretFile(file.raw)
		if err != nil {
			return []string{fmt.Sprintf("%s=%s: %v", file.where, show(file.raw), err)}
		}
		if msg := check(s); msg != "" {
			return []string{fmt.Sprintf("%s=%s: %s", file.where, show(file.raw), msg)}
		}
		if w := openToOthers(file.where, file.raw); w != "" {
			*warn = append(*warn, w)
		}
		*dst = s
	case keySet:
		s := strings.TrimSpace(key.raw)
		if msg := check(s); msg != "" {
			return []string{key.where + ": " + msg}
		}
		*dst = s
	case required:
		return []string{missing}
	}
	return nil
}

// maxSecretFile bounds what is read of a key or token file, in case it names
// the wrong file (or /dev/urandom).
const maxSecretFile = 64 << 10

// readSecretFile returns a file's content without surrounding whitespace.
// Its errors never contain the content.
func readSecretFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("cannot read: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read: %w", err)
	}
	if len(b) > maxSecretFile {
		return "", errors.New("larger than 64 KiB; is it the right file?")
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New("the file is empty")
	}
	return s, nil
}

// openToOthers returns a warning when the file at path, which holds a
// secret, may be read or written by its group or other users, or "".
// A warning, not a refusal: Kubernetes and Docker mount secrets 0644 by
// default, and a directory may still keep others out; the operator
// decides, told what to run.
func openToOthers(where, path string) string {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("%s=%s: the file is mode %04o, so other users of this machine may read the secret it holds; "+
		"make it private: chmod 600 %s (in Kubernetes, give the secret volume defaultMode: 0400)",
		where, show(path), fi.Mode().Perm(), show(path))
}

func checkPlanKey(s string) string {
	if _, err := decodeKey(s); err != nil {
		return err.Error()
	}
	return ""
}

// minTokenLen is the shortest API token or webhook secret accepted: a
// shorter one can be guessed.
const minTokenLen = 16

// tooShort returns a problem when a token or secret is shorter than
// minTokenLen, or "".
func tooShort(s string) string {
	if len(s) < minTokenLen {
		return fmt.Sprintf("too short to be safe (fewer than %d characters); generate one with: head -c 32 /dev/urandom | base64", minTokenLen)
	}
	return ""
}

func checkToken(s string) string {
	switch {
	case tooShort(s) != "":
		return tooShort(s)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "contains spaces or control characters, which an Authorization header cannot carry"
	}
	return ""
}

const missingPlanKey = "no plan key: the server stores plans encrypted and will not start without one; " +
	"generate one with: head -c 32 /dev/urandom | base64 > plan.key, " +
	"then set --plan-key-file, SLUICE_PLAN_KEY_FILE or plan-key-file in the config file " +
	"(or the key itself: --plan-key, SLUICE_PLAN_KEY)"
