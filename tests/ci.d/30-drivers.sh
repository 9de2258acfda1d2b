#!/bin/bash
# Fixture roots for the initramfs-drivers blackbox tests (cached: a rerun
# takes seconds). Built from copies of the shared Debian root: an
# initramfs-tools image without virtio/Xen drivers, one carrying a
# MAC-pinning udev rule, and a dracut-built image without network drivers.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/fixtures/drivers-debian.sh
bash tests/fixtures/drivers-dracut.sh
# Short fuzz passes over the boot-config, modules.dep and modprobe.d parsers
# and the kernel modules metadata and udev rules readers (pkg/kmod,
# pkg/udevrule).
bash scripts/fuzz.sh ./pkg/drivers FuzzParsers
bash scripts/fuzz.sh ./pkg/kmod FuzzParse
bash scripts/fuzz.sh ./pkg/udevrule FuzzParse
