// Package storetest is the contract every store.Store implementation must
// meet, as a test suite each implementation runs against a real database.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Opener returns a new, empty store for one test and closes it when the
// test ends.
type Opener func(t *testing.T) store.Store

// Run runs the contract against the stores open returns. Subtests run in
// parallel, each with its own store.
func Run(t *testing.T, open Opener) {
	groups := []struct {
		name string
		test func(*testing.T, Opener)
	}{
		{"Runs", testRuns},
		{"RunTransitions", testRunTransitions},
		{"StartRunAtMostOnce", testStartRunAtMostOnce},
		{"SetStateLockID", testSetStateLockID},
		{"SettleRun", testSettleRun},
		{"InterruptRuns", testInterruptRuns},
		{"ListRuns", testListRuns},
		{"ListRunsPages", testListRunsPages},
		{"Logs", testLogs},
		{"LogsConcurrentAppenders", testLogsConcurrent},
		{"Plans", testPlans},
		{"SavePlanConcurrent", testSavePlanConcurrent},
		{"SavePlanOrder", testSavePlanOrder},
		{"SavePlanOrderConcurrent", testSavePlanOrderConcurrent},
		{"ClaimPlan", testClaimPlan},
		{"ClaimPlanOnce", testClaimPlanOnce},
		{"Locks", testLocks},
		{"LockRelease", testLockRelease},
		{"LockNames", testLockNames},
		{"ReleaseMR", testReleaseMR},
		{"LockConcurrentAcquire", testLockConcurrent},
		{"Events", testEvents},
		{"EventsConcurrentDuplicates", testEventsConcurrent},
		{"PendingEvents", testPendingEvents},
		{"DeleteProcessedEvents", testDeleteProcessedEvents},
		{"Audit", testAudit},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditEntries", testAuditEntries},
		{"Heartbeats", testHeartbeats},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.test(t, open)
		})
	}
}

// must checks a call's error: must(s.GetRun(ctx, id))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// newRun returns a run to create.
func newRun(repo string, mr int64, project string) store.Run {
	return store.Run{
		Kind: store.KindPlan, Repo: repo, MR: mr, Project: project, Workspace: "default", Dir: "envs/" + project,
		HeadSHA: "head", BaseSHA: "base", Actor: "alice",
	}
}

// runIn creates a run and moves it to state.
func runIn(t *testing.T, s store.Store, state store.RunState) store.Run {
	t.Helper()
	ctx := t.Context()
	r := must(s.CreateRun(ctx, newRun("gitea:org/infra", 1, "net")))(t)
	switch state {
	case store.StateQueued:
		return r
	case store.StateCancelled:
		return must(s.FinishRun(ctx, r.ID, state, "cancelled early", nil))(t)
	}
	r = must(s.StartRun(ctx, r.ID, "instance-a"))(t)
	if state == store.StateRunning {
		return r
	}
	return must(s.FinishRun(ctx, r.ID, state, "", nil))(t)
}

func testRuns(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	before := time.Now().Add(-time.Second)
	in := newRun("gitea:org/infra", 7, "net")
	in.Kind, in.PlanID = store.KindApply, 42
	in.State, in.Owner, in.Error = store.StateSucceeded, "ignored", "ignored" // the store decides these
	r := must(s.CreateRun(ctx, in))(t)
	if r.ID <= 0 || r.State != store.StateQueued || r.Owner != "" || r.Error != "" {
		t.Fatalf("created run = %+v, want a queued run with an id", r)
	}
	if r.CreatedAt.Before(before) || r.CreatedAt.Location() != time.UTC || r.StartedAt != nil || r.FinishedAt != nil {
		t.Fatalf("created run times = %v %v %v", r.CreatedAt, r.StartedAt, r.FinishedAt)
	}
	want := in
	want.ID, want.State, want.Owner, want.Error, want.CreatedAt = r.ID, store.StateQueued, "", "", r.CreatedAt
	if !equalRun(r, want) {
		t.Fatalf("created run = %+v, want %+v", r, want)
	}
	got := must(s.GetRun(ctx, r.ID))(t)
	if !equalRun(got, r) {
		t.Fatalf("GetRun = %+v, want %+v", got, r)
	}
	_, err := s.GetRun(ctx, r.ID+1000)
	wantErr(t, err, store.ErrNotFound)

	// A plan is applied by one apply run at most: a second cannot exist.
	_, err = s.CreateRun(ctx, in)
	wantErr(t, err, store.ErrConflict)
	in.PlanID = 43
	second := must(s.CreateRun(ctx, in))(t)
	if second.ID <= r.ID {
		t.Fatalf("second run id %d not after %d", second.ID, r.ID)
	}
	in.Kind, in.PlanID = store.KindPlan, 0
	third := must(s.CreateRun(ctx, in))(t)
	fourth := must(s.CreateRun(ctx, in))(t) // plan runs are not limited
	if fourth.ID <= third.ID {
		t.Fatalf("plan run ids %d, %d", third.ID, fourth.ID)
	}
	ok(t, s.Ping(ctx))
}

func equalRun(a, b store.Run) bool {
	eqTime := func(x, y *time.Time) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	same := string(a.Summary) == string(b.Summary) && a.CreatedAt.Equal(b.CreatedAt) &&
		eqTime(a.StartedAt, b.StartedAt) && eqTime(a.FinishedAt, b.FinishedAt) && eqTime(a.SettledAt, b.SettledAt)
	for _, r := range []*store.Run{&a, &b} {
		r.Summary, r.CreatedAt, r.StartedAt, r.FinishedAt, r.SettledAt = nil, time.Time{}, nil, nil, nil
	}
	return same && reflect.DeepEqual(a, b)
}

func testRunTransitions(t *testing.T, open Opener) {
	s := open(t)
	type op func(ctx context.Context, id int64) (store.Run, error)
	start := func(ctx context.Context, id int64) (store.Run, error) { return s.StartRun(ctx, id, "instance-b") }
	finish := func(state store.RunState) op {
		return func(ctx context.Context, id int64) (store.Run, error) {
			return s.FinishRun(ctx, id, state, "why "+string(state), []byte(`{"add":1}`))
		}
	}
	tests := []struct {
		name string
		from store.RunState // "" for a missing run
		op   op
		err  error // nil, ErrConflict, ErrNotFound, or errAny
		want store.RunState
	}{
		{"start queued", store.StateQueued, start, nil, store.StateRunning},
		{"start running", store.StateRunning, start, store.ErrConflict, store.StateRunning},
		{"start succeeded", store.StateSucceeded, start, store.ErrConflict, store.StateSucceeded},
		{"start cancelled", store.StateCancelled, start, store.ErrConflict, store.StateCancelled},
		{"start missing", "", start, store.ErrNotFound, ""},
		{"succeed running", store.StateRunning, finish(store.StateSucceeded), nil, store.StateSucceeded},
		{"fail running", store.StateRunning, finish(store.StateFailed), nil, store.StateFailed},
		{"interrupt running", store.StateRunning, finish(store.StateInterrupted), nil, store.StateInterrupted},
		{"cancel running", store.StateRunning, finish(store.StateCancelled), nil, store.StateCancelled},
		{"cancel queued", store.StateQueued, finish(store.StateCancelled), nil, store.StateCancelled},
		{"succeed queued", store.StateQueued, finish(store.StateSucceeded), store.ErrConflict, store.StateQueued},
		{"fail queued", store.StateQueued, finish(store.StateFailed), store.ErrConflict, store.StateQueued},
		{"fail succeeded", store.StateSucceeded, finish(store.StateFailed), store.ErrConflict, store.StateSucceeded},
		{"cancel failed", store.StateFailed, finish(store.StateCancelled), store.ErrConflict, store.StateFailed},
		{"cancel cancelled", store.StateCancelled, finish(store.StateCancelled), store.ErrConflict, store.StateCancelled},
		{"succeed interrupted", store.StateInterrupted, finish(store.StateSucceeded), store.ErrConflict, store.StateInterrupted},
		{"finish missing", "", finish(store.StateFailed), store.ErrNotFound, ""},
		{"finish as running", store.StateRunning, finish(store.StateRunning), errAny, store.StateRunning},
		{"finish as queued", store.StateRunning, finish(store.StateQueued), errAny, store.StateRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			id := int64(1 << 40)
			var before store.Run
			if tt.from != "" {
				before = runIn(t, s, tt.from)
				id = before.ID
			}
			got, err := tt.op(ctx, id)
			switch {
			case tt.err == errAny:
				if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
					t.Fatalf("error = %v, want a plain error", err)
				}
			case tt.err != nil:
				wantErr(t, err, tt.err)
			default:
				ok(t, err)
				if got.State != tt.want {
					t.Fatalf("returned state %s, want %s", got.State, tt.want)
				}
			}
			if tt.from == "" {
				return
			}
			stored := must(s.GetRun(ctx, id))(t)
			if stored.State != tt.want {
				t.Fatalf("stored state %s, want %s", stored.State, tt.want)
			}
			if tt.err != nil {
				if !equalRun(stored, before) {
					t.Fatalf("a refused transition changed the run:\n got %+v\nwant %+v", stored, before)
				}
				return
			}
			if !equalRun(got, stored) {
				t.Fatalf("returned %+v, stored %+v", got, stored)
			}
			switch tt.want {
			case store.StateRunning:
				if stored.Owner != "instance-b" || stored.StartedAt == nil || stored.FinishedAt != nil {
					t.Fatalf("started run = %+v", stored)
				}
			default:
				if stored.FinishedAt == nil || stored.Error != "why "+string(tt.want) || string(stored.Summary) != `{"add":1}` {
					t.Fatalf("finished run = %+v", stored)
				}
				if tt.from == store.StateRunning && (stored.Owner != "instance-a" || stored.StartedAt == nil) {
					t.Fatalf("finished run lost its start: %+v", stored)
				}
			}
		})
	}
}

