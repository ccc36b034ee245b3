//! read, write, their positioned and vectored forms, lseek, fsync, fdatasync, ftruncate.

use std::ffi::{c_int, c_void};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use libc::{off_t, size_t, ssize_t};

use super::on_fd;
use crate::entry::Outcome;
use crate::fds::OpenFile;
use crate::real;

fn count(n: usize) -> ssize_t {
    ssize_t::try_from(n).unwrap_or(ssize_t::MAX)
}

/// Reads into `buf` at `off` (the offset when `None`, which then advances).
fn read_into(of: &OpenFile, buf: &mut [u8], off: Option<off_t>) -> Outcome<ssize_t> {
    if !of.readable() {
        return Outcome::Failed(libc::EBADF);
    }
    let Some(off) = off else {
        let mut pos = of.pos();
        return match of.served.run(of.file.read_at(buf, *pos)) {
            Ok(n) => {
                *pos += n as u64;
                Outcome::Done(count(n))
            }
            Err(e) => Outcome::Failed(crate::entry::failed(&e)),
        };
    };
    let Ok(off) = u64::try_from(off) else { return Outcome::Failed(libc::EINVAL) };
    match of.served.run(of.file.read_at(buf, off)) {
        Ok(n) => Outcome::Done(count(n)),
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    }
}

/// Writes `buf` at `off` (at the offset when `None`, or at the end with O_APPEND).
fn write_from(of: &OpenFile, buf: &[u8], off: Option<off_t>) -> Outcome<ssize_t> {
    if !of.writable() {
        return Outcome::Failed(libc::EBADF);
    }
    // The size and times change: a stat by path asks again (and the publication at close
    // drops what a stat in between stored).
    of.served.attrs.forget(&of.file.path());
    let Some(off) = off else {
        let mut pos = of.pos();
        if of.flags.load(Ordering::Relaxed) & libc::O_APPEND != 0 {
            *pos = of.file.size();
        }
        return match of.served.run(of.file.write_at(buf, *pos)) {
            Ok(n) => {
                *pos += n as u64;
                Outcome::Done(count(n))
            }
            Err(e) => Outcome::Failed(crate::entry::failed(&e)),
        };
    };
    let Ok(off) = u64::try_from(off) else { return Outcome::Failed(libc::EINVAL) };
    match of.served.run(of.file.write_at(buf, off)) {
        Ok(n) => Outcome::Done(count(n)),
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    }
}

/// A caller's buffer; EFAULT when NULL with a length.
///
/// # Safety
/// `buf` is NULL or valid for `n` bytes for the call.
unsafe fn slice<'a>(buf: *const c_void, n: size_t) -> Option<&'a [u8]> {
    match (buf.is_null(), n) {
        (_, 0) => Some(&[]),
        (true, _) => None,
        // SAFETY: the caller's contract.
        (false, _) => Some(unsafe { std::slice::from_raw_parts(buf.cast(), n) }),
    }
}

/// # Safety
/// `buf` is NULL or writable for `n` bytes for the call.
unsafe fn slice_mut<'a>(buf: *mut c_void, n: size_t) -> Option<&'a mut [u8]> {
    match (buf.is_null(), n) {
        (_, 0) => Some(&mut []),
        (true, _) => None,
        // SAFETY: the caller's contract.
        (false, _) => Some(unsafe { std::slice::from_raw_parts_mut(buf.cast(), n) }),
    }
}

/// # Safety
/// As read(2).
unsafe fn read_common(
    name: &str,
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    off: Option<off_t>,
    kernel: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let serve = |of: &Arc<OpenFile>| {
        // SAFETY: the caller's contract.
        match unsafe { slice_mut(buf, n) } {
            Some(b) => read_into(of, b, off),
            None => Outcome::Failed(libc::EFAULT),
        }
    };
    on_fd(name, fd, serve, kernel)
}

