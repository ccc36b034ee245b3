//! The opaque handles C holds (`benchfs_context_t`, `benchfs_file_t`) and checked
//! conversion of every C argument: NULL handles and strings are EINVAL, NULL data
//! buffers EFAULT, negative offsets and sizes EINVAL.
//!
//! Handles are created with `Box::into_raw` and freed exactly once, by
//! `benchfs_finalize` and `benchfs_close`; the header makes using one afterwards
//! undefined, as `close(2)` does for a stale descriptor.

use std::ffi::{c_char, c_void, CStr};
use std::mem::MaybeUninit;

use super::error::FfiError;
use crate::{Client, File};

/// `benchfs_context_t`: a connected client.
pub struct Context {
    pub(super) client: Client,
}

/// `benchfs_file_t`: an open file. It holds its own clone of the client, so it
/// stays usable if the context is finalized first.
pub struct FileHandle {
    pub(super) file: File,
}

/// Borrows the context behind `ctx`.
///
/// # Safety
/// `ctx` is NULL or came from `benchfs_init` and has not been finalized.
pub(super) unsafe fn context<'a>(ctx: *const Context) -> Result<&'a Context, FfiError> {
    // SAFETY: non-NULL handles are live `Box<Context>`s (caller's contract).
    unsafe { ctx.as_ref() }.ok_or_else(|| FfiError::null("context"))
}

/// Borrows the file behind `f`.
///
/// # Safety
/// `f` is NULL or came from `benchfs_open`/`benchfs_create` and has not been closed.
pub(super) unsafe fn file<'a>(f: *const FileHandle) -> Result<&'a File, FfiError> {
    // SAFETY: non-NULL handles are live `Box<FileHandle>`s (caller's contract).
    unsafe { f.as_ref() }.map(|h| &h.file).ok_or_else(|| FfiError::null("file handle"))
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string that outlives the call.
pub(super) unsafe fn string<'a>(s: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    if s.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated (caller's contract).
    unsafe { CStr::from_ptr(s) }.to_str().map_err(|_| FfiError::invalid(format!("{what} is not valid UTF-8")))
}

/// Borrows a caller's buffer of `len` bytes for reading.
///
/// # Safety
/// `buf` is NULL or valid for reads of `len` bytes for the whole call.
pub(super) unsafe fn bytes<'a>(buf: *const c_void, len: usize) -> Result<&'a [u8], FfiError> {
    if buf.is_null() {
        return Err(FfiError::fault("buffer"));
    }
    check_len(len)?;
    // SAFETY: non-NULL, `len` readable bytes (caller's contract), len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
}

/// Borrows a caller's buffer of `len` bytes for writing.
///
/// # Safety
/// `buf` is NULL or valid for writes of `len` bytes for the whole call, and nothing
/// else accesses it meanwhile.
pub(super) unsafe fn bytes_mut<'a>(buf: *mut c_void, len: usize) -> Result<&'a mut [u8], FfiError> {
    if buf.is_null() {
        return Err(FfiError::fault("buffer"));
    }
    check_len(len)?;
    // SAFETY: non-NULL, `len` writable bytes not aliased during the call (caller's
    // contract), len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) })
}

/// The return value (`ssize_t`) must be able to hold the byte count.
fn check_len(len: usize) -> Result<(), FfiError> {
    if isize::try_from(len).is_err() {
        return Err(FfiError::invalid(format!("length {len} exceeds SSIZE_MAX")));
    }
    Ok(())
}

/// An `off_t` offset or size, which must not be negative.
pub(super) fn offset(off: libc::off_t, what: &str) -> Result<u64, FfiError> {
    u64::try_from(off).map_err(|_| FfiError::invalid(format!("negative {what} {off}")))
}

/// Borrows a caller's output struct, checked up front so a NULL fails before any RPC.
///
/// # Safety
/// `out` is NULL or valid for a write of one `T`, not aliased during the call.
pub(super) unsafe fn out<'a, T>(out: *mut T, what: &str) -> Result<&'a mut MaybeUninit<T>, FfiError> {
    // SAFETY: non-NULL pointers are valid and unaliased (caller's contract); viewing the
    // target as `MaybeUninit` means its old, possibly uninitialised contents are never read.
    unsafe { out.cast::<MaybeUninit<T>>().as_mut() }.ok_or_else(|| FfiError::fault(what))
}
