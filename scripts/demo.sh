#!/usr/bin/env bash
# The quickstart, end to end, in a scratch git repository: a node group of
# 3 is reduced to 2 through a branch, planned, "merged" and applied.
# Needs go, git and terraform (or SLUICE_TERRAFORM_BIN).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
tf="${SLUICE_TERRAFORM_BIN:-terraform}"
# A TF_CLI_CONFIG_FILE naming a missing file only adds a warning to every run.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi
if ! command -v "$tf" >/dev/null 2>&1; then
	echo "demo: the terraform binary ($tf) was not found; install Terraform or set SLUICE_TERRAFORM_BIN" >&2
	exit 1
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

step "Building sluice"
mkdir -p "$here/bin"
(cd "$here" && go build -o bin/sluice ./cmd/sluice)
sluice="$here/bin/sluice"
export PATH="$here/bin:$PATH"

work="$(mktemp -d "${TMPDIR:-/tmp}/sluice-demo.XXXXXX")"
export SLUICE_PLUGIN_CACHE_DIR="$work/.plugin-cache"
export GIT_AUTHOR_NAME="Ada Ops" GIT_AUTHOR_EMAIL="ada@example.com"
export GIT_COMMITTER_NAME="Ada Ops" GIT_COMMITTER_EMAIL="ada@example.com"
repo="$work/infra"
cp -r "$here/examples/quickstart" "$repo"
cd "$repo"

step "An infrastructure repository, as it runs today (desired_size = 3)"
git init -q -b main
git add -A
git commit -qm "Infrastructure as it runs today"
show sluice config validate
show sluice projects --all
sluice plan --base main -p network -p node-group >/dev/null
sluice apply --quiet >/dev/null
show "$tf" -chdir=cluster/node-group output desired_size

step "Issue: \"our node group is too big, go from 3 nodes to 2\" -- a branch changes one number"
git switch -q -c reduce-node-group
sed -i 's/desired_size  = 3/desired_size  = 2/' cluster/node-group/main.tf
git commit -qam "Reduce the node group to two nodes"
show git diff main --stat

step "Which projects does the branch touch?"
show sluice projects --base main

step "Sluice plans them and prints the comment it would post on the merge request"
show sluice plan --base main

step "The review approves; the merge request is merged"
git switch -q main
show git merge -q --no-ff reduce-node-group -m "Merge branch 'reduce-node-group'"

step "Sluice applies exactly the reviewed plan"
show sluice apply

step "The state now says:"
show "$tf" -chdir=cluster/node-group output desired_size

printf '\nThe scratch repository is in %s\n' "$repo"
