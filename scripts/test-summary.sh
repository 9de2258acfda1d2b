#!/bin/bash
# test-summary.sh EVENTS.json: reads `go test -json` output and prints
#   - the output of every failed test, and of every package that failed
#     without a failing test (build error, TestMain exit, panic at init),
#   - every skipped test with its reason,
#   - a closing line "N passed, N failed, N skipped" counting tests
#     (subtests included).
# Exits 1 when anything failed.
set -euo pipefail
ev=$1
command -v jq >/dev/null || { echo "test-summary: jq is missing" >&2; exit 2; }

# output PKG TEST: the output events of one test ("" = package level).
output() {
	jq -j --arg p "$1" --arg t "$2" \
		'select(.Package==$p and .Action=="output" and ((.Test // "")==$t)) | .Output' "$ev"
}

failed_tests=$(jq -r 'select(.Action=="fail" and .Test!=null) | [.Package, .Test] | @tsv' "$ev")
# Packages that failed although none of their tests did.
broken_pkgs=$(jq -rs '
	(map(select(.Action=="fail" and .Test!=null) | .Package) | unique) as $withtests
	| map(select(.Action=="fail" and .Test==null) | .Package) | unique
	| map(select(. as $p | $withtests | index($p) | not)) | .[]' "$ev")
if [[ -n $failed_tests || -n $broken_pkgs ]]; then
	echo
	echo "--- failures"
	while IFS=$'\t' read -r pkg test; do
		[[ -n $pkg ]] || continue
		echo "=== FAIL $pkg $test"
		output "$pkg" "$test" | tail -n 60
	done <<<"$failed_tests"
	while read -r pkg; do
		[[ -n $pkg ]] || continue
		echo "=== FAIL $pkg (package)"
		output "$pkg" "" | tail -n 60
	done <<<"$broken_pkgs"
fi

skips=$(jq -r 'select(.Action=="skip" and .Test!=null) | [.Package, .Test] | @tsv' "$ev")
if [[ -n $skips ]]; then
	echo
	echo "--- skipped"
	while IFS=$'\t' read -r pkg test; do
		# The t.Skip message is the test's output before its "--- SKIP" line.
		why=$(output "$pkg" "$test" | grep -v -e '--- SKIP' -e '^=== ' | sed 's/^ *//' | tr '\n' ' ' | sed 's/ *$//')
		echo "SKIP ${pkg#github.com/prepagent/prepagent/} $test: ${why:-no reason given}"
	done <<<"$skips"
fi

count() { jq -r --arg a "$1" 'select(.Action==$a and .Test!=null) | .Test' "$ev" | wc -l; }
pass=$(count pass) fail=$(count fail) skip=$(count skip)
nbroken=$(grep -c . <<<"$broken_pkgs" || true)
echo
((nbroken == 0)) || echo "$nbroken package(s) failed outside any test: see above"
echo "$pass passed, $fail failed, $skip skipped"
((fail == 0 && nbroken == 0))
