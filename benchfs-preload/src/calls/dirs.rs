//! Directory streams: opendir, fdopendir, readdir, readdir64, readdir_r, readdir64_r,
//! rewinddir, telldir, seekdir, dirfd, closedir.
//!
//! A served stream is a real `DIR*` of the C library, made by its fdopendir on a
//! descriptor the interposer owns (a placeholder, an `O_PATH` descriptor of the mount's
//! root, for opendir; the caller's own directory descriptor for fdopendir), with the
//! listing the servers gave behind it. So a C library function that reads the stream
//! itself (not through the interposed calls) fails with EBADF on the placeholder instead
//! of reading another directory, closedir frees what the C library allocated, and
//! `dirfd` hands out a real descriptor of the directory (the placeholder is replaced by
//! one opened through the kernel mount, on the same number), so that `openat`, `fchdir`
//! and `fstat` on it are the kernel's, on the right directory.
//!
//! The listing is taken at opendir (and again at rewinddir), as a snapshot: "." and
//! "..", then the names in the servers' order. Each entry's record fills the attribute
//! cache, so a `ls -l` pays one request for the listing, not one per name.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_long, CString};
use std::sync::{Arc, Mutex, PoisonError};

use benchfs::{Attr, DirEntry, FileKind};

use super::{on_path, permitted};
use crate::entry::{self, Outcome};
use crate::fds;
use crate::lock::ForkLock;
use crate::mounts::Served;
use crate::perm::{self, Need};
use crate::real;
use crate::state::{self, Place, Target};

mod next {
    use super::*;
    real_fns! {
        fn opendir(path: *const c_char) -> *mut libc::DIR;
        fn fdopendir(fd: c_int) -> *mut libc::DIR;
        fn readdir(d: *mut libc::DIR) -> *mut libc::dirent;
        fn readdir64(d: *mut libc::DIR) -> *mut libc::dirent64;
        fn readdir_r(d: *mut libc::DIR, e: *mut libc::dirent, r: *mut *mut libc::dirent) -> c_int;
        fn readdir64_r(d: *mut libc::DIR, e: *mut libc::dirent64, r: *mut *mut libc::dirent64) -> c_int;
        fn rewinddir(d: *mut libc::DIR) -> c_int;
        fn telldir(d: *mut libc::DIR) -> libc::ssize_t;
        fn seekdir(d: *mut libc::DIR, pos: c_long) -> c_int;
        fn dirfd(d: *mut libc::DIR) -> c_int;
        fn closedir(d: *mut libc::DIR) -> c_int;
    }
}

/// One name of a listing.
struct Name {
    ino: u64,
    kind: u8,
    name: Vec<u8>,
}

/// A served stream.
struct Stream {
    /// Where it lists (to list again at rewinddir), and the client of the process that
    /// opened it (a forked child does not use it: it keeps the snapshot).
    served: Arc<Served>,
    pid: u32,
    root: String,
    path: String,
    names: Vec<Name>,
    at: usize,
    /// Whether the stream's descriptor is still the placeholder (see `dirfd`).
    placeholder: bool,
    /// What readdir returned last (valid until the next readdir of this stream).
    entry: Box<libc::dirent64>,
}

static STREAMS: ForkLock<Option<HashMap<usize, Arc<Mutex<Stream>>>>> = ForkLock::new(None);

pub fn lock_for_fork() {
    STREAMS.acquire();
}

pub fn unlock_after_fork() {
    STREAMS.release();
}

fn stream(d: *mut libc::DIR) -> Option<Arc<Mutex<Stream>>> {
    if d.is_null() {
        return None;
    }
    STREAMS.lock().as_ref()?.get(&(d as usize)).cloned()
}

fn d_type(k: FileKind) -> u8 {
    match k {
        FileKind::File => libc::DT_REG,
        FileKind::Dir => libc::DT_DIR,
        FileKind::Symlink => libc::DT_LNK,
        FileKind::Fifo => libc::DT_FIFO,
        FileKind::Socket => libc::DT_SOCK,
        FileKind::CharDev => libc::DT_CHR,
        FileKind::BlockDev => libc::DT_BLK,
    }
}

