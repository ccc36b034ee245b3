//! open, creat and their 64-bit and fortified forms; close; dup, dup2, dup3; fcntl; umask.

use std::ffi::{c_char, c_int, c_long, c_uint};
use std::sync::Arc;

use benchfs::OpenOptions;
use libc::mode_t;

use super::own_fds::relocate;
use super::{on_path, permitted};
use crate::entry::{self, Outcome};
use crate::fds::{self, OpenFile};
use crate::perm;
use crate::real;
use crate::state::{self, Place};

/// Flags whose semantics the served path does not give: the kernel opens those.
const KERNEL_FLAGS: c_int = libc::O_DIRECTORY | libc::O_PATH | libc::O_SYNC | libc::O_DSYNC | libc::O_ASYNC;

/// Opens `p` in user space behind a placeholder descriptor.
fn serve_open(p: &Place, flags: c_int, mode: mode_t) -> Outcome<c_int> {
    let acc = flags & libc::O_ACCMODE;
    if flags & KERNEL_FLAGS != 0 || acc == libc::O_ACCMODE || (flags & libc::O_TRUNC != 0 && acc == libc::O_RDONLY) {
        return Outcome::Kernel;
    }
    // The mount's root and directories are the kernel's (EISDIR sends those there too).
    if p.path == "/" {
        return Outcome::Kernel;
    }
    let want = match acc {
        libc::O_RDONLY => perm::R,
        libc::O_WRONLY => perm::W,
        _ => perm::R | perm::W,
    } | if flags & libc::O_TRUNC != 0 { perm::W } else { 0 };
    let need = if flags & libc::O_CREAT != 0 { perm::Need::OpenCreate(want) } else { perm::Need::File(want) };
    permitted(p, need, || open_checked(p, flags, mode))
}

/// [`serve_open`] once the caller may.
fn open_checked(p: &Place, flags: c_int, mode: mode_t) -> Outcome<c_int> {
    let mut opts = OpenOptions::from_flags(flags, mode & 0o7777 & !state::umask());
    if opts.create {
        opts.owner = Some(perm::owner_in_parent(p).0);
    }
    let file = match p.served.run(p.served.client().open(&p.path, &opts)) {
        Ok(f) => f,
        Err(e) if e.errno() == libc::EISDIR => return Outcome::Kernel,
        Err(e) => return Outcome::Failed(crate::entry::failed(&e)),
    };
    // An open asks the servers (close-to-open): what it saw is the freshest record.
    if flags & libc::O_TRUNC != 0 {
        p.served.touched(&p.path);
    } else if flags & libc::O_CREAT != 0 {
        p.served.created(&p.path, file.attr_at_open());
    } else {
        p.served.attrs.put(&p.path, file.attr_at_open());
    }
    let fd = match fds::placeholder(&p.root, flags & libc::O_CLOEXEC != 0) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = p.served.run(file.close());
            return Outcome::Failed(e);
        }
    };
    let kept = flags & (libc::O_ACCMODE | libc::O_APPEND | libc::O_NONBLOCK | libc::O_LARGEFILE);
    fds::insert(fd, Arc::new(OpenFile::new(p.served.clone(), file, p.root.clone(), p.dev, kept)));
    if fd <= 2 {
        // A standard stream's number (0-2 were closed): stdio's, hence the kernel's.
        return match fds::to_kernel(fd) {
            Ok(()) => Outcome::Done(fd),
            Err(e) => Outcome::Failed(e),
        };
    }
    Outcome::Done(fd)
}

/// The open family's common body.
///
/// # Safety
/// `path` is NULL or NUL-terminated.
unsafe fn open_at(
    name: &str,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    kernel: impl FnOnce() -> c_int,
) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { on_path(name, dirfd, path, |p| serve_open(p, flags, mode), kernel) }
}

/// # Safety
/// As open(2).
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: as open(2).
    unsafe { open_at("open", libc::AT_FDCWD, path, flags, mode, || real::open(path, flags, mode)) }
}

