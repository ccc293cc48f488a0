// Package config is the configuration of the Sluice server (sluice serve):
// command-line flags, SLUICE_* environment variables and a YAML file, in that
// order of precedence over the built-in defaults, validated all at once.
//
// Every setting has one name used three ways: the flag (--max-concurrent-runs),
// the environment variable (SLUICE_MAX_CONCURRENT_RUNS: the name upper-cased,
// "-" replaced by "_") and the config file key (max-concurrent-runs: 4).
// docs/server.md is the reference.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
)

// Config is the server's configuration.
type Config struct {
	// Listen is the HTTP address, host:port.
	Listen string
	// DataDir holds the SQLite database and the workspaces.
	DataDir string
	// DatabaseURL is "" for SQLite at DataDir/sluice.db, postgres:// or
	// postgresql:// for PostgreSQL, or sqlite:///abs/path.db. It may hold
	// a password: log Redacted, not the URL.
	DatabaseURL string
	// PlanKey is the base64 of the 32-byte AES-256 key that seals plan
	// artifacts; after Load it holds the key also when it came from
	// PlanKeyFile. Secret.
	PlanKey     string `json:"-"`
	PlanKeyFile string
	// APIToken is the bearer token of the JSON API and of the CLI client
	// commands; after Load it holds the token also when it came from
	// APITokenFile. Empty when none is configured. Secret.
	APIToken     string `json:"-"`
	APITokenFile string
	// MaxConcurrentRuns is how many runs this instance executes at once.
	MaxConcurrentRuns int
	// MaxProjectsPerMR is the most projects one merge request plans at
	// once; past it nothing is planned and the merge request is told why.
	MaxProjectsPerMR int
	// ShutdownTimeout is how long runs may finish after SIGTERM.
	ShutdownTimeout time.Duration
	// EngineGrace is how long an engine has after SIGINT before it is killed.
	EngineGrace time.Duration
	// LockTimeout is how long a plan or apply waits for a state lock held
	// by someone else (the engine's -lock-timeout); 0 fails at once.
	LockTimeout time.Duration
	// HeartbeatInterval is how often this instance reports alive; an instance
	// unseen for 3 intervals is dead.
	HeartbeatInterval time.Duration
	// EventRetention is how long a processed event is kept (and so how
	// long a replay of its delivery is known for a duplicate); 0 keeps
	// events for ever.
	EventRetention time.Duration
	LogFormat      string // json or text
	LogLevel       string // debug, info, warn or error
	TerraformBin   string
	TofuBin        string
	PulumiBin      string
	// Repos maps repository names to clone URLs: the repositories this
	// server works on.
	Repos map[string]string
	// InstanceName identifies this replica among those sharing a database.
	InstanceName string
	engineFields
	forgeConfig
	// ConfigFile is the YAML file the settings were read from, if any.
	ConfigFile string
	// Warnings are what Load found unsafe but not wrong enough to refuse
	// (a secret file other users may read), for the server to log at
	// start. They never contain a secret.
	Warnings []string `json:"-"`
}

// Database returns the database to open: driver "sqlite" with the database
// file's path, or "postgres" with the URL as configured.
func (c Config) Database() (driver, dsn string) {
	if c.DatabaseURL == "" {
		return "sqlite", filepath.Join(c.DataDir, "sluice.db")
	}
	u, err := url.Parse(c.DatabaseURL)
	if err == nil && u.Scheme == "sqlite" {
		return "sqlite", u.Path
	}
	return "postgres", c.DatabaseURL
}

// PlanKeyBytes returns the 32-byte plan key decoded from PlanKey.
func (c Config) PlanKeyBytes() ([]byte, error) {
	key, err := decodeKey(c.PlanKey)
	if err != nil {
		return nil, fmt.Errorf("decoding plan key: %w", err)
	}
	return key, nil
}

// decodeKey decodes a base64 (standard alphabet, padded or not) AES-256
// key. Its errors never contain the input.
func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("not base64 of 32 bytes (not base64 at all); " + keyHint)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("not base64 of 32 bytes (got %d); %s", len(key), keyHint)
	}
	return key, nil
}

const keyHint = "generate one with: head -c 32 /dev/urandom | base64"

