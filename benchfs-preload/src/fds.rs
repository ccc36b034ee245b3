//! The descriptors the interposer serves. Each is a real kernel descriptor, an `O_PATH`
//! descriptor of the mount's root, so that the program's own descriptors never collide
//! with it (dup2, select, close_range, exec) and a call that slips past the interposer
//! (a raw syscall, a function not interposed) fails loudly with EBADF instead of reading
//! or writing something else. Behind it is the open file: the BenchFS handle, the offset
//! and the status flags, shared by every descriptor `dup` made of it, as the kernel shares
//! an open file description.
//!
//! [`to_kernel`] hands a served descriptor to the kernel mount: the file is opened again
//! there, at the same offset, onto the same number. That is done for calls this crate does
//! not serve on a descriptor, before `exec` (which the served state does not survive) and
//! before `fork` (so that parent and child share the offset, as they would in the kernel).

use std::collections::HashMap;
use std::ffi::{c_int, CString};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use benchfs::File;

use crate::lock::ForkLock;
use crate::mounts::Served;
use crate::real;

/// Descriptors at or above this are never served (the table's fast check is an array).
pub const MAX_FD: usize = 1 << 16;

/// An open file served in user space.
pub struct OpenFile {
    pub served: Arc<Served>,
    pub file: File,
    /// The mount point, to reopen the file through the kernel.
    pub root: String,
    pub dev: u64,
    /// open(2)'s access mode and status flags (O_APPEND, O_NONBLOCK) as F_GETFL reports them.
    pub flags: AtomicI32,
    pos: Mutex<u64>,
    /// The file's link count after this process last removed or added one of its names
    /// (`u32::MAX`: none did): what fstat reports once its path no longer names it (0
    /// after its last name went, as the kernel reports).
    pub links: AtomicU32,
}

impl OpenFile {
    pub fn new(served: Arc<Served>, file: File, root: String, dev: u64, flags: i32) -> OpenFile {
        OpenFile {
            served,
            file,
            root,
            dev,
            flags: AtomicI32::new(flags),
            pos: Mutex::new(0),
            links: AtomicU32::new(u32::MAX),
        }
    }

    /// The offset, locked for the length of a read or write (as the kernel's f_pos lock).
    pub fn pos(&self) -> MutexGuard<'_, u64> {
        self.pos.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn readable(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & libc::O_ACCMODE != libc::O_WRONLY
    }

    pub fn writable(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & libc::O_ACCMODE != libc::O_RDONLY
    }

    /// Publishes this file's writes (size, mtime): close-to-open.
    pub fn flush(&self) -> benchfs::Result<()> {
        let r = self.served.run(self.file.flush());
        self.forget_if_written();
        r
    }

    /// Drops the cached record of a file this handle wrote: its size and times are the
    /// servers' to tell again (a stat during the writes may have stored the old ones).
    pub fn forget_if_written(&self) {
        if self.file.written_end() > 0 {
            self.served.touched(&self.file.path());
        }
    }
}

static TABLE: ForkLock<Option<HashMap<c_int, Arc<OpenFile>>>> = ForkLock::new(None);
/// `SERVED[fd]`: whether `fd` is in the table, read without the lock on every call.
static SERVED: [AtomicBool; MAX_FD] = [const { AtomicBool::new(false) }; MAX_FD];

fn slot(fd: c_int) -> Option<&'static AtomicBool> {
    usize::try_from(fd).ok().and_then(|i| SERVED.get(i))
}

/// The open file behind `fd` if it is served.
pub fn get(fd: c_int) -> Option<Arc<OpenFile>> {
    if !slot(fd)?.load(Ordering::Acquire) {
        return None;
    }
    TABLE.lock().as_ref()?.get(&fd).cloned()
}

/// Serves `fd` (a placeholder descriptor) with `of` from now on.
pub fn insert(fd: c_int, of: Arc<OpenFile>) {
    let Some(s) = slot(fd) else { return };
    TABLE.lock().get_or_insert_with(HashMap::new).insert(fd, of);
    s.store(true, Ordering::Release);
}

/// Stops serving `fd`; its open file if it was served.
pub fn remove(fd: c_int) -> Option<Arc<OpenFile>> {
    let s = slot(fd)?;
    if !s.load(Ordering::Acquire) {
        return None;
    }
    let mut t = TABLE.lock();
    s.store(false, Ordering::Release);
    t.as_mut()?.remove(&fd)
}

/// The size this process's own open handles of the file `fid` see (their writes not yet
/// published included), if it has any open: what a stat by path answers, as the kernel
/// knows the size of its own writes.
pub fn own_size(fid: benchfs::meta::FileId) -> Option<u64> {
    TABLE.lock().as_ref()?.values().filter(|of| of.file.fid() == fid).map(|of| of.file.size()).max()
}

/// Whether this process has served files open (a removal then looks at its victim).
pub fn any_open() -> bool {
    TABLE.lock().as_ref().is_some_and(|t| !t.is_empty())
}

