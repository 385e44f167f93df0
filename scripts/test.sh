#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the integration
# tests on the real kernel and a real Open vSwitch (they need root: they
# create namespaces, links and OVS bridges, all named with a per-test prefix
# and removed afterwards). Open vSwitch runs as swctl's private sandbox in
# /run/swctl/ovs-test, started here and stopped at the end, never as the
# system service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --check
cargo clippy --all-targets --features test-hooks -- -D warnings
cargo clippy --all-targets -- -D warnings
# the test suite's build has the test hooks (SWCTL_TEST_KILL_AT); a release build never does
cargo build --quiet --features test-hooks
SANDBOX=/run/swctl/ovs-test
stop_sandbox() { target/debug/swctl ovs stop --dir "$SANDBOX" >/dev/null 2>&1 || true; }
trap stop_sandbox EXIT
# a fresh database every run: nothing from an earlier (failed) run survives
stop_sandbox
rm -rf "$SANDBOX"
target/debug/swctl ovs start --dir "$SANDBOX"
export SWCTL_OVSDB="unix:$SANDBOX/db.sock"
# the Debian package, built as a release would be (tests/package.rs installs
# and removes it)
SWCTL_DEB=$(scripts/package.sh)
export SWCTL_DEB
# what a test cannot run on this machine is written here and said at the end
export SWCTL_TEST_NOTES=/tmp/swctl-test-notes.txt
rm -f "$SWCTL_TEST_NOTES"
# test namespaces already here (a run killed before it cleaned up) are said,
# not counted as this run's leaks
stale=$(ip netns list | awk '/^z/ { print $1 }' | sort)
if [ -n "$stale" ]; then
  echo "test.sh: test namespaces from an earlier run (left alone): $(echo $stale)" >&2
fi
# no doc tests (there are none): the last runner line must count real tests
cargo test --features test-hooks --lib --bins --tests 2>&1 | tee /tmp/swctl-test.log
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;/) p += $(i-1); if ($i ~ /^failed;/) f += $(i-1) } } END { print p+0, f+0 }' /tmp/swctl-test.log)
leaks=$(comm -13 <(echo "$stale") <(ip netns list | awk '/^z/ { print $1 }' | sort) | grep -c . || true)
if [ "$leaks" != 0 ]; then
  echo "test.sh: $leaks test namespaces were left behind:" >&2
  ip netns list >&2
  exit 1
fi
if [ -s "$SWCTL_TEST_NOTES" ]; then
  echo "not run on this machine:"
  sed 's/^/  - /' "$SWCTL_TEST_NOTES"
fi
echo "swctl: $passed passed, $failed failed"
