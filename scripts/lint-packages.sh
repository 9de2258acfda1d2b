#!/bin/bash
# make lint-packages: build the packages, then lintian (errors and warnings
# fail; accepted warnings live in packaging/lintian/prepagent with a
# reason) and rpmlint (packaging/rpmlint.toml, each filter with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/package.sh >/dev/null
fail=0
for deb in dist/*.deb; do
	echo "lintian $deb"
	out=$(lintian --fail-on error,warning "$deb" 2>&1) || fail=1
	grep -v '^running with root' <<<"$out" || true
done
for rpm in dist/*.rpm; do
	echo "rpmlint $rpm"
	out=$(rpmlint -c packaging/rpmlint.toml "$rpm" 2>&1) || fail=1
	echo "$out" | grep -E ' [EW]: |checked' || true
	echo "$out" | grep -q ' 0 errors, 0 warnings' || fail=1
done
((fail == 0)) || { echo "lint-packages: FAILED" >&2; exit 1; }
echo "lint-packages: ok"
