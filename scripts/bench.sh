#!/usr/bin/env bash
# Sluice's benchmarks, each against a baseline measured in the same run:
#   - matching a 500-project repository against a 2,000-file diff, against
#     the naive matcher (every path against every glob): indexed-ms,
#     naive-ms, speedup-x
#   - `sluice plan` of the quickstart against the bare engine commands
#     (terraform and tofu), warm and cold; and the same on a copy of the
#     quickstart whose node group is a resource of a real provider plugin
#     (cmd/terraform-provider-sluicetest, from a filesystem mirror)
#   - jobs per second with a no-op engine, SQLite against PostgreSQL
#   - one merge request of 10, 100 and 1,000 projects planned and closed:
#     forge calls and time per project, and their growth (linear: ~1)
#   - webhook acknowledgement latency at 200 deliveries/s (target p99 < 100 ms)
#   - the pulumi driver's plan against a bare `pulumi preview` of the same stack
#   - an engine command in the server's sandbox against the same command
#     unconfined: sandboxed/plain
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/tools.sh --env tofu gitea pulumi tfprovider)"
go test -run '^$' -bench 'Match500' -benchtime 50x ./internal/affected/
go test -run '^$' -bench 'Quickstart(Provider)?Plan' -benchtime "${BENCH_RUNS:-30}x" ./internal/cli/
go test -run '^$' -bench 'Jobs' -benchtime 3x ./internal/queue/
go test -run '^$' -bench 'MergeRequestProjects' -benchtime 1x ./internal/flow/
go test -run '^$' -bench 'WebhookAck' -benchtime 1x ./internal/app/
go test -run '^$' -bench 'PlanOverhead' -benchtime 5x ./internal/engine/pulumi/
go test -run '^$' -bench 'SandboxedCommand' -benchtime 500x ./internal/engine/
