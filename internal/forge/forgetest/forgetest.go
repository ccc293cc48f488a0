// Package forgetest is the contract every forge adapter meets: run against
// the real Gitea server, and against recorded GitLab and GitHub APIs.
package forgetest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/forge"
)

// Fixture describes the state the forge under test holds, so the suite
// knows what to expect.
type Fixture struct {
	Repo string
	// DefaultBranch is Repo's default branch. A repository named Repo
	// with "-gone" appended must not exist.
	DefaultBranch string
	// MR is an open merge request by Author at HeadSHA into BaseRef.
	MR      int64
	Author  string
	HeadSHA string
	BaseRef string
	Draft   bool
	// Approvers and ChangesRequestedBy are the reviewers' latest words.
	Approvers          []string
	ChangesRequestedBy []string
	// Committers are the logins the forge links to the merge request's
	// commits as author or committer, compared as a set without regard to
	// case (empty where the adapter cannot tell: GitLab).
	Committers []string
	// UnresolvedThreads is checked when ≥ 0.
	UnresolvedThreads int
	// Checks are expected on HeadSHA (by name and state); others may exist.
	Checks []forge.Check
	// WriteUser may push; ReadUser may only read ("" skips).
	WriteUser string
	ReadUser  string
	// MissingMR is a number no merge request has.
	MissingMR int64
	// Self is the login the adapter acts as (compared case-insensitively).
	Self string
	// Groups maps group names (as written after group: in sluice.yaml)
	// to their members, compared case-insensitively; MissingGroups name
	// groups that do not exist. Set at least one of each: the contract
	// asks every adapter to read a group.
	Groups        map[string][]string
	MissingGroups []string
	// Webhooks are deliveries with the expected outcome.
	Webhooks []Webhook
	// SkipWrites skips the tests that change the forge.
	SkipWrites bool
}

// Webhook is one delivery and what Parse must make of it.
type Webhook struct {
	Name    string
	Header  http.Header
	Body    []byte
	Secret  []byte
	Want    *forge.Event // compared field by field where set
	WantErr error        // errors.Is
}

