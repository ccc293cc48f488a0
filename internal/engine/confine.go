package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Confinement is what engine processes get of the machine Sluice runs on:
// which environment variables, and, in a sandbox, which paths. The server
// builds one from its settings; the zero value is what the local CLI
// gives: the process environment without Sluice's own settings, and no
// sandbox.
type Confinement struct {
	// Env is the environment engines start from, already reduced to what
	// they may have (see Environ). nil: the process environment without
	// Sluice's own variables (SLUICE_*).
	Env []string
	// Sandbox confines every engine process to the system's paths
	// (SystemRead, SystemWrite), the directories on its PATH, the paths of
	// the run (the checkout, the project's working data), the engine's own
	// (its binary, plugin directories) and Read and Write.
	Sandbox bool
	// Isolate runs every sandboxed engine in a PID namespace of its own
	// (IsolationSupport), so that nothing it starts outlives it.
	Isolate bool
	// Read and Write are what the operator lets engines read, or read and
	// write, beyond that: cloud credential files, a local backend's state.
	Read, Write []string
}

// Paths are what one engine run reaches beyond the system's: the run's
// and the engine's own.
type Paths struct {
	Read, Write []string
}

// SandboxPaths is implemented by engines whose processes need paths of
// their own beyond a run's (their binary's directory, plugin caches): the
// paths they would be given under c, whatever the run.
type SandboxPaths interface {
	SandboxPaths(c Confinement) Paths
}

// Environ is the environment engines start from under c.
func (c Confinement) Environ() []string {
	if c.Env != nil {
		return slices.Clip(c.Env)
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !sluiceOwn(k) {
			env = append(env, kv)
		}
	}
	return env
}

// SandboxFor is the sandbox of one engine process whose environment is env
// and that reaches p, or nil when c does not confine engines.
func (c Confinement) SandboxFor(env []string, p Paths) *Sandbox {
	if !c.Sandbox {
		return nil
	}
	r := c.Reach(env, p)
	r.Isolate = c.Isolate
	return &r
}

// Reach is everything an engine process whose environment is env and
// that reaches p may read (Read) and write (Write) under c.
func (c Confinement) Reach(env []string, p Paths) Sandbox {
	var s Sandbox
	s.Read = append(s.Read, SystemRead...)
	s.Read = append(s.Read, PathDirs(Getenv(env, "PATH"))...)
	s.Read = append(s.Read, c.Read...)
	s.Read = append(s.Read, p.Read...)
	s.Write = append(s.Write, SystemWrite...)
	s.Write = append(s.Write, c.Write...)
	s.Write = append(s.Write, p.Write...)
	return s
}

// Getenv is the value of key in env, the last one winning as for a
// process.
func Getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// HomeDir is the home directory env names, or "".
func HomeDir(env []string) string {
	if h := Getenv(env, "HOME"); filepath.IsAbs(h) {
		return h
	}
	return ""
}

// BinaryDir is the directory of an engine's binary, symbolic links
// resolved (a tool installed as a link into /usr/local/bin lives
// elsewhere), or "" when the binary is not found.
func BinaryDir(path string) string {
	if path == "" {
		return ""
	}
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	return filepath.Dir(path)
}

// DefaultEnv are the environment variables engines get from the server's
// environment unless the operator says otherwise: what a process needs
// to run (its PATH, home, locale, time zone, proxy and certificate
// settings), the engines' own settings (TF_*, including TF_VAR_* and
// TF_TOKEN_*; PULUMI_*), and the usual cloud credentials. NAME_* matches
// every name that starts with NAME_. Never among them, whatever the
// operator lists: Sluice's own (SLUICE_*), nor any variable whose value
// holds one of Sluice's secrets.
var DefaultEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"TF_*", "PULUMI_*",
	"AWS_*", "AZURE_*", "ARM_*", "GOOGLE_*", "GCLOUD_*", "CLOUDSDK_*",
	"DIGITALOCEAN_*", "HCLOUD_*", "OCI_*", "ALICLOUD_*", "CLOUDFLARE_*", "VAULT_*",
	"KUBECONFIG",
}

// Environ reduces environ to the variables whose names allow matches
// (names, or NAME_* for a prefix), never Sluice's own and never one whose
// value holds one of secrets. It returns the environment and the names it
// left out because of their values.
func Environ(environ, allow, secrets []string) (env, withheld []string) {
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || sluiceOwn(k) || !EnvAllowed(k, allow) {
			continue
		}
		if holdsSecret(v, secrets) {
			withheld = append(withheld, k)
			continue
		}
		env = append(env, kv)
	}
	return env, withheld
}

// EnvAllowed reports whether name matches one of patterns (names, or
// NAME_* for a prefix).
func EnvAllowed(name string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == p {
			return true
		}
	}
	return false
}

// sluiceOwn reports whether an environment variable is one of Sluice's own
// settings, which may hold its secrets (SLUICE_GITEA_TOKEN,
// SLUICE_DATABASE_URL): no engine gets them.
func sluiceOwn(name string) bool { return strings.HasPrefix(strings.ToUpper(name), "SLUICE_") }

// holdsSecret reports whether v is, or contains, one of secrets. Secrets
// shorter than 8 bytes (a short database password) count only as the
// whole value: as part of one they would match too much.
func holdsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		switch {
		case s == "":
		case len(s) < 8 && v == s:
			return true
		case len(s) >= 8 && strings.Contains(v, s):
			return true
		}
	}
	return false
}
