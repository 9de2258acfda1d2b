# shellcheck shell=bash
# Boot-and-verify helpers of the qemu proofs, shared by test/e2e/run.sh
# (the boot matrix) and test/e2e/image.sh (`prepagent image`). Source it
# after lib.sh and guest.env. Not part of the guest disk's cache key
# (lib.sh and guest.env are): changing it never rebuilds a disk.
#
# The caller sets: REPO (the repository), OUT (serial logs and reports),
# W (work directory: monitor pipes, firmware variables), E2E_INTERRUPTED
# (1 after a signal), and defines tmo SECONDS (a timeout, scaled).

# --- qemu ------------------------------------------------------------------------
# qemu_start NAME SECONDS ARGS...: start a TCG guest in the background with
# its serial console in $OUT/NAME.serial.log and a monitor on a pipe (used
# to ask for an ACPI power-off). Sets QEMU_PID. A hard timeout bounds it.
qemu_start() {
	local name=$1 secs=$2
	shift 2
	local mon=$W/$name.mon
	rm -f "$mon.in" "$mon.out"
	mkfifo "$mon.in" "$mon.out"
	: >"$OUT/$name.serial.log"
	local fw=()
	if [[ $E2E_BOOT == uefi ]]; then
		# OVMF, with a fresh copy of its variable store for every boot.
		cp "$E2E_OVMF_VARS" "$W/$name.vars.fd"
		fw=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$E2E_OVMF_CODE"
			-drive "if=pflash,format=raw,unit=1,file=$W/$name.vars.fd")
	fi
	# KVM on these hosts is kvm_pvm, which hangs a stock kernel: TCG only.
	timeout -k 10 "$secs" qemu-system-x86_64 -name "prepagent-e2e-$name" \
		-accel tcg -machine pc -cpu qemu64 -m 1024 -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-chardev "pipe,id=mon0,path=$mon" -mon chardev=mon0,mode=readline \
		-serial "file:$OUT/$name.serial.log" \
		"${fw[@]}" "$@" >"$OUT/$name.qemu.log" 2>&1 &
	QEMU_PID=$!
	# Drain the monitor's output so it can never fill up and block qemu.
	cat "$mon.out" >/dev/null 2>&1 &
	e2e_defer kill "$!"
	e2e_defer qemu_stop "$QEMU_PID" "$mon"
}

