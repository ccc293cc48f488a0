#!/usr/bin/env bash
# The whole test suite, as CI runs it: builds the real tools the tests need
# (once, cached outside the repository), checks formatting and vet, and runs
# every test with those tools required.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/tools.sh --env tofu gitea pulumi)"
export SLUICE_TEST_REQUIRE_TOOLS=1

echo "test: gofmt and go vet" >&2
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

echo "test: go test" >&2
go test -count=1 "$@" ./...
