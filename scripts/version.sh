#!/bin/bash
# Prints the package version: from the nearest v* tag (v1.2.3-4-gabc ->
# 1.2.3+4.gabc), else 0.1.0~git<date>.<hash>, so deb and rpm both sort it
# and lintian accepts it (a version must start with a digit).
set -euo pipefail
cd "$(dirname "$0")/.."
if d=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
	d=${d#v}
	if [[ "$d" == *-*-g* ]]; then
		base=${d%%-*}; rest=${d#*-}
		d="$base+${rest//-/.}"
	fi
	echo "$d"
elif h=$(git rev-parse --short=8 HEAD 2>/dev/null); then
	echo "0.1.0~git$(git log -1 --format=%cd --date=format:%Y%m%d HEAD).$h"
else
	echo "0.1.0~dev"
fi
