//! Namespace calls on a context: stat/lstat, size, remove, mkdir/rmdir, rename,
//! truncate, access, chmod, readdir, statfs, symlink/readlink, link and mknod.

use std::ffi::{c_char, c_int, c_void, CString};

use libc::{dev_t, mode_t, off_t, size_t, ssize_t};

use super::c_path::CPath;
use super::error::{guard, FfiError};
use super::handle::{self, Context};
use super::runtime::block_on;
use super::stat::{to_stat, to_statvfs};
use crate::path::join;
use crate::{Client, FileKind, OpenOptions};

/// `benchfs_readdir_fn`: called per entry; non-zero stops the listing.
pub type ReaddirFn =
    Option<unsafe extern "C" fn(arg: *mut c_void, name: *const c_char, st: *const libc::stat) -> c_int>;

/// The context and one path argument, both checked; the path canonical ([`CPath`]).
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
unsafe fn ctx_path<'a>(ctx: *const Context, path: *const c_char) -> Result<(&'a Context, String), FfiError> {
    // SAFETY: forwarded caller's contract.
    let ctx = unsafe { handle::context(ctx)? };
    // SAFETY: forwarded caller's contract.
    let path = unsafe { checked_path(ctx, path, "path")? };
    Ok((ctx, path))
}

/// A path argument, canonical, after [`CPath::check_dir`].
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn checked_path(ctx: &Context, path: *const c_char, what: &str) -> Result<String, FfiError> {
    // SAFETY: forwarded caller's contract.
    let p = CPath::new(unsafe { handle::string(path, what)? }, what)?;
    p.check_dir(&ctx.client)?;
    Ok(p.canonical)
}

/// Fills `*st` with the attributes of `path`.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string;
/// `st` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn benchfs_stat(ctx: *mut Context, path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { stat_into("benchfs_stat", ctx, path, st) }
}

/// The same as [`benchfs_stat`]: BenchFS never follows symbolic links, so stat is lstat.
///
/// # Safety
/// As for [`benchfs_stat`].
#[no_mangle]
pub unsafe extern "C" fn benchfs_lstat(ctx: *mut Context, path: *const c_char, st: *mut libc::stat) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { stat_into("benchfs_lstat", ctx, path, st) }
}

/// What both stat calls do.
///
/// # Safety
/// As for [`benchfs_stat`].
unsafe fn stat_into(name: &'static str, ctx: *mut Context, path: *const c_char, st: *mut libc::stat) -> c_int {
    guard(name, || {
        // SAFETY: forwarded caller's contract.
        let ((ctx, path), out) = unsafe { (ctx_path(ctx, path)?, handle::out(st, "stat buffer")?) };
        let attr = block_on(ctx.client.stat(&path))?;
        out.write(to_stat(&attr, &path));
        Ok(0)
    })
}

/// Makes a symbolic link at `path` pointing to `target` (stored as given).
///
/// # Safety
/// `ctx` is NULL or a live context; `target` and `path` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn benchfs_symlink(ctx: *mut Context, target: *const c_char, path: *const c_char) -> c_int {
    guard("benchfs_symlink", || {
        // SAFETY: forwarded caller's contract.
        let ((ctx, path), target) = unsafe { (ctx_path(ctx, path)?, handle::string(target, "target")?) };
        block_on(ctx.client.symlink(target, &path))?;
        Ok(0)
    })
}

/// link(2): makes `path` a further name of the file at `existing` (not a directory).
///
/// # Safety
/// `ctx` is NULL or a live context; `existing` and `path` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn benchfs_link(ctx: *mut Context, existing: *const c_char, path: *const c_char) -> c_int {
    guard("benchfs_link", || {
        // SAFETY: forwarded caller's contract.
        let (ctx, path) = unsafe { ctx_path(ctx, path)? };
        // SAFETY: forwarded caller's contract.
        let existing = unsafe { checked_path(ctx, existing, "existing")? };
        block_on(ctx.client.link(&existing, &path))?;
        Ok(0)
    })
}

/// readlink(2): copies up to `len` bytes of the link's target into `buf`, without a NUL;
/// returns the bytes copied (the target is cut at `len`).
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string; `buf` is
/// NULL or writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn benchfs_readlink(
    ctx: *mut Context,
    path: *const c_char,
    buf: *mut c_char,
    len: size_t,
) -> ssize_t {
    guard("benchfs_readlink", || {
        // SAFETY: forwarded caller's contract.
        let (ctx, path) = unsafe { ctx_path(ctx, path)? };
        if len == 0 {
            return Err(FfiError::invalid("readlink into a buffer of 0 bytes"));
        }
        // SAFETY: NULL or writable for `len` (caller's contract).
        let out = unsafe { handle::bytes_mut(buf.cast(), len)? };
        let target = block_on(ctx.client.readlink(&path))?;
        let n = target.len().min(out.len());
        out[..n].copy_from_slice(&target.as_bytes()[..n]);
        Ok(ssize_t::try_from(n).unwrap_or(ssize_t::MAX))
    })
}

/// mknod(2): `mode` holds the type (S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK, or S_IFREG /
/// 0 for an empty regular file) and the permission bits; `rdev` is the device number.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_mknod(ctx: *mut Context, path: *const c_char, mode: mode_t, rdev: dev_t) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe {
        path_op("benchfs_mknod", ctx, path, |c, p| {
            let perm = mode & 0o7777;
            match (mode & libc::S_IFMT, FileKind::from_mode(mode)) {
                (_, Some(k)) if k.is_special() => Ok(block_on(c.mknod(p, k, perm, rdev)).map(drop)?),
                (0, _) | (_, Some(FileKind::File)) => {
                    let f = block_on(c.open(p, &OpenOptions::create_new(perm)))?;
                    Ok(block_on(f.close())?)
                }
                // Directories (mkdir), links (symlink) and unknown types.
                (t, _) => Err(FfiError::invalid(format!("mknod of file type {t:o}"))),
            }
        })
    }
}

