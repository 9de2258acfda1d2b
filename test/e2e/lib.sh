# shellcheck shell=bash
# Helpers for the qemu end-to-end proof: a cleanup stack, loop devices with
# partition nodes (no udev on these hosts), serial log reading. Source it.
#
# Every resource a caller creates (loop device, mount, qemu process, node
# made with mknod) is pushed on a stack with e2e_defer; e2e_cleanup pops
# and runs the stack in reverse order. Callers set `trap e2e_cleanup EXIT`.

E2E_CLEANUP=()

# e2e_defer CMD...: run CMD at cleanup time (last in, first out).
e2e_defer() {
	local q
	printf -v q '%q ' "$@"
	E2E_CLEANUP+=("$q")
}

# e2e_cleanup: run and forget every deferred command; never fails.
e2e_cleanup() {
	local i
	for ((i = ${#E2E_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	E2E_CLEANUP=()
}

# e2e_loop_detach DEV: remove the partition mappings and the device.
e2e_loop_detach() {
	partx -d "$1" >/dev/null 2>&1 || true
	losetup -d "$1" 2>/dev/null || true
}

# e2e_loop_attach IMG: attach IMG with partitions; sets E2E_LOOP. Without
# udev, losetup -P may leave partition nodes missing: partx -a tells the
# kernel, and mknod fills in any node devtmpfs did not create.
e2e_loop_attach() {
	local img=$1 sys name majmin
	E2E_LOOP=$(losetup -f --show -P "$img")
	e2e_defer e2e_loop_detach "$E2E_LOOP"
	partx -a "$E2E_LOOP" >/dev/null 2>&1 || true
	for sys in /sys/class/block/"$(basename "$E2E_LOOP")"p*; do
		[[ -e "$sys/dev" ]] || continue
		name=$(basename "$sys")
		for _ in 1 2 3 4 5; do
			[[ -b "/dev/$name" ]] && break
			sleep 0.2
		done
		if [[ ! -b "/dev/$name" ]]; then
			majmin=$(<"$sys/dev")
			mknod "/dev/$name" b "${majmin%%:*}" "${majmin##*:}"
			e2e_defer rm -f "/dev/$name"
		fi
	done
}

# e2e_mount DEV DIR [OPTS]: mount and defer the unmount.
e2e_mount() {
	mount ${3:+-o "$3"} "$1" "$2"
	e2e_defer e2e_umount "$2"
}

# e2e_umount DIR: unmount DIR and everything below it.
e2e_umount() {
	mountpoint -q "$1" || return 0
	umount -R "$1" 2>/dev/null || umount -R -l "$1"
}

# e2e_chroot_dev ROOT LOOPDEV: a small /dev for a chroot (never the host's),
# holding the basic nodes, the loop device and its partitions, and the
# /dev/disk/by-uuid links update-grub needs to write root=UUID=.
e2e_chroot_dev() {
	local root=$1 loop=$2 n majmin uuid
	mount -t tmpfs -o mode=755,size=1m e2edev "$root/dev"
	mknod -m 666 "$root/dev/null" c 1 3
	mknod -m 666 "$root/dev/zero" c 1 5
	mknod -m 666 "$root/dev/full" c 1 7
	mknod -m 666 "$root/dev/random" c 1 8
	mknod -m 666 "$root/dev/urandom" c 1 9
	mknod -m 666 "$root/dev/tty" c 5 0
	mknod -m 600 "$root/dev/console" c 5 1
	mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/disk/by-uuid"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
	ln -s pts/ptmx "$root/dev/ptmx"
	for n in "$loop" "$loop"p[0-9]*; do
		[[ -b "$n" ]] || continue
		majmin=$(stat -c '%t:%T' "$n")
		mknod -m 660 "$root/dev/$(basename "$n")" b $((16#${majmin%%:*})) $((16#${majmin##*:}))
		uuid=$(blkid -s UUID -o value "$n" 2>/dev/null || true)
		[[ -n "$uuid" ]] && ln -s "../../$(basename "$n")" "$root/dev/disk/by-uuid/$uuid"
	done
	return 0
}

# e2e_log_has LOG REGEX: the serial log holds a line matching REGEX.
# Serial logs carry CR and ANSI colour codes: strip both first.
e2e_log_clean() {
	sed -e 's/\r$//' -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" 2>/dev/null
}
e2e_log_has() {
	# Not grep -q: quitting early would kill sed with SIGPIPE, and pipefail
	# would turn a match into a failure.
	e2e_log_clean "$1" | grep -aE -- "$2" >/dev/null
}

# e2e_wait_log LOG REGEX SECONDS PID: wait until LOG matches REGEX (0), the
# process PID ends (1), or SECONDS pass (2).
e2e_wait_log() {
	local log=$1 re=$2 secs=$3 pid=$4 t0=$SECONDS
	while ((SECONDS - t0 < secs)); do
		e2e_log_has "$log" "$re" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			e2e_log_has "$log" "$re" && return 0
			return 1
		fi
		sleep 1
	done
	return 2
}

# --- boot matrix cells ----------------------------------------------------------
# A cell is what a guest differs in where prepagent touches it. Each axis
# has a default (the CI cell); test/e2e/matrix.sh sets them per cell.
: "${E2E_RELEASE:=bookworm}"       # bookworm (Debian 12) | trixie (Debian 13)
: "${E2E_INITRAMFS:=itools}"       # itools (initramfs-tools) | dracut
: "${E2E_NET:=ifupdown}"           # ifupdown | nm | networkd | netplan-networkd | netplan-nm
: "${E2E_BOOT:=bios}"              # bios (GPT + BIOS boot partition) | uefi (ESP + OVMF)
: "${E2E_PATH:=guest}"             # guest (the unit runs in boot 1) | offline (fix --root on the host)

# e2e_cell_guest: the name of the guest disk (everything but the path).
e2e_cell_guest() { echo "$E2E_RELEASE-$E2E_INITRAMFS-$E2E_NET-$E2E_BOOT"; }
# e2e_cell: the cell's name.
e2e_cell() { echo "$(e2e_cell_guest)-$E2E_PATH"; }

# e2e_cell_check: refuse unknown axis values before anything is built.
e2e_cell_check() {
	case $E2E_RELEASE in bookworm | trixie) ;; *) echo "e2e: unknown E2E_RELEASE '$E2E_RELEASE'" >&2; return 2 ;; esac
	case $E2E_INITRAMFS in itools | dracut) ;; *) echo "e2e: unknown E2E_INITRAMFS '$E2E_INITRAMFS'" >&2; return 2 ;; esac
	case $E2E_NET in ifupdown | nm | networkd | netplan-networkd | netplan-nm) ;; *) echo "e2e: unknown E2E_NET '$E2E_NET'" >&2; return 2 ;; esac
	case $E2E_BOOT in bios | uefi) ;; *) echo "e2e: unknown E2E_BOOT '$E2E_BOOT'" >&2; return 2 ;; esac
	case $E2E_PATH in guest | offline) ;; *) echo "e2e: unknown E2E_PATH '$E2E_PATH'" >&2; return 2 ;; esac
}

# OVMF firmware of Debian's ovmf package (4M builds in Debian 12 and 13).
E2E_OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
E2E_OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
