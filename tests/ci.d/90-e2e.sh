#!/bin/bash
# The qemu end-to-end proof (test/e2e/run.sh, issue 10): an unrepaired
# Debian 12 guest fails on virtio, prepagent repairs it from its unit, the
# host reads READY with `prepagent wait`, the guest boots on virtio with
# DHCP. The guest disk is cached under $PREPAGENT_CACHE (keyed by its
# builder's hash), so a warm rerun only boots: about 3 minutes here; from a
# fresh machine add about 2.5 minutes for the Debian root and the disk.
# Serial logs stay in $PREPAGENT_E2E_OUT (default /tmp/prepagent-e2e-ci),
# replaced on each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PREPAGENT_E2E_OUT:=/tmp/prepagent-e2e-ci}"
rm -rf "$PREPAGENT_E2E_OUT"
E2E_OUT=$PREPAGENT_E2E_OUT bash test/e2e/run.sh
