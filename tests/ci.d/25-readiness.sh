#!/bin/bash
# Readiness reporting (issue 5): static checks of the shipped unit and
# examples, then a short fuzz pass over the console-line decoder. No
# fixture to build: the blackbox tests (tests/blackbox/readiness_test.go)
# use the udevrules test tree, a pty and loopback HTTP. About 30 s.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# systemd-analyze verify checks that ExecStart is executable: point the
# unit at a freshly built binary, everything else as shipped.
go build -o "$tmp/prepagent" ./cmd/prepagent
sed "s#^ExecStart=/usr/bin/prepagent#ExecStart=$tmp/prepagent#" packaging/systemd/prepagent.service >"$tmp/prepagent.service"
out=$(systemd-analyze verify "$tmp/prepagent.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [[ -n "$out" ]]; then
	echo "systemd-analyze verify is not clean:" >&2
	echo "$out" >&2
	exit 1
fi
echo "ok: systemd-analyze verify packaging/systemd/prepagent.service"

# The documented config file parses (all keys commented out) and the
# cloud-init example is valid cloud-config when cloud-init is installed.
go test -count=1 -run 'TestShippedConfig' ./pkg/config
if command -v cloud-init >/dev/null; then
	for f in packaging/cloud-init/*.yaml; do
		cloud-init schema --config-file "$f" >/dev/null
		echo "ok: cloud-init schema $f"
	done
fi

# Short fuzz pass over the decoder (seeds in pkg/verdict/testdata/fuzz).
bash scripts/fuzz.sh ./pkg/verdict FuzzDecoder
