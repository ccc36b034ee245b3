//! The process's view of the mounts, made on first use and made again in a forked child
//! (whose copy of the parent's connections and runtime it must not use), and the
//! resolution of a path argument to a mount.

use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::lock::ForkLock;
use crate::mounts::{self, Mount, Served};

pub struct State {
    mounts: Vec<Mount>,
}

static STATE: ForkLock<Option<Arc<State>>> = ForkLock::new(None);
/// False once the process is known to have no BenchFS mount: every path then passes at once.
static ANY: AtomicBool = AtomicBool::new(true);
/// The process's umask, kept here because reading it means setting it ([`crate::calls`]
/// interposes `umask` to keep it current).
static UMASK: AtomicU32 = AtomicU32::new(u32::MAX);

/// The state, made on first use (under the lock, so that one thread asks the mounts).
pub fn get() -> Arc<State> {
    let mut s = STATE.lock();
    if let Some(st) = &*s {
        return st.clone();
    }
    crate::on_first_use();
    let st = Arc::new(State { mounts: mounts::discover() });
    ANY.store(st.mounts.iter().any(|m| m.benchfs), Ordering::Relaxed);
    *s = Some(st.clone());
    st
}

/// Tells every mount served so far what this process changed ([`Served::tell_kernel`]):
/// before a fork, an exec, and at exit.
pub fn tell_kernel_all() {
    let st = STATE.lock().clone();
    let Some(st) = st else { return };
    for m in &st.mounts {
        if let Some(Some(s)) = m.served_if_made() {
            s.tell_kernel();
        }
    }
}

/// Fork handlers: taken before, released after, in both processes.
pub fn lock_for_fork() {
    STATE.acquire();
}

pub fn unlock_in_parent() {
    STATE.release();
}

/// In the child: the parent's clients share its sockets and runtime; leak them (dropping
/// would close what the parent still uses through its own copies only in this process,
/// but tearing down a runtime that a parent thread was driving is not safe) and start over.
pub fn reset_in_child() {
    // SAFETY: the lock is held by this (the only) thread since the prepare handler.
    let slot = unsafe { &mut *STATE.as_ptr() };
    if let Some(old) = slot.take() {
        std::mem::forget(old);
    }
    ANY.store(true, Ordering::Relaxed);
    STATE.release();
}

pub fn umask() -> u32 {
    match UMASK.load(Ordering::Relaxed) {
        u32::MAX => {
            // SAFETY: umask cannot fail; set back at once.
            let m = unsafe {
                let m = libc::umask(0o022);
                libc::umask(m);
                m
            };
            UMASK.store(m, Ordering::Relaxed);
            m
        }
        m => m,
    }
}

pub fn set_umask(m: u32) {
    UMASK.store(m & 0o777, Ordering::Relaxed);
}

/// Where a path argument leads.
pub enum Target {
    /// Outside every BenchFS mount, or not a path the interposer reads (no UTF-8, `..`).
    Pass,
    /// Under a mount whose calls go to the kernel.
    Kernel,
    /// Under a served mount: the path inside it ("/" for its root).
    Served(Place),
}

/// A served mount and the path inside it.
pub struct Place {
    pub served: Arc<Served>,
    pub root: String,
    pub dev: u64,
    pub path: String,
}

/// Resolves `path`, relative to `dirfd` (`AT_FDCWD` or a directory descriptor, whose
/// place the kernel tells: `/proc/self/fd`).
///
/// # Safety
/// `path` is NULL or NUL-terminated.
pub unsafe fn resolve(dirfd: i32, path: *const c_char) -> Target {
    if path.is_null() || !ANY.load(Ordering::Relaxed) {
        return Target::Pass;
    }
    // SAFETY: non-NULL and NUL-terminated (caller's contract).
    let Ok(p) = unsafe { CStr::from_ptr(path) }.to_str() else { return Target::Pass };
    if p.is_empty() {
        return Target::Pass;
    }
    let st = get();
    let abs = if p.starts_with('/') {
        p.to_string()
    } else if dirfd != libc::AT_FDCWD {
        if st.mounts.is_empty() {
            return Target::Pass;
        }
        if crate::fds::get(dirfd).is_some() {
            // A served file as the directory: the kernel's ENOTDIR, on the real file.
            let _ = crate::fds::to_kernel(dirfd);
            return Target::Kernel;
        }
        match fd_dir(dirfd) {
            Some(d) => format!("{d}/{p}"),
            None => return Target::Kernel,
        }
    } else {
        match cwd() {
            Some(c) => format!("{c}/{p}"),
            None => return Target::Pass,
        }
    };
    let Some(abs) = normalize(&abs) else {
        // `..`: the kernel resolves it (through the mount if it leads there).
        return Target::Pass;
    };
    st.find(&abs)
}

impl State {
    fn find(&self, abs: &str) -> Target {
        let best = self.mounts.iter().filter(|m| mounts::under(abs, &m.root)).max_by_key(|m| m.root.len());
        let Some(m) = best else { return Target::Pass };
        if !m.benchfs {
            return Target::Pass;
        }
        let Some(served) = m.served() else { return Target::Kernel };
        let inner = &abs[m.root.len()..];
        Target::Served(Place {
            served: served.clone(),
            root: m.root.clone(),
            dev: m.dev,
            path: if inner.is_empty() { "/".into() } else { inner.to_string() },
        })
    }
}

/// Where the directory descriptor `fd` is, as the kernel names it (it follows the
/// directory across renames); `None` for anything else than a plain absolute path.
fn fd_dir(fd: i32) -> Option<String> {
    let link = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: a NUL-terminated path and a writable buffer of its length.
    let n = unsafe { libc::readlink(link.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(usize::try_from(n).ok()?);
    let d = String::from_utf8(buf).ok()?;
    (d.starts_with('/') && !d.ends_with(" (deleted)")).then_some(d)
}

/// The working directory, as the kernel has it.
fn cwd() -> Option<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its length.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return None;
    }
    let n = buf.iter().position(|&b| b == 0)?;
    buf.truncate(n);
    String::from_utf8(buf).ok()
}

/// `abs` without empty and `.` components; `None` when it has a `..` (which only the kernel
/// can resolve: the component before it may be a symbolic link).
pub fn normalize(abs: &str) -> Option<String> {
    let mut out = String::with_capacity(abs.len());
    for c in abs.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/a//b/./c/").as_deref(), Some("/a/b/c"));
        assert_eq!(normalize("/").as_deref(), Some("/"));
        assert_eq!(normalize("/a/../b"), None);
    }
}
