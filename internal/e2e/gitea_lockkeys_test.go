package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestGiteaRenamedProjectQueues: a pull request that only renames prod
// in sluice.yaml (its directory unchanged) plans that project alone, and
// waits for the lock the first pull request holds on prod's directory;
// locked by name, it planned the same code and state beside the first.
// Once the first is closed, it gets the lock and is planned.
func TestGiteaRenamedProjectQueues(t *testing.T) {
	sc := newScenario(t)
	first, _ := sc.openPR("alice", "first", "prod", "2")
	sc.waitPlanned(first.Number)

	cfg := strings.Replace(sc.fileOnMain("sluice.yaml"), "name: prod", "name: production", 1)
	sc.g.PushFiles(t, sc.tokens["bob"], sc.repo, "main", "rename", map[string]string{"sluice.yaml": cfg})
	second := sc.g.CreatePR(t, sc.tokens["bob"], sc.repo, "rename", "main", "Call prod production", "")
	waiting := fmt.Sprintf("waiting for the project lock, held by #%d", first.Number)
	sc.waitComment("the renamed project waiting", second.Number, func(b string) bool {
		return strings.Contains(b, "production") && strings.Contains(b, waiting)
	})
	if runs := sc.runs(second.Number); len(runs) != 1 || runs[0].Project != "production" {
		t.Errorf("runs of the renaming pull request: %+v, want production's alone (staging's entry is unchanged)", runs)
	}
	locks, err := sc.s.client.ListLocks(context.Background(), sc.sluiceID)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].Dir != "prod" || locks[0].MR != first.Number || len(locks[0].Queue) != 1 || locks[0].Queue[0].MR != second.Number {
		t.Fatalf("locks = %+v, want prod's directory held by !%d, !%d waiting, nothing else", locks, first.Number, second.Number)
	}

	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, first.Number, map[string]any{"state": "closed"})
	sc.waitComment("the renamed project planned", second.Number, func(b string) bool {
		return !strings.Contains(b, waiting) && !strings.Contains(b, "Pending") && strings.Contains(b, "no changes")
	})
	locks, _ = sc.s.client.ListLocks(context.Background(), sc.sluiceID)
	if len(locks) != 1 || locks[0].MR != second.Number || locks[0].Project != "production" {
		t.Errorf("locks = %+v, want prod's directory held by !%d as production", locks, second.Number)
	}
}
