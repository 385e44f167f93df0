#!/usr/bin/env bash
# Installs what is missing, builds swctl, and runs two demo topologies:
# S4 (three namespaces on a Linux bridge) and S6 (two namespaces on Open
# vSwitch by internal ports, on swctl's private OVS sandbox); pings across
# each, shows them, and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q
S=target/release/swctl
set -x
$S ns add demo-h1 demo-h2 demo-h3
$S --backend bridge switch add demo-br
$S attach demo-h1 demo-br --ip 198.18.0.1/24
$S attach demo-h2 demo-br --ip 198.18.0.2/24
$S attach demo-h3 demo-br --ip 198.18.0.3/24
$S ns exec demo-h1 -- ping -c 2 198.18.0.3
$S show
$S switch del demo-br
set +x
# Open vSwitch: only where no other ovs-vswitchd runs in this namespace
if ! pgrep -x ovs-vswitchd >/dev/null; then
  set -x
  $S ovs start --dir /run/swctl/ovs-demo
  export SWCTL_OVSDB=unix:/run/swctl/ovs-demo/db.sock
  $S --backend ovs switch add demo-ovs
  $S attach demo-h1 demo-ovs --ip 198.18.1.1/24
  $S attach demo-h2 demo-ovs --ip 198.18.1.2/24 --via veth
  $S ns exec demo-h1 -- ping -c 2 198.18.1.2
  $S show
  $S switch del demo-ovs
  $S ovs stop --dir /run/swctl/ovs-demo
  set +x
fi
set -x
$S ns del demo-h1 demo-h2 demo-h3
