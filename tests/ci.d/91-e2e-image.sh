#!/bin/bash
# `prepagent image` end to end (issue 18, test/e2e/image.sh): the CI guest
# disk that 90-e2e.sh has just built or found cached, as vmdk and qcow2;
# `image check` on the vmdk must say NOT READY (initramfs-drivers), `image
# fix` on the qcow2 READY, and the qcow2 must boot on virtio-blk +
# virtio-net with DHCP, with nothing left attached. One TCG boot: 290 s
# warm here with a matrix boot running beside it (docs/testing.md). A
# failing run's logs stay in $PREPAGENT_E2E_IMAGE_OUT (default
# /tmp/prepagent-e2e-image-ci); a passing run leaves none.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PREPAGENT_E2E_IMAGE_OUT:=/tmp/prepagent-e2e-image-ci}"
rm -rf "$PREPAGENT_E2E_IMAGE_OUT"
E2E_IMAGE_OUT=$PREPAGENT_E2E_IMAGE_OUT bash test/e2e/image.sh
