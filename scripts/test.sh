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
# -timeout: the blackbox package runs every real-thing test in one binary
# (real initramfs generators, every compression cut, guest roots hashed):
# well past go test's default 10 minutes on 2 busy cores.
# -json gives one event per test: the closing line counts tests (subtests
# included), not packages, and every skip is listed with its reason.
log=$(mktemp -d /tmp/prepagent-test.XXXXXX)
trap 'rm -rf "$log"' EXIT
rc=0
go test -count=1 -timeout 50m -tags blackbox -json ./... >"$log/events.json" 2>"$log/stderr" || rc=$?
cat "$log/stderr" >&2
bash scripts/test-summary.sh "$log/events.json" || rc=1
# `ip netns add` (netlink tests) turns /run/netns into a bind mount of
# itself; take it away again when no namespace is left in it.
if mountpoint -q /run/netns 2>/dev/null && [[ -z $(ls -A /run/netns 2>/dev/null) ]]; then
	umount /run/netns 2>/dev/null || true
fi
echo "=== done in $(( $(date +%s) - t0 ))s"
exit "$rc"
