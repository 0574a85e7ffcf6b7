#!/usr/bin/env bash
# Rebuild the real-kernel lab captures and captures/truth.json.
#   sudo captures/lab/build.sh [OUT_DIR [--only SCENARIO]...]   (default OUT_DIR: captures/)
# Needs root, iproute2 (ip netns), iptables (nft or legacy backend), tcpdump, dumpcap, dnsmasq, dig and openssl.
# Every namespace it creates is deleted on exit, also on failure or Ctrl-C (trap below).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(dirname "$here")}
prefix=${NETRESET_LAB_PREFIX:-nr-}
cleanup() { python3 "$here/lab.py" teardown --prefix "$prefix"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
python3 "$here/lab.py" build --out "$out" --prefix "$prefix" "${@:2}"
