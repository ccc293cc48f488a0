package app

import (
	"fmt"
	"log/slog"
	"os"
)

// privateDataDir creates the data dir readable by the server's user only,
// or tightens one left open to others: it holds the database (run logs,
// plans, the audit log), the generated plan key and API token, and the
// checkouts and engine data of every run.
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the data dir %s: %w", dir, err)
	}
	return tighten(dir, 0o700, "the data dir", log)
}

// tighten takes away what group and others may do with path, a directory
// or file of Sluice's own that should be mode max at most, and says so:
// whatever they could read before may have been read.
func tighten(path string, max os.FileMode, what string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checking %s %s: %w", what, path, err)
	}
	was := fi.Mode().Perm()
	if was&^max == 0 {
		return nil
	}
	if err := os.Chmod(path, was&max); err != nil {
		return fmt.Errorf("%s %s is mode %04o, open to other users, and cannot be made private: %w; chmod %04o %s", what, path, was, err, max, path)
	}
	log.Warn(fmt.Sprintf("%s was open to other users; made it private", what), "path", path, "was", fmt.Sprintf("%04o", was), "now", fmt.Sprintf("%04o", was&max))
	return nil
}
