package giteatest_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit/giteatest"
)

func TestMain(m *testing.M) { giteatest.Main(m) }

func TestServer(t *testing.T) {
	began := time.Now()
	s := giteatest.Start(t)
	t.Logf("Start took %v (first start %v)", time.Since(began).Round(time.Millisecond), s.StartupTime.Round(time.Millisecond))

	var version struct {
		Version string `json:"version"`
	}
	s.API(t, "", http.MethodGet, "/version", nil, &version)
	if version.Version != strings.TrimPrefix(giteatest.Version, "v") {
		t.Errorf("version = %q, want %s", version.Version, giteatest.Version)
	}

	owner, author, reader := s.Name("org"), s.Name("author"), s.Name("reader")
	s.CreateOrg(t, owner)
	authorToken := s.CreateUser(t, author)
	readerToken := s.CreateUser(t, reader)
	repo := s.CreateRepo(t, owner, "infra")
	s.AddCollaborator(t, repo, author, "write")
	s.AddCollaborator(t, repo, reader, "read")

	rec := s.RecordWebhooks(t, repo, "s3cret", "push", "pull_request")
	head := s.PushFiles(t, authorToken, repo, "main", "feature", map[string]string{"main.tf": "# change\n"})
	if push := rec.Take(t, "push"); push.Header.Get("X-Gitea-Signature") == "" || len(push.Body) == 0 {
		t.Errorf("push delivery without signature or body: %v", push.Header)
	}
	pr := s.CreatePR(t, authorToken, repo, "feature", "main", "Add main.tf", "body")
	if pr.Number == 0 || pr.Head.SHA != head || pr.Base.SHA != s.BranchSHA(t, repo, "main") {
		t.Errorf("pull request = %+v, want head %s", pr, head)
	}
	opened := rec.Take(t, "pull_request")
	if !strings.Contains(string(opened.Body), `"action": "opened"`) && !strings.Contains(string(opened.Body), `"action":"opened"`) {
		t.Errorf("pull_request delivery is not an opening: %.200s", opened.Body)
	}

	// The reader may read but not push: the server enforces the roles.
	dir := s.Clone(t, readerToken, repo)
	if got := s.Git(t, dir, readerToken, "rev-parse", "origin/feature"); got != head {
		t.Errorf("reader sees feature at %s, want %s", got, head)
	}
	if code := s.APIStatus(t, readerToken, http.MethodPost, "/repos/"+repo+"/statuses/"+head,
		map[string]string{"context": "x", "state": "success"}, nil); code != http.StatusForbidden {
		t.Errorf("reader setting a status: %d, want 403", code)
	}
}

// TestProtect: a branch protected with a status check pattern refuses the
// merge of a pull request whose head has no such status, or a failing one,
// and allows it once it succeeds.
func TestProtect(t *testing.T) {
	s := giteatest.Start(t)
	owner := s.Name("owner")
	token := s.CreateUser(t, owner)
	repo := s.CreateRepo(t, owner, "infra")
	s.Protect(t, repo, "main", "sluice/gate")
	head := s.PushFiles(t, token, repo, "main", "feature", map[string]string{"main.tf": "# change\n"})
	pr := s.CreatePR(t, token, repo, "feature", "main", "Add main.tf", "")
	for _, state := range []string{"", "pending", "failure"} {
		if state != "" {
			s.SetStatus(t, token, repo, head, "sluice/gate", state)
		}
		var refused *giteatest.APIError
		if err := s.TryMerge(t, token, repo, pr.Number); !errors.As(err, &refused) || refused.Status != http.StatusMethodNotAllowed {
			t.Fatalf("merge with sluice/gate %q: %v, want Gitea's refusal", state, err)
		}
	}
	s.SetStatus(t, token, repo, head, "sluice/gate", "success")
	if err := s.TryMerge(t, token, repo, pr.Number); err != nil {
		t.Fatalf("merge with sluice/gate success: %v", err)
	}
	// Pushing stays open; the rule can be removed.
	s.PushFiles(t, token, repo, "main", "main", map[string]string{"other.tf": "# pushed\n"})
	s.Unprotect(t, repo, "main")

	// The rule docs/forges/gitea.md recommends, as it gives it, is one
	// this Gitea takes and keeps.
	doc := giteatest.RecommendedProtection("stable")
	s.ProtectWith(t, repo, doc)
	var got map[string]any
	s.API(t, s.AdminToken(t), http.MethodGet, "/repos/"+repo+"/branch_protections/stable", nil, &got)
	for k, v := range doc {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("the documented rule's %s is %v on Gitea, want %v", k, got[k], v)
		}
	}
}