var errAny = errors.New("any error but a kind")

func testStartRunAtMostOnce(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	r := runIn(t, s, store.StateQueued)
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		winners  []string
		failures []error
	)
	for i := range n {
		wg.Go(func() {
			owner := fmt.Sprintf("instance-%d", i)
			_, err := s.StartRun(ctx, r.ID, owner)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, owner)
			case !errors.Is(err, store.ErrConflict):
				failures = append(failures, err)
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("unexpected errors: %v", failures)
	}
	if len(winners) != 1 {
		t.Fatalf("%d StartRun calls succeeded (%v), want exactly 1", len(winners), winners)
	}
	if got := must(s.GetRun(ctx, r.ID))(t); got.Owner != winners[0] || got.State != store.StateRunning {
		t.Fatalf("run = %+v, want running owned by %s", got, winners[0])
	}
}

func testSetStateLockID(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	for _, state := range []store.RunState{store.StateRunning, store.StateInterrupted} {
		r := runIn(t, s, state)
		ok(t, s.SetStateLockID(ctx, r.ID, "lock-"+string(state)))
		if got := must(s.GetRun(ctx, r.ID))(t); got.StateLockID != "lock-"+string(state) || got.State != state {
			t.Fatalf("run = %+v, want state lock id recorded", got)
		}
	}
	wantErr(t, s.SetStateLockID(ctx, 1<<40, "x"), store.ErrNotFound)
}

// testSettleRun: a succeeded run settles once (settling it again keeps
// the time), no other run does, and Unsettled lists those not settled.
func testSettleRun(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	apply := func() store.Run {
		r := newRun("gitea:org/infra", 1, "net")
		r.Kind, r.PlanID = store.KindApply, must(s.SavePlan(ctx, newPlan("gitea:org/infra", 1, "net", "default")))(t).ID
		r = must(s.CreateRun(ctx, r))(t)
		must(s.StartRun(ctx, r.ID, "instance-a"))(t)
		return must(s.FinishRun(ctx, r.ID, store.StateSucceeded, "", nil))(t)
	}
	done, other := apply(), apply()
	if done.SettledAt != nil {
		t.Fatalf("a new succeeded run is settled: %+v", done)
	}
	ok(t, s.SettleRun(ctx, done.ID))
	first := must(s.GetRun(ctx, done.ID))(t)
	if first.SettledAt == nil || first.State != store.StateSucceeded || first.FinishedAt == nil || first.SettledAt.Before(*first.FinishedAt) {
		t.Fatalf("settled run = %+v", first)
	}
	time.Sleep(2 * time.Millisecond)
	ok(t, s.SettleRun(ctx, done.ID))
	if again := must(s.GetRun(ctx, done.ID))(t); !again.SettledAt.Equal(*first.SettledAt) {
		t.Errorf("settling again moved the time: %v, was %v", again.SettledAt, first.SettledAt)
	}
	for _, state := range []store.RunState{store.StateQueued, store.StateRunning, store.StateFailed, store.StateCancelled, store.StateInterrupted} {
		r := runIn(t, s, state)
		wantErr(t, s.SettleRun(ctx, r.ID), store.ErrConflict)
		if got := must(s.GetRun(ctx, r.ID))(t); got.SettledAt != nil {
			t.Errorf("a %s run was settled: %+v", state, got)
		}
	}
	wantErr(t, s.SettleRun(ctx, 1<<40), store.ErrNotFound)

	plan := runIn(t, s, store.StateSucceeded) // a plan run: nothing follows it
	ok(t, s.SettleRun(ctx, plan.ID))
	ok(t, s.SettleRun(ctx, plan.ID))
	plan = runIn(t, s, store.StateSucceeded)
	unsettled := must(s.ListRuns(ctx, store.RunFilter{Unsettled: true}))(t)
	if ids := runIDs(unsettled); len(ids) != 1 || ids[0] != other.ID {
		t.Errorf("unsettled succeeded applies: %v, want only %d (not the plan run %d)", ids, other.ID, plan.ID)
	}
	if all := must(s.ListRuns(ctx, store.RunFilter{State: store.StateSucceeded, Kind: store.KindApply}))(t); len(all) != 2 {
		t.Errorf("succeeded applies: %v, want both", runIDs(all))
	}
}

func testInterruptRuns(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	mk := func(owner string, state store.RunState) store.Run {
		r := must(s.CreateRun(ctx, newRun("gitea:org/infra", 1, owner)))(t)
		if state == store.StateQueued {
			return r
		}
		r = must(s.StartRun(ctx, r.ID, owner))(t)
		if state == store.StateRunning {
			return r
		}
		return must(s.FinishRun(ctx, r.ID, state, "", nil))(t)
	}
	a := mk("a", store.StateRunning)
	b := mk("b", store.StateRunning)
	c := mk("c", store.StateRunning)
	queued := mk("", store.StateQueued)
	done := mk("b", store.StateSucceeded)

	got := must(s.InterruptRuns(ctx, []string{"a", "z"}))(t)
	ids := func(rs []store.Run) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(got), []int64{b.ID, c.ID}) {
		t.Fatalf("interrupted %v, want [%d %d]", ids(got), b.ID, c.ID)
	}
	for _, r := range got {
		want := fmt.Sprintf("the server running it stopped (instance %s)", r.Owner)
		if r.State != store.StateInterrupted || r.Error != want || r.FinishedAt == nil || r.Owner == "" {
			t.Fatalf("interrupted run = %+v, want error %q", r, want)
		}
		if stored := must(s.GetRun(ctx, r.ID))(t); !equalRun(stored, r) {
			t.Fatalf("returned %+v, stored %+v", r, stored)
		}
	}
	for _, r := range []store.Run{a, queued, done} {
		if got := must(s.GetRun(ctx, r.ID))(t); got.State != r.State {
			t.Fatalf("run %d (owner %q) is %s, want %s", r.ID, r.Owner, got.State, r.State)
		}
	}
	if again := must(s.InterruptRuns(ctx, []string{"a"}))(t); len(again) != 0 {
		t.Fatalf("second InterruptRuns returned %d runs", len(again))
	}
	// No instance alive: every running run is interrupted.
	if got := must(s.InterruptRuns(ctx, nil))(t); !slices.Equal(ids(got), []int64{a.ID}) {
		t.Fatalf("interrupted %v, want [%d]", ids(got), a.ID)
	}
}

