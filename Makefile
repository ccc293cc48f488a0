# The two commands a new user needs:
#   make demo   runs the quickstart: plan and apply a 3 -> 2 node group change
#   make test   runs every test, with the real terraform and tofu binaries

GO ?= go

.PHONY: demo test build vet bench tools

demo:
	scripts/demo.sh

build:
	$(GO) build -o bin/sluice ./cmd/sluice

tools:
	scripts/tools.sh tofu gitea pulumi >/dev/null

test:
	scripts/test.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }

bench:
	scripts/bench.sh
