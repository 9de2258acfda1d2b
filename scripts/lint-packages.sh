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
	out=$(lintian --fail-on error,warning "$deb" 2>&1) || fail=1
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
((fail == 0)) || { echo "lint-packages: FAILED" >&2; exit 1; }
echo "lint-packages: ok"
