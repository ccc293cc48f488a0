package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/repoconfig"
)

// PlanOptions select what `sluice plan` plans.
type PlanOptions struct {
	Options
	BaseRef  string
	Projects []string // only these; default: every affected project
}

// ErrPlanFailed is returned (wrapped) when at least one project failed to
// plan; the record and the comment are still produced.
var ErrPlanFailed = errors.New("plan failed")

// Plan plans every affected project in dependency order, saves the plans
// for Apply, and returns the record. A project whose dependency failed is
// skipped. The returned error wraps ErrPlanFailed when any project failed.
func Plan(ctx context.Context, opts PlanOptions) (*Record, *Checkout, error) {
	// The working tree is snapshotted before any engine runs, beside the
	// other git calls, and again once planning is done: an edit made while
	// the engines read the code must not pass for planned code.
	co, ch, err := openChanges(ctx, opts.Dir, opts.BaseRef, true)
	if err != nil {
		return nil, co, err
	}
	// The tree of the snapshot taken before planning is written while the
	// engines plan, off the critical path.
	var (
		before    string
		errBefore error
		beforeOK  = make(chan struct{})
	)
	go func() {
		defer close(beforeOK)
		defer ch.snap.Close()
		before, errBefore = ch.snap.Tree(ctx)
	}()
	defer func() { <-beforeOK }()
	release, err := lockCheckout(co.dirs.lock())
	if err != nil {
		return nil, co, err
	}
	defer release()
	sel, err := co.Select(ch.Matches, opts.Projects)
	if err != nil {
		return nil, co, err
	}
	// A reviewed plan that was never applied and that this plan leaves out
	// (after a merge nothing differs from the base any more) is said, not
	// dropped in silence.
	if old, err := readRecord(co.dirs.record()); err == nil {
		for _, p := range old.Projects {
			if p.Status == render.StatusPlanned && p.Plan != nil && p.Plan.Changes() && !slices.ContainsFunc(sel, func(m affected.Match) bool { return m.Project == p.Name }) {
				progress(opts.Progress, "warning: %s had a plan with changes that was never applied, and this plan leaves it out; to plan it: sluice plan -p %s", p.Name, p.Name)
			}
		}
	}
	// The old record goes first: an interrupted plan must leave nothing
	// that apply could mistake for a reviewed plan.
	if err := os.Remove(co.dirs.record()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, co, fmt.Errorf("removing the previous plan: %w", err)
	}
	rec := &Record{
		Version:   recordVersion,
		CreatedAt: time.Now().UTC(),
		BaseRef:   ch.BaseRef,
		Base:      ch.Base,
		MergeBase: ch.MergeBase,
		Head:      ch.Head,
		Removed:   ch.Removed,
	}
	for _, w := range ch.Warnings {
		progress(opts.Progress, "warning: %s", w)
	}
	for _, r := range ch.Removed {
		progress(opts.Progress, "warning: %s", r.Notice())
	}
	progress(opts.Progress, "base %s (%s), head %s: %s changed, %s to plan",
		ch.BaseRef, gitx.Short(ch.Base), gitx.Short(ch.Head), plural(len(ch.Paths), "file"), plural(len(sel), "project"))

	// The plans are bound to the working tree as it is once planned: init
	// may have written files the project tracks (a new .terraform.lock.hcl),
	// and those belong to what was planned. The snapshot starts as soon as
	// the last plan is saved, while the engine reads it back.
	var (
		treeOnce sync.Once
		treeDone = make(chan struct{})
		treeErr  error
	)
	snapshot := func() {
		treeOnce.Do(func() {
			go func() {
				defer close(treeDone)
				rec.Tree, treeErr = co.Repo.WorktreeTree(ctx)
			}()
		})
	}
	// An affected dependency left out with -p is recorded as not planned,
	// so that apply does not take its state for what the change leaves.
	for _, r := range co.unselectedDependencies(ch.Matches, sel) {
		progress(opts.Progress, "%s: %s", r.Name, r.Message)
		rec.Projects = append(rec.Projects, r)
	}
	failed := map[string]bool{}
	for i, m := range sel {
		var saved func()
		if i == len(sel)-1 {
			saved = snapshot
		}
		pr := co.planProject(ctx, opts.Options, m, failed, saved)
		if pr.Status == render.StatusFailed || pr.Status == render.StatusSkipped {
			failed[pr.Name] = true
		}
		rec.Projects = append(rec.Projects, pr)
		if ctx.Err() != nil {
			break
		}
	}
	snapshot()
	<-treeDone
	if ctx.Err() != nil {
		// What was planned is incomplete and bound to nothing: the record
		// says so, and apply refuses it.
		rec.Interrupted = true
		rec.Tree = ""
	} else {
		if treeErr != nil {
			return nil, co, treeErr
		}
		if <-beforeOK; errBefore != nil {
			return nil, co, errBefore
		}
		if err := co.failChangedWhilePlanning(ctx, opts.Options, rec, before); err != nil {
			return nil, co, err
		}
	}
	if err := writeRecord(co.dirs.record(), rec); err != nil {
		return nil, co, err
	}
	if ctx.Err() != nil {
		return rec, co, fmt.Errorf("plan interrupted: %w; run `sluice plan` again", ctx.Err())
	}
	var names []string
	for _, p := range rec.Projects {
		if p.Status == render.StatusFailed {
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 {
		return rec, co, fmt.Errorf("%w for %s", ErrPlanFailed, strings.Join(names, ", "))
	}
	return rec, co, nil
}

// failChangedWhilePlanning compares the working tree before planning
// (before) with the one recorded after it, and fails the plan of every
// project whose files changed in between: the engine may have read either
// version. The files an engine writes in a project's directory while
// planning (engine.OwnFiles: init's lock file, a new Pulumi stack's
// settings file) are its own changes and belong to what was planned.
func (co *Checkout) failChangedWhilePlanning(ctx context.Context, opts Options, rec *Record, before string) error {
	if before == "" || before == rec.Tree {
		return nil
	}
	files, err := co.Repo.Diff(ctx, before, rec.Tree)
	if err != nil {
		return err
	}
	engineWrote := map[string]bool{} // added or modified
	engineAdded := map[string]bool{} // added only
	for _, p := range rec.Projects {
		eng, err := opts.Engines(p.Engine)
		if err != nil {
			continue // the project failed to plan already
		}
		own, ok := eng.(engine.OwnFiles)
		if !ok {
			continue
		}
		for _, f := range own.OwnFiles(p.Workspace) {
			if f.OnlyNew {
				engineAdded[path.Join(p.Dir, f.Name)] = true
			} else {
				engineWrote[path.Join(p.Dir, f.Name)] = true
			}
		}
	}
	var paths []string
	for _, f := range files {
		for _, p := range gitx.Paths([]gitx.Change{f}) {
			if !engineWrote[p] && !(f.Status == 'A' && engineAdded[p]) {
				paths = append(paths, p)
			}
		}
	}
	for i := range rec.Projects {
		p := &rec.Projects[i]
		if p.Status != render.StatusPlanned && p.Status != render.StatusNoChanges {
			continue
		}
		hit, err := co.staleFiles(ctx, *p, paths)
		if err != nil {
			return err
		}
		if len(hit) == 0 {
			continue
		}
		p.Status = render.StatusFailed
		p.Message = "the code changed while it was being planned; run `sluice plan` again"
		p.ErrorLines = append([]string{"changed while planning:"}, firstN(hit, 5)...)
		p.Plan = nil
		_ = os.Remove(co.dirs.artifact(p.Name))
		progress(opts.Progress, "%s: %s (%s)", p.Name, p.Message, strings.Join(firstN(hit, 5), ", "))
	}
	return nil
}

// unselectedDependencies are the projects the change affects that a
// selected project depends on but -p left out.
func (co *Checkout) unselectedDependencies(matches, sel []affected.Match) []ProjectRecord {
	chosen := map[string]bool{}
	for _, m := range sel {
		chosen[m.Project] = true
	}
	var out []ProjectRecord
	for _, m := range matches {
		if chosen[m.Project] {
			continue
		}
		for _, s := range sel {
			sp, _ := co.Config.Project(s.Project)
			if sp == nil || !slices.Contains(sp.DependsOn, m.Project) {
				continue
			}
			p, _ := co.Config.Project(m.Project)
			out = append(out, ProjectRecord{
				Name: p.Name, Dir: p.Dir, Engine: p.Engine, Workspace: p.EngineWorkspace(), DependsOn: p.DependsOn,
				Patterns: co.Patterns(p.Name), Reasons: m.Paths, Status: render.StatusSkipped,
				Message: fmt.Sprintf("not planned: the change affects it, and %s depends on it, but -p left it out", s.Project),
			})
			break
		}
	}
	return out
}

func (co *Checkout) planProject(ctx context.Context, opts Options, m affected.Match, failed map[string]bool, saved func()) ProjectRecord {
	p, _ := co.Config.Project(m.Project)
	pr := ProjectRecord{
		Name:      p.Name,
		Dir:       p.Dir,
		Engine:    p.Engine,
		Workspace: p.EngineWorkspace(),
		DependsOn: p.DependsOn,
		Patterns:  co.Patterns(p.Name),
		Reasons:   m.Paths,
	}
	for _, dep := range p.DependsOn {
		if failed[dep] {
			pr.Status = render.StatusSkipped
			pr.Message = fmt.Sprintf("not planned: it depends on %s, which did not plan", dep)
			progress(opts.Progress, "%s: skipped, it depends on %s", p.Name, dep)
			return pr
		}
	}
	start := time.Now()
	progress(opts.Progress, "%s: planning %s with %s", p.Name, p.Dir, p.Engine)
	eng, err := opts.Engines(p.Engine)
	if err != nil {
		pr.Status = render.StatusFailed
		pr.Message = err.Error()
		progress(opts.Progress, "%s: %v", p.Name, err)
		return pr
	}
	stop := heartbeat(opts, p.Name+": still planning")
	plan, err := eng.Plan(ctx, engine.PlanRequest{
		Project:   p.Name,
		Root:      co.Repo.Root,
		Dir:       co.projectDir(p.Dir),
		Workspace: p.EngineWorkspace(),
		StateDir:  co.dirs.state(p.Name),
		PlanFile:  co.dirs.artifact(p.Name),
		Log:       prefixed(opts.Log, p.Name, co.redactor(nil)),
		Saved:     saved,
	})
	stop()
	pr.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		pr.Status = render.StatusFailed
		pr.Message, pr.ErrorLines = describe(err, co.redactor(nil))
		progress(opts.Progress, "%s: %s (%s)", p.Name, pr.Message, since(start))
		return pr
	}
	plan.Redact(co.redactor(plan.Secrets))
	pr.Plan = plan
	pr.Status = render.StatusPlanned
	if !plan.Changes() {
		pr.Status = render.StatusNoChanges
	}
	detail := since(start)
	switch {
	case p.Engine == repoconfig.EnginePulumi: // no init step
	case plan.InitSkipped:
		detail += ", init reused"
	default:
		detail += ", init ran"
	}
	if plan.CreatedWorkspace != "" {
		what := "workspace"
		if p.Engine == repoconfig.EnginePulumi {
			what = "stack"
		}
		progress(opts.Progress, "%s: created %s %q (it did not exist)", p.Name, what, plan.CreatedWorkspace)
	}
	progress(opts.Progress, "%s: %s (%s)", p.Name, summaryLine(plan), detail)
	return pr
}

// describe turns an engine error into a short message and the engine's
// own error lines, redacted.
func describe(err error, r *redact.Redactor) (string, []string) {
	var re *engine.RunError
	if errors.As(err, &re) {
		lines := make([]string, len(re.Lines))
		for i, l := range re.Lines {
			lines[i] = r.String(l)
		}
		msg := re.Command + " failed"
		if errors.Is(err, engine.ErrStalePlan) {
			msg = "the saved plan is stale: the state changed after it was planned (someone applied in between); run `sluice plan` again and have it reviewed"
		} else if errors.Is(err, context.Canceled) {
			msg = re.Command + " was interrupted"
		}
		return msg, lines
	}
	if errors.Is(err, engine.ErrArtifactChanged) {
		return "the saved plan file was modified after it was reviewed, so nothing was applied; run `sluice plan` again and have the new plan reviewed",
			[]string{r.String(err.Error())}
	}
	return r.String(err.Error()), nil
}

func summaryLine(p *engine.Plan) string {
	if !p.Changes() {
		return "no changes"
	}
	return render.PlanSummary(p.Summary)
}

// prefixed labels live engine output with the project and hides the
// configured masks in it; the engine itself hides sensitive values.
func prefixed(log engine.LineFunc, project string, r *redact.Redactor) engine.LineFunc {
	if log == nil {
		return nil
	}
	return func(stream, line string) { log(stream, project+": "+r.String(line)) }
}

// heartbeat says on Progress every opts.Heartbeat that work is still
// running, and for how long, until stop is called: a long plan or apply
// shows it is alive, and CI systems that end quiet jobs see output.
func heartbeat(opts Options, what string) (stop func()) {
	every := opts.Heartbeat
	if every == 0 {
		every = DefaultHeartbeat
	}
	if opts.Progress == nil || every < 0 {
		return func() {}
	}
	start := time.Now()
	tick := time.NewTicker(every)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				progress(opts.Progress, "%s (%s so far)", what, since(start))
			}
		}
	}()
	return func() {
		tick.Stop()
		close(done)
		<-finished
	}
}

