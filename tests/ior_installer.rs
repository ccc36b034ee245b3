//! Tests of `ior_integration/install-into-ior.sh`, the script that adds the
//! BenchFS backend to an IOR source tree.
//!
//! No IOR checkout is needed: each test writes a small scratch tree whose
//! files are shaped like IOR's `configure.ac`, `src/Makefile.am`,
//! `src/aiori.h`, `src/aiori.c` and `src/ior.c` (same anchors, same style of
//! backend blocks) and runs the installer on it with `bash`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ior_integration/install-into-ior.sh");
const BACKEND_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ior_integration/aiori-BENCHFS.c");

const CONFIGURE_AC: &str = r#"AC_PREREQ([2.71])
AC_INIT([ior],[4.1.0],[],[ior])
AC_CONFIG_HEADERS([src/config.h])
AM_INIT_AUTOMAKE([foreign subdir-objects])

# Check for MPI
AX_PROG_CC_MPI(,,[AC_MSG_FAILURE([MPI compiler requested, but could not use MPI.])])

# POSIX IO support
AC_ARG_WITH([posix],
        [AS_HELP_STRING([--with-posix],
           [support IO with POSIX backend @<:@default=yes@:>@])],
        [],
        [with_posix=yes])
AM_CONDITIONAL([USE_POSIX_AIORI], [test x$with_posix = xyes])
AM_COND_IF([USE_POSIX_AIORI],[
        AC_DEFINE([USE_POSIX_AIORI], [], [Build POSIX backend AIORI])
])

# CHFS support
PKG_CHECK_MODULES([CHFS], [chfs],
  [AC_DEFINE([USE_CHFS_AIORI], [], [Build CHFS backend AIORI])],
  [with_chfs=no])
AM_CONDITIONAL([USE_CHFS_AIORI], [test x$with_chfs != xno])

# Enable building "IOR", in all capitals
AC_ARG_ENABLE([caps],
        [AS_HELP_STRING([--enable-caps], [build "IOR" binary @<:@default=no@:>@])],
        [], [enable_caps=no])
AM_CONDITIONAL([USE_CAPS], [test x$enable_caps = xyes])

AC_CONFIG_FILES([Makefile
                 src/Makefile])
AC_OUTPUT
"#;

const MAKEFILE_AM: &str = r#"bin_PROGRAMS = ior mdtest md-workbench

extraSOURCES = aiori.c aiori-DUMMY.c
extraLDADD =
extraLDFLAGS =
extraCPPFLAGS =

ior_SOURCES = ior-main.c
ior_LDFLAGS =
ior_LDADD = libaiori.a
ior_CPPFLAGS =

if USE_POSIX_AIORI
extraSOURCES += aiori-POSIX.c
endif

if USE_CHFS_AIORI
extraSOURCES += aiori-CHFS.c
extraCPPFLAGS += @CHFS_CFLAGS@
extraLDADD += @CHFS_LIBS@
endif

ior_SOURCES  += $(extraSOURCES)
ior_LDFLAGS  += $(extraLDFLAGS)
ior_LDADD    += $(extraLDADD)
ior_CPPFLAGS += $(extraCPPFLAGS)
"#;

const AIORI_H: &str = r#"#ifndef _AIORI_H
#define _AIORI_H

typedef struct ior_aiori {
        char *name;
} ior_aiori_t;

extern ior_aiori_t dummy_aiori;
extern ior_aiori_t posix_aiori;
extern ior_aiori_t chfs_aiori;

const ior_aiori_t *aiori_select (const char *api);

#endif /* not _AIORI_H */
"#;

const AIORI_C: &str = r#"#include "aiori.h"

ior_aiori_t *available_aiori[] = {
#ifdef USE_POSIX_AIORI
        &posix_aiori,
#endif
        & dummy_aiori,
#ifdef USE_CHFS_AIORI
	&chfs_aiori,
#endif
        NULL
};

int aiori_count (void)
{
        return sizeof(available_aiori)/sizeof(available_aiori[0]) - 1;
}
"#;

const IOR_C: &str = r#"static void ValidateTests(IOR_param_t * test, MPI_Comm com)
{
        if (((strcasecmp(test->api, "POSIX") != 0)
            && (strcasecmp(test->api, "MPIIO") != 0)
            && (strcasecmp(test->api, "CEPHFS") != 0)) && test->fsync)
                WARN_RESET("fsync() not supported in selected backend",
                           test, &defaults, fsync);
}
"#;

/// Writes the scratch IOR-like tree into `root`.
fn write_ior_tree(root: &Path) {
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("configure.ac"), CONFIGURE_AC).unwrap();
    fs::write(root.join("src/Makefile.am"), MAKEFILE_AM).unwrap();
    fs::write(root.join("src/aiori.h"), AIORI_H).unwrap();
    fs::write(root.join("src/aiori.c"), AIORI_C).unwrap();
    fs::write(root.join("src/ior.c"), IOR_C).unwrap();
}