func testListRuns(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	var all []store.Run
	mk := func(repo string, mr int64, project, ws string, kind store.RunKind, head string, plan int64) store.Run {
		r := newRun(repo, mr, project)
		r.Workspace, r.Kind, r.HeadSHA, r.PlanID = ws, kind, head, plan
		r = must(s.CreateRun(ctx, r))(t)
		all = append(all, r)
		return r
	}
	r1 := mk("r1", 1, "net", "default", store.KindPlan, "h1", 0)
	r2 := mk("r1", 1, "net", "prod", store.KindPlan, "h1", 0)
	r3 := mk("r1", 1, "app", "default", store.KindPlan, "h2", 0)
	r3b := newRun("r1", 1, "application") // app renamed: the same directory
	r3b.Dir, r3b.HeadSHA = r3.Dir, "h4"
	r3b = must(s.CreateRun(ctx, r3b))(t)
	all = append(all, r3b)
	r4 := mk("r1", 2, "net", "default", store.KindApply, "h3", 9)
	r5 := mk("r2", 1, "net", "default", store.KindApply, "h1", 10)
	must(s.StartRun(ctx, r3.ID, "x"))(t)
	must(s.StartRun(ctx, r5.ID, "x"))(t)

	tests := []struct {
		name string
		f    store.RunFilter
		want []store.Run
	}{
		{"all", store.RunFilter{}, []store.Run{r5, r4, r3b, r3, r2, r1}},
		{"repo", store.RunFilter{Repo: "r1"}, []store.Run{r4, r3b, r3, r2, r1}},
		{"repo and mr", store.RunFilter{Repo: "r1", MR: 1}, []store.Run{r3b, r3, r2, r1}},
		{"project", store.RunFilter{Project: "net"}, []store.Run{r5, r4, r2, r1}},
		{"dir", store.RunFilter{Dir: "envs/app"}, []store.Run{r3b, r3}},
		{"workspace", store.RunFilter{Workspace: "prod"}, []store.Run{r2}},
		{"kind", store.RunFilter{Kind: store.KindApply}, []store.Run{r5, r4}},
		{"head", store.RunFilter{HeadSHA: "h1"}, []store.Run{r5, r2, r1}},
		{"plan id", store.RunFilter{PlanID: 9}, []store.Run{r4}},
		{"state", store.RunFilter{State: store.StateRunning}, []store.Run{r5, r3}},
		{"combined", store.RunFilter{Repo: "r1", MR: 1, Project: "net", Workspace: "default", Kind: store.KindPlan, HeadSHA: "h1", State: store.StateQueued}, []store.Run{r1}},
		{"limit", store.RunFilter{Limit: 2}, []store.Run{r5, r4}},
		{"before", store.RunFilter{BeforeID: r4.ID, Limit: 2}, []store.Run{r3b, r3}},
		{"none", store.RunFilter{Repo: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := must(s.ListRuns(t.Context(), tt.f))(t)
			if !slices.Equal(runIDs(got), runIDs(tt.want)) {
				t.Fatalf("ListRuns(%+v) = %v, want %v", tt.f, runIDs(got), runIDs(tt.want))
			}
			for i, r := range got {
				stored := must(s.GetRun(t.Context(), r.ID))(t)
				if !equalRun(r, stored) {
					t.Fatalf("listed run %d = %+v, stored %+v", i, r, stored)
				}
			}
		})
	}
}

func runIDs(rs []store.Run) []int64 {
	ids := []int64{}
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func testListRunsPages(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	const n = 105
	var want []int64
	for i := range n {
		r := must(s.CreateRun(ctx, newRun("r", int64(i%3), "p")))(t)
		want = append([]int64{r.ID}, want...)
	}
	if got := must(s.ListRuns(ctx, store.RunFilter{}))(t); len(got) != 100 {
		t.Fatalf("default limit returned %d runs, want 100", len(got))
	}
	var got []int64
	f := store.RunFilter{Limit: 10}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page := must(s.ListRuns(ctx, f))(t)
		if len(page) == 0 {
			break
		}
		got = append(got, runIDs(page)...)
		f.BeforeID = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}
}

func testLogs(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	r := runIn(t, s, store.StateRunning)
	other := runIn(t, s, store.StateRunning)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	ok(t, s.AppendLogs(ctx, r.ID, []store.LogLine{
		{Stream: "stdout", Text: "one", At: at},
		{Stream: "stderr", Text: "two", At: at},
		{Stream: "sluice", Text: "three", At: at},
	}))
	ok(t, s.AppendLogs(ctx, other.ID, []store.LogLine{{Stream: "stdout", Text: "other"}}))
	ok(t, s.AppendLogs(ctx, r.ID, nil))
	ok(t, s.AppendLogs(ctx, r.ID, []store.LogLine{
		{Seq: 99, Stream: "stdout", Text: "four", At: at},
		{Stream: "stdout", Text: "", At: at},
	}))
	wantAt := at.Truncate(time.Microsecond)
	line := func(seq int64, stream, text string) store.LogLine {
		return store.LogLine{Seq: seq, Stream: stream, Text: text, At: wantAt}
	}
	all := []store.LogLine{
		line(1, "stdout", "one"), line(2, "stderr", "two"), line(3, "sluice", "three"),
		line(4, "stdout", "four"), line(5, "stdout", ""),
	}
	tests := []struct {
		after int64
		limit int
		want  []store.LogLine
	}{
		{0, 0, all},
		{2, 0, all[2:]},
		{2, 2, all[2:4]},
		{0, 1, all[:1]},
		{5, 0, nil},
	}
	for _, tt := range tests {
		got := must(s.Logs(ctx, r.ID, tt.after, tt.limit))(t)
		if len(got) != len(tt.want) {
			t.Fatalf("Logs(after %d, limit %d) = %v, want %v", tt.after, tt.limit, got, tt.want)
		}
		for i := range got {
			if got[i].Seq != tt.want[i].Seq || got[i].Stream != tt.want[i].Stream || got[i].Text != tt.want[i].Text || !got[i].At.Equal(tt.want[i].At) {
				t.Fatalf("Logs(after %d, limit %d)[%d] = %+v, want %+v", tt.after, tt.limit, i, got[i], tt.want[i])
			}
		}
	}
	if got := must(s.Logs(ctx, other.ID, 0, 0))(t); len(got) != 1 || got[0].Seq != 1 || got[0].At.IsZero() {
		t.Fatalf("other run's logs = %+v, want one line numbered 1 with a time", got)
	}
	wantErr(t, s.AppendLogs(ctx, 1<<40, []store.LogLine{{Stream: "stdout", Text: "x"}}), store.ErrNotFound)

	// A batch larger than one INSERT.
	big := make([]store.LogLine, 1234)
	for i := range big {
		big[i] = store.LogLine{Stream: "stdout", Text: fmt.Sprint(i)}
	}
	ok(t, s.AppendLogs(ctx, other.ID, big))
	got := must(s.Logs(ctx, other.ID, 1, 0))(t)
	if len(got) != len(big) || got[0].Seq != 2 || got[len(got)-1].Seq != 1235 || got[len(got)-1].Text != "1233" {
		t.Fatalf("big batch read back %d lines", len(got))
	}
}

