#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test tools, checks formatting
# and lints, then runs every test (unit, multi-server integration, C API, real
# FUSE mounts). Tests that need software we cannot ship (IOR) say "skipped" unless
# BENCHFS_IOR_BIN / BENCHFS_MDTEST_BIN point at built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
