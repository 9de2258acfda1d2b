#!/bin/bash
# fuzz.sh PKG TARGET [EXECS]: a short fuzz pass for CI, bounded by a count of
# executions, not by time. Go 1.26's fuzz coordinator can fail a wall-clock
# -fuzztime run with a bare "context deadline exceeded" and no crasher when
# the machine is loaded (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race. Minimisation of a new input is bounded the same way.
set -euo pipefail
pkg=$1 target=$2 execs=${3:-60000}
exec go test -run '^$' -fuzz "^${target}\$" -fuzztime "${execs}x" -fuzzminimizetime 200x "$pkg"
