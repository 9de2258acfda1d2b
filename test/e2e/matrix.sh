#!/bin/bash
# The boot matrix (issue 17): every boot and network stack prepagent
# supports, proven by booting it broken before and working after. Each cell
# is one run of test/e2e/run.sh with the axes of test/e2e/lib.sh set.
#
# Usage: test/e2e/matrix.sh [CELL...]   (default: every cell of CELLS)
#        E2E_MATRIX=ci test/e2e/matrix.sh   (the CI subset)
# A cell is RELEASE-INITRAMFS-NET-BOOT-PATH, e.g.
# bookworm-itools-ifupdown-bios-guest; a "+names" suffix names the root by
# the installer's device (/dev/sda2) in grub.cfg and fstab (run.sh).
#
# Prints one line per cell as it ends:
#   E2E-CELL <name> PASS <seconds>s
#   E2E-CELL <name> FAIL <reason>
# then a table. A failing cell's serial logs, reports and summary stay in
# $E2E_MATRIX_OUT/<cell>/ (default /tmp/prepagent-e2e-matrix, replaced on
# each run); a passing cell's are removed unless E2E_KEEP_LOGS=1, and a run
# where every cell passed leaves nothing behind.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

# Every stack at least once, both paths, both boot modes, both releases,
# both initramfs tools. Guest disks are cached per RELEASE-INITRAMFS-NET-BOOT,
# so two paths of one guest share a build.
CELLS=(
	bookworm-itools-ifupdown-bios-guest
	bookworm-itools-ifupdown-bios-offline
	bookworm-dracut-networkd-bios-guest
	bookworm-itools-nm-uefi-guest
	bookworm-itools-netplan-networkd-bios-offline
	bookworm-dracut-netplan-nm-uefi-offline
	trixie-itools-ifupdown-uefi-guest
	trixie-dracut-nm-bios-offline
	bookworm-itools-ifupdown-bios-offline+names
)
# The CI subset: the Debian 12 ifupdown BIOS guest on both paths. One
# cached disk serves both (no second build); the guest path is the unit
# users install, the offline path is `fix --root` with the sandbox. About
# 4 + 2.5 minutes warm; the other cells cost a disk build each (3-5 min)
# plus their boots, which `make e2e-matrix` spends instead.
CI_CELLS=(
	bookworm-itools-ifupdown-bios-guest
	bookworm-itools-ifupdown-bios-offline
)

if (($# > 0)); then
	cells=("$@")
elif [[ ${E2E_MATRIX:-} == ci ]]; then
	cells=("${CI_CELLS[@]}")
else
	cells=("${CELLS[@]}")
fi

OUT=${E2E_MATRIX_OUT:-/tmp/prepagent-e2e-matrix}
rm -rf "$OUT"
mkdir -p "$OUT"
# One binary for every cell.
if [[ -z ${E2E_PREPAGENT:-} ]]; then
	(cd "$HERE/../.." && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=e2e" -o "$OUT/prepagent" ./cmd/prepagent) ||
		{ echo "matrix: go build ./cmd/prepagent failed" >&2; exit 2; }
	export E2E_PREPAGENT=$OUT/prepagent
fi

names=() results=() secs=() notes=()
failed=0
for cell in "${cells[@]}"; do
	# A "+names" suffix: the root named by the installer's device name
	# (run.sh E2E_NAMES=kernel).
	rootnames=uuid
	base=${cell%+names}
	[[ $base == "$cell" ]] || rootnames=kernel
	IFS=- read -r rel ird net1 net2 boot path <<<"$base"
	# netplan-networkd / netplan-nm carry a dash of their own.
	if [[ -z $path ]]; then
		path=$boot boot=$net2 net=$net1
	else
		net=$net1-$net2
	fi
	t0=$SECONDS
	rc=0
	E2E_RELEASE=$rel E2E_INITRAMFS=$ird E2E_NET=$net E2E_BOOT=$boot E2E_PATH=$path E2E_NAMES=$rootnames \
		E2E_OUT="$OUT/$cell" bash "$HERE/run.sh" >"$OUT/$cell.log" 2>&1 </dev/null || rc=$?
	s=$((SECONDS - t0))
	if [[ $rc == 0 ]]; then
		res=PASS note=""
		echo "E2E-CELL $cell PASS ${s}s"
	else
		res=FAIL
		# The first failing stage's note, from run.sh's own summary.
		note=$(grep -m1 -E '^== stage [a-z]+: FAIL' "$OUT/$cell.log" | sed 's/^== stage //')
		[[ -n $note ]] || note="run.sh exit $rc: $(tail -n 1 "$OUT/$cell.log")"
		echo "E2E-CELL $cell FAIL $note"
		failed=1
	fi
	names+=("$cell") results+=("$res") secs+=("$s") notes+=("$note")
	if [[ $res == PASS && ${E2E_KEEP_LOGS:-0} != 1 ]]; then
		rm -rf "${OUT:?}/$cell" "$OUT/$cell.log"
	fi
done

echo
echo "prepagent boot matrix (logs in $OUT)"
printf '%-46s %-5s %6s  %s\n' cell result time note
for i in "${!names[@]}"; do
	printf '%-46s %-5s %5ss  %s\n' "${names[$i]}" "${results[$i]}" "${secs[$i]}" "${notes[$i]}"
done
printf 'total %ds: %s\n' "$SECONDS" "$([[ $failed == 0 ]] && echo PASS || echo FAIL)"
if [[ $failed == 0 && ${E2E_KEEP_LOGS:-0} != 1 ]]; then
	rm -rf "$OUT"
fi
exit "$failed"
