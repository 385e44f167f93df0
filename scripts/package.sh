#!/usr/bin/env bash
# Build swctl's Debian package with dpkg-deb: the release binary, its man
# pages (`swctl man`), bash/zsh/fish completions in their standard places,
# and the systemd socket + service of `swctl serve`. Prints the .deb's path.
#   scripts/package.sh [OUTDIR]      (default: target/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/debian}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/swctl"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -Dm755 "$bin" "$stage/usr/bin/swctl"
mkdir -p "$stage/usr/share/man/man1"
"$bin" man --dir "$stage/usr/share/man/man1" >/dev/null
gzip -9n "$stage"/usr/share/man/man1/*.1
install -d "$stage/usr/share/bash-completion/completions" \
  "$stage/usr/share/zsh/vendor-completions" "$stage/usr/share/fish/vendor_completions.d"
"$bin" completions bash > "$stage/usr/share/bash-completion/completions/swctl"
"$bin" completions zsh > "$stage/usr/share/zsh/vendor-completions/_swctl"
"$bin" completions fish > "$stage/usr/share/fish/vendor_completions.d/swctl.fish"
install -Dm644 packaging/swctl.socket "$stage/lib/systemd/system/swctl.socket"
install -Dm644 packaging/swctl.service "$stage/lib/systemd/system/swctl.service"
install -Dm644 README.md "$stage/usr/share/doc/swctl/README.md"
size=$(du -sk "$stage" | cut -f1)
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: swctl
Version: $version
Architecture: $arch
Maintainer: swctl developers <swctl@localhost>
Installed-Size: $size
Depends: libc6, iproute2
Recommends: openvswitch-switch, iputils-ping
Suggests: ovn-central, ovn-host, frr, tcpdump
Section: net
Priority: optional
Homepage: https://github.com/swctl/swctl
Description: switching manager for Linux network namespaces
 Labs of network namespaces joined by Linux bridges, Open vSwitch or OVN,
 described in a topology file and made, checked, repaired and destroyed
 natively (rtnetlink, OVSDB, OpenFlow), or changed one command at a time;
 a JSON-RPC API (swctl serve, socket-activated by swctl.socket).
CONTROL
# the units are the admin's to enable (`systemctl enable --now
# swctl.socket`); systemd learns of them, where it runs
cat > "$stage/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
POST
cat > "$stage/DEBIAN/postrm" <<'POST'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
POST
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/swctl_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "$deb"