/// The inode number the interposer's stat reports for `a` at `path` (the kernel's for the
/// mount's root, whose stat is the kernel's).
fn ino(a: &Attr, path: &str) -> u64 {
    if path == "/" {
        return 1;
    }
    benchfs::ffi::to_stat(a, path).st_ino
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The listing of the directory `path` (whose record is `dir`): ".", "..", then its names;
/// each name's record goes to the attribute cache.
fn list(served: &Served, path: &str, dir: &Attr) -> benchfs::Result<Vec<Name>> {
    let entries: Vec<DirEntry> = served.run(served.client().readdir(path))?;
    let parent = parent_of(path);
    let parent_ino =
        if path == "/" || parent == "/" { 1 } else { served.stat(parent).map(|a| ino(&a, parent)).unwrap_or(1) };
    let mut names = Vec::with_capacity(entries.len() + 2);
    names.push(Name { ino: ino(dir, path), kind: libc::DT_DIR, name: b".".to_vec() });
    names.push(Name { ino: parent_ino, kind: libc::DT_DIR, name: b"..".to_vec() });
    // Names the mount hides (open files it was asked to remove) are not listed, as the
    // mount does not list them.
    for e in entries.into_iter().filter(|e| !e.name.starts_with(benchfs::path::HIDDEN_PREFIX)) {
        let child = if path == "/" { format!("/{}", e.name) } else { format!("{path}/{}", e.name) };
        served.attrs.put(&child, &e.attr);
        names.push(Name { ino: ino(&e.attr, &child), kind: d_type(e.attr.kind), name: e.name.into_bytes() });
    }
    Ok(names)
}

/// The directory record of `p` for a listing: a link to follow and whatever is not a
/// directory the server cannot list are the kernel's.
fn dir_record(p: &Place) -> Outcome<Attr> {
    if p.path == "/" {
        return Outcome::Done(Attr::synthetic_dir(0o755));
    }
    match p.served.stat(&p.path) {
        Ok(a) if a.is_dir() => Outcome::Done(a),
        Ok(a) if a.kind == FileKind::Symlink => Outcome::Kernel,
        Ok(_) => Outcome::Failed(libc::ENOTDIR),
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    }
}

/// Registers the stream `d` (a C library `DIR*` on our descriptor) with its listing.
fn register(d: *mut libc::DIR, p: &Place, names: Vec<Name>, placeholder: bool) {
    let s = Stream {
        served: p.served.clone(),
        pid: std::process::id(),
        root: p.root.clone(),
        path: p.path.clone(),
        names,
        at: 0,
        placeholder,
        // SAFETY: all-zero is a valid dirent64.
        entry: Box::new(unsafe { std::mem::zeroed() }),
    };
    STREAMS.lock().get_or_insert_with(HashMap::new).insert(d as usize, Arc::new(Mutex::new(s)));
}

fn serve_opendir(p: &Place) -> Outcome<*mut libc::DIR> {
    // The mount's root is listed for root only: others' checks on it are the kernel's.
    if p.path == "/" && perm::Who::current().is_some() {
        return Outcome::Kernel;
    }
    let names = match permitted(p, Need::File(perm::R), || dir_record(p)) {
        Outcome::Done(dir) => match list(&p.served, &p.path, &dir) {
            Ok(n) => n,
            Err(e) => return Outcome::Failed(crate::entry::failed(&e)),
        },
        o => return o.map_done(|_| std::ptr::null_mut()),
    };
    let fd = match fds::placeholder(&p.root, true) {
        Ok(fd) => fd,
        Err(e) => return Outcome::Failed(e),
    };
    // SAFETY: our descriptor; on success the stream owns it.
    let d = unsafe { next::fdopendir(fd) };
    if d.is_null() {
        let e = fds::errno();
        // SAFETY: our descriptor.
        unsafe { real::close(fd) };
        return Outcome::Failed(e);
    }
    register(d, p, names, true);
    Outcome::Done(d)
}

/// # Safety
/// As opendir(3).
#[no_mangle]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut libc::DIR {
    // SAFETY: as opendir(3).
    unsafe { on_path("opendir", libc::AT_FDCWD, path, serve_opendir, || next::opendir(path)) }
}

