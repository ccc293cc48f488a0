package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
)

// confinement decides what engine processes get of this machine (the
// engine-* settings), says at start what it is, and refuses to start when
// engines would be able to read one of Sluice's secret files, or when a
// sandbox is required and the kernel cannot confine.
func confinement(cfg *config.Config, drivers []engine.SandboxPaths, log *slog.Logger) (engine.Confinement, error) {
	want := cfg.EngineSandbox != config.SandboxOff
	how, err := engine.SandboxSupport()
	switch {
	case !want:
		log.Warn("engine-sandbox=off: the code of every merge request Sluice plans can read any file this server can, " +
			"its data directory (database, plan key, API token) and secret files included, and Sluice hides only the literal text " +
			"of its secrets in what it shows (an encoded one passes); set engine-sandbox=required")
	case err != nil && cfg.EngineSandbox == config.SandboxRequired:
		return engine.Confinement{}, fmt.Errorf("engine-sandbox=required, but %w", err)
	case err != nil:
		log.Warn("engines are NOT confined: the code of every merge request Sluice plans can read any file this server can, "+
			"its data directory (database, plan key, API token) and secret files included, and Sluice hides only the literal text "+
			"of its secrets in what it shows (an encoded one passes); "+
			"run Sluice on a kernel with Landlock, or as a user that can read nothing else of value, "+
			"and set engine-sandbox=required to refuse to start without it", "reason", err.Error())
		want = false
	}
	conf, withheld := cfg.Confinement(os.Environ(), want)
	if want {
		if err := engine.IsolationSupport(); err != nil {
			log.Warn("engines are confined but not isolated: a process an engine leaves in a session of its own (setsid) "+
				"outlives it, with its sandbox, and can tamper with the project's later runs; allow unprivileged user namespaces "+
				"(kernel.unprivileged_userns_clone=1, or AppArmor's kernel.apparmor_restrict_unprivileged_userns=0) or run Sluice as root",
				"reason", err.Error())
		} else {
			conf.Isolate = true
		}
	}
	if len(withheld) > 0 {
		log.Warn("not passed to engines: these variables hold one of Sluice's own secrets", "variables", strings.Join(withheld, ","))
	}
	if !want {
		return conf, nil
	}
	var own engine.Paths
	for _, d := range drivers {
		p := d.SandboxPaths(conf)
		own.Read = append(own.Read, p.Read...)
		own.Write = append(own.Write, p.Write...)
	}
	reach := conf.Reach(conf.Env, own)
	roots := append(reach.Read, reach.Write...)
	var problems []string
	for _, f := range secretFiles(cfg) {
		if root, ok := engine.Beneath(f, roots); ok {
			problems = append(problems, fmt.Sprintf("%s (beneath %s)", f, root))
		}
	}
	if len(problems) > 0 {
		return engine.Confinement{}, errors.New("engines could read Sluice's own secrets: " + strings.Join(problems, ", ") +
			"; move these files out of what engines may read, or narrow engine-read, engine-write or the engines' PATH")
	}
	for _, p := range append(slices.Clone(cfg.EngineWrite), cfg.EngineRead...) {
		if _, err := os.Stat(p); err != nil && slices.Contains(cfg.EngineWrite, p) {
			log.Warn("an engine-write path does not exist: engines can use it once it does", "path", p)
		}
	}
	log.Info("engines are confined", "sandbox", how, "isolated", conf.Isolate, "read", strings.Join(conf.Read, ","), "write", strings.Join(conf.Write, ","))
	return conf, nil
}

// secretFiles are the files that hold Sluice's secrets or what it keeps:
// the database, the plan key, the API token, the secret files the
// settings name, and the config file (which may hold secrets too).
func secretFiles(cfg *config.Config) []string {
	files := []string{
		filepath.Join(cfg.DataDir, planKeyFile), filepath.Join(cfg.DataDir, APITokenFile),
		cfg.PlanKeyFile, cfg.APITokenFile, cfg.WebhookSecretFile,
		cfg.GiteaTokenFile, cfg.GitHubTokenFile, cfg.GitLabTokenFile, cfg.GitHubAppPrivateKeyFile,
		cfg.ConfigFile,
	}
	if driver, dsn := cfg.Database(); driver == "sqlite" {
		files = append(files, dsn)
	}
	var out []string
	for _, f := range files {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}
