#!/bin/bash
# End-to-end proof under qemu (issues 10, 14, 17): a Debian guest that
# cannot boot on virtio is repaired by prepagent, then boots on virtio-blk +
# virtio-net (in another PCI slot, with another MAC) and gets its address by
# DHCP. One run is one cell of the boot matrix (test/e2e/lib.sh: release,
# initramfs tool, network stack, boot mode, and the path: prepagent's unit
# in the guest, or `prepagent fix --root` on the host); the defaults are the
# CI cell. test/e2e/matrix.sh runs many cells.
#
# Stages (each timed, summarised at the end):
#   build     fresh CGO_ENABLED=0 prepagent; cached guest disk
#             (tests/fixtures/e2e-guest.sh, rebuilt only when its inputs change)
#   negative  the UNREPAIRED disk on virtio-blk: the initramfs must give up
#             on its root ("Gave up waiting for root", "ALERT!")
#   install   copy of the cached disk, loop-mounted: the fresh binary and the
#             real packaging/systemd/prepagent.service, enabled by symlink
#   repair    (path guest) boot 1: AHCI root disk (serial = volume ID
#             prefix), a second empty disk, an installer ISO, e1000 with the
#             install MAC; the unit runs `prepagent run`; on the host
#             `prepagent wait --serial-log` reads the verdict: READY,
#             root_disk_serial = volume
#   offline   (path offline) instead of install + repair: the disk
#             loop-mounted on the host, `prepagent fix --root` (guest tools
#             in its sandbox) must say READY with the same checks fixed
#   inspect   the repaired disk on the host: `prepagent initramfs` on the rebuilt
#             image (every virtio/Xen driver), `prepagent rollback --list`
#   virtio    boot 2: the same disk on virtio-blk, virtio-net with a new MAC
#             in another PCI slot (so another predictable name) and qemu's
#             user-network DHCP; an extra test unit prints
#             `prepagent check --json` and `ip -4 addr` to the serial console
#
# E2E_NAMES=kernel (matrix cell suffix "+names"; initramfs-tools cells):
# the copy of the disk names its root as the installer's hardware saw it,
# root=/dev/sda2 in grub.cfg and /dev/sda2 in fstab (on virtio it is vda2).
# An extra stage "names" fixes a second copy with --skip boot-config and
# must see that copy's initramfs give up on /dev/sda2 on virtio; the repair
# must report boot-config and fstab fixed, and boot 2 proves the rewrite.
#
# Only qemu user networking (restrict=on: no way out of the VM) is used;
# nothing on the host but loop devices, mounts under the work directory and
# qemu processes, all released on every exit path.
#
# Environment: E2E_OUT (directory for serial logs and reports; default a new
# /tmp/prepagent-e2e.XXXXXX, printed at the end), E2E_KEEP=1 keeps the work
# disk, PREPAGENT_CACHE (fixture cache), E2E_TIMEOUT_SCALE (multiply every
# timeout, for slow machines), E2E_PREPAGENT (use this binary instead of
# building one).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=test/e2e/lib.sh
source "$HERE/lib.sh"
# shellcheck source=test/e2e/guest.env
source "$HERE/guest.env"
# shellcheck source=test/e2e/qemu.sh
source "$HERE/qemu.sh"
: "${PREPAGENT_CACHE:=/var/cache/prepagent-test}"
export PREPAGENT_CACHE

[[ $EUID -eq 0 ]] || { echo "e2e: must run as root (loop devices, mounts)" >&2; exit 2; }
e2e_cell_check || exit 2
CELL=$(e2e_cell)
: "${E2E_NAMES:=uuid}"
case $E2E_NAMES in
uuid) ;;
kernel)
	[[ $E2E_INITRAMFS == itools ]] || { echo "e2e: E2E_NAMES=kernel needs an initramfs-tools cell" >&2; exit 2; }
	CELL+=+names
	;;
*) echo "e2e: E2E_NAMES is uuid or kernel, not '$E2E_NAMES'" >&2; exit 2 ;;
esac
# Its own install step: the Debian packages of tests/deps.d/e2e.txt.
need_tools() {
	local t
	for t in qemu-system-x86_64 xorriso sgdisk partx losetup mkfs.ext4 mkfs.vfat mcopy debootstrap jq base64 timeout; do
		command -v "$t" >/dev/null || return 1
	done
	[[ $E2E_BOOT != uefi || -r $E2E_OVMF_CODE ]]
}
if ! need_tools; then
	echo "e2e: installing the packages of tests/deps.d/e2e.txt" >&2
	mapfile -t pkgs < <(sed 's/#.*//' "$REPO/tests/deps.d/e2e.txt" | tr -s ' \t' '\n' | sed '/^$/d')
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
	need_tools || { echo "e2e: tools still missing after installing tests/deps.d/e2e.txt" >&2; exit 2; }
