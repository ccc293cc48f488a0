package flow

// The apply decision and the apply job: what a comment may apply, and an
// apply job that never ends with its run left queued.

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/permanent"
	"github.com/sluicehq/sluice/internal/store"
)

// TestBlockedApplyJobDoesNotEndWithItsRunQueued: app's apply job finds net
// still being planned, which blocks app, and calls runQueuedApplies to cancel the
// run; meanwhile net's plan ends with nothing to apply, so advance finds
// app free to go and enqueues it, as this same job: a duplicate. The job
// must not end with the run queued (nothing would run it again): it is
// tried again, and then applies app.
func TestBlockedApplyJobDoesNotEndWithItsRunQueued(t *testing.T) {
	e := newDepEnv(t, depsYAML)
	ctx := t.Context()
	e.handle(APISource, Request{Action: ActionPlan, Repo: "infra", MR: 1, HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
	e.runPlanJobs()
	// net is being planned again, and app's apply run is there (its job
	// comes before any advance has looked at it).
	pr, err := e.st.CreateRun(ctx, store.Run{Kind: store.KindPlan, Repo: "infra", MR: 1, Project: "net", Workspace: "default", Dir: "net",
		HeadSHA: headH1, BaseSHA: baseB, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.StartRun(ctx, pr.ID, "me"); err != nil {
		t.Fatal(err)
	}
	appPlan, err := e.st.LatestPlan(ctx, "infra", 1, "app", "default")
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.f.decider().createApply(ctx, appPlan, "bob")
	if err != nil {
		t.Fatal(err)
	}
	app, err := e.st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// What holds app back changes between the first read of the merge
	// request's runs (HandleApply's own) and the second (the one
	// runQueuedApplies makes after it): net's plan ends, with nothing to
	// apply.
	e.f.Store = &spyStore{Store: e.st, beforeMRRuns: func(n int) {
		if n != 2 {
			return
		}
		p, err := e.st.SavePlan(ctx, store.Plan{RunID: pr.ID, Repo: "infra", MR: 1, Project: "net", Workspace: "default",
			HeadSHA: headH1, BaseSHA: baseB, ArtifactSHA256: "abc", Sealed: []byte("artifact"),
			Normalized: []byte(`{"engine":"terraform","resources":[],"summary":{"add":0,"change":0,"destroy":0,"replace":0},"text":""}`)})
		if err != nil {
			t.Error(err)
			return
		}
		summary, _ := json.Marshal(runSummary{PlanID: p.ID, Summary: engine.Summary{},
			Rules: &projectRules{MinApprovals: 1, Mode: "after_merge", Patterns: []string{"net/**"}, Dir: "net", Engine: "terraform"}})
		if _, err := e.st.FinishRun(ctx, pr.ID, store.StateSucceeded, "", summary); err != nil {
			t.Error(err)
		}
	}}

	err = e.f.HandleApply(ctx, app.ID)
	if r, gerr := e.st.GetRun(ctx, app.ID); gerr != nil || r.State != store.StateQueued {
		t.Fatalf("app's apply run: %+v, %v; want it still queued (net has nothing left to apply)", r, gerr)
	}
	if err == nil || permanent.Is(err) {
		t.Fatalf("HandleApply = %v, want an error to retry: the job would end with its run queued and no other job to run it", err)
	}
	// The retry applies app.
	if err := e.f.HandleApply(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.st.GetRun(ctx, app.ID); r.State != store.StateSucceeded {
		t.Errorf("app's apply run after the retry: %s %q", r.State, r.Error)
	}
}

// TestCommentDoesNotApplyAfterMergeProjects: on an open merge request, a
// `sluice apply` comment applies nothing of projects that apply after
// the merge, and says so for each.
func TestCommentDoesNotApplyAfterMergeProjects(t *testing.T) {
	e, _ := newSettleEnv(t)
	e.plan()
	e.comment("bob", ActionApply)
	if a := e.applies(infraRepo, 7); len(a) != 0 {
		t.Fatalf("a comment on an open merge request created apply runs of after_merge projects: %+v", a)
	}
	r := e.replies()
	if len(r) != 1 || !strings.Contains(r[0], "`net`: it is applied when the pull request is merged (apply mode after_merge), not on a comment") ||
		!strings.Contains(r[0], "`app`: it is applied when the pull request is merged") {
		t.Errorf("replies = %q, want one naming net and app as applied on merge", r)
	}
}
