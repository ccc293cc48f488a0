package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Forge connection and review policy settings.
type forgeConfig struct {
	// WebhookSecret verifies every forge's webhook deliveries. Secret.
	WebhookSecret     string `json:"-"`
	WebhookSecretFile string
	GiteaURL          string
	GiteaToken        string `json:"-"`
	GiteaTokenFile    string
	GitHubURL         string
	GitHubToken       string `json:"-"`
	GitHubTokenFile   string
	// GitHubLogin is the bot account's login (needed for GitHub App tokens).
	GitHubLogin     string
	GitLabURL       string
	GitLabToken     string `json:"-"`
	GitLabTokenFile string
	// ForgeRepos is the allow-list of forge repositories: "gitea:org/infra".
	ForgeRepos []string
	// MinApprovals is the least number of approvals any project may ask.
	MinApprovals int
	// RepoMayRelax lists the checks a repository's sluice.yaml may turn off.
	RepoMayRelax []string
}

// Forges names the forges configured (with a token).
func (c *Config) Forges() []string {
	var out []string
	if c.GiteaToken != "" {
		out = append(out, "gitea")
	}
	if c.GitHubToken != "" {
		out = append(out, "github")
	}
	if c.GitLabToken != "" {
		out = append(out, "gitlab")
	}
	return out
}

func forgeSettings() []setting {
	return []setting{
		{name: "webhook-secret", typ: "string", secret: true,
			help: "secret that verifies every forge's webhook deliveries; required when a forge is configured (prefer --webhook-secret-file)"},
		{name: "webhook-secret-file", typ: "string", help: "file holding the webhook secret"},
		{name: "gitea-url", typ: "string", help: "base URL of the Gitea (or Forgejo) server, e.g. https://gitea.example.com",
			parse: text(func(c *Config) *string { return &c.GiteaURL }, checkOptionalURL)},
		{name: "gitea-token", typ: "string", secret: true, help: "access token of Sluice's Gitea account (prefer --gitea-token-file)"},
		{name: "gitea-token-file", typ: "string", help: "file holding the Gitea token"},
		{name: "github-url", typ: "string", help: "GitHub Enterprise base URL; empty for github.com",
			parse: text(func(c *Config) *string { return &c.GitHubURL }, checkOptionalURL)},
		{name: "github-token", typ: "string", secret: true, help: "GitHub token of Sluice's account (prefer --github-token-file)"},
		{name: "github-token-file", typ: "string", help: "file holding the GitHub token"},
		{name: "github-login", typ: "string", help: "login of Sluice's GitHub account (needed with a GitHub App token)",
			parse: text(func(c *Config) *string { return &c.GitHubLogin }, func(string) string { return "" })},
		{name: "gitlab-url", typ: "string", def: "https://gitlab.com", help: "base URL of the GitLab instance",
			parse: text(func(c *Config) *string { return &c.GitLabURL }, checkOptionalURL)},
		{name: "gitlab-token", typ: "string", secret: true, help: "GitLab access token of Sluice's account, scope api (prefer --gitlab-token-file)"},
		{name: "gitlab-token-file", typ: "string", help: "file holding the GitLab token"},
		{name: "min-approvals", typ: "int", def: "1",
			help:  "the least number of approvals any project needs, whatever its sluice.yaml says",
			parse: parseMinApprovals},
		{name: "repo-may-relax", typ: "string",
			help:  "checks a repository's sluice.yaml may turn off, comma-separated: threads, checks, draft (default none)",
			parse: parseRelax},
	}
}

func checkOptionalURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "not an http(s) URL; write e.g. https://git.example.com"
	}
	if u.User != nil {
		return "must not hold credentials; give the token with its own setting"
	}
	return ""
}

func parseMinApprovals(c *Config, s string) string {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return "not a whole number ≥ 0"
	}
	c.MinApprovals = n
	return ""
}

func parseRelax(c *Config, s string) string {
	c.RepoMayRelax = nil
	for _, x := range strings.Split(s, ",") {
		x = strings.TrimSpace(x)
		if x == "" {
			continue
		}
		if !slices.Contains([]string{"threads", "checks", "draft"}, x) {
			return fmt.Sprintf("%q is not a check a repository may relax (threads, checks, draft)", x)
		}
		c.RepoMayRelax = append(c.RepoMayRelax, x)
	}
	return ""
}

// loadForges reads the forge secrets and checks the forge settings
// together: a forge needs its URL and token, webhooks need a secret, and a
// repository in the allow-list needs its forge.
func loadForges(c *Config, vals map[string]value) []string {
	var problems []string
	secret := func(dst *string, name string) {
		problems = append(problems, loadSecret(dst, vals[name], vals[name+"-file"], checkSecret, false, "")...)
	}
	secret(&c.WebhookSecret, "webhook-secret")
	secret(&c.GiteaToken, "gitea-token")
	secret(&c.GitHubToken, "github-token")
	secret(&c.GitLabToken, "gitlab-token")
	c.WebhookSecretFile = vals["webhook-secret-file"].raw
	c.GiteaTokenFile = vals["gitea-token-file"].raw
	c.GitHubTokenFile = vals["github-token-file"].raw
	c.GitLabTokenFile = vals["gitlab-token-file"].raw
	if c.GiteaToken != "" && c.GiteaURL == "" {
		problems = append(problems, "gitea-token is set but gitea-url is not; set --gitea-url to your Gitea server")
	}
	if len(c.Forges()) > 0 && c.WebhookSecret == "" {
		problems = append(problems, "no webhook secret: a server that talks to a forge refuses unverified webhooks and will not start without one; "+
			"set --webhook-secret-file (generate one with: head -c 32 /dev/urandom | base64) and give the same secret to the forge's webhook")
	}
	for _, r := range c.ForgeRepos {
		name, _, _ := strings.Cut(r, ":")
		if !slices.Contains(c.Forges(), name) {
			problems = append(problems, fmt.Sprintf("--repos lists %s, but no %s token is configured (set --%s-token-file)", r, name, name))
		}
	}
	return problems
}

// checkSecret accepts any non-empty secret without spaces.
func checkSecret(s string) string {
	if strings.ContainsAny(s, " \t\r\n") {
		return "contains white space"
	}
	return ""
}
