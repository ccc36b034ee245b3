#!/usr/bin/env bash
# Installs the C API into PREFIX: lib/libbenchfs.so, lib/libbenchfs.a,
# include/benchfs.h and lib/pkgconfig/benchfs.pc (its directories rewritten to
# PREFIX), so that `PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config benchfs` works.
#
# Usage: scripts/install.sh [--profile release|debug|NAME] [--no-build] [--no-shared] PREFIX
#   --profile    cargo profile to build and install (default: release)
#   --no-build   install what target/ already holds instead of running cargo build
#   --no-shared  install only the static archive: with no .so beside it, the linker
#                takes libbenchfs.a and `pkg-config --static --libs benchfs` links it
set -euo pipefail

usage() {
  sed -n '6,10s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

profile=release
build=1
shared=1
prefix=""
while (($#)); do
  case "$1" in
    --profile) (($# >= 2)) || usage; profile=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-shared) shared=0; shift ;;
    -h | --help) usage ;;
    -*) echo "install.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$prefix" ]] || usage; prefix=$1; shift ;;
  esac
done
[[ -n "$prefix" ]] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
# Cargo calls the dev profile's directory "debug"; every other profile keeps its name.
profile_dir=$profile
[[ "$profile" == dev ]] && profile_dir=debug
[[ "$profile" == debug ]] && profile=dev
libdir_src="${CARGO_TARGET_DIR:-$root/target}/$profile_dir"

if ((build)); then
  (cd "$root" && cargo build --lib --profile "$profile")
fi
pc_src="$libdir_src/pkgconfig/benchfs.pc"
needed=("$libdir_src/libbenchfs.a" "$pc_src")
((shared)) && needed+=("$libdir_src/libbenchfs.so")
for f in "${needed[@]}"; do
  [[ -f "$f" ]] || { echo "install.sh: $f is missing: build first (without --no-build)" >&2; exit 1; }
done

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 644 "$libdir_src/libbenchfs.a" "$prefix/lib/"
if ((shared)); then
  install -m 755 "$libdir_src/libbenchfs.so" "$prefix/lib/"
else
  rm -f "$prefix/lib/libbenchfs.so"
fi
install -m 644 "$root/include/benchfs.h" "$prefix/include/"
# Everything else in the .pc is already relative to these three variables; the
# single-quoted ${prefix} is pkg-config's variable, not the shell's.
# shellcheck disable=SC2016
sed -e "s|^prefix=.*|prefix=$prefix|" \
  -e 's|^libdir=.*|libdir=${prefix}/lib|' \
  -e 's|^includedir=.*|includedir=${prefix}/include|' \
  "$pc_src" >"$prefix/lib/pkgconfig/benchfs.pc"
echo "installed libbenchfs into $prefix (PKG_CONFIG_PATH=$prefix/lib/pkgconfig)"