func testLogsConcurrent(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	r := runIn(t, s, store.StateRunning)
	const writers, batches, size = 8, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				lines := make([]store.LogLine, size)
				for i := range lines {
					lines[i] = store.LogLine{Stream: "stdout", Text: fmt.Sprintf("%d/%d/%d", w, b, i)}
				}
				if err := s.AppendLogs(ctx, r.ID, lines); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := must(s.Logs(ctx, r.ID, 0, 0))(t)
	if len(got) != writers*batches*size {
		t.Fatalf("%d lines, want %d", len(got), writers*batches*size)
	}
	next := map[int]int{} // writer → next batch expected
	for i := 0; i < len(got); i += size {
		var w, b, l int
		for j := range size {
			line := got[i+j]
			if line.Seq != int64(i+j+1) {
				t.Fatalf("line %d has seq %d", i+j, line.Seq)
			}
			if _, err := fmt.Sscanf(line.Text, "%d/%d/%d", &w, &b, &l); err != nil || l != j {
				t.Fatalf("batch interleaved at seq %d: %q", line.Seq, line.Text)
			}
		}
		if b != next[w] {
			t.Fatalf("writer %d: batch %d stored before batch %d", w, b, next[w])
		}
		next[w]++
	}
}

func newPlan(repo string, mr int64, project, ws string) store.Plan {
	return store.Plan{
		RunID: 1, Repo: repo, MR: mr, Project: project, Workspace: ws, HeadSHA: "head", BaseSHA: "base",
		ArtifactSHA256: "abc123", Sealed: []byte{0, 1, 2, 255}, Normalized: []byte(`{"changes":[]}`), HasChanges: true,
	}
}

func testPlans(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	in := newPlan("r", 1, "net", "default")
	p1 := must(s.SavePlan(ctx, in))(t)
	if p1.ID <= 0 || p1.Discarded || p1.AppliedRunID != 0 || p1.CreatedAt.IsZero() {
		t.Fatalf("saved plan = %+v", p1)
	}
	want := in
	want.ID, want.CreatedAt = p1.ID, p1.CreatedAt
	if !equalPlan(p1, want) {
		t.Fatalf("saved plan = %+v, want %+v", p1, want)
	}
	if got := must(s.GetPlan(ctx, p1.ID))(t); !equalPlan(got, p1) {
		t.Fatalf("GetPlan = %+v, want %+v", got, p1)
	}
	if got := must(s.LatestPlan(ctx, "r", 1, "net", "default"))(t); got.ID != p1.ID {
		t.Fatalf("LatestPlan = %d, want %d", got.ID, p1.ID)
	}
	// Plans of other projects, workspaces, MRs and repos stay live.
	others := []store.Plan{
		must(s.SavePlan(ctx, newPlan("r", 1, "app", "default")))(t),
		must(s.SavePlan(ctx, newPlan("r", 1, "net", "prod")))(t),
		must(s.SavePlan(ctx, newPlan("r", 2, "net", "default")))(t),
		must(s.SavePlan(ctx, newPlan("r2", 1, "net", "default")))(t),
	}
	in.HeadSHA, in.HasChanges, in.Sealed, in.Normalized = "head2", false, nil, nil
	p2 := must(s.SavePlan(ctx, in))(t)
	if got := must(s.GetPlan(ctx, p1.ID))(t); !got.Discarded {
		t.Fatal("older plan not discarded by a newer one")
	}
	if got := must(s.LatestPlan(ctx, "r", 1, "net", "default"))(t); got.ID != p2.ID || got.HasChanges || got.Sealed != nil {
		t.Fatalf("LatestPlan = %+v, want plan %d without changes", got, p2.ID)
	}
	for _, o := range others {
		if got := must(s.GetPlan(ctx, o.ID))(t); got.Discarded {
			t.Fatalf("plan of %s!%d %s/%s discarded by another project's plan", o.Repo, o.MR, o.Project, o.Workspace)
		}
	}

	ok(t, s.DiscardPlans(ctx, "r", 1))
	for _, k := range []struct{ project, ws string }{{"net", "default"}, {"app", "default"}, {"net", "prod"}} {
		_, err := s.LatestPlan(ctx, "r", 1, k.project, k.ws)
		wantErr(t, err, store.ErrNotFound)
	}
	for _, o := range others[2:] {
		if got := must(s.GetPlan(ctx, o.ID))(t); got.Discarded {
			t.Fatalf("DiscardPlans(r, 1) discarded a plan of %s!%d", o.Repo, o.MR)
		}
	}
	ok(t, s.DiscardPlans(ctx, "r", 1)) // nothing left: no error
	_, err := s.GetPlan(ctx, 1<<40)
	wantErr(t, err, store.ErrNotFound)
}

func equalPlan(a, b store.Plan) bool {
	return a.ID == b.ID && a.RunID == b.RunID && a.Repo == b.Repo && a.MR == b.MR && a.Project == b.Project &&
		a.Workspace == b.Workspace && a.HeadSHA == b.HeadSHA && a.BaseSHA == b.BaseSHA &&
		a.ArtifactSHA256 == b.ArtifactSHA256 && string(a.Sealed) == string(b.Sealed) &&
		string(a.Normalized) == string(b.Normalized) && a.HasChanges == b.HasChanges &&
		a.CreatedAt.Equal(b.CreatedAt) && a.Discarded == b.Discarded && a.AppliedRunID == b.AppliedRunID
}

