#!/bin/bash
# gofmt, go vet (with and without the build tags the tests use), staticcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$bad" ]]; then
	echo "gofmt needed on:" >&2
	echo "$bad" >&2
	exit 1
fi
go vet ./...
go vet -tags blackbox,faultinject ./...
go tool -modfile=tools/go.mod staticcheck ./...
go tool -modfile=tools/go.mod staticcheck -tags blackbox,faultinject ./...
# The guest binary's dependency list is reviewed like code (tailscale's
# depaware): a new import shows up as a diff here.
if ! diff -u cmd/prepagent/depaware.txt <(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./cmd/prepagent | grep -v '^github.com/prepagent/prepagent'); then
	echo "cmd/prepagent dependencies changed: review, then regenerate cmd/prepagent/depaware.txt" >&2
	exit 1
fi
# Layering rules (docs/DEVELOPING.md, "Layers"): which package may link which.
go test -count=1 ./tests/arch/
echo "lint: ok"
