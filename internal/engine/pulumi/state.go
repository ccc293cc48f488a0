package pulumi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/repofs"
	"github.com/sluicehq/sluice/internal/safename"
)

// ErrPendingOperations means an interrupted update left operations whose
// outcome Pulumi does not know; a person must check and clear them.
var ErrPendingOperations = errors.New("stack has pending operations from an interrupted update")

// stackState is what Sluice needs to know of a stack's state.
type stackState struct {
	// fingerprint identifies the state's resources and pending
	// operations: any update, refresh or import changes it.
	fingerprint string
	pending     []pendingOp
}

type pendingOp struct {
	Type string // creating, updating, deleting, reading, importing
	URN  string
}

// inspect reads the stack's state with `stack export`. Its output is the
// whole state (secrets encrypted): it is never logged.
func (s *session) inspect(ctx context.Context) (stackState, error) {
	res, err := s.run(ctx, quiet, nil, nil, "stack", "export")
	if err != nil {
		return stackState{}, err
	}
	st, err := parseExport([]byte(res.out.Stdout))
	if err != nil {
		return stackState{}, fmt.Errorf("project %s: reading the state of stack %s: %w", s.project, s.stack, err)
	}
	return st, nil
}

func parseExport(b []byte) (stackState, error) {
	var x struct {
		Deployment struct {
			Resources any `json:"resources"`
			Pending   []struct {
				Resource struct {
					URN string `json:"urn"`
				} `json:"resource"`
				Type string `json:"type"`
			} `json:"pending_operations"`
		} `json:"deployment"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return stackState{}, err
	}
	var st stackState
	for _, p := range x.Deployment.Pending {
		st.pending = append(st.pending, pendingOp{Type: p.Type, URN: p.Resource.URN})
	}
	// Marshalling the decoded values is canonical: map keys sorted, the
	// numbers as they were written.
	canon, err := json.Marshal([]any{x.Deployment.Resources, st.pending})
	if err != nil {
		return stackState{}, err
	}
	sum := sha256.Sum256(canon)
	st.fingerprint = hex.EncodeToString(sum[:])
	return st, nil
}

// configSecrets returns the literal values of the stack's secret
// configuration. The command's output holds them: it is never logged.
func (s *session) configSecrets(ctx context.Context) ([]string, error) {
	if !s.mayHaveSecrets() {
		return nil, nil
	}
	res, err := s.run(ctx, quiet, nil, nil, "config", "--show-secrets", "--json")
	if err != nil {
		return nil, err
	}
	var cfg map[string]struct {
		Value       *string `json:"value"`
		ObjectValue any     `json:"objectValue"`
		Secret      bool    `json:"secret"`
	}
	if err := json.Unmarshal([]byte(res.out.Stdout), &cfg); err != nil {
		return nil, fmt.Errorf("project %s: reading the configuration of stack %s: %w", s.project, s.stack, err)
	}
	seen := map[string]bool{}
	for _, v := range cfg {
		if !v.Secret {
			continue
		}
		if v.Value != nil && *v.Value != "" {
			seen[*v.Value] = true
		}
		engine.CollectStrings(v.ObjectValue, seen)
	}
	secrets := make([]string, 0, len(seen))
	for v := range seen {
		secrets = append(secrets, v)
	}
	sort.Strings(secrets)
	return secrets, nil
}

// mayHaveSecrets reports whether the stack's configuration may hold
// secrets: false only when its settings file exists and has neither a
// secure value nor an environment (Pulumi ESC) to take some from. Reading
// the secrets costs a decryption, which is slow with a passphrase.
func (s *session) mayHaveSecrets() bool {
	for _, ext := range []string{".yaml", ".yml"} {
		b, err := s.readFile("Pulumi." + stackName(s.stack) + ext)
		if err == nil {
			return bytes.Contains(b, []byte("secure:")) || bytes.Contains(b, []byte("environment:"))
		}
	}
	return true
}

// pendingError is the refusal to work on a stack with pending operations,
// with the commands that clear them.
func (s *session) pendingError(ctx context.Context, command string, st stackState) error {
	n := len(st.pending)
	lines := []string{fmt.Sprintf("Stack %s has %d pending %s left by an interrupted update:", s.stack, n, plural(n, "operation"))}
	creates := false
	for _, op := range st.pending {
		lines = append(lines, "  "+op.Type+" "+op.URN)
		creates = creates || op.Type == "creating" || op.Type == "importing"
	}
	lines = append(lines,
		"Pulumi does not know whether they completed. Check those resources in the cloud, then clear the",
		"pending operations in the project's directory, with the stack's backend and credentials:")
	locks, err := s.locks(ctx)
	switch {
	case err != nil || locks == nil:
		lines = append(lines, fmt.Sprintf("  pulumi cancel --stack %s --yes    # if the stack is still locked by the interrupted update", s.stack))
	case len(locks) > 0:
		lines = append(lines, fmt.Sprintf("  pulumi cancel --stack %s --yes    # releases the lock the interrupted update left (%s)", s.stack, locks[0].Path))
	}
	if creates {
		lines = append(lines,
			fmt.Sprintf("  pulumi refresh --stack %s --clear-pending-creates --yes    # if the pending creates created nothing", s.stack),
			fmt.Sprintf("  pulumi refresh --stack %s --yes --import-pending-creates URN --import-pending-creates ID    # to keep one that was created, by its cloud id", s.stack))
	} else {
		lines = append(lines, fmt.Sprintf("  pulumi refresh --stack %s --yes    # reads the resources back and clears the pending operations", s.stack))
	}
	lines = append(lines, "Sluice does not clear them itself. Plan again once they are cleared.")
	return &engine.RunError{
		Project: s.project,
		Command: command,
		Lines:   lines,
		Err:     fmt.Errorf("stack %s: %w", s.stack, ErrPendingOperations),
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// lock is a lock file a self-managed (file://) backend keeps while an
// operation runs on the stack.
type lock struct {
	Path     string    `json:"-"`
	PID      int       `json:"pid"`
	Username string    `json:"username"`
	Hostname string    `json:"hostname"`
	Time     time.Time `json:"timestamp"`
}

func (l lock) String() string {
	return fmt.Sprintf("%s held by %s@%s (pid %d) since %s", l.Path, l.Username, l.Hostname, l.PID, l.Time.UTC().Format(time.RFC3339))
}

// locks lists the stack's lock files when its backend is a local
// directory (file://). It returns nil, without error, when the backend is
// elsewhere: its locks cannot be seen from here.
func (s *session) locks(ctx context.Context) ([]lock, error) {
	root, err := s.backendDir(ctx)
	if err != nil || root == "" {
		return nil, err
	}
	project, stack, err := s.names()
	if err != nil {
		return nil, err
	}
	locks := []lock{}
	base := filepath.Join(root, ".pulumi", "locks")
	var files []string
	for _, pattern := range []string{
		filepath.Join(base, "*", project, stack, "*.json"), // project-scoped stacks: locks/ORG/PROJECT/STACK
		filepath.Join(base, stack, "*.json"),               // the legacy layout: locks/STACK
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	for _, f := range files {
		l := lock{Path: f}
		// In the backend's directory, which engines may write: a link
		// there is not followed.
		if b, err := engine.ReadRegular(f, 64<<10); err == nil {
			_ = json.Unmarshal(b, &l)
		}
		locks = append(locks, l)
	}
	return locks, nil
}

// backendDir is the directory of a file:// backend, or "" for any other
// backend.
func (s *session) backendDir(ctx context.Context) (string, error) {
	u := s.getenv("PULUMI_BACKEND_URL")
	if u == "" {
		u = s.projectFile().Backend.URL
	}
	if u == "" {
		res, err := s.runPlain(ctx, "whoami", "--json")
		if err != nil {
			return "", err
		}
		var who struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal([]byte(res.out.Stdout), &who); err != nil {
			return "", fmt.Errorf("reading pulumi whoami: %w", err)
		}
		u = who.URL
	}
	dir, err := fileBackend(u, engine.HomeDir(s.env))
	if err != nil || dir == "" {
		return "", err
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.dir, dir)
	}
	return dir, nil
}

// fileBackend is the directory of a file:// backend URL (relative when the
// URL is; ~ is home), or "" for any other backend.
func fileBackend(u, home string) (string, error) {
	if !strings.HasPrefix(u, "file://") {
		return "", nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("reading the backend URL %q: %w", u, err)
	}
	dir := p.Path
	if p.Host == "~" {
		if home == "" {
			return "", fmt.Errorf("the backend URL %q names the home directory, and HOME is not set", u)
		}
		dir = filepath.Join(home, dir)
	} else if p.Host != "" {
		dir = p.Host + dir // file://relative/path
	}
	return dir, nil
}

// runPlain runs a pulumi command that takes no stack.
func (s *session) runPlain(ctx context.Context, args ...string) (result, error) {
	c := engine.Command{Path: s.bin, Args: append(args, "--non-interactive", "--color=never"), Dir: s.dir, Env: s.env, Grace: s.d.Grace, Sandbox: s.sandbox(engine.Paths{})}
	out, err := c.Run(ctx)
	if err != nil {
		return result{out: out}, &engine.RunError{Project: s.project, Command: "pulumi " + args[0], Lines: errorLines(out, nil, nil), Err: err}
	}
	return result{out: out}, nil
}

type projectFile struct {
	Name    string `yaml:"name"`
	Backend struct {
		URL string `yaml:"url"`
	} `yaml:"backend"`
}

// projectFile reads the project's Pulumi.yaml; a missing or unreadable
// one is empty: pulumi itself reports it.
func (s *session) projectFile() projectFile {
	var pf projectFile
	for _, name := range []string{"Pulumi.yaml", "Pulumi.yml"} {
		if b, err := s.readFile(name); err == nil {
			_ = yaml.Unmarshal(b, &pf)
			break
		}
	}
	return pf
}

// readFile reads a file of the project's directory as Sluice reads
// repository files (repofs.ReadFile): following links only inside the
// repository, a regular file of at most 1 MiB. A Pulumi.yaml that links
// to /proc/self/environ is not read, whatever pulumi then does with it.
func (s *session) readFile(name string) ([]byte, error) {
	root := s.root
	rel, err := filepath.Rel(root, filepath.Join(s.dir, name))
	if err != nil || repofs.Outside(filepath.ToSlash(rel)) {
		return nil, fmt.Errorf("%s is not inside the repository %s", name, root)
	}
	return repofs.ReadFile(os.DirFS(root), filepath.ToSlash(rel))
}

// stackFileName is the name Pulumi gives the stack's settings file: the
// project file's, Pulumi.yaml or Pulumi.yml, with the stack's own name
// before the extension.
func (s *session) stackFileName() string {
	ext := ".yaml"
	if _, err := os.Stat(filepath.Join(s.dir, "Pulumi.yaml")); err != nil {
		if _, err := os.Stat(filepath.Join(s.dir, "Pulumi.yml")); err == nil {
			ext = ".yml"
		}
	}
	return "Pulumi." + stackName(s.stack) + ext
}

// stackName is the stack's own name; the stack may be written
// ORG/PROJECT/STACK.
func stackName(stack string) string {
	return stack[strings.LastIndex(stack, "/")+1:]
}

// names are the project and the stack's own name.
func (s *session) names() (project, stack string, err error) {
	stack = stackName(s.stack)
	if parts := strings.Split(s.stack, "/"); len(parts) == 3 {
		return parts[1], stack, nil
	}
	project = s.projectFile().Name
	if project == "" {
		return "", "", fmt.Errorf("project %s: no project name in %s/Pulumi.yaml", s.project, s.dir)
	}
	// It names directories the locks are looked for in.
	if err := safename.Stack(project); err != nil || strings.Contains(project, "/") {
		return "", "", fmt.Errorf("project %s: the name %q in %s/Pulumi.yaml is not a Pulumi project name (letters, digits, '-', '_' and '.')", s.project, project, s.dir)
	}
	return project, stack, nil
}

// ProbeLock reports what an interrupted update left on the stack (its
// lock file, when the backend is a local directory, and its pending
// operations), or "" when there is nothing. It changes nothing.
func (d *Driver) ProbeLock(ctx context.Context, req engine.ProbeRequest) (string, error) {
	s, err := d.session(req.Where())
	if err != nil {
		return "", err
	}
	defer s.close()
	st, err := s.inspect(ctx)
	if isNoStack(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	locks, err := s.locks(ctx)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, l := range locks {
		parts = append(parts, "lock "+l.String())
	}
	if n := len(st.pending); n > 0 {
		ops := make([]string, n)
		for i, op := range st.pending {
			ops[i] = op.Type + " " + op.URN
		}
		parts = append(parts, fmt.Sprintf("%d pending %s: %s", n, plural(n, "operation"), strings.Join(ops, ", ")))
	}
	return strings.Join(parts, "; "), nil
}
