//! The interposed functions, by family. Each decides through [`entry::run`] whether it
//! serves the call (a path under a served mount, a served descriptor) or the C library
//! does; every `#[no_mangle]` function here shadows the C library's of the same name.
//!
//! - `open`: the open family, close, dup and fcntl.
//! - `io`: read, write and their vectored and positioned forms, lseek, fsync, ftruncate.
//! - `stat`: the stat family and access.
//! - `names`: unlink, mkdir, rmdir, rename, truncate.
//! - `meta`: chmod, utimensat, symlink, readlink, link, statfs and their descriptor forms.
//! - `dirs`: directory streams (opendir, fdopendir, readdir, closedir, dirfd, ...).
//! - `handoff`: calls on a descriptor that are not served: handed to the kernel mount first.
//! - `process`: fork, exec and spawn, which served descriptors do not survive as such.
//! - `stdio`: fopen and freopen, which go to the kernel mount (after telling it what changed).
//! - `own_fds`: the interposer's own descriptors, kept out of the program's way.

mod dirs;
mod handoff;
mod io;
mod meta;
pub(crate) mod names;
mod open;
pub(crate) mod own_fds;
mod process;
mod stat;
mod stdio;

use std::ffi::{c_char, c_int};

use crate::entry::{self, Outcome};
use crate::fds::{self, OpenFile};
use crate::perm;
use crate::real::Fail;
use crate::state::{self, Place, Target};
use std::sync::Arc;

pub use process::{after_fork_in_child, after_fork_in_parent, before_fork};

/// Serves a call on a path (relative to `dirfd`, see [`state::resolve`]).
///
/// # Safety
/// `path` is NULL or NUL-terminated.
unsafe fn on_path<T: Fail>(
    name: &str,
    dirfd: c_int,
    path: *const c_char,
    serve: impl FnOnce(&Place) -> Outcome<T>,
    kernel: impl FnOnce() -> T,
) -> T {
    let decide = || {
        // SAFETY: the caller's contract.
        match unsafe { state::resolve(dirfd, path) } {
            Target::Pass => Outcome::Pass,
            Target::Kernel => Outcome::Kernel,
            Target::Served(p) => {
                let o = settle(&p, serve(&p));
                if matches!(o, Outcome::Kernel) {
                    // The kernel answers: it must not answer from what it cached of names
                    // this process changed since, and what it does (a create, a rename)
                    // the attribute cache must not hide.
                    p.served.tell_kernel();
                    p.served.attrs.forget_tree(&p.path);
                }
                o
            }
        }
    };
    entry::run(name, decide, kernel)
}

/// Serves a call on a descriptor when it is served.
fn on_fd<T: Fail>(
    name: &str,
    fd: c_int,
    serve: impl FnOnce(&Arc<OpenFile>) -> Outcome<T>,
    kernel: impl FnOnce() -> T,
) -> T {
    entry::run(name, || fds::get(fd).map_or(Outcome::Pass, |of| serve(&of)), kernel)
}

/// Whether a failure BenchFS reports is the answer the kernel mount would give. BenchFS
/// never follows symbolic links, where the kernel does: a path through a link is ENOENT
/// or ENOTDIR to BenchFS (no record is kept under a link's name), so such a failure is
/// checked against the path's directories, and with a link among them the kernel
/// answers. ELOOP (a link at the end) and ENOTSUP (a FIFO, a device) are the kernel's too.
fn settle<T>(p: &Place, o: Outcome<T>) -> Outcome<T> {
    // The kernel follows a link: what it changes behind it (a write through a link, a
    // create in a linked directory) is at a path the attribute cache cannot tell.
    let followed = || {
        p.served.attrs.clear();
        Outcome::Kernel
    };
    match o {
        Outcome::Failed(libc::ELOOP) => followed(),
        Outcome::Failed(libc::EOPNOTSUPP) => Outcome::Kernel,
        Outcome::Failed(e @ (libc::ENOENT | libc::ENOTDIR)) => match way_to(p) {
            Way::Dirs => Outcome::Failed(e),
            Way::NotDir => Outcome::Failed(libc::ENOTDIR),
            Way::Link => followed(),
        },
        o => o,
    }
}

/// What lies on the way to a path.
enum Way {
    /// Directories, up to one that is missing or up to the path's parent.
    Dirs,
    /// A file that is not a directory: ENOTDIR.
    NotDir,
    /// A symbolic link (or something that could not be told): the kernel's to answer.
    Link,
}

/// The directories on the way to `p`, from the top.
fn way_to(p: &Place) -> Way {
    let mut at = 0;
    while let Some(i) = p.path[at + 1..].find('/') {
        at += 1 + i;
        match p.served.stat(&p.path[..at]) {
            Ok(a) if a.is_dir() => {}
            Ok(a) if a.kind == benchfs::FileKind::Symlink => return Way::Link,
            Ok(_) => return Way::NotDir,
            Err(benchfs::Error::NotFound(_)) => return Way::Dirs,
            Err(_) => return Way::Link,
        }
    }
    Way::Dirs
}

/// Runs `f` when the caller may do `need` on `p` (see [`perm::check`]).
fn permitted<T>(p: &Place, need: perm::Need, f: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    match perm::check(p, need) {
        Outcome::Done(()) => f(),
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Kernel => Outcome::Kernel,
        Outcome::Pass => Outcome::Pass,
    }
}

/// A client call's result as an outcome.
fn done<T>(r: benchfs::Result<T>) -> Outcome<T> {
    r.into()
}
