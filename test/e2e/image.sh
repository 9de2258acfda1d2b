#!/bin/bash
# End-to-end proof of `prepagent image` (issue 18): an external disk image
# file, prepared offline, boots as a new cloud server.
#
#   1. the CI guest disk (bookworm-itools-ifupdown-bios, cached by
#      tests/fixtures/e2e-guest.sh: installed on AHCI + e1000, no virtio in
#      its initramfs, a MAC-pinned static NIC) gets the verifier unit of
#      the boot matrix (and the prepagent binary it runs) in a copy, which
#      is converted to qcow2 and vmdk in a temporary directory;
#   2. `prepagent image check --json guest.vmdk` must say NOT READY (exit 1)
#      with initramfs-drivers failing;
#   3. `prepagent image fix --json guest.qcow2` must say READY (exit 0), with
#      the udev rule, NIC config and initramfs reported fixed; the qcow2
#      must pass `qemu-img check`;
#   4. the qcow2 boots under qemu (TCG) on virtio-blk + virtio-net, NIC in
#      another PCI slot with a new MAC: the verifier must report
#      multi-user, the root on /dev/vda2, the DHCP address on the new NIC
#      and `prepagent check` READY in the guest (boot_virtio, qemu.sh);
#   5. after each image command: no loop device, mount, FUSE export or
#      qemu-storage-daemon of this run is left (prepagent's temporary
#      directories are put under the work directory with TMPDIR, so every
#      attachment of this run is recognisable as its own, whatever runs
#      beside it).
#
# Prints `E2E-IMAGE PASS <seconds>s` or `E2E-IMAGE FAIL <reason>` last. A
# passing run leaves nothing; a failing one keeps serial logs and reports in
# $E2E_IMAGE_OUT (default a new /tmp/prepagent-e2e-image.XXXXXX).
#
# Environment: PREPAGENT_CACHE (fixture cache), E2E_PREPAGENT (use this
# binary instead of building one), E2E_TIMEOUT_SCALE (multiply timeouts),
# E2E_KEEP_LOGS=1 (keep the logs of a passing run too).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# The CI guest disk: the one cell whose disk CI builds anyway.
export E2E_RELEASE=bookworm E2E_INITRAMFS=itools E2E_NET=ifupdown E2E_BOOT=bios E2E_PATH=offline
# shellcheck source=test/e2e/lib.sh
source "$HERE/lib.sh"
# shellcheck source=test/e2e/guest.env
source "$HERE/guest.env"
# shellcheck source=test/e2e/qemu.sh
source "$HERE/qemu.sh"
: "${PREPAGENT_CACHE:=/var/cache/prepagent-test}"
export PREPAGENT_CACHE

