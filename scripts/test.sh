#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the real-kernel
# integration tests (they need root: they create namespaces and links, all
# named with a per-test prefix and removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# no doc tests (there are none): the last runner line must count real tests
cargo test --lib --bins --tests 2>&1 | tee /tmp/swctl-test.log
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;/) p += $(i-1); if ($i ~ /^failed;/) f += $(i-1) } } END { print p+0, f+0 }' /tmp/swctl-test.log)
leaks=$(ip netns list | grep -c '^z' || true)
if [ "$leaks" != 0 ]; then
  echo "test.sh: $leaks test namespaces were left behind:" >&2
  ip netns list >&2
  exit 1
fi
echo "swctl: $passed passed, $failed failed"