func testSavePlanConcurrent(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := s.SavePlan(ctx, newPlan("r", 1, "net", "default")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	latest := must(s.LatestPlan(ctx, "r", 1, "net", "default"))(t)
	live := 0
	for id := latest.ID - n + 1; id <= latest.ID; id++ {
		if p, err := s.GetPlan(ctx, id); err == nil && !p.Discarded {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d live plans after concurrent saves, want 1", live)
	}
}

// testSavePlanOrder: plans are ordered by their runs. An older run's plan
// saved after a newer run's (two replicas planning two pushes at once, the
// newer finishing first) is stored discarded and leaves the newer one
// live; so is a plan saved with Discarded set.
func testSavePlanOrder(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	planOf := func(run int64, head string) store.Plan {
		p := newPlan("r", 1, "net", "default")
		p.RunID, p.HeadSHA = run, head
		return p
	}
	newer := must(s.SavePlan(ctx, planOf(11, "h2")))(t)
	older := must(s.SavePlan(ctx, planOf(10, "h1")))(t)
	if !older.Discarded {
		t.Error("the older run's plan, saved last, is live")
	}
	if got := must(s.GetPlan(ctx, newer.ID))(t); got.Discarded {
		t.Fatal("the older run's plan discarded the newer run's plan")
	}
	if got := must(s.LatestPlan(ctx, "r", 1, "net", "default"))(t); got.ID != newer.ID || got.HeadSHA != "h2" {
		t.Fatalf("LatestPlan = plan %d at %s, want plan %d at h2", got.ID, got.HeadSHA, newer.ID)
	}
	wantErr(t, s.ClaimPlan(ctx, older.ID, 50), store.ErrConflict)

	// A plan saved discarded (its run was overtaken) leaves the live one
	// alone, whatever its run.
	p := planOf(12, "h3")
	p.Discarded = true
	overtaken := must(s.SavePlan(ctx, p))(t)
	if !overtaken.Discarded {
		t.Error("a plan saved with Discarded set is live")
	}
	if got := must(s.LatestPlan(ctx, "r", 1, "net", "default"))(t); got.ID != newer.ID {
		t.Fatalf("LatestPlan = plan %d, want plan %d: a discarded save replaced it", got.ID, newer.ID)
	}

	// A newer run's plan still replaces the live one; so does a plan of
	// the same run saved again.
	newest := must(s.SavePlan(ctx, planOf(13, "h4")))(t)
	if newest.Discarded || !must(s.GetPlan(ctx, newer.ID))(t).Discarded {
		t.Fatal("a newer run's plan did not replace the live plan")
	}
	again := must(s.SavePlan(ctx, planOf(13, "h4")))(t)
	if again.Discarded || !must(s.GetPlan(ctx, newest.ID))(t).Discarded {
		t.Fatal("the same run's plan saved again did not replace the live plan")
	}

	// Other projects and merge requests are not compared.
	other := newPlan("r", 2, "net", "default")
	other.RunID = 1
	if got := must(s.SavePlan(ctx, other))(t); got.Discarded {
		t.Fatal("a plan of another merge request was compared with this one's")
	}
}

// testSavePlanOrderConcurrent: however the saves of plans of several runs
// interleave, the newest run's plan is the one left live.
func testSavePlanOrderConcurrent(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			p := newPlan("r", 1, "net", "default")
			p.RunID, p.HeadSHA = int64(100+i), fmt.Sprintf("h%d", i)
			if _, err := s.SavePlan(ctx, p); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := must(s.LatestPlan(ctx, "r", 1, "net", "default"))(t); got.RunID != 100+n-1 {
		t.Fatalf("live plan is run %d's, want the newest run's (%d)", got.RunID, 100+n-1)
	}
}

func testClaimPlan(t *testing.T, open Opener) {
	s := open(t)
	tests := []struct {
		name    string
		prepare func(ctx context.Context, p store.Plan) error
		run     int64
		err     error
		applied int64
	}{
		{"live", nil, 5, nil, 5},
		{"claimed by another run", func(ctx context.Context, p store.Plan) error { return s.ClaimPlan(ctx, p.ID, 4) }, 5, store.ErrConflict, 4},
		{"claimed by the same run", func(ctx context.Context, p store.Plan) error { return s.ClaimPlan(ctx, p.ID, 5) }, 5, nil, 5},
		{"discarded", func(ctx context.Context, p store.Plan) error { return s.DiscardPlans(ctx, p.Repo, p.MR) }, 5, store.ErrConflict, 0},
		{"superseded", func(ctx context.Context, p store.Plan) error {
			_, err := s.SavePlan(ctx, p)
			return err
		}, 5, store.ErrConflict, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			p := must(s.SavePlan(ctx, newPlan("r", int64(i+1), "net", "default")))(t)
			if tt.prepare != nil {
				ok(t, tt.prepare(ctx, p))
			}
			err := s.ClaimPlan(ctx, p.ID, tt.run)
			if tt.err != nil {
				wantErr(t, err, tt.err)
			} else {
				ok(t, err)
			}
			if got := must(s.GetPlan(ctx, p.ID))(t); got.AppliedRunID != tt.applied {
				t.Fatalf("applied run = %d, want %d", got.AppliedRunID, tt.applied)
			}
		})
	}
	wantErr(t, s.ClaimPlan(t.Context(), 1<<40, 1), store.ErrNotFound)
}

func testClaimPlanOnce(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	p := must(s.SavePlan(ctx, newPlan("r", 1, "net", "default")))(t)
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int64
		others  []error
	)
	for i := range n {
		wg.Go(func() {
			err := s.ClaimPlan(ctx, p.ID, int64(100+i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, int64(100+i))
			case !errors.Is(err, store.ErrConflict):
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if len(others) > 0 || len(winners) != 1 {
		t.Fatalf("claims won by %v (errors %v), want exactly one", winners, others)
	}
	if got := must(s.GetPlan(ctx, p.ID))(t); got.AppliedRunID != winners[0] {
		t.Fatalf("applied run = %d, want %d", got.AppliedRunID, winners[0])
	}
}

var (
	keyNet  = store.LockKey{Repo: "r", Dir: "net", Workspace: "default"}
	keyProd = store.LockKey{Repo: "r", Dir: "net", Workspace: "prod"}
	keyApp  = store.LockKey{Repo: "r", Dir: "app", Workspace: "default"}
	keyR2   = store.LockKey{Repo: "r2", Dir: "net", Workspace: "default"}
)

func queueOf(l store.Lock) []int64 {
	q := []int64{}
	for _, w := range l.Queue {
		q = append(q, w.MR)
	}
	return q
}

func testLocks(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	_, err := s.GetLock(ctx, keyNet)
	wantErr(t, err, store.ErrNotFound)
	steps := []struct {
		key  store.LockKey
		mr   int64
		want store.LockResult
	}{
		{keyNet, 1, store.LockResult{Held: true, Holder: 1}},
		{keyNet, 1, store.LockResult{Held: true, Holder: 1}}, // holder asks again
		{keyNet, 2, store.LockResult{Holder: 1, Position: 1}},
		{keyNet, 3, store.LockResult{Holder: 1, Position: 2}},
		{keyNet, 4, store.LockResult{Holder: 1, Position: 3}},
		{keyNet, 2, store.LockResult{Holder: 1, Position: 1}}, // asking again keeps the place
		{keyNet, 4, store.LockResult{Holder: 1, Position: 3}},
		{keyProd, 2, store.LockResult{Held: true, Holder: 2}}, // another workspace is another lock
		{keyApp, 3, store.LockResult{Held: true, Holder: 3}},
		{keyR2, 1, store.LockResult{Held: true, Holder: 1}},
		{keyProd, 1, store.LockResult{Holder: 2, Position: 1}},
	}
	for i, st := range steps {
		got := must(s.AcquireLock(ctx, st.key, "net", st.mr))(t)
		if got != st.want {
			t.Fatalf("step %d: AcquireLock(%v, %d) = %+v, want %+v", i, st.key, st.mr, got, st.want)
		}
	}
	before := time.Now().Add(-time.Minute)
	l := must(s.GetLock(ctx, keyNet))(t)
	if l.LockKey != keyNet || l.MR != 1 || !slices.Equal(queueOf(l), []int64{2, 3, 4}) || l.AcquiredAt.Before(before) {
		t.Fatalf("GetLock = %+v, want held by 1 with queue [2 3 4]", l)
	}
	for _, w := range l.Queue {
		if w.EnqueuedAt.Before(before) {
			t.Fatalf("waiter %d enqueued at %v", w.MR, w.EnqueuedAt)
		}
	}
	locks := must(s.ListLocks(ctx, "r"))(t)
	type summary struct {
		key   store.LockKey
		mr    int64
		queue string
	}
	var got []summary
	for _, l := range locks {
		got = append(got, summary{l.LockKey, l.MR, fmt.Sprint(queueOf(l))})
	}
	want := []summary{{keyApp, 3, "[]"}, {keyNet, 1, "[2 3 4]"}, {keyProd, 2, "[1]"}}
	if !slices.Equal(got, want) {
		t.Fatalf("ListLocks(r) = %+v, want %+v", got, want)
	}
	if all := must(s.ListLocks(ctx, ""))(t); len(all) != 4 {
		t.Fatalf("ListLocks(\"\") returned %d locks, want 4", len(all))
	}
	if none := must(s.ListLocks(ctx, "nope"))(t); len(none) != 0 {
		t.Fatalf("ListLocks(nope) = %+v", none)
	}
}

// testLockNames: a lock is its directory and workspace, whatever the
// project is called; the name each merge request gives it is kept, for
// the holder and each waiter, asking again under another name renames it,
// and the lock passes on with the waiter's name.
func testLockNames(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	if got := must(s.AcquireLock(ctx, keyNet, "prod", 1))(t); !got.Held {
		t.Fatalf("AcquireLock(prod, 1) = %+v", got)
	}
	// Another merge request calls the same directory and workspace
	// "production": the same lock.
	if got := must(s.AcquireLock(ctx, keyNet, "production", 2))(t); got.Held || got.Holder != 1 || got.Position != 1 {
		t.Fatalf("AcquireLock(production, 2) = %+v, want queued behind 1", got)
	}
	l := must(s.GetLock(ctx, keyNet))(t)
	if l.Project != "prod" || len(l.Queue) != 1 || l.Queue[0].Project != "production" {
		t.Fatalf("GetLock = %+v, want prod held by 1, production waiting", l)
	}
	must(s.AcquireLock(ctx, keyNet, "prod-eu", 1))(t)
	must(s.AcquireLock(ctx, keyNet, "prod-us", 2))(t)
	l = must(s.GetLock(ctx, keyNet))(t)
	if l.Project != "prod-eu" || len(l.Queue) != 1 || l.Queue[0].Project != "prod-us" || l.Queue[0].MR != 2 {
		t.Fatalf("GetLock after asking again = %+v, want prod-eu held by 1, prod-us waiting (renamed, same place)", l)
	}
	next := must(s.ReleaseLock(ctx, keyNet, 1))(t)
	if next == nil || next.MR != 2 || next.Project != "prod-us" {
		t.Fatalf("ReleaseLock passed %+v, want !2's prod-us", next)
	}
	if l = must(s.GetLock(ctx, keyNet))(t); l.Project != "prod-us" || l.MR != 2 {
		t.Fatalf("GetLock after the release = %+v, want prod-us held by 2", l)
	}
	if all := must(s.ListLocks(ctx, "r"))(t); len(all) != 1 || all[0].Project != "prod-us" || all[0].Dir != keyNet.Dir {
		t.Fatalf("ListLocks = %+v", all)
	}
}

func testLockRelease(t *testing.T, open Opener) {
	s := open(t)
	type step struct {
		mr       int64
		next     int64 // MR expected to get the lock; 0 for nil
		holder   int64 // holder after the release; 0 for free
		queue    []int64
		acquired bool // whether to check AcquiredAt moved
	}
	tests := []struct {
		name    string
		holder  int64
		waiters []int64
		steps   []step
	}{
		{"holder passes to first waiter", 1, []int64{2, 3, 4}, []step{
			{mr: 1, next: 2, holder: 2, queue: []int64{3, 4}, acquired: true},
			{mr: 2, next: 3, holder: 3, queue: []int64{4}},
			{mr: 3, next: 4, holder: 4, queue: []int64{}},
			{mr: 4, next: 0, holder: 0},
		}},
		{"waiter leaves the queue", 1, []int64{2, 3, 4}, []step{
			{mr: 3, holder: 1, queue: []int64{2, 4}},
			{mr: 2, holder: 1, queue: []int64{4}},
			{mr: 1, next: 4, holder: 4, queue: []int64{}},
		}},
		{"neither holder nor waiter", 1, []int64{2}, []step{
			{mr: 9, holder: 1, queue: []int64{2}},
		}},
		{"free lock", 0, nil, []step{
			{mr: 1, holder: 0},
		}},
		{"released twice", 1, nil, []step{
			{mr: 1, holder: 0},
			{mr: 1, holder: 0},
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			k := store.LockKey{Repo: fmt.Sprint("r", i), Dir: "net", Workspace: "default"}
			if tt.holder != 0 {
				must(s.AcquireLock(ctx, k, "net", tt.holder))(t)
			}
			for _, w := range tt.waiters {
				must(s.AcquireLock(ctx, k, "net", w))(t)
			}
			for j, st := range tt.steps {
				next := must(s.ReleaseLock(ctx, k, st.mr))(t)
				switch {
				case st.next == 0 && next != nil:
					t.Fatalf("step %d: ReleaseLock(%d) passed the lock to %d, want nobody", j, st.mr, next.MR)
				case st.next != 0 && (next == nil || next.MR != st.next):
					t.Fatalf("step %d: ReleaseLock(%d) = %+v, want MR %d", j, st.mr, next, st.next)
				case next != nil && next.EnqueuedAt.IsZero():
					t.Fatalf("step %d: waiter without enqueue time", j)
				}
				l, err := s.GetLock(ctx, k)
				if st.holder == 0 {
					wantErr(t, err, store.ErrNotFound)
					continue
				}
				ok(t, err)
				if l.MR != st.holder || !slices.Equal(queueOf(l), st.queue) {
					t.Fatalf("step %d: lock held by %d queue %v, want %d %v", j, l.MR, queueOf(l), st.holder, st.queue)
				}
				if st.next != 0 {
					if got := must(s.AcquireLock(ctx, k, "net", st.next))(t); !got.Held {
						t.Fatalf("step %d: promoted MR %d asks and gets %+v", j, st.next, got)
					}
				}
			}
			// The lock works normally afterwards.
			res := must(s.AcquireLock(ctx, k, "net", 100))(t)
			if last := tt.steps[len(tt.steps)-1]; (last.holder == 0) != res.Held {
				t.Fatalf("after the steps, AcquireLock(100) = %+v", res)
			}
		})
	}
}

func testReleaseMR(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	must(s.AcquireLock(ctx, keyNet, "net", 1))(t)  // 1 holds, 2 waits
	must(s.AcquireLock(ctx, keyNet, "net", 2))(t)  //
	must(s.AcquireLock(ctx, keyProd, "net", 1))(t) // 1 holds, nobody waits
	must(s.AcquireLock(ctx, keyApp, "net", 3))(t)  // 3 holds, 1 and 4 wait
	must(s.AcquireLock(ctx, keyApp, "net", 1))(t)
	must(s.AcquireLock(ctx, keyApp, "net", 4))(t)
	must(s.AcquireLock(ctx, keyR2, "net", 1))(t) // MR 1 of another repo

	passed := must(s.ReleaseMR(ctx, "r", 1))(t)
	if len(passed) != 1 || passed[keyNet].MR != 2 {
		t.Fatalf("ReleaseMR passed %+v, want %v to MR 2", passed, keyNet)
	}
	checks := []struct {
		key    store.LockKey
		holder int64
		queue  []int64
	}{
		{keyNet, 2, []int64{}},
		{keyProd, 0, nil},
		{keyApp, 3, []int64{4}},
		{keyR2, 1, []int64{}},
	}
	for _, c := range checks {
		l, err := s.GetLock(ctx, c.key)
		if c.holder == 0 {
			wantErr(t, err, store.ErrNotFound)
			continue
		}
		ok(t, err)
		if l.MR != c.holder || !slices.Equal(queueOf(l), c.queue) {
			t.Fatalf("%v: held by %d queue %v, want %d %v", c.key, l.MR, queueOf(l), c.holder, c.queue)
		}
	}
	if again := must(s.ReleaseMR(ctx, "r", 1))(t); len(again) != 0 {
		t.Fatalf("second ReleaseMR passed %+v", again)
	}
}

func testLockConcurrent(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	const n = 50
	results := make([]store.LockResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = s.AcquireLock(ctx, keyNet, "net", int64(i+1)) })
	}
	wg.Wait()
	ok(t, errors.Join(errs...))
	CheckLockResults(t, results)
	l := must(s.GetLock(ctx, keyNet))(t)
	CheckQueueOrder(t, l, results, func(i int) int64 { return int64(i + 1) })
}

// CheckLockResults checks that concurrent AcquireLock calls of distinct MRs
// on one free lock gave it to exactly one and queued the others at
// positions 1..n-1, each once.
func CheckLockResults(t testing.TB, results []store.LockResult) {
	t.Helper()
	held := 0
	seen := make([]bool, len(results))
	for _, r := range results {
		switch {
		case r.Held:
			held++
		case r.Position < 1 || r.Position >= len(results):
			t.Fatalf("position %d out of 1..%d", r.Position, len(results)-1)
		case seen[r.Position]:
			t.Fatalf("position %d given twice", r.Position)
		default:
			seen[r.Position] = true
		}
	}
	if held != 1 {
		t.Fatalf("%d MRs hold the lock, want 1", held)
	}
}

// CheckQueueOrder checks that the lock's holder and queue match results:
// result i is MR mr(i)'s.
func CheckQueueOrder(t testing.TB, l store.Lock, results []store.LockResult, mr func(i int) int64) {
	t.Helper()
	want := make([]int64, len(results)-1)
	for i, r := range results {
		if r.Held {
			if l.MR != mr(i) {
				t.Fatalf("lock held by %d, but %d was told it holds it", l.MR, mr(i))
			}
			continue
		}
		if r.Holder != l.MR {
			t.Fatalf("MR %d was told %d holds the lock; %d does", mr(i), r.Holder, l.MR)
		}
		want[r.Position-1] = mr(i)
	}
	if got := queueOf(l); !slices.Equal(got, want) {
		t.Fatalf("queue %v, want in position order %v", got, want)
	}
}

func newEvent(delivery, semantic string) store.Event {
	return store.Event{Forge: "gitea", DeliveryID: delivery, SemanticKey: semantic, Kind: "merge_request", Payload: []byte(`{"n":1}`)}
}

func testEvents(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	first, inserted, err := s.InsertEvent(ctx, newEvent("d1", "gitea|r|1|sha|open"))
	ok(t, err)
	if !inserted || first.ID <= 0 || first.ReceivedAt.IsZero() || first.ProcessedAt != nil {
		t.Fatalf("InsertEvent = %+v, %v", first, inserted)
	}
	if got := must(s.GetEvent(ctx, first.ID))(t); !equalEvent(got, first) {
		t.Fatalf("GetEvent = %+v, want %+v", got, first)
	}
	tests := []struct {
		name     string
		e        store.Event
		inserted bool
	}{
		{"same delivery id", newEvent("d1", "other"), false},
		{"same semantic key", newEvent("d2", "gitea|r|1|sha|open"), false},
		{"both the same", newEvent("d1", "gitea|r|1|sha|open"), false},
		{"delivery id of another forge", store.Event{Forge: "github", DeliveryID: "d1", Kind: "pull_request"}, true},
		{"new delivery, no semantic key", newEvent("d3", ""), true},
		{"another, no semantic key", newEvent("d4", ""), true},
		{"no delivery id", newEvent("", "k5"), true},
		{"no delivery id again", newEvent("", "k6"), true},
		{"no keys at all", newEvent("", ""), true},
		{"no keys at all again", newEvent("", ""), true},
	}
	for _, tt := range tests {
		got, inserted, err := s.InsertEvent(ctx, tt.e)
		ok(t, err)
		if inserted != tt.inserted {
			t.Fatalf("%s: inserted = %v, want %v", tt.name, inserted, tt.inserted)
		}
		if !inserted && !equalEvent(got, first) {
			t.Fatalf("%s: duplicate returned %+v, want the existing %+v", tt.name, got, first)
		}
		if inserted {
			if got.ID == first.ID || got.DeliveryID != tt.e.DeliveryID || got.SemanticKey != tt.e.SemanticKey {
				t.Fatalf("%s: inserted %+v", tt.name, got)
			}
			if stored := must(s.GetEvent(ctx, got.ID))(t); !equalEvent(stored, got) {
				t.Fatalf("%s: stored %+v, returned %+v", tt.name, stored, got)
			}
		}
	}
	for _, keys := range [][3]string{{"gitea", "d1", ""}, {"github", "x", "gitea|r|1|sha|open"}, {"gitea", "d1", "gitea|r|1|sha|open"}} {
		if got := must(s.FindEvent(ctx, keys[0], keys[1], keys[2]))(t); !equalEvent(got, first) {
			t.Fatalf("FindEvent%q = %+v, want %+v", keys, got, first)
		}
	}
	for _, keys := range [][3]string{{"gitlab", "d1", ""}, {"gitea", "", ""}, {"gitea", "nope", "nope"}} {
		_, err := s.FindEvent(ctx, keys[0], keys[1], keys[2])
		wantErr(t, err, store.ErrNotFound)
	}
	_, err = s.GetEvent(ctx, 1<<40)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.MarkEventProcessed(ctx, 1<<40), store.ErrNotFound)
	ok(t, s.MarkEventProcessed(ctx, first.ID))
	p1 := must(s.GetEvent(ctx, first.ID))(t).ProcessedAt
	ok(t, s.MarkEventProcessed(ctx, first.ID))
	if p1 == nil || !must(s.GetEvent(ctx, first.ID))(t).ProcessedAt.Equal(*p1) {
		t.Fatal("processed time missing or changed by a second mark")
	}
	// A duplicate of a processed event is still a duplicate.
	if _, inserted, _ := s.InsertEvent(ctx, newEvent("d1", "")); inserted {
		t.Fatal("duplicate of a processed event inserted")
	}
}

func equalEvent(a, b store.Event) bool {
	eqTime := func(x, y *time.Time) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	return a.ID == b.ID && a.Forge == b.Forge && a.DeliveryID == b.DeliveryID && a.SemanticKey == b.SemanticKey &&
		a.Kind == b.Kind && string(a.Payload) == string(b.Payload) && a.ReceivedAt.Equal(b.ReceivedAt) &&
		eqTime(a.ProcessedAt, b.ProcessedAt)
}

func testEventsConcurrent(t *testing.T, open Opener) {
	s := open(t)
	tests := []struct {
		name string
		e    func(i int) store.Event
	}{
		{"same delivery id", func(i int) store.Event { return newEvent("d", fmt.Sprint("k", i)) }},
		{"same semantic key", func(i int) store.Event { return newEvent(fmt.Sprint("d", i), "k") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			const n = 20
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				ids   = map[int64]bool{}
				count int
				errs  []error
			)
			for i := range n {
				wg.Go(func() {
					e, inserted, err := s.InsertEvent(ctx, tt.e(i))
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					ids[e.ID] = true
					if inserted {
						count++
					}
				})
			}
			wg.Wait()
			ok(t, errors.Join(errs...))
			if count != 1 || len(ids) != 1 {
				t.Fatalf("%d inserted, %d distinct events returned; want 1 and 1", count, len(ids))
			}
		})
	}
}

