#!/bin/bash
# make lint-packages: build the packages, then lintian (errors and warnings
# fail; accepted warnings live in packaging/lintian/prepagent with a
# reason) and rpmlint (packaging/rpmlint.toml, each filter with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/package.sh >/dev/null
fail=0
# rpmlint unpacks with `rpm2cpio | cpio -id`, and nfpm stores absolute
# member names (/usr/bin/prepagent): GNU cpio would write them into the
# host's own /. A cpio first in PATH that forces --no-absolute-filenames
# keeps the extraction in rpmlint's temp dir (and lets rpmlint see the files).
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
	echo "rpmlint $rpm"
	# HOME too: rpm's library opens ~/.rpmdb on Debian.
	out=$(HOME="$safebin" PATH="$safebin:$PATH" rpmlint -c packaging/rpmlint.toml "$rpm" 2>&1) || fail=1
	echo "$out" | grep -E ' [EW]: |checked' || true
	echo "$out" | grep -q ' 0 errors, 0 warnings' || fail=1
done
((fail == 0)) || { echo "lint-packages: FAILED" >&2; exit 1; }
echo "lint-packages: ok"