func progress(w io.Writer, format string, args ...any) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "sluice: "+format+"\n", args...)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Comment renders a record as the merge request comment.
func (co *Checkout) Comment(rec *Record) render.Comment {
	c := render.Comment{Head: rec.Head, Base: rec.Base}
	var notes []string
	if rec.Interrupted {
		notes = append(notes, "**The plan was interrupted.** Nothing here can be applied; run `sluice plan` again.")
	}
	for _, r := range rec.Removed {
		notes = append(notes, "**Warning:** "+r.Notice())
	}
	c.Footer = strings.Join(notes, "\n\n")
	for _, p := range rec.Projects {
		r := render.ProjectResult{
			Name:       p.Name,
			Dir:        p.Dir,
			Engine:     p.Engine,
			Workspace:  p.Workspace,
			Status:     p.Status,
			Plan:       p.Plan,
			ErrorLines: p.ErrorLines,
			Message:    p.Message,
			ApplyText:  p.ApplyText,
		}
		switch {
		case p.Status == render.StatusPlanned && p.Message != "":
			// A plan that an apply did not reach ("not applied: an
			// earlier apply failed"): the comment shows a planned
			// project's diff but not its message, a skipped one's
			// message. The record keeps it planned, so a later apply
			// can still apply it.
			r.Status = render.StatusSkipped
		case p.Status == render.StatusApplied && p.Message == "" && p.ApplySummary != nil:
			// The engine's own counts, beside the plan's that the
			// comment shows as the apply's.
			r.Message = fmt.Sprintf("%s reported: %s.", p.Engine, reportedSummary(*p.ApplySummary))
		}
		c.Projects = append(c.Projects, r)
	}
	return c
}

// reportedSummary is an engine's count of what it applied.
func reportedSummary(s engine.Summary) string {
	out := fmt.Sprintf("%d added, %d changed, %d destroyed", s.Add, s.Change, s.Destroy)
	if s.Import > 0 {
		out = fmt.Sprintf("%d imported, %s", s.Import, out)
	}
	if s.Replace > 0 {
		out += fmt.Sprintf(", %d replaced", s.Replace)
	}
	return out
}

// Redactor hides the secrets of every plan in the record and the masks.
func (co *Checkout) Redactor(rec *Record) *redact.Redactor {
	var secrets []string
	for _, p := range rec.Projects {
		if p.Plan != nil {
			secrets = append(secrets, p.Plan.Secrets...)
		}
	}
	return co.redactor(secrets)
}
