#!/bin/bash
# make test / .ci/run: install deps, lint, then every test tier.
# Tier 1: unit tests beside the code (go test ./...).
# Tier 2: real-thing tests under tests/blackbox (build tag blackbox, root):
#         fixtures are built first by tests/ci.d steps into the cache.
# Tier 3: steps in tests/ci.d/*.sh, run in name order (fixtures, fuzz,
#         packaging, the qemu end-to-end proof).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

step "install dependencies"
bash scripts/install-deps.sh
step "lint"
bash scripts/lint.sh
for s in tests/ci.d/*.sh; do
	[[ -e "$s" ]] || continue
	step "$s"
	bash "$s"
done
step "go test (unit + blackbox)"
go test -count=1 -tags blackbox ./... 2>&1 | tee /tmp/prepagent-go-test.log | grep -v '^ok ' || true
if grep -qE '^(FAIL|--- FAIL|panic:)' /tmp/prepagent-go-test.log; then
	echo "go test: FAILED" >&2
	exit 1
fi
pass=$(grep -c '^ok ' /tmp/prepagent-go-test.log || true)
echo "=== done in $(( $(date +%s) - t0 ))s"
echo "$pass passed, 0 failed"
