#!/usr/bin/env bash
# install-into-ior.sh IOR_SRC_DIR | IO500_DIR
#
# Adds the BenchFS backend (aiori-BENCHFS.c, `ior -a BENCHFS`) to an IOR
# source tree that you already have (https://github.com/hpc/ior), or to the
# one an IO500 checkout builds (IO500_DIR/build/ior, made by its prepare.sh).
# It:
#   - copies aiori-BENCHFS.c into IOR_SRC_DIR/src,
#   - adds a --with-benchfs option to configure.ac (pkg-config module
#     "benchfs", with an rpath to its libdir),
#   - adds aiori-BENCHFS.c to src/Makefile.am under USE_BENCHFS_AIORI,
#   - declares benchfs_aiori in src/aiori.h and lists it in src/aiori.c,
#   - adds BENCHFS to the APIs for which src/ior.c honours -e (fsync).
# Every edit carries a marker, so running the script again changes nothing.
# It neither downloads nor builds IOR; it prints the commands to build it.
set -euo pipefail

readonly MARK="BenchFS backend (added by BenchFS ior_integration/install-into-ior.sh)"
readonly END_MARK="end of BenchFS backend"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly script_dir
readonly backend_src="$script_dir/aiori-BENCHFS.c"

die() {
    printf 'install-into-ior.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat <<EOF
usage: $(basename "$0") IOR_SRC_DIR | IO500_DIR

Adds the BenchFS backend to the IOR source tree IOR_SRC_DIR (a checkout of
https://github.com/hpc/ior), or to IO500_DIR/build/ior when given an IO500
checkout on which prepare.sh has run once. Safe to run more than once.
EOF
}

if [[ $# -ne 1 ]]; then
    usage >&2
    exit 2
fi
case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
esac

ior_dir=$1
[[ -d "$ior_dir" ]] || die "'$ior_dir' is not a directory"
ior_dir=$(cd "$ior_dir" && pwd)
# An IO500 checkout: its prepare.sh clones IOR into build/ior and builds it there.
io500_dir=
if [[ -f "$ior_dir/prepare.sh" && -f "$ior_dir/src/phase_ior.c" ]]; then
    io500_dir=$ior_dir
    [[ -d "$io500_dir/build/ior" ]] ||
        die "'$io500_dir' is an IO500 checkout without build/ior: run its ./prepare.sh once first"
    ior_dir=$io500_dir/build/ior
fi
[[ -f "$backend_src" ]] || die "cannot find $backend_src (run the script from a BenchFS checkout)"

# --- is this an IOR source tree? -------------------------------------------
missing=()
for f in configure.ac src/aiori.c src/aiori.h src/Makefile.am; do
    [[ -f "$ior_dir/$f" ]] || missing+=("$f")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    die "'$ior_dir' does not look like an IOR source tree: missing ${missing[*]}"
fi
if ! grep -q 'available_aiori' "$ior_dir/src/aiori.c"; then
    die "'$ior_dir' does not look like an IOR source tree: src/aiori.c has no available_aiori[] table"
fi

# All edits are prepared in a scratch directory first and only copied over
# the originals once every one of them succeeded.
work=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-ior.XXXXXX")
trap 'rm -rf "$work"' EXIT

changed=()

# stage FILE: the edited copy of FILE goes to $work/<name>
staged() {
    printf '%s/%s' "$work" "$(basename "$1")"
}

# --- configure.ac ------------------------------------------------------------
# The block goes right before AC_CONFIG_FILES (or AC_OUTPUT), i.e. at top
# level after all other backends.
edit_configure() {
    local f="$ior_dir/configure.ac" out
    out=$(staged "$f")
    if grep -qF "$MARK" "$f"; then
        return 0
    fi
    cat >"$work/configure.block" <<'EOF'
# BenchFS backend (added by BenchFS ior_integration/install-into-ior.sh)
AC_ARG_WITH([benchfs],
        [AS_HELP_STRING([--with-benchfs@<:@=DIR@:>@],
           [support IO with the BenchFS backend; needs the pkg-config module benchfs (DIR: where benchfs.pc lives) @<:@default=no@:>@])],
        [],
        [with_benchfs=no])
AS_IF([test "x$with_benchfs" != xno], [
        AS_IF([test "x$with_benchfs" != xyes && test -d "$with_benchfs"],
              [PKG_CONFIG_PATH="$with_benchfs:$with_benchfs/pkgconfig:$with_benchfs/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
               export PKG_CONFIG_PATH])
        PKG_CHECK_MODULES([BENCHFS], [benchfs])
        BENCHFS_LIBDIR=`$PKG_CONFIG --variable=libdir benchfs`
        AS_IF([test -n "$BENCHFS_LIBDIR"], [BENCHFS_RPATH="-Wl,-rpath,$BENCHFS_LIBDIR"])
        AC_DEFINE([USE_BENCHFS_AIORI], [], [Build BenchFS backend AIORI])
])
AC_SUBST([BENCHFS_RPATH])
AM_CONDITIONAL([USE_BENCHFS_AIORI], [test "x$with_benchfs" != xno])
# end of BenchFS backend

EOF
    awk -v blockfile="$work/configure.block" '
        BEGIN {
            while ((getline line < blockfile) > 0) block = block line "\n"
            done = 0
        }
        !done && /^AC_CONFIG_FILES[[:space:]]*\(/ { printf "%s", block; done = 1 }
        !done && /^AC_OUTPUT/ { printf "%s", block; done = 1 }
        { print }
        END { if (!done) exit 3 }
    ' "$f" >"$out" || die "configure.ac: found neither AC_CONFIG_FILES nor AC_OUTPUT to put the BenchFS block before"
    changed+=(configure.ac)
}

# --- src/Makefile.am -----------------------------------------------------------
# The block goes before "ior_SOURCES += $(extraSOURCES)", where the backend
# blocks end; failing that, after the USE_POSIX_AIORI block.
edit_makefile_am() {
    local f="$ior_dir/src/Makefile.am" out
    out=$(staged "$f")
    if grep -qF "$MARK" "$f"; then
        return 0
    fi
    cat >"$work/makefile.block" <<'EOF'
# BenchFS backend (added by BenchFS ior_integration/install-into-ior.sh)
if USE_BENCHFS_AIORI
extraSOURCES  += aiori-BENCHFS.c
extraCPPFLAGS += @BENCHFS_CFLAGS@
extraLDFLAGS  += @BENCHFS_RPATH@
extraLDADD    += @BENCHFS_LIBS@
endif
# end of BenchFS backend

EOF
    awk -v blockfile="$work/makefile.block" '
        BEGIN {
            while ((getline line < blockfile) > 0) block = block line "\n"
            n = 0; anchor = 0; posix_end = 0; in_posix = 0
        }
        {
            lines[++n] = $0
            if (!anchor && $0 ~ /^ior_SOURCES[[:space:]]*\+=[[:space:]]*\$\(extraSOURCES\)/) anchor = n
            if ($0 ~ /^if[[:space:]]+USE_POSIX_AIORI[[:space:]]*$/) in_posix = 1
            else if (in_posix && $0 ~ /^endif/) { posix_end = n; in_posix = 0 }
        }
        END {
            if (anchor) {
                for (i = 1; i <= n; i++) { if (i == anchor) printf "%s", block; print lines[i] }
            } else if (posix_end) {
                for (i = 1; i <= n; i++) { print lines[i]; if (i == posix_end) printf "\n%s", block }
            } else {
                exit 3
            }
        }
    ' "$f" >"$out" || die "src/Makefile.am: found neither 'ior_SOURCES += \$(extraSOURCES)' nor an 'if USE_POSIX_AIORI' block"
    changed+=(src/Makefile.am)
}

# --- src/aiori.h ---------------------------------------------------------------
# The declaration goes after the last "extern ior_aiori_t ...;".
edit_aiori_h() {
    local f="$ior_dir/src/aiori.h" out
    out=$(staged "$f")
    if grep -qF "$MARK" "$f"; then
        return 0
    fi
    awk -v mark="$MARK" '
        { lines[++n] = $0; if ($0 ~ /^extern[[:space:]]+ior_aiori_t[[:space:]]/) last = n }
        END {
            if (!last) exit 3
            for (i = 1; i <= n; i++) {
                print lines[i]
                if (i == last) {
                    print "/* " mark " */"
                    print "extern ior_aiori_t benchfs_aiori;"
                }
            }
        }
    ' "$f" >"$out" || die "src/aiori.h: no 'extern ior_aiori_t ...;' declarations found"
    changed+=(src/aiori.h)
}

# --- src/aiori.c ---------------------------------------------------------------
# The entry goes right before the NULL that ends available_aiori[].
edit_aiori_c() {
    local f="$ior_dir/src/aiori.c" out
    out=$(staged "$f")
    if grep -qF "$MARK" "$f"; then
        return 0
    fi
    awk -v mark="$MARK" -v endmark="$END_MARK" '
        BEGIN { in_table = 0; done = 0 }
        !done && /available_aiori[[:space:]]*\[[[:space:]]*\][[:space:]]*=/ { in_table = 1 }
        in_table && !done && /^[[:space:]]*NULL[[:space:]]*,?[[:space:]]*$/ {
            print "/* " mark " */"
            print "#ifdef USE_BENCHFS_AIORI"
            print "        &benchfs_aiori,"
            print "#endif"
            print "/* " endmark " */"
            done = 1; in_table = 0
        }
        { print }
        END { if (!done) exit 3 }
    ' "$f" >"$out" || die "src/aiori.c: cannot find the NULL that ends available_aiori[]"
    changed+=(src/aiori.c)
}

# --- src/ior.c (optional) -----------------------------------------------------
# ior.c resets -e (fsync) to off unless the API is on a fixed list; BenchFS
# implements fsync, so it joins the list. If that check ever changes shape,
# the edit is skipped (IOR then only warns that -e is ignored).
edit_ior_c() {
    local f="$ior_dir/src/ior.c" out
    out=$(staged "$f")
    [[ -f "$f" ]] || return 0
    if grep -qF "$MARK" "$f"; then
        return 0
    fi
    if ! grep -q 'fsync() not supported in selected backend' "$f"; then
        echo "note: src/ior.c has no fsync() API list; left unchanged (-e may be ignored)" >&2
        return 0
    fi
    if awk -v mark="$MARK" '
        BEGIN { done = 0 }
        { print }
        !done && /^[[:space:]]*if[[:space:]]*\(+strcasecmp\(test->api,[[:space:]]*"POSIX"\)[[:space:]]*!=[[:space:]]*0\)[[:space:]]*$/ {
            print "            && (strcasecmp(test->api, \"BENCHFS\") != 0) /* " mark " */"
            done = 1
        }
        END { if (!done) exit 3 }
    ' "$f" >"$out"; then
        changed+=(src/ior.c)
    else
        echo "note: src/ior.c: fsync() API list not recognised; left unchanged (-e may be ignored)" >&2
    fi
}

edit_configure
edit_makefile_am
edit_aiori_h
edit_aiori_c
edit_ior_c

# --- apply -------------------------------------------------------------------
# cat > keeps the files' modes and ownership.
for rel in ${changed[@]+"${changed[@]}"}; do
    edited=$(staged "$rel")
    cat "$edited" >"$ior_dir/$rel"
done
if ! cmp -s "$backend_src" "$ior_dir/src/aiori-BENCHFS.c"; then
    cp "$backend_src" "$ior_dir/src/aiori-BENCHFS.c"
    changed+=(src/aiori-BENCHFS.c)
fi

if [[ ${#changed[@]} -eq 0 ]]; then
    echo "BenchFS backend already installed in $ior_dir; nothing changed."
else
    echo "BenchFS backend installed in $ior_dir; changed: ${changed[*]}"
fi

benchfs_root=$(cd "$script_dir/.." && pwd)
if [[ -n $io500_dir ]]; then
    cat <<EOF

Next, rebuild IO500 with the backend (prepare.sh builds build/ior again with
the flag; benchfs.pc comes with libbenchfs, e.g. $benchfs_root/target/release/pkgconfig):

  cd $io500_dir
  PKG_CONFIG_PATH=$benchfs_root/target/release/pkgconfig IOR_EXTRA_CONFIGURE_FLAGS=--with-benchfs ./prepare.sh

Then run it against BenchFS with $benchfs_root/bench/io500.sh.
EOF
    exit 0
fi
cat <<EOF

Next, build IOR with the backend (benchfs.pc comes with libbenchfs, e.g.
$benchfs_root/target/release/pkgconfig after 'cargo build --release'):

  cd $ior_dir
  ./bootstrap
  PKG_CONFIG_PATH=$benchfs_root/target/release/pkgconfig ./configure --with-benchfs
  make -j

Then, e.g.:
  mpirun -np 2 src/ior -a BENCHFS --benchfs.servers=HOST:PORT,HOST:PORT -t 1m -b 16m -F -w -r
EOF