fi
command -v go >/dev/null || [[ -n ${E2E_PREPAGENT:-} ]] || { echo "e2e: needs go in PATH to build prepagent" >&2; exit 2; }

OUT=${E2E_OUT:-$(mktemp -d /tmp/prepagent-e2e.XXXXXX)}
mkdir -p "$OUT"
W=$OUT/work
mkdir -p "$W"
trap 'e2e_cleanup; [[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$W"' EXIT
E2E_INTERRUPTED=0
trap 'E2E_INTERRUPTED=1; exit 130' INT TERM

SCALE=${E2E_TIMEOUT_SCALE:-1}
tmo() { echo $(($1 * SCALE)); }
# The volume the orchestrator created as the temporary ECS's data disk; a
# virtio/SATA serial carries its first 20 characters.
VOLUME_ID=${E2E_VOLUME_ID:-3f1c9a2e-7b4d-4e8a-9c61-5d2f0b7a8e13}
VOL_SERIAL=${VOLUME_ID:0:20}
SYS_SERIAL=tmp-system-disk-0001

# --- stage bookkeeping -------------------------------------------------------
STAGES=() STAGE_RES=() STAGE_SECS=() STAGE_NOTE=()
FAILED=0
stage_t0=0
stage_begin() { stage_t0=$SECONDS; echo "== stage $1: $2" >&2; }
# stage_end NAME PASS|FAIL|SKIP NOTE
stage_end() {
	local secs=$((SECONDS - stage_t0))
	STAGES+=("$1") STAGE_RES+=("$2") STAGE_SECS+=("$secs") STAGE_NOTE+=("$3")
	[[ $2 == FAIL ]] && FAILED=1
	printf '== stage %s: %s in %ds: %s\n' "$1" "$2" "$secs" "$3" >&2
	return 0
}
say() { echo "   $*" >&2; }
summary() {
	local i
	echo
	echo "prepagent e2e summary, cell $CELL (serial logs and reports in $OUT)"
	printf '%-9s %-5s %6s  %s\n' stage result secs note
	for i in "${!STAGES[@]}"; do
		printf '%-9s %-5s %5ss  %s\n' "${STAGES[$i]}" "${STAGE_RES[$i]}" "${STAGE_SECS[$i]}" "${STAGE_NOTE[$i]}"
	done
	printf 'total %ds: %s\n' "$SECONDS" "$([[ $FAILED == 0 ]] && echo PASS || echo FAIL)"
}

