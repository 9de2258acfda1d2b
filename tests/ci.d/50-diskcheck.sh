#!/bin/bash
# Short fuzz passes over the disk check's parsers: fstab (parse, edit,
# re-parse), /proc/self/mountinfo and `blkid -o export`. A pass is skipped
# when the parser sources are unchanged since the last successful one
# (stamp under $PREPAGENT_CACHE), so a rerun takes a second. The blackbox
# loop-device tests need no fixture: they build their disks themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PREPAGENT_CACHE:=/var/cache/prepagent-test}"
: "${FUZZEXECS:=60000}"
mkdir -p "$PREPAGENT_CACHE"
fuzz() { # PKG TARGET FILES...
	local pkg=$1 target=$2; shift 2
	local key; key=$(cat "$@" | sha256sum | cut -c1-16)
	local stamp="$PREPAGENT_CACHE/fuzz-diskcheck-$target-$key"
	if [[ -e "$stamp" ]]; then
		echo "fuzz $target: unchanged since the last pass, skipped" >&2
		return
	fi
	bash scripts/fuzz.sh "$pkg" "$target" "$FUZZEXECS"
	rm -f "$PREPAGENT_CACHE"/fuzz-diskcheck-"$target"-*
	touch "$stamp"
}
fuzz ./pkg/fstab FuzzParse pkg/fstab/fstab.go pkg/fstab/fstab_test.go
fuzz ./pkg/blockdev FuzzParseMountinfo pkg/blockdev/mountinfo.go pkg/blockdev/blockdev_test.go
fuzz ./pkg/blockdev FuzzParseBlkid pkg/blockdev/probe.go pkg/blockdev/blockdev_test.go
