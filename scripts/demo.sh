#!/bin/bash
# make demo: check and fix --dry-run on copies of the bundled example roots.
# The examples are text-only trees (kernels are placeholders); each copy
# gets a small initramfs packed here with cpio + gzip the way an installer
# on non-virtio hardware leaves it: ata/xfs modules only, no virtio or Xen
# front-end drivers, and the install NIC's persistent-net rule copied in.
set -euo pipefail
bin=$(readlink -f "$1")
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# pack_initramfs ROOT KVER IMAGE: build IMAGE inside ROOT from ROOT's files.
pack_initramfs() {
	local root=$1 kver=$2 image=$3 stage="$tmp/stage"
	command -v cpio >/dev/null || { echo "(cpio not installed: the example has no initramfs)"; return 0; }
	rm -rf "$stage" && mkdir -p "$stage/usr/lib/modules/$kver" "$stage/etc/udev/rules.d"
	local mods="$root/lib/modules/$kver"
	cp "$mods/modules.dep" "$mods/modules.builtin" "$stage/usr/lib/modules/$kver/"
	(cd "$mods" && find kernel -path '*ata*' -o -path '*xfs*' -o -path '*libcrc32c*' | cpio -pdm --quiet "$stage/usr/lib/modules/$kver")
	[[ -e "$root/etc/udev/rules.d/70-persistent-net.rules" ]] && cp "$root/etc/udev/rules.d/70-persistent-net.rules" "$stage/etc/udev/rules.d/"
	printf '#!/bin/sh\nexec /sbin/init\n' >"$stage/init"
	(cd "$stage" && find . | sort | cpio -o -H newc --quiet | gzip -9n) >"$root$image"
}

for ex in examples/*/; do
	name=$(basename "$ex")
	cp -a "$ex" "$tmp/$name"
	for kdir in "$tmp/$name"/lib/modules/*/; do
		kver=$(basename "$kdir")
		case $name in
		centos7) pack_initramfs "$tmp/$name" "$kver" "/boot/initramfs-$kver.img" ;;
		*) pack_initramfs "$tmp/$name" "$kver" "/boot/initrd.img-$kver" ;;
		esac
	done
	# Print exactly what runs: the copy, not examples/ (whose placeholder
	# kernels have no initramfs, so its results differ).
	echo "=== $name: a copy of examples/$name with an installer-style initramfs at $tmp/$name"
	echo "\$ prepagent check --root $tmp/$name"
	"$bin" check --root "$tmp/$name" || echo "(exit $? — not ready, as expected for an unprepared install)"
	echo
	echo "\$ prepagent fix --dry-run --root $tmp/$name"
	"$bin" fix --dry-run --root "$tmp/$name" || echo "(exit $?)"
	echo
done