/// # Safety
/// As write(2).
unsafe fn write_common(
    name: &str,
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    off: Option<off_t>,
    kernel: impl FnOnce() -> ssize_t,
) -> ssize_t {
    let serve = |of: &Arc<OpenFile>| {
        // SAFETY: the caller's contract.
        match unsafe { slice(buf, n) } {
            Some(b) => write_from(of, b, off),
            None => Outcome::Failed(libc::EFAULT),
        }
    };
    on_fd(name, fd, serve, kernel)
}

/// # Safety
/// As read(2).
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    // SAFETY: as read(2).
    unsafe { read_common("read", fd, buf, n, None, || real::read(fd, buf, n)) }
}

/// # Safety
/// As pread(2).
#[no_mangle]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t {
    // SAFETY: as pread(2).
    unsafe { read_common("pread", fd, buf, n, Some(off), || real::pread(fd, buf, n, off)) }
}

/// # Safety
/// As pread(2).
#[no_mangle]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t {
    // SAFETY: as pread(2).
    unsafe { read_common("pread64", fd, buf, n, Some(off), || real::pread64(fd, buf, n, off)) }
}

/// # Safety
/// As write(2).
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    // SAFETY: as write(2).
    unsafe { write_common("write", fd, buf, n, None, || real::write(fd, buf, n)) }
}

/// # Safety
/// As pwrite(2).
#[no_mangle]
pub unsafe extern "C" fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t {
    // SAFETY: as pwrite(2).
    unsafe { write_common("pwrite", fd, buf, n, Some(off), || real::pwrite(fd, buf, n, off)) }
}

/// # Safety
/// As pwrite(2).
#[no_mangle]
pub unsafe extern "C" fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t {
    // SAFETY: as pwrite(2).
    unsafe { write_common("pwrite64", fd, buf, n, Some(off), || real::pwrite64(fd, buf, n, off)) }
}

/// The caller's iovecs; `None` for a bad count or a NULL base with a length.
///
/// # Safety
/// `iov` is valid for `n` entries, each base valid for its length.
unsafe fn iovecs<'a>(iov: *const libc::iovec, n: c_int) -> Option<Vec<&'a mut [u8]>> {
    let n = usize::try_from(n).ok().filter(|&n| n <= libc::UIO_MAXIOV as usize)?;
    if n == 0 {
        return Some(Vec::new());
    }
    if iov.is_null() {
        return None;
    }
    // SAFETY: the caller's contract.
    let v = unsafe { std::slice::from_raw_parts(iov, n) };
    // SAFETY: the caller's contract.
    v.iter().map(|e| unsafe { slice_mut(e.iov_base, e.iov_len) }).collect()
}

/// # Safety
/// As readv(2).
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    let serve = |of: &Arc<OpenFile>| {
        // SAFETY: as readv(2).
        let Some(mut parts) = (unsafe { iovecs(iov, n) }) else { return Outcome::Failed(libc::EINVAL) };
        // One read of the whole length, scattered after: one round trip per chunk, not per iovec.
        let mut all = vec![0u8; parts.iter().map(|p| p.len()).sum()];
        let got = match read_into(of, &mut all, None) {
            Outcome::Done(n) => usize::try_from(n).unwrap_or(0),
            o => return o,
        };
        let mut left = &all[..got];
        for p in &mut parts {
            let k = p.len().min(left.len());
            p[..k].copy_from_slice(&left[..k]);
            left = &left[k..];
        }
        Outcome::Done(count(got))
    };
    // SAFETY: as readv(2).
    on_fd("readv", fd, serve, || unsafe { real::readv(fd, iov, n) })
}

/// # Safety
/// As writev(2).
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    let serve = |of: &Arc<OpenFile>| {
        // SAFETY: as writev(2).
        let Some(parts) = (unsafe { iovecs(iov, n) }) else { return Outcome::Failed(libc::EINVAL) };
        let all: Vec<u8> = parts.concat();
        write_from(of, &all, None)
    };
    // SAFETY: as writev(2).
    on_fd("writev", fd, serve, || unsafe { real::writev(fd, iov, n) })
}

