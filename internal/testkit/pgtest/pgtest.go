// Package pgtest runs a real PostgreSQL server for tests: one per test
// binary, started on first use, with a fresh database per test.
//
// A package using it stops the server through TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// The server runs from the binaries in SLUICE_TEST_PG_BIN (default
// /usr/lib/postgresql/15/bin). PostgreSQL refuses to run as root, so as
// root it runs as the user nobody. When the binaries are missing, tests
// skip, or fail when SLUICE_TEST_REQUIRE_TOOLS=1.
//
// The server dies with the test binary, even when that crashes: the
// postmaster gets SIGQUIT when the thread that started it ends (Pdeathsig,
// on a thread kept for that purpose). Directories a killed binary left in
// $TMPDIR/sluice-pgtest are removed by the next start.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/testkit/procs"
)

// The one server of the test binary.
var shared = procs.Shared[*server]{Name: "pgtest", Start: start, Missing: errMissing, Stop: (*server).stop}

// Main runs the tests and then stops the server, if one was started, and
// exits with the tests' status.
func Main(m *testing.M) { os.Exit(Wrap(m.Run)) }

// Wrap runs the tests (m.Run, or another package's Wrap of it) and then
// stops the server, if one was started; it returns run's status. It lets
// one TestMain use several such servers.
func Wrap(run func() int) int { return shared.Wrap(run) }

// Start returns the URL of the server's postgres database, starting the
// server on first use.
func Start(t testing.TB) string {
	t.Helper()
	return shared.Get(t).url("postgres")
}

// NewDatabase creates an empty database for the test, dropped when it
// ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := shared.Get(t)
	name := fmt.Sprintf("test_%d", s.seq.Add(1))
	ctx := context.Background()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := s.admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return s.url(name)
}

func binDir() string {
	if d := os.Getenv("SLUICE_TEST_PG_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

var errMissing = errors.New("PostgreSQL binaries missing")

type server struct {
	dir   string
	port  int
	cmd   *exec.Cmd
	done  <-chan struct{} // closed when the postmaster has exited
	admin *pgxpool.Pool
	seq   atomic.Int64 // numbers the databases
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// start runs initdb and the postmaster in a new directory.
func start(testing.TB) (*server, error) {
	bin := binDir()
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%w: %s not found (set SLUICE_TEST_PG_BIN)", errMissing, filepath.Join(bin, b))
		}
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := procs.Dir("sluice-pgtest", stopLeftover)
	if err != nil {
		return nil, err
	}
	s, err := startIn(bin, dir, cred)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func startIn(bin, dir string, cred *syscall.Credential) (*server, error) {
	// nobody must reach the data and socket directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.Env = env()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("running initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken before postgres binds it
		port, err := procs.FreePort()
		if err != nil {
			return nil, err
		}
		s, err := run(bin, dir, data, sock, port, cred)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// run starts the postmaster and waits until it accepts connections.
func run(bin, dir, data, sock string, port int, cred *syscall.Credential) (*server, error) {
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Dir = dir
	cmd.Env = env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// SIGQUIT is PostgreSQL's immediate shutdown, which also stops the
	// backends and frees shared memory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	done, err := procs.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	s := &server{dir: dir, port: port, cmd: cmd, done: done}
	if err := s.waitReady(logPath); err != nil {
		s.kill()
		return nil, err
	}
	admin, err := pgxpool.New(context.Background(), s.url("postgres")+"&pool_max_conns=4")
	if err != nil {
		s.kill()
		return nil, err
	}
	s.admin = admin
	return s, nil
}

func (s *server) waitReady(logPath string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited at start:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres not ready after 30 s: %v\n%s", err, out)
		}
	}
}

// stop shuts the server down (fast shutdown, then kill) and removes its
// directory.
func (s *server) stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
	return os.RemoveAll(s.dir)
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// credential returns the user to run PostgreSQL as: nobody when running as
// root, else nil (the current user).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root and no user nobody to run PostgreSQL as", errMissing)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func env() []string {
	return []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
}

func isPostgres(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "postgres"
}

// stopLeftover ends the postmaster a dead test binary left in dir.
func stopLeftover(dir string) {
	if pm := procs.PIDFile(filepath.Join(dir, "data", "postmaster.pid")); pm > 0 && isPostgres(pm) {
		_ = syscall.Kill(pm, syscall.SIGQUIT)
	}
}
