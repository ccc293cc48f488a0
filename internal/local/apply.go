package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/affected"
	"github.com/sluicehq/sluice/internal/depends"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/repoconfig"
)

// ApplyOptions select what `sluice apply` applies.
type ApplyOptions struct {
	Options
	// BaseRef, when set, must be the base the plan was made against.
	BaseRef  string
	Projects []string
}

// ErrRefused means apply changed nothing because the saved plan may not be
// applied as it is; the message says why and what to do.
var ErrRefused = errors.New("apply refused")

// ErrApplyFailed means an engine apply failed; projects after it were not
// applied.
var ErrApplyFailed = errors.New("apply failed")

// Apply applies the saved plans of the last `sluice plan`, in dependency
// order, after checking that each is still exactly what was reviewed: the
// code it was planned from is unchanged (a merge that brings no other
// change to the project is fine) and its artifact is the saved one. It
// refuses, before applying anything, when any selected plan failed or is
// stale. It stops at the first failed apply.
func Apply(ctx context.Context, opts ApplyOptions) (*Record, *Checkout, error) {
	co, err := Open(ctx, opts.Dir)
	if err != nil {
		return nil, nil, err
	}
	release, err := lockCheckout(co.dirs.lock())
	if err != nil {
		return nil, co, err
	}
	defer release()

	rec, err := readRecord(co.dirs.record())
	if err != nil {
		return nil, co, err
	}
	if rec.Interrupted {
		return rec, co, fmt.Errorf("%w: the last plan was interrupted; run `sluice plan` again", ErrRefused)
	}
	if opts.BaseRef != "" && opts.BaseRef != rec.BaseRef {
		return rec, co, fmt.Errorf("%w: the saved plan was made against base %s, not %s; run `sluice plan --base %s` first",
			ErrRefused, rec.BaseRef, opts.BaseRef, opts.BaseRef)
	}
	sel, err := selectRecorded(rec, opts.Projects)
	if err != nil {
		return rec, co, err
	}
	todo, err := checkStatus(rec, sel)
	if err != nil {
		return rec, co, err
	}
	selected := selection(rec, sel)
	if todo == 0 {
		progress(opts.Progress, "nothing to apply: no selected project has changes left")
		return rec, co, nil
	}
	if err := co.checkFresh(ctx, rec, sel); err != nil {
		return rec, co, err
	}
	if err := co.checkArtifacts(rec, sel); err != nil {
		return rec, co, err
	}

	var failure error
	for _, i := range sel {
		p := &rec.Projects[i]
		if p.Status != render.StatusPlanned {
			continue
		}
		h := holdOf(rec, p, selected)
		switch {
		case ctx.Err() != nil:
			// The last engine finished its apply after the interrupt; the
			// rest are not started.
			p.Message = "not applied: sluice apply was interrupted"
			if failure == nil {
				failure = fmt.Errorf("%w: interrupted (%v) before project %s; run `sluice apply` again to apply the rest", ErrApplyFailed, ctx.Err(), p.Name)
			}
		case failure != nil:
			p.Message = "not applied: an earlier apply failed"
		case h.Blocks():
			// A dependency applied just now changed its outputs: any
			// other hold refused the apply before it began (checkStatus).
			p.Message = fmt.Sprintf("not applied: it %s: plan it again with `sluice plan -p %s`", h.Why(), p.Name)
			failure = fmt.Errorf("%w: project %s %s: "+
				"run `sluice plan -p %s` (after a merge, nothing differs from the base any more, so name it) and have the new plan reviewed", ErrApplyFailed, p.Name, h.Why(), p.Name)
			progress(opts.Progress, "%s: %s", p.Name, p.Message)
		default:
			// Written down before the engine starts: if sluice dies now,
			// the engine may go on, and no later apply may start it again.
			now := time.Now().UTC()
			p.ApplyingSince = &now
			if err := writeRecord(co.dirs.record(), rec); err != nil {
				return rec, co, err
			}
			failure = co.applyProject(ctx, opts.Options, p)
			p.ApplyingSince = nil
		}
		// Record every outcome as it happens: a project applied is never
		// applied again by a later `sluice apply`, and one not applied
		// says why.
		if err := writeRecord(co.dirs.record(), rec); err != nil {
			return rec, co, err
		}
	}
	return rec, co, failure
}

