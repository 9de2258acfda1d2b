#!/bin/bash
# nic-config (pkg/netcfg): short fuzz passes over the ifcfg, interfaces(5),
# NetworkManager keyfile and netplan parsers and editors (parse, render back
# byte for byte, normalise twice = once). No fixture to build: the
# blackbox tests (tests/blackbox/netcfg_test.go) use the text trees in
# pkg/netcfg/testdata, ip(8) network namespaces and the real netplan.
set -euo pipefail
cd "$(dirname "$0")/../.."
for target in FuzzIfcfg FuzzInterfaces FuzzKeyfile FuzzNetplan; do
	go test -run '^$' -fuzz "^${target}\$" -fuzztime 20s -fuzzminimizetime 3s ./pkg/netcfg
done
