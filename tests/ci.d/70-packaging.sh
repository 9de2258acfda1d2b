#!/bin/bash
# Build, lint and really install the deb and rpm packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/lint-packages.sh
bash tests/packaging/install-test.sh
