#!/bin/bash
# make lint-packages: build the packages, then lintian (errors and warnings
# fail; accepted warnings live in packaging/lintian/prepagent with a
# reason) and rpmlint (packaging/rpmlint.toml, each filter with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/package.sh >/dev/null
fail=0
# rpmlint unpacks with `rpm2cpio | cpio -id`. nfpm before 2.48 stored
# absolute member names (/usr/bin/prepagent), which GNU cpio writes into the
# host's own /; the payload check below refuses such a package, and a cpio
# first in PATH that forces --no-absolute-filenames keeps rpmlint's
# extraction in its temp dir even so (defence in depth).
safebin=$(mktemp -d)
trap 'rm -rf "$safebin"' EXIT
cat >"$safebin/cpio" <<'EOC'
#!/bin/sh
exec /usr/bin/cpio --no-absolute-filenames "$@"
EOC
chmod 755 "$safebin/cpio"
for deb in dist/*.deb; do
	echo "lintian $deb"
	# TMPDIR: lintian leaves its ELF cache (mldbm-elf-*) in /tmp.
	out=$(TMPDIR="$safebin" lintian --fail-on error,warning "$deb" 2>&1) || fail=1
	grep -v '^running with root' <<<"$out" || true
done
for rpm in dist/*.rpm; do
	# How people look inside an rpm: `rpm2cpio x.rpm | cpio -id` must stay
	# in the current directory, as with rpmbuild's ./usr/... names.
	abs=$(rpm2cpio "$rpm" | /usr/bin/cpio -t --quiet 2>/dev/null | grep -v '^\./' || true)
	if [[ -n $abs ]]; then
		echo "$rpm: payload member names not relative (./...): $(head -n 3 <<<"$abs" | tr '\n' ' ')" >&2
		fail=1
	fi
	echo "rpmlint $rpm"
	# HOME too: rpm's library opens ~/.rpmdb on Debian.
	out=$(HOME="$safebin" PATH="$safebin:$PATH" rpmlint -c packaging/rpmlint.toml "$rpm" 2>&1) || fail=1
	echo "$out" | grep -E ' [EW]: |checked' || true
	echo "$out" | grep -q ' 0 errors, 0 warnings' || fail=1
done
# Man pages (issue 19): each package holds every page, gzip'd under its
# section; each renders without a single warning (man --warnings, and
# groff with every warning on); prepagent(8) names every subcommand; every
# page names every check ID (from the binary's own --help) and the exit
# codes. prepctl(1) is built beside them (prepctl is not in the package).
host=$(go env GOARCH)
ids=$(dist/$host/prepagent check --help | sed -n '/^Check IDs/,/^$/p' | sed -n 's/^  \([a-z0-9-]*\)$/\1/p')
subs=$(dist/$host/prepagent --help | sed -n '/^Available Commands:/,/^$/p' | awk 'NF && $1 != "Available" && $1 != "help" {print $1}')
pages="man8/prepagent.8 man7/prepagent-checks.7 man7/prepagent-readiness.7 man7/prepagent-initramfs.7 man7/prepagent-image.7 man7/prepagent-packaging.7 man7/prepagent-testing.7"
[[ $(wc -w <<<"$ids") -ge 9 && $(wc -w <<<"$subs") -ge 7 ]] || { echo "man: could not read check IDs/subcommands from the binary" >&2; fail=1; }
mandir=$(mktemp -d)
trap 'rm -rf "$safebin" "$mandir"' EXIT
# manpage FILE.gz LABEL [ids]: render and check one page.
manpage() {
	local f=$1 label=$2 text w id
	w=$( { man --warnings -l "$f" >/dev/null; zcat "$f" | groff -man -t -Tutf8 -ww -z; } 2>&1)
	if [[ -n $w ]]; then
		echo "$label: renders with warnings: $(head -n 3 <<<"$w")" >&2
		fail=1
	fi
	text=$(MANWIDTH=400 man -l "$f" 2>/dev/null | col -bx)
	for pat in "0: ready" "1: not ready" "2: could not run" "3: wait timed out"; do
		[[ $3 == prepctl ]] && break
		grep -qF -- "$pat" <<<"$text" || { echo "$label: no exit code line \"$pat\"" >&2; fail=1; }
	done
	if [[ $3 == prepctl ]]; then
		grep -qE 'Exit codes.*0 done.*1 not ready.*2 error' <<<"$(tr '\n' ' ' <<<"$text")" || { echo "$label: no exit codes" >&2; fail=1; }
		return
	fi
	for id in $ids; do
		grep -qw -- "$id" <<<"$text" || { echo "$label: check ID $id missing" >&2; fail=1; }
	done
	if [[ $3 == subs ]]; then
		for id in $subs; do
			grep -q -- "prepagent $id" <<<"$text" || { echo "$label: subcommand $id missing" >&2; fail=1; }
		done
	fi
}
manpage dist/man/prepctl.1.gz prepctl.1 prepctl
for pkg in dist/*.deb dist/*.rpm; do
	for p in $pages; do
		rm -f "$mandir/page.gz"
		m=./usr/share/man/$p.gz
		case $pkg in
		*.deb) dpkg-deb --fsys-tarfile "$pkg" | tar -xO "$m" >"$mandir/page.gz" 2>/dev/null || true ;;
		*.rpm) rpm2cpio "$pkg" | (cd "$mandir" && /usr/bin/cpio -i --quiet --to-stdout "$m" >page.gz 2>/dev/null) || true ;;
		esac
		if ! gzip -t "$mandir/page.gz" 2>/dev/null; then
			echo "$pkg: no gzip'd man page $m" >&2
			fail=1
			continue
		fi
		kind=""
		[[ $p == man8/prepagent.8 ]] && kind=subs
		manpage "$mandir/page.gz" "$(basename "$pkg"): $p" "$kind"
	done
done
echo "man pages: $(wc -w <<<"$pages") per package checked ($(wc -w <<<"$ids") check IDs, $(wc -w <<<"$subs") subcommands), prepctl.1"
((fail == 0)) || { echo "lint-packages: FAILED" >&2; exit 1; }
echo "lint-packages: ok"
