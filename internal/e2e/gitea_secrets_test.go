package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// TestGiteaPlanCodeCannotReachSluicesSecrets is the red team's attack: a
// merge request whose code reads the server's environment, its data
// directory's plan key, API token and database, and its Gitea token
// file, directly and through a symbolic link committed as a .tf file,
// and prints a sensitive variable through an attribute no provider marks
// sensitive. Sluice must show none of it anywhere: in its comments, the
// commit statuses, the run logs and errors of its API, or its own log.
//
// With the sandbox, every read is refused. Without it (engine-sandbox=off,
// or a kernel that cannot confine), the reads succeed, and Sluice's own
// secrets are still hidden from all it shows: the last line.
func TestGiteaPlanCodeCannotReachSluicesSecrets(t *testing.T) {
	t.Run("sandbox", func(t *testing.T) { planCodeSnoops(t, true) })
	t.Run("no sandbox", func(t *testing.T) { planCodeSnoops(t, false) })
}

// tokenInFile moves the server's Gitea token from its environment into a
// file of its own (0600, as the docs recommend), and keeps the token.
type tokenInFile struct {
	t     *testing.T
	path  string
	token string
}

func newTokenInFile(t *testing.T) *tokenInFile {
	return &tokenInFile{t: t, path: filepath.Join(t.TempDir(), "gitea.token")}
}

func (f *tokenInFile) edit(env []string) []string {
	var out []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SLUICE_GITEA_TOKEN="); ok {
			f.token = v
			if err := os.WriteFile(f.path, []byte(v+"\n"), 0o600); err != nil {
				f.t.Fatal(err)
			}
			kv = "SLUICE_GITEA_TOKEN_FILE=" + f.path
		}
		out = append(out, kv)
	}
	return out
}

func planCodeSnoops(t *testing.T, sandbox bool) {
	tf := newTokenInFile(t)
	tokenFile := tf.path
	sc := newScenarioEnv(t, false, func(env []string) []string {
		out := tf.edit(env)
		if !sandbox {
			out = append(out, "SLUICE_ENGINE_SANDBOX=off")
		}
		return out
	})
	data := sc.s.dataDir
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	never := map[string]string{
		"the Gitea token":        tf.token,
		"the webhook secret":     webhookSecret,
		"the plan key":           read("plan.key"),
		"the API token":          read("api.token"),
		"the sensitive variable": "canary-sensitive-var-6d2f0b",
	}
	if sandbox {
		// Not a secret Sluice can hide as text: only the sandbox keeps it.
		never["the database"] = "U1FMaXRlIGZvcm1hdCAz" // base64 of an SQLite file's header
	}

	snoop := fmt.Sprintf(`
variable "admin_password" {
  type      = string
  default   = "canary-sensitive-var-6d2f0b"
  sensitive = true
}

resource "terraform_data" "password_user" {
  input = nonsensitive(var.admin_password)
}

output "environ" {
  value = try(file("/proc/self/environ"), "denied-environ")
}

output "server_environ" {
  value = try(file("/proc/%[1]d/environ"), "denied-server-environ")
}

output "server_cmdline" {
  value = try(file("/proc/%[1]d/cmdline"), "denied-server-cmdline")
}

output "plan_key" {
  value = try(file("%[2]s/plan.key"), "denied-plan-key")
}

output "api_token" {
  value = try(file("%[2]s/api.token"), "denied-api-token")
}

output "database" {
  value = try(substr(filebase64("%[2]s/sluice.db"), 0, 40), "denied-database")
}

output "token_file" {
  value = try(file("%[3]s"), "denied-token-file")
}
`, sc.s.cmd.Process.Pid, data, tokenFile)

	head := sc.g.PushChange(t, sc.tokens["alice"], sc.repo, "main", "snoop", func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "prod", "snoop.tf"), []byte(snoop), 0o644); err != nil {
			t.Fatal(err)
		}
		// A .tf file that is a link to the token: the engine's error
		// would quote what it read.
		if err := os.Symlink(tokenFile, filepath.Join(dir, "staging", "token.tf")); err != nil {
			t.Fatal(err)
		}
	})
	pr := sc.g.CreatePR(t, sc.tokens["alice"], sc.repo, "snoop", "main", "Harmless change", "")
	c := sc.waitComment("both plans", pr.Number, func(b string) bool {
		return strings.Contains(b, "`prod`") && strings.Contains(b, "`staging`") && !strings.Contains(b, "Pending")
	})

	// The reads were refused, not merely hidden afterwards.
	for _, want := range []string{"denied-environ", "denied-server-environ", "denied-server-cmdline", "denied-plan-key", "denied-api-token", "denied-database", "denied-token-file"} {
		if sandbox && !strings.Contains(c.Body, want) {
			t.Errorf("the plan comment lacks %q: the read was not refused\n%s", want, c.Body)
		}
	}

	// Everything Sluice shows or keeps of this merge request.
	var shown strings.Builder
	for _, cm := range sc.comments(pr.Number) {
		shown.WriteString(cm.Body + "\n")
	}
	for _, name := range []string{"sluice/plan: prod", "sluice/plan: staging"} {
		shown.WriteString(sc.status(head, name) + "\n")
	}
	ctx := context.Background()
	runs := sc.runs(pr.Number)
	for _, r := range runs {
		b, _ := json.Marshal(r)
		shown.Write(b)
		lines, err := sc.s.client.Logs(ctx, r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			shown.WriteString(l.Text + "\n")
		}
	}
	if countKind(runs, store.KindPlan) != 2 {
		t.Errorf("%d plan runs, want 2 (prod and staging)", countKind(runs, store.KindPlan))
	}
	shown.WriteString(sc.s.logs.String())
	for what, secret := range never {
		if secret != "" && strings.Contains(shown.String(), secret) {
			t.Errorf("Sluice shows %s", what)
		}
	}
}
