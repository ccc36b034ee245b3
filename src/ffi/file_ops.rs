//! Open files: `benchfs_create`, `benchfs_open`, `benchfs_close`, `benchfs_read`,
//! `benchfs_write`, `benchfs_fsync`, `benchfs_file_size`.

use std::ffi::{c_char, c_int, c_void};

use libc::{mode_t, off_t, size_t, ssize_t};

use super::c_path::CPath;
use super::error::{guard, FfiError};
use super::handle::{self, Context, FileHandle};
use super::runtime::block_on;
use crate::OpenOptions;

/// Mode of a file that `benchfs_open` creates (O_CREAT), which takes no mode argument.
const OPEN_CREATE_MODE: u32 = 0o644;

/// Opens `path` with `opts` and hands the handle to C.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
unsafe fn open_with(ctx: *const Context, path: *const c_char, opts: &OpenOptions) -> Result<*mut FileHandle, FfiError> {
    // SAFETY: NULL or live / NUL-terminated (caller's contract).
    let (ctx, path) = unsafe { (handle::context(ctx)?, handle::string(path, "path")?) };
    let path = CPath::new(path, "path")?;
    if path.dir_only {
        // "f/" of a file is ENOTDIR; of a directory, or of nothing yet, EISDIR (open(2)).
        path.check_dir(&ctx.client)?;
        return Err(crate::Error::IsDir(path.canonical).into());
    }
    let file = block_on(ctx.client.open(&path.canonical, opts))?;
    handle::insert_file(file)
}

/// Creates and opens a regular file (O_CREAT implied); see `benchfs.h`.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_create(
    ctx: *mut Context,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> *mut FileHandle {
    guard("benchfs_create", || {
        // SAFETY: forwarded caller's contract.
        unsafe { open_with(ctx, path, &OpenOptions::from_flags(flags | libc::O_CREAT, mode)) }
    })
}

/// Opens a regular file, honouring O_CREAT (mode 0644), O_EXCL and O_TRUNC.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_open(ctx: *mut Context, path: *const c_char, flags: c_int) -> *mut FileHandle {
    guard("benchfs_open", || {
        // SAFETY: forwarded caller's contract.
        unsafe { open_with(ctx, path, &OpenOptions::from_flags(flags, OPEN_CREATE_MODE)) }
    })
}

/// Publishes the file's size and invalidates the handle (also when publishing fails);
/// a closed handle is EBADF here and everywhere else.
///
/// # Safety
/// None beyond the C ABI: any value of `f` is checked against the handle table. Kept
/// `unsafe` so Rust callers of the earlier API compile unchanged.
#[no_mangle]
pub unsafe extern "C" fn benchfs_close(f: *mut FileHandle) -> c_int {
    guard("benchfs_close", || {
        let file = handle::remove_file(f)?;
        // Another thread may still be in a call on this handle (the caller's race): its
        // clone keeps the file alive until it returns; the size is published now.
        block_on(file.flush())?;
        Ok(0)
    })
}

/// Reads up to `len` bytes at `off`; returns the count (0 at end of file).
///
/// # Safety
/// `buf` is NULL or writable for `len` bytes (`f` may be anything: a stale one is EBADF).
#[no_mangle]
pub unsafe extern "C" fn benchfs_read(f: *mut FileHandle, buf: *mut c_void, len: size_t, off: off_t) -> ssize_t {
    guard("benchfs_read", || {
        // SAFETY: NULL or writable for `len` (caller's contract).
        let (file, buf) = (handle::file(f)?, unsafe { handle::bytes_mut(buf, len)? });
        let n = block_on(file.read_at(buf, handle::offset(off, "offset")?))?;
        Ok(ssize_t::try_from(n).unwrap_or(ssize_t::MAX))
    })
}

/// Writes all `len` bytes at `off`; returns `len`.
///
/// # Safety
/// `buf` is NULL or readable for `len` bytes (`f` may be anything: a stale one is EBADF).
#[no_mangle]
pub unsafe extern "C" fn benchfs_write(f: *mut FileHandle, buf: *const c_void, len: size_t, off: off_t) -> ssize_t {
    guard("benchfs_write", || {
        // SAFETY: NULL or readable for `len` (caller's contract).
        let (file, buf) = (handle::file(f)?, unsafe { handle::bytes(buf, len)? });
        let n = block_on(file.write_at(buf, handle::offset(off, "offset")?))?;
        Ok(ssize_t::try_from(n).unwrap_or(ssize_t::MAX))
    })
}

/// Makes the file's data and size durable on the servers.
///
/// # Safety
/// None beyond the C ABI: any value of `f` is checked against the handle table. Kept
/// `unsafe` so Rust callers of the earlier API compile unchanged.
#[no_mangle]
pub unsafe extern "C" fn benchfs_fsync(f: *mut FileHandle) -> c_int {
    guard("benchfs_fsync", || {
        let file = handle::file(f)?;
        block_on(file.fsync())?;
        Ok(0)
    })
}

/// The size as this handle sees it (its own writes included); no RPC.
///
/// # Safety
/// None beyond the C ABI: any value of `f` is checked against the handle table. Kept
/// `unsafe` so Rust callers of the earlier API compile unchanged.
#[no_mangle]
pub unsafe extern "C" fn benchfs_file_size(f: *mut FileHandle) -> i64 {
    guard("benchfs_file_size", || {
        let file = handle::file(f)?;
        Ok(i64::try_from(file.size()).unwrap_or(i64::MAX))
    })
}