/// # Safety
/// As open(2).
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: as open(2).
    unsafe { open_at("open64", libc::AT_FDCWD, path, flags, mode, || real::open64(path, flags, mode)) }
}

/// # Safety
/// As openat(2).
#[no_mangle]
pub unsafe extern "C" fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: as openat(2).
    unsafe { open_at("openat", dirfd, path, flags, mode, || real::openat(dirfd, path, flags, mode)) }
}

/// # Safety
/// As openat(2).
#[no_mangle]
pub unsafe extern "C" fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: as openat(2).
    unsafe { open_at("openat64", dirfd, path, flags, mode, || real::openat64(dirfd, path, flags, mode)) }
}

const CREAT: c_int = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;

/// # Safety
/// As creat(2).
#[no_mangle]
pub unsafe extern "C" fn creat(path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: as creat(2).
    unsafe { open_at("creat", libc::AT_FDCWD, path, CREAT, mode, || real::creat(path, mode)) }
}

/// # Safety
/// As creat(2).
#[no_mangle]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: as creat(2).
    unsafe { open_at("creat64", libc::AT_FDCWD, path, CREAT, mode, || real::creat64(path, mode)) }
}

/// The fortified open (`_FORTIFY_SOURCE`), called when the flags need no mode.
///
/// # Safety
/// As open(2).
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as open(2).
    unsafe { open_at("__open_2", libc::AT_FDCWD, path, flags, 0, || real::__open_2(path, flags)) }
}

/// # Safety
/// As open(2).
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as open(2).
    unsafe { open_at("__open64_2", libc::AT_FDCWD, path, flags, 0, || real::__open64_2(path, flags)) }
}

/// # Safety
/// As openat(2).
#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as openat(2).
    unsafe { open_at("__openat_2", dirfd, path, flags, 0, || real::__openat_2(dirfd, path, flags)) }
}

/// # Safety
/// As openat(2).
#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as openat(2).
    unsafe { open_at("__openat64_2", dirfd, path, flags, 0, || real::__openat64_2(dirfd, path, flags)) }
}

/// Stops serving `fd` and publishes its file (close-to-open); the placeholder is closed by
/// the C library's close. A failed publication is close's EIO, as NFS reports it.
fn release(fd: c_int) -> Result<(), i32> {
    match fds::remove(fd) {
        Some(of) => of.flush().map_err(|e| crate::entry::failed(&e)),
        None => Ok(()),
    }
}

/// # Safety
/// As close(2).
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let mut published = Ok(());
    let r = entry::run(
        "close",
        || {
            published = release(fd);
            Outcome::Pass
        },
        // SAFETY: as close(2).
        || unsafe { real::close(fd) },
    );
    match published {
        Err(e) if r == 0 => {
            crate::real::set_errno(e);
            -1
        }
        _ => r,
    }
}

/// # Safety
/// As close_range(2).
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
        let _ = entry::run(
            "close_range",
            || {
                for (fd, _) in fds::all() {
                    if u32::try_from(fd).is_ok_and(|f| (first..=last).contains(&f)) {
                        let _ = release(fd);
                    }
                }
                Outcome::Pass
            },
            || 0,
        );
    }
    // SAFETY: as close_range(2).
    unsafe { real::close_range(first, last, flags) }
}

/// After the C library made `to` a copy of `from` (its return value), serves `to` with
/// `from`'s open file, if that is served; a served file that was on `to` is released
/// first (dup2 closes it).
fn copied(from: c_int, to: c_int, dup: impl FnOnce() -> c_int) -> c_int {
    let mut of = None;
    let r = entry::run(
        "dup",
        || {
            of = fds::get(from);
            if to >= 0 && to != from {
                let _ = release(to);
            }
            Outcome::Pass
        },
        dup,
    );
    if r >= 0 {
        if let Some(of) = of {
            fds::insert(r, of);
            if r <= 2 {
                return standard(r);
            }
        }
    }
    r
}