// Run runs the contract against f.
func Run(t *testing.T, f forge.Forge, fx Fixture) {
	ctx := context.Background()
	t.Run("GetMR", func(t *testing.T) {
		mr, err := f.GetMR(ctx, fx.Repo, fx.MR)
		if err != nil {
			t.Fatal(err)
		}
		if mr.Number != fx.MR || mr.Author.Login != fx.Author || mr.HeadSHA != fx.HeadSHA || mr.BaseRef != fx.BaseRef ||
			mr.State != forge.MROpen || mr.Draft != fx.Draft || mr.Repo != fx.Repo {
			t.Errorf("GetMR = %+v, want number %d by %s at %s into %s, open, draft=%v, repo %s",
				mr, fx.MR, fx.Author, fx.HeadSHA, fx.BaseRef, fx.Draft, fx.Repo)
		}
		if len(mr.BaseSHA) < 40 {
			t.Errorf("BaseSHA %q is not a commit id", mr.BaseSHA)
		}
	})
	t.Run("Self", func(t *testing.T) {
		login, err := f.Self(ctx)
		if err != nil || !strings.EqualFold(login, fx.Self) {
			t.Errorf("Self = %q, %v; want %q", login, err, fx.Self)
		}
	})
	t.Run("DefaultBranch", func(t *testing.T) {
		b, err := f.DefaultBranch(ctx, fx.Repo)
		if err != nil || b != fx.DefaultBranch {
			t.Errorf("DefaultBranch = %q, %v; want %q", b, err, fx.DefaultBranch)
		}
		if b, err := f.DefaultBranch(ctx, fx.Repo+"-gone"); !errors.Is(err, forge.ErrNotFound) {
			t.Errorf("DefaultBranch of a repository that does not exist = %q, %v; want ErrNotFound", b, err)
		}
	})
	t.Run("GetMR missing", func(t *testing.T) {
		if _, err := f.GetMR(ctx, fx.Repo, fx.MissingMR); !errors.Is(err, forge.ErrNotFound) {
			t.Errorf("GetMR(%d) err = %v, want ErrNotFound", fx.MissingMR, err)
		}
	})
	t.Run("Reviews", func(t *testing.T) {
		rs, err := f.Reviews(ctx, fx.Repo, fx.MR)
		if err != nil {
			t.Fatal(err)
		}
		var approved, changes []string
		for _, r := range rs {
			switch r.State {
			case forge.ReviewApproved:
				approved = append(approved, r.User.Login)
			case forge.ReviewChangesRequested:
				changes = append(changes, r.User.Login)
			}
		}
		if !sameSet(approved, fx.Approvers) || !sameSet(changes, fx.ChangesRequestedBy) {
			t.Errorf("reviews: approved %v, changes requested %v; want %v and %v", approved, changes, fx.Approvers, fx.ChangesRequestedBy)
		}
	})
	t.Run("Committers", func(t *testing.T) {
		got, err := f.Committers(ctx, fx.Repo, fx.MR)
		if err != nil {
			t.Fatal(err)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(lower(got))))) != len(got) {
			t.Errorf("Committers = %v: a login is listed twice", got)
		}
		if !sameSet(lower(got), lower(fx.Committers)) {
			t.Errorf("Committers = %v, want %v", got, fx.Committers)
		}
	})
	t.Run("Committers missing", func(t *testing.T) {
		if len(fx.Committers) == 0 {
			t.Skip("the adapter names no committers")
		}
		if _, err := f.Committers(ctx, fx.Repo, fx.MissingMR); !errors.Is(err, forge.ErrNotFound) {
			t.Errorf("Committers(%d) err = %v, want ErrNotFound", fx.MissingMR, err)
		}
	})
	if fx.UnresolvedThreads >= 0 {
		t.Run("UnresolvedThreads", func(t *testing.T) {
			n, err := f.UnresolvedThreads(ctx, fx.Repo, fx.MR)
			if err != nil || n != fx.UnresolvedThreads {
				t.Errorf("UnresolvedThreads = %d, %v; want %d", n, err, fx.UnresolvedThreads)
			}
		})
	}
	t.Run("Checks", func(t *testing.T) {
		cs, err := f.Checks(ctx, fx.Repo, fx.HeadSHA)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range fx.Checks {
			if !slices.ContainsFunc(cs, func(c forge.Check) bool { return c.Name == want.Name && c.State == want.State }) {
				t.Errorf("check %s=%s not in %+v", want.Name, want.State, cs)
			}
		}
	})
	t.Run("Permission", func(t *testing.T) {
		p, err := f.Permission(ctx, fx.Repo, fx.WriteUser)
		if err != nil || p < forge.PermWrite {
			t.Errorf("Permission(%s) = %v, %v; want write or more", fx.WriteUser, p, err)
		}
		if fx.ReadUser != "" {
			p, err := f.Permission(ctx, fx.Repo, fx.ReadUser)
			if err != nil || p >= forge.PermWrite {
				t.Errorf("Permission(%s) = %v, %v; want less than write", fx.ReadUser, p, err)
			}
		}
	})
	t.Run("GroupMembers", func(t *testing.T) {
		if len(fx.Groups) == 0 || len(fx.MissingGroups) == 0 {
			t.Fatal("the fixture names no group, or no missing group")
		}
		for g, want := range fx.Groups {
			got, err := f.GroupMembers(ctx, fx.Repo, g)
			if err != nil {
				t.Errorf("GroupMembers(%s): %v", g, err)
				continue
			}
			if !sameSet(lower(got), lower(want)) {
				t.Errorf("GroupMembers(%s) = %v, want %v", g, got, want)
			}
		}
		for _, g := range fx.MissingGroups {
			if got, err := f.GroupMembers(ctx, fx.Repo, g); !errors.Is(err, forge.ErrNotFound) {
				t.Errorf("GroupMembers(%s) = %v, %v; want ErrNotFound", g, got, err)
			}
		}
	})
	t.Run("Webhooks", func(t *testing.T) {
		for _, w := range fx.Webhooks {
			t.Run(w.Name, func(t *testing.T) {
				ev, err := f.Parse(w.Header, w.Body, w.Secret)
				CheckPrecheck(t, f, w, err)
				if w.WantErr != nil {
					if !errors.Is(err, w.WantErr) {
						t.Fatalf("err = %v, want %v", err, w.WantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				checkEvent(t, ev, w.Want)
			})
		}
	})
	if fx.SkipWrites {
		return
	}
	t.Run("UpsertComment", func(t *testing.T) {
		const marker = "<!-- forgetest:sticky -->"
		count := func() []forge.Comment {
			cs, err := f.Comments(ctx, fx.Repo, fx.MR)
			if err != nil {
				t.Fatal(err)
			}
			var mine []forge.Comment
			for _, c := range cs {
				if strings.Contains(c.Body, "forgetest:sticky") {
					mine = append(mine, c)
				}
			}
			return mine
		}
		if err := f.UpsertComment(ctx, fx.Repo, fx.MR, marker, []string{marker + "\none"}); err != nil {
			t.Fatal(err)
		}
		first := count()
		if len(first) != 1 || !strings.Contains(first[0].Body, "one") {
			t.Fatalf("after the first upsert: %+v", first)
		}
		if err := f.UpsertComment(ctx, fx.Repo, fx.MR, marker, []string{marker + "\ntwo", "<!-- forgetest:sticky part 2 -->\nmore"}); err != nil {
			t.Fatal(err)
		}
		second := count()
		if len(second) != 2 || second[0].ID != first[0].ID || !strings.Contains(second[0].Body, "two") || !strings.Contains(second[1].Body, "more") {
			t.Fatalf("after updating with two parts: %+v (first was %d)", second, first[0].ID)
		}
		if err := f.UpsertComment(ctx, fx.Repo, fx.MR, marker, []string{marker + "\nthree"}); err != nil {
			t.Fatal(err)
		}
		third := count()
		if len(third) != 1 || third[0].ID != first[0].ID || !strings.Contains(third[0].Body, "three") {
			t.Fatalf("after shrinking to one part: %+v", third)
		}
	})
	t.Run("Reply", func(t *testing.T) {
		if err := f.Reply(ctx, fx.Repo, fx.MR, "forgetest reply"); err != nil {
			t.Fatal(err)
		}
		cs, err := f.Comments(ctx, fx.Repo, fx.MR)
		if err != nil || !slices.ContainsFunc(cs, func(c forge.Comment) bool { return c.Body == "forgetest reply" }) {
			t.Errorf("reply not found in %+v (%v)", cs, err)
		}
	})
	t.Run("GetComment", func(t *testing.T) {
		const body = "forgetest comment, read back"
		if err := f.Reply(ctx, fx.Repo, fx.MR, body); err != nil {
			t.Fatal(err)
		}
		cs, err := f.Comments(ctx, fx.Repo, fx.MR)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(cs, func(c forge.Comment) bool { return c.Body == body })
		if i < 0 {
			t.Fatalf("the comment is not in %+v", cs)
		}
		id := cs[i].ID
		got, err := f.GetComment(ctx, fx.Repo, fx.MR, id)
		if err != nil || got.ID != id || got.Body != body || !strings.EqualFold(got.Author.Login, fx.Self) {
			t.Errorf("GetComment(%d) = %+v, %v; want comment %d by %s saying %q", id, got, err, id, fx.Self, body)
		}
		// The same comment asked of another merge request, and a comment
		// that does not exist: webhooks name both, and neither may act.
		if got, err := f.GetComment(ctx, fx.Repo, fx.MissingMR, id); !errors.Is(err, forge.ErrNotFound) {
			t.Errorf("GetComment of merge request %d, comment %d of %d = %+v, %v; want ErrNotFound", fx.MissingMR, id, fx.MR, got, err)
		}
		if got, err := f.GetComment(ctx, fx.Repo, fx.MR, id+1_000_000); !errors.Is(err, forge.ErrNotFound) {
			t.Errorf("GetComment of a comment that does not exist = %+v, %v; want ErrNotFound", got, err)
		}
	})
	t.Run("SetStatus", func(t *testing.T) {
		for _, st := range []forge.CheckState{forge.CheckPending, forge.CheckSuccess} {
			c := forge.Check{Name: "sluice/plan: forgetest", State: st, Description: "forgetest"}
			if err := f.SetStatus(ctx, fx.Repo, fx.HeadSHA, c); err != nil {
				t.Fatal(err)
			}
			cs, err := f.Checks(ctx, fx.Repo, fx.HeadSHA)
			if err != nil || !slices.ContainsFunc(cs, func(x forge.Check) bool { return x.Name == c.Name && x.State == st }) {
				t.Errorf("status %s not in %+v (%v)", st, cs, err)
			}
		}
	})
	t.Run("Issues", func(t *testing.T) {
		it, ok := f.(forge.IssueTracker)
		if !ok {
			t.Fatalf("%T is no forge.IssueTracker", f)
		}
		const marker = "<!-- forgetest:issue -->"
		if _, err := it.FindIssue(ctx, fx.Repo, marker); !errors.Is(err, forge.ErrNotFound) {
			t.Fatalf("FindIssue before creating: %v", err)
		}
		is, err := it.CreateIssue(ctx, fx.Repo, "Drift in prod", marker+"\ndrift")
		if err != nil {
			t.Fatal(err)
		}
		found, err := it.FindIssue(ctx, fx.Repo, marker)
		if err != nil || found.Number != is.Number || !found.Open {
			t.Fatalf("FindIssue = %+v, %v; want #%d", found, err, is.Number)
		}
		if err := it.UpdateIssue(ctx, fx.Repo, is.Number, "Drift in prod (2)", marker+"\nmore drift"); err != nil {
			t.Fatal(err)
		}
		if err := f.CommentIssue(ctx, fx.Repo, is.Number, "still drifting"); err != nil {
			t.Fatal(err)
		}
		if err := it.CloseIssue(ctx, fx.Repo, is.Number, "no drift any more"); err != nil {
			t.Fatal(err)
		}
		if _, err := it.FindIssue(ctx, fx.Repo, marker); !errors.Is(err, forge.ErrNotFound) {
			t.Errorf("FindIssue after closing: %v, want ErrNotFound", err)
		}
	})
}

func checkEvent(t *testing.T, got, want *forge.Event) {
	t.Helper()
	if want == nil {
		return
	}
	if got.Kind != want.Kind || got.Action != want.Action || got.Repo != want.Repo || got.MR != want.MR {
		t.Errorf("event = %s/%s %s!%d, want %s/%s %s!%d", got.Kind, got.Action, got.Repo, got.MR, want.Kind, want.Action, want.Repo, want.MR)
	}
	if want.Actor.Login != "" && got.Actor.Login != want.Actor.Login {
		t.Errorf("actor = %q, want %q", got.Actor.Login, want.Actor.Login)
	}
	if want.HeadSHA != "" && got.HeadSHA != want.HeadSHA {
		t.Errorf("head = %q, want %q", got.HeadSHA, want.HeadSHA)
	}
	if want.DeliveryID != "" && got.DeliveryID != want.DeliveryID {
		t.Errorf("delivery = %q, want %q", got.DeliveryID, want.DeliveryID)
	}
	if want.Comment != nil && (got.Comment == nil || got.Comment.Body != want.Comment.Body) {
		t.Errorf("comment = %+v, want body %q", got.Comment, want.Comment.Body)
	}
	if got.FromFork != want.FromFork {
		t.Errorf("from fork = %v, want %v", got.FromFork, want.FromFork)
	}
}

func lower(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// CheckPrecheck: judging a delivery by its headers alone never refuses
// one Parse accepts (parseErr is what Parse said), and what it refuses
// or ignores Parse refuses or ignores too; a delivery with no headers, or
// checked against no secret, is refused before its body is read.
func CheckPrecheck(t *testing.T, f forge.Webhooks, w Webhook, parseErr error) {
	t.Helper()
	pre := f.Precheck(w.Header, w.Secret)
	switch {
	case parseErr == nil && pre != nil:
		t.Errorf("Precheck refuses a delivery Parse accepts: %v", pre)
	case errors.Is(pre, forge.ErrBadSignature) && !errors.Is(parseErr, forge.ErrBadSignature):
		t.Errorf("Precheck = %v but Parse = %v", pre, parseErr)
	case errors.Is(pre, forge.ErrIgnored) && !errors.Is(parseErr, forge.ErrIgnored) && !errors.Is(parseErr, forge.ErrBadSignature):
		t.Errorf("Precheck ignores a delivery Parse does not: Parse = %v", parseErr)
	}
	if err := f.Precheck(http.Header{}, w.Secret); !errors.Is(err, forge.ErrBadSignature) {
		t.Errorf("Precheck of a delivery without headers = %v, want ErrBadSignature", err)
	}
	if err := f.Precheck(w.Header, nil); !errors.Is(err, forge.ErrBadSignature) {
		t.Errorf("Precheck against no secret = %v, want ErrBadSignature", err)
	}
	if f.MaxBody() < int64(len(w.Body)) {
		t.Errorf("MaxBody() = %d, smaller than a recorded delivery (%d bytes)", f.MaxBody(), len(w.Body))
	}
}