// checkArtifacts refuses, before anything is applied, when the saved plan
// file of a selected project with changes is missing or is not the one
// reviewed: its SHA-256 differs from the one recorded at plan time. The
// engine driver checks again right before it applies.
func (co *Checkout) checkArtifacts(rec *Record, sel []int) error {
	var bad []string
	for _, i := range sel {
		p := &rec.Projects[i]
		if p.Status != render.StatusPlanned || p.Plan == nil {
			continue
		}
		path := co.dirs.artifact(p.Name)
		a, err := engine.HashFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			bad = append(bad, fmt.Sprintf("%s (%s is missing)", p.Name, path))
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s (%v)", p.Name, err))
		case p.Plan.Artifact.SHA256 == "" || a.SHA256 != p.Plan.Artifact.SHA256:
			bad = append(bad, fmt.Sprintf("%s (%s has SHA-256 %s, the reviewed plan had %s)", p.Name, path, gitx.Short(a.SHA256), orNone(gitx.Short(p.Plan.Artifact.SHA256))))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: the saved plan file is not the one reviewed: %s; nothing was applied; run `sluice plan` again and have the new plan reviewed",
			ErrRefused, strings.Join(bad, "; "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// checkStatus refuses an apply when a selected project, or a recorded
// project a selected one depends on, is not in a state to go on from, and
// returns how many selected projects have changes to apply.
func checkStatus(rec *Record, sel []int) (int, error) {
	for _, p := range rec.Projects {
		if p.ApplyingSince != nil {
			return 0, fmt.Errorf("%w: the apply of project %s started at %s and never finished (was sluice stopped?): its %s process may still be running, or may have stopped midway; "+
				"make sure it is not running, then run `sluice plan` again to see where the state stands, and have the new plan reviewed",
				ErrRefused, p.Name, p.ApplyingSince.Local().Format(time.DateTime), p.Engine)
		}
	}
	todo := 0
	for _, i := range sel {
		p := &rec.Projects[i]
		switch {
		case p.Status == render.StatusSkipped && p.Plan == nil && strings.HasSuffix(p.Message, "-p left it out"):
			return 0, fmt.Errorf("%w: project %s was not planned (%s): plan it with the projects that depend on it, or apply only those that do not (-p NAME)",
				ErrRefused, p.Name, p.Message)
		case p.Status == render.StatusFailed, p.Status == render.StatusSkipped:
			return 0, fmt.Errorf("%w: the last plan of project %s did not succeed (%s); fix it and run `sluice plan` again",
				ErrRefused, p.Name, p.Message)
		case p.Status == render.StatusApplyFailed:
			return 0, fmt.Errorf("%w: the last apply of %s failed; fix it, run `sluice plan` again and have the new plan reviewed",
				ErrRefused, p.Name)
		case p.Status == render.StatusPlanned:
			todo++
		}
	}
	selected := selection(rec, sel)
	for _, i := range sel {
		p := &rec.Projects[i]
		if p.Status != render.StatusPlanned {
			continue
		}
		if h := holdOf(rec, p, selected); h.Blocks() {
			return 0, fmt.Errorf("%w: project %s %s%s", ErrRefused, p.Name, h.Why(), nextStep(h, p.Name))
		}
	}
	return todo, nil
}

// selection is the set of the selected projects' names.
func selection(rec *Record, sel []int) map[string]bool {
	selected := map[string]bool{}
	for _, i := range sel {
		selected[rec.Projects[i].Name] = true
	}
	return selected
}

// holdOf is the hold on p's apply from the projects it depends on
// (depends.Of, the server's rule too). Only those in the record count:
// one the change did not affect keeps the state p was planned against.
// selected names the projects this apply applies, in order.
func holdOf(rec *Record, p *ProjectRecord, selected map[string]bool) depends.Hold {
	var deps []depends.Hold
	for _, name := range p.DependsOn {
		if d := rec.project(name); d != nil {
			deps = append(deps, standing(d, selected))
		}
	}
	return depends.Of(p.Name, deps)
}

// standing is where dependency d stands, from its record.
func standing(d *ProjectRecord, selected map[string]bool) depends.Hold {
	h := depends.Hold{Dep: d.Name}
	switch d.Status {
	case render.StatusApplied:
		// Applied after every plan of the record was made.
		if d.Plan != nil && d.Plan.RewritesOutputs() {
			h.Standing = depends.OutputsChanged
		}
	case render.StatusNoChanges:
	case render.StatusPlanned:
		h.Standing = depends.NotApplied
		if selected[d.Name] {
			h.Standing = depends.Coming
		}
	case render.StatusApplyFailed:
		h.Standing = depends.ApplyFailed
	case render.StatusSkipped:
		h.Standing, h.Detail = depends.NotPlanned, d.Message
	default:
		h.Standing, h.Detail = depends.PlanFailed, d.Message
	}
	return h
}

// nextStep is what to do about hold h on project's apply, in a checkout.
func nextStep(h depends.Hold, project string) string {
	switch h.Standing {
	case depends.NotApplied:
		return ": " + depends.ApplyFirst(h.Dep)
	case depends.NotPlanned:
		return fmt.Sprintf("; plan both with `sluice plan -p %s -p %s`", h.Dep, project)
	case depends.ApplyFailed:
		return fmt.Sprintf("; fix %s, run `sluice plan` again and have the new plan reviewed", h.Dep)
	case depends.OutputsChanged:
		return fmt.Sprintf(": run `sluice plan -p %s` and have the new plan reviewed", project)
	default:
		return "; fix it and run `sluice plan` again"
	}
}

func (r *Record) project(name string) *ProjectRecord {
	for i := range r.Projects {
		if r.Projects[i].Name == name {
			return &r.Projects[i]
		}
	}
	return nil
}

func (co *Checkout) applyProject(ctx context.Context, opts Options, p *ProjectRecord) error {
	start := time.Now()
	progress(opts.Progress, "%s: applying the saved plan (%s)", p.Name, summaryLine(p.Plan))
	eng, err := opts.Engines(p.Engine)
	if err != nil {
		return err
	}
	// Until the engine reports the plan's literal secrets (before it
	// applies anything), only the masks are known.
	r := co.redactor(nil)
	stop := heartbeat(opts, p.Name+": still applying")
	res, err := eng.Apply(ctx, engine.ApplyRequest{
		Project:    p.Name,
		Root:       co.Repo.Root,
		Dir:        co.projectDir(p.Dir),
		Workspace:  p.Workspace,
		StateDir:   co.dirs.state(p.Name),
		PlanFile:   co.dirs.artifact(p.Name),
		PlanSHA256: p.Plan.Artifact.SHA256,
		Log:        prefixed(opts.Log, p.Name, r),
		Secrets: func(secrets []string) {
			r.Add(secrets...)
			p.Plan.Secrets = secrets // in memory only: for the comment
		},
	})
	stop()
	p.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		p.Status = render.StatusApplyFailed
		p.Message, p.ErrorLines = describe(err, r)
		progress(opts.Progress, "%s: %s (%s)", p.Name, p.Message, since(start))
		switch {
		case errors.Is(err, engine.ErrStalePlan) || errors.Is(err, engine.ErrArtifactChanged):
			return fmt.Errorf("%w for project %s: %s", ErrApplyFailed, p.Name, p.Message)
		case ctx.Err() != nil:
			return fmt.Errorf("%w for project %s: %s; the state may be partly changed: run `sluice plan` again to see where it stands",
				ErrApplyFailed, p.Name, p.Message)
		}
		return fmt.Errorf("%w for project %s: %s; the state may be partly changed: read the engine's error lines, fix the cause, then run `sluice plan` again",
			ErrApplyFailed, p.Name, p.Message)
	}
	now := time.Now().UTC()
	p.Status = render.StatusApplied
	p.Message = "" // a reason it was not applied before
	p.AppliedAt = &now
	p.ApplyText = r.String(res.Text)
	reported := res.Summary
	p.ApplySummary = &reported
	progress(opts.Progress, "%s: applied (%s)", p.Name, since(start))
	return nil
}

func (co *Checkout) projectDir(dir string) string {
	return filepath.Join(co.Repo.Root, filepath.FromSlash(dir))
}

// selectRecorded returns the indexes of the recorded projects to apply,
// in the record's (dependency) order whatever the order of names.
func selectRecorded(rec *Record, names []string) ([]int, error) {
	if len(names) == 0 {
		idx := make([]int, len(rec.Projects))
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	var idx []int
	for _, n := range names {
		found := false
		for i, p := range rec.Projects {
			if p.Name == n {
				idx = append(idx, i)
				found = true
			}
		}
		if !found {
			var planned []string
			for _, p := range rec.Projects {
				planned = append(planned, p.Name)
			}
			return nil, fmt.Errorf("%w: project %s was not in the last plan (it planned: %s); run `sluice plan -p %s` first",
				ErrRefused, n, strings.Join(planned, ", "), n)
		}
	}
	slices.Sort(idx)
	return slices.Compact(idx), nil
}

// checkFresh refuses when a selected project's code changed since the plan.
// The working tree is compared with the tree the plan was made from; only
// changes to files that affect the project (its when_modified globs, and
// sluice.yaml) make its plan stale, so merging the reviewed branch is fine.
func (co *Checkout) checkFresh(ctx context.Context, rec *Record, sel []int) error {
	tree, err := co.Repo.WorktreeTree(ctx)
	if err != nil {
		return err
	}
	if tree == rec.Tree {
		return nil
	}
	if !co.Repo.HasObject(ctx, rec.Tree) {
		return fmt.Errorf("%w: the code the plan was made from is no longer in the repository; run `sluice plan` again", ErrRefused)
	}
	files, err := co.Repo.Diff(ctx, rec.Tree, tree)
	if err != nil {
		return err
	}
	paths := gitx.Paths(files)
	var stale []string
	for _, i := range sel {
		p := rec.Projects[i]
		if p.Status != render.StatusPlanned {
			continue
		}
		hit, err := co.staleFiles(ctx, p, paths)
		if err != nil {
			return err
		}
		if len(hit) > 0 {
			stale = append(stale, fmt.Sprintf("%s (%s)", p.Name, strings.Join(firstN(hit, 5), ", ")))
		}
	}
	if len(stale) > 0 {
		head, _ := co.Repo.ResolveCommit(ctx, "HEAD")
		return fmt.Errorf("%w: the code changed since it was planned at %s (now at %s): %s; run `sluice plan` again and have the new plan reviewed",
			ErrRefused, gitx.Short(rec.Head), gitx.Short(head), strings.Join(stale, "; "))
	}
	return nil
}

// staleFiles returns the paths among changed that make p's plan stale:
// those its patterns match (its globs, its local modules, sluice.yaml),
// and, of the other files in its directory (repoconfig.FreshnessPatterns),
// those git tracks. A file that is not tracked there is something the
// engine or the code writes while it runs (a local state, a built
// archive), not the reviewed code.
func (co *Checkout) staleFiles(ctx context.Context, p ProjectRecord, changed []string) ([]string, error) {
	match := func(patterns []string) ([]string, error) {
		m, err := affected.NewMatcher([]affected.Project{{Name: p.Name, Patterns: patterns}})
		if err != nil {
			return nil, err
		}
		if hit := m.Match(changed); len(hit) > 0 {
			return hit[0].Paths, nil
		}
		return nil, nil
	}
	stale, err := match(append(p.Patterns[:len(p.Patterns):len(p.Patterns)], repoconfig.FileName))
	if err != nil {
		return nil, err
	}
	inDir, err := match(repoconfig.FreshnessPatterns(p.Dir, p.Patterns))
	if err != nil {
		return nil, err
	}
	var others []string
	for _, f := range inDir {
		if !slices.Contains(stale, f) {
			others = append(others, f)
		}
	}
	if len(others) == 0 {
		return stale, nil
	}
	tracked, err := co.Repo.Tracked(ctx, others)
	if err != nil {
		return nil, err
	}
	return append(stale, tracked...), nil
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
