package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Plan code that runs programs: any provider a merge request names runs
// during plan and show. Here a filesystem mirror serves a stand-in for
// registry.terraform.io/hashicorp/external that runs the merge request's
// ./attack.sh from the project's directory, then hands over to the
// repository's own test provider, so that plan and show succeed.

var attackProvider struct {
	once sync.Once
	dir  string
	err  error
}

// attackMirror is the mirror and the CLI configuration that installs the
// stand-in from it; the provider is built once per test binary.
func attackMirror(t *testing.T) (cliConfig, mirror string) {
	t.Helper()
	attackProvider.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-attack-provider-")
		if err != nil {
			attackProvider.err = err
			return
		}
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "real-provider"), "./cmd/terraform-provider-sluicetest")
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			attackProvider.err = fmt.Errorf("building the provider: %v\n%s", err, out)
		}
		attackProvider.dir = dir
	})
	if attackProvider.err != nil {
		t.Fatal(attackProvider.err)
	}
	mirror = t.TempDir()
	dir := filepath.Join(mirror, "registry.terraform.io", "hashicorp", "external", "2.3.4", "linux_amd64")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(filepath.Join(attackProvider.dir, "real-provider"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real-provider"), real, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n[ -f ./attack.sh ] && sh ./attack.sh >/dev/null 2>&1 </dev/null\nexec \"$(dirname \"$0\")/real-provider\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "terraform-provider-external_v2.3.4"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cliConfig = filepath.Join(t.TempDir(), "cli.tfrc")
	cfg := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/external"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/external"]
  }
}
`, mirror)
	if err := os.WriteFile(cliConfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cliConfig, mirror
}

// attackScenario is a scenario whose engines install the stand-in; edit,
// when set, edits the server's environment further.
func attackScenario(t *testing.T, edit func([]string) []string) *scenario {
	t.Helper()
	cfg, mirror := attackMirror(t)
	return newScenarioEnv(t, false, func(env []string) []string {
		env = append(env, "TF_CLI_CONFIG_FILE="+cfg, "SLUICE_ENGINE_READ="+mirror)
		if edit != nil {
			env = edit(env)
		}
		return env
	})
}

const attackTF = `
terraform {
  required_providers {
    external = { source = "hashicorp/external" }
  }
}
provider "external" {}
`

// pushAttack pushes attack.sh beside a provider block into env's
// directory, with a change to plan, and opens a pull request.
func (sc *scenario) pushAttack(role, branch, env, size, attack string) int64 {
	sc.t.Helper()
	sc.g.PushFiles(sc.t, sc.tokens[role], sc.repo, "main", branch, map[string]string{
		env + "/evil.tf":   attackTF,
		env + "/attack.sh": attack,
		env + "/main.tf":   strings.Replace(sc.fileOnMain(env+"/main.tf"), "desired_size = 3", "desired_size = "+size, 1),
	})
	return sc.g.CreatePR(sc.t, sc.tokens[role], sc.repo, branch, "main", "Harmless "+branch, "").Number
}

// waitEnded waits for env's latest run of kind on pr to end, and returns
// its state and error.
func (sc *scenario) waitEnded(pr int64, env, kind string) (state, msg string) {
	sc.t.Helper()
	sc.waitFor(kind+" of "+env+" to end", func() bool {
		for _, r := range sc.runs(pr) {
			if r.Project == env && string(r.Kind) == kind && (r.State == "failed" || r.State == "succeeded" || r.State == "cancelled") {
				state, msg = string(r.State), r.Error
				return true
			}
		}
		return false
	})
	return state, msg
}

// TestGiteaEngineLeftoversAreNotFollowed: plan code that may write the
// project's working data and the plugin cache fills them with symbolic
// links to Sluice's plan key and token file (named as Sluice's plan files,
// its init stamp, its locks), and leaves a process behind that swaps every
// saved plan it finds for a link to the token file. Then another person's
// change of the same project is approved, merged and applied. Sluice must
// neither write through a link (the plan key stays whole) nor read through
// one (no plan holds the token), and the apply must apply the reviewed
// plan.
func TestGiteaEngineLeftoversAreNotFollowed(t *testing.T) {
	tf := newTokenInFile(t)
	tokenFile := tf.path
	sc := attackScenario(t, tf.edit)
	data := sc.s.dataDir
	keyBefore, err := os.ReadFile(filepath.Join(data, "plan.key"))
	if err != nil {
		t.Fatal(err)
	}
	stolen := filepath.Join(sc.state, "stolen") // the engines write sc.state: it stands for the network
	attack := fmt.Sprintf(`st=$(dirname "$TF_DATA_DIR"); key=%[1]q; token=%[2]q