/// The path of the caller's descriptor `fd`, as the kernel names it.
fn fd_path(fd: c_int) -> Option<CString> {
    let link = CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: a NUL-terminated path and a writable buffer of its length.
    let n = unsafe { libc::readlink(link.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(usize::try_from(n).ok()?);
    CString::new(buf).ok()
}

/// fdopendir on the caller's directory descriptor under a mount: the C library makes
/// the stream on it; the listing is served. Anything unclear is the kernel's (the
/// descriptor is a real one: its answer is right).
fn serve_fdopendir(fd: c_int) -> Outcome<*mut libc::DIR> {
    if fds::get(fd).is_some() {
        // A served descriptor is a file, never a directory.
        return Outcome::Failed(libc::ENOTDIR);
    }
    let Some(path) = fd_path(fd) else { return Outcome::Pass };
    // SAFETY: a NUL-terminated path.
    let p = match unsafe { state::resolve(libc::AT_FDCWD, path.as_ptr()) } {
        Target::Served(p) => p,
        Target::Kernel => return Outcome::Kernel,
        Target::Pass => return Outcome::Pass,
    };
    let names = match dir_record(&p) {
        Outcome::Done(dir) => match list(&p.served, &p.path, &dir) {
            Ok(n) => n,
            Err(_) => return Outcome::Kernel,
        },
        _ => return Outcome::Kernel,
    };
    // SAFETY: the caller's descriptor; on success the stream owns it (fdopendir's contract).
    let d = unsafe { next::fdopendir(fd) };
    if d.is_null() {
        return Outcome::Failed(fds::errno());
    }
    register(d, &p, names, false);
    Outcome::Done(d)
}

/// # Safety
/// As fdopendir(3).
#[no_mangle]
pub unsafe extern "C" fn fdopendir(fd: c_int) -> *mut libc::DIR {
    // SAFETY: as fdopendir(3).
    entry::run("fdopendir", || serve_fdopendir(fd), || unsafe { next::fdopendir(fd) })
}

/// The next name of a served stream into its entry buffer; NULL at the end.
fn next_entry(s: &mut Stream) -> *mut libc::dirent64 {
    let Some(n) = s.names.get(s.at) else { return std::ptr::null_mut() };
    s.at += 1;
    let e = &mut *s.entry;
    e.d_ino = n.ino;
    e.d_off = i64::try_from(s.at).unwrap_or(i64::MAX);
    e.d_type = n.kind;
    let len = n.name.len().min(e.d_name.len() - 1);
    for (dst, src) in e.d_name.iter_mut().zip(&n.name[..len]) {
        *dst = *src as c_char;
    }
    e.d_name[len] = 0;
    let header = std::mem::offset_of!(libc::dirent64, d_name);
    e.d_reclen = u16::try_from((header + len + 1).next_multiple_of(8)).unwrap_or(u16::MAX);
    e
}

fn locked(s: &Mutex<Stream>) -> std::sync::MutexGuard<'_, Stream> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_served(d: *mut libc::DIR) -> Outcome<*mut libc::dirent64> {
    match stream(d) {
        Some(s) => Outcome::Done(next_entry(&mut locked(&s))),
        None => Outcome::Pass,
    }
}

/// # Safety
/// As readdir(3).
#[no_mangle]
pub unsafe extern "C" fn readdir(d: *mut libc::DIR) -> *mut libc::dirent {
    // dirent and dirent64 are the same structure on the 64-bit targets this builds for.
    // SAFETY: as readdir(3).
    entry::run("readdir", || read_served(d).map_done(|e| e.cast()), || unsafe { next::readdir(d) })
}

/// # Safety
/// As readdir64(3).
#[no_mangle]
pub unsafe extern "C" fn readdir64(d: *mut libc::DIR) -> *mut libc::dirent64 {
    // SAFETY: as readdir(3).
    entry::run("readdir64", || read_served(d), || unsafe { next::readdir64(d) })
}

/// readdir_r's body: the entry copied to the caller's buffer, `*r` it or NULL at the end.
///
/// # Safety
/// `e` writable for a dirent64, `r` writable.
unsafe fn read_r(d: *mut libc::DIR, e: *mut libc::dirent64, r: *mut *mut libc::dirent64) -> Outcome<c_int> {
    let Some(s) = stream(d) else { return Outcome::Pass };
    let mut s = locked(&s);
    let n = next_entry(&mut s);
    // SAFETY: `e` and `r` writable (caller's contract); `n` points into the stream's box.
    unsafe {
        if n.is_null() {
            *r = std::ptr::null_mut();
        } else {
            std::ptr::copy_nonoverlapping(n, e, 1);
            *r = e;
        }
    }
    Outcome::Done(0)
}

/// # Safety
/// As readdir_r(3).
#[no_mangle]
pub unsafe extern "C" fn readdir_r(d: *mut libc::DIR, e: *mut libc::dirent, r: *mut *mut libc::dirent) -> c_int {
    // SAFETY: as readdir_r(3); dirent and dirent64 are the same structure here.
    entry::run("readdir_r", || unsafe { read_r(d, e.cast(), r.cast()) }, || unsafe { next::readdir_r(d, e, r) })
}

/// # Safety
/// As readdir64_r(3).
#[no_mangle]
pub unsafe extern "C" fn readdir64_r(d: *mut libc::DIR, e: *mut libc::dirent64, r: *mut *mut libc::dirent64) -> c_int {
    // SAFETY: as readdir_r(3).
    entry::run("readdir64_r", || unsafe { read_r(d, e, r) }, || unsafe { next::readdir64_r(d, e, r) })
}

/// # Safety
/// As rewinddir(3).
#[no_mangle]
pub unsafe extern "C" fn rewinddir(d: *mut libc::DIR) {
    let serve = || {
        let Some(s) = stream(d) else { return Outcome::Pass };
        let mut s = locked(&s);
        s.at = 0;
        // A fresh listing, by the process that opened the stream (a forked child keeps
        // the snapshot: its parent's client is not its own).
        if s.pid == std::process::id() {
            let dir = Place { served: s.served.clone(), root: s.root.clone(), dev: 0, path: s.path.clone() };
            if let Outcome::Done(a) = dir_record(&dir) {
                if let Ok(n) = list(&s.served, &s.path, &a) {
                    s.names = n;
                }
            }
        }
        Outcome::Done(0)
    };
    // SAFETY: as rewinddir(3).
    let _ = entry::run("rewinddir", serve, || unsafe { next::rewinddir(d) });
}

/// # Safety
/// As telldir(3).
#[no_mangle]
pub unsafe extern "C" fn telldir(d: *mut libc::DIR) -> c_long {
    let serve = || match stream(d) {
        Some(s) => Outcome::Done(libc::ssize_t::try_from(locked(&s).at).unwrap_or(libc::ssize_t::MAX)),
        None => Outcome::Pass,
    };
    // SAFETY: as telldir(3).
    entry::run("telldir", serve, || unsafe { next::telldir(d) }) as c_long
}

/// # Safety
/// As seekdir(3).
#[no_mangle]
pub unsafe extern "C" fn seekdir(d: *mut libc::DIR, pos: c_long) {
    let serve = || match stream(d) {
        Some(s) => {
            locked(&s).at = usize::try_from(pos).unwrap_or(usize::MAX);
            Outcome::Done(0)
        }
        None => Outcome::Pass,
    };
    // SAFETY: as seekdir(3).
    let _ = entry::run("seekdir", serve, || unsafe { next::seekdir(d, pos) });
}

/// dirfd(3): a served stream's placeholder becomes a real descriptor of the directory,
/// opened through the kernel mount onto the same number, before it is handed out.
///
/// # Safety
/// As dirfd(3).
#[no_mangle]
pub unsafe extern "C" fn dirfd(d: *mut libc::DIR) -> c_int {
    let serve = || {
        let Some(s) = stream(d) else { return Outcome::Pass };
        let mut s = locked(&s);
        // SAFETY: a stream the C library made.
        let fd = unsafe { next::dirfd(d) };
        if !s.placeholder || fd < 0 {
            return Outcome::Done(fd);
        }
        let full = format!("{}{}", s.root, if s.path == "/" { "" } else { &s.path });
        let Ok(path) = CString::new(if full.is_empty() { "/".to_string() } else { full }) else {
            return Outcome::Failed(libc::EINVAL);
        };
        // SAFETY: a NUL-terminated path; our descriptors.
        unsafe {
            let kfd = real::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0);
            if kfd < 0 {
                return Outcome::Failed(fds::errno());
            }
            let cloexec = real::fcntl(fd, libc::F_GETFD, 0) & libc::FD_CLOEXEC != 0;
            let r = real::dup3(kfd, fd, if cloexec { libc::O_CLOEXEC } else { 0 });
            real::close(kfd);
            if r < 0 {
                return Outcome::Failed(fds::errno());
            }
        }
        s.placeholder = false;
        Outcome::Done(fd)
    };
    // SAFETY: as dirfd(3).
    entry::run("dirfd", serve, || unsafe { next::dirfd(d) })
}

/// # Safety
/// As closedir(3).
#[no_mangle]
pub unsafe extern "C" fn closedir(d: *mut libc::DIR) -> c_int {
    let _ = entry::run(
        "closedir",
        || {
            if let Some(t) = STREAMS.lock().as_mut() {
                t.remove(&(d as usize));
            }
            Outcome::Pass
        },
        || 0,
    );
    // SAFETY: as closedir(3): the C library's stream, freed (and its descriptor closed) there.
    unsafe { next::closedir(d) }
}
