#!/bin/bash
# Checks cloud-init and generalize: build the Debian 12 root with the real
# cloud-init package (cached under $PREPAGENT_CACHE; a rerun takes a
# second), then a short fuzz pass over the cloud-init config parser. The
# blackbox tests (tests/blackbox/generalize_test.go) run later in
# `go test -tags blackbox ./...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/fixtures/debian-cloudinit-root.sh
bash scripts/fuzz.sh ./pkg/cloudinit/ FuzzParseConfig