// Error lists every problem Load found, each naming the setting, where it
// was set and what to do.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "server configuration: " + e.Problems[0]
	}
	return fmt.Sprintf("server configuration has %d problems:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Bind registers a flag for every setting, and --config, on fs. Each help
// text names the setting's environment variable. The flags only collect what
// was typed: Load reads them back from fs, applies the precedence and
// validates. c is not read or changed; call it on a zero Config.
func (c *Config) Bind(fs *pflag.FlagSet) {
	for _, s := range append(settings(), configSetting()) {
		fs.Var(&rawValue{val: s.def, typ: s.typ}, s.name, s.help+" (env "+envName(s.name)+")")
	}
}

// rawValue is a flag that keeps the text typed, so that Load validates flags
// like the other sources and reports every problem at once.
type rawValue struct{ val, typ string }

func (v *rawValue) String() string     { return v.val }
func (v *rawValue) Set(s string) error { v.val = s; return nil }
func (v *rawValue) Type() string       { return v.typ }

// envName is the environment variable of a setting.
func envName(name string) string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// value is a setting's raw text and where it came from.
type value struct {
	raw string
	// where names the source: "--listen", "SLUICE_LISTEN",
	// "/etc/sluice.yaml:3: listen" or "listen (default)".
	where  string
	origin origin
}

type origin int

const (
	fromDefault origin = iota
	fromFile
	fromEnv
	fromFlag
)

// Load resolves every setting from the flags on fs (those set on the command
// line, per fs.Changed), the environment read through getenv, the config file
// named by --config or SLUICE_CONFIG, and the defaults, in that order, and
// validates the result. It reports every problem at once as an *Error.
// fs may be nil.
func Load(fs *pflag.FlagSet, getenv func(string) string) (*Config, error) {
	var problems []string
	all := settings()

	var file map[string]value
	cfgFile := pick(configSetting(), fs, getenv, nil)
	if cfgFile.origin != fromDefault {
		var p []string
		file, p = readFile(cfgFile)
		problems = append(problems, p...)
	}

	c := &Config{ConfigFile: cfgFile.raw}
	vals := map[string]value{}
	secretInFile := false
	for _, s := range all {
		v := pick(s, fs, getenv, file)
		vals[s.name] = v
		secretInFile = secretInFile || s.secret && v.origin == fromFile
		if s.parse == nil {
			continue
		}
		if msg := s.parse(c, v.raw); msg != "" {
			problems = append(problems, describe(s, v)+": "+msg)
		}
	}
	if secretInFile {
		if w := openToOthers(cfgFile.where, cfgFile.raw); w != "" {
			c.Warnings = append(c.Warnings, w)
		}
	}
	problems = append(problems, loadSecret(&c.PlanKey, vals["plan-key"], vals["plan-key-file"], checkPlanKey, false, missingPlanKey, &c.Warnings)...)
	problems = append(problems, loadSecret(&c.APIToken, vals["api-token"], vals["api-token-file"], checkToken, false, "", &c.Warnings)...)
	c.PlanKeyFile = vals["plan-key-file"].raw
	c.APITokenFile = vals["api-token-file"].raw
	if len(problems) == 0 {
		problems = append(problems, loadForges(c, vals)...)
	}

	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// pick returns a setting's value from the highest-precedence source that
// sets it. An empty environment variable counts as unset.
func pick(s setting, fs *pflag.FlagSet, getenv func(string) string, file map[string]value) value {
	if fs != nil {
		if f := fs.Lookup(s.name); f != nil && f.Changed {
			return value{raw: f.Value.String(), where: "--" + s.name, origin: fromFlag}
		}
	}
	if v := getenv(envName(s.name)); v != "" {
		return value{raw: v, where: envName(s.name), origin: fromEnv}
	}
	if v, ok := file[s.name]; ok {
		return v
	}
	def := s.def
	if def == "" && s.deflt != nil {
		def = s.deflt(getenv)
	}
	return value{raw: def, where: s.name + " (default)", origin: fromDefault}
}

// describe names a value for a problem: its source and, unless the setting
// is secret, its text (a database URL's password masked).
func describe(s setting, v value) string {
	switch {
	case s.secret:
		return v.where
	case s.name == "database-url":
		return v.where + "=" + show(redactURL(v.raw))
	}
	return v.where + "=" + show(v.raw)
}

// show quotes s when it would otherwise be hard to read in a message.
func show(s string) string {
	odd := func(r rune) bool { return unicode.IsSpace(r) || r == '"' || !unicode.IsPrint(r) }
	if s == "" || strings.IndexFunc(s, odd) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
