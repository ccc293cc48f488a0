package app

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// guardProcess makes the server's process undumpable: processes of the
// same user (an engine that is not confined, a tool it runs) can then
// neither read its memory, environment or open files through /proc nor
// attach a debugger, and it leaves no core dump with its secrets.
func guardProcess(log *slog.Logger) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		log.Warn("could not make the server process undumpable", "err", err)
	}
}
