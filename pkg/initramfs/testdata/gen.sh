#!/bin/bash
# Regenerates the small images under testdata/ with the real tools (GNU
# cpio, gzip, zstd, xz, lz4, bzip2, lzop). Run as root (mknod) from this
# directory; the outputs are committed so unit tests need no tools.
set -euo pipefail
cd "$(dirname "$0")"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export SOURCE_DATE_EPOCH=1700000000
kv=6.1.0-unit
t=$T/tree
m=$t/usr/lib/modules/$kv
mkdir -p "$t"/{bin,dev,etc/udev/rules.d,conf} "$m"/kernel/drivers/{block,net,virtio,scsi,xen} "$m"/kernel/net/core
ln -s usr/lib "$t/lib"
ln -s busybox "$t/bin/sh"
printf 'busybox' >"$t/bin/busybox"
ln "$t/bin/busybox" "$t/bin/ls"
mknod "$t/dev/console" c 5 1
mkfifo "$t/dev/initctl"
: >"$t/conf/empty"
# 300 kB that compress to little: several lzop blocks, one bzip2 block.
{ yes 'virtio virtio_blk xen-blkfront' || :; } | head -c 300000 >"$t/conf/big"
printf '%s\n' 'ACTION=="add", SUBSYSTEM=="net", ATTR{address}=="52:54:00:aa:bb:cc", NAME="eth0"' >"$t/etc/udev/rules.d/70-persistent-net.rules"
for f in block/virtio_blk block/xen-blkfront scsi/virtio_scsi net/virtio_net.ko.xz net/xen-netfront.ko.zst \
	net/net_failover virtio/virtio_pci virtio/virtio_ring; do
	case $f in *.ko.*) p=$m/kernel/drivers/$f ;; *) p=$m/kernel/drivers/$f.ko ;; esac
	printf 'module %s\n' "$f" >"$p"
done
printf 'module failover\n' >"$m/kernel/net/core/failover.ko"
cat >"$m/modules.dep" <<'DEP'
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/block/xen-blkfront.ko:
kernel/drivers/scsi/virtio_scsi.ko:
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/xen-netfront.ko.zst:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio_pci.ko:
kernel/drivers/virtio/virtio_ring.ko:
DEP
echo kernel/drivers/virtio/virtio.ko >"$m/modules.builtin"
find "$t" -exec touch -h -d @$SOURCE_DATE_EPOCH {} +
pack() { (cd "$1" && find . | LC_ALL=C sort | cpio --quiet -o -H "$2" -R 0:0 --reproducible 2>/dev/null || find . | LC_ALL=C sort | cpio --quiet -o -H "$2" -R 0:0); }
mkdir -p "$T/early/kernel/x86/microcode"
printf 'microcode' >"$T/early/kernel/x86/microcode/GenuineIntel.bin"
pack "$T/early" newc >"$T/early.cpio"
pack "$t" newc >"$T/main.cpio"
(cd "$t" && find . | LC_ALL=C sort | sed 's|^\./||') >list.txt
# The uncompressed ones are stored gzipped (300 kB each otherwise); the
# tests unzip them in memory.
gzip -n -9 <"$T/main.cpio" >plain.img.gz
pack "$t" crc | gzip -n -9 >crc.img.gz
{ cat "$T/early.cpio"; gzip -n -9 <"$T/main.cpio"; } >early-gzip.img
{ cat "$T/early.cpio"; zstd -q -19 <"$T/main.cpio"; } >early-zstd.img
{ cat "$T/early.cpio"; xz --check=crc32 <"$T/main.cpio"; } >early-xz.img
{ cat "$T/early.cpio"; xz --format=lzma <"$T/main.cpio"; } >early-lzma.img
{ cat "$T/early.cpio"; lz4 -l -9 -q <"$T/main.cpio"; } >early-lz4.img
{ cat "$T/early.cpio"; bzip2 -9 <"$T/main.cpio"; } >early-bzip2.img
{ cat "$T/early.cpio"; lzop -q -9 <"$T/main.cpio"; } >early-lzo.img
{ cat "$T/early.cpio"; head -c 100 /dev/zero; cat "$T/early.cpio"; head -c 4 /dev/zero; zstd -q <"$T/main.cpio"; } >two-early-zstd.img
{ cat "$T/early.cpio"; pack "$t" crc | gzip -n; } >early-gzip-crc.img
rm -f plain.img crc.img
ls -l *.img *.img.gz
