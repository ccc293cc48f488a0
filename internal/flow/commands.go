package flow

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/internal/forge"
)

// Command is a `sluice ...` comment on a merge request.
type Command struct {
	Verb     string   // plan, apply, unlock, help
	Projects []string // from -p/--project
}

// ErrNoCommand means a comment is not addressed to Sluice.
var ErrNoCommand = errors.New("not a sluice command")

var projectName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// HelpText is the reply to `sluice help` and to commands Sluice does not
// know. No line of it, nor of any other comment Sluice writes, may start
// with the word "sluice": it would read as a command.
const HelpText = "Commands you can give Sluice, as a comment on this merge request:\n\n" +
	"- `sluice plan` — plan the projects this merge request changes again (`-p NAME` for one project)\n" +
	"- `sluice apply` — apply the reviewed plans once the checklist passes (`-p NAME` for one project): projects in apply mode before_merge, and on a merged merge request what its merge did not apply; projects in after_merge mode (the default) are applied by the merge\n" +
	"- `sluice unlock` — release this merge request's project locks so others can plan (`-p NAME` for one)\n" +
	"- `sluice refresh` — read the reviews, threads and checks again and update this comment (resolving a conversation on Gitea sends Sluice no event)\n" +
	"- `sluice help` — this message\n"

// ParseCommand reads the first line of a comment that starts with
// "sluice", outside code blocks (a quoted line starts with ">", so it is
// not one). A comment that carries one of Sluice's own markers is never a
// command. Arguments are only -p/--project NAME (repeatable); names are
// checked against the configuration later. No shell is ever involved.
func ParseCommand(body string) (Command, error) {
	if strings.Contains(body, "<!-- sluice:") {
		return Command{}, ErrNoCommand
	}
	fenced := false
	for _, line := range strings.Split(body, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fenced = !fenced
			continue
		}
		fields := strings.Fields(line)
		if fenced || len(fields) == 0 || !strings.EqualFold(fields[0], "sluice") {
			continue
		}
		if len(fields) == 1 {
			return Command{Verb: "help"}, nil
		}
		c := Command{Verb: strings.ToLower(fields[1])}
		switch c.Verb {
		case "plan", "apply", "unlock", "refresh", "help":
		default:
			return Command{Verb: "help"}, fmt.Errorf("unknown command %q", fields[1])
		}
		args := fields[2:]
		for i := 0; i < len(args); i++ {
			a := args[i]
			var name string
			switch {
			case a == "-p" || a == "--project":
				if i+1 >= len(args) {
					return c, fmt.Errorf("%s needs a project name", a)
				}
				i++
				name = args[i]
			case strings.HasPrefix(a, "--project="):
				name = strings.TrimPrefix(a, "--project=")
			case strings.HasPrefix(a, "-p") && len(a) > 2:
				name = a[2:]
			default:
				return c, fmt.Errorf("unexpected argument %q (only -p NAME is accepted)", a)
			}
			for _, n := range strings.Split(name, ",") {
				if !projectName.MatchString(n) {
					return c, fmt.Errorf("%q is not a project name", n)
				}
				c.Projects = append(c.Projects, n)
			}
		}
		return c, nil
	}
	return Command{}, ErrNoCommand
}

// Actions only comments and reviews produce.
const (
	ActionRefresh = "refresh" // re-evaluate the checklist, update the comment
	ActionHelp    = "help"    // reply with the help text
)

// RequestFromEvent turns a verified webhook into a request, or returns
// forge.ErrIgnored for events Sluice has nothing to do with.
func RequestFromEvent(forgeName string, ev *forge.Event) (Request, error) {
	req := Request{
		Repo:     forge.RepoID{Forge: forgeName, Path: ev.Repo}.String(),
		MR:       ev.MR,
		Actor:    ev.Actor.Login,
		HeadSHA:  ev.HeadSHA,
		FromFork: ev.FromFork,
		Trigger:  ev.Action,
	}
	if req.Actor == "" {
		req.Actor = "unknown"
	}
	switch ev.Kind {
	case forge.EventMR:
		switch ev.Action {
		case forge.ActionOpened, forge.ActionSynchronize, forge.ActionReopened, forge.ActionReady, forge.ActionRetargeted:
			req.Action = ActionPlan
		case forge.ActionDraft, forge.ActionEdited:
			req.Action = ActionRefresh
		case forge.ActionMerged:
			req.Action, req.Merged = ActionClose, true
		case forge.ActionClosed:
			req.Action = ActionClose
		default:
			return Request{}, fmt.Errorf("%w: merge request action %q", forge.ErrIgnored, ev.Action)
		}
	case forge.EventReview:
		req.Action = ActionRefresh
	case forge.EventComment:
		if ev.Comment == nil {
			return Request{}, fmt.Errorf("%w: comment without a body", forge.ErrIgnored)
		}
		cmd, err := ParseCommand(ev.Comment.Body)
		if errors.Is(err, ErrNoCommand) {
			return Request{}, fmt.Errorf("%w: comment is not a command", forge.ErrIgnored)
		}
		req.ByComment = true
		req.CommentID = ev.Comment.ID
		req.Trigger = fmt.Sprintf("comment:%d", ev.Comment.ID)
		req.Projects = cmd.Projects
		if err != nil {
			req.Action, req.Reason = ActionHelp, err.Error()
			return req, nil
		}
		switch cmd.Verb {
		case "plan":
			req.Action = ActionPlan
		case "apply":
			req.Action = ActionApply
		case "unlock":
			req.Action, req.Reason = ActionUnlock, "asked by "+req.Actor+" in a comment"
		case "refresh":
			req.Action = ActionRefresh
		default:
			req.Action = ActionHelp
		}
	default:
		return Request{}, fmt.Errorf("%w: %s event", forge.ErrIgnored, ev.Kind)
	}
	return req, nil
}
