package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/gitx"
	"github.com/sluicehq/sluice/internal/local"
	"github.com/sluicehq/sluice/internal/render"
	"github.com/sluicehq/sluice/internal/repoconfig"
)

func newProjectsCmd(g *globals) *cobra.Command {
	var (
		base   string
		all    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "List the projects your branch touches, and the changed paths that touch them",
		Long: `List the projects that the changes between --base and your working tree touch,
in the order they would be planned and applied, with the changed paths that
made each one affected. Uncommitted and untracked files count.

Projects come from sluice.yaml, or are discovered (directories with *.tf
files or a Pulumi.yaml) when there is none.`,
		Example: `  sluice projects --base main
  sluice projects --base origin/main --format json
  sluice projects --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			if all {
				co, err := local.Open(cmd.Context(), g.chdir)
				if err != nil {
					return err
				}
				return printAllProjects(g.stdout, co.Config, format)
			}
			base, err := g.base(cmd, base)
			if err != nil {
				return err
			}
			co, ch, err := local.OpenChanges(cmd.Context(), g.chdir, base)
			if err != nil {
				return err
			}
			for _, w := range ch.Warnings {
				fmt.Fprintf(g.stderr, "sluice: warning: %s\n", w)
			}
			for _, r := range ch.Removed {
				fmt.Fprintf(g.stderr, "sluice: warning: %s\n", r.Notice())
			}
			if format == "json" {
				return writeJSON(g.stdout, ch)
			}
			if len(ch.Matches) == 0 {
				fmt.Fprintf(g.stdout, "No project is affected by the %d changed files since %s.\n", len(ch.Paths), base)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECT\tDIR\tENGINE\tCHANGED PATHS")
			for _, m := range ch.Matches {
				p, _ := co.Config.Project(m.Project)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Dir, p.Engine, summarizePaths(m.Paths))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&base, "base", "", baseHelp)
	cmd.Flags().BoolVar(&all, "all", false, "list every project, affected or not")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// baseHelp describes --base of plan and projects.
const baseHelp = "branch or commit the change will merge into, e.g. main or origin/main (default: origin's default branch, else main, else master)"

// base is the --base given, or the default branch the checkout names,
// said on stderr.
func (g *globals) base(cmd *cobra.Command, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	base, err := gitx.DefaultBase(cmd.Context(), g.chdir)
	if errors.Is(err, gitx.ErrNoDefaultBase) {
		return "", usageError{err}
	}
	if err != nil {
		return "", err
	}
	fmt.Fprintf(g.stderr, "sluice: comparing with %s (no --base given)\n", base)
	return base, nil
}

func summarizePaths(paths []string) string {
	if len(paths) == 0 {
		return "(selected by name)"
	}
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
}

func printAllProjects(w io.Writer, cfg *repoconfig.Config, format string) error {
	if format == "json" {
		return writeJSON(w, cfg.Projects)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tDIR\tENGINE\tWORKSPACE/STACK\tDEPENDS ON")
	for _, p := range cfg.Projects {
		ws := p.Workspace
		if p.Stack != "" {
			ws = p.Stack
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Dir, p.Engine, ws, strings.Join(p.DependsOn, ", "))
	}
	return tw.Flush()
}

func newPlanCmd(g *globals) *cobra.Command {
	var (
		base     string
		projects []string
		format   string
		limit    int
		verbose  bool
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Plan every project your branch touches and print the review comment",
		Long: `Plan every project that the changes since --base touch (committed, uncommitted
and untracked), in dependency order, and print the comment Sluice would post
on the merge request. The saved plans are kept in .git/sluice/ for
'sluice apply', bound to the code they were made from.

Progress goes to stderr (a plan still running after 30 seconds says so, and
for how long, every 30 seconds); the comment (or JSON) to stdout. The exit status is
non-zero when any project failed to plan; the comment shows the engine's own
error lines.`,
		Example: `  sluice plan --base main
  sluice plan --base main -p prod
  sluice plan --base main --format json
  sluice plan --base main --comment-limit 65536   # split as GitHub would need`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "markdown", "json"); err != nil {
				return err
			}
			if limit < 0 || (limit > 0 && limit < 1024) {
				return usageError{fmt.Errorf("--comment-limit %d is too small (use 0 for no limit, or at least 1024)", limit)}
			}
			base, err := g.base(cmd, base)
			if err != nil {
				return err
			}
			opts, err := g.options(cmd, verbose)
			if err != nil {
				return err
			}
			rec, co, err := local.Plan(cmd.Context(), local.PlanOptions{
				Options:  opts,
				BaseRef:  base,
				Projects: projects,
			})
			if rec == nil {
				return err
			}
			if perr := printRecord(g.stdout, co, rec, format, limit); perr != nil {
				return perr
			}
			if err == nil && len(rec.Projects) == 0 {
				fmt.Fprintln(g.stderr, "sluice: no project is affected; nothing to plan")
				if rec.Head == rec.MergeBase {
					fmt.Fprintf(g.stderr, "sluice: HEAD is on %s, so nothing differs from it; to plan a project anyway: sluice plan -p NAME\n", rec.BaseRef)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&base, "base", "", baseHelp)
	cmd.Flags().StringSliceVarP(&projects, "project", "p", nil, "plan only these projects (repeat or comma-separate); planned even if untouched")
	cmd.Flags().StringVar(&format, "format", "markdown", "output format: markdown (the comment) or json")
	cmd.Flags().IntVar(&limit, "comment-limit", 0, "split the comment into parts of at most this many bytes, as a forge would need (GitHub 65536, GitLab 1000000); 0: one part")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the engine's output as it runs")
	return cmd
}

func newApplyCmd(g *globals) *cobra.Command {
	var (
		base     string
		projects []string
		format   string
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply exactly the saved plans of the last 'sluice plan'",
		Long: `Apply the plans saved by the last 'sluice plan' in this checkout, in dependency
order, and print the result comment.

Nothing is re-planned. Before anything is applied, every selected plan is
checked: it must have succeeded, the code it was planned from must be
unchanged (merging the reviewed branch is fine; other changes to the
project's files are not), and its saved plan file must be the one reviewed
(the SHA-256 recorded at plan time). If any check fails, nothing is applied. If the state changed since the plan
(someone applied in between), the engine refuses the stale plan. The first
failed apply stops the rest.`,
		Example: `  sluice apply
  sluice apply -p prod
  sluice apply --base main     # also check the plan was made against main`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "markdown", "json"); err != nil {
				return err
			}
			opts, err := g.options(cmd, !quiet)
			if err != nil {
				return err
			}
			rec, co, err := local.Apply(cmd.Context(), local.ApplyOptions{Options: opts, BaseRef: base, Projects: projects})
			if rec == nil || errors.Is(err, local.ErrRefused) {
				return err
			}
			if perr := printRecord(g.stdout, co, rec, format, 0); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "refuse unless the saved plan was made against this base")
	cmd.Flags().StringSliceVarP(&projects, "project", "p", nil, "apply only these projects' saved plans")
	cmd.Flags().StringVar(&format, "format", "markdown", "output format: markdown (the result comment) or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not show the engine's output as it applies")
	return cmd
}

