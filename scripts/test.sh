#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test tools, checks formatting
# and lints, then runs every test (unit, multi-server integration, C API, real
# FUSE mounts). Tests that need software we cannot ship (IOR) say "skipped" unless
# BENCHFS_IOR_BIN / BENCHFS_MDTEST_BIN point at built binaries.
#
# Every other tool the tests use is installed by setup.sh, so none may be skipped:
# BENCHFS_REQUIRE=all turns "skipped: <tool> missing" into a failure (see
# benchfs-testkit/src/require.rs). That includes what needs root: FUSE mounts, network
# namespaces, a tmpfs mount. Set BENCHFS_REQUIRE= (empty) or a shorter list to run
# where some of that is impossible.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

# A clean clone gains nothing from incremental caches, and they double the
# target directory; CI's disk has run out before.
if [[ -n "${CI:-}" ]]; then export CARGO_INCREMENTAL=0; fi
df -h . | sed 's/^/disk: /'

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
export BENCHFS_REQUIRE="${BENCHFS_REQUIRE-all}"
cargo test --workspace
