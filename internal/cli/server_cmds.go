package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/client"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/store"
)

func newServeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Sluice server: webhooks in, plans and applies as durable jobs, comments out",
		Long: `Run the Sluice server. With no settings it keeps everything in SQLite in its
data dir (~/.local/share/sluice), generates a plan key and an API token
there on first start, and listens on :8080. With --database-url pointing at
PostgreSQL, several replicas share the work (they then need the same
--plan-key).

Every setting is a flag, an environment variable SLUICE_NAME (the flag's name
upper-cased, - as _) or a key of the --config YAML file, in that order of
precedence. docs/server.md is the reference.

GET /healthz answers while the process runs, GET /readyz once it can take
work, GET /metrics in Prometheus format. On SIGTERM or Ctrl-C the server
stops taking requests, lets running plans and applies finish for up to
--shutdown-timeout, then interrupts them.`,
		Example: `  sluice serve
  sluice serve --listen 127.0.0.1:9090 --repos infra=https://git.example.com/org/infra.git
  SLUICE_DATABASE_URL=postgres://sluice@db/sluice SLUICE_PLAN_KEY_FILE=/etc/sluice/plan.key sluice serve`,
		Args: cobra.NoArgs,
	}
	var c config.Config
	c.Bind(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := config.Load(cmd.Flags(), g.getenv)
		if err != nil {
			return err
		}
		return app.Serve(cmd.Context(), cfg, app.Options{Log: newLogger(cfg, g.stderr)})
	}
	return cmd
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// remote holds the flags of the commands that talk to a server.
type remote struct {
	server  string
	token   string
	dataDir string
	format  string
}

func (r *remote) bind(cmd *cobra.Command, g *globals) {
	f := cmd.PersistentFlags()
	f.StringVar(&r.server, "server", envOr(g.getenv, "SLUICE_SERVER", "http://127.0.0.1:8080"), "URL of the sluice server (env SLUICE_SERVER)")
	f.StringVar(&r.token, "token", "", "API token (default: env SLUICE_API_TOKEN, else the api.token file of the server's data dir on this machine)")
	f.StringVar(&r.dataDir, "data-dir", "", "the local server's data dir, to read its api.token (default as for sluice serve)")
	f.StringVar(&r.format, "format", "text", "output format: text or json")
}

func (r *remote) client(g *globals) (*client.Client, error) {
	if err := checkFormat(r.format, "text", "json"); err != nil {
		return nil, err
	}
	tok := r.token
	if tok == "" {
		tok = g.getenv("SLUICE_API_TOKEN")
	}
	if tok == "" {
		dir := r.dataDir
		if dir == "" {
			dir = g.getenv("SLUICE_DATA_DIR")
		}
		if dir == "" {
			if cfg, err := config.Load(nil, g.getenv); err == nil {
				dir = cfg.DataDir
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, app.APITokenFile)); err == nil {
			tok = strings.TrimSpace(string(b))
		}
	}
	if tok == "" {
		return nil, errors.New("no API token: pass --token or set SLUICE_API_TOKEN, or, on the server's machine, point --data-dir (SLUICE_DATA_DIR) " +
			"at the server's data directory, where it keeps a generated one (api.token)")
	}
	return &client.Client{URL: r.server, Token: tok}, nil
}

func newRunsCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{Use: "runs", Short: "List and show plan and apply runs of a sluice server"}
	r.bind(cmd, g)
	var f store.RunFilter
	var state, kind string
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Example: `  sluice runs list
  sluice runs list --repo gitea:acme/infra --mr 12
  sluice runs list --state interrupted --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"", "queued", "running", "succeeded", "failed", "cancelled", "interrupted"}, state) {
				return usageError{fmt.Errorf("--state %q is not a run state: write queued, running, succeeded, failed, cancelled or interrupted", state)}
			}
			if !slices.Contains([]string{"", "plan", "apply"}, kind) {
				return usageError{fmt.Errorf("--kind %q is not a kind of run: write plan or apply", kind)}
			}
			c, err := r.client(g)
			if err != nil {
				return err
			}
			f.State, f.Kind = store.RunState(state), store.RunKind(kind)
			runs, err := c.ListRuns(cmd.Context(), f)
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				repoHint(g.stderr, f.Repo)
			}
			if r.format == "json" {
				return writeJSON(g.stdout, runs)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSTATE\tREPO\tMR\tPROJECT\tHEAD\tACTOR\tCREATED")
			for _, run := range runs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", run.ID, run.Kind, run.State, run.Repo, run.MR,
					run.Project, gitx.Short(run.HeadSHA), run.Actor, run.CreatedAt.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&f.Repo, "repo", "", "only this repository")
	list.Flags().Int64Var(&f.MR, "mr", 0, "only this merge request")
	list.Flags().StringVar(&f.Project, "project", "", "only this project")
	list.Flags().StringVar(&state, "state", "", "only runs in this state: queued, running, succeeded, failed, cancelled, interrupted")
	list.Flags().StringVar(&kind, "kind", "", "only plan or apply runs")
	list.Flags().IntVar(&f.Limit, "limit", 50, "at most this many runs")

	var logs bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run, and its output with --logs",
		Example: `  sluice runs show 42
  sluice runs show 42 --logs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("run id %q is not a number", args[0])}
			}
			c, err := r.client(g)
			if err != nil {
				return err
			}
			run, err := c.GetRun(cmd.Context(), id)
			if err != nil {
				return err
			}
			var lines []store.LogLine
			if logs {
				if lines, err = c.Logs(cmd.Context(), id, 0); err != nil {
					return err
				}
			}
			if r.format == "json" {
				return writeJSON(g.stdout, map[string]any{"run": run, "logs": lines})
			}
			printRun(g.stdout, run)
			for _, l := range lines {
				fmt.Fprintf(g.stdout, "  %s\n", l.Text)
			}
			return nil
		},
	}
	show.Flags().BoolVar(&logs, "logs", false, "also print the run's output")
	cmd.AddCommand(list, show)
	return cmd
}

// repoHint says, when a filter found nothing, that a forge's repository
// is named with its forge: `--repo acme/infra` matches no repository of a
// server that knows it as gitea:acme/infra.
func repoHint(w io.Writer, repo string) {
	if repo != "" && !strings.Contains(repo, ":") {
		fmt.Fprintf(w, "nothing matches --repo %s: a forge's repository is named FORGE:OWNER/NAME, as in --repos (for example --repo gitea:%s)\n", repo, repo)
	}
}

// mrRef is how repo's forge writes a reference to merge request n (#n on
// Gitea and GitHub, !n on GitLab and for a plain git repository).
func mrRef(repo string, n int64) string {
	id, _ := forge.ParseRepoID(repo)
	return render.Ref(id.Forge, n)
}

func printRun(w io.Writer, r store.Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("run", strconv.FormatInt(r.ID, 10))
	row("kind", string(r.Kind))
	row("state", string(r.State))
	row("repo", r.Repo)
	row("merge request", strconv.FormatInt(r.MR, 10))
	row("project", r.Project+" (workspace "+r.Workspace+")")
	row("head", r.HeadSHA)
	row("base", r.BaseSHA)
	row("actor", r.Actor)
	if r.PlanID > 0 {
		row("plan", strconv.FormatInt(r.PlanID, 10))
	}
	row("created", r.CreatedAt.Local().Format(time.RFC3339))
	if r.StartedAt != nil {
		row("started", r.StartedAt.Local().Format(time.RFC3339))
	}
	if r.FinishedAt != nil {
		row("finished", r.FinishedAt.Local().Format(time.RFC3339))
	}
	row("instance", r.Owner)
	row("error", r.Error)
	if r.StateLockID != "" {
		row("state lock", r.StateLockID+" (held by the interrupted engine; check the state, then release it with the engine's force-unlock)")
	}
	if len(r.Summary) > 0 {
		row("result", string(r.Summary))
	}
	_ = tw.Flush()
}

func newLocksCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{Use: "locks", Short: "List and release the project locks of a sluice server"}
	r.bind(cmd, g)
	var repo string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List held locks and the merge requests queued behind them",
		Example: "  sluice locks list\n  sluice locks list --repo gitea:acme/infra --format json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client(g)
			if err != nil {
				return err
			}
			locks, err := c.ListLocks(cmd.Context(), repo)
			if err != nil {
				return err
			}
			if len(locks) == 0 {
				repoHint(g.stderr, repo)
			}
			if r.format == "json" {
				return writeJSON(g.stdout, locks)
			}
			if len(locks) == 0 {
				fmt.Fprintln(g.stdout, "No locks are held.")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPO\tPROJECT\tDIR\tWORKSPACE\tHELD BY\tSINCE\tQUEUE")
			for _, l := range locks {
				var q []string
				for _, w := range l.Queue {
					q = append(q, mrRef(l.Repo, w.MR))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Repo, l.Project, l.Dir, l.Workspace, mrRef(l.Repo, l.MR),
					l.AcquiredAt.Local().Format("2006-01-02 15:04"), strings.Join(q, " "))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&repo, "repo", "", "only this repository")

	var (
		ws, dir, reason, actor string
	)
	release := &cobra.Command{
		Use:   "release PROJECT --repo REPO --reason TEXT",
		Short: "Release a project's lock by hand (audited with your name and the reason)",
		Long: `Release the lock a merge request holds on a project, for example when the
merge request was abandoned without being closed. The next merge request in
the lock's queue gets it and is planned. The release is written to the audit
log with who released it and why.

A lock is that of a project's directory and workspace; PROJECT is the name
its holder gives the project, as 'sluice locks list' shows it. When two
locks show the same name, name the directory with --dir.`,
		Example: `  sluice locks release prod --repo gitea:acme/infra --reason "MR !12 abandoned, author on leave"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" || strings.TrimSpace(reason) == "" {
				return usageError{errors.New("--repo and --reason are required: a released lock is audited with why")}
			}
			c, err := r.client(g)
			if err != nil {
				return err
			}
			if actor == "" {
				actor = currentUser(g)
			}
			l, err := c.ReleaseLock(cmd.Context(), client.LockRef{Repo: repo, Project: args[0], Dir: dir, Workspace: ws}, actor, reason)
			if err != nil {
				repoHint(g.stderr, repo)
				return err
			}
			if r.format == "json" {
				return writeJSON(g.stdout, l)
			}
			id, _ := forge.ParseRepoID(l.Repo)
			fmt.Fprintf(g.stdout, "Released the lock of %s/%s (%s, directory %s) held by %s %s.\n", l.Repo, l.Project, l.Workspace, l.Dir,
				render.Noun(id.Forge), mrRef(l.Repo, l.MR))
			return nil
		},
	}
	release.Flags().StringVar(&repo, "repo", "", "repository of the project (required)")
	release.Flags().StringVar(&ws, "workspace", "default", "workspace (Terraform) or stack (Pulumi) of the lock")
	release.Flags().StringVar(&dir, "dir", "", "directory of the project, when two locks show the same project name")
	release.Flags().StringVar(&reason, "reason", "", "why the lock is released (required; audited)")
	release.Flags().StringVar(&actor, "actor", "", "who releases it, for the audit log (default: your login name)")
	cmd.AddCommand(list, release)
	return cmd
}

func currentUser(g *globals) string {
	if u := g.getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

func newAuditCmd(g *globals) *cobra.Command {
	var r remote
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export the audit log of a sluice server"}
	r.bind(cmd, g)
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole hash chain of the audit log; name the first broken entry",
		Long: `Recompute every entry's hash and check each links to the one before. An edited,
deleted, inserted or reordered entry breaks the chain; the first broken one
is named and the command fails. A chain cut at its end cannot be told from
a shorter one: the last sequence number and hash are printed so you can keep
them elsewhere and compare.`,
		Example: "  sluice audit verify",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client(g)
			if err != nil {
				return err
			}
			rep, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			if r.format == "json" {
				if err := writeJSON(g.stdout, rep); err != nil {
					return err
				}
			} else if rep.FirstBroken == nil {
				fmt.Fprintf(g.stdout, "The audit log is intact: %d entries, last #%d with hash %s.\n", rep.Entries, rep.LastSeq, rep.LastHash)
			}
			if p := rep.FirstBroken; p != nil {
				return fmt.Errorf("the audit log is broken at entry #%d (%s): %s", p.Seq, p.Kind, p.Detail)
			}
			return nil
		},
	}
	var since string
	export := &cobra.Command{
		Use:     "export",
		Short:   "Print audit entries as JSON lines",
		Example: "  sluice audit export --since 2026-01-01 > audit.jsonl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var t time.Time
			if since != "" {
				var err error
				if t, err = time.Parse("2006-01-02", since); err != nil {
					if t, err = time.Parse(time.RFC3339, since); err != nil {
						return usageError{fmt.Errorf("--since %q is not a date (2006-01-02) or an RFC 3339 time", since)}
					}
				}
			}
			c, err := r.client(g)
			if err != nil {
				return err
			}
			return audit.Export(cmd.Context(), remoteEntries{c}, t, g.stdout)
		},
	}
	export.Flags().StringVar(&since, "since", "", "only entries from this date or time on")
	cmd.AddCommand(verify, export)
	return cmd
}

// remoteEntries reads audit entries through the API.
type remoteEntries struct{ c *client.Client }

func (r remoteEntries) AuditEntries(ctx context.Context, after int64, since time.Time, limit int) ([]store.AuditEntry, error) {
	return r.c.Audit(ctx, after, since, limit)
}
