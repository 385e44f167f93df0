#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the real-kernel
# integration tests (they need root: they create namespaces and links, all
# named with a per-test prefix and removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --all 2>&1
leaks=$(ip netns list | grep -c '^z' || true)
if [ "$leaks" != 0 ]; then
  echo "test.sh: $leaks test namespaces were left behind:" >&2
  ip netns list >&2
  exit 1
fi
