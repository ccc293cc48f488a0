package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/forge"
	"github.com/sluicehq/sluice/internal/repoconfig"
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
	// GitHubLogin is the login of Sluice's account, whose comments it
	// edits: by default the token's user, or a GitHub App's bot.
	GitHubLogin string
	// GitHubAppID is the App ID (or Client ID) of the GitHub App Sluice
	// acts as, instead of GitHubToken; with GitHubAppPrivateKey.
	GitHubAppID string
	// GitHubAppPrivateKey is the App's private key, PEM; after Load it
	// holds the key also when it came from GitHubAppPrivateKeyFile. Secret.
	GitHubAppPrivateKey     string `json:"-"`
	GitHubAppPrivateKeyFile string
	// GitHubAppInstallationID is the App's installation to act as; 0 finds
	// each repository's.
	GitHubAppInstallationID int64
	GitLabURL               string
	GitLabToken             string `json:"-"`
	GitLabTokenFile         string
	// ForgeRepos is the allow-list of forge repositories: "gitea:org/infra".
	ForgeRepos []string
	// MinApprovals is the least number of approvals any project may ask.
	MinApprovals int
	// RepoMayRelax lists the checks a repository's sluice.yaml may turn off.
	RepoMayRelax []string
	// ApplyBranches are the only branches whose merge requests Sluice
	// applies (and whose sluice.yaml sets the gate's rules); empty means
	// each repository's default branch, as its forge says.
	ApplyBranches []string
}

// Forges names the forges configured (with a token, or a GitHub App).
func (c *Config) Forges() []string {
	var out []string
	if c.GiteaToken != "" {
		out = append(out, "gitea")
	}
	if c.GitHubToken != "" || c.GitHubAppID != "" {
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
		{name: "github-login", typ: "string", help: "login of Sluice's GitHub account, whose comments it edits (default: the token's user, or the GitHub App's bot, SLUG[bot])",
			parse: text(func(c *Config) *string { return &c.GitHubLogin }, func(string) string { return "" })},
		{name: "github-app-id", typ: "string", help: "App ID (or Client ID) of the GitHub App Sluice acts as, instead of a token; with --github-app-private-key-file",
			parse: text(func(c *Config) *string { return &c.GitHubAppID }, checkAppID)},
		{name: "github-app-private-key", typ: "string", secret: true, help: "the GitHub App's private key, PEM (prefer --github-app-private-key-file)"},
		{name: "github-app-private-key-file", typ: "string", help: "file holding the GitHub App's private key, the .pem GitHub generated"},
		{name: "github-app-installation-id", typ: "int", help: "the GitHub App's installation to act as (default: each repository's, asked of GitHub)",
			parse: parseInstallationID},
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
		{name: "apply-branches", typ: "string",
			help:  "the branches Sluice applies merge requests into, comma-separated; merge requests into any other branch are planned, never applied (default: each repository's default branch)",
			parse: parseApplyBranches},
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
		if !slices.Contains(repoconfig.Relaxable(), x) {
			return fmt.Sprintf("%q is not a check a repository may relax (threads, checks, draft)", x)
		}
		c.RepoMayRelax = append(c.RepoMayRelax, x)
	}
	return ""
}

// parseApplyBranches reads the comma-separated branch names. A name is
// matched exactly; one git would refuse as a branch name, or that looks
// like a pattern, is a mistake to report now rather than a branch that
// never matches.
func parseApplyBranches(c *Config, s string) string {
	c.ApplyBranches = nil
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if strings.HasPrefix(b, "refs/") {
			return fmt.Sprintf("%q: write the branch's name, without refs/heads/", b)
		}
		if strings.ContainsAny(b, " \t*?[\\~^:") || strings.Contains(b, "..") || strings.HasPrefix(b, "-") ||
			strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".lock") {
			return fmt.Sprintf("%q is not a branch name (names are matched exactly; no patterns)", b)
		}
		if !slices.Contains(c.ApplyBranches, b) {
			c.ApplyBranches = append(c.ApplyBranches, b)
		}
	}
	return ""
}

// loadForges reads the forge secrets and checks the forge settings
// together: a forge needs its URL and token, webhooks need a secret, and a
// repository in the allow-list needs its forge.
func loadForges(c *Config, vals map[string]value) []string {
	var problems []string
	secret := func(dst *string, name string, check func(string) string) {
		problems = append(problems, loadSecret(dst, vals[name], vals[name+"-file"], check, false, "", &c.Warnings)...)
	}
	secret(&c.WebhookSecret, "webhook-secret", checkWebhookSecret)
	secret(&c.GiteaToken, "gitea-token", checkSecret)
	secret(&c.GitHubToken, "github-token", checkSecret)
	secret(&c.GitLabToken, "gitlab-token", checkSecret)
	appKey := vals["github-app-private-key"]
	appKey.raw = unescapePEM(appKey.raw)
	problems = append(problems, loadSecret(&c.GitHubAppPrivateKey, appKey, vals["github-app-private-key-file"], checkAppKey, false, "", &c.Warnings)...)
	c.GitHubAppPrivateKeyFile = vals["github-app-private-key-file"].raw
	problems = append(problems, checkGitHubApp(c, vals)...)
	c.WebhookSecretFile = vals["webhook-secret-file"].raw
	c.GiteaTokenFile = vals["gitea-token-file"].raw
	c.GitHubTokenFile = vals["github-token-file"].raw
	c.GitLabTokenFile = vals["gitlab-token-file"].raw
	if c.GiteaToken != "" && c.GiteaURL == "" {
		problems = append(problems, "gitea-token is set but gitea-url is not; set --gitea-url to your Gitea server")
	}
	given := strings.TrimSpace(vals["webhook-secret"].raw) != "" || vals["webhook-secret-file"].raw != ""
	if len(c.Forges()) > 0 && !given { // a secret given but refused has its own problem
		problems = append(problems, "no webhook secret: a server that talks to a forge refuses unverified webhooks and will not start without one; "+
			"set --webhook-secret-file (generate one with: head -c 32 /dev/urandom | base64) and give the same secret to the forge's webhook")
	}
	for _, r := range c.ForgeRepos {
		id, _ := forge.ParseRepoID(r)
		if !slices.Contains(c.Forges(), id.Forge) {
			how := fmt.Sprintf("set --%s-token-file", id.Forge)
			if id.Forge == "github" {
				how += ", or --github-app-id and --github-app-private-key-file"
			}
			problems = append(problems, fmt.Sprintf("--repos lists %s, but no %s token is configured (%s)", r, id.Forge, how))
		}
	}
	return problems
}

