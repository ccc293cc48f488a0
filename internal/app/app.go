// Package app is the composition root: it builds every dependency of the
// server from the configuration — store, job queue, flow, HTTP server —
// starts them in order and stops them in reverse. It is the only package
// that knows every concrete implementation.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/engine/pulumi"
	"github.com/sluicehq/sluice/internal/engine/terraform"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/gate"
	"github.com/sluicehq/sluice/internal/queue"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/repoconfig"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/postgres"
	"github.com/sluicehq/sluice/internal/store/sqlite"
	"github.com/sluicehq/sluice/internal/workspace"
)

// Files the server writes in its data dir (docs/server.md lists them).
const (
	planKeyFile = "plan.key"
	// APITokenFile is where a server with no configured token keeps the
	// one it generated; client commands on the same machine read it.
	APITokenFile = "api.token"
)

// Options are what Serve needs besides the configuration.
type Options struct {
	Log *slog.Logger
	// Listening, when set, receives the address the server listens on.
	Listening func(addr string)
}

// Serve runs the server until ctx ends, then drains: no new requests, the
// running jobs finish (until the shutdown timeout, then they are
// cancelled), and everything is closed.
func Serve(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Log
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if err := privateDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	driver, dsn := cfg.Database()
	if err := ensureSecrets(cfg, driver, log); err != nil {
		return err
	}
	// No log line may hold one of Sluice's secrets, whatever it logs.
	log = slog.New(redact.Handler(log.Handler(), redact.New(cfg.Secrets(), nil)))
	guardProcess(log)
	key, err := cfg.PlanKeyBytes()
	if err != nil {
		return err
	}
	sealer, err := seal.New(key)
	if err != nil {
		return err
	}

	var (
		st       store.Store
		newQueue func(h queue.Handler) (*queue.Queue, error)
	)
	qopts := queue.Options{MaxConcurrent: cfg.MaxConcurrentRuns, Logger: log, ID: cfg.InstanceName}
	switch driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return err
		}
		st = s
		newQueue = func(h queue.Handler) (*queue.Queue, error) {
			db, err := sqlite.OpenDB(ctx, dsn)
			if err != nil {
				return nil, err
			}
			db.SetMaxOpenConns(1) // as River's SQLite driver recommends
			return queue.NewSQLite(ctx, db, h, qopts)
		}
	default:
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
		defer pool.Close()
		s, err := postgres.New(ctx, pool)
		if err != nil {
			return err
		}
		st = s
		newQueue = func(h queue.Handler) (*queue.Queue, error) { return queue.NewPostgres(ctx, pool, h, qopts) }
	}
	defer st.Close()

	clients, err := forges(cfg, log)
	if err != nil {
		return err
	}
	engines, err := engineFactory(cfg, log)
	if err != nil {
		return err
	}
	auditLog := audit.New(st)
	jobs := &jobAdapter{}
	fl := &flow.Flow{
		Store:         st,
		Jobs:          jobs,
		Sealer:        sealer,
		Audit:         auditLog,
		Workspaces:    workspace.New(filepath.Join(cfg.DataDir, "workspaces")),
		Engines:       engines,
		Sources:       sources(cfg, clients),
		Forges:        forgeResolver(cfg, clients),
		Policy:        gate.Policy{MinApprovalsFloor: cfg.MinApprovals, MayRelax: cfg.RepoMayRelax},
		ApplyBranches: cfg.ApplyBranches,
		Log:           log,
		Instance:      cfg.InstanceName,
		StateDir:      filepath.Join(cfg.DataDir, "engines"),
		OwnSecrets:    cfg.Secrets(),

		MaxProjectsPerMR: cfg.MaxProjectsPerMR,
		RefreshEvery:     flow.DefaultRefreshEvery,
	}
	q, err := newQueue(fl)
	if err != nil {
		return err
	}
	jobs.q = q

	// What a previous life of this server (or a dead replica) left.
	if err := st.Heartbeat(ctx, cfg.InstanceName); err != nil {
		return fmt.Errorf("registering instance %s: %w", cfg.InstanceName, err)
	}
	alive, err := aliveInstances(ctx, st, driver, cfg)
	if err != nil {
		return err
	}
	// Whatever this instance's name owned before this start belongs to a
	// previous life of it (a fixed --instance-name survives restarts).
	alive = slices.DeleteFunc(alive, func(n string) bool { return n == cfg.InstanceName })
	if err := fl.Recover(ctx, alive, time.Now()); err != nil {
		return err
	}

	// What a new user gets wrong first, said at start (in the background:
	// a slow forge must not hold the server).
	go checkForges(ctx, cfg, clients, log)

	var started atomic.Bool
	// Jobs run under a context of their own: SIGTERM must let them finish
	// (Stop below drains them), not cancel them at once.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	started.Store(true)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &server.Server{
		Store:    st,
		Flow:     fl,
		Log:      log,
		APIToken: cfg.APIToken,
		Registry: reg,
		Webhooks: webhooks(cfg, clients),
		Ready: func(ctx context.Context) error {
			if !started.Load() {
				return errors.New("job queue not started")
			}
			return st.Ping(ctx)
		},
		Jobs: q.Unfinished,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = q.Stop(context.Background())
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	hs := srv.HTTPServer(slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(server.Listener(ln)) }()
	log.Info("sluice serving", "addr", ln.Addr().String(), "instance", cfg.InstanceName, "database", driver, "settings", cfg.Redacted())
	if opts.Listening != nil {
		opts.Listening(ln.Addr().String())
	}

	maint := make(chan struct{})
	go func() {
		defer close(maint)
		maintain(ctx, fl, st, driver, cfg, log)
	}()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		log.Error("HTTP server stopped", "err", err)
	}
	log.Info("stopping: no new requests; waiting for running jobs", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	_ = hs.Shutdown(sctx)
	cancel()
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	err = q.Stop(qctx)
	<-maint
	// The comments and statuses of the runs that just ended.
	fl.FlushRefreshes()
	log.Info("stopped")
	return err
}

