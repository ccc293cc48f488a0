package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/store"
)

const tooManyCommitsErr = "github: listing commits of org/infra#7: not every commit can be listed: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request"

// TestUnreadCommittersRefuseVisibly: when the forge cannot say who pushed
// commits to the merge request, the merge is still handled (not retried
// without end): nothing is applied, the reply and the comment say why,
// the refusal is audited and the locks stay with the merge request.
func TestUnreadCommittersRefuseVisibly(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	// The forge cannot list who committed to the merge request, as GitHub
	// cannot past 250 commits (forge.ErrCommitsTruncated).
	e.fg.failWith("Committers", func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("listing commits: %w", err)
		}
		return fmt.Errorf("github: listing commits of org/infra#7: %w: GitHub lists only the first 250 commits of a pull request, so who wrote the others cannot be told; squash or split the pull request", forge.ErrCommitsTruncated)
	})
	e.plan()
	const why = "cannot tell who pushed commits to this pull request: " + tooManyCommitsErr
	// The reply to the merge writes the forge's words as plain text, so
	// their "#7" refers to no issue.
	escaped := strings.ReplaceAll(why, "#7", "\\#\u200b7")

	c := e.refresh()
	if !strings.Contains(c, "cannot tell who pushed commits to this pull request") {
		t.Errorf("the comment does not say why approvals do not count:\n%s", c)
	}

	e.merge() // fails the test if the event fails
	if runs := e.applies(infraRepo, 7); len(runs) != 0 {
		t.Fatalf("apply runs: %+v, want none", runs)
	}
	r := e.replies()
	if len(r) != 1 || !strings.Contains(r[0], "Merged, but Sluice did not apply") || !strings.Contains(r[0], "`net`: approvals: ") || !strings.Contains(r[0], escaped) {
		t.Fatalf("replies = %q, want net refused saying %q", r, escaped)
	}
	if got := e.auditActions(); !slices.Contains(got, "carol apply.refused "+infraRepo+"!7/net") {
		t.Errorf("audit = %q, want apply.refused of net", got)
	}
	for _, p := range []string{"net", "app"} {
		if l, err := e.st.GetLock(t.Context(), store.LockKey{Repo: infraRepo, Dir: p, Workspace: "default"}); err != nil || l.MR != 7 {
			t.Errorf("%s's lock: %+v, %v; want it kept by !7", p, l, err)
		}
	}

	// `sluice apply` is answered the same way.
	e.comment("bob", ActionApply)
	if r := e.replies(); len(r) != 2 || !strings.Contains(r[1], why) {
		t.Errorf("replies = %q, want the apply refused saying %q", r, why)
	}

	// A cancelled context is still an error: the decision is not made
	// on what a stopping server could not read.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	mr := e.fg.mr
	g := e.f.newGate(e.fg, "org/infra", &mr, "", false)
	if err := g.readMR(ctx); err == nil {
		t.Errorf("readMR with a cancelled context: no error")
	}
}
