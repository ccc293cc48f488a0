package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/engine"
)

func TestEngineSettings(t *testing.T) {
	env := baseEnv()
	env["SLUICE_ENGINE_ENV"] = "defaults, DATADOG_API_KEY ,MYCLOUD_*,SLUICETEST_*"
	env["SLUICE_ENGINE_READ"] = "/srv/creds/"
	env["SLUICE_ENGINE_WRITE"] = "/var/lib/tfstate,/srv/pulumi"
	env["SLUICE_ENGINE_SANDBOX"] = "required"
	c, err := Load(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(engine.DefaultEnv), "DATADOG_API_KEY", "MYCLOUD_*", "SLUICETEST_*"); !slices.Equal(c.EngineEnv, want) {
		t.Errorf("EngineEnv = %q, want %q", c.EngineEnv, want)
	}
	if !slices.Equal(c.EngineRead, []string{"/srv/creds"}) || !slices.Equal(c.EngineWrite, []string{"/var/lib/tfstate", "/srv/pulumi"}) {
		t.Errorf("EngineRead = %q, EngineWrite = %q", c.EngineRead, c.EngineWrite)
	}
	if c.EngineSandbox != SandboxRequired {
		t.Errorf("EngineSandbox = %q", c.EngineSandbox)
	}
}

func TestEngineSettingsProblems(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"SLUICE_ENGINE_ENV", "defaults,SLUICE_GITEA_TOKEN", "Sluice's own settings"},
		{"SLUICE_ENGINE_ENV", "sluice_*", "Sluice's own settings"},
		{"SLUICE_ENGINE_ENV", "SLUICE*", "Sluice's own settings"},
		{"SLUICE_ENGINE_ENV", "AWS-KEY", "not a variable name"},
		{"SLUICE_ENGINE_ENV", "*", "not a variable name"},
		{"SLUICE_ENGINE_READ", "relative/creds", "not an absolute path"},
		{"SLUICE_ENGINE_WRITE", "~/state", "not an absolute path"},
		{"SLUICE_ENGINE_SANDBOX", "yes", "unknown; use auto, required or off"},
	} {
		env := baseEnv()
		env[tc.key] = tc.val
		_, err := Load(nil, envOf(env))
		if err == nil {
			t.Errorf("%s=%s: no error", tc.key, tc.val)
			continue
		}
		ps := problems(t, err)
		if len(ps) != 1 || !strings.Contains(ps[0], tc.key) || !strings.Contains(ps[0], tc.want) {
			t.Errorf("%s=%s: problems %q, want one naming the variable and saying %q", tc.key, tc.val, ps, tc.want)
		}
	}
}

// TestSecretsAreAllKnown: every secret of Sluice's is among Secrets, the
// engines' environment is stripped of them, and a private key's lines
// count one by one (an engine error may quote one line).
func TestSecretsAreAllKnown(t *testing.T) {
	env := baseEnv()
	env["SLUICE_API_TOKEN"] = "api-token-0123456789"
	env["SLUICE_DATABASE_URL"] = "postgres://sluice:db-pass-77@db.example/sluice"
	env["SLUICE_WEBHOOK_SECRET"] = "webhook-secret-0123456789"
	env["SLUICE_GITEA_URL"] = "https://gitea.example"
	env["SLUICE_GITEA_TOKEN"] = "gitea-token-0123456789"
	c, err := Load(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Secrets()
	for _, s := range []string{goodKey, "api-token-0123456789", "db-pass-77", "webhook-secret-0123456789", "gitea-token-0123456789"} {
		if !slices.Contains(got, s) {
			t.Errorf("Secrets lacks %q", s)
		}
	}
	conf, withheld := c.Confinement([]string{
		"PATH=/usr/bin", "AWS_PROFILE=prod", "AWS_SESSION_TOKEN=gitea-token-0123456789",
		"SLUICE_GITEA_TOKEN=gitea-token-0123456789", "UNRELATED=x",
	}, true)
	if want := []string{"PATH=/usr/bin", "AWS_PROFILE=prod"}; !slices.Equal(conf.Env, want) {
		t.Errorf("engine environment = %q, want %q", conf.Env, want)
	}
	if !slices.Equal(withheld, []string{"AWS_SESSION_TOKEN"}) {
		t.Errorf("withheld = %q", withheld)
	}
	if dbPassword("postgres://db/sluice?password=qp-secret") != "qp-secret" || dbPassword("postgres://db/sluice") != "" {
		t.Error("dbPassword misreads a query-string password or invents one")
	}
}
