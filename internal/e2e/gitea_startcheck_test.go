package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestGiteaStartSaysWhatIsWrong: a server started with a token Gitea
// refuses, or with a repository in --repos that does not exist, says so
// in its log at start, naming what to check, instead of answering the
// first webhook with nothing done.
func TestGiteaStartSaysWhatIsWrong(t *testing.T) {
	t.Run("a misspelled repository", func(t *testing.T) {
		var misspelled string
		sc := newScenarioEnv(t, false, func(env []string) []string {
			for i, kv := range env {
				if v, ok := strings.CutPrefix(kv, "SLUICE_REPOS=gitea:"); ok {
					misspelled = "gitea:" + v + "x"
					env[i] = kv + "," + misspelled
				}
			}
			return env
		})
		sc.waitLog("a repository of --repos cannot be read on its forge", misspelled)
		if strings.Contains(sc.s.logs.String(), "the forge refuses Sluice's token") {
			t.Errorf("the token was reported refused:\n%s", sc.s.logs.String())
		}
	})
	t.Run("a refused token", func(t *testing.T) {
		sc := newScenarioEnv(t, false, func(env []string) []string {
			for i, kv := range env {
				if strings.HasPrefix(kv, "SLUICE_GITEA_TOKEN=") {
					env[i] = "SLUICE_GITEA_TOKEN=0000000000000000000000000000000000000000"
				}
			}
			return env
		})
		sc.waitLog("the forge refuses Sluice's token", "forge=gitea")
	})
}

// waitLog waits for a line of the server's log that holds every part.
func (sc *scenario) waitLog(parts ...string) {
	sc.t.Helper()
	sc.waitFor(fmt.Sprintf("a line of the server's log saying %q", parts), func() bool {
		for _, line := range strings.Split(sc.s.logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}
