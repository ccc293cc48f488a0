package giteatest

import (
	"encoding/base64"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/testkit"
)

// CloneURL is a repository's HTTP clone URL.
func (s *Server) CloneURL(repo string) string { return s.url + "/" + repo + ".git" }

// Git runs git in dir as the holder of token and returns its output. The
// token travels in an Authorization header set through http.extraHeader in
// git's environment: never in a URL, the arguments or a file.
func (s *Server) Git(t testing.TB, dir, token string, args ...string) string {
	t.Helper()
	return GitWithAuth(t, dir, "giteatest", token, args...)
}

// GitWithAuth runs git in dir with basic auth username:password on HTTP
// requests (through http.extraHeader in the environment) and a fixed
// identity, and returns its output.
func GitWithAuth(t testing.TB, dir, username, password string, args ...string) string {
	t.Helper()
	env := []string{"GIT_TERMINAL_PROMPT=0"}
	if password != "" {
		basic := base64.StdEncoding.EncodeToString([]byte(username + ":" + password))
		env = append(env, "GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+basic)
	}
	return testkit.GitEnv(t, dir, env, args...)
}

// Clone clones a repository into a new temporary directory as the holder
// of token and returns the directory.
func (s *Server) Clone(t testing.TB, token, repo string) string {
	t.Helper()
	dir := t.TempDir()
	s.Git(t, dir, token, "clone", "-q", s.CloneURL(repo), ".")
	return dir
}

// PushFiles commits files (path → content) on top of branch base and pushes
// the commit to branch (created or fast-forwarded) as the holder of token.
// It returns the new commit's id.
func (s *Server) PushFiles(t testing.TB, token, repo, base, branch string, files map[string]string) string {
	t.Helper()
	return s.push(t, token, repo, base, branch, func(dir string) {
		for p, content := range files {
			testkit.WriteFile(t, filepath.Join(dir, p), content)
		}
	})
}

// PushFixture copies a fixture directory over branch base, commits it and
// pushes the commit to branch as the holder of token. It returns the new
// commit's id.
func (s *Server) PushFixture(t testing.TB, token, repo, base, branch, fixture string) string {
	t.Helper()
	return s.push(t, token, repo, base, branch, func(dir string) {
		testkit.CopyDir(t, fixture, dir)
	})
}

// PushChange checks branch base out, lets change edit the checkout (say,
// to add a symbolic link), commits everything and pushes the commit to
// branch as the holder of token. It returns the new commit's id.
func (s *Server) PushChange(t testing.TB, token, repo, base, branch string, change func(dir string)) string {
	t.Helper()
	return s.push(t, token, repo, base, branch, change)
}

func (s *Server) push(t testing.TB, token, repo, base, branch string, change func(dir string)) string {
	t.Helper()
	dir := s.Clone(t, token, repo)
	s.Git(t, dir, token, "checkout", "-q", "-B", branch, "origin/"+base)
	change(dir)
	s.Git(t, dir, token, "add", "-A")
	s.Git(t, dir, token, "commit", "-q", "--allow-empty", "-m", "change "+branch)
	s.Git(t, dir, token, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return s.Git(t, dir, token, "rev-parse", "HEAD")
}