fn run_installer(dir: &Path) -> Output {
    Command::new("bash").arg(SCRIPT).arg(dir).output().expect("cannot run bash")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every file below `root` with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Byte position of `needle` in `hay`, panicking with context if absent.
fn pos(hay: &str, needle: &str, file: &str) -> usize {
    hay.find(needle).unwrap_or_else(|| panic!("{file}: expected to find {needle:?} in:\n{hay}"))
}

/// Asserts that every line of `original` is still in `edited`, in order.
fn assert_keeps_original(original: &str, edited: &str, file: &str) {
    let mut rest = edited.lines();
    for line in original.lines() {
        assert!(rest.any(|l| l == line), "{file}: original line {line:?} lost or reordered:\n{edited}");
    }
}

#[test]
fn installs_backend_into_ior_like_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_ior_tree(root);

    let out = run_installer(root);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "installer failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        text(&out.stderr)
    );

    // The backend source is copied verbatim.
    assert_eq!(
        fs::read(root.join("src/aiori-BENCHFS.c")).unwrap(),
        fs::read(BACKEND_SRC).unwrap(),
        "src/aiori-BENCHFS.c differs from ior_integration/aiori-BENCHFS.c"
    );

    // configure.ac: a --with-benchfs block using pkg-config, after the other
    // backends and before AC_CONFIG_FILES.
    let conf = read(root, "configure.ac");
    assert_keeps_original(CONFIGURE_AC, &conf, "configure.ac");
    let with = pos(&conf, "AC_ARG_WITH([benchfs]", "configure.ac");
    let pkg = pos(&conf, "PKG_CHECK_MODULES([BENCHFS], [benchfs])", "configure.ac");
    let libdir = pos(&conf, "--variable=libdir benchfs", "configure.ac");
    let rpath = pos(&conf, "-Wl,-rpath,", "configure.ac");
    let define = pos(&conf, "AC_DEFINE([USE_BENCHFS_AIORI]", "configure.ac");
    let cond = pos(&conf, "AM_CONDITIONAL([USE_BENCHFS_AIORI]", "configure.ac");
    let chfs = pos(&conf, "AM_CONDITIONAL([USE_CHFS_AIORI]", "configure.ac");
    let files = pos(&conf, "AC_CONFIG_FILES(", "configure.ac");
    assert!(chfs < with, "BenchFS block must follow the other backends");
    assert!(with < pkg && pkg < libdir && libdir < rpath && rpath < define);
    assert!(define < cond && cond < files, "BenchFS block must precede AC_CONFIG_FILES");
    assert!(conf.contains("AC_SUBST([BENCHFS_RPATH])"));
    assert_eq!(conf.matches("AC_ARG_WITH([benchfs]").count(), 1);

    // src/Makefile.am: a USE_BENCHFS_AIORI block like the other backends',
    // before the backend sources are added to the programs.
    let mk = read(root, "src/Makefile.am");
    assert_keeps_original(MAKEFILE_AM, &mk, "src/Makefile.am");
    let block_start = pos(&mk, "if USE_BENCHFS_AIORI\n", "src/Makefile.am");
    let block = &mk[block_start..];
    let block = &block[..pos(block, "endif", "src/Makefile.am") + "endif".len()];
    for line in [
        "extraSOURCES  += aiori-BENCHFS.c",
        "extraCPPFLAGS += @BENCHFS_CFLAGS@",
        "extraLDFLAGS  += @BENCHFS_RPATH@",
        "extraLDADD    += @BENCHFS_LIBS@",
    ] {
        assert!(block.contains(line), "src/Makefile.am block lacks {line:?}:\n{block}");
    }
    assert!(pos(&mk, "if USE_CHFS_AIORI", "src/Makefile.am") < block_start);
    assert!(block_start < pos(&mk, "ior_SOURCES  += $(extraSOURCES)", "src/Makefile.am"));

    // src/aiori.h: the declaration, after the other backends'.
    let h = read(root, "src/aiori.h");
    assert_keeps_original(AIORI_H, &h, "src/aiori.h");
    let decl = pos(&h, "extern ior_aiori_t benchfs_aiori;", "src/aiori.h");
    assert!(pos(&h, "extern ior_aiori_t chfs_aiori;", "src/aiori.h") < decl);
    assert!(decl < pos(&h, "#endif /* not _AIORI_H */", "src/aiori.h"));

    // src/aiori.c: a guarded entry right before the NULL ending the table.
    let c = read(root, "src/aiori.c");
    assert_keeps_original(AIORI_C, &c, "src/aiori.c");
    let ifdef = pos(&c, "#ifdef USE_BENCHFS_AIORI\n", "src/aiori.c");
    let entry = pos(&c, "&benchfs_aiori,", "src/aiori.c");
    let null = pos(&c, "        NULL\n};", "src/aiori.c");
    assert!(pos(&c, "&chfs_aiori,", "src/aiori.c") < ifdef);
    assert!(ifdef < entry && entry < null);
    assert!(c[entry..null].contains("#endif"), "entry not closed by #endif");

    // src/ior.c: BENCHFS joins the APIs for which -e (fsync) is honoured.
    let ior = read(root, "src/ior.c");
    assert_keeps_original(IOR_C, &ior, "src/ior.c");
    let posix = pos(&ior, r#"strcasecmp(test->api, "POSIX") != 0)"#, "src/ior.c");
    let bfs = pos(&ior, r#"&& (strcasecmp(test->api, "BENCHFS") != 0)"#, "src/ior.c");
    assert!(posix < bfs && bfs < pos(&ior, "fsync() not supported", "src/ior.c"));

    // It tells the user how to go on, and never builds anything itself.
    assert!(stdout.contains("./bootstrap"), "no bootstrap hint:\n{stdout}");
    assert!(stdout.contains("PKG_CONFIG_PATH="), "no PKG_CONFIG_PATH hint:\n{stdout}");
    assert!(stdout.contains("--with-benchfs"), "no configure hint:\n{stdout}");
    assert!(!root.join("configure").exists());
    assert!(!root.join("Makefile.in").exists());
}

#[test]
fn second_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_ior_tree(root);

    let first = run_installer(root);
    assert!(first.status.success(), "first run failed: {}", text(&first.stderr));
    let after_first = snapshot(root);

    let second = run_installer(root);
    assert!(second.status.success(), "second run failed: {}", text(&second.stderr));
    let after_second = snapshot(root);
    assert_eq!(
        after_first.keys().collect::<Vec<_>>(),
        after_second.keys().collect::<Vec<_>>(),
        "second run added or removed files"
    );
    for (path, bytes) in &after_first {
        assert!(after_second[path] == *bytes, "second run changed {}", path.display());
    }
    assert!(
        text(&second.stdout).contains("nothing changed"),
        "second run should say it changed nothing:\n{}",
        text(&second.stdout)
    );
}

