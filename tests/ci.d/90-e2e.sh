#!/bin/bash
# The qemu end-to-end proof, CI subset of the boot matrix (test/e2e/matrix.sh
# says which cells and why): an unrepaired Debian 12 guest fails on virtio;
# prepagent repairs it from its unit (the host reads READY with `prepagent
# wait`) and, on a second copy, with `fix --root` from the host; each copy
# then boots on virtio with its NIC in another PCI slot and gets DHCP. The
# guest disk is cached under $PREPAGENT_CACHE (keyed by its builder's hash),
# so a warm rerun only boots: about 7 minutes here; from a fresh machine add
# about 5 minutes for the Debian root and the disk. A failing cell's logs stay in
# $PREPAGENT_E2E_OUT (default /tmp/prepagent-e2e-ci); a passing run leaves none.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PREPAGENT_E2E_OUT:=/tmp/prepagent-e2e-ci}"
E2E_MATRIX=ci E2E_MATRIX_OUT=$PREPAGENT_E2E_OUT bash test/e2e/matrix.sh
