#!/bin/bash
# make demo: check and fix --dry-run on copies of the bundled example roots.
set -euo pipefail
bin=$(readlink -f "$1")
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ex in examples/*/; do
	name=$(basename "$ex")
	cp -a "$ex" "$tmp/$name"
	echo "=== $name: prepagent check --root $ex"
	"$bin" check --root "$tmp/$name" || echo "(exit $? — not ready, as expected for an unprepared install)"
	echo
	echo "=== $name: prepagent fix --dry-run --root $ex"
	"$bin" fix --dry-run --root "$tmp/$name" || echo "(exit $?)"
	echo
done
