#!/usr/bin/env bash
# Builds the real tools Sluice's tests run against, once, into a cache outside
# the repository keyed by version. Prints nothing but progress on stderr and,
# with --env, the environment lines the tests read (SLUICE_TEST_TOFU=...).
#
#   scripts/tools.sh tofu        # build OpenTofu if not cached
#   scripts/tools.sh --env tofu  # ... and print export lines for it
#
# Cache: $SLUICE_TOOLS_CACHE (default ~/.cache/sluice-tools).
set -euo pipefail

CACHE="${SLUICE_TOOLS_CACHE:-$HOME/.cache/sluice-tools}"
TOFU_VERSION="${TOFU_VERSION:-v1.10.10}"

log() { printf 'tools: %s\n' "$*" >&2; }

# modsrc MODULE VERSION: download a module and print its source directory.
modsrc() {
	local dir
	dir="$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [ -z "$dir" ]; then
		log "could not download $1@$2 from the Go module proxy"
		return 1
	fi
	printf '%s\n' "$dir"
}

build_tofu() {
	local out="$CACHE/tofu-$TOFU_VERSION/tofu"
	if [ -x "$out" ]; then
		printf '%s\n' "$out"
		return
	fi
	log "building OpenTofu $TOFU_VERSION (a few minutes, once)"
	local src
	src="$(modsrc github.com/opentofu/opentofu "$TOFU_VERSION")"
	mkdir -p "$(dirname "$out")"
	(cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out.tmp" ./cmd/tofu)
	mv "$out.tmp" "$out"
	log "built $out"
	printf '%s\n' "$out"
}

main() {
	local env=0
	if [ "${1:-}" = "--env" ]; then env=1; shift; fi
	mkdir -p "$CACHE"
	[ -f "$CACHE/go.mod" ] || (cd "$CACHE" && go mod init sluice-tools-cache >/dev/null 2>&1)
	local t p
	for t in "$@"; do
		case "$t" in
		tofu)
			p="$(build_tofu)"
			[ $env = 1 ] && printf 'export SLUICE_TEST_TOFU=%q\n' "$p"
			;;
		*)
			log "unknown tool $t (known: tofu)"
			exit 2
			;;
		esac
	done
}

main "$@"