// checkGitHubApp checks the GitHub App settings together: they replace
// the token, and the App needs its ID and its key.
func checkGitHubApp(c *Config, vals map[string]value) []string {
	var app []value // the App settings given
	for _, name := range []string{"github-app-id", "github-app-private-key", "github-app-private-key-file", "github-app-installation-id"} {
		if v := vals[name]; v.raw != "" && v.origin != fromDefault {
			app = append(app, v)
		}
	}
	if len(app) == 0 {
		return nil
	}
	for _, name := range []string{"github-token", "github-token-file"} {
		if v := vals[name]; v.raw != "" {
			return []string{fmt.Sprintf("%s and %s are both set: Sluice acts on GitHub either with a token or as a GitHub App; keep one "+
				"(for an App: github-app-id and github-app-private-key-file, without github-token)", v.where, app[0].where)}
		}
	}
	var problems []string
	if c.GitHubAppID == "" && vals["github-app-id"].raw == "" {
		problems = append(problems, fmt.Sprintf("%s is set but github-app-id is not: set --github-app-id to the App ID shown on the GitHub App's settings page", app[0].where))
	}
	if vals["github-app-private-key"].raw == "" && vals["github-app-private-key-file"].raw == "" {
		problems = append(problems, fmt.Sprintf("%s is set but the App's private key is not: generate one on the GitHub App's settings page (Private keys) "+
			"and set --github-app-private-key-file to the downloaded .pem file (or SLUICE_GITHUB_APP_PRIVATE_KEY to its content)", app[0].where))
	}
	return problems
}

// checkAppID accepts an App ID (a number) or a Client ID (Iv1.…, Iv23…).
func checkAppID(s string) string {
	if s == "" {
		return ""
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 1 {
			return "not an App ID (a whole number ≥ 1); copy the App ID from the GitHub App's settings page"
		}
		return ""
	}
	clientID := strings.HasPrefix(s, "Iv") && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
	if !clientID {
		return "neither an App ID (a number) nor a Client ID (Iv…); copy one from the GitHub App's settings page"
	}
	return ""
}

func parseInstallationID(c *Config, s string) string {
	if s == "" {
		c.GitHubAppInstallationID = 0
		return ""
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return "not an installation id (a whole number ≥ 1: the number at the end of the installation's settings URL, …/settings/installations/ID); " +
			"or leave it unset to find each repository's installation"
	}
	c.GitHubAppInstallationID = n
	return ""
}

// unescapePEM turns a PEM written on one line with \n for its line
// breaks (as environment variables often carry it) back into lines.
func unescapePEM(s string) string {
	if strings.Contains(s, "\n") || !strings.Contains(s, `\n`) {
		return s
	}
	return strings.ReplaceAll(s, `\n`, "\n")
}

// checkAppKey accepts an RSA private key in PEM, PKCS #1 (as GitHub
// generates it) or PKCS #8. Its messages never quote the key.
func checkAppKey(s string) string {
	const hint = "give the .pem file GitHub generated on the App's settings page (Private keys → Generate a private key)"
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return "not a PEM private key (no -----BEGIN RSA PRIVATE KEY----- line); " + hint
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return "the RSA PRIVATE KEY block does not hold a valid RSA key; " + hint
		}
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return "the PRIVATE KEY block does not hold a valid key; " + hint
		}
		if _, ok := k.(*rsa.PrivateKey); !ok {
			return "not an RSA key: GitHub Apps sign with RSA; " + hint
		}
	default:
		return fmt.Sprintf("the PEM block is a %q, not a private key; %s", block.Type, hint)
	}
	return ""
}

// checkWebhookSecret accepts a secret without spaces of at least
// minTokenLen characters: whoever guesses it can sign deliveries (and on
// GitLab it is the delivery's only proof).
func checkWebhookSecret(s string) string {
	if msg := checkSecret(s); msg != "" {
		return msg
	}
	return tooShort(s)
}

// checkSecret accepts any non-empty secret without spaces.
func checkSecret(s string) string {
	if strings.ContainsAny(s, " \t\r\n") {
		return "contains white space"
	}
	return ""
}
