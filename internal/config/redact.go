package config

import (
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Redacted returns every setting by name, as the server logs it at start:
// secrets (the plan key, the API token, the webhook secret, forge tokens
// and the GitHub App's private key) appear only as "set" or "unset", and a
// database URL's password as "xxxxx".
func (c Config) Redacted() map[string]string {
	m := map[string]string{}
	for _, kv := range c.summary() {
		m[kv[0]] = kv[1]
	}
	return m
}

// String returns the Redacted settings as name=value pairs.
func (c Config) String() string {
	var b strings.Builder
	for i, kv := range c.summary() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0] + "=" + show(kv[1]))
	}
	return b.String()
}

// GoString keeps %#v from printing the secrets.
func (c Config) GoString() string { return "config.Config{" + c.String() + "}" }

// LogValue makes slog log the Redacted settings, never the secrets.
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	for _, kv := range c.summary() {
		attrs = append(attrs, slog.String(kv[0], kv[1]))
	}
	return slog.GroupValue(attrs...)
}

var _ slog.LogValuer = Config{}

// summary lists the settings in the order of docs/server.md.
func (c Config) summary() [][2]string {
	return [][2]string{
		{"config", c.ConfigFile},
		{"listen", c.Listen},
		{"data-dir", c.DataDir},
		{"database-url", redactURL(c.DatabaseURL)},
		{"plan-key", setOrUnset(c.PlanKey)},
		{"plan-key-file", c.PlanKeyFile},
		{"api-token", setOrUnset(c.APIToken)},
		{"api-token-file", c.APITokenFile},
		{"max-concurrent-runs", strconv.Itoa(c.MaxConcurrentRuns)},
		{"max-projects-per-mr", strconv.Itoa(c.MaxProjectsPerMR)},
		{"shutdown-timeout", c.ShutdownTimeout.String()},
		{"engine-grace", c.EngineGrace.String()},
		{"lock-timeout", c.LockTimeout.String()},
		{"heartbeat-interval", c.HeartbeatInterval.String()},
		{"event-retention", c.EventRetention.String()},
		{"log-format", c.LogFormat},
		{"log-level", c.LogLevel},
		{"terraform-bin", c.TerraformBin},
		{"tofu-bin", c.TofuBin},
		{"pulumi-bin", c.PulumiBin},
		{"repos", reposSummary(c.Repos, c.ForgeRepos)},
		{"instance-name", c.InstanceName},
		{"engine-sandbox", c.EngineSandbox},
		{"engine-env", strings.Join(c.EngineEnv, ",")},
		{"engine-read", strings.Join(c.EngineRead, ",")},
		{"engine-write", strings.Join(c.EngineWrite, ",")},
		{"webhook-secret", setOrUnset(c.WebhookSecret)},
		{"webhook-secret-file", c.WebhookSecretFile},
		{"gitea-url", c.GiteaURL},
		{"gitea-token", setOrUnset(c.GiteaToken)},
		{"gitea-token-file", c.GiteaTokenFile},
		{"github-url", c.GitHubURL},
		{"github-token", setOrUnset(c.GitHubToken)},
		{"github-token-file", c.GitHubTokenFile},
		{"github-login", c.GitHubLogin},
		{"github-app-id", c.GitHubAppID},
		{"github-app-private-key", setOrUnset(c.GitHubAppPrivateKey)},
		{"github-app-private-key-file", c.GitHubAppPrivateKeyFile},
		{"github-app-installation-id", installationID(c.GitHubAppInstallationID)},
		{"gitlab-url", c.GitLabURL},
		{"gitlab-token", setOrUnset(c.GitLabToken)},
		{"gitlab-token-file", c.GitLabTokenFile},
		{"min-approvals", strconv.Itoa(c.MinApprovals)},
		{"repo-may-relax", strings.Join(c.RepoMayRelax, ",")},
		{"apply-branches", strings.Join(c.ApplyBranches, ",")},
	}
}

// reposSummary lists the repositories with their clone URLs, credentials
// in a URL masked.
func reposSummary(repos map[string]string, forgeRepos []string) string {
	names := make([]string, 0, len(repos))
	for n := range repos {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + redactURL(repos[n])
	}
	return strings.Join(append(parts, forgeRepos...), ",")
}

// installationID shows an installation id, or "" when unset.
func installationID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func setOrUnset(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "set"
}

// redactURL masks the password of a database URL, in its user info and in
// password query parameters (libpq style). Text that is not a URL of the
// scheme://… form (a libpq "host=… password=…" string, say) is hidden.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "(hidden: not a scheme://… URL)"
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