/// The size of `path` as published by its last close/fsync.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_get_file_size(ctx: *mut Context, path: *const c_char) -> i64 {
    guard("benchfs_get_file_size", || {
        // SAFETY: forwarded caller's contract.
        let (ctx, path) = unsafe { ctx_path(ctx, path) }?;
        let attr = block_on(ctx.client.stat(&path))?;
        Ok(i64::try_from(attr.size).unwrap_or(i64::MAX))
    })
}

/// Runs one path operation that returns nothing on success; `f` blocks on the client.
///
/// # Safety
/// As for [`ctx_path`].
unsafe fn path_op(
    op: &str,
    ctx: *const Context,
    path: *const c_char,
    f: impl FnOnce(&Client, &str) -> Result<(), FfiError>,
) -> c_int {
    guard(op, || {
        // SAFETY: forwarded caller's contract.
        let (ctx, path) = unsafe { ctx_path(ctx, path) }?;
        f(&ctx.client, &path)?;
        Ok(0)
    })
}

/// Unlinks a file.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_remove(ctx: *mut Context, path: *const c_char) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { path_op("benchfs_remove", ctx, path, |c, p| block_on(c.unlink(p))) }
}

/// Creates a directory.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_mkdir(ctx: *mut Context, path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { path_op("benchfs_mkdir", ctx, path, |c, p| block_on(c.mkdir(p, mode)).map(|_| ())) }
}

/// Removes an empty directory.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_rmdir(ctx: *mut Context, path: *const c_char) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { path_op("benchfs_rmdir", ctx, path, |c, p| block_on(c.rmdir(p))) }
}

/// Renames `from` to `to`, replacing a compatible existing target.
///
/// # Safety
/// `ctx` is NULL or a live context; `from` and `to` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn benchfs_rename(ctx: *mut Context, from: *const c_char, to: *const c_char) -> c_int {
    guard("benchfs_rename", || {
        // SAFETY: forwarded caller's contract.
        let (ctx, from, to) = unsafe {
            (handle::context(ctx)?, handle::string(from, "source path")?, handle::string(to, "target path")?)
        };
        let (from, to) = (CPath::new(from, "source path")?, CPath::new(to, "target path")?);
        // "x/" as either name: the source must be a directory (rename(2)).
        CPath { canonical: from.canonical.clone(), dir_only: from.dir_only || to.dir_only }.check_dir(&ctx.client)?;
        to.check_dir(&ctx.client)?;
        block_on(ctx.client.rename(&from.canonical, &to.canonical))?;
        Ok(0)
    })
}

/// Sets the size of `path` (dropping data beyond it, reading zeros up to it).
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_truncate(ctx: *mut Context, path: *const c_char, size: off_t) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { path_op("benchfs_truncate", ctx, path, |c, p| block_on(c.truncate(p, handle::offset(size, "size")?))) }
}

/// access(2): F_OK, or R_OK/W_OK/X_OK against the mode bits for this process.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_access(ctx: *mut Context, path: *const c_char, mode: c_int) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { path_op("benchfs_access", ctx, path, |c, p| block_on(c.access(p, mode))) }
}

/// Changes the permission bits of `path`.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn benchfs_chmod(ctx: *mut Context, path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: forwarded caller's contract.
    unsafe { path_op("benchfs_chmod", ctx, path, |c, p| block_on(c.chmod(p, mode & 0o7777))) }
}

/// Calls `f(arg, name, &stat)` for each entry of directory `path`, in name order.
/// The listing is fetched first, so `f` may itself call into BenchFS.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string;
/// `f` is NULL or a function safe to call with `arg`.
#[no_mangle]
pub unsafe extern "C" fn benchfs_readdir(
    ctx: *mut Context,
    path: *const c_char,
    f: ReaddirFn,
    arg: *mut c_void,
) -> c_int {
    guard("benchfs_readdir", || {
        // SAFETY: forwarded caller's contract.
        let (ctx, path) = unsafe { ctx_path(ctx, path) }?;
        let f = f.ok_or_else(|| FfiError::null("callback"))?;
        let entries = block_on(ctx.client.readdir(&path))?;
        for e in entries {
            // Names come from the servers, which never store a NUL (paths are checked).
            let Ok(name) = CString::new(e.name.as_bytes()) else { continue };
            let st = to_stat(&e.attr, &join(&path, &e.name));
            // SAFETY: `f` is callable with `arg` (caller's contract); `name` and `st` live
            // until it returns.
            let r = unsafe { f(arg, name.as_ptr(), &st) };
            if r != 0 {
                return Ok(r.max(0));
            }
        }
        Ok(0)
    })
}

/// Fills `*st` with the space summed over all servers.
///
/// # Safety
/// `ctx` is NULL or a live context; `st` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn benchfs_statfs(ctx: *mut Context, st: *mut libc::statvfs) -> c_int {
    guard("benchfs_statfs", || {
        // SAFETY: forwarded caller's contract.
        let (ctx, out) = unsafe { (handle::context(ctx)?, handle::out(st, "statvfs buffer")?) };
        let s = block_on(ctx.client.statfs())?;
        out.write(to_statvfs(&s));
        Ok(0)
    })
}
