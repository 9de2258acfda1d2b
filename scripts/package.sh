#!/bin/bash
# make package: build static binaries for amd64 and arm64, generate the
# completions from the CLI itself and the man pages from docs/, and build deb + rpm for each
# architecture with nfpm (pinned in tools/go.mod; nothing is downloaded).
# Output: dist/prepagent_<ver>_<arch>.deb, dist/prepagent-<ver>-1.<arch>.rpm
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(bash scripts/version.sh)
rm -rf dist
mkdir -p dist/man dist/completions
for arch in amd64 arm64; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
		-ldflags "-s -w -X main.version=$version" -o "dist/$arch/prepagent" ./cmd/prepagent
done
# Completions and the option list come from the host-arch binary; the man
# pages are built from docs/ (one source) and that list by cmd/mkman,
# gzip'd without name or time (Debian policy, reproducible).
host=$(go env GOARCH)
"dist/$host/prepagent" gen-docs --options dist/options.md --completions dist/completions
go run ./cmd/mkman -docs docs -options dist/options.md -version "$version" \
	-date "$(date -u -d @"$(git log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%d)" -out dist/man
# Debian wants its own changelog format (lintian checks it).
{
	echo "prepagent ($version-1) unstable; urgency=medium"
	echo
	echo "  * Upstream release; see /usr/share/doc/prepagent/README.md."
	echo
	echo " -- prepagent maintainers <prepagent@users.noreply.github.com>  $(date -R -d @"$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >dist/changelog.Debian.gz
# rpm wants a %changelog whose version matches; nfpm's changelog option is
# global and its Debian rendering is not a valid Debian changelog, so only
# the rpm run gets it, through a copy of the config.
cat >dist/changelog.yml <<EOC
- semver: $version-1
  date: $(date -u -d @"$(git log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%dT%H:%M:%SZ)
  packager: prepagent maintainers <prepagent@users.noreply.github.com>
  changes:
    - note: Upstream release; see /usr/share/doc/prepagent/CHANGELOG.md.
EOC
# docs TYPE: content entries for the man pages, the cloud-init examples
# and the README; TYPE is "doc" for rpm (%doc) and empty for deb, where
# nfpm drops entries of type doc.
docs() {
	local f type=""
	[[ -n "$1" ]] && type="    type: $1\n"
	# prepagent(8) and its section 7 pages; prepctl(1) is built too but
	# prepctl is not in this package.
	for f in dist/man/prepagent*.gz; do
		sec=${f%.gz}
		sec=${sec##*.}
		printf "  - src: %s\n    dst: /usr/share/man/man%s/%s\n$type    file_info: {mode: 0644}\n" "$f" "$sec" "$(basename "$f")"
	done
	for f in packaging/cloud-init/*; do
		printf "  - src: %s\n    dst: /usr/share/doc/prepagent/examples/cloud-init/%s\n$type    file_info: {mode: 0644}\n" "$f" "$(basename "$f")"
	done
	printf "  - src: README.md\n    dst: /usr/share/doc/prepagent/README.md\n$type    file_info: {mode: 0644}\n"
}
{ cat nfpm.yaml; docs ""; } >dist/nfpm-deb.yaml
{ cat nfpm.yaml; docs doc; echo "changelog: dist/changelog.yml"; } >dist/nfpm-rpm.yaml
# Build nfpm for this host once; GOARCH below is only for nfpm.yaml.
nfpm=$(go tool -modfile=tools/go.mod -n nfpm)
for arch in amd64 arm64; do
	# nfpm does not expand variables in src paths: stage the binary.
	rm -rf dist/current && mkdir -p dist/current && cp "dist/$arch/prepagent" dist/current/
	for fmt in deb rpm; do
		cfg=dist/nfpm-$fmt.yaml
		GOARCH=$arch VERSION=$version "$nfpm" package \
			--config "$cfg" --packager "$fmt" --target dist/ >/dev/null
	done
done
rm -rf dist/current
ls -1 dist/*.deb dist/*.rpm
