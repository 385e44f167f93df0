#!/usr/bin/env bash
# Installs what is missing, builds swctl, and runs a demo topology (S4: three
# namespaces on a Linux bridge), pings across it, shows it, and removes it.
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
$S ns del demo-h1 demo-h2 demo-h3
$S switch del demo-br