/// Before this process removes a name of file `fid` that it has open: its served
/// descriptors go to the kernel mount, and the removal goes there too, so that the mount
/// keeps the open file readable and writable (it hides the name instead of removing the
/// file, as NFS does) until the last close. True when there were any.
pub fn hand_open(fid: benchfs::meta::FileId) -> bool {
    let open: Vec<c_int> = all().into_iter().filter(|(_, of)| of.file.fid() == fid).map(|(fd, _)| fd).collect();
    for &fd in &open {
        if let Err(e) = to_kernel(fd) {
            crate::say(&format!("descriptor {fd}: cannot hand it to the kernel mount before a removal: errno {e}"));
        }
    }
    !open.is_empty()
}

/// This process removed or added a name of file `fid`, which now has `links` names;
/// `removed`: a name went (the handles may have known the file by it).
pub fn file_links(fid: benchfs::meta::FileId, links: u32, removed: bool) {
    if let Some(t) = TABLE.lock().as_ref() {
        for of in t.values().filter(|of| of.file.fid() == fid) {
            of.links.store(links, Ordering::Relaxed);
            if removed {
                of.file.set_orphaned();
            }
        }
    }
}

/// This process renamed `from` to `to` on mount `root`: the files open under `from`
/// (or below it) follow.
pub fn name_moved(root: &str, from: &str, to: &str) {
    if let Some(t) = TABLE.lock().as_ref() {
        for of in t.values().filter(|of| of.root == root) {
            let p = of.file.path();
            if let Some(rest) = p.strip_prefix(from).filter(|r| r.is_empty() || r.starts_with('/')) {
                of.file.set_path(&format!("{to}{rest}"));
            }
        }
    }
}

/// Every served descriptor, with its open file.
pub fn all() -> Vec<(c_int, Arc<OpenFile>)> {
    TABLE.lock().as_ref().map(|t| t.iter().map(|(fd, of)| (*fd, of.clone())).collect()).unwrap_or_default()
}

pub fn lock_for_fork() {
    TABLE.acquire();
}

pub fn unlock_after_fork() {
    TABLE.release();
}

/// A new placeholder descriptor (close-on-exec if `cloexec`) for a file of the mount at
/// `root`: an `O_PATH` descriptor of the root, on which read and write fail with EBADF.
pub fn placeholder(root: &str, cloexec: bool) -> Result<c_int, i32> {
    let c = CString::new(if root.is_empty() { "/" } else { root }).map_err(|_| libc::EINVAL)?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { real::open(c.as_ptr(), flags, 0) };
    if fd < 0 {
        return Err(errno());
    }
    if slot(fd).is_none() {
        // SAFETY: our descriptor.
        unsafe { real::close(fd) };
        return Err(libc::EMFILE);
    }
    Ok(fd)
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Hands `fd`, and every descriptor sharing its open file, to the kernel mount: the file
/// is published, opened there at the same offset, and put on the same numbers (keeping
/// each one's close-on-exec flag). Afterwards nothing of it is served.
pub fn to_kernel(fd: c_int) -> Result<(), i32> {
    let Some(of) = get(fd) else { return Ok(()) };
    let sharing: Vec<c_int> = all().into_iter().filter(|(_, o)| Arc::ptr_eq(o, &of)).map(|(fd, _)| fd).collect();
    of.flush().map_err(|e| crate::entry::failed(&e))?;
    of.served.tell_kernel();
    // From now on the kernel changes it (fchown, fallocate, a write through a mapping).
    of.served.attrs.forget(&of.file.path());
    let path = CString::new(format!("{}{}", of.root, of.file.path())).map_err(|_| libc::EINVAL)?;
    let flags = of.flags.load(Ordering::Relaxed) & (libc::O_ACCMODE | libc::O_APPEND | libc::O_NONBLOCK);
    // SAFETY: a NUL-terminated path.
    let kfd = unsafe { real::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0) };
    if kfd < 0 {
        return Err(errno());
    }
    let pos = i64::try_from(*of.pos()).unwrap_or(i64::MAX);
    // SAFETY: plain descriptor calls on descriptors we own.
    unsafe {
        if real::lseek(kfd, pos, libc::SEEK_SET) < 0 {
            let e = errno();
            real::close(kfd);
            return Err(e);
        }
        for fd in sharing {
            let cloexec = real::fcntl(fd, libc::F_GETFD, 0) & libc::FD_CLOEXEC != 0;
            remove(fd);
            real::dup3(kfd, fd, if cloexec { libc::O_CLOEXEC } else { 0 });
        }
        real::close(kfd);
    }
    Ok(())
}

/// Before the process image goes (exec) or is copied (fork, spawn): publishes every served
/// file, and hands to the kernel each descriptor that survives it (all of them for a fork;
/// those without close-on-exec for an exec).
pub fn hand_over(all_of_them: bool) {
    for (fd, of) in all() {
        // SAFETY: F_GETFD on a descriptor number; no memory involved.
        let cloexec = unsafe { real::fcntl(fd, libc::F_GETFD, 0) } & libc::FD_CLOEXEC != 0;
        let r = if all_of_them || !cloexec { to_kernel(fd) } else { of.flush().map_err(|e| crate::entry::failed(&e)) };
        if let Err(e) = r {
            let e = std::io::Error::from_raw_os_error(e);
            crate::say(&format!("descriptor {fd} ({}): cannot hand it to the kernel mount: {e}", of.file.path()));
        }
    }
}
