#!/bin/bash
# Initramfs reader (pkg/initramfs): builds the image fixture (cached: a
# rerun takes seconds) for tests/blackbox/initramfs_test.go and
# scripts/bench.sh, then a short fuzz pass over the reader.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/fixtures/initramfs-synthetic.sh
# -fuzzminimizetime: minimising a new input may otherwise take the whole
# budget (the default is 60 s) and fuzz nothing.
bash scripts/fuzz.sh ./pkg/initramfs FuzzWalk 100000