func testPendingEvents(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var ids []int64
	// Received out of insertion order, to check oldest-first ordering.
	for i, off := range []int{3, 1, 2, 0, 10} {
		e := newEvent(fmt.Sprint("d", i), "")
		e.ReceivedAt = base.Add(time.Duration(off) * time.Minute)
		got, _, err := s.InsertEvent(ctx, e)
		ok(t, err)
		if !got.ReceivedAt.Equal(e.ReceivedAt) {
			t.Fatalf("ReceivedAt = %v, want %v", got.ReceivedAt, e.ReceivedAt)
		}
		ids = append(ids, got.ID)
	}
	ok(t, s.MarkEventProcessed(ctx, ids[2])) // received at +2
	cutoff := base.Add(5 * time.Minute)
	tests := []struct {
		before time.Time
		limit  int
		want   []int64
	}{
		{cutoff, 0, []int64{ids[3], ids[1], ids[0]}},
		{cutoff, 2, []int64{ids[3], ids[1]}},
		{base.Add(time.Minute), 0, []int64{ids[3]}}, // strictly before
		{base, 0, nil},
		{base.Add(time.Hour), 0, []int64{ids[3], ids[1], ids[0], ids[4]}},
	}
	for _, tt := range tests {
		got := must(s.PendingEvents(ctx, tt.before, tt.limit))(t)
		var gotIDs []int64
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
			if e.ProcessedAt != nil || len(e.Payload) == 0 {
				t.Fatalf("pending event %+v", e)
			}
		}
		if !slices.Equal(gotIDs, tt.want) {
			t.Fatalf("PendingEvents(%v, %d) = %v, want %v", tt.before, tt.limit, gotIDs, tt.want)
		}
	}
}