for name in init-key .run.lock; do ln -sfn "$key" "$st/$name"; done
i=1; while [ $i -le 50 ]; do ln -sfn "$key" "$st/run-$i.plan"; i=$((i+1)); done
[ -n "$TF_PLUGIN_CACHE_DIR" ] && ln -sfn "$key" "$TF_PLUGIN_CACHE_DIR/.sluice-init.lock"
session=$(dirname "$TMPDIR")
setsid sh -c '
  i=0
  while [ $i -lt 1200 ]; do
    for f in "$1"/plan/plan "$2"/run-*.plan; do
      [ -f "$f" ] && [ ! -L "$f" ] && ln -sfn "$3" "$f"
    done
    for f in "$2"/*.plan "$1"/*.json; do
      [ -f "$f" ] && cat "$f" >> "$4" 2>/dev/null
    done
    sleep 0.05; i=$((i+1))
  done' sh "$session" "$st" "$token" %[3]q </dev/null >/dev/null 2>&1 &
setsid flock %[4]q sleep 300 </dev/null >/dev/null 2>&1 &
`, filepath.Join(data, "plan.key"), tokenFile, stolen, filepath.Join(sc.state, "leftover.lock"))
	evil := sc.pushAttack("alice", "evil", "staging", "5", attack)
	state, msg := sc.waitEnded(evil, "staging", "plan")
	t.Logf("the attack's plan: %s %s", state, msg)
	// Nothing the attack left running outlives the engine: its lock is
	// free again.
	sc.waitFor("the attack's leftover process to be gone", func() bool {
		f, err := os.OpenFile(filepath.Join(sc.state, "leftover.lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return false
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	})
	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, evil, map[string]any{"state": "closed"})
	sc.waitFor("the attack's locks to go", func() bool {
		locks, _ := sc.s.client.ListLocks(t.Context(), sc.sluiceID)
		return len(locks) == 0
	})

	pr, _ := sc.openPR("bob", "grow-staging", "staging", "4")
	sc.waitComment("bob's plan", pr.Number, func(b string) bool { return strings.Contains(b, "1 to change") && !strings.Contains(b, "Pending") })
	sc.approve("carol", pr.Number, "ok")
	sc.waitComment("approved", pr.Number, func(b string) bool { return strings.Contains(b, "[x] approvals") })
	sc.g.MergePR(t, sc.tokens["carol"], sc.repo, pr.Number)
	if state, msg := sc.waitEnded(pr.Number, "staging", "apply"); state != "succeeded" {
		t.Errorf("the apply of the reviewed change: %s %s", state, msg)
	}
	if got := sc.desiredSize("staging"); got != "4" {
		t.Errorf("staging has %s nodes after the apply, want the reviewed 4", got)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(data, "plan.key")); string(keyAfter) != string(keyBefore) {
		t.Errorf("Sluice wrote through a link: plan.key was %d bytes, is %d", len(keyBefore), len(keyAfter))
	}
	if b, _ := os.ReadFile(stolen); tf.token != "" && strings.Contains(string(b), tf.token) {
		t.Errorf("plan code got Sluice's token out through a saved plan")
	}
}

// TestGiteaPlanOutputThatIsNoFileIsRefused: plan code that turns its saved
// plan into a FIFO (or a link to /dev/zero) makes that plan fail at once
// with a message, and another merge request's plan of the project goes
// on: nothing stalls (Sluice used to hash /dev/zero for ever, holding the
// project's lock).
func TestGiteaPlanOutputThatIsNoFileIsRefused(t *testing.T) {
	sc := attackScenario(t, nil)
	attack := `session=$(dirname "$TMPDIR"); st=$(dirname "$TF_DATA_DIR")
setsid sh -c '
  i=0
  while [ $i -lt 1200 ]; do
    for f in "$1"/plan/plan "$2"/run-*.plan; do
      if [ -f "$f" ] && [ ! -L "$f" ]; then rm -f "$f"; mkfifo "$f" || ln -s /dev/zero "$f"; fi
    done
    sleep 0.01; i=$((i+1))
  done' sh "$session" "$st" </dev/null >/dev/null 2>&1 &
`
	evil := sc.pushAttack("alice", "stall", "staging", "5", attack)
	state, msg := sc.waitEnded(evil, "staging", "plan")
	t.Logf("the attack's plan: %s %s", state, msg)
	if state == "succeeded" {
		// The swap came too late to matter: what was planned was read.
		t.Log("the plan output was read before the swap")
	} else if !strings.Contains(msg, "reading the saved plan") {
		t.Errorf("the plan failed, but not saying why: %s", msg)
	}
	sc.g.EditPR(t, sc.tokens["alice"], sc.repo, evil, map[string]any{"state": "closed"})
	pr, _ := sc.openPR("bob", "grow-staging", "staging", "4")
	if state, msg := sc.waitEnded(pr.Number, "staging", "plan"); state == "" {
		t.Errorf("another merge request's plan of the project: %s %s", state, msg)
	}
}