// maintain keeps the heartbeat and, on PostgreSQL, takes over what dead
// replicas left; on both it re-queues accepted events whose job was lost,
// and deletes processed events past the retention.
func maintain(ctx context.Context, fl *flow.Flow, st store.Store, driver string, cfg *config.Config, log *slog.Logger) {
	t := time.NewTicker(cfg.HeartbeatInterval)
	defer t.Stop()
	pruner := &eventPruner{store: st, retention: cfg.EventRetention, log: log}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := st.Heartbeat(ctx, cfg.InstanceName); err != nil {
			log.Warn("heartbeat failed", "err", err)
			continue
		}
		alive, err := aliveInstances(ctx, st, driver, cfg)
		if err != nil {
			log.Warn("listing live instances failed", "err", err)
			continue
		}
		if err := fl.Recover(ctx, alive, time.Now().Add(-pendingAfter(cfg.HeartbeatInterval))); err != nil && ctx.Err() == nil {
			log.Warn("recovery pass failed", "err", err)
		}
		pruner.prune(ctx, time.Now())
	}
}

// pendingAfter is how long an accepted event may wait for its job before a
// recovery pass looks at it: long enough for Accept to have enqueued it,
// and as long as an instance takes to count as dead (three heartbeats),
// since recovery only re-queues an event none of whose jobs will run.
func pendingAfter(heartbeat time.Duration) time.Duration {
	return max(3*heartbeat, 5*time.Second)
}

// aliveInstances: SQLite is one server by design, so every other owner is
// dead; on PostgreSQL, the instances whose heartbeat is recent.
func aliveInstances(ctx context.Context, st store.Store, driver string, cfg *config.Config) ([]string, error) {
	if driver == "sqlite" {
		return []string{cfg.InstanceName}, nil
	}
	alive, err := st.Instances(ctx, time.Now().Add(-3*cfg.HeartbeatInterval))
	if err != nil {
		return nil, fmt.Errorf("listing live instances: %w", err)
	}
	return append(alive, cfg.InstanceName), nil
}

