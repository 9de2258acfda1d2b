#!/bin/bash
# Regenerates testdata/layouts/*/sys.txt and by-id.txt: sysfs trees shaped
# like the kernel's (the same symlinks /sys/dev/block, /sys/class/block,
# /sys/block and slaves/, the same attribute files as virtio-blk, SCSI CD,
# device-mapper and MD devices), trimmed to what the resolver reads. The
# trees are built in a temporary directory and stored as text manifests
# (sysfstest.Load reads them back as an fs.FS), because sysfs names carry
# ":" (254:18, pci0000:00), which Go module zips reject, and module zips
# drop symlinks. The mountinfo, blkid.txt, table.json and root/ files
# beside them are hand-kept fixtures.
# Run from this directory: bash gen-layouts.sh
set -euo pipefail
cd "$(dirname "$0")"
OUT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
VOL_SYS=11111111-2222-3333-4   # temporary ECS system disk (vda)
VOL_DATA=0f6e3c2a-1b4d-4e5f-8  # data disk (vdb): the image volume
VOL_OTHER=77777777-8888-9999-a # a second data disk (vdc)

# disk DIR NAME MAJ MIN SECTORS SERIAL PCISLOT
disk() {
	local d=$1 n=$2 maj=$3 min=$4 size=$5 serial=$6 slot=$7
	local p="devices/pci0000:00/0000:00:$slot.0/virtio$slot/block/$n"
	mkdir -p "$d/sys/$p" "$d/sys/class/block" "$d/sys/block" "$d/sys/dev/block"
	echo "$maj:$min" >"$d/sys/$p/dev"
	echo "$size" >"$d/sys/$p/size"
	echo 0 >"$d/sys/$p/removable"
	echo 0 >"$d/sys/$p/ro"
	[[ -n "$serial" ]] && printf '%s\n' "$serial" >"$d/sys/$p/serial"
	ln -sfn "../../$p" "$d/sys/class/block/$n"
	ln -sfn "../$p" "$d/sys/block/$n"
	ln -sfn "../../$p" "$d/sys/dev/block/$maj:$min"
}
# part DIR DISK NAME NUM MAJ MIN SECTORS
part() {
	local d=$1 disk=$2 n=$3 num=$4 maj=$5 min=$6 size=$7
	local dp; dp=$(readlink "$d/sys/block/$disk"); dp=${dp#../}
	local p="$dp/$n"
	mkdir -p "$d/sys/$p"
	echo "$maj:$min" >"$d/sys/$p/dev"
	echo "$size" >"$d/sys/$p/size"
	echo "$num" >"$d/sys/$p/partition"
	ln -sfn "../../$p" "$d/sys/class/block/$n"
	ln -sfn "../../$p" "$d/sys/dev/block/$maj:$min"
}
# virt DIR NAME MAJ MIN SECTORS KIND(dm|md) NAME_OR_LEVEL UUID SLAVES...
virt() {
	local d=$1 n=$2 maj=$3 min=$4 size=$5 kind=$6 info=$7 uuid=$8; shift 8
	local p="devices/virtual/block/$n"
	mkdir -p "$d/sys/$p/slaves" "$d/sys/$p/$kind" "$d/sys/class/block" "$d/sys/block" "$d/sys/dev/block"
	echo "$maj:$min" >"$d/sys/$p/dev"
	echo "$size" >"$d/sys/$p/size"
	if [[ $kind == dm ]]; then
		echo "$info" >"$d/sys/$p/dm/name"
		echo "$uuid" >"$d/sys/$p/dm/uuid"
	else
		echo "$info" >"$d/sys/$p/md/level"
	fi
	for s in "$@"; do
		local sp; sp=$(readlink "$d/sys/class/block/$s"); sp=${sp#../../devices/}
		ln -sfn "../../../../$sp" "$d/sys/$p/slaves/$s"
	done
	ln -sfn "../../$p" "$d/sys/class/block/$n"
	ln -sfn "../$p" "$d/sys/block/$n"
	ln -sfn "../../$p" "$d/sys/dev/block/$maj:$min"
}
# rom DIR NAME MAJ MIN SECTORS: a SCSI CD-ROM (peripheral type 5).
rom() {
	local d=$1 n=$2 maj=$3 min=$4 size=$5
	local p="devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:0/1:0:0:0/block/$n"
	mkdir -p "$d/sys/$p" "$d/sys/class/block" "$d/sys/block" "$d/sys/dev/block"
	echo "$maj:$min" >"$d/sys/$p/dev"
	echo "$size" >"$d/sys/$p/size"
	echo 1 >"$d/sys/$p/removable"
	mkdir -p "$d/sys/$p/device"
	echo 5 >"$d/sys/$p/device/type"
	echo "QEMU DVD-ROM" >"$d/sys/$p/device/model"
	ln -sfn "../../$p" "$d/sys/class/block/$n"
	ln -sfn "../$p" "$d/sys/block/$n"
	ln -sfn "../../$p" "$d/sys/dev/block/$maj:$min"
}
# base DIR: the temporary ECS: system disk vda (40 GiB), the installer ISO
# on sr0, and the data disk vdb of SECTORS.
base() {
	local d=$1 size=$2
	rm -rf "$d/sys"
	disk "$d" vda 254 0 83886080 "$VOL_SYS" 04
	part "$d" vda vda1 1 254 1 2097152
	part "$d" vda vda2 2 254 2 79689728
	part "$d" vda vda5 5 254 5 2095104
	disk "$d" vdb 254 16 "$size" "$VOL_DATA" 05
	rom "$d" sr0 11 0 8388608
	rm -rf "$d/by-id"; mkdir -p "$d/by-id"
	ln -s ../../vda "$d/by-id/virtio-$VOL_SYS"
	ln -s ../../vda1 "$d/by-id/virtio-$VOL_SYS-part1"
	ln -s ../../vdb "$d/by-id/virtio-$VOL_DATA"
	ln -s ../../sr0 "$d/by-id/ata-QEMU_DVD-ROM_QM00003"
}

# plain: Debian installer, partitions on vdb (1 /boot, 2 /, 3 swap)
L=layouts/plain; mkdir -p $L
base $L 84934656 # 40.5 GiB: min_disk rounds up to 41
part $L vdb vdb1 1 254 17 1048576
part $L vdb vdb2 2 254 18 79691776
part $L vdb vdb3 3 254 19 4192256

# lvm: anaconda, vdb1 /boot, vdb2 PV of VG centos (root, swap)
L=layouts/lvm; mkdir -p $L
base $L 104857600 # 50 GiB
part $L vdb vdb1 1 254 17 2097152
part $L vdb vdb2 2 254 18 102758400
virt $L dm-0 253 0 98566144 dm centos-root LVM-kJ3mQ2aTq5bV0c8dF1eG2hH3iJ4kL5mN6oP7qR8sT9uV0wX1yZ2aB3cD4eF5gH6i vdb2
virt $L dm-1 253 1 4186112 dm centos-swap LVM-kJ3mQ2aTq5bV0c8dF1eG2hH3iJ4kL5mN7oP7qR8sT9uV0wX1yZ2aB3cD4eF5gH6j vdb2

# md-raid1: / on md127 mirrored over vda2 and vdb1: spans two disks
L=layouts/md-raid1; mkdir -p $L
base $L 104857600
part $L vdb vdb1 1 254 17 104855552
virt $L md127 9 127 79687680 md raid1 "" vda2 vdb1

# md-single: / on a RAID1 md126 whose members are both on vdb (degraded
# mirror of two partitions): one disk, passes
L=layouts/md-single; mkdir -p $L
base $L 104857600
part $L vdb vdb1 1 254 17 52426752
part $L vdb vdb2 2 254 18 52426752
virt $L md126 9 126 52424704 md raid1 "" vdb1 vdb2

# wrong-disk: the installer put / on the temporary system disk vda
L=layouts/wrong-disk; mkdir -p $L
base $L 104857600
part $L vdb vdb1 1 254 17 104855552

# boot-other-disk: / on vdb2 but /boot on vda1
L=layouts/boot-other-disk; mkdir -p $L
base $L 104857600
part $L vdb vdb1 1 254 17 2097152
part $L vdb vdb2 2 254 18 102758400

# iso-root: / is the installer ISO on sr0
L=layouts/iso-root; mkdir -p $L
base $L 104857600

# handwritten: plain partitions on vdb, a second data disk vdc
L=layouts/handwritten; mkdir -p $L
base $L 104857600
part $L vdb vdb1 1 254 17 1048576
part $L vdb vdb2 2 254 18 99614720
part $L vdb vdb3 3 254 19 4192256
disk $L vdc 254 32 209715200 "$VOL_OTHER" 06
part $L vdc vdc1 1 254 33 209713152

# vanished: like plain, but the data disk vdb is gone from sysfs while
# mountinfo still names 254:18 (hot-unplugged)
L=layouts/vanished; mkdir -p $L
base $L 104857600
rm -rf "$L/sys/devices/pci0000:00/0000:00:05.0" "$L/sys/class/block/vdb" "$L/sys/block/vdb" "$L/sys/dev/block/254:16"

# dump DIR: write DIR as a manifest, one entry per line, sorted:
#   d PATH            directory
#   f PATH<TAB>TEXT   file holding TEXT and a newline
#   l PATH<TAB>TARGET symlink
dump() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
		p=${p#./}
		if [[ -L "$p" ]]; then
			printf 'l %s\t%s\n' "$p" "$(readlink "$p")"
		elif [[ -d "$p" ]]; then
			printf 'd %s\n' "$p"
		else
			printf 'f %s\t%s\n' "$p" "$(cat "$p")"
		fi
	done)
}
for L in layouts/*; do
	mkdir -p "$OUT/$L"
	dump "$L/sys" >"$OUT/$L/sys.txt"
	dump "$L/by-id" >"$OUT/$L/by-id.txt"
done
