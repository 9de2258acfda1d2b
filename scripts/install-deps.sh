#!/bin/bash
# Installs what the tests need on a fresh Debian 12 machine: the Debian
# packages listed in tests/deps.d/*.txt (one per line, # comments) and the
# Go tools pinned in tools/go.mod. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(cat tests/deps.d/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Go tools are run with `go tool -modfile=tools/go.mod NAME`; fetch them once.
go mod download -modfile=tools/go.mod 2>/dev/null || (cd tools && go mod download)