// ensureSecrets fills in the plan key and API token when none is
// configured. A single SQLite server generates them once into its data
// dir (0600); replicas on PostgreSQL must share one key, so there a
// missing plan key refuses to start.
func ensureSecrets(cfg *config.Config, driver string, log *slog.Logger) error {
	if cfg.PlanKey == "" {
		if driver != "sqlite" {
			return errors.New("no plan key: replicas sharing PostgreSQL must all use the same key to open each other's plans; set --plan-key-file or SLUICE_PLAN_KEY (generate one with: head -c 32 /dev/urandom | base64)")
		}
		k, created, err := secretFile(filepath.Join(cfg.DataDir, planKeyFile), 32, log)
		if err != nil {
			return err
		}
		if created {
			log.Warn("generated a plan key; back it up: the stored plans cannot be opened without it", "file", filepath.Join(cfg.DataDir, planKeyFile))
		}
		cfg.PlanKey = k
	}
	if cfg.APIToken == "" {
		t, created, err := secretFile(filepath.Join(cfg.DataDir, APITokenFile), 32, log)
		if err != nil {
			return err
		}
		if created {
			log.Info("generated an API token for the sluice client commands", "file", filepath.Join(cfg.DataDir, APITokenFile))
		}
		cfg.APIToken = t
	}
	return nil
}

// secretFile reads a base64 secret from path, made private if it was not,
// or creates it (0600) with n random bytes.
func secretFile(path string, n int, log *slog.Logger) (string, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), false, tighten(path, 0o600, "the generated secret", log)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("reading %s: %w", path, err)
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", false, err
	}
	s := base64.StdEncoding.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return secretFile(path, n, log) // another process made it first
	}
	if err != nil {
		return "", false, fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("writing %s: %w", path, err)
	}
	return s, true, f.Close()
}

func engineFactory(cfg *config.Config, log *slog.Logger) (flow.Engines, error) {
	cache := filepath.Join(cfg.DataDir, "plugin-cache")
	tf := terraform.New(repoconfig.EngineTerraform, cfg.TerraformBin)
	tofu := terraform.New(repoconfig.EngineOpenTofu, cfg.TofuBin)
	for _, d := range []*terraform.Driver{tf, tofu} {
		d.PluginCacheDir = cache
		d.Grace = cfg.EngineGrace
		d.LockTimeout = cfg.LockTimeout
	}
	pl := pulumi.New(cfg.PulumiBin)
	pl.Grace = cfg.EngineGrace
	conf, err := confinement(cfg, []engine.SandboxPaths{tf, tofu, pl}, log)
	if err != nil {
		return nil, err
	}
	tf.Confine, tofu.Confine, pl.Confine = conf, conf, conf
	return func(name string) (engine.Engine, error) {
		switch name {
		case repoconfig.EngineTerraform:
			return tf, nil
		case repoconfig.EngineOpenTofu:
			return tofu, nil
		case repoconfig.EnginePulumi:
			return pl, nil
		}
		return nil, fmt.Errorf("unknown engine %q", name)
	}, nil
}

// jobAdapter lets the flow enqueue jobs without knowing River.
type jobAdapter struct{ q *queue.Queue }

func (j *jobAdapter) EnqueueEvent(ctx context.Context, id int64) error {
	_, err := j.q.Enqueue(ctx, queue.EventArgs{EventID: id})
	return err
}

func (j *jobAdapter) RequeueEvent(ctx context.Context, id int64, alive []string) error {
	_, err := j.q.RequeueEvent(ctx, id, alive)
	return err
}

func (j *jobAdapter) EnqueuePlan(ctx context.Context, id int64) error {
	_, err := j.q.Enqueue(ctx, queue.PlanArgs{RunID: id})
	return err
}

func (j *jobAdapter) EnqueueApply(ctx context.Context, id int64) error {
	_, err := j.q.Enqueue(ctx, queue.ApplyArgs{RunID: id})
	return err
}

func (j *jobAdapter) RequeueApply(ctx context.Context, id int64, alive []string) error {
	_, err := j.q.RequeueApply(ctx, id, alive)
	return err
}