// testHash is a stand-in for the audit package's hash: any function of
// every field and PrevHash.
func testHash(e store.AuditEntry) string {
	e.Hash = ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkChain checks that entries are numbered from 1 without gaps and
// chained by hash.
func checkChain(t testing.TB, entries []store.AuditEntry) {
	t.Helper()
	prev := ""
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if e.PrevHash != prev {
			t.Fatalf("entry %d: prev_hash %q, want %q", e.Seq, e.PrevHash, prev)
		}
		if h := testHash(e); e.Hash != h {
			t.Fatalf("entry %d: stored hash %s does not match its fields (%s)", e.Seq, e.Hash, h)
		}
		prev = e.Hash
	}
}

func testAudit(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	before := time.Now().Add(-time.Second)
	at := time.Date(2026, 4, 5, 6, 7, 8, 123456789, time.FixedZone("X", 3600))
	tests := []store.AuditEntry{
		{Actor: "alice", Action: "apply", Subject: "r!1 net", Details: []byte(`{"run":1}`)},
		{Actor: "bob", Action: "lock.release", Subject: "r net/default", At: at, Seq: 77, PrevHash: "forged", Hash: "forged"},
		{Actor: "sluice", Action: "plan", Subject: "r!2 app", Details: []byte{}},
	}
	var appended []store.AuditEntry
	for i, in := range tests {
		e := must(s.AppendAudit(ctx, in, testHash))(t)
		switch {
		case e.Seq != int64(i+1):
			t.Fatalf("entry %d: seq %d", i, e.Seq)
		case e.Actor != in.Actor || e.Action != in.Action || e.Subject != in.Subject || string(e.Details) != string(in.Details):
			t.Fatalf("entry %d = %+v, from %+v", i, e, in)
		case in.At.IsZero() && e.At.Before(before):
			t.Fatalf("entry %d: At = %v, want now", i, e.At)
		case !in.At.IsZero() && !e.At.Equal(in.At.Truncate(time.Microsecond)):
			t.Fatalf("entry %d: At = %v, want %v to the microsecond", i, e.At, in.At)
		}
		appended = append(appended, e)
	}
	checkChain(t, appended)
	stored := must(s.AuditEntries(ctx, 0, time.Time{}, 0))(t)
	checkChain(t, stored)
	for i := range stored {
		if stored[i].Hash != appended[i].Hash || !stored[i].At.Equal(appended[i].At) {
			t.Fatalf("stored entry %d = %+v, appended %+v", i, stored[i], appended[i])
		}
	}
	if _, err := s.AppendAudit(ctx, store.AuditEntry{Action: "x"}, nil); err == nil {
		t.Fatal("AppendAudit without a hash function succeeded")
	}
}

