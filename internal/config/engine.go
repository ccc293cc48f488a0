package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/engine"
)

// What the server lets engine processes have of its machine: which of its
// environment variables, and, in a sandbox, which paths (engine.Confinement).

// Sandbox modes (engine-sandbox).
const (
	// SandboxAuto confines engines when the kernel can, and says at start
	// when it cannot.
	SandboxAuto = "auto"
	// SandboxRequired refuses to start when the kernel cannot confine.
	SandboxRequired = "required"
	// SandboxOff never confines: engines read what the server can.
	SandboxOff = "off"
)

// defaultsWord in engine-env stands for engine.DefaultEnv.
const defaultsWord = "defaults"

func engineSettings() []setting {
	return []setting{
		{name: "engine-sandbox", typ: "string", def: SandboxAuto,
			help: "confine engine processes (Landlock) to the system's paths, the run's checkout and working data, the engine's own and engine-read/engine-write: " +
				"auto (when the kernel can, saying at start when it cannot), required (refuse to start without it) or off",
			parse: text(func(c *Config) *string { return &c.EngineSandbox }, oneOf(SandboxAuto, SandboxRequired, SandboxOff))},
		{name: "engine-env", typ: "string", def: defaultsWord,
			help: "the server's environment variables engines get, comma-separated: names, or NAME_* for a prefix; " +
				"'defaults' stands for the built-in list (PATH, HOME, locale, proxies, TF_*, PULUMI_*, the usual cloud credentials: see docs/server.md); " +
				"SLUICE_* and any value holding one of Sluice's secrets are never passed",
			parse: parseEngineEnv},
		{name: "engine-read", typ: "string", deflt: defaultEngineRead,
			help:  "paths engines may read in their sandbox beyond the system's and their own, comma-separated, absolute (default: the usual cloud credential files in HOME: .aws, .azure, .config/gcloud, .kube)",
			parse: paths(func(c *Config) *[]string { return &c.EngineRead })},
		{name: "engine-write", typ: "string",
			help:  "paths engines may read and write in their sandbox, comma-separated, absolute: a local backend's state directory, say",
			parse: paths(func(c *Config) *[]string { return &c.EngineWrite })},
	}
}

// engineFields are the Config fields of the engine settings.
type engineFields struct {
	// EngineSandbox is auto, required or off.
	EngineSandbox string
	// EngineEnv are the names (and NAME_* prefixes) of the variables of the
	// server's environment engines get.
	EngineEnv []string
	// EngineRead and EngineWrite are absolute paths engines may read, or
	// read and write, in their sandbox, beyond the system's and their own.
	EngineRead, EngineWrite []string
}

var envPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\*?$`)

func parseEngineEnv(c *Config, s string) string {
	c.EngineEnv = nil
	for _, p := range splitList(s) {
		switch {
		case p == defaultsWord:
			c.EngineEnv = append(c.EngineEnv, engine.DefaultEnv...)
		case !envPattern.MatchString(p):
			return fmt.Sprintf("%q is not a variable name or NAME_* prefix; write e.g. defaults,DATADOG_API_KEY,MYCLOUD_*", p)
		case strings.HasPrefix(strings.ToUpper(p), "SLUICE_") || strings.EqualFold(p, "SLUICE*"):
			return fmt.Sprintf("%q would pass Sluice's own settings (SLUICE_*), which hold its secrets: engines never get them", p)
		default:
			c.EngineEnv = append(c.EngineEnv, p)
		}
	}
	return ""
}

// paths parses a comma-separated list of absolute paths.
func paths(field func(*Config) *[]string) func(*Config, string) string {
	return func(c *Config, s string) string {
		var out []string
		for _, p := range splitList(s) {
			if !filepath.IsAbs(p) {
				return fmt.Sprintf("%q is not an absolute path; write the full path, e.g. /var/lib/tfstate", p)
			}
			out = append(out, filepath.Clean(p))
		}
		*field(c) = out
		return ""
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// defaultEngineRead are the usual cloud credential files in HOME.
func defaultEngineRead(getenv func(string) string) string {
	home := getenv("HOME")
	if !filepath.IsAbs(home) {
		return ""
	}
	var ps []string
	for _, p := range []string{".aws", ".azure", filepath.Join(".config", "gcloud"), ".kube"} {
		ps = append(ps, filepath.Join(home, p))
	}
	return strings.Join(ps, ",")
}

// Confinement is what engines get of the machine: environ is the server's
// environment (os.Environ()). It also names the variables left out for
// holding a secret of Sluice's, for a warning.
func (c Config) Confinement(environ []string, sandbox bool) (engine.Confinement, []string) {
	env, withheld := engine.Environ(environ, c.EngineEnv, c.Secrets())
	return engine.Confinement{Env: env, Sandbox: sandbox, Read: c.EngineRead, Write: c.EngineWrite}, withheld
}

// Secrets are the values of Sluice's own secrets: the plan key, the API
// token, the webhook secret, the forge tokens, the GitHub App's private
// key (whole, and each of its lines) and the database password. Nothing
// Sluice shows or stores may hold one, and no engine gets one.
func (c Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range []string{c.PlanKey, c.APIToken, c.WebhookSecret, c.GiteaToken, c.GitHubToken, c.GitLabToken, dbPassword(c.DatabaseURL)} {
		add(s)
	}
	if k := c.GitHubAppPrivateKey; k != "" {
		add(k)
		for _, l := range strings.Split(k, "\n") {
			if !strings.HasPrefix(l, "-----") && len(strings.TrimSpace(l)) >= 16 {
				add(l)
			}
		}
	}
	return out
}

// dbPassword is the password of a database URL, in its user info or in a
// password query parameter, or "".
func dbPassword(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	return u.Query().Get("password")
}
