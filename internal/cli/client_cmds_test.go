package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// againstEmptyServer runs a client command against a server that answers every
// request with empty lists, and returns stdout, stderr, the error and
// the requests the server saw.
func againstEmptyServer(t *testing.T, args ...string) (string, string, error, int) {
	t.Helper()
	return againstServer(t, `{"runs": [], "locks": []}`, args...)
}

// againstServer is againstEmptyServer with the server answering answer.
func againstServer(t *testing.T, answer string, args ...string) (string, string, error, int) {
	t.Helper()
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	env := map[string]string{"SLUICE_SERVER": srv.URL, "SLUICE_API_TOKEN": "t0ken-for-the-test"}
	err := Run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err, requests
}

// TestRunsListRefusesUnknownFilters: a state or kind no run has is a
// mistake in the command line, said before the server is asked; an empty
// answer for a repository named without its forge says how a forge's
// repository is named.
func TestRunsListRefusesUnknownFilters(t *testing.T) {
	for _, args := range [][]string{{"runs", "list", "--state", "bogus"}, {"runs", "list", "--kind", "deploy"}} {
		_, _, err, n := againstEmptyServer(t, args...)
		if err == nil || !IsUsage(err) || n != 0 {
			t.Errorf("%v: err = %v (usage %v), %d requests; want a usage error and no request", args, err, IsUsage(err), n)
		}
	}
	_, stderr, err, _ := againstEmptyServer(t, "runs", "list", "--repo", "acme/infra")
	if err != nil || !strings.Contains(stderr, "nothing matches --repo acme/infra: a forge's repository is named FORGE:OWNER/NAME") {
		t.Errorf("runs list --repo acme/infra: err %v, stderr %q; want the hint", err, stderr)
	}
	_, stderr, err, _ = againstEmptyServer(t, "runs", "list", "--repo", "gitea:acme/infra")
	if err != nil || stderr != "" {
		t.Errorf("runs list --repo gitea:acme/infra: err %v, stderr %q; want no hint", err, stderr)
	}
}

// TestLocksListSaysTheForgesWords: a lock on Gitea is held by #3, on
// GitLab by !3.
func TestLocksListSaysTheForgesWords(t *testing.T) {
	for repo, want := range map[string]string{"gitea:acme/infra": "#3", "gitlab:acme/infra": "!3"} {
		answer := `{"locks": [{"repo": "` + repo + `", "dir": "prod", "workspace": "default", "project": "prod", "mr": 3, "queue": [{"mr": 4}]}]}`
		out, _, err, _ := againstServer(t, answer, "locks", "list")
		queued := strings.Replace(want, "3", "4", 1)
		if err != nil || !strings.Contains(out, "HELD BY") || !strings.Contains(out, " "+want+" ") || !strings.HasSuffix(strings.TrimSpace(out), queued) {
			t.Errorf("locks list of %s: err %v\n%s\nwant held by %s, %s queued", repo, err, out, want, queued)
		}
	}
}
