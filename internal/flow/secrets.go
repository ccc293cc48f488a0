package flow

import (
	"context"
	"regexp"
	"slices"
	"sync"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/render"
)

// Sluice's own secrets (its forge tokens, keys, the API token, the
// database password: Flow.OwnSecrets) are hidden like a plan's sensitive
// values in everything the flow stores or writes: run logs and errors,
// plans, comments, statuses and issues. Engines never get them (their
// environment and sandbox keep them out), so this is the last line: what
// an engine could still print of them, a forge's error quoting a request,
// does not leave Sluice.

// ownSecrets is the redactor of Sluice's own secrets, built once.
type ownSecrets struct {
	once sync.Once
	r    *redact.Redactor
}

func (f *Flow) own() *redact.Redactor {
	f.secrets.once.Do(func() { f.secrets.r = redact.New(f.OwnSecrets, nil) })
	return f.secrets.r
}

// redactor hides a run's secrets and masks, and Sluice's own.
func (f *Flow) redactor(secrets []string, masks []*regexp.Regexp) *redact.Redactor {
	return redact.New(append(slices.Clip(f.OwnSecrets), secrets...), masks)
}

// scrub is s without Sluice's own secrets.
func (f *Flow) scrub(s string) string { return f.own().String(s) }

// scrubbed is a forge whose every write has Sluice's own secrets hidden,
// and says "pull request" where the forge does (render.Words).
type scrubbed struct {
	forge.Forge
	r    *redact.Redactor
	name string // the forge's name, as the repository's id gives it
}

// text is what Sluice writes to the forge of s.
func (s scrubbed) text(t string) string { return render.Words(s.r.String(t), s.name) }

func (s scrubbed) all(bodies []string) []string {
	out := make([]string, len(bodies))
	for i, b := range bodies {
		out[i] = s.text(b)
	}
	return out
}

func (s scrubbed) UpsertComment(ctx context.Context, repo string, number int64, marker string, bodies []string) error {
	return s.Forge.UpsertComment(ctx, repo, number, marker, s.all(bodies))
}

func (s scrubbed) Reply(ctx context.Context, repo string, number int64, body string) error {
	return s.Forge.Reply(ctx, repo, number, s.text(body))
}

func (s scrubbed) SetStatus(ctx context.Context, repo, sha string, c forge.Check) error {
	c.Description, c.URL = s.text(c.Description), s.r.String(c.URL)
	return s.Forge.SetStatus(ctx, repo, sha, c)
}

func (s scrubbed) CommentIssue(ctx context.Context, repo string, number int64, body string) error {
	return s.Forge.CommentIssue(ctx, repo, number, s.text(body))
}

// unscrubbed is the forge a scrubbed one wraps, for asking it for the
// interfaces only some forges have (MergeRights, MRPipelines), which only
// read.
func unscrubbed(fg forge.Forge) forge.Forge {
	if s, ok := fg.(scrubbed); ok {
		return s.Forge
	}
	return fg
}
