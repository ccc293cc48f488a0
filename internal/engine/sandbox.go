package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sandbox is what an engine process may reach of the file system. It may
// read and execute what is beneath Read, and read, write, create, remove
// and execute what is beneath Write; everything else is denied, /proc and
// /sys included, so the engine cannot open another process's environment,
// command line or open files (Sluice's own: its database, its plan key).
// Paths that do not exist are left out. The confinement holds for every
// process the engine starts (providers, provisioners, language hosts) and
// cannot be lifted by them.
//
// A sandbox confines the file system only: the network, and what the
// engine's environment holds, are not confined by it.
type Sandbox struct {
	Read  []string `json:"read,omitempty"`
	Write []string `json:"write,omitempty"`
	// Isolate runs the engine in a PID namespace of its own (see
	// IsolationSupport), so that nothing it starts outlives it.
	Isolate bool `json:"isolate,omitempty"`
}

var (
	// ErrNoSandbox: this machine cannot confine engine processes.
	ErrNoSandbox = errors.New("engine processes cannot be confined on this machine")
	// ErrNoIsolation: this machine cannot run engines in namespaces of
	// their own.
	ErrNoIsolation = errors.New("engine processes cannot be isolated on this machine")
)

// SystemRead are the system paths every engine may read: programs and
// libraries, and of /etc only what resolving names, checking TLS
// certificates and telling the time need. The rest of /etc is not: a
// server's secrets are often kept there.
var SystemRead = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/etc/ca-certificates.conf",
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
	"/etc/services", "/etc/protocols", "/etc/localtime", "/etc/timezone",
	"/etc/passwd", "/etc/group", "/etc/mime.types", "/etc/os-release",
	"/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
}

// SystemWrite are the system files every engine may write.
var SystemWrite = []string{"/dev/null"}

// Beneath reports whether path is one of roots or inside one, after
// resolving symbolic links in both as far as they exist. It is how Sluice
// tells, before it starts, whether a sandbox would let engines read one
// of its secret files.
func Beneath(path string, roots []string) (string, bool) {
	p := resolve(path)
	for _, r := range roots {
		if r == "" {
			continue // no path: reaches nothing (not the working directory)
		}
		rr := resolve(r)
		if p == rr || strings.HasPrefix(p, strings.TrimSuffix(rr, "/")+"/") {
			return r, true
		}
	}
	return "", false
}

// resolve is the absolute, cleaned path with its existing part's symbolic
// links resolved.
func resolve(p string) string {
	p, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// PathDirs are the absolute directories of a PATH value: the tools an
// engine runs by name are there. Relative entries (".", "") are left out.
func PathDirs(path string) []string {
	var dirs []string
	for _, d := range filepath.SplitList(path) {
		if filepath.IsAbs(d) && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// kind tells a directory from a file; ok is false when p does not exist.
func kind(p string) (dir, ok bool) {
	st, err := os.Stat(p)
	if err != nil {
		return false, false
	}
	return st.IsDir(), true
}

// SandboxHint is what to add to an engine's error lines when the engine
// ran in sb and was refused a file ("permission denied"): the sandbox may
// be why, and the operator's engine-read and engine-write are the remedy.
func SandboxHint(sb *Sandbox, out Output) []string {
	if sb == nil {
		return nil
	}
	text := strings.ToLower(out.Stdout + out.Stderr)
	if !strings.Contains(text, "permission denied") && !strings.Contains(text, "operation not permitted") {
		return nil
	}
	return []string{
		"sluice: the engine runs in a sandbox that lets it read and write only its checkout, its working data and what the server allows:",
		"sluice: a path it needs outside those (a local backend's state, a credentials file) must be in the server's engine-write or engine-read setting (docs/server.md, \"The sandbox\")",
	}
}