install_agent() {
	local m=$1 bin want
	bin=$(unit_exec_path "$UNIT_SRC")
	[[ $bin == /* ]] || { say "cannot read ExecStart from $UNIT_SRC"; return 1; }
	install -D -m 0755 "$W/prepagent" "$m$bin"
	install -D -m 0644 "$UNIT_SRC" "$m/etc/systemd/system/prepagent.service"
	# The orchestrator's settings for `prepagent run`: which volume the
	# root disk must be on, and power off when done (ends boot 1).
	mkdir -p "$m/etc/prepagent"
	install -m 0644 "$W/config.yaml" "$m/etc/prepagent/config.yaml"
	# Enable it as systemctl would, from the unit's own [Install] section.
	for want in $(awk -F= '/^WantedBy=/ { print $2 }' "$UNIT_SRC"); do
		mkdir -p "$m/etc/systemd/system/$want.wants"
		ln -sfn /etc/systemd/system/prepagent.service "$m/etc/systemd/system/$want.wants/prepagent.service"
	done
	say "installed $bin and prepagent.service (enabled for: $(awk -F= '/^WantedBy=/ { print $2 }' "$UNIT_SRC" | paste -sd ' '))"
}

# The installer's name of the root on its AHCI disk (E2E_NAMES=kernel).
INSTALL_ROOT=/dev/sda2
to_kernel_names() {
	local m=$1
	sed -i "s#root=UUID=$ROOT_UUID#root=$INSTALL_ROOT#g" "$m/boot/grub/grub.cfg"
	sed -i -E "s#^UUID=$ROOT_UUID([[:space:]]+/[[:space:]])#$INSTALL_ROOT\1#" "$m/etc/fstab"
	grep -q "root=$INSTALL_ROOT " "$m/boot/grub/grub.cfg" && ! grep -q "root=UUID=" "$m/boot/grub/grub.cfg" &&
		grep -qE "^$INSTALL_ROOT[[:space:]]+/[[:space:]]" "$m/etc/fstab" ||
		{ say "could not name the root $INSTALL_ROOT in grub.cfg and fstab"; return 1; }
}
# copy_guest DEST: a working copy of the cached disk (kernel-named root
# with E2E_NAMES=kernel).
copy_guest() {
	cp --sparse=always "$GUEST/disk.raw" "$1"
	[[ $E2E_NAMES != kernel ]] || with_disk "$1" to_kernel_names
}

# ===================================================================================
# stage: build
stage_begin build "prepagent binary and cached guest disk"
if [[ -n ${E2E_PREPAGENT:-} ]]; then
	# A binary built elsewhere (debugging the harness while the tree is in flux).
	install -m 0755 "$E2E_PREPAGENT" "$W/prepagent"
elif ! (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=e2e" -o "$W/prepagent" ./cmd/prepagent); then
	stage_end build FAIL "go build ./cmd/prepagent failed"
	summary
	exit 1
fi
if ! bash "$REPO/tests/fixtures/e2e-guest.sh"; then
	stage_end build FAIL "tests/fixtures/e2e-guest.sh could not build the guest disk"
	summary
	exit 1
fi
GUEST=$PREPAGENT_CACHE/e2e-guest-$(e2e_cell_guest)
ROOT_UUID=$(<"$GUEST/root-uuid")
no_root_settings "$ROOT_UUID"
[[ -f "$UNIT_SRC" ]] || { stage_end build FAIL "no unit file $UNIT_SRC"; summary; exit 1; }
for sub in run wait; do
	"$W/prepagent" "$sub" --help >/dev/null 2>&1 || { stage_end build FAIL "prepagent has no '$sub' subcommand"; summary; exit 1; }
done
stage_end build PASS "guest root UUID $ROOT_UUID, kernel $(<"$GUEST/kver")"

# ===================================================================================
# stage: negative control. -snapshot: the cached disk is never written.
stage_begin negative "unrepaired disk on virtio-blk must not find its root"
qemu_start negative "$(tmo $((NO_ROOT_SECS + 20)))" -snapshot \
	-drive "if=none,id=root,file=$GUEST/disk.raw,format=raw" \
	-device "virtio-blk-pci,drive=root,serial=$VOL_SERIAL,bootindex=0" \
	-netdev user,id=n0,restrict=on -device "virtio-net-pci,netdev=n0,mac=$E2E_NEW_MAC"
rc=0
# The initramfs waits for the root device, then drops to a shell.
e2e_wait_log "$OUT/negative.serial.log" "$NO_ROOT_RE" "$(tmo "$NO_ROOT_SECS")" "$QEMU_PID" || rc=$?
qemu_stop "$QEMU_PID" "$W/negative.mon" 0
if [[ $rc == 0 ]]; then
	# The line that proved it: which of no_root_settings' patterns it met.
	seen=$(e2e_log_clean "$OUT/negative.serial.log" | grep -aoE -- "$NO_ROOT_RE" | head -n 1 || true)
	stage_end negative PASS "initramfs ($E2E_INITRAMFS) did not find UUID=$ROOT_UUID (no virtio_blk): ${seen:0:90}"
elif e2e_log_has "$OUT/negative.serial.log" "Reached target.*[Mm]ulti-[Uu]ser"; then
	stage_end negative FAIL "the unrepaired disk booted on virtio: the control proves nothing"
else
	stage_end negative FAIL "no /$NO_ROOT_RE/ in negative.serial.log (rc $rc)$(qemu_diag negative)"
fi

# not_fixed_in REPORT: the install-time faults that the report does not say
# were found and fixed (found absent proves nothing).
not_fixed_in() {
	local id st out=()
	local ids=(udev-persistent-net nic-config initramfs-drivers)
	[[ $E2E_NAMES != kernel ]] || ids+=(boot-config fstab)
	for id in "${ids[@]}"; do
		st=$(jq -r --arg id "$id" '.checks[]? | select(.id == $id) | .status' "$1" 2>/dev/null || true)
		[[ $st == fixed ]] || out+=("$id=${st:-missing}")
	done
	echo "${out[*]}"
}

# esp_unlisted REPORT: on a UEFI cell, why the root-disk check did not list
# the ESP's fallback loader (a warning alone would still be READY).
esp_unlisted() {
	[[ $E2E_BOOT == uefi ]] || return 0
	local l
	l=$(jq -r '.checks[]? | select(.id == "root-disk") | .detail.esp_loaders // [] | join(",")' "$1" 2>/dev/null || true)
	[[ ,$l, == *,/EFI/BOOT/BOOTX64.EFI,* ]] || echo "root-disk listed ESP loaders '${l}', not /EFI/BOOT/BOOTX64.EFI"
}

# ===================================================================================
# stage: names (E2E_NAMES=kernel): the same faults fixed but for the boot
# configuration: the initramfs must look for the installer's device name
# on virtio and give up, so boot 2 proves the root= rewrite, not luck.
if [[ $E2E_NAMES == kernel ]]; then
	stage_begin names "fixed but for boot-config: the initramfs on virtio must give up on $INSTALL_ROOT"
	control_fix() {
		"$W/prepagent" --json fix --root "$1" --skip boot-config >"$OUT/names.report.json" 2>"$OUT/names.fix.log" || true
	}
	names_rc=0
	if ! copy_guest "$W/control.raw" || ! with_disk "$W/control.raw" control_fix; then
		stage_end names FAIL "could not prepare the control copy"
	elif [[ $(jq -r '.checks[]? | select(.id == "initramfs-drivers") | .status' "$OUT/names.report.json" 2>/dev/null) != fixed ]]; then
		stage_end names FAIL "the control's initramfs-drivers was not fixed: the control proves nothing"
	else
		qemu_start names "$(tmo $((NO_ROOT_SECS + 20)))" \
			-drive "if=none,id=root,file=$W/control.raw,format=raw,cache=unsafe" \
			-device "virtio-blk-pci,drive=root,serial=$VOL_SERIAL,bootindex=0" \
			-netdev user,id=n0,restrict=on -device "virtio-net-pci,netdev=n0,mac=$E2E_NEW_MAC"
		e2e_wait_log "$OUT/names.serial.log" "ALERT! +$INSTALL_ROOT does not exist" "$(tmo "$NO_ROOT_SECS")" "$QEMU_PID" || names_rc=$?
		qemu_stop "$QEMU_PID" "$W/names.mon" 0
		if [[ $names_rc == 0 ]]; then
			stage_end names PASS "virtio drivers in, root=$INSTALL_ROOT kept: the initramfs gave up on $INSTALL_ROOT"
		elif e2e_log_has "$OUT/names.serial.log" "Reached target.*[Mm]ulti-[Uu]ser"; then
			stage_end names FAIL "booted with root=$INSTALL_ROOT on virtio: the rewrite is not what boot 2 proves"
		else
			stage_end names FAIL "no 'ALERT! $INSTALL_ROOT does not exist' in names.serial.log (rc $names_rc)$(qemu_diag names)"
		fi
	fi
	rm -f "$W/control.raw"
fi

DISK=$W/disk.raw
if [[ $E2E_PATH == guest ]]; then
# ===================================================================================
# stage: install
stage_begin install "fresh prepagent and its unit into a copy of the disk"
copy_guest "$DISK" || { stage_end install FAIL "could not copy the guest disk"; summary; exit 1; }
truncate -s 1G "$W/sysdisk.raw"
mkdir -p "$W/iso/.disk"
echo "Debian GNU/Linux 12 (stand-in installer medium for the prepagent e2e test)" >"$W/iso/.disk/info"
xorriso -as mkisofs -quiet -V DEBIAN_12_INSTALL -o "$W/installer.iso" "$W/iso" 2>"$W/xorriso.log"
# What the orchestrator tells `prepagent run` (it could equally come from the
# kernel command line or instance metadata): the data volume the OS must
# be on, and power off once READY is delivered, which ends boot 1.
cat >"$W/config.yaml" <<EOF
# prepagent e2e, boot 1
volume: $VOLUME_ID
poweroff: true
EOF
if with_disk "$DISK" install_agent; then
	stage_end install PASS "binary at $(agent_bin), unit enabled, ISO $(stat -c %s "$W/installer.iso") bytes"
else
	stage_end install FAIL "could not install prepagent into the disk"
	summary
	exit 1
fi

# ===================================================================================
# stage: repair (boot 1)
stage_begin repair "boot 1 on AHCI + e1000; prepagent run fixes; host reads the verdict"
qemu_start repair "$(tmo $((REPAIR_SECS + 100)))" \
	-drive "if=none,id=root,file=$DISK,format=raw,cache=unsafe" \
	-drive "if=none,id=sys,file=$W/sysdisk.raw,format=raw,cache=unsafe" \
	-drive "if=none,id=iso,file=$W/installer.iso,format=raw,media=cdrom,readonly=on" \
	-device ahci,id=sata \
	-device "ide-hd,bus=sata.0,drive=root,serial=$VOL_SERIAL,bootindex=0" \
	-device "ide-hd,bus=sata.1,drive=sys,serial=$SYS_SERIAL" \
	-device "ide-cd,bus=sata.2,drive=iso,serial=INSTALLER-ISO" \
	-netdev user,id=n0,restrict=on -device "e1000,netdev=n0,mac=$E2E_INSTALL_MAC,addr=$E2E_INSTALL_SLOT"
REPAIR_PID=$QEMU_PID
REPAIR_OK=0
# The host side, as an orchestrator would run it against the console log.
"$W/prepagent" --json wait --serial-log "$OUT/repair.serial.log" --timeout "$(tmo "$REPAIR_SECS")s" \
	>"$OUT/repair.report.json" 2>"$OUT/repair.wait.log" &
WAIT_PID=$!
e2e_defer kill "$WAIT_PID"
# Whichever ends first: the verdict, or the guest (crash, power-off).
while kill -0 "$WAIT_PID" 2>/dev/null && kill -0 "$REPAIR_PID" 2>/dev/null; do sleep 2; done
if kill -0 "$WAIT_PID" 2>/dev/null; then
	# The guest ended: give wait a moment to read the last lines.
	for i in $(seq 1 10); do kill -0 "$WAIT_PID" 2>/dev/null || break; sleep 1; done
	kill "$WAIT_PID" 2>/dev/null || true
fi
wait_rc=0
wait "$WAIT_PID" || wait_rc=$?
# With poweroff in the config the guest ends by itself; otherwise ask it.
qemu_wait_exit "$REPAIR_PID" "$(tmo 120)" || qemu_stop "$REPAIR_PID" "$W/repair.mon"
ready=$(jq -r '.ready' "$OUT/repair.report.json" 2>/dev/null || true)
serial=$(jq -r '.image.root_disk_serial // empty' "$OUT/repair.report.json" 2>/dev/null || true)
say "prepagent wait exit $wait_rc, ready=$ready, root_disk_serial=${serial:-<none>}"
jq -r '.checks[]? | "   \(.id): \(.status) \(.summary // "")"' "$OUT/repair.report.json" >&2 2>/dev/null || true
not_fixed=$(not_fixed_in "$OUT/repair.report.json")
if [[ $wait_rc != 0 || $ready != true ]]; then
	stage_end repair FAIL "prepagent wait exit $wait_rc (0 READY, 1 NOT READY, 3 timeout); see repair.wait.log$(qemu_diag repair)"
elif [[ -n $not_fixed ]]; then
	stage_end repair FAIL "READY, but not reported as fixed: $not_fixed"
elif [[ -n $(esp_unlisted "$OUT/repair.report.json") ]]; then
	stage_end repair FAIL "$(esp_unlisted "$OUT/repair.report.json")"
elif [[ $serial != "$VOL_SERIAL" ]]; then
	stage_end repair FAIL "READY but root_disk_serial '${serial}' is not the volume's '$VOL_SERIAL'"
else
	REPAIR_OK=1
	stage_end repair PASS "READY; udev rule, NIC config, initramfs fixed; root_disk_serial=$serial"
fi

else
# ===================================================================================
# stage: offline (path offline): the disk on the host, as an image pipeline
# or a rescue host would see it; prepagent's guest tools run in its sandbox.
stage_begin offline "prepagent fix --root on the loop-mounted disk, on the host"
copy_guest "$DISK" || { stage_end offline FAIL "could not copy the guest disk"; summary; exit 1; }
offline_fix() {
	local m=$1 rc=0
	# The binary only, for boot 2's in-guest `prepagent check`: no unit,
	# nothing runs at boot.
	install -D -m 0755 "$W/prepagent" "$m$(agent_bin)"
	"$W/prepagent" --json fix --root "$m" >"$OUT/offline.report.json" 2>"$OUT/offline.fix.log" || rc=$?
	echo "$rc" >"$W/offline.rc"
}
REPAIR_OK=0
if ! with_disk "$DISK" offline_fix; then
	stage_end offline FAIL "could not mount the disk or install the binary"
else
	fix_rc=$(<"$W/offline.rc")
	ready=$(jq -r '.ready' "$OUT/offline.report.json" 2>/dev/null || true)
	jq -r '.checks[]? | "   \(.id): \(.status) \(.summary // "")"' "$OUT/offline.report.json" >&2 2>/dev/null || true
	not_fixed=$(not_fixed_in "$OUT/offline.report.json")
	if [[ $fix_rc != 0 || $ready != true ]]; then
		stage_end offline FAIL "fix --root exit $fix_rc, ready=$ready; see offline.fix.log: $(tail -n 2 "$OUT/offline.fix.log" | tr '\n' ' ')"
	elif [[ -n $not_fixed ]]; then
		stage_end offline FAIL "READY, but not reported as fixed: $not_fixed"
	elif [[ -n $(esp_unlisted "$OUT/offline.report.json") ]]; then
		stage_end offline FAIL "$(esp_unlisted "$OUT/offline.report.json")"
	else
		REPAIR_OK=1
		stage_end offline PASS "READY; udev rule, NIC config, initramfs fixed from the host"
	fi
fi
fi

# ===================================================================================
# stage: virtio (boot 2)
if [[ $REPAIR_OK != 1 ]]; then
	STAGES+=(inspect virtio) STAGE_RES+=(SKIP SKIP) STAGE_SECS+=(0 0) STAGE_NOTE+=("the disk was not repaired" "the disk was not repaired")
	summary
	exit 1
fi
# The repaired disk seen from the host, before boot 2: prepagent's own
# initramfs reader on the rebuilt image, and the journal of the changes.
inspect_repaired() {
	local m=$1 kver img rc=0
	kver=$(<"$GUEST/kver")
	img=$m/boot/initrd.img-$kver
	"$W/prepagent" initramfs "$img" >"$OUT/inspect.initramfs.txt" 2>&1 || rc=$?
	"$W/prepagent" rollback --list --root "$m" >"$OUT/inspect.journal.txt" 2>&1 || rc=$?
	install_verifier "$m" || rc=$?
	return "$rc"
}
stage_begin inspect "the repaired disk from the host: initramfs drivers, change journal"
if with_disk "$DISK" inspect_repaired; then
	sed 's/^/   /' "$OUT/inspect.initramfs.txt" "$OUT/inspect.journal.txt" >&2
	stage_end inspect PASS "rebuilt initramfs has every virtio/Xen driver; journal: $(head -n 1 "$OUT/inspect.journal.txt" | tr -s ' ')"
else
	sed 's/^/   /' "$OUT/inspect.initramfs.txt" "$OUT/inspect.journal.txt" >&2 || true
	stage_end inspect FAIL "prepagent initramfs or rollback --list failed on the repaired disk"
fi

stage_begin virtio "boot 2 on virtio-blk + virtio-net in PCI slot $E2E_NEW_SLOT (install: slot $E2E_INSTALL_SLOT), DHCP, prepagent check in the guest"
problems=()
boot_virtio virtio "$DISK" raw
LOG2=$OUT/virtio.serial.log
# Run once: the stamp written in boot 1 keeps prepagent from running again.
if [[ $E2E_PATH == guest ]]; then
	if e2e_log_has "$LOG2" "PREPAGENT-(READY|NOTREADY) run="; then
		problems+=("prepagent ran again in boot 2 (run-once stamp ignored)")
	fi
	e2e_log_has "$LOG2" "E2E-AGENT .*ConditionResult=no" ||
		problems+=("prepagent.service was not skipped by its ConditionPathExists=!/var/lib/prepagent/done")
fi
if ((${#problems[@]} == 0)); then
	stage_end virtio PASS "multi-user on /dev/vda2, $NEW_NIC (virtio_net, slot $E2E_NEW_SLOT, install NIC was $E2E_INSTALL_NIC) $E2E_DHCP_ADDR by DHCP, prepagent check READY"
else
	stage_end virtio FAIL "$(
		IFS=';'
		echo "${problems[*]}"
	)"
fi

summary
exit "$FAILED"
