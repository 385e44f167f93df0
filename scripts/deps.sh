#!/usr/bin/env bash
# Install what swctl's tests and demo need from Debian's packages, if missing.
# Open vSwitch is installed but never started as a system service: swctl and
# the tests run a private sandbox (a policy-rc.d keeps the package's init
# script from starting one during installation). The same for OpenSSH's
# server: the test of machines reached over SSH starts its own sshd inside a
# simulated machine. And OVN's (ovn-central, ovn-host): swctl starts a private
# central (Northbound, Southbound, ovn-northd) and each simulated machine's
# ovn-controller itself.
set -euo pipefail
need=()
for pair in ip:iproute2 ping:iputils-ping ethtool:ethtool ovs-vsctl:openvswitch-switch timeout:coreutils sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client ovn-nbctl:ovn-central ovn-controller:ovn-host ovs-testcontroller:openvswitch-testcontroller curl:curl strace:strace iperf3:iperf3 tcpdump:tcpdump; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# FRR's daemons (examples/frr-ospf.toml, tests/frr.rs) are not on PATH
[ -x /usr/lib/frr/zebra ] && [ -x /usr/lib/frr/ospfd ] || need+=(frr)
# the live view's test drives the page in Debian's headless Chromium
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# the API tests' WebSocket client (tests/ws_client.py) runs on Debian's python3
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing ${need[*]}; run as root to install them" >&2
    exit 1
  fi
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "deps.sh: cargo (Rust) is needed to build swctl" >&2
  exit 1
fi
