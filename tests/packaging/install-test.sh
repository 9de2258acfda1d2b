#!/bin/bash
# Installs the built packages for real and checks what an image engineer
# relies on. Needs root and the shared Debian root fixture.
#  deb: dpkg -i into a copy of a debootstrap Debian 12 root (chroot), the
#       unit enabled (systemctl --root), `prepagent version` runs inside,
#       systemd-analyze verify is clean, dpkg --purge leaves no file behind.
#  rpm: rpm --root -i --nodeps into another copy, files and scriptlets as
#       expected, unit enabled by the preset, rpm -e removes everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/fixtures/lib.sh
bash tests/fixtures/debian-root.sh
base="$PREPAGENT_CACHE/debian-root/root"
deb=$(ls dist/prepagent_*_amd64.deb)
rpm=$(ls dist/prepagent-*.x86_64.rpm)
work=$(mktemp -d /var/tmp/prepagent-pkgtest.XXXXXX)
mounts=()
cleanup() {
	local m
	for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "packaging test FAILED: $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }
# Snapshot of every path (not dpkg/rpm's own databases and logs).
listing() {
	(cd "$1" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \
		-o -path ./var/lib/rpm -o -path ./usr/lib/sysimage/rpm -o -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp \) -prune -o -print | sort)
}

echo "== deb: $deb"
r="$work/deb"
cp -a "$base" "$r"
before=$(listing "$r")
cp "$deb" "$r/tmp/p.deb"
chroot "$r" dpkg -i /tmp/p.deb >/dev/null || fail "dpkg -i"
rm "$r/tmp/p.deb"
[[ "$(systemctl --root="$r" is-enabled prepagent.service)" == enabled ]] || fail "unit not enabled"
ok "systemctl --root: prepagent.service enabled"
v=$(chroot "$r" prepagent version) && [[ "$v" == "prepagent "* ]] || fail "prepagent version in chroot"
ok "prepagent version runs in the chroot: $(chroot "$r" prepagent version)"
for f in /usr/bin/prepagent /etc/prepagent/config.yaml /usr/share/man/man8/prepagent.8.gz \
	/usr/share/bash-completion/completions/prepagent /usr/share/zsh/vendor-completions/_prepagent \
	/usr/share/fish/vendor_completions.d/prepagent.fish /usr/share/doc/prepagent/copyright; do
	[[ -e "$r$f" ]] || fail "missing $f"
done
[[ "$(file -b "$r/usr/bin/prepagent")" == *"ELF 64-bit"*"statically linked"* ]] || fail "binary is not a static ELF"
ok "files in place, binary is a static ELF"
unit=$(ls "$r"/usr/lib/systemd/system/prepagent*.service "$r"/lib/systemd/system/prepagent*.service 2>/dev/null | head -1)
out=$(chroot "$r" systemd-analyze verify "${unit#"$r"}" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z "$out" ]] || echo "$out" | grep -vqi prepagent || fail "systemd-analyze verify warns: $out"
ok "systemd-analyze verify clean"
# A config edit survives an upgrade (conffile), and purge removes it.
echo "# local edit" >>"$r/etc/prepagent/config.yaml"
mkdir -p "$r/var/lib/prepagent/backups"
cp "$deb" "$r/tmp/p.deb"
chroot "$r" dpkg -i /tmp/p.deb >/dev/null </dev/null || fail "reinstall"
rm "$r/tmp/p.deb"
grep -q "# local edit" "$r/etc/prepagent/config.yaml" || fail "conffile edit lost on upgrade"
ok "config edit kept across reinstall"
chroot "$r" dpkg --purge prepagent >/dev/null || fail "dpkg --purge"
after=$(listing "$r")
if [[ "$before" != "$after" ]]; then
	diff <(echo "$before") <(echo "$after") >&2 || true
	fail "purge left files behind"
fi
ok "dpkg --purge leaves no file behind"

echo "== rpm: $rpm"
# Capture first: grep -q closing the pipe early would fail under pipefail.
q=(rpm --dbpath "$work/rpmdb" -qp)  # query without touching the host's rpm database
scripts=$("${q[@]}" --scripts "$rpm")
files=$("${q[@]}" -l "$rpm")
conf=$("${q[@]}" --configfiles "$rpm")
grep -q 'systemctl --no-reload preset prepagent.service' <<<"$scripts" || fail "%post lacks preset"
grep -q 'systemctl --no-reload disable prepagent.service' <<<"$scripts" || fail "%preun lacks disable"
grep -qx /usr/bin/prepagent <<<"$files" || fail "rpm lacks /usr/bin/prepagent"
grep -qx /usr/lib/systemd/system/prepagent.service <<<"$files" || fail "rpm lacks the unit"
grep -qx /usr/share/man/man8/prepagent.8.gz <<<"$files" || fail "rpm lacks the man page"
grep -qx /etc/prepagent/config.yaml <<<"$conf" || fail "config.yaml not a config file"
ok "rpm file list, config files and scriptlets"
r="$work/rpm"
cp -a "$base" "$r"
rpm --root "$r" --initdb
# A RHEL-family root has these from its filesystem package.
mkdir -p "$r/usr/share/licenses" "$r/usr/lib/systemd/system-preset"
before=$(listing "$r")
rpm --root "$r" -i --nodeps "$rpm" || fail "rpm -i"
[[ "$(systemctl --root="$r" is-enabled prepagent.service)" == enabled ]] || fail "rpm: unit not enabled by preset"
chroot "$r" prepagent version >/dev/null || fail "rpm: prepagent version"
ok "rpm --root -i: unit enabled by preset, binary runs"
rpm --root "$r" -e prepagent || fail "rpm -e"
after=$(listing "$r")
if [[ "$before" != "$after" ]]; then
	diff <(echo "$before") <(echo "$after") >&2 || true
	fail "rpm -e left files behind"
fi
ok "rpm -e leaves no file behind"
echo "packaging install test: ok"
