#!/bin/bash
# Fixture roots for the initramfs-drivers blackbox tests (cached: a rerun
# takes seconds). Built from copies of the shared Debian root: an
# initramfs-tools image without virtio/Xen drivers, one carrying a
# MAC-pinning udev rule, and a dracut-built image without network drivers.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/fixtures/drivers-debian.sh
bash tests/fixtures/drivers-dracut.sh
# Short fuzz passes over the modprobe.d parsers, the kernel modules
# metadata and udev rules readers (pkg/kmod, pkg/udevrule) and the boot
# configuration's (pkg/bootcfg: grub.cfg, BLS, menu.lst, grubenv,
# /etc/default/grub and their edits).
bash scripts/fuzz.sh ./pkg/drivers FuzzParsers
bash scripts/fuzz.sh ./pkg/kmod FuzzParse
bash scripts/fuzz.sh ./pkg/udevrule FuzzParse
bash scripts/fuzz.sh ./pkg/bootcfg FuzzParsers