/// A served file on 0, 1 or 2 is handed to the kernel mount at once: stdio (printf,
/// fgets on stdin, perror) reads and writes those with the C library's internal calls,
/// which the interposer does not see, and would meet the placeholder (EBADF: output lost).
fn standard(fd: c_int) -> c_int {
    let mut handed = Ok(());
    let _ = entry::run(
        "dup",
        || {
            handed = fds::to_kernel(fd);
            Outcome::Pass
        },
        || 0,
    );
    match handed {
        Ok(()) => fd,
        Err(e) => {
            crate::say(&format!("descriptor {fd}: cannot hand it to the kernel mount for stdio: errno {e}"));
            fd
        }
    }
}

/// # Safety
/// As dup(2).
#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    if entry::inside() {
        // SAFETY: as dup(2).
        return relocate(unsafe { real::dup(fd) });
    }
    // SAFETY: as dup(2).
    copied(fd, -1, || unsafe { real::dup(fd) })
}

/// # Safety
/// As dup2(2).
#[no_mangle]
pub unsafe extern "C" fn dup2(fd: c_int, to: c_int) -> c_int {
    // SAFETY: as dup2(2).
    copied(fd, to, || unsafe { real::dup2(fd, to) })
}

/// # Safety
/// As dup3(2).
#[no_mangle]
pub unsafe extern "C" fn dup3(fd: c_int, to: c_int, flags: c_int) -> c_int {
    // SAFETY: as dup3(2).
    copied(fd, to, || unsafe { real::dup3(fd, to, flags) })
}

/// fcntl on a served descriptor: duplication and the status flags are served; the
/// descriptor flags (close-on-exec) are the placeholder's own; anything else (locks,
/// leases, pipe sizes) is handed to the kernel mount first.
fn fcntl_served(fd: c_int, cmd: c_int, arg: c_long, kernel: impl FnOnce() -> c_int) -> c_int {
    if entry::inside() {
        // The interposer's own (the runtime cloning its epoll descriptor): kept high.
        let r = kernel();
        return if matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) { relocate(r) } else { r };
    }
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => copied(fd, -1, kernel),
        libc::F_GETFD | libc::F_SETFD => kernel(),
        _ => entry::run(
            "fcntl",
            || {
                let Some(of) = fds::get(fd) else { return Outcome::Pass };
                match cmd {
                    libc::F_GETFL => Outcome::Done(of.flags.load(std::sync::atomic::Ordering::Relaxed)),
                    libc::F_SETFL => {
                        let changeable = libc::O_APPEND | libc::O_NONBLOCK;
                        let new = i32::try_from(arg).unwrap_or(0) & changeable;
                        let _ = of.flags.fetch_update(
                            std::sync::atomic::Ordering::Relaxed,
                            std::sync::atomic::Ordering::Relaxed,
                            |f| Some((f & !changeable) | new),
                        );
                        Outcome::Done(0)
                    }
                    _ => match fds::to_kernel(fd) {
                        Ok(()) => Outcome::Kernel,
                        Err(e) => Outcome::Failed(e),
                    },
                }
            },
            kernel,
        ),
    }
}

/// # Safety
/// As fcntl(2) (the third argument, when the command takes one, is an int or a pointer).
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: as fcntl(2).
    fcntl_served(fd, cmd, arg, || unsafe { real::fcntl(fd, cmd, arg) })
}

/// # Safety
/// As fcntl(2).
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: as fcntl(2).
    fcntl_served(fd, cmd, arg, || unsafe { real::fcntl64(fd, cmd, arg) })
}

/// umask(2), remembered so that creates apply it without asking the kernel each time.
///
/// # Safety
/// None beyond the C ABI.
#[no_mangle]
pub unsafe extern "C" fn umask(mask: mode_t) -> mode_t {
    // SAFETY: umask cannot fail.
    let old = unsafe { libc::syscall(libc::SYS_umask, mask) } as mode_t;
    state::set_umask(mask);
    old
}