func printRecord(w io.Writer, co *local.Checkout, rec *local.Record, format string, limit int) error {
	if format == "json" {
		return writeJSON(w, rec)
	}
	md := render.Markdown(co.Comment(rec), co.Redactor(rec))
	parts := []string{md}
	if limit > 0 {
		parts = render.Split(md, limit)
	}
	for i, p := range parts {
		if i > 0 {
			fmt.Fprintf(w, "\n\n<!-- ---- comment %d of %d ---- -->\n\n", i+1, len(parts))
		}
		if _, err := io.WriteString(w, p); err != nil {
			return err
		}
	}
	if !strings.HasSuffix(parts[len(parts)-1], "\n") {
		fmt.Fprintln(w)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check sluice.yaml and print its JSON Schema",
	}
	validate := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check sluice.yaml and report every problem with file:line:col",
		Long: `Check the repository's sluice.yaml (or FILE) and report every problem, each as
file:line:col, what is wrong and what to write instead. Directories named in
the file are checked relative to the file's directory.`,
		Example: `  sluice config validate
  sluice config validate path/to/sluice.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				cfg *repoconfig.Config
				err error
			)
			if len(args) == 1 {
				data, rerr := os.ReadFile(args[0])
				if rerr != nil {
					return fmt.Errorf("reading %s: %w", args[0], rerr)
				}
				cfg, err = repoconfig.Parse(os.DirFS(filepath.Dir(args[0])), args[0], data)
			} else {
				co, oerr := local.Open(cmd.Context(), g.chdir)
				if oerr != nil {
					return oerr
				}
				cfg = co.Config
			}
			if err != nil {
				return err
			}
			if cfg.Discovered {
				fmt.Fprintf(g.stdout, "no %s: %d projects discovered\n", repoconfig.FileName, len(cfg.Projects))
				return nil
			}
			fmt.Fprintf(g.stdout, "%s: valid, %d projects (%s)\n", cfg.File, len(cfg.Projects), strings.Join(cfg.Names(), ", "))
			return nil
		},
	}
	schema := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of sluice.yaml, for editors",
		Example: `  sluice config schema > sluice.schema.json
  # then, first line of sluice.yaml:
  # yaml-language-server: $schema=./sluice.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := repoconfig.Schema()
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(b)
			return err
		},
	}
	cmd.AddCommand(validate, schema)
	return cmd
}