func testAuditConcurrent(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.AppendAudit(ctx, store.AuditEntry{Actor: fmt.Sprint("user", i), Action: "test", Subject: "s"}, testHash)
		})
	}
	wg.Wait()
	ok(t, errors.Join(errs...))
	entries := must(s.AuditEntries(ctx, 0, time.Time{}, 0))(t)
	if len(entries) != n {
		t.Fatalf("%d entries, want %d", len(entries), n)
	}
	checkChain(t, entries)
}

func testAuditEntries(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		must(s.AppendAudit(ctx, store.AuditEntry{At: base.Add(time.Duration(i) * time.Hour), Actor: "a", Action: "x", Subject: fmt.Sprint(i)}, testHash))(t)
	}
	tests := []struct {
		after int64
		since time.Time
		limit int
		want  []int64
	}{
		{0, time.Time{}, 0, []int64{1, 2, 3, 4, 5}},
		{2, time.Time{}, 0, []int64{3, 4, 5}},
		{0, time.Time{}, 2, []int64{1, 2}},
		{0, base.Add(3 * time.Hour), 0, []int64{4, 5}}, // At >= since
		{4, base.Add(time.Hour), 1, []int64{5}},
		{5, time.Time{}, 0, nil},
	}
	for _, tt := range tests {
		var got []int64
		for _, e := range must(s.AuditEntries(ctx, tt.after, tt.since, tt.limit))(t) {
			got = append(got, e.Seq)
		}
		if !slices.Equal(got, tt.want) {
			t.Fatalf("AuditEntries(%d, %v, %d) = %v, want %v", tt.after, tt.since, tt.limit, got, tt.want)
		}
	}
}

func testHeartbeats(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	start := time.Now().Add(-time.Second)
	if got := must(s.Instances(ctx, start))(t); len(got) != 0 {
		t.Fatalf("Instances before any heartbeat = %v", got)
	}
	ok(t, s.Heartbeat(ctx, "b"))
	ok(t, s.Heartbeat(ctx, "a"))
	ok(t, s.Heartbeat(ctx, "a"))
	if got := must(s.Instances(ctx, start))(t); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Instances = %v, want [a b]", got)
	}
	if got := must(s.Instances(ctx, time.Now().Add(time.Hour)))(t); len(got) != 0 {
		t.Fatalf("Instances seen in the future = %v", got)
	}
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	ok(t, s.Heartbeat(ctx, "b"))
	if got := must(s.Instances(ctx, mid))(t); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Instances since a renewed heartbeat = %v, want [b]", got)
	}
}

// testDeleteProcessedEvents: pruning deletes the events processed before
// the cutoff, in batches however many there are, and never an unprocessed
// one however old; a replay of a deleted event's delivery is then new.
func testDeleteProcessedEvents(t *testing.T, open Opener) {
	s, ctx := open(t), t.Context()
	old := time.Now().Add(-90 * 24 * time.Hour)
	insert := func(delivery, semantic string, received time.Time) int64 {
		e := newEvent(delivery, semantic)
		e.ReceivedAt = received
		got, inserted, err := s.InsertEvent(ctx, e)
		ok(t, err)
		if !inserted {
			t.Fatalf("%s not inserted", delivery)
		}
		return got.ID
	}
	pendingOld := insert("pending-old", "k-pending-old", old)
	processed := insert("processed", "k-processed", old)
	ok(t, s.MarkEventProcessed(ctx, processed))
	const many = 2500 // over the store's batch
	for i := range many {
		ok(t, s.MarkEventProcessed(ctx, insert(fmt.Sprint("bulk-", i), "", old)))
	}
	marked := time.Now()

	// Nothing was processed before an hour ago.
	if n := must(s.DeleteProcessedEvents(ctx, marked.Add(-time.Hour)))(t); n != 0 {
		t.Fatalf("deleted %d events processed after the cutoff", n)
	}
	if n := must(s.DeleteProcessedEvents(ctx, marked.Add(time.Minute)))(t); n != many+1 {
		t.Fatalf("deleted %d events, want %d", n, many+1)
	}
	if _, err := s.GetEvent(ctx, processed); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the processed event is still there: %v", err)
	}
	if e := must(s.GetEvent(ctx, pendingOld))(t); e.ProcessedAt != nil {
		t.Fatalf("the unprocessed event changed: %+v", e)
	}
	if got := must(s.PendingEvents(ctx, time.Now(), 0))(t); len(got) != 1 || got[0].ID != pendingOld {
		t.Fatalf("pending events after pruning: %+v", got)
	}
	if n := must(s.DeleteProcessedEvents(ctx, time.Now().Add(time.Hour)))(t); n != 0 {
		t.Fatalf("a second prune deleted %d", n)
	}
	// The deleted event's delivery id and semantic key are free again.
	if _, inserted, err := s.InsertEvent(ctx, newEvent("processed", "k-processed")); err != nil || !inserted {
		t.Fatalf("re-inserting a pruned event: inserted %v, %v", inserted, err)
	}
}
