package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/forge/gitea"
	"github.com/sluicehq/sluice/internal/forge/github"
	"github.com/sluicehq/sluice/internal/forge/gitlab"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/workspace"
)

// forges builds a client for every configured forge.
func forges(cfg *config.Config, log *slog.Logger) (map[string]forge.Forge, error) {
	out := map[string]forge.Forge{}
	if cfg.GiteaToken != "" {
		c, err := gitea.New(cfg.GiteaURL, cfg.GiteaToken)
		if err != nil {
			return nil, fmt.Errorf("connecting to Gitea at %s: %w", cfg.GiteaURL, err)
		}
		out["gitea"] = c
	}
	if cfg.GitHubToken != "" || cfg.GitHubAppID != "" {
		opts := []github.Option{github.WithLogger(log)}
		if cfg.GitHubLogin != "" {
			opts = append(opts, github.WithLogin(cfg.GitHubLogin))
		}
		var c *github.Client
		var err error
		if cfg.GitHubAppID != "" {
			c, err = github.NewApp(cfg.GitHubURL, github.App{
				ID:             cfg.GitHubAppID,
				PrivateKey:     []byte(cfg.GitHubAppPrivateKey),
				InstallationID: cfg.GitHubAppInstallationID,
			}, opts...)
		} else {
			c, err = github.New(cfg.GitHubURL, cfg.GitHubToken, opts...)
		}
		if err != nil {
			return nil, fmt.Errorf("connecting to GitHub: %w", err)
		}
		out["github"] = c
	}
	if cfg.GitLabToken != "" {
		c, err := gitlab.New(cfg.GitLabURL, cfg.GitLabToken, gitlab.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("connecting to GitLab at %s: %w", cfg.GitLabURL, err)
		}
		out["gitlab"] = c
	}
	return out, nil
}

// forgeResolver maps "gitea:org/infra" to the Gitea client and the path,
// for allow-listed repositories only.
func forgeResolver(cfg *config.Config, clients map[string]forge.Forge) flow.Forges {
	return func(repo string) (forge.Forge, string, bool) {
		if !slices.Contains(cfg.ForgeRepos, repo) {
			return nil, "", false
		}
		id, _ := forge.ParseRepoID(repo)
		fg, ok := clients[id.Forge]
		return fg, id.Path, ok
	}
}

// repoCloneAuth is implemented by forges whose git credentials depend on
// the repository and may need asking for: a GitHub App mints a token of
// the installation serving the repository.
type repoCloneAuth interface {
	CloneAuthFor(ctx context.Context, repo string) (username, token string, err error)
}

// cloneAuthTimeout bounds the request for git credentials (a GitHub App's
// installation token, retried like any GitHub request).
const cloneAuthTimeout = 2 * time.Minute

var _ repoCloneAuth = (*github.Client)(nil)

// sources resolves where a repository is cloned from: a forge repository
// through its forge (with the token passed to git in the environment), a
// plain one from the --repos NAME=URL list. Anything else is refused.
func sources(cfg *config.Config, clients map[string]forge.Forge) flow.Sources {
	resolve := forgeResolver(cfg, clients)
	return func(ctx context.Context, repo string) (workspace.Source, error) {
		if fg, path, ok := resolve(repo); ok {
			var user, token string
			if ra, ok := fg.(repoCloneAuth); ok {
				ctx, cancel := context.WithTimeout(ctx, cloneAuthTimeout)
				var err error
				user, token, err = ra.CloneAuthFor(ctx, path)
				cancel()
				if err != nil {
					return workspace.Source{}, fmt.Errorf("credentials to clone %s: %w", repo, err)
				}
			} else {
				user, token = fg.CloneAuth()
			}
			return workspace.Source{Repo: repo, CloneURL: fg.CloneURL(path), Username: user, Token: token}, nil
		}
		u, ok := cfg.Repos[repo]
		if !ok {
			return workspace.Source{}, fmt.Errorf("%w: %q is not configured on this server (add it to --repos)", flow.ErrUnknownRepo, repo)
		}
		return workspace.Source{Repo: repo, CloneURL: u}, nil
	}
}

// webhooks configures the webhook endpoint of every forge.
func webhooks(cfg *config.Config, clients map[string]forge.Forge) map[string]server.Webhook {
	out := map[string]server.Webhook{}
	for name, fg := range clients {
		prefix := name + ":"
		out[name] = server.Webhook{
			Parser:  fg,
			Secret:  []byte(cfg.WebhookSecret),
			Allowed: func(path string) bool { return slices.Contains(cfg.ForgeRepos, prefix+path) },
		}
	}
	return out
}

// GitLab's richer semantics reach the gate through these.
var (
	_ flow.MRPipelines = (*gitlab.Client)(nil)
	_ flow.MergeRights = (*gitlab.Client)(nil)
)

// checkTimeout bounds each start-up question to a forge.
const checkTimeout = 15 * time.Second

// checkForges asks, once at start, each forge which account its token
// acts as and each repository of --repos for its default branch, and
// logs an error naming what to fix for each answer that fails (a token
// refused, a repository misspelled or not readable with the token):
// otherwise the first sign would be a webhook answered with nothing
// done. The server starts anyway: a forge down for a moment comes back.
func checkForges(ctx context.Context, cfg *config.Config, clients map[string]forge.Forge, log *slog.Logger) {
	for name, fg := range clients {
		qctx, cancel := context.WithTimeout(ctx, checkTimeout)
		_, err := fg.Self(qctx)
		cancel()
		if err != nil {
			log.Error("the forge refuses Sluice's token, or cannot be reached: check the token (its scopes) and the forge's URL",
				"forge", name, "err", err)
		}
	}
	for _, repo := range cfg.ForgeRepos {
		id, _ := forge.ParseRepoID(repo)
		fg, ok := clients[id.Forge]
		if !ok {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, checkTimeout)
		_, err := fg.DefaultBranch(qctx, id.Path)
		cancel()
		if err != nil {
			log.Error("a repository of --repos cannot be read on its forge: check its name (FORGE:OWNER/NAME) and that Sluice's account may read it",
				"repo", repo, "err", err)
		}
	}
}
