#!/usr/bin/env bash
# Builds the real tools Sluice's tests run against, once, into a cache outside
# the repository keyed by version. Prints nothing but progress on stderr and,
# with --env, the environment lines the tests read (SLUICE_TEST_TOFU=...).
#
#   scripts/tools.sh tofu              # build OpenTofu if not cached
#   scripts/tools.sh --env tofu gitea  # ... and print export lines for them
#
# Tools: tofu (OpenTofu), gitea (a Gitea server), pulumi (the pulumi CLI and
# its YAML language host), tfprovider (cmd/terraform-provider-sluicetest in a
# filesystem mirror, with a CLI configuration file that installs it from
# there: a TF_CLI_CONFIG_FILE for terraform and tofu).
#
# Cache: $SLUICE_TOOLS_CACHE (default ~/.cache/sluice-tools).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${SLUICE_TOOLS_CACHE:-$HOME/.cache/sluice-tools}"
TOFU_VERSION="${TOFU_VERSION:-v1.10.10}"
GITEA_VERSION="${GITEA_VERSION:-v1.26.0}"
PULUMI_VERSION="${PULUMI_VERSION:-v3.274.1}"
PULUMI_YAML_VERSION="${PULUMI_YAML_VERSION:-v1.25.0}"

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

build_gitea() {
	local out="$CACHE/gitea-$GITEA_VERSION/gitea"
	if [ -x "$out" ]; then
		printf '%s\n' "$out"
		return
	fi
	log "building Gitea $GITEA_VERSION (about 6 minutes, once)"
	local src
	src="$(modsrc code.gitea.io/gitea "$GITEA_VERSION")"
	mkdir -p "$(dirname "$out")"
	(cd "$src" && GOFLAGS=-mod=mod go build -trimpath -tags 'sqlite sqlite_unlock_notify' \
		-ldflags "-X 'main.Version=${GITEA_VERSION#v}'" -o "$out.tmp" .)
	mv "$out.tmp" "$out"
	# Gitea reads its locale files from STATIC_ROOT_PATH: keep a pointer.
	printf '%s\n' "$src" >"$(dirname "$out")/source-dir"
	log "built $out"
	printf '%s\n' "$out"
}

# build_pulumi builds the pulumi CLI and the YAML language host into one
# directory, to be put on PATH.
build_pulumi() {
	local dir="$CACHE/pulumi-$PULUMI_VERSION"
	if [ -x "$dir/pulumi" ] && [ -x "$dir/pulumi-language-yaml" ]; then
		printf '%s\n' "$dir"
		return
	fi
	log "building the pulumi CLI $PULUMI_VERSION (about 5 minutes, once)"
	local pkg sdk work
	pkg="$(modsrc github.com/pulumi/pulumi/pkg/v3 "$PULUMI_VERSION")"
	sdk="$(modsrc github.com/pulumi/pulumi/sdk/v3 "$PULUMI_VERSION")"
	# pkg's go.mod replaces sdk/v3 with ../sdk: lay the two out side by side.
	work="$CACHE/pulumi-src-$PULUMI_VERSION"
	rm -rf "$work"
	mkdir -p "$work"
	cp -r "$pkg" "$work/pkg"
	cp -r "$sdk" "$work/sdk"
	chmod -R u+w "$work"
	mkdir -p "$dir"
	(cd "$work/pkg" && GOFLAGS=-mod=mod go build -trimpath \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
		-o "$dir/pulumi.tmp" ./cmd/pulumi)
	mv "$dir/pulumi.tmp" "$dir/pulumi"
	GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@$PULUMI_YAML_VERSION"
	rm -rf "$work"
	log "built $dir"
	printf '%s\n' "$dir"
}

# build_tfprovider builds this repository's Terraform test provider into a
# filesystem mirror, keyed by a hash of what it is built from, and prints
# the path of a CLI configuration file that installs
# sluice.test/sluicehq/sluicetest from that mirror (and every other
# provider as usual).
build_tfprovider() {
	local src=cmd/terraform-provider-sluicetest version key dir platform bin config
	version="$(sed -n 's/^const version = "\(.*\)"$/\1/p' "$ROOT/$src/main.go")"
	if [ -z "$version" ]; then
		log "no 'const version = \"...\"' in $src/main.go"
		return 1
	fi
	key="$(cd "$ROOT" && {
		go version
		find "$src" -type f ! -name '*_test.go' | LC_ALL=C sort | while read -r f; do
			printf '%s %s\n' "$f" "$(wc -c <"$f")"
			cat "$f"
		done
		cat go.mod go.sum
	} | sha256sum | cut -c1-16)"
	dir="$CACHE/tfprovider-$key"
	platform="$(go env GOOS)_$(go env GOARCH)"
	bin="$dir/mirror/sluice.test/sluicehq/sluicetest/$version/$platform/terraform-provider-sluicetest_v$version"
	config="$dir/terraformrc"
	if [ -x "$bin" ] && [ -f "$config" ]; then
		printf '%s\n' "$config"
		return
	fi
	log "building the sluicetest Terraform provider (about a minute the first time)"
	mkdir -p "$(dirname "$bin")"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" "./$src")
	mv "$bin.tmp" "$bin"
	cat >"$config.tmp" <<EOF
# Installs sluice.test/sluicehq/sluicetest from a local filesystem mirror,
# built by scripts/tools.sh from $src,
# and every other provider as usual.
provider_installation {
  filesystem_mirror {
    path    = "$dir/mirror"
    include = ["sluice.test/*/*"]
  }
  direct {
    exclude = ["sluice.test/*/*"]
  }
}
EOF
	mv "$config.tmp" "$config"
	log "built $bin"
	printf '%s\n' "$config"
}

main() {
	local env=0
	if [ "${1:-}" = "--env" ]; then env=1; shift; fi
	mkdir -p "$CACHE"
	[ -f "$CACHE/go.mod" ] || (cd "$CACHE" && go mod init sluice-tools-cache >/dev/null 2>&1)
	local t p var
	for t in "$@"; do
		case "$t" in
		tofu) var=SLUICE_TEST_TOFU ;;
		gitea) var=SLUICE_TEST_GITEA ;;
		pulumi) var=SLUICE_TEST_PULUMI_DIR ;;
		tfprovider) var=SLUICE_TEST_TF_CLI_CONFIG ;;
		*)
			log "unknown tool $t (known: tofu, gitea, pulumi, tfprovider)"
			exit 2
			;;
		esac
		p="$("build_$t")"
		if [ "$env" = 1 ]; then
			printf 'export %s=%q\n' "$var" "$p"
		fi
	done
}

main "$@"