# qemu_stop PID MON [GRACE]: ACPI power-off and up to GRACE seconds (default
# 60; 0, or after a signal, skips it) for the guest to shut down, then quit,
# then kill; never fails.
qemu_stop() {
	local pid=$1 mon=$2 grace=${3:-60} i
	kill -0 "$pid" 2>/dev/null || return 0
	[[ $E2E_INTERRUPTED == 1 ]] && grace=0
	if ((grace > 0)); then
		timeout 5 bash -c "echo system_powerdown >'$mon.in'" 2>/dev/null || true
	fi
	for ((i = 0; i < grace; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
	timeout 5 bash -c "echo quit >'$mon.in'" 2>/dev/null || true
	for i in 1 2 3 4 5; do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# qemu_diag NAME: qemu's own last complaint, if any (a start failure).
qemu_diag() {
	local l
	l=$(grep -v '^$' "$OUT/$1.qemu.log" 2>/dev/null | tail -n 1)
	[[ -z $l ]] || echo " [qemu: $l]"
}

# qemu_wait_exit PID SECONDS: wait for qemu to end; 0 when it did.
qemu_wait_exit() {
	local pid=$1 t0=$SECONDS
	while ((SECONDS - t0 < $2)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 1
	done
	return 1
}

# --- guest disk helpers ---------------------------------------------------------
# with_disk DISK FUNC: loop-mount DISK's root partition on $W/mnt, run FUNC
# with the mount point, unmount and detach (also when FUNC fails).
with_disk() {
	local disk=$1 fn=$2 n rc=0
	n=${#E2E_CLEANUP[@]}
	e2e_loop_attach "$disk"
	mkdir -p "$W/mnt"
	e2e_mount "${E2E_LOOP}p2" "$W/mnt"
	"$fn" "$W/mnt" || rc=$?
	sync -f "$W/mnt"
	# Run and drop what this call deferred (mount, nodes, loop device).
	local i
	for ((i = ${#E2E_CLEANUP[@]} - 1; i >= n; i--)); do
		eval "${E2E_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	E2E_CLEANUP=("${E2E_CLEANUP[@]:0:n}")
	return "$rc"
}

# unit_exec_path UNIT: the program the unit's ExecStart runs.
unit_exec_path() {
	awk -F= '/^ExecStart=/ { sub(/^[-@:+!]+/, "", $2); split($2, a, " "); print a[1]; exit }' "$1"
}

UNIT_SRC=$REPO/packaging/systemd/prepagent.service

# agent_bin: where the guest has prepagent (the unit's ExecStart).
agent_bin() { unit_exec_path "$UNIT_SRC"; }

# The boot-2 test unit: after multi-user, print the live state and the
# result of `prepagent check --json` on the serial console, then power off.
# Each marker line is a single write (systemd's console messages could
# otherwise split it); the JSON goes base64 in numbered chunks.
install_verifier() {
	local m=$1 bin
	bin=$(agent_bin)
	cat >"$m/usr/local/sbin/e2e-verify" <<EOF
#!/bin/sh
# prepagent e2e, boot 2: report to the serial console, then power off.
out() { printf '%s\n' "\$*" >/dev/ttyS0; }
out "E2E-BEGIN multi-user=\$(systemctl is-active multi-user.target)"
i=0
while [ \$i -lt 90 ]; do
	ip -4 -o addr show scope global | grep -q inet && break
	sleep 1; i=\$((i + 1))
done
ip -4 -o addr show scope global | sed 's/\\\\.*//' | while read -r l; do out "E2E-IP \$l"; done
lease=\$(cat /var/lib/dhcp/dhclient*.leases 2>/dev/null | sed -n 's/^ *fixed-address \\([0-9.]*\\);/\\1/p' | tail -n 1)
out "E2E-LEASE \${lease:-none}"
for n in /sys/class/net/*; do
	[ -e "\$n/device/driver" ] || continue
	out "E2E-NIC \${n##*/} driver=\$(basename "\$(readlink -f "\$n/device/driver")") mac=\$(cat "\$n/address")"
done
# The NIC the cloud gave (found by its MAC, whatever udev named it) and the
# address it holds, in one line: the proof that DHCP ran on it.
for n in /sys/class/net/*; do
	[ "\$(cat "\$n/address")" = "$E2E_NEW_MAC" ] || continue
	a=\$(ip -4 -o addr show dev "\${n##*/}" scope global dynamic | awk '{print \$4}' | head -n 1)
	out "E2E-DHCP nic=\${n##*/} addr=\${a:-none}"
done
out "E2E-ROOT \$(findmnt -no SOURCE /) \$(cat /sys/block/vda/serial 2>/dev/null)"
out "E2E-AGENT \$(systemctl show -p ActiveState -p ConditionResult -p ExecMainStartTimestampMonotonic prepagent.service | tr '\n' ' ')"
$bin check --json >/run/e2e-check.json 2>/run/e2e-check.err
rc=\$?
out "E2E-CHECK rc=\$rc"
tail -n 20 /run/e2e-check.err | while read -r l; do out "E2E-CHECK-STDERR \$l"; done
base64 -w 96 /run/e2e-check.json >/run/e2e-check.b64
total=\$(wc -l </run/e2e-check.b64)
# Twice: a tty flush (agetty starting on ttyS0) can drop a pending line, and
# the host keeps the longest copy of each chunk.
for pass in 1 2; do
	n=0
	while read -r chunk; do
		n=\$((n + 1))
		out "E2E-JSON \$n/\$total \$chunk"
	done </run/e2e-check.b64
done
out "E2E-END"
systemctl --no-block poweroff
EOF
	chmod 755 "$m/usr/local/sbin/e2e-verify"
	cat >"$m/etc/systemd/system/e2e-verify.service" <<'EOF'
[Unit]
Description=prepagent e2e boot 2: report check result and network to the serial console
Wants=network-online.target
After=multi-user.target network-online.target prepagent.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/e2e-verify

[Install]
WantedBy=multi-user.target
EOF
	mkdir -p "$m/etc/systemd/system/multi-user.target.wants"
	ln -sfn /etc/systemd/system/e2e-verify.service "$m/etc/systemd/system/multi-user.target.wants/e2e-verify.service"
}

# no_root_settings ROOT_UUID: how the install-time initramfs gives up on a
# root it cannot see (NO_ROOT_RE, within NO_ROOT_SECS), and how long boot 1
# may take to repair (REPAIR_SECS), for the cell's E2E_INITRAMFS.
no_root_settings() {
	local uuid=$1
	if [[ $E2E_INITRAMFS == dracut ]]; then
		# Debian 12's dracut (059) waits for the root in its initqueue, which
		# counts rd.retry (180 s) as 360 rounds of at least 0.5 s each (about
		# 1 s under a loaded TCG). After 2/3 of them every round warns that
		# it still waits for the root's devexists hook
		# (devexists-\x2fdev\x2fdisk\x2fby-uuid\x2f<uuid>.sh): first seen
		# 300 s into the boot here. "Could not boot." would come only at the
		# end (a timeout script that leaves udev busy resets the count).
		# Debian 13's dracut (106) leaves the wait to systemd in the initrd:
		# the root's device job has no limit (rd.timeout unset), the
		# initqueue never starts, and the only sign is systemd's status line
		# for that job, its unit name cut in the middle but keeping the
		# UUID's first group: 3 minutes of it (dracut's own rd.retry budget;
		# a virtio root appears within seconds) is the same "no root".
		NO_ROOT_RE="Could not boot|Warning: [^ ]*/initqueue/finished/devexists-[^ ]*$uuid"
		NO_ROOT_RE+="|Job dev-disk-by.x2duuid-${uuid:0:8}[^ ]* running \\(([3-9]|[1-9][0-9]+)min"
		NO_ROOT_SECS=720
		# Boot 1 rebuilds a --no-hostonly xz image in the guest: 918 s of
		# boot 1 here under load (initramfs-tools: 90-180 s).
		REPAIR_SECS=1800
	else
		NO_ROOT_RE="ALERT! +UUID=$uuid does not exist"
		NO_ROOT_SECS=220
		REPAIR_SECS=1100
	fi
}

# boot_virtio NAME DISK FORMAT: boot DISK (a verifier installed, see
# install_verifier) as a new cloud server would: virtio-blk, virtio-net with
# a new MAC in another PCI slot ($E2E_NEW_SLOT), qemu's user-network DHCP.
# Waits for the verifier's E2E-END (or the initramfs giving up on its root:
# NO_ROOT_RE, from no_root_settings), then reads the serial log
# $OUT/NAME.serial.log. Sets NEW_NIC (the virtio NIC's name in the guest)
# and adds to the caller's problems array whatever is wrong: multi-user not
# active, root not on /dev/vda2, no virtio NIC with the new MAC, the NIC
# kept the install name, no DHCP address on it (ifupdown: no dhclient
# lease), `prepagent check` in the guest not READY. The check's JSON goes
# to $OUT/NAME.check.json.
boot_virtio() {
	local name=$1 disk=$2 format=$3 log rc=0 check_rc check_ready
	log=$OUT/$name.serial.log
	qemu_start "$name" "$(tmo 600)" \
		-drive "if=none,id=root,file=$disk,format=$format,cache=unsafe" \
		-device "virtio-blk-pci,drive=root,serial=${VOL_SERIAL:-prepagent-e2e},bootindex=0" \
		-netdev user,id=n0,restrict=on -device "virtio-net-pci,netdev=n0,mac=$E2E_NEW_MAC,addr=$E2E_NEW_SLOT"
	# Stop early if the initramfs gives up on the root (the repair did not work).
	e2e_wait_log "$log" "E2E-END|$NO_ROOT_RE" "$(tmo 540)" "$QEMU_PID" || rc=$?
	if e2e_log_has "$log" "$NO_ROOT_RE"; then
		rc=4
		qemu_stop "$QEMU_PID" "$W/$name.mon" 0
	fi
	qemu_wait_exit "$QEMU_PID" "$(tmo 60)" || qemu_stop "$QEMU_PID" "$W/$name.mon"
	if [[ $rc != 0 ]]; then
		if [[ $rc == 4 ]]; then
			problems+=("the initramfs did not find the root disk on virtio-blk")
		else
			problems+=("no E2E-END marker (guest did not reach the test unit; rc $rc)$(qemu_diag "$name")")
		fi
	fi
	e2e_log_has "$log" "E2E-BEGIN multi-user=active" || problems+=("multi-user.target not active")
	e2e_log_has "$log" "E2E-ROOT /dev/vda2" || problems+=("root is not on /dev/vda2")
	NEW_NIC=$(e2e_log_clean "$log" | sed -n "s/.*E2E-NIC \([^ ]*\) driver=virtio_net mac=$E2E_NEW_MAC.*/\1/p" | sed -n 1p)
	[[ -n $NEW_NIC ]] || problems+=("no virtio_net NIC with $E2E_NEW_MAC")
	[[ $NEW_NIC != "$E2E_INSTALL_NIC" ]] || problems+=("the virtio NIC kept the install name $E2E_INSTALL_NIC: the slot change proves nothing")
	e2e_log_has "$log" "E2E-DHCP nic=${NEW_NIC:-?} addr=$E2E_DHCP_ADDR/24" ||
		problems+=("${NEW_NIC:-the virtio NIC} does not hold the DHCP address $E2E_DHCP_ADDR (dynamic)")
	if [[ $E2E_NET == ifupdown ]]; then
		e2e_log_has "$log" "E2E-LEASE $E2E_DHCP_ADDR\$" || problems+=("no dhclient lease for $E2E_DHCP_ADDR")
	else
		# The cell's own stack must hold the address. The Debian roots keep
		# ifupdown (only lo configured) beside it: a dhclient lease means
		# ifupdown configured the NIC, as nic-config once made it do in the
		# networkd cell (fixed in 825f844), and the stack was never shown.
		e2e_log_has "$log" "E2E-LEASE none\$" ||
			problems+=("a dhclient lease: ifupdown, not $E2E_NET, configured the NIC")
	fi
	# The JSON report of `prepagent check`, reassembled from its chunks.
	# The longest copy of each chunk (a copy cut by a tty flush is a prefix).
	e2e_log_clean "$log" | grep -oE 'E2E-JSON [0-9]+/[0-9]+ [A-Za-z0-9+/=]+' |
		awk '{ split($2, a, "/"); if (length($3) > length(c[a[1]])) c[a[1]] = $3; if (a[1] > n) n = a[1] }
			END { for (i = 1; i <= n; i++) printf "%s", c[i] }' |
		base64 -d >"$OUT/$name.check.json" 2>/dev/null || true
	check_rc=$(e2e_log_clean "$log" | sed -n 's/.*E2E-CHECK rc=\([0-9]*\).*/\1/p' | sed -n 1p)
	check_ready=$(jq -r '.ready' "$OUT/$name.check.json" 2>/dev/null || true)
	[[ $check_rc == 0 && $check_ready == true ]] ||
		problems+=("prepagent check in the guest: exit '${check_rc}', ready '${check_ready}'")
	jq -r '.checks[]? | "   \(.id): \(.status) \(.summary // "")"' "$OUT/$name.check.json" >&2 2>/dev/null || true
	e2e_log_clean "$log" | grep -aE 'E2E-(IP|LEASE|NIC|ROOT|AGENT|CHECK)' | sed 's/^/   /' >&2 || true
	return 0
}