fn seek(of: &OpenFile, off: off_t, whence: c_int) -> Outcome<ssize_t> {
    let mut pos = of.pos();
    let size = of.file.size();
    let base = match whence {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => *pos,
        libc::SEEK_END => size,
        // No holes are tracked: all data up to the size, one hole after it.
        libc::SEEK_DATA | libc::SEEK_HOLE => {
            let Ok(o) = u64::try_from(off) else { return Outcome::Failed(libc::ENXIO) };
            if o >= size {
                return Outcome::Failed(libc::ENXIO);
            }
            if whence == libc::SEEK_DATA {
                o
            } else {
                size
            }
        }
        _ => return Outcome::Failed(libc::EINVAL),
    };
    let new = match whence {
        libc::SEEK_DATA | libc::SEEK_HOLE => Some(base),
        _ => base.checked_add_signed(off).filter(|&n| i64::try_from(n).is_ok()),
    };
    match new {
        Some(n) => {
            *pos = n;
            Outcome::Done(count(n as usize))
        }
        None => Outcome::Failed(libc::EINVAL),
    }
}

/// # Safety
/// As lseek(2).
#[no_mangle]
pub unsafe extern "C" fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t {
    // SAFETY: as lseek(2).
    on_fd("lseek", fd, |of| seek(of, off, whence), || unsafe { real::lseek(fd, off, whence) }) as off_t
}

/// # Safety
/// As lseek(2).
#[no_mangle]
pub unsafe extern "C" fn lseek64(fd: c_int, off: off_t, whence: c_int) -> off_t {
    // SAFETY: as lseek(2).
    on_fd("lseek64", fd, |of| seek(of, off, whence), || unsafe { real::lseek64(fd, off, whence) }) as off_t
}

fn sync(of: &OpenFile) -> Outcome<c_int> {
    of.forget_if_written();
    match of.served.run(of.file.fsync()) {
        Ok(()) => Outcome::Done(0),
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    }
}

/// # Safety
/// As fsync(2).
#[no_mangle]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    // SAFETY: as fsync(2).
    on_fd("fsync", fd, |of| sync(of), || unsafe { real::fsync(fd) })
}

/// # Safety
/// As fdatasync(2).
#[no_mangle]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    // SAFETY: as fdatasync(2).
    on_fd("fdatasync", fd, |of| sync(of), || unsafe { real::fdatasync(fd) })
}

/// Publishes this handle's writes, then truncates the file by path (it keeps its identity
/// across renames through the handle's path) and tells the handle.
fn truncate_open(of: &OpenFile, len: off_t) -> Outcome<c_int> {
    let Ok(len) = u64::try_from(len) else { return Outcome::Failed(libc::EINVAL) };
    if !of.writable() {
        return Outcome::Failed(libc::EINVAL);
    }
    let path = of.file.path();
    of.served.touched(&path);
    let r = of.flush().and_then(|()| of.served.run(of.served.client().truncate(&path, len)));
    match r {
        Ok(()) => {
            of.file.truncated_to(len);
            Outcome::Done(0)
        }
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    }
}

/// # Safety
/// As ftruncate(2).
#[no_mangle]
pub unsafe extern "C" fn ftruncate(fd: c_int, len: off_t) -> c_int {
    // SAFETY: as ftruncate(2).
    on_fd("ftruncate", fd, |of| truncate_open(of, len), || unsafe { real::ftruncate(fd, len) })
}

/// # Safety
/// As ftruncate(2).
#[no_mangle]
pub unsafe extern "C" fn ftruncate64(fd: c_int, len: off_t) -> c_int {
    // SAFETY: as ftruncate(2).
    on_fd("ftruncate64", fd, |of| truncate_open(of, len), || unsafe { real::ftruncate64(fd, len) })
}
