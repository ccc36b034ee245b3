#!/usr/bin/env bash
# One command from a fresh machine to a mounted BenchFS: installs FUSE, builds in
# release mode, and mounts an embedded single-node BenchFS at MOUNTPOINT
# (default /mnt/benchfs). Unmount with `fusermount3 -u MOUNTPOINT`.
set -euo pipefail
cd "$(dirname "$0")/.."
mnt="${1:-/mnt/benchfs}"

scripts/setup.sh
cargo build --release --workspace --quiet

mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
  echo "quickstart: $mnt is already a mount point; unmount it first (fusermount3 -u $mnt)" >&2
  exit 1
fi
# Returns once the mount is live; the server runs inside the benchfs-fuse process.
target/release/benchfs-fuse "$mnt"
echo "quickstart: BenchFS mounted at $mnt"
df -h "$mnt"
echo "hello from BenchFS" > "$mnt/hello.txt"
cat "$mnt/hello.txt"
ls -l "$mnt"
