#!/bin/bash
# nic-config (pkg/netcfg): builds the fixtures the real-stack blackbox test
# (TestNetcfgRealStackUnexpectedName) needs, cached: the shared Debian 12
# root (ifupdown, isc-dhcp-client, systemd-networkd) and a copy of it with
# NetworkManager (tests/fixtures/netcfg-nm-root.sh, ~90 s once). Then short
# fuzz passes over the shell-assignment and INI line models (pkg/shellvar,
# pkg/ini) and the ifcfg, interfaces(5), NetworkManager keyfile and netplan
# parsers and editors (parse, render back byte for byte, normalise twice =
# once).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/fixtures/debian-root.sh
bash tests/fixtures/netcfg-nm-root.sh
bash scripts/fuzz.sh ./pkg/shellvar FuzzParse
bash scripts/fuzz.sh ./pkg/ini FuzzParse
for target in FuzzIfcfg FuzzInterfaces FuzzKeyfile FuzzNetplan; do
	bash scripts/fuzz.sh ./pkg/netcfg "$target"
done