#[test]
fn tolerates_ior_c_without_fsync_list() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_ior_tree(root);
    let plain = "int main(void) { return 0; }\n";
    fs::write(root.join("src/ior.c"), plain).unwrap();

    let out = run_installer(root);
    assert!(out.status.success(), "installer failed: {}", text(&out.stderr));
    assert_eq!(read(root, "src/ior.c"), plain, "src/ior.c must be left alone");
    assert!(read(root, "src/aiori.c").contains("&benchfs_aiori,"));
}

#[test]
fn refuses_directory_that_is_not_an_ior_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("README"), "not IOR\n").unwrap();

    let out = run_installer(root);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "installer accepted a non-IOR directory");
    assert!(stderr.contains("does not look like an IOR source tree"), "unclear message: {stderr}");
    for missing in ["configure.ac", "src/aiori.c", "src/aiori.h", "src/Makefile.am"] {
        assert!(stderr.contains(missing), "message does not name {missing}: {stderr}");
    }
    assert_eq!(
        snapshot(root).keys().collect::<Vec<_>>(),
        vec![Path::new("README")],
        "installer wrote into a non-IOR directory"
    );
}

#[test]
fn refuses_tree_without_aiori_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_ior_tree(root);
    fs::write(root.join("src/aiori.c"), "/* no backend table here */\n").unwrap();
    let before = snapshot(root);

    let out = run_installer(root);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "installer accepted a tree without available_aiori");
    assert!(stderr.contains("available_aiori"), "unclear message: {stderr}");
    assert!(snapshot(root) == before, "installer modified a refused tree");
}

#[test]
fn refuses_missing_directory_and_bad_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_installer(&tmp.path().join("does-not-exist"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not a directory"), "{}", text(&out.stderr));

    let out = Command::new("bash").arg(SCRIPT).output().unwrap();
    assert!(!out.status.success(), "installer ran without an argument");
    assert!(text(&out.stderr).contains("usage"), "{}", text(&out.stderr));
}

/// An IO500 checkout: prepare.sh and src/phase_ior.c at its root, IOR in build/ior.
fn write_io500_tree(root: &Path) {
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("prepare.sh"), "#!/bin/bash\n").unwrap();
    fs::write(root.join("src/phase_ior.c"), "").unwrap();
}

#[test]
fn installs_into_the_ior_tree_of_an_io500_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_io500_tree(root);
    let before = run_installer(root);
    assert!(!before.status.success(), "an IO500 checkout without build/ior was accepted");
    assert!(text(&before.stderr).contains("prepare.sh"), "no hint to run prepare.sh: {}", text(&before.stderr));

    write_ior_tree(&root.join("build/ior"));
    let out = run_installer(root);
    assert!(out.status.success(), "installer failed: {}", text(&out.stderr));
    assert!(root.join("build/ior/src/aiori-BENCHFS.c").is_file(), "backend not copied into build/ior");
    assert!(read(&root.join("build/ior"), "src/aiori.c").contains("benchfs_aiori"));
    assert!(
        text(&out.stdout).contains("IOR_EXTRA_CONFIGURE_FLAGS=--with-benchfs ./prepare.sh"),
        "no IO500 build instructions:\n{}",
        text(&out.stdout)
    );
}
