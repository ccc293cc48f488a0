//go:build !linux

package app

import "log/slog"

// guardProcess does nothing off Linux.
func guardProcess(*slog.Logger) {}