T0=$SECONDS
result() {
	echo "E2E-IMAGE $*"
}
[[ $EUID -eq 0 ]] || { result "FAIL must run as root (loop devices, mounts)"; exit 2; }
need_tools() {
	local t
	for t in qemu-system-x86_64 qemu-img qemu-storage-daemon losetup partx blkid sgdisk mkfs.ext4 debootstrap jq base64 timeout; do
		command -v "$t" >/dev/null || return 1
	done
	[[ -e /dev/fuse ]]
}
if ! need_tools; then
	echo "e2e-image: installing the packages of tests/deps.d/e2e.txt and image.txt" >&2
	mapfile -t pkgs < <(sed 's/#.*//' "$REPO/tests/deps.d/e2e.txt" "$REPO/tests/deps.d/image.txt" | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
	need_tools || { result "FAIL tools still missing after installing tests/deps.d/e2e.txt and image.txt (or no /dev/fuse)"; exit 2; }
fi

OUT=${E2E_IMAGE_OUT:-$(mktemp -d /tmp/prepagent-e2e-image.XXXXXX)}
mkdir -p "$OUT"
W=$OUT/work
mkdir -p "$W/tmp" "$W/state"
PASSED=0
finish() {
	e2e_cleanup
	rm -rf "$W"
	if [[ $PASSED == 1 && ${E2E_KEEP_LOGS:-0} != 1 ]]; then
		rm -rf "$OUT"
	fi
}
trap finish EXIT
E2E_INTERRUPTED=0
trap 'E2E_INTERRUPTED=1; exit 130' INT TERM
SCALE=${E2E_TIMEOUT_SCALE:-1}
tmo() { echo $(($1 * SCALE)); }
say() { echo "   $*" >&2; }
fail() {
	result "FAIL $* (logs in $OUT)"
	exit 1
}

# leftovers: what this run's image commands left attached, one per line:
# loop devices on a file under $W (the image itself, or the FUSE export in
# prepagent's temporary directory, which TMPDIR puts under $W), mounts
# under $W, live qemu-storage-daemon processes naming a file under $W,
# state files.
leftovers() {
	local b f p cl
	for b in /sys/block/loop*/loop/backing_file; do
		[[ -r $b ]] || continue
		f=$(<"$b")
		[[ $f == "$W"/* ]] && echo "loop device $(basename "$(dirname "$(dirname "$b")")") on $f"
	done
	awk -v w="$W/" 'index($2, w) == 1 { print "mount " $2 " (" $3 ")" }' /proc/mounts
	for p in $(pgrep -f qemu-storage-daemon 2>/dev/null); do
		cl=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		[[ $cl == *"$W/"* ]] && echo "qemu-storage-daemon pid $p: $cl"
	done
	for f in "$W"/state/*; do
		[[ -e $f ]] && echo "state file $f"
	done
	return 0
}
assert_clean() {
	local left
	left=$(leftovers | sort -u)
	[[ -z $left ]] || fail "left attached after $1: $(echo "$left" | paste -sd ';')"
}

# image CMD FILE JSON: prepagent image CMD FILE --json, report in JSON; its
# exit code in IMAGE_RC, its duration in IMAGE_SECS.
image() {
	local t=$SECONDS
	IMAGE_RC=0
	TMPDIR=$W/tmp "$W/prepagent" image "$1" "$2" --json --state-dir "$W/state" >"$3" 2>"$3.log" || IMAGE_RC=$?
	IMAGE_SECS=$((SECONDS - t))
}
status_of() { jq -r --arg id "$2" '.checks[]? | select(.id == $id) | .status' "$1" 2>/dev/null || true; }

# --- build ------------------------------------------------------------------
echo "== e2e-image: build" >&2
if [[ -n ${E2E_PREPAGENT:-} ]]; then
	install -m 0755 "$E2E_PREPAGENT" "$W/prepagent"
elif ! (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=e2e" -o "$W/prepagent" ./cmd/prepagent); then
	fail "go build ./cmd/prepagent failed"
fi
bash "$REPO/tests/fixtures/e2e-guest.sh" || fail "tests/fixtures/e2e-guest.sh could not build the guest disk"
GUEST=$PREPAGENT_CACHE/e2e-guest-$(e2e_cell_guest)
no_root_settings "$(<"$GUEST/root-uuid")"

# --- the image files ---------------------------------------------------------
echo "== e2e-image: guest disk as qcow2 and vmdk" >&2
cp --sparse=always "$GUEST/disk.raw" "$W/guest.raw"
install_guest() {
	# The binary the verifier runs (`prepagent check` in the guest) and the
	# verifier unit; nothing runs prepagent at boot.
	install -D -m 0755 "$W/prepagent" "$1$(agent_bin)"
	install_verifier "$1"
}
with_disk "$W/guest.raw" install_guest || fail "could not install the verifier into the disk"
for f in qcow2 vmdk; do
	qemu-img convert -f raw -O "$f" "$W/guest.raw" "$W/guest.$f" || fail "qemu-img convert to $f failed"
done
rm -f "$W/guest.raw"
say "guest.qcow2 $(du -h "$W/guest.qcow2" | cut -f1), guest.vmdk $(du -h "$W/guest.vmdk" | cut -f1)"

# --- image check on the vmdk --------------------------------------------------
echo "== e2e-image: prepagent image check guest.vmdk" >&2
image check "$W/guest.vmdk" "$OUT/check.json"
jq -r '.checks[]? | "   \(.id): \(.status) \(.summary // "")"' "$OUT/check.json" >&2 2>/dev/null || true
ready=$(jq -r '.ready' "$OUT/check.json" 2>/dev/null || true)
drivers=$(status_of "$OUT/check.json" initramfs-drivers)
format=$(jq -r '.image.file.format // empty' "$OUT/check.json" 2>/dev/null || true)
if [[ $IMAGE_RC != 1 || $ready != false || $drivers != fail || $format != vmdk ]]; then
	fail "image check on the vmdk: exit $IMAGE_RC, ready=$ready, initramfs-drivers=$drivers, format=$format (want 1, false, fail, vmdk): $(tail -n 2 "$OUT/check.json.log" | tr '\n' ' ')"
fi
assert_clean "image check"
say "NOT READY as it must be, initramfs-drivers fail ($IMAGE_SECS s)"
CHECK_SECS=$IMAGE_SECS

# --- image fix on the qcow2 -----------------------------------------------------
echo "== e2e-image: prepagent image fix guest.qcow2" >&2
image fix "$W/guest.qcow2" "$OUT/fix.json"
jq -r '.checks[]? | "   \(.id): \(.status) \(.summary // "")"' "$OUT/fix.json" >&2 2>/dev/null || true
ready=$(jq -r '.ready' "$OUT/fix.json" 2>/dev/null || true)
[[ $IMAGE_RC == 0 && $ready == true ]] ||
	fail "image fix on the qcow2: exit $IMAGE_RC, ready=$ready: $(tail -n 2 "$OUT/fix.json.log" | tr '\n' ' ')"
not_fixed=()
for id in udev-persistent-net nic-config initramfs-drivers; do
	st=$(status_of "$OUT/fix.json" "$id")
	[[ $st == fixed ]] || not_fixed+=("$id=${st:-missing}")
done
((${#not_fixed[@]} == 0)) || fail "image fix READY, but not reported as fixed: ${not_fixed[*]}"
assert_clean "image fix"
qemu-img check -q "$W/guest.qcow2" || fail "qemu-img check finds the fixed qcow2 damaged"
say "READY, udev rule, NIC config and initramfs fixed ($IMAGE_SECS s); qemu-img check clean"
FIX_SECS=$IMAGE_SECS

# --- boot the qcow2 ---------------------------------------------------------------
echo "== e2e-image: boot guest.qcow2 on virtio-blk + virtio-net (slot $E2E_NEW_SLOT, MAC $E2E_NEW_MAC)" >&2
BOOT_T0=$SECONDS
problems=()
boot_virtio image "$W/guest.qcow2" qcow2
BOOT_SECS=$((SECONDS - BOOT_T0))
if ((${#problems[@]} > 0)); then
	fail "boot of the fixed qcow2 ($BOOT_SECS s): $(
		IFS=';'
		echo "${problems[*]}"
	)"
fi
say "booted: multi-user on /dev/vda2, $NEW_NIC (virtio_net, new MAC) holds $E2E_DHCP_ADDR by DHCP, prepagent check READY in the guest ($BOOT_SECS s)"
assert_clean "the boot"

PASSED=1
result "PASS $((SECONDS - T0))s (image check ${CHECK_SECS}s, image fix ${FIX_SECS}s, boot ${BOOT_SECS}s)"
